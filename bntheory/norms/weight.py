r"""Weight normalization: a weight reparametrized by its direction and its length, :math:`w=g\,v/\|v\|`.

Salimans & Kingma 2016 (arXiv:1602.07868); Ba et al. 2016 §5.1 treat it as normalization with :math:`\mu=0`,
:math:`\sigma=\|w\|` (THEORY-2.md §9.1 [P]). The norm is taken per slice along `dim` (``dim=0``: per output row,
the default of ``torch.nn.utils.parametrizations.weight_norm``). The gradients (THEORY-2.md §9.2 [D]):

.. math::

    \nabla_v L=\frac{g}{\|v\|}\Big(I-\frac{ww^\top}{\|w\|^2}\Big)\nabla_w L,\qquad
    \partial_g L=\frac{v^\top\nabla_w L}{\|v\|},\qquad \langle\nabla_v L,v\rangle=0 .
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from bntheory._validation import NonFiniteError, check_float_array, check_same_backend, check_same_dtype

__all__ = ["WeightCache", "weight_norm", "weight_norm_backward"]

Array = Any


class WeightCache(NamedTuple):
    """What :func:`weight_norm_backward` needs: the direction, the norms, the gains and the layout."""

    direction: Array  # v / ||v|| per slice
    norm: Array  # ||v|| per slice, broadcastable against v
    g: Array  # the gains, broadcastable against v
    dim: int
    axes: tuple[int, ...]


def weight_norm(v: Array, g: Array, *, dim: int = 0) -> tuple[Array, WeightCache]:
    r""":math:`w = g\,v/\|v\|` with the norm over every axis but `dim` (one gain per slice along `dim`).

    Parameters
    ----------
    v : array, at least 1-D
        The direction parameter.
    g : array, shape (v.shape[dim],)
        The lengths, dtype of `v`.
    dim : int, keyword-only
        The axis whose slices have their own norm and gain (0: per output row).

    Returns
    -------
    w : array, shape of `v`
    cache : WeightCache
        For :func:`weight_norm_backward`.

    Raises
    ------
    ValueError
        If `dim` is out of range, `g` has the wrong shape, a slice of `v` is zero (its direction is 0/0), or an
        entry of `v` or `g` is NaN or inf. Norms that would overflow or underflow (entries near 1e154 or 1e-154
        in float64) are taken after scaling each slice by its largest entry.
    TypeError
        On non-floating arrays, mismatched dtypes or backends.
    """
    xp = check_float_array(v, "v")
    if isinstance(dim, bool) or not isinstance(dim, int) or not -v.ndim <= dim < v.ndim:
        raise ValueError(f"dim: expected an axis of v (shape {tuple(v.shape)}), got {dim!r}; pass an int in range")
    dim %= v.ndim
    check_float_array(g, "g", finite=True)
    check_same_backend(g, "g", v)
    if tuple(g.shape) != (v.shape[dim],):
        raise ValueError(
            f"g: expected shape ({v.shape[dim]},) (one gain per slice along dim {dim}), got {tuple(g.shape)}; "
            f"give it {v.shape[dim]} entries"
        )
    check_same_dtype(g, "g", v)
    axes = tuple(a for a in range(v.ndim) if a != dim)
    if v.size == 0:
        raise ValueError(f"v: has empty slices (shape {tuple(v.shape)}), whose direction is 0/0; pass a non-empty v")
    with np.errstate(all="ignore"):
        norm = xp.sqrt(xp.sum(v * v, axis=axes, keepdims=True)) if axes else xp.abs(v)
        if not bool(xp.all(xp.isfinite(norm) & (norm > 0))):
            norm = _scaled_norm(v, axes, xp=xp)
    if bool(xp.any(norm == 0)):
        raise ValueError("v: a slice is zero, so its direction v/||v|| is 0/0; replace it by a non-zero slice")
    shape = tuple(v.shape[dim] if a == dim else 1 for a in range(v.ndim))
    gains = xp.reshape(g, shape)
    direction = v / norm
    return gains * direction, WeightCache(direction, norm, gains, dim, axes)


def weight_norm_backward(dw: Array, cache: WeightCache) -> tuple[Array, Array]:
    r"""``(dv, dg)`` from :math:`\nabla_w L` by the formulas of the module docstring.

    Raises
    ------
    TypeError
        If `cache` is not a :class:`WeightCache` or `dw` has another dtype than `v`.
    ValueError
        If `dw` does not have the shape of `v`.
    """
    if not isinstance(cache, WeightCache):
        raise TypeError(
            f"cache: expected the WeightCache returned by weight_norm(), got {type(cache).__name__}; pass that cache"
        )
    xp = check_float_array(dw, "dw")
    check_same_backend(dw, "dw", cache.direction)
    if tuple(dw.shape) != tuple(cache.direction.shape):
        raise ValueError(
            f"dw: expected the shape of v {tuple(cache.direction.shape)}, got {tuple(dw.shape)}; pass the gradient of w"
        )
    check_same_dtype(dw, "dw", cache.direction)
    u = cache.direction
    with np.errstate(all="ignore"):
        along = xp.sum(dw * u, axis=cache.axes, keepdims=True) if cache.axes else dw * u
    # NaN or inf in dw reaches the per-slice sums: they are checked, not dw.
    if not bool(xp.all(xp.isfinite(along))):
        raise NonFiniteError("dw: contains NaN or inf, or its products with v/||v|| overflow; replace or rescale it")
    dv = cache.g / cache.norm * (dw - u * along)
    return dv, xp.reshape(along, (-1,))


def _scaled_norm(v: Array, axes: tuple[int, ...], *, xp: Any) -> Array:
    """Per-slice Euclidean norm with each slice divided by its largest entry first: no overflow or underflow.

    Raises :class:`NonFiniteError` for NaN or inf in `v` (then no scaling helps).
    """
    if not bool(xp.all(xp.isfinite(v))):
        raise NonFiniteError("v: contains NaN or inf; replace the non-finite entries")
    if not axes:
        return xp.abs(v)
    scale = xp.max(xp.abs(v), axis=axes, keepdims=True)
    safe = xp.where(scale > 0, scale, xp.ones_like(scale))
    z = v / safe
    return safe * xp.sqrt(xp.sum(z * z, axis=axes, keepdims=True)) * xp.where(scale > 0, 1.0, 0.0)
