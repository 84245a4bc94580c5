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
# # The BN transform (Ioffe & Szegedy 2015, arXiv:1502.03167)
#
# Algorithm 1: $\mu_{\mathcal B}=\frac1m\sum_ix_i$, $\sigma^2_{\mathcal B}=\frac1m\sum_i(x_i-\mu_{\mathcal B})^2$,
# $\hat x_i=(x_i-\mu_{\mathcal B})/\sqrt{\sigma^2_{\mathcal B}+\epsilon}$, $y_i=\gamma\hat x_i+\beta$. Back-propagation (§3) collapses to the
# projector form $\nabla_x\ell=\frac{\gamma}{s}\big(I-\frac1m\mathbf 1\mathbf 1^\top-\frac1m\hat x\hat x^\top\big)\delta$; inference
# (Algorithm 2) is a per-channel affine map that can be folded into the preceding layer.
# Registry: `ioffe2015.transform`, `.backprop`, `.population_stats`, `.inference_affine`, `.fusion`.

# %%
import numpy as np
import sympy as sp

from bntheory import transform
from bntheory.symbolic.batchnorm import compact_gradient, paper_gradient, residuals, symbolic_batch

# %% [markdown]
# ## SymPy: the paper's six formulas, SymPy's derivative and the compact form agree (m = 3, symbolic eps)

# %%
b = symbolic_batch(3)
paper = paper_gradient(b)
autodiff = [sp.diff(b.loss, xi) for xi in b.x]
pairs = list(zip(autodiff, paper["dx"], strict=True)) + list(zip(paper["dx"], compact_gradient(b), strict=True))
pairs.append((paper["dmu_vanishing"], 0))
symbolic_failures = residuals(pairs, b)
symbolic_failures

# %% [markdown]
# ## Numerically: forward, backward (closed form) against central differences; inference and fusion

# %%
rng = np.random.default_rng(0)
x = rng.normal(2.0, 3.0, size=(16, 4))
gamma, beta = rng.uniform(0.5, 2, 4), rng.normal(size=4)
y, cache = transform.forward(x, gamma, beta, eps=1e-5)
dy = rng.normal(size=y.shape)
dx, dgamma, dbeta = transform.backward(dy, cache)


def loss(z):
    return float(np.sum(dy * transform.forward(z, gamma, beta, eps=1e-5)[0]))


h = 1e-6
fd = np.zeros_like(x)
for idx in np.ndindex(*x.shape):
    e = np.zeros_like(x)
    e[idx] = h
    fd[idx] = (loss(x + e) - loss(x - e)) / (2 * h)
print("max |dx - central differences| =", np.abs(dx - fd).max())

mean, var = transform.population_stats([x[:8], x[8:]])
a, c = transform.inference_affine(gamma, beta, mean, var, eps=1e-5)
W, bias = rng.normal(size=(4, 3)), rng.normal(size=4)
u = rng.normal(size=(5, 3))
W_f, b_f = transform.fuse_linear(W, bias, gamma, beta, mean, var, eps=1e-5)
fused_error = np.abs(u @ W_f.T + b_f - transform.inference(u @ W.T + bias, gamma, beta, mean, var, eps=1e-5)).max()
print("fused layer vs inference BN after the layer:", fused_error)

# %% [markdown]
# The assertions the registry runs, at this instance:

# %%
assert symbolic_failures == 0
assert np.abs(dx - fd).max() < 1e-6 * np.abs(dx).max()
assert np.allclose(y.mean(axis=0), beta)
assert fused_error < 1e-12

# %% [markdown]
# ## The registry's checks
#
# The checks that `bntheory verify` runs for the results this derivation supports, at the quick size: a
# failing check raises here, so executing this file (or its notebook) is itself a test.

# %%
from bntheory.results import assert_holds

assert_holds(proof="ioffe2015_transform.py")
