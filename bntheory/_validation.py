"""Argument checks shared by the public functions: each error names the argument and the fix."""

from __future__ import annotations

import math
from types import ModuleType
from typing import Any

import numpy as np
from array_api_compat import array_namespace, is_array_api_obj

__all__ = ["check_float_array", "check_momentum", "check_nonnegative", "check_same_dtype", "check_vector"]


def check_float_array(x: Any, name: str, *, min_ndim: int = 1) -> ModuleType:
    """Return the namespace of `x` after checking it is a real floating array of rank >= `min_ndim`."""
    if not is_array_api_obj(x):
        raise TypeError(
            f"{name}: expected an array (NumPy, CuPy, PyTorch, ...), got {type(x).__name__}; "
            "wrap it with numpy.asarray(..., dtype=numpy.float64)"
        )
    xp = array_namespace(x)
    if not xp.isdtype(x.dtype, "real floating"):
        raise TypeError(f"{name}: expected a real floating dtype, got {x.dtype}; convert it with .astype(float64)")
    if x.ndim < min_ndim:
        raise ValueError(f"{name}: expected at least {min_ndim} dimension(s), got shape {tuple(x.shape)}")
    return xp


def check_vector(v: Any, name: str, length: int, like: Any) -> None:
    """Check that `v` is a floating vector of shape ``(length,)`` with the dtype of `like`."""
    check_float_array(v, name)
    if tuple(v.shape) != (length,):
        raise ValueError(f"{name}: expected shape ({length},) (one value per channel), got {tuple(v.shape)}")
    check_same_dtype(v, name, like)


def check_same_dtype(v: Any, name: str, like: Any) -> None:
    """Check that `v` has the dtype of `like`, so no silent promotion or down-cast happens."""
    if v.dtype != like.dtype:
        raise TypeError(f"{name}: dtype {v.dtype} differs from the input's {like.dtype}; cast it to {like.dtype}")


def check_nonnegative(value: float, name: str) -> float:
    """Check a finite, non-negative scalar (such as `eps`) and return it as a float.

    NumPy's real scalars (``np.float32(1e-5)``, ``np.int64(0)``) are real numbers too; booleans are not.
    """
    if isinstance(value, bool | np.bool_) or not isinstance(value, int | float | np.integer | np.floating):
        raise TypeError(f"{name}: expected a real number, got {type(value).__name__}")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name}: expected a finite value >= 0, got {value}")
    return float(value)


def check_momentum(value: float, name: str = "momentum") -> float:
    """Check a momentum in the closed interval [0, 1] and return it as a float."""
    check_nonnegative(value, name)
    if value > 1:
        raise ValueError(f"{name}: expected a value in [0, 1], got {value}")
    return float(value)
