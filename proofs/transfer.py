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
# # The transfer matrix: which BN results hold for LayerNorm, GroupNorm, InstanceNorm, RMSNorm and WeightNorm
#
# THEORY-2.md §9.4 takes six families of BN results of this package (rows T1-T6) and asks, for each other
# normalization, whether the same statement holds with the normalization *group* in place of the batch, and in
# which exact form. This notebook derives the answers of rows T1, T2, T5 and T6, then runs the registry's checks
# and prints the matrix (`bntheory matrix` prints the same table; `bntheory report` colours it).
#
# ## T1 and T2: one group is one batch
#
# Within one group of $m$ entries, LN, GN and IN *are* BN's map with elementwise gains: $\hat x=(x-\mu\mathbf 1)/s$,
# $y=\gamma\odot\hat x+\beta$. So Ioffe's backward pass holds per group, with $g=\gamma\odot\delta$ inside the
# projector (THEORY-2.md §9.2):
# $$\nabla_x\ell=\frac1s P_m(\hat x)\,g,\qquad P_m=I-\tfrac1m\mathbf 1\mathbf 1^\top-\tfrac1m\hat x\hat x^\top
# \ (\epsilon=0).$$
# Its squared norm is Santurkar's Theorem 4.1 per group. For $\epsilon\ge0$ the exact value carries a factor
# $2-\|\hat x\|^2/m\ge1$ on the last term ($\|\hat x\|^2=m\sigma^2/s^2$), which is why the theorem becomes "$\le$"
# for $\epsilon>0$ and stays an equality where $\hat x^\top g=0$. SymPy, for one group of three entries:

# %%
import sympy as sp

m = 3
x = sp.symbols("x1:4", real=True)
d = sp.symbols("d1:4", real=True)
gam = sp.symbols("gamma1:4", positive=True)
eps = sp.Symbol("epsilon", nonnegative=True)
for center in (True, False):
    mu = sum(x) / m if center else 0
    s = sp.sqrt(sum((xi - mu) ** 2 for xi in x) / m + eps)
    x_hat = [(xi - mu) / s for xi in x]
    loss = sum(di * gi * hi for di, gi, hi in zip(d, gam, x_hat, strict=True))
    grad = [sp.diff(loss, xi) for xi in x]
    g = [gi * di for gi, di in zip(gam, d, strict=True)]
    gx = sum(gi * hi for gi, hi in zip(g, x_hat, strict=True))
    ones = sum(g) ** 2 / m if center else 0
    exact = (sum(gi**2 for gi in g) - ones - gx**2 / m * (2 - sum(h**2 for h in x_hat) / m)) / s**2
    values = (*zip(x, (0.3, -1.2, 2.0), strict=True), *zip(d, (1, 2, -1), strict=True))
    point = dict(values) | dict(zip(gam, (1, 2, 3), strict=True)) | {eps: sp.Rational(1, 10)}
    residual = (sum(gi**2 for gi in grad) - exact).subs(point)
    print("LN/GN/IN" if center else "RMSNorm", "||grad||^2 - exact value at a point:", sp.N(residual, 30))

# %% [markdown]
# RMSNorm has no centring, hence no $(\mathbf 1^\top g)^2$ term and no identity $\sum_i\partial\ell/\partial x_i=0$;
# weight normalization's projector removes the direction of $v$ only:
# $\|\nabla_vL\|^2=\tfrac{g^2}{\|v\|^2}\big(\|\nabla_wL\|^2-(\hat w^\top\nabla_wL)^2\big)$ with a *unit* $\hat w$.
# Theorem 4.2's form moves to a group the same way: along $x+tv$ with $v\perp\mathbf 1,\hat x$ the mean is constant
# and $s(t)^2=s^2+t^2\|v\|^2/m$, so
# $$v^\top\nabla_x^2\hat L\,v=\frac1{s^2}(\gamma\odot v)^\top H(\gamma\odot v)-\frac{\|v\|^2}{ms^2}
# \langle\gamma\odot\hat g,\hat x\rangle$$
# exactly for every $\epsilon\ge0$. With the gain pulled out of the quadratic form (BN's scalar-$\gamma$ form with the
# mean gain) it is false as soon as the gains vary within the group, which GroupNorm's per-channel gains do:

# %%
import numpy as np

from bntheory.checks.instances.landscape import Downstream
from bntheory.checks.instances.transfer import orthogonal_in_group
from bntheory.checks.oracles.normalizations import torch_group_hessian_form
from bntheory.landscape import lipschitz

