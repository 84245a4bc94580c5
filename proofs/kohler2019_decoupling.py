# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Length-direction decoupling and the Rayleigh quotient (Kohler et al. 2019)
#
# Population BN of a unit with centred inputs of covariance $S$ reparameterizes its weights as
# $\tilde w=g\,w/\|w\|_S$: a length $|g|$ and a direction on the unit $S$-sphere. For least squares the
# length can be minimised in closed form, which leaves a generalized Rayleigh quotient in the direction:
#
# $$\min_g f_{OLS}(w,g)=\mathrm E[y^2]+\rho(w),\qquad \rho(w)=-\frac{(u^\top w)^2}{w^\top Sw}.$$
#
# Registry entries: `kohler2019.decoupling`, `kohler2019.rayleigh` (THEORY.md §3.1–§3.3, [D]).

# %%
import numpy as np
import scipy.linalg
import sympy as sp

from bntheory import gdnp, problems
from bntheory.symbolic.batchnorm import residuals
from bntheory.symbolic.decoupling import decoupling_steps, rayleigh_steps

# %% [markdown]
# ## The reduction, step by step (SymPy, $d=2$)
#
# With $n=\|w\|_S$, the objective in the normalized parameters is a quadratic in the length $g$; its minimiser
# $g^*$ and the value there are:

# %%
w = sp.Matrix(sp.symbols("w1:3", real=True))
u = sp.Matrix(sp.symbols("u1:3", real=True))
s11, s12, s22 = sp.symbols("S11 S12 S22", real=True)
S = sp.Matrix([[s11, s12], [s12, s22]])
g, Ey2 = sp.Symbol("g", real=True), sp.Symbol("E_y2", positive=True)
n = sp.sqrt((w.T * S * w)[0])
f = Ey2 - 2 * (u.T * (g * w / n))[0] + ((g * w / n).T * S * (g * w / n))[0]
g_star = sp.solve(sp.diff(f, g), g)[0]
rho = sp.simplify(f.subs(g, g_star) - Ey2)
sp.Eq(sp.Symbol("g^*"), g_star), sp.Eq(sp.Symbol("rho"), sp.factor(rho))

# %% [markdown]
# $\rho(w)=-(u^\top w)^2/(w^\top Sw)$, the generalized Rayleigh quotient of the pencil $(-uu^\top, S)$; it is
# invariant under $w\mapsto cw$, so only the direction matters:

# %%
c = sp.Symbol("c", positive=True)
sp.simplify(rho.subs({wi: c * wi for wi in w}, simultaneous=True) - rho)

# %% [markdown]
# ## SymPy: every step is an identity (generic smooth $f$, symbolic symmetric $S$)

# %%
{d: (residuals(decoupling_steps(d)), residuals(rayleigh_steps(d))) for d in (2, 3)}

# %% [markdown]
# ## Numerically: the pencil's smallest eigenvalue is $\rho^*$ and its eigenvector gives the OLS solution

# %%
rng = np.random.default_rng(0)
X, y = rng.normal(size=(200, 6)) * rng.uniform(0.5, 3, 6), rng.normal(size=200)
ls = problems.least_squares(X, y)
lam, vecs = scipy.linalg.eigh(-np.outer(ls.u, ls.u), ls.S)
v = vecs[:, 0]
w_tilde = (ls.u @ v) / (v @ ls.S @ v) * v
print("rho* =", lam[0], " -u^T S^-1 u =", -ls.u @ np.linalg.solve(ls.S, ls.u))
print("max |w_tilde - lstsq| =", np.abs(w_tilde - np.linalg.lstsq(X, y, rcond=None)[0]).max())
print("rho(w) is scale invariant:", gdnp.rayleigh_quotient(v, ls.u, ls.S), gdnp.rayleigh_quotient(7 * v, ls.u, ls.S))

# %% [markdown]
# ## The registry's checks
#
# The checks that `bntheory verify` runs for the results this derivation supports, at the quick size: a
# failing check raises here, so executing this file (or its notebook) is itself a test.

# %%
from bntheory.results import assert_holds

assert_holds(proof="kohler2019_decoupling.py")
