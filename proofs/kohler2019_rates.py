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
# # Linear rates: the Rayleigh iteration and GDNP on least squares (Kohler et al. 2019)
#
# The gradient method on a generalized Rayleigh quotient with step $1/(L(\rho_t-\lambda_{\min}))$ contracts
# $\frac{\lambda_1-\rho}{\rho-\lambda_2}$ by $\big(1-\frac{\mu}{L}\frac{\lambda_1-\lambda_2}{\lambda_1-\lambda_{\min}}\big)^2$ per step
# (THEORY.md §3.4, [R]); for least squares ($\lambda_2=\lambda_{\min}=0$) GDNP's direction therefore satisfies
# $\rho(w_t)-\rho^*\le(1-\mu/L)^{2t}(\rho(w_0)-\rho^*)$ (§3.5, [R]). Rates below are fitted from the traces and
# compared with the bound from each problem's own $\mu, L$. Registry: `kohler2019.rayleigh_rate`, `kohler2019.ls_rate`.

# %%
import numpy as np

from bntheory import gdnp, problems
from bntheory.checks.rates import fit_rate, pointwise_ratio
from bntheory.problems import spd_with_condition

rng = np.random.default_rng(0)
for kappa in (10.0, 100.0):
    X = rng.normal(size=(400, 10)) @ np.linalg.cholesky(spd_with_condition(rng, 10, kappa)).T
    y = X @ rng.normal(size=10) + rng.normal(size=400)
    ls = problems.least_squares(X, y)
    rho_star = -ls.u @ np.linalg.solve(ls.S, ls.u)
    run = gdnp.gdnp(ls, rng.normal(size=10), T_d=80, T_s=50)
    gaps = np.maximum(run.trace.rho - rho_star, 0)
    gd = gdnp.gd(ls, np.zeros(10) + 1e-3, T=80)
    q = (1 - ls.mu / ls.L) ** 2
    print(f"kappa {kappa:5g}: GDNP {fit_rate(gaps, floor=1e-9)}")
    print(f"             GD   {fit_rate(gd.objective - ls.value(ls.optimum), floor=1e-9)}")
    print(f"             bound q = {q:.6g}; max e_t/(q^t e_0) = {pointwise_ratio(gaps, q, floor=1e-9):.6g}")

# %% [markdown]
# For convex least squares GDNP's rate is the rate of well-tuned gradient descent (step $1/(2L)$), and each GDNP
# iteration costs a bisection on top: its case is the non-convex one (halfspaces, the tanh MLP).

# %% [markdown]
# ## The registry's checks
#
# The checks that `bntheory verify` runs for the results this derivation supports, at the quick size: a
# failing check raises here, so executing this file (or its notebook) is itself a test.

# %%
from bntheory.runner import assert_holds

assert_holds(proof="kohler2019_rates.py")