rng = np.random.default_rng(0)
xg = rng.normal(size=6)
gain = np.repeat([0.6, 1.0, 1.7], 2)  # three channels of two positions: one GroupNorm group
F = Downstream(rng.normal(size=6), rng.normal(size=(6, 6)), rng.normal(size=6))
v = orthogonal_in_group(xg[None], rng, center=True)[0]
z = (xg - xg.mean()) / xg.std()
form = torch_group_hessian_form(xg, gain, 0.0, F.torch, v)
for name, gm in (("gain inside", gain), ("mean gain", np.full(6, gain.mean()))):
    right = lipschitz.group_hessian_form(v, F.hess(gain * z), F.grad(gain * z), xg, gm)
    print(f"{name:12s} double backward {form:.12f}   formula {float(right):.12f}")

# %% [markdown]
# ## T5: per-sample normalizations follow a linear chain
#
# Daneshmand et al.'s chain is $H_{\ell+1}=N(W_\ell H_\ell)$, columns = samples. BN's statistics run across the
# columns, which couples them. A per-sample normalization maps each column on its own: LayerNorm is
# $z\mapsto C_dz/s(z)$, an affine map common to all columns ($C_d=I-\tfrac1d\mathbf 1\mathbf 1^\top$) times a
# per-column scalar, RMSNorm $z\mapsto z/r(z)$, and weight normalization rescales the rows of $W$ by factors that do
# not depend on the batch. So the column *directions* are exactly those of the linear chain $\prod_\ell M_\ell H_0$
# ($M_\ell=C_dW_\ell$, $W_\ell$, $D_\ell W_\ell$), which collapses to rank one like the chain without BN.
# GroupNorm with several groups rescales blocks of a column by different factors: a non-linearity, and it keeps
# rank from about four groups on. The chains below share their weights (`paired_networks`), so the differences are
# the normalizations', not the draws':

# %%
from bntheory import representations as rep

variants = {
    "none": {},
    "BN": {"steps": ("rc", "rs")},
    "LN": {"per_sample": "layer"},
    "RMSNorm": {"per_sample": "rms"},
    "WN": {"weight_norm": True},
    "GN, 2 groups": {"per_sample": "group", "groups": 2},
    "GN, 4 groups": {"per_sample": "group", "groups": 4},
    "GN, 8 groups": {"per_sample": "group", "groups": 8},
}
H0 = rng.standard_normal((4, 32, 32))
final = rep.paired_networks(H0, 300, variants, rng, weights="uniform", normalize=True)
for name, H in zip(variants, final, strict=True):
    print(f"{name:13s} soft rank at depth 300 (4 networks): {np.round(rep.soft_rank(H), 2)}")

# %% [markdown]
# The mechanism is exact, not statistical: LayerNorm's chain against the linear chain with centred weights, same
# draws (the oracle of the check `transfer.t5_layer`):

# %%
from bntheory.checks.instances.transfer import linear_chain

H1 = rng.standard_normal((32, 32))
ours = rep.deep_network(H1, 40, (), np.random.default_rng(5), weights="uniform", normalize=True, per_sample="layer")
want = linear_chain(np.random.default_rng(5), H1, 40, "layer")
print("max |unit column - linear chain's|:", np.abs(ours / np.linalg.norm(ours, axis=0) - want).max())

# %% [markdown]
# ## T6: the orthogonal outlier needs batch centring
#
# Nachum et al.'s configuration ($n-1$ copies of $a$, an outlier $b\perp a$ with $\|b\|=(n-1)\|a\|$) is kept by
# $W\to$ recentering across the batch $\to$ ReLU because the centred cluster and outlier are antiparallel, so
# ReLU gives them disjoint supports. Per-sample centring (LayerNorm, GroupNorm) centres each column over its own
# features instead, and the outlier's cosine with the cluster is no longer zero:

# %%
from bntheory.checks.instances import networks as nets

n, dd = 6, 64
for how in ("batch", "layer", "group"):
    cos = []
    for _ in range(50):
        Hc = nets.cluster_outlier(rng, dd, n, n - 1)
        Z = (rng.standard_normal((dd, dd)) * np.sqrt(2 / dd)) @ Hc
        Z = rep.apply_steps(Z, ("rc",)) if how == "batch" else rep.per_sample_norm(Z, how, groups=4)
        out = np.maximum(Z, 0)
        cos.append(abs(out[:, 0] @ out[:, -1]) / np.linalg.norm(out[:, 0]) / np.linalg.norm(out[:, -1]))
    print(f"{how:6s} centring: |cos(cluster, outlier)| mean {np.mean(cos):.3f}, min {np.min(cos):.3f}")

# %% [markdown]
# ## The registry's checks, and the matrix of this run
#
# The BN column and rows T3, T4 are other results (`bntheory matrix` runs them all); here the cells of T1, T2, T5, T6.

# %%
from bntheory import matrix
from bntheory.results import assert_holds

reports = assert_holds(proof="transfer.py")
print(matrix.matrix(reports).format())
