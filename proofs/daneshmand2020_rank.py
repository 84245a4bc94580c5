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
# ## The orthogonality gap's plateau shrinks with width (BN without mean subtraction, n = 8)

# %%
for d in (16, 64, 256):
    rng = np.random.default_rng(0)
    seen = []
    rep.deep_network(rng.standard_normal((12, d, 8)), 100, ("rms",), rng, method="gram",
                     record=lambda layer, H, seen=seen: seen.append(rep.orthogonality_gap(H)) if layer >= 60 else None)
    print(d, round(float(np.mean(np.concatenate(seen))), 3))

# %% [markdown]
# ## The registry's checks
#
# The checks that `bntheory verify` runs for the results this derivation supports, at the quick size: a
# failing check raises here, so executing this file (or its notebook) is itself a test.

# %%
from bntheory.runner import assert_holds

assert_holds(proof="daneshmand2020_rank.py")
