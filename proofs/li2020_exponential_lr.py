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
# # Weight decay is an exponentially growing learning rate (Li & Arora 2020)
#
# On a scale-invariant loss, $L(cw)=L(w)$ for $c>0$, the gradient is homogeneous of degree $-1$:
# $\nabla L(cw)=\nabla L(w)/c$ (THEORY-2.md §10.1). Li & Arora (arXiv:1910.07454) turn this into an equivalence between
# weight decay and an exponential learning-rate schedule. Their theorem was not read ([R]); what follows are the forms
# derived in THEORY-2.md §10.4 [D], and the registry checks them as exact trajectory equivalences.
#
# **GD.** With $w_{t+1}=(1-\eta\lambda)w_t-\eta\nabla L(w_t)$ and $\tilde w_{t+1}=\tilde w_t-\eta(1-\eta\lambda)^{-2t-1}\nabla L(\tilde w_t)$,
# $\tilde w_0=w_0$: suppose $\tilde w_t=(1-\eta\lambda)^{-t}w_t$. Then
# $$\tilde w_{t+1}=(1-\eta\lambda)^{-t}w_t-\eta(1-\eta\lambda)^{-2t-1}(1-\eta\lambda)^{t}\nabla L(w_t)
# =(1-\eta\lambda)^{-t-1}\big((1-\eta\lambda)w_t-\eta\nabla L(w_t)\big)=(1-\eta\lambda)^{-(t+1)}w_{t+1}.$$
#
# **Heavy ball** (PyTorch's convention): $b_{t+1}=\gamma b_t+\nabla L(w_t)+\lambda w_t$, $w_{t+1}=w_t-\eta b_{t+1}$, $b_0=0$.
# Eliminating the buffer gives the second-order recursion
# $w_{t+1}=(1+\gamma-\eta\lambda)w_t-\gamma w_{t-1}-\eta\nabla L(w_t)$. The WD-free run with steps $\eta\alpha^{-2t-1}$
# has, for $\tilde w_t=\alpha^{-t}w_t$, the same recursion exactly when $\alpha^2-(1+\gamma-\lambda\eta)\alpha+\gamma=0$
# (match the coefficients of $w_t$ and $w_{t-1}$); the first step fixes the buffer: $\tilde b_0=\frac{\alpha-1}{\eta\alpha}w_0$.
# SymPy confirms both coefficient matches:

# %%
import sympy as sp

eta, lam, gamma, a, t = sp.symbols("eta lambda gamma alpha t", positive=True)
w_prev, w_now, grad = sp.symbols("w_prev w_now g")  # w_{t-1}, w_t and grad L(w_t), scalars stand in for vectors
wd_next = (1 + gamma - eta * lam) * w_now - gamma * w_prev - eta * grad
# WD-free second-order form: w~_{t+1} = w~_t + gamma (eta_t/eta_{t-1}) (w~_t - w~_{t-1}) - eta_t grad L(w~_t)
eta_t, eta_prev = eta * a ** (-2 * t - 1), eta * a ** (-2 * t + 1)
tw_now, tw_prev = a**-t * w_now, a ** (-t + 1) * w_prev
free_next = tw_now + gamma * eta_t / eta_prev * (tw_now - tw_prev) - eta_t * a**t * grad  # grad L(c w) = grad L(w)/c
residual = sp.expand(sp.simplify(free_next - a ** (-t - 1) * wd_next))
quadratic = sp.collect(sp.expand(residual * a ** (t + 1)), [w_now, w_prev, grad], evaluate=False)
print({k: sp.factor(v) for k, v in quadratic.items()})

# %% [markdown]
# The coefficient of $w_{t-1}$ vanishes identically, that of $\nabla L$ too, and the coefficient of $w_t$ is
# $(\alpha^2-(1+\gamma-\lambda\eta)\alpha+\gamma)/\alpha$: zero exactly at the roots. They are real only when
# $\eta\lambda\le(1-\sqrt\gamma)^2$ (the discriminant $(1+\gamma-p)^2-4\gamma$, $p=\lambda\eta$, vanishes at
# $p=(1\pm\sqrt\gamma)^2$ and is negative between), which is why `exponential_lr_equivalent` refuses larger products:

# %%
p = sp.Symbol("p", positive=True)
disc = (1 + gamma - p) ** 2 - 4 * gamma
print("discriminant = 0 at p =", [sp.factor(r) for r in sp.solve(disc, p)])
print("boundary at gamma = 0.9:", float((1 - sp.sqrt(sp.Rational(9, 10))) ** 2))

# %% [markdown]
# ## The library's runs
#
# `bntheory.optim.sgd.sgd` runs both forms on the noisy scale-invariant loss $-\xi^\top w/\|w\|$ (same samples in both
# runs), and `exponential_lr_equivalent` gives the root, the schedule and the first buffer:

# %%
import numpy as np

from bntheory.optim.sgd import NoisyLinear, exponential_lr_equivalent, sgd

rng = np.random.default_rng(0)
w0 = rng.normal(size=(2, 8))
loss = NoisyLinear(np.r_[2.0, np.zeros(7)], scale=np.array([0.0, 1.0]))  # a GD run and an SGD run
for eta_, lam_, gamma_ in ((0.3, 0.02, 0.0), (0.3, 0.005, 0.9)):
    eq = exponential_lr_equivalent(eta_, lam_, gamma_, steps=200)
    wd = sgd(loss, w0, lr=eta_, momentum=gamma_, weight_decay=lam_, steps=200, seeds=[1, 2], keep_path=True)
    free = sgd(loss, w0, lr=eta_, momentum=gamma_, schedule=eq.schedule, buffer0=eq.buffer_factor * w0, steps=200,
               seeds=[1, 2], keep_path=True)
    zero = sgd(loss, w0, lr=eta_, momentum=gamma_, schedule=eq.schedule, steps=200, seeds=[1, 2], keep_path=True)
    scaled = wd.path * eq.alpha ** -np.arange(201.0)[:, None, None]

    def gap(path, scaled=scaled):
        return np.max(np.linalg.norm(path - scaled, axis=-1) / np.linalg.norm(scaled, axis=-1))

    print(f"gamma = {gamma_}: alpha = {eq.alpha:.6f}, max gap {gap(free.path):.2e}; with b~_0 = 0: {gap(zero.path):.2e}")

# %% [markdown]
# With $\gamma=0$ the buffer is irrelevant (zero and derived gaps agree); with momentum the zero buffer PyTorch
# would start from misses by percents. The controls in the registry: the exponent $-2t$ (GD), the zero buffer and the
# GD factor $\alpha=1-\eta\lambda$ (heavy ball).
#
# ## The registry's checks

# %%
from bntheory.results import assert_holds

assert_holds(proof="li2020_exponential_lr.py")
