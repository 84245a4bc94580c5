"""Argument checks of the normalizations (each error names the argument and the fix)."""

from __future__ import annotations

from typing import Any

from bntheory._validation import check_float_array, check_same_backend, check_same_dtype

__all__ = ["affine_parameter", "normalized_shape_of", "resolve_eps"]


def normalized_shape_of(x: Any, normalized_shape: Any) -> tuple[int, ...]:
    """The trailing shape LayerNorm / RMSNorm normalize over, checked against `x`."""
    if isinstance(normalized_shape, int):
        shape = (normalized_shape,)
    elif isinstance(normalized_shape, tuple | list):
        shape = tuple(normalized_shape)
    else:
        raise TypeError(
            f"normalized_shape: expected an int or a tuple of ints, got {type(normalized_shape).__name__}; "
            "pass x.shape[-1] or a tuple of trailing dims"
        )
    if not shape or not all(isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in shape):
        raise ValueError(
            f"normalized_shape: expected positive ints (the trailing dims of x), got {normalized_shape!r}; "
            "pass x.shape[-1] or a tuple of trailing dims"
        )
    if tuple(x.shape[x.ndim - len(shape) :]) != shape or len(shape) > x.ndim:
        raise ValueError(
            f"normalized_shape: {shape} is not the trailing shape of x, whose shape is {tuple(x.shape)}; "
            "pass trailing dims of x"
        )
    return shape


def affine_parameter(p: Any, name: str, shape: tuple[int, ...], like: Any) -> Any:
    """`p` (a gain or shift of `shape`, dtype of `like`) or None."""
    if p is None:
        return None
    check_float_array(p, name, finite=True)
    check_same_backend(p, name, like)
    if tuple(p.shape) != shape:
        raise ValueError(f"{name}: expected shape {shape}, got {tuple(p.shape)}; give it shape {shape}")
    check_same_dtype(p, name, like)
    return p


def resolve_eps(eps: Any, x: Any, xp: Any) -> float:
    """`eps` as a float >= 0; None means the machine epsilon of `x`'s dtype (``torch.nn.functional.rms_norm``)."""
    from bntheory._validation import check_nonnegative

    return float(xp.finfo(x.dtype).eps) if eps is None else check_nonnegative(eps, "eps")
