r"""Jacobians of LayerNorm, RMSNorm, GroupNorm, InstanceNorm and WeightNorm: one projector per group.

For one normalization group of :math:`m` entries with :math:`s=\sqrt{\sigma^2+\epsilon}` and the ε-normalized
:math:`\hat x=(x-\mu\mathbf 1)/s`, differentiating :math:`\mu` and :math:`s`
(:math:`\partial s/\partial x_j=\hat x_j/m`) gives, exactly for every :math:`\epsilon\ge0` (THEORY-2.md §9.2 [D]),

.. math::

    \frac{\partial y}{\partial x}=\frac1s\,\mathrm{diag}(\gamma)\Big(I-\tfrac1m\mathbf 1\mathbf 1^\top
    -\tfrac1m\hat x\hat x^\top\Big)\quad(\text{centred}),\qquad
    \frac{\partial y}{\partial x}=\frac1r\,\mathrm{diag}(\gamma)\Big(I-\tfrac1m\hat x\hat x^\top\Big)
    \quad(\text{RMSNorm}).

The gain multiplies the *rows* (outputs). At :math:`\epsilon=0`, :math:`\|\hat x\|^2=m` and the bracket is the
orthogonal projector onto :math:`\{\mathbf 1,\hat x\}^\perp` (rank :math:`m-2`; RMSNorm: onto :math:`\hat x^\perp`,
rank :math:`m-1`): LayerNorm's is BN's projector (Santurkar et al. 2018, THEORY.md §2.3) taken per sample, GroupNorm's
per (sample, group). With :math:`\epsilon>0`, :math:`\|\hat x\|^2<m` and one more direction survives (rank
:math:`m-1`, RMSNorm :math:`m`). WeightNorm's :math:`w=g\,v/\|v\|` has
:math:`\partial w/\partial v=\frac g{\|v\|}(I-\hat v\hat v^\top)` per slice, rank :math:`k-1`.
"""

from __future__ import annotations

from typing import Any

from array_api_compat import array_namespace

from bntheory.norms.group import group_norm, instance_norm
from bntheory.norms.layer import layer_norm, rms_norm
from bntheory.norms.standardize import Cache
from bntheory.norms.weight import weight_norm

__all__ = [
    "group_norm_jacobian",
    "instance_norm_jacobian",
    "layer_norm_jacobian",
    "rms_norm_jacobian",
    "weight_norm_jacobian",
]

Array = Any


def layer_norm_jacobian(
    x: Array, normalized_shape: int | tuple[int, ...], gamma: Array | None = None, *, eps: float = 1e-5
) -> Array:
    r""":math:`\partial y/\partial x` of :func:`~bntheory.norms.layer_norm`, one (m, m) block per leading index.

    Parameters
    ----------
    x : array, shape (..., \*normalized_shape)
    normalized_shape, gamma, eps
        As :func:`~bntheory.norms.layer_norm` (the shift does not enter the Jacobian).

    Returns
    -------
    array, shape (..., m, m)
        :math:`m=\prod` `normalized_shape`, entries of a group in C order; row = output, column = input.

    Raises
    ------
    ValueError, TypeError
        As :func:`~bntheory.norms.layer_norm`.
    """
    return _blocks(layer_norm(x, normalized_shape, gamma, eps=eps)[1])


def rms_norm_jacobian(
    x: Array, normalized_shape: int | tuple[int, ...], gamma: Array | None = None, *, eps: float | None = None
) -> Array:
    r""":math:`\partial y/\partial x` of :func:`~bntheory.norms.rms_norm` (no centring term), shape (..., m, m).

    Raises
    ------
    ValueError, TypeError
        As :func:`~bntheory.norms.rms_norm`.
    """
    return _blocks(rms_norm(x, normalized_shape, gamma, eps=eps)[1])


def group_norm_jacobian(x: Array, groups: int, gamma: Array | None = None, *, eps: float = 1e-5) -> Array:
    r""":math:`\partial y/\partial x` of :func:`~bntheory.norms.group_norm`, one block per (sample, group).

    Returns
    -------
    array, shape (N, G, m, m)
        :math:`m=(C/G)\prod\text{spatial}`, a group's entries in C order (channel, then positions). Entries of
        different groups or samples do not interact: the full Jacobian is block diagonal.

    Raises
    ------
    ValueError, TypeError
        As :func:`~bntheory.norms.group_norm`.
    """
    return _blocks(group_norm(x, groups, gamma, eps=eps)[1])


def instance_norm_jacobian(x: Array, gamma: Array | None = None, *, eps: float = 1e-5) -> Array:
    r""":math:`\partial y/\partial x` of :func:`~bntheory.norms.instance_norm`, shape (N, C, m, m), m positions.

    Raises
    ------
    ValueError, TypeError
        As :func:`~bntheory.norms.instance_norm`.
    """
    return _blocks(instance_norm(x, gamma, eps=eps)[1])


def weight_norm_jacobian(v: Array, g: Array, *, dim: int = 0) -> Array:
    r""":math:`\partial w/\partial v=\frac{g}{\|v\|}(I-\hat v\hat v^\top)` of :func:`~bntheory.norms.weight_norm`.

    Returns
    -------
    array, shape (v.shape[dim], k, k)
        One block per slice along `dim` (its k entries, the other axes in C order).

    Raises
    ------
    ValueError, TypeError
        As :func:`~bntheory.norms.weight_norm`.
    """
    _, cache = weight_norm(v, g, dim=dim)
    xp = array_namespace(v)
    u = xp.reshape(xp.moveaxis(cache.direction, cache.dim, 0), (v.shape[cache.dim], -1))
    scale = xp.reshape(cache.g, (-1, 1, 1)) / xp.reshape(cache.norm, (-1, 1, 1))
    return scale * (_eye(xp, u) - u[:, :, None] * u[:, None, :])


def _blocks(cache: Cache) -> Array:
    """The per-group Jacobians from a forward cache (x_hat grouped; the gain per entry multiplies the rows)."""
    xp = array_namespace(cache.x_hat)
    batch = tuple(cache.grouped[: len(cache.grouped) - len(cache.axes)])
    x_hat = xp.reshape(cache.x_hat, (*batch, -1))
    m = x_hat.shape[-1]
    bracket = _eye(xp, x_hat) - x_hat[..., :, None] * x_hat[..., None, :] / m
    if cache.center:
        bracket = bracket - 1 / m
    J = xp.reshape(cache.inv_std, (*batch, 1, 1)) * bracket
    if cache.gamma is None:
        return J
    gain = xp.reshape(xp.broadcast_to(cache.gamma, cache.shape), (*batch, m))
    return gain[..., :, None] * J


def _eye(xp, like: Array) -> Array:
    """The identity of the last axis of `like`, in its dtype and on its device."""
    return xp.eye(like.shape[-1], dtype=like.dtype, device=getattr(like, "device", None))
