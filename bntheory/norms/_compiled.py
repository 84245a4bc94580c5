"""Which NumPy inputs go to the compiled (numba) kernels, the optional ``fast`` extra.

The NumPy (and array-API) code stays the reference; a compiled module (:mod:`bntheory.norms._batch_fused`,
:mod:`bntheory.norms._standardize_fused`) computes the same formulas in fewer passes over memory. It is used for
float32 and float64 NumPy arrays of at least :data:`MIN_ELEMENTS` values where numba imports, unless the
environment variable ``BNTHEORY_NUMBA`` is ``0`` (read at every call, so it can be switched per process or per
test).
"""

from __future__ import annotations

import functools
import importlib
import os
from types import ModuleType

import numpy as np

__all__ = ["MIN_ELEMENTS", "kernels", "load"]

# Below this size the NumPy kernels are about as fast, and small workloads (`bntheory verify`) stay free of
# numba's import (0.3 s) and first-call compile (about 1 s per dtype, cached on disk after).
MIN_ELEMENTS = 1 << 20
# The dtypes compiled (float16 and long double stay on the reference path).
_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def kernels(name: str, x: np.ndarray) -> ModuleType | None:
    """The compiled module `name` of :mod:`bntheory.norms` for the NumPy array `x`, or None where it does not apply."""
    if x.size < MIN_ELEMENTS or x.dtype not in _DTYPES or os.environ.get("BNTHEORY_NUMBA", "1") == "0":
        return None
    return load(name)


@functools.cache
def load(name: str) -> ModuleType | None:
    """The compiled module `name`, or None where numba is not installed."""
    try:
        return importlib.import_module(f"bntheory.norms.{name}")
    except ImportError as exc:
        if exc.name != "numba" and exc.name != "llvmlite":
            raise  # a bug in the module itself, not a missing extra
        return None
