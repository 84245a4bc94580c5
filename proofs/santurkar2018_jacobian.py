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
# # The BN Jacobian (Santurkar et al. 2018, §4 and Fact C.1)
#
# For one channel with batch $x\in\mathbb R^m$, $s=\sqrt{\sigma^2+\epsilon}$ and $\hat x=(x-\mu\mathbf 1)/s$,
#
# $$\frac{\partial y}{\partial x}=\frac{\gamma}{s}\Big(I-\frac1m\mathbf 1\mathbf 1^\top-\frac1m\hat x\hat x^\top\Big).$$
#
# SymPy differentiates Algorithm 1 entry by entry; a positive symbol $s$ stands for the square root and
# $\epsilon=s^2-\sigma^2$ is eliminated, so every identity below is an exact rational identity.
# Registry entries: `santurkar2018.bn_jacobian`, `santurkar2018.bn_jacobian_spectrum`, `santurkar2018.bn_jacobian_eps`.

# %%
import numpy as np
import sympy as sp

from bntheory.landscape.jacobian import bn_jacobian, jacobian_deviation
from bntheory.symbolic.jacobian import is_zero, symbolic_jacobian

jac = symbolic_jacobian(3)
J, s, gamma, eps = jac.J, jac.s, jac.batch.gamma, jac.batch.eps
sp.simplify(J[0, 1])

# %% [markdown]
# ## The closed form, for m = 2..6

# %%
for m in range(2, 7):
    j = symbolic_jacobian(m)
    print(m, "J == closed form:", is_zero(j, j.J - j.closed_form))

# %% [markdown]
# ## Structure: symmetric, kernel, eigenvalues
#
# For any $\epsilon\ge0$: $J=J^\top$, $J\mathbf 1=0$, $J\hat x=\frac{\gamma\epsilon}{s^3}\hat x$ and
# $\operatorname{tr}J=\frac{\gamma}{s}\big(m-2+\frac{\epsilon}{s^2}\big)$. At $\epsilon=0$, $(\sigma/\gamma)J$ is the orthogonal
# projector onto $\{\mathbf 1,\hat x\}^\perp$: eigenvalues $0,0$ and $\gamma/\sigma$ ($m-2$ times).

# %%
m = jac.m
facts = {
    "symmetric": J - J.T,
    "J 1 = 0": J * jac.ones,
    "J x_hat = gamma eps / s^3 x_hat": J * jac.x_hat - gamma * eps / s**3 * jac.x_hat,
    "trace": J.trace() - gamma / s * (m - 2 + eps / s**2),
    "J^2 relation": J * J - gamma / s * J + gamma**2 * eps / s**4 * jac.x_hat * jac.x_hat.T / m,
}
{name: is_zero(jac, expr) for name, expr in facts.items()}

# %% [markdown]
# ## Numerically: the library Jacobian, its spectrum, and the distance to the eps = 0 Jacobian
#
# $\|J_\epsilon-J_0\|_2=|\gamma|\max\big(\epsilon/s^3,\ \epsilon/(\sigma s(\sigma+s))\big)\le|\gamma|\epsilon/\sigma^3$.

# %%
rng = np.random.default_rng(0)
x = rng.normal(size=(6, 1))
J0 = bn_jacobian(x, np.array([1.5]))[0]
print("eigenvalues:", np.round(np.linalg.eigvalsh(J0), 12), " gamma/sigma =", 1.5 / x.std())
for e in (1e-4, 0.1, 1.0):
    Je = bn_jacobian(x, np.array([1.5]), eps=e)[0]
    exact, bound = jacobian_deviation(float(x.std()), 1.5, e)
    print(f"eps={e:g}: ||J_eps - J_0|| = {np.linalg.norm(Je - J0, 2):.6g}, exact {exact:.6g}, bound {bound:.6g}")

# %% [markdown]
# ## The registry's checks
#
# The checks that `bntheory verify` runs for the results this derivation supports, at the quick size: a
# failing check raises here, so executing this file (or its notebook) is itself a test.

# %%
from bntheory.results import assert_holds

assert_holds(proof="santurkar2018_jacobian.py")
