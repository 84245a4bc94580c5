"""Argument checks shared by the public functions: each error names the argument and the fix.

Finiteness is checked where it is cheap. Small arguments (gains, shifts, running statistics, starting points,
matrices of a few hundred entries) are checked entry by entry (:func:`check_float_array` with ``finite=True``).
A large batch is not read an extra time: the per-channel (or per-group) statistics that a transform computes
anyway are non-finite exactly when a NaN or inf entered them or they overflowed, so those few numbers are
checked (:func:`check_statistics`) and only a failing batch is read again, to say which of the two it was.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np
from array_api_compat import array_namespace, is_array_api_obj

__all__ = [
    "NonFiniteError",
    "check_bool",
    "check_callable",
    "check_choice",
    "check_eps",
    "check_float_array",
    "check_int",
    "check_momentum",
    "check_nonnegative",
    "check_numbers",
    "check_real",
    "check_rng",
    "check_same_backend",
    "check_same_dtype",
    "check_statistics",
    "check_vector",
]


class NonFiniteError(ValueError):
    """An argument holds NaN or inf, or statistics computed from it overflow (a ValueError, naming the argument)."""


def _backend_name(x: Any) -> str:
    return type(x).__module__.split(".")[0]


def check_float_array(x: Any, name: str, *, min_ndim: int = 1, finite: bool = False) -> ModuleType:
    """Return the namespace of `x` after checking it is a real floating array of rank >= `min_ndim`.

    With ``finite=True`` every entry must be finite (for small arguments: it reads `x` once more).
    """
    if not is_array_api_obj(x):
        raise TypeError(
            f"{name}: expected an array (NumPy, CuPy, PyTorch, ...), got {type(x).__name__}; "
            "wrap it with numpy.asarray(..., dtype=numpy.float64)"
        )
    xp = array_namespace(x)
    if not xp.isdtype(x.dtype, "real floating"):
        raise TypeError(f"{name}: expected a real floating dtype, got {x.dtype}; convert it with .astype(float64)")
    if x.ndim < min_ndim:
        raise ValueError(f"{name}: expected at least {min_ndim} dimension(s), got shape {tuple(x.shape)}; reshape it")
    if finite and not bool(xp.all(xp.isfinite(x))):
        raise NonFiniteError(f"{name}: contains NaN or inf; replace the non-finite entries")
    return xp


def check_vector(v: Any, name: str, length: int, like: Any, *, finite: bool = True) -> None:
    """Check that `v` is a finite floating vector of shape ``(length,)`` with the backend and dtype of `like`."""
    check_float_array(v, name)
    check_same_backend(v, name, like)
    if tuple(v.shape) != (length,):
        raise ValueError(
            f"{name}: expected shape ({length},) (one value per channel), got {tuple(v.shape)}; "
            f"give it {length} entries"
        )
    check_same_dtype(v, name, like)
    if finite and not bool(array_namespace(v).all(array_namespace(v).isfinite(v))):
        raise NonFiniteError(f"{name}: contains NaN or inf; replace the non-finite entries")


def check_same_backend(v: Any, name: str, like: Any) -> None:
    """Check that `v` is an array of the same library as `like` (no silent host/device mixing)."""
    if _backend_name(v) != _backend_name(like):
        raise TypeError(
            f"{name}: a {_backend_name(v)} array among {_backend_name(like)} arrays; pass arrays of one backend "
            "(bntheory.backend.asarray moves them)"
        )


def check_same_dtype(v: Any, name: str, like: Any) -> None:
    """Check that `v` has the backend and dtype of `like`, so no silent promotion or down-cast happens."""
    check_same_backend(v, name, like)
    if v.dtype != like.dtype:
        raise TypeError(f"{name}: dtype {v.dtype} differs from the input's {like.dtype}; cast it to {like.dtype}")


def check_statistics(x: Any, name: str, stats: tuple[Any, ...], *, xp: Any) -> None:
    """Raise :class:`NonFiniteError` naming `name` if one of `stats`, statistics computed from `x`, is not finite.

    Reads only the statistics (a few numbers per channel or group); `x` itself is read again only to word the error:
    a NaN or inf in `x`, or an overflow of its finite values (then the fix is to rescale).
    """
    if all(bool(xp.all(xp.isfinite(s))) for s in stats):
        return
    if not bool(xp.all(xp.isfinite(x))):
        raise NonFiniteError(f"{name}: contains NaN or inf; replace the non-finite entries")
    largest = float(xp.max(xp.abs(x)))
    raise NonFiniteError(
        f"{name}: its statistics overflow {x.dtype} (largest |entry| {largest:.3g}); rescale it by a constant"
    )


def _is_real_number(value: Any) -> bool:
    return not isinstance(value, bool | np.bool_) and isinstance(value, int | float | np.integer | np.floating)


def check_nonnegative(value: float, name: str) -> float:
    """Check a finite, non-negative scalar (such as `eps`) and return it as a float.

    NumPy's real scalars (``np.float32(1e-5)``, ``np.int64(0)``) are real numbers too; booleans are not.
    """
    return check_real(value, name, low=0.0)


def check_eps(eps: Any, per: str) -> Any:
    r"""A real ``eps >= 0`` (returned as a float), or an array of them, one `per` unit or group (returned as is).

    The array form is how a batch of independent instances carries one :math:`\epsilon` each.
    """
    if not is_array_api_obj(eps):
        return check_nonnegative(eps, "eps")
    xp = check_float_array(eps, "eps", min_ndim=0)
    if not bool(xp.all(eps >= 0)):  # NaN compares False too
        raise ValueError(f"eps: expected finite values >= 0, one per {per}; replace the negative or NaN entries")
    return eps


def check_real(
    value: Any, name: str, *, low: float | None = None, high: float | None = None, open_low: bool = False
) -> float:
    """Check a finite real number in ``[low, high]`` (``(low, high]`` with `open_low`) and return it as a float."""
    if not _is_real_number(value):
        raise TypeError(f"{name}: expected a real number, got {type(value).__name__}; pass a float")
    bounds = ("> " if open_low else ">= ") + f"{low:g}" if low is not None else ""
    if high is not None:
        bounds = f"in [{low:g}, {high:g}]" if low is not None else f"<= {high:g}"
    if (
        not math.isfinite(value)
        or (low is not None and (value < low or (open_low and value == low)))
        or (high is not None and value > high)
    ):
        raise ValueError(f"{name}: expected a finite value {bounds}, got {value}; pass a finite value {bounds}".strip())
    return float(value)


def check_momentum(value: float, name: str = "momentum") -> float:
    """Check a momentum in the closed interval [0, 1] and return it as a float."""
    if _is_real_number(value) and math.isfinite(value) and value > 1:
        raise ValueError(f"{name}: expected a value in [0, 1], got {value}; pass the library's momentum in [0, 1]")
    return check_real(value, name, low=0.0, high=1.0)


def check_int(value: Any, name: str, *, minimum: int | None = None) -> int:
    """Check an integer (Python or NumPy, not a bool) of at least `minimum` and return it as an int."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, int | np.integer):
        raise TypeError(f"{name}: expected an int, got {type(value).__name__}; pass an int")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name}: expected an int >= {minimum}, got {value}; pass one >= {minimum}")
    return int(value)


