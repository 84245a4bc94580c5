r"""GroupNorm and InstanceNorm: statistics per sample over groups of channels, per-channel affine.

GroupNorm (Wu & He 2018, arXiv:1803.08494; the form of ``torch.nn.functional.group_norm``): for ``x`` of shape
``(N, C, *spatial)`` and :math:`G` groups of :math:`C/G` consecutive channels, each (sample, group) is
standardized over its :math:`m=(C/G)\prod\text{spatial}` entries, then :math:`y=\gamma_c\hat x+\beta_c` per channel.
:math:`G=1` is LayerNorm over :math:`(C,\text{spatial})`, :math:`G=C` is InstanceNorm (Ulyanov et al. 2016; the
form of ``torch.nn.functional.instance_norm`` with batch statistics). THEORY-2.md §9.1 [D for GN/IN as
implemented]; backward: :func:`bntheory.norms.backward` (§9.2 [D]).
"""

from __future__ import annotations

import math
from typing import Any

from bntheory._validation import check_float_array, check_nonnegative
from bntheory.norms._layout import channel_shape, reduction_axes
from bntheory.norms._params import affine_parameter
from bntheory.norms.standardize import Cache, standardize

__all__ = ["group_norm", "instance_norm"]

Array = Any


def group_norm(
    x: Array, groups: int, gamma: Array | None = None, beta: Array | None = None, *, eps: float = 1e-5
) -> tuple[Array, Cache]:
    r"""Training GroupNorm of `x` (``(N, C, *spatial)``) with `groups` groups of consecutive channels.

    .. math::

        \hat x_{n,g}=\frac{x_{n,g}-\mu_{n,g}\mathbf 1}{\sqrt{\sigma^2_{n,g}+\epsilon}},\qquad
        y_{n,c}=\gamma_c\,\hat x_{n,c}+\beta_c .

    Parameters
    ----------
    x : array, shape (N, C, \*spatial)
    groups : int
        :math:`G\ge1`, dividing :math:`C`.
    gamma, beta : array, shape (C,), optional
        Per-channel gain and shift (None: none), dtype of `x`.
    eps : float, keyword-only
        :math:`\epsilon\ge0`. With ``eps=0`` a constant group is an error.

    Returns
    -------
    y : array, shape of `x`
    cache : Cache
        For :func:`bntheory.norms.backward`.

    Raises
    ------
    ValueError
        If `x` has fewer than 2 dims, `groups` does not divide the channels, a group holds fewer than 2 values
        (InstanceNorm of a fully connected layer), a parameter has the wrong shape, `eps` is negative, or
        ``eps=0`` and a group is constant.
    TypeError
        On non-floating arrays, mismatched dtypes, or a non-integer `groups`.
    """
    xp = check_float_array(x, "x", min_ndim=2)
    channels = x.shape[1]
    if isinstance(groups, bool) or not isinstance(groups, int):
        raise TypeError(f"groups: expected an int, got {type(groups).__name__}; pass an int")
    if groups < 1 or channels % groups:
        raise ValueError(
            f"groups: must be >= 1 and divide the {channels} channels of x, got {groups}; "
            f"choose a divisor of {channels}"
        )
    per_group = channels // groups * math.prod(x.shape[2:])
    if per_group < 2:
        raise ValueError(
            f"x: each (sample, group) holds {per_group} value(s) (shape {tuple(x.shape)}, {groups} groups); "
            "normalization needs at least 2: use fewer groups or inputs with spatial dims"
        )
    gamma = affine_parameter(gamma, "gamma", (channels,), x)
    beta = affine_parameter(beta, "beta", (channels,), x)
    eps = check_nonnegative(eps, "eps")
    grouped = (x.shape[0], groups, channels // groups, *x.shape[2:])
    x_hat, inv_std = standardize(x, grouped, tuple(range(2, len(grouped))), eps, True, xp=xp)
    y = xp.reshape(x_hat, tuple(x.shape))
    broadcast = channel_shape(x.ndim, channels)
    g = None if gamma is None else xp.reshape(gamma, broadcast)
    if g is not None:
        y = y * g
    if beta is not None:
        y = y + xp.reshape(beta, broadcast)
    cache = Cache(
        x_hat,
        inv_std,
        g,
        beta is not None,
        tuple(x.shape),
        grouped,
        tuple(range(2, len(grouped))),
        reduction_axes(x.ndim),
        (channels,),
        True,
    )
    return y, cache


def instance_norm(
    x: Array, gamma: Array | None = None, beta: Array | None = None, *, eps: float = 1e-5
) -> tuple[Array, Cache]:
    r"""Training InstanceNorm: each channel of each sample standardized over its spatial positions.

    GroupNorm with one channel per group (:func:`group_norm` with ``groups = C``); parameters, returns and
    errors as there (`x` needs spatial dims holding at least 2 values).
    """
    check_float_array(x, "x", min_ndim=2)
    return group_norm(x, x.shape[1], gamma, beta, eps=eps)
