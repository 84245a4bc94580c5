r"""Standardizing over a group of axes: the forward and closed-form backward shared by LN, GN, IN and RMSNorm.

Every normalization of THEORY-2.md §9.1 except WeightNorm takes statistics over a *group* of entries (a sample's
features, a group of channels, one channel of one sample) and applies

.. math::

    \mu=\tfrac1m\sum_{i\in\text{group}}x_i,\quad s=\sqrt{\tfrac1m\sum(x_i-\mu)^2+\epsilon},\quad
    \hat x=(x-\mu\mathbf 1)/s\qquad(\text{RMSNorm: no centring, } r=\sqrt{\tfrac1m\sum x_i^2+\epsilon},\ \hat x=x/r),

then an affine map :math:`y=\gamma\odot\hat x+\beta` whose parameters may be shaped differently from the group.
With upstream :math:`\delta=\partial\ell/\partial y` and :math:`g=\gamma\odot\delta` (γ broadcast to every entry),
the backward pass of THEORY-2.md §9.2 [D] is

.. math::

    \nabla_x\ell=\frac1s\big(g-\overline g\,\mathbf 1-\hat x\,\overline{g\odot\hat x}\big)\quad(\text{centred}),
    \qquad
    \nabla_x\ell=\frac1r\big(g-\hat x\,\overline{g\odot\hat x}\big)\quad(\text{RMSNorm}),

with bars the means over the group, exact for every :math:`\epsilon\ge0` (the ε-normalized :math:`\hat x`).
For elementwise γ the gain sits *inside* the projector (THEORY-2.md §9.2, trap (i)).
"""

from __future__ import annotations

import math
from types import ModuleType
from typing import Any, NamedTuple

import numpy as np

from bntheory._validation import (
    check_bool,
    check_eps,
    check_float_array,
    check_same_backend,
    check_same_dtype,
    check_statistics,
)
from bntheory.norms import _compiled

__all__ = ["Cache", "backward", "standardize", "sum_over"]

Array = Any


class Cache(NamedTuple):
    """What :func:`backward` needs from a forward pass of LN, GN, IN or RMSNorm.

    Attributes
    ----------
    x_hat : array
        The normalized input, in the *grouped* shape (see `grouped`).
    inv_std : array
        :math:`1/s` (or :math:`1/r`) per group, broadcastable against `x_hat`.
    gamma : array or None
        The gain, broadcastable against the input's shape (None: no affine).
    has_beta : bool
        Whether the forward pass had a shift (its gradient is returned, or None).
    shape : tuple of int
        The input's shape.
    grouped : tuple of int
        The shape in which the group axes are `axes` (GroupNorm splits the channel axis).
    axes : tuple of int
        The group's axes in the grouped shape.
    affine_axes : tuple of int
        Axes of the input that the affine parameters do *not* span (summed for their gradients).
    affine_shape : tuple of int
        The shape of `gamma` and `beta` as the user passed them.
    center : bool
        False for RMSNorm.
    """

    x_hat: Array
    inv_std: Array
    gamma: Array | None
    has_beta: bool
    shape: tuple[int, ...]
    grouped: tuple[int, ...]
    axes: tuple[int, ...]
    affine_axes: tuple[int, ...]
    affine_shape: tuple[int, ...]
    center: bool


def standardize(x: Array, grouped: tuple[int, ...], axes: tuple[int, ...], eps: Any, center: bool, *, xp) -> tuple:
    r"""``(x_hat, inv_std)`` of `x` viewed in the `grouped` shape, statistics over `axes` (two-pass variance).

    `eps` is a float, or an array of values ``>= 0`` broadcastable against the statistics (the `grouped` shape with
    `axes` kept as length 1): one :math:`\epsilon` per group, as a batch of independent instances has them.

    Raises
    ------
    ValueError
        With ``eps=0``, when a group is constant (centred) or zero (RMSNorm): its :math:`\hat x` is 0/0; on NaN or
        inf in `x` or statistics that overflow (found from the per-group statistics, not by reading `x` again).
    TypeError
        If `x` is not a floating array of the namespace `xp`.
    """
    if not isinstance(xp, ModuleType) or not hasattr(xp, "mean"):
        raise TypeError(f"xp: expected an array namespace, got {type(xp).__name__}; pass array_namespace(x)")
    check_float_array(x, "x")
    if xp is not _namespace(x):
        raise TypeError(f"x: not an array of the namespace xp ({xp.__name__}); pass array_namespace(x) as xp")
    grouped = _check_axes_of(tuple(grouped), "grouped", x)
    axes = _check_axes(axes, "axes", len(grouped))
    eps = check_eps(eps, "group")
    center = check_bool(center, "center")
    with np.errstate(all="ignore"):  # NaN, inf and overflow show in the statistics, checked below
        z = xp.reshape(x, grouped)
        if center:
            z = z - xp.mean(z, axis=axes, keepdims=True)
        power = xp.mean(z * z, axis=axes, keepdims=True)
        check_statistics(x, "x", (power,), xp=xp)
        if bool(xp.any((power == 0) & (eps == 0))):
            what = "constant" if center else "zero"
            raise ValueError(f"x: a normalization group is {what}, so with eps=0 its x_hat is 0/0; use eps > 0")
        inv_std = 1 / xp.sqrt(power + eps)
        return z * inv_std, inv_std


def _namespace(x: Any) -> ModuleType:
    from array_api_compat import array_namespace

    return array_namespace(x)


