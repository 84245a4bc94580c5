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
# # BNGD on least squares converges for any weight step (Cai, Li & Shen 2019; THEORY-2.md §10.5)
#
# Population OLS: $x\sim\mathcal N(0,H)$, $y=x^\top u^*+\text{noise}$ (variance $\sigma^2$), $g=Hu^*$. The BN model
# $\hat y=a\,w^\top x/\|w\|_H$ has $J(a,w)=\tfrac12(\mathrm Ey^2-2a\,w^\top g/\|w\|_H+a^2)$, minimum $J^*=\sigma^2/2$, and
# $$\partial_aJ=a-\frac{w^\top g}{\|w\|_H},\qquad \nabla_wJ=-\frac{a}{\|w\|_H}\Big(g-\frac{w^\top g}{\|w\|_H^2}Hw\Big),$$
# which BNGD follows with steps $\varepsilon_a$ and $\varepsilon$ (`bntheory.optim.bngd.bngd`). The claim [P, abstract]:
# convergence for arbitrary weight steps, linearly under mild conditions; the theorems are [R].
#
# **Mechanism [D].** $w^\top\nabla_wJ=0$, so $\|w_{k+1}\|^2=\|w_k\|^2+\varepsilon^2\|\nabla_wJ\|^2$: a large $\varepsilon$ inflates
# $\|w\|$ until the effective step $\varepsilon/\|w\|^2$ is small (§10.1–§10.2).
#
# **Scaling law [D].** Replace $(\varepsilon,w_0)$ by $(c^2\varepsilon,cw_0)$. If $w_k\mapsto cw_k$ then $\|w_k\|_H\mapsto c\|w_k\|_H$,
# $a_{k+1}$ is unchanged and the $w$-step $\varepsilon a_k/\|w_k\|_H(\dots)$ scales by $c^2/c=c$; by induction the gains,
# directions and $J$ coincide, and $w_k\mapsto cw_k$.

# %%
import numpy as np

from bntheory.optim import bngd as bn

rng = np.random.default_rng(0)
d = 6
Q, _ = np.linalg.qr(rng.normal(size=(d, d)))
H = (Q * np.geomspace(1, 10, d)) @ Q.T
u_star = rng.normal(size=d)
problem = bn.least_squares(H, u_star, 0.1)
eps = 10.0 ** np.arange(-2, 6)
w0 = np.tile(rng.normal(size=d), (eps.size, 1))
for eps_a in (1.0, 0.5, 2.05):
    trace = bn.bngd(problem, 1.0, w0, eps, eps_a, T=6000)
    error = np.linalg.norm(trace.predictor[-1] - u_star, axis=1) / np.linalg.norm(u_star)
    print(f"eps_a = {eps_a}: predictor error after 6000 steps", np.array2string(error, precision=2))
    if eps_a == 1.0:
        print("          final effective step eps/|w|^2", np.array2string(eps / trace.norm_sq[-1], precision=2))

# %% [markdown]
# Every weight step converges (the largest slowly: their effective step ends near $10^{-4}$–$10^{-5}$), while
# $\varepsilon_a=2.05$ diverges: "any learning rate" is for the weights only. Plain GD on the predictor,
# $u_{k+1}=u_k-\varepsilon(Hu_k-g)$, converges only below $2/\lambda_{\max}(H)$:

# %%
gd = bn.gd(problem, np.zeros((2, d)), np.array([1.98, 2.02]) / 10, T=2000)
print("GD at 1.98 and 2.02 / lambda_max:", np.linalg.norm(gd.predictor[-1] - u_star, axis=1) / np.linalg.norm(u_star))
c = 7.0
base = bn.bngd(problem, 1.0, w0[:3], eps[:3], 1.0, T=200)
for power in (2, 1):
    scaled = bn.bngd(problem, 1.0, c * w0[:3], c**power * eps[:3], 1.0, T=200)
    print(f"(c^{power} eps, c w0): max |a - a'| = {np.max(np.abs(scaled.gain - base.gain)):.2g}")

# %% [markdown]
# **Trap.** $J-J^*$ is quadratic in the predictor error, so it reaches the rounding floor long before the predictor
# does, and it is not monotone in the first steps for $\varepsilon\ge10^4$: the registry gates the predictor.
#
# ## The registry's checks
#
# `cai2019.bngd` and `cai2019.scaling_law` at the quick size: a failing check raises here.

# %%
from bntheory.results import assert_holds

assert_holds(proof="cai2019_bngd.py")