def check_bool(value: Any, name: str) -> bool:
    """Check a boolean flag (Python or NumPy) and return it."""
    if not isinstance(value, bool | np.bool_):
        raise TypeError(f"{name}: expected True or False, got {value!r}; pass a bool")
    return bool(value)


def check_choice(value: Any, name: str, choices: tuple[str, ...] | Any) -> str:
    """Check that `value` is one of `choices` (strings) and return it."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name}: expected one of {', '.join(map(str, choices))}, got {value!r}; choose one of them")
    return value


def check_callable(value: Any, name: str, what: str = "a function") -> Callable:
    """Check that `value` can be called."""
    if not callable(value):
        raise TypeError(f"{name}: expected {what}, got {type(value).__name__}; pass a callable")
    return value


def check_rng(value: Any, name: str = "rng") -> np.random.Generator:
    """Check a NumPy random generator (a seed is not one: where it comes from is the caller's choice)."""
    if not isinstance(value, np.random.Generator):
        raise TypeError(
            f"{name}: expected a numpy.random.Generator, got {type(value).__name__}; "
            "pass numpy.random.default_rng(seed)"
        )
    return value


def check_numbers(value: Any, name: str) -> np.ndarray:
    """`value` (a number, or an array-like of numbers) as a float64 NumPy array; strings, None and booleans refused.

    For host-side parameters given one per run (step sizes, gains): NaN and inf are for the caller's range check.
    """
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError):  # a ragged sequence, or an array that refuses the host
        arr = np.asarray(None)
    if arr.dtype.kind not in "iuf":
        raise TypeError(f"{name}: expected a number or an array of numbers, got {value!r}; pass a float or floats")
    return arr.astype(np.float64)
