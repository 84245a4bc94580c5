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
# # Scale invariance: four identities and the effective learning rate (THEORY-2.md §10.1–§10.2)
#
# Let $L(cw)=L(w)$ for every $c>0$: the weights in front of BN, of LayerNorm (with $\epsilon=0$), or any $f(w/\|w\|)$.
# Differentiating in $w$ gives $c\,\nabla L(cw)=\nabla L(w)$, i.e. **$\nabla L(cw)=\nabla L(w)/c$**; differentiating
# $L(cw)=L(w)$ in $c$ at $c=1$ gives **$\langle\nabla L(w),w\rangle=0$**. $\nabla L$ is homogeneous of degree $-1$, so
# by Euler's relation **$H(w)w=-\nabla L(w)$**, and differentiating $\nabla L(cw)=\nabla L(w)/c$ once more in $w$
# gives **$H(cw)=H(w)/c^2$**. With $c=1/\|w\|$: **$\nabla L(w)=\nabla L(u)/\|w\|$**, $u=w/\|w\|$. Finally
# $\|w-\eta\nabla L\|^2=\|w\|^2-2\eta\langle\nabla L,w\rangle+\eta^2\|\nabla L\|^2=\|w\|^2+\eta^2\|\nabla L\|^2$:
# a GD step never shrinks the norm. All [D]; the first two are also Wan et al. 2021, Lemma 1.
#
# ## Exactly, for a BN unit
#
# SymPy, for one BN unit on 3 rational samples in $\mathbb R^2$ with $\epsilon=0$; $s=\sqrt{q(w)}$ is a symbol
# and an expression vanishes iff its numerator does modulo $s^2-q(w)$
# (`bntheory.symbolic.scale_invariance`).

# %%
from bntheory.symbolic.scale_invariance import bn_unit_residuals

print("identities hold:", bn_unit_residuals())
print("grad L(cw) = grad L(w)/c^2 holds:", bn_unit_residuals(hessian=False, wrong_power=True)[2:])

# %% [markdown]
# ## Numerically, on deep normalized networks
#
# A 2-hidden-layer tanh network with BN (or LayerNorm) after each hidden layer, as a loss of its first-layer
# weights $w=\mathrm{vec}(W_1)\in\mathbb R^{20}$ (`bntheory.optim.scale_invariant.normalized_mlp`). The Hessian comes
# from PyTorch autograd of the same network rebuilt from primitives (`bntheory.checks.oracles.scale_invariance`).
# $\epsilon=10^{-5}$ breaks the identities at the level $\epsilon/\sigma^2$: exact tests need $\epsilon=0$.

# %%
import numpy as np

from bntheory.checks.oracles.scale_invariance import torch_loss
from bntheory.optim import scale_invariant as si

rng = np.random.default_rng(0)
X, Y = rng.normal(size=(12, 5)), rng.normal(size=(12, 2))
weights = [rng.normal(size=(4, 5)), rng.normal(size=(4, 4)) / 2, rng.normal(size=(2, 4)) / 2]
for norm in ("batch", "layer"):
    for eps in (0.0, 1e-5):
        loss = si.normalized_mlp(X, Y, weights, norm=norm, eps=eps)
        w = rng.normal(size=loss.d)
        grad = loss.gradient(w)
        _, _, H = torch_loss("mlp", loss.info, w, hessian=True)
        _, _, H7 = torch_loss("mlp", loss.info, 7 * w, hessian=True)
        print(
            f"{norm:5s} eps {eps:g}: cos(grad, w) {grad @ w / np.linalg.norm(grad) / np.linalg.norm(w):.1e}, "
            f"|grad(7w) - grad/7| {np.linalg.norm(loss.gradient(7 * w) - grad / 7) / np.linalg.norm(grad / 7):.1e}, "
            f"|Hw + grad| {np.linalg.norm(H @ w + grad) / np.linalg.norm(grad):.1e}, "
            f"|H(7w) - H/49| {np.linalg.norm(H7 - H / 49) / np.linalg.norm(H / 49):.1e}"
        )
readout = si.normalized_mlp(X, Y, weights, wrt="last")
w = rng.normal(size=readout.d)
print(
    "readout weights (not scale invariant): cos(grad, w) =",
    readout.gradient(w) @ w / np.linalg.norm(readout.gradient(w)) / np.linalg.norm(w),
)

# %% [markdown]
# ## The effective learning rate
#
# With $\nabla L(w_t)=\nabla L(u_t)/\|w_t\|$, one GD step is
# $w_{t+1}=\|w_t\|\big(u_t-\tfrac{\eta}{\|w_t\|^2}\nabla L(u_t)\big)$, a positive multiple of the sphere step with
# $\eta_{\rm eff}=\eta/\|w_t\|^2$ [D] (the notion is credited to van Laarhoven 2017 and Hoffer et al. 2018). Since
# $\|w_{t+1}\|^2=\|w_t\|^2+\eta^2\|\nabla L(u_t)\|^2/\|w_t\|^2$, a whole GD run is a run on the sphere whose rate
# decreases by itself: the mechanism of §10.3 and §10.5.

# %%
loss = si.normalized_mlp(X, Y, weights, norm="layer")
u = rng.normal(size=loss.d)
u /= np.linalg.norm(u)
for radius in (0.2, 5.0, 30.0):
    w1 = si.gd(loss, radius * u, 0.5, T=1).w
    sphere = u - 0.5 / radius**2 * loss.gradient(u)
    wrong = u - 0.5 / radius * loss.gradient(u)
    direction = w1 / np.linalg.norm(w1)
    print(
        f"|w| = {radius:4g}: eta/|w|^2 misses by {np.linalg.norm(direction - sphere / np.linalg.norm(sphere)):.1e}, "
        f"eta/|w| by {np.linalg.norm(direction - wrong / np.linalg.norm(wrong)):.2g}"
    )

# %% [markdown]
# ## The registry's checks
#
# The checks `bntheory verify` runs for `scale.identities` and `scale.effective_lr`, at the quick size: a failing
# check raises here, so executing this file (or its notebook) is itself a test.

# %%
from bntheory.results import assert_holds

assert_holds(proof="scale_invariance.py")
