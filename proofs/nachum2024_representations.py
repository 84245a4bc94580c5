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
# # Batch Normalization Decomposed (Nachum et al. 2024): rank and the cluster-plus-outlier geometry
#
# BN is split into recentering (RC: $Z\mapsto ZC_n$), rescaling (RS: divide each feature by its std across the batch)
# and the non-linearity; the batch is stored in columns. THEORY.md §4: only the abstract and secondary sources were
# available, so every check here is of a derived [D] fact or of the abstract's claim.
# Registry: `nachum2024.rc_rank`, `.relu_rank`, `.invariant`, `.emergence`.

# %%
import numpy as np
import sympy as sp

from bntheory import representations as rep

# %% [markdown]
# ## Recentering drops the rank by one iff $\mathbf 1^\top$ is in the row space (exact, SymPy)

# %%
rng = np.random.default_rng(0)
n = 5
C = sp.eye(n) - sp.ones(n, n) / n
H = sp.Matrix(rng.integers(-5, 6, size=(6, n)).tolist())
centred = H * C * n  # rows already sum to zero
print("generic:", H.rank(), "->", (H * C).rank(), "  centred rows:", centred.rank(), "->", (centred * C).rank())

# %% [markdown]
# ## The invariant configuration and $\alpha=n^2/(n^2-2n+2)$
#
# After RC the configuration lies on one line; after $W$ and ReLU the cluster and the outlier have disjoint supports,
# hence are exactly orthogonal. $\mathbb E\|a'\|^2=\frac{\sigma_w^2}{2}\frac{n^2-2n+2}{n^2}\|a\|^2$, so the Gram matrix is kept in
# expectation exactly when $\sigma_w^2=2\alpha$.

# %%
n_, s2 = sp.symbols("n sigma2", positive=True)
sp.solve(sp.Eq(s2 / 2 * (n_**2 - 2 * n_ + 2) / n_**2, 1), s2)

# %%
n, d = 5, 2000
a, b = rng.standard_normal(d), rng.standard_normal(d)
b -= (a @ b) / (a @ a) * a
b *= (n - 1) * np.linalg.norm(a) / np.linalg.norm(b)
H0 = np.column_stack([np.tile(a[:, None], (1, n - 1)), b])
for variance, name in ((2 * rep.alpha(n), "2 alpha"), (2.0, "He (2)")):
    grams = [rep.gram(rep.apply_steps(rng.standard_normal((d, d)) * np.sqrt(variance / d) @ H0, ("rc", "relu")))
             for _ in range(16)]
    print(f"{name:7s}: E[G'] / G on the diagonal = {np.round(np.diag(np.mean(grams, axis=0)) / np.diag(H0.T @ H0), 3)}")

# %% [markdown]
# ## Emergence: RC + ReLU drives the batch to one cluster and one orthogonal outlier (n = 32)

# %%
for steps in (("rc", "relu"), ("rc", "rs", "relu")):
    rng = np.random.default_rng(1)
    H = rep.deep_network(rng.standard_normal((8, 256, 32)), 600, steps, rng, variance=2.0, method="gram")
    dist, k = rep.d_max(H)
    print("+".join(steps), "d_max per seed:", np.round(np.sort(dist), 3))

# %% [markdown]
# ## The registry's checks
#
# The checks that `bntheory verify` runs for the results this derivation supports, at the quick size: a
# failing check raises here, so executing this file (or its notebook) is itself a test.

# %%
from bntheory.results import assert_holds

assert_holds(proof="nachum2024_representations.py")
