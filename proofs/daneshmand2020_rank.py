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
# # Rank collapse and how BN avoids it (Daneshmand et al. 2020), and orthogonalization (Daneshmand et al. 2021)
#
# Linear chains $H_{\ell}=W_\ell H_{\ell-1}$ with $d=N=32$ and unit-variance uniform weights, with and without BN (per-feature
# centering and division by the std). Soft rank $r(H)=\operatorname{tr}(HH^\top)^2/\|HH^\top\|_F^2$; numerical rank at NumPy's
# float64 tolerance. Compared with THEORY.md §5.1's reference table. Registry: `daneshmand2020.rank_collapse`,
# `daneshmand2020.soft_rank_scaling`, `daneshmand2021.orthogonality_gap`.

# %%
import numpy as np

from bntheory import representations as rep
from bntheory.results.daneshmand2020 import REFERENCE

for label, steps in (("no BN", ()), ("BN", ("rc", "rs"))):
    rng = np.random.default_rng(0)
    rows = {}

    def record(layer, H, rows=rows):
        if layer in REFERENCE:
            rows[layer] = (np.median(rep.numerical_rank(H)[0]), np.median(rep.soft_rank(H)))

    rep.deep_network(rng.standard_normal((3, 32, 32)), 1000, steps, rng, weights="uniform", record=record)
    print(label, {t: (int(r), round(float(s), 2)) for t, (r, s) in rows.items()})
print("reference (rank no BN, rank BN, soft no BN, soft BN):", REFERENCE)

# %% [markdown]
# ## The stationary soft rank grows like $\sqrt d$ (rescaling-only chain)

# %%
widths = (8, 16, 32, 64)
values = []
for d in widths:
    rng = np.random.default_rng(0)
    seen = []
    rep.deep_network(rng.standard_normal((3, d, d)), 600, ("rms",), rng,
                     record=lambda layer, H, seen=seen: seen.append(rep.soft_rank(H)) if layer > 300 else None)
    values.append(float(np.median(np.concatenate(seen))))
print(dict(zip(widths, np.round(values, 2), strict=True)), "slope", round(float(np.polyfit(np.log(widths), np.log(values), 1)[0]), 3))

# %% [markdown]
# The soft rank is not the stable rank $\|H\|_F^2/\|H\|_2^2$: $r(H)\ge$ stable rank, and at depth 0 (Gaussian 32 × 32) the
# soft rank is about 16 while the stable rank is about 8, so the table gate at depth 0 tells them apart.

# %%
H = np.random.default_rng(1).standard_normal((3, 32, 32))
print("soft", np.round(rep.soft_rank(H), 2), "stable", np.round(rep.stable_rank(H), 2))

# %% [markdown]
# ## The orthogonality gap's plateau shrinks like $n/\sqrt d$ (BN without mean subtraction, n = 8)
#
# THEORY-2.md §12.1 (the primary text): $V$ unsquared, Theorem 1's floor $3n/(\alpha\sqrt d)$, so the plateau of $V$ has
# log-log slope $-1/2$ against $d$ (the paper's Fig. 2b) and $V^2$ about $-1$. With $\|H\|_F=1$,
# $V^2=\sum_i\lambda_i^2-1/n$ for the eigenvalues $\lambda_i$ of $H^\top H$: the oracle of the library's gap.

# %%
plateaus = []
for d in (16, 64, 256):
    rng = np.random.default_rng(0)
    seen = []
    rep.deep_network(rng.standard_normal((12, d, 8)), 100, ("rms",), rng, method="gram",
                     record=lambda layer, H, seen=seen: seen.append(rep.orthogonality_gap(H)) if layer >= 60 else None)
    plateaus.append(float(np.mean(np.concatenate(seen))))
print(np.round(plateaus, 3), "slope", round(float(np.polyfit(np.log([16, 64, 256]), np.log(plateaus), 1)[0]), 3))
H = np.random.default_rng(2).standard_normal((16, 8))
H /= np.linalg.norm(H)
lam = np.linalg.eigvalsh(H.T @ H)
print("V^2 - (sum lambda^2 - 1/n):", float(rep.orthogonality_gap(H) ** 2 - (np.sum(lam**2) - 1 / 8)))

# %% [markdown]
# ## The registry's checks
#
# The checks that `bntheory verify` runs for the results this derivation supports, at the quick size: a
# failing check raises here, so executing this file (or its notebook) is itself a test.

# %%
from bntheory.results import assert_holds

assert_holds(proof="daneshmand2020_rank.py")
