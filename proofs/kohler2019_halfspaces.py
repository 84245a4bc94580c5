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
# # Learning halfspaces with Gaussian inputs (Kohler et al. 2019)
#
# With $z=-yx\sim\mathcal N(u,S-uu^\top)$, Stein's lemma gives $\nabla f(\tilde w)=c_1u+c_2S\tilde w$, so every critical point
# with $c_2\ne0$ lies on the line through $S^{-1}u$ whatever the loss (THEORY.md §3.6). GDNP's step size makes its
# direction follow the least-squares Rayleigh iteration exactly (§3.7, [D]), hence the same $(1-\mu/L)^2$ contraction.
# Registry: `kohler2019.halfspace_lemma`, `kohler2019.gdnp_halfspace`.

# %%
import numpy as np
import scipy.optimize

from bntheory import gdnp, problems
from bntheory.checks.rates import fit_rate
from bntheory.problems import spd_with_condition

rng = np.random.default_rng(1)
S = spd_with_condition(rng, 5, 20.0)
u = rng.normal(size=5)
u *= np.sqrt(0.5 / (u @ np.linalg.solve(S, u)))
direction = np.linalg.solve(S, u)

# %% [markdown]
# ## Critical points, found by BFGS on the objective's value alone

# %%
for loss in problems.LOSSES:
    hs = problems.halfspace(S, u, loss=loss)
    w = scipy.optimize.minimize(hs.value, rng.normal(size=5), method="BFGS", options={"gtol": 1e-10}).x
    cos = abs(w @ direction) / np.linalg.norm(w) / np.linalg.norm(direction)
    print(f"{loss:13s} 1 - |cos(w*, S^-1 u)| = {1 - cos:.2e}")

# %% [markdown]
# ## GDNP: the direction contracts at the least-squares rate, for both losses

# %%
rho_star = -u @ direction
for loss in problems.LOSSES:
    run = gdnp.gdnp(problems.halfspace(S, u, loss=loss), rng.normal(size=5), T_d=40, T_s=40)
    gaps = np.maximum(run.trace.rho - rho_star, 0)
    eig = np.linalg.eigvalsh(S)  # the bound from the S drawn here, not from the problem object
    print(f"{loss:13s} {fit_rate(gaps, floor=1e-9)}  bound {(1 - eig[0] / eig[-1]) ** 2:.4g}")

# %% [markdown]
# ## The registry's checks
#
# The checks that `bntheory verify` runs for the results this derivation supports, at the quick size: a
# failing check raises here, so executing this file (or its notebook) is itself a test.

# %%
from bntheory.results import assert_holds

assert_holds(proof="kohler2019_halfspaces.py")
