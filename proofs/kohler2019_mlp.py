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
# # The one-hidden-layer tanh MLP (Kohler et al. 2019)
#
# $f_{NN}=\mathrm E_z[\ell(\sum_j\theta_j\tanh(z^\top\tilde w^{(j)}))]$ with $z=-yx\sim\mathcal N(u,S-uu^\top)$. The claim as
# recalled (THEORY.md §3.9, [R]): for fixed $\Theta$ and fixed other units, every critical point of unit $i$ lies on the
# line through $S^{-1}u$. Stein's lemma gives unit $i$'s gradient as
# $\mathrm E[z\,h(a)]=u\,\mathrm E[h]+\Sigma\sum_j\tilde w^{(j)}\mathrm E[\partial_jh]$: in $\operatorname{span}\{u,S\tilde w^{(1)},\dots,S\tilde w^{(m)}\}$,
# which reduces to $\operatorname{span}\{u,S\tilde w^{(i)}\}$ only when the other units lie on the line. Registry:
# `kohler2019.mlp_lemma` (printed form: *not reproduced*), `kohler2019.mlp_on_line` (corrected form, [D]).

# %%
import numpy as np
import scipy.optimize

from bntheory import gdnp, problems
from bntheory.problems import spd_with_condition

rng = np.random.default_rng(0)
d = 4
S = spd_with_condition(rng, d, 5.0)
u = rng.normal(size=d)
u *= np.sqrt(0.5 / (u @ np.linalg.solve(S, u)))
line = np.linalg.solve(S, u)
theta = np.array([1.0, -0.7])

# %%
for other in ("on the line", "random"):
    W = np.zeros((2, d))
    W[1] = 0.8 * line if other == "on the line" else rng.normal(size=d)
    unit0 = problems.tanh_mlp_unit(S, u, W, theta, 0)
    w = scipy.optimize.minimize(unit0.value, 0.5 * rng.normal(size=d), method="BFGS", options={"gtol": 1e-10}).x
    print(f"other unit {other:12s}: 1 - |cos(w*, S^-1 u)| = {1 - abs(w @ line) / np.linalg.norm(w) / np.linalg.norm(line):.2e}")

# %% [markdown]
# ## Alternating GDNP over the units
#
# Started with unit 1 on the line, each unit's GDNP converges to the line (the first update of unit 1 leaves it while
# unit 0 is still off the line, then returns).

# %%
W0 = np.array([rng.normal(size=d), 0.8 * line])
W, runs = gdnp.alternating_gdnp(lambda W, i: problems.tanh_mlp_unit(S, u, W, theta, i), W0, sweeps=2, T_d=15, T_s=30)
[1 - abs(w @ line) / np.linalg.norm(w) / np.linalg.norm(line) for w in W]

# %% [markdown]
# ## The registry's checks
#
# The checks that `bntheory verify` runs for the results this derivation supports, at the quick size: a
# failing check raises here, so executing this file (or its notebook) is itself a test.

# %%
from bntheory.results import assert_holds

assert_holds(proof="kohler2019_mlp.py")
