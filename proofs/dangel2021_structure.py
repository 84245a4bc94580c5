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
# # Structure and curvature of a BN network in training mode (Dangel 2021; Ghorbani et al. 2019)
#
# Under training-mode BN every output $F_n$ depends on the whole batch, but the loss keeps the structure
# $L=r\sum_n\ell(F_n,y_n)$. Hence per-component gradients $\mathbf g_n=(\mathrm J_\theta F_n)^\top\nabla_{F_n}\ell$ sum to the
# gradient, the GGN splits into $r\sum_n(\mathrm J_\theta F_n)^\top S_nS_n^\top(\mathrm J_\theta F_n)$, and its diagonal is one batched
# vector-Jacobian product of the factors $\mathbf s_{nc}$. Registry: `dangel2021.*`, `ghorbani2019.*`.

# %%
import numpy as np
import scipy.sparse.linalg

from bntheory import curvature as cv
from bntheory import spectrum

rng = np.random.default_rng(0)
model = cv.Model(inputs=4, hidden=6, classes=3, bn=True)
theta, X, Y, labels = model.init(rng), rng.normal(size=(8, 4)), rng.normal(size=(8, 3)), rng.integers(0, 3, 8)

# %% [markdown]
# ## Per-component gradients and the four candidate per-sample gradients

# %%
full = cv.full_gradient(model, theta, X, Y)
for definition in ("per_component", "running", "batch_of_one", "frozen_statistics"):
    g = cv.per_sample_gradients(model, theta, X, Y, definition=definition)
    print(f"{definition:18s} |r sum g_n - grad L| = {np.abs(g.sum(0) / 8 - full).max():.2e}")

# %% [markdown]
# ## The GGN: diagonal by factors vs the dense matrix; rank N C (MSE) and N (C - 1) (cross-entropy)

# %%
for loss in ("mse", "cross_entropy"):
    G = cv.ggn_dense(model, theta, X, loss=loss)
    diag = cv.ggn_diagonal(model, theta, X, loss=loss)
    s = np.linalg.svd(G, compute_uv=False)
    print(f"{loss}: max |diag error| = {np.abs(diag - np.diag(G)).max():.1e}, rank = {np.sum(s > 1e-10 * s[0])}, "
          f"D = {model.size}")

# %% [markdown]
# ## The training-mode Hessian: top eigenvalues by Lanczos, the density by stochastic Lanczos quadrature

# %%
op = cv.hessian_operator(model, theta, X, Y)
print("top 3 (eigsh):", np.sort(scipy.sparse.linalg.eigsh(op, k=3, which="LA", return_eigenvectors=False)))
H = cv.to_dense(op)
print("top 3 (dense):", np.linalg.eigvalsh(H)[-3:])
measure = spectrum.slq(scipy.sparse.linalg.aslinearoperator(H), rng, steps=H.shape[0], vectors=100)
ev = np.linalg.eigvalsh(H)
print("W1(SLQ, dense) / range:", spectrum.wasserstein1(measure, spectrum.SpectralMeasure(ev, np.full(ev.size, 1 / ev.size)))
      / (ev[-1] - ev[0]))

# %% [markdown]
# ## Oracles that do not share the model: `torch.nn` at first order, BN from primitive operations at second
#
# The checks compare the library against a network built from `torch.nn.Linear` and a training-mode
# `torch.nn.BatchNorm1d` with the same weights (gradients, per-component gradients, Jacobians), and against the
# Hessian of BN written out from `mean` and `rsqrt`, differentiated reverse-over-reverse: PyTorch's native
# training-mode kernel gives wrong Hessians through `torch.func` (THEORY-2.md §11.1).

# %%
from bntheory.checks import spectral
from bntheory.checks.oracles import networks as oracle

g_nn = oracle.gradient(model, theta, X, Y)
print("library gradient vs torch.nn:", np.abs(cv.full_gradient(model, theta, X, Y) - g_nn).max() / np.abs(g_nn).max())
H_oracle = oracle.hessian(model, theta, X, Y)
print("library Hessian vs primitive-BN Hessian:", np.abs(H - H_oracle).max() / np.abs(H_oracle).max())

# %% [markdown]
# ## SLQ: a Gauss rule per probe, so its moments are Hutchinson estimates with a known standard error
#
# With $m$ Lanczos steps, $\sum_jw_j\theta_j^p=q^\top H^pq$ for $p\le2m-1$; over $K$ Rademacher probes the error of
# $\operatorname{tr}(H^p)/D$ has the exact variance $2(\|H^p\|_F^2-\sum_i(H^p)_{ii}^2)/(D^2K)$. Equal weights on the Ritz
# values miss by tens of standard errors; Lanczos without re-orthogonalization breaks the Cauchy interlacing
# of each probe's Ritz values (ghost copies of the extreme eigenvalues).

# %%
m12 = spectrum.slq(scipy.sparse.linalg.aslinearoperator(H), rng, steps=12, vectors=400)
z, _, _ = spectral.moment_scores(m12.nodes, m12.weights, H_oracle, powers=range(1, 9), probes=400)
z_eq, _, _ = spectral.moment_scores(
    m12.nodes, np.full(m12.nodes.size, 1 / m12.nodes.size), H_oracle, powers=range(1, 9), probes=400
)
print("z-scores, Gauss weights:", np.round(z, 2), " equal weights:", np.round(z_eq, 0))
full = spectrum.slq(scipy.sparse.linalg.aslinearoperator(H), rng, steps=H.shape[0], vectors=10)
print("interlacing breach / range:", spectral.interlacing_violation(full.nodes, full.probe, ev))

# %% [markdown]
# ## The registry's checks
#
# The checks that `bntheory verify` runs for the results this derivation supports, at the quick size: a
# failing check raises here, so executing this file (or its notebook) is itself a test.

# %%
from bntheory.results import assert_holds

assert_holds(proof="dangel2021_structure.py")
