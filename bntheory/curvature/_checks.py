"""Argument checks of :mod:`bntheory.curvature`: each error names the argument and the fix (issue 21).

NumPy-level on purpose (no PyTorch import): a PyTorch tensor, requiring grad or not, is read as its values.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

__all__ = ["as_array", "check_rng", "positive_int", "real_number"]


def as_array(a: Any, name: str, expect: str) -> np.ndarray:
    """`a` (array-like or tensor) as a C-contiguous float64 NumPy array, after checking real, finite values.

    Integer and low-precision floating inputs are converted (their values are exact in float64); booleans,
    complex numbers, ``None``, ragged lists and non-numeric objects are refused with a ``TypeError``, NaN and inf
    with a ``ValueError``. Strided, reversed and Fortran-order arrays are copied to a contiguous array.
    """
    if a is None:
        raise TypeError(f"{name}: expected {expect}, got None")
    if type(a).__module__.split(".")[0] == "torch":
        if a.dtype.is_complex or str(a.dtype) == "torch.bool":
            raise TypeError(f"{name}: expected real numbers ({expect}), got a {a.dtype} tensor; pass real values")
        a = a.detach().cpu().double().numpy()
    try:
        arr = np.asarray(a)
    except (ValueError, TypeError) as exc:
        raise TypeError(f"{name}: expected {expect}, got a ragged or non-numeric {type(a).__name__}") from exc
    if arr.dtype == np.bool_ or not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise TypeError(f"{name}: expected real numbers ({expect}), got dtype {arr.dtype}; pass float64 values")
    arr = np.asarray(arr, dtype=np.float64, order="C")  # keeps 0-d arrays 0-d (ascontiguousarray does not)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name}: contains NaN or inf; pass finite values")
    return arr


def positive_int(value: Any, name: str, minimum: int = 1) -> int:
    """`value` as an int after checking it is an integer (not a bool) of at least `minimum`."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name}: expected an int >= {minimum}, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{name}: expected an int >= {minimum}, got {value}")
    return int(value)


def real_number(value: Any, name: str) -> float:
    """`value` as a float after checking it is a finite real number (not a bool)."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}: expected a real number, got {type(value).__name__} {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{name}: expected a finite number, got {value}")
    return float(value)


def check_rng(rng: Any) -> np.random.Generator:
    """`rng` after checking it is a ``numpy.random.Generator``."""
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"rng: expected a numpy.random.Generator (numpy.random.default_rng(seed)), got {type(rng).__name__}"
        )
    return rng