def _check_axes_of(grouped: tuple, name: str, x: Any) -> tuple[int, ...]:
    if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in grouped):
        raise TypeError(f"{name}: expected a tuple of non-negative ints, got {grouped!r}; pass a shape")
    if math.prod(grouped) != math.prod(x.shape):
        raise ValueError(f"{name}: {grouped} does not hold the {math.prod(x.shape)} entries of x; pass a reshape of x")
    return grouped


def _check_axes(axes: Any, name: str, ndim: int) -> tuple[int, ...]:
    if isinstance(axes, str) or not isinstance(axes, tuple | list):
        raise TypeError(f"{name}: expected a tuple of axes, got {type(axes).__name__}; pass a tuple of ints")
    if not all(isinstance(a, int) and not isinstance(a, bool) and -ndim <= a < ndim for a in axes):
        raise ValueError(f"{name}: expected axes in [-{ndim}, {ndim}), got {tuple(axes)}; pass axes of the array")
    return tuple(axes)


def backward(dy: Array, cache: Cache) -> tuple[Array, Array | None, Array | None]:
    r"""``(dx, dgamma, dbeta)`` through LN, GN, IN or RMSNorm, by the closed forms of the module docstring.

    Parameters
    ----------
    dy : array, shape of the forward input
        Upstream gradient :math:`\delta=\partial\ell/\partial y`.
    cache : Cache
        From :func:`~bntheory.norms.layer_norm`, :func:`~bntheory.norms.group_norm`,
        :func:`~bntheory.norms.instance_norm` or :func:`~bntheory.norms.rms_norm`.

    Returns
    -------
    dx : array, shape of `dy`
    dgamma, dbeta : array of the affine parameters' shape, or None where the forward pass had none.

    Raises
    ------
    TypeError
        If `cache` is not a :class:`Cache`, or `dy` is not a floating array of the input's dtype.
    ValueError
        If `dy` does not have the input's shape.
    """
    if not isinstance(cache, Cache):
        raise TypeError(
            f"cache: expected the Cache returned by a norms forward function, got {type(cache).__name__}; "
            "pass the cache of layer_norm, rms_norm, group_norm or instance_norm"
        )
    xp = check_float_array(dy, "dy")
    check_same_backend(dy, "dy", cache.x_hat)
    if tuple(dy.shape) != cache.shape:
        raise ValueError(
            f"dy: expected the forward input's shape {cache.shape}, got {tuple(dy.shape)}; pass the output's gradient"
        )
    check_same_dtype(dy, "dy", cache.x_hat)
    fused = _compiled_kernels(dy, cache)
    if fused is not None:
        m = math.prod(cache.affine_shape)
        dx, dgamma, dbeta = fused.backward(dy, cache.x_hat, cache.inv_std, cache.gamma, cache.center, m)
        # NaN or inf in dy reaches the column sums; then the reference path runs and raises its error.
        if bool(np.isfinite(dgamma).all() and np.isfinite(dbeta).all()):
            dgamma = None if cache.gamma is None else dgamma.astype(dy.dtype).reshape(cache.affine_shape)
            return dx, dgamma, dbeta.astype(dy.dtype).reshape(cache.affine_shape) if cache.has_beta else None
    with np.errstate(all="ignore"):  # NaN, inf and overflow in dy show in the per-group means, checked below
        g = dy if cache.gamma is None else dy * cache.gamma
        g = xp.reshape(g, cache.grouped)
        x_hat = cache.x_hat
        along = xp.mean(g * x_hat, axis=cache.axes, keepdims=True)
        shift = xp.mean(g, axis=cache.axes, keepdims=True)
        check_statistics(dy, "dy", (along, shift), xp=xp)
        return _backward(dy, cache, g, x_hat, along, shift, xp=xp)


def _backward(dy, cache: Cache, g, x_hat, along, shift, *, xp):
    projected = g - x_hat * along
    if cache.center:
        projected = projected - shift
    dx = xp.reshape(projected * cache.inv_std, cache.shape)
    x_hat = xp.reshape(x_hat, cache.shape)
    dgamma = None
    if cache.gamma is not None:
        dgamma = xp.reshape(sum_over(dy * x_hat, cache.affine_axes, xp=xp), cache.affine_shape)
    dbeta = xp.reshape(sum_over(dy, cache.affine_axes, xp=xp), cache.affine_shape) if cache.has_beta else None
    return dx, dgamma, dbeta


def _compiled_kernels(dy: Array, cache: Cache) -> Any:
    """The compiled LN/RMSNorm kernels for large NumPy arrays normalized over trailing axes, else None."""
    lead = len(cache.shape) - len(cache.axes)
    if not (
        type(dy) is np.ndarray
        and type(cache.x_hat) is np.ndarray
        and (cache.gamma is None or type(cache.gamma) is np.ndarray)
        and cache.grouped == cache.shape
        and cache.axes == tuple(range(lead, len(cache.shape)))
        and cache.affine_axes == tuple(range(lead))
    ):
        return None
    return _compiled.kernels("_standardize_fused", dy)


def sum_over(a: Array, axes: tuple[int, ...], *, xp) -> Array:
    """`a` summed over `axes`; `a` itself for no axes (PyTorch would read ``axis=()`` as every axis)."""
    if not isinstance(xp, ModuleType) or not hasattr(xp, "sum"):
        raise TypeError(f"xp: expected an array namespace, got {type(xp).__name__}; pass array_namespace(a)")
    check_float_array(a, "a", min_ndim=0, finite=True)
    if xp is not _namespace(a):
        raise TypeError(f"a: not an array of the namespace xp ({xp.__name__}); pass array_namespace(a) as xp")
    axes = _check_axes(axes, "axes", a.ndim)
    return xp.sum(a, axis=axes) if axes else a
