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
# # Running statistics: the PyTorch and Keras conventions
#
# PyTorch: $r\leftarrow(1-p)\,r+p\,v$ with momentum $p=0.1$ weighting the **new** batch, and the **unbiased** batch variance
# stored. Keras: $r\leftarrow p\,r+(1-p)\,v$ with momentum $p=0.99$ weighting the **old** value, and the **biased** variance
# stored (THEORY.md §1.5). Registry: `pytorch.running_stats`, `keras.running_stats`.

# %%
from fractions import Fraction

import numpy as np
import torch

from bntheory import transform

rng = np.random.default_rng(0)
x = rng.normal(1.0, 2.0, size=(10, 3))
mean0, var0 = np.zeros(3), np.ones(3)

# %% [markdown]
# ## Against exact rational arithmetic and PyTorch's own buffers

# %%
pt_mean, pt_var = transform.update_running_stats(mean0, var0, x, momentum=0.1, convention="pytorch")
k_mean, k_var = transform.update_running_stats(mean0, var0, x, momentum=0.99, convention="keras")
col = [Fraction(float(v)) for v in x[:, 0]]
mu = sum(col) / len(col)
unbiased = sum((v - mu) ** 2 for v in col) / (len(col) - 1)
biased = sum((v - mu) ** 2 for v in col) / len(col)
exact_pt_var = Fraction(9, 10) + Fraction(1, 10) * unbiased
exact_k_var = Fraction(99, 100) + Fraction(1, 100) * biased
print("PyTorch var:", pt_var[0], float(exact_pt_var), " Keras var:", k_var[0], float(exact_k_var))

layer = torch.nn.BatchNorm1d(3, momentum=0.1, dtype=torch.float64)
layer.train()
layer(torch.from_numpy(x))
print("torch running_var:", layer.running_var.numpy())

# %%
assert abs(pt_var[0] - float(exact_pt_var)) < 1e-15 * float(exact_pt_var)
assert abs(k_var[0] - float(exact_k_var)) < 1e-15 * float(exact_k_var)
assert np.allclose(pt_mean, layer.running_mean.numpy(), rtol=1e-14)
assert np.allclose(pt_var, layer.running_var.numpy(), rtol=1e-14)

# %% [markdown]
# ## The registry's checks
#
# The checks that `bntheory verify` runs for the results this derivation supports, at the quick size: a
# failing check raises here, so executing this file (or its notebook) is itself a test.

# %%
from bntheory.results import assert_holds

assert_holds(proof="libraries_running_stats.py")
