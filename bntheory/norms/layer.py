r"""LayerNorm and RMSNorm: statistics over the trailing `normalized_shape` of each sample, elementwise affine.

LayerNorm (Ba, Kiros & Hinton 2016, arXiv:1607.06450, eq. 3; the form of ``torch.nn.functional.layer_norm``):
:math:`y=\gamma\odot(x-\mu\mathbf 1)/\sqrt{\sigma^2+\epsilon}+\beta`, with :math:`\mu,\sigma^2` over the
:math:`m=\prod` `normalized_shape` trailing entries. RMSNorm (Zhang & Sennrich 2019, arXiv:1910.07467; the form
of ``torch.nn.functional.rms_norm``, ε inside the mean): :math:`y=\gamma\odot x/\sqrt{\overline{x^2}+\epsilon}`,
no centring, gain only. THEORY-2.md §9.1 [P]; the backward passes are :func:`bntheory.norms.backward` (§9.2 [D]).
Large NumPy inputs go to compiled kernels of the same formulas where numba is installed (the ``fast`` extra;
:mod:`bntheory.norms._standardize_fused`, selected by :mod:`bntheory.norms._compiled`; ``BNTHEORY_NUMBA=0``
switches them off).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from bntheory._validation import check_float_array, check_nonnegative
from bntheory.norms import _compiled
from bntheory.norms._params import affine_parameter, normalized_shape_of, resolve_eps
from bntheory.norms.standardize import Cache, standardize

__all__ = ["layer_norm", "rms_norm"]

Array = Any


def layer_norm(
    x: Array,
    normalized_shape: int | tuple[int, ...],
    gamma: Array | None = None,
    beta: Array | None = None,
    *,
    eps: float = 1e-5,
) -> tuple[Array, Cache]:
    r"""Training LayerNorm over the trailing `normalized_shape` of `x` (Ba et al. 2016, eq. 3).

    .. math::

        \mu=\tfrac1m\sum_i x_i,\quad s=\sqrt{\tfrac1m\sum_i(x_i-\mu)^2+\epsilon},\quad
        y=\gamma\odot\frac{x-\mu\mathbf 1}{s}+\beta,

    per leading index, :math:`m=\prod` `normalized_shape`.

    Parameters
    ----------
    x : array, shape (..., \*normalized_shape)
    normalized_shape : int or tuple of int
        The trailing dims normalized together (a transformer's feature axis: ``x.shape[-1]``).
    gamma, beta : array of shape `normalized_shape`, optional
        Elementwise gain and shift (None: none), dtype of `x`.
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
        If `normalized_shape` is not the trailing shape of `x` or holds fewer than 2 values, a parameter has the
        wrong shape, `eps` is negative, or ``eps=0`` and a group is constant.
    TypeError
        On non-floating arrays or mismatched dtypes.
    """
    return _trailing_norm(x, normalized_shape, gamma, beta, eps, center=True)


def rms_norm(
    x: Array, normalized_shape: int | tuple[int, ...], gamma: Array | None = None, *, eps: float | None = None
) -> tuple[Array, Cache]:
    r"""RMSNorm over the trailing `normalized_shape` of `x` (Zhang & Sennrich 2019; ``F.rms_norm``'s form).

    .. math:: r=\sqrt{\tfrac1m\sum_i x_i^2+\epsilon},\qquad y=\gamma\odot x/r .

    Parameters
    ----------
    x : array, shape (..., \*normalized_shape)
    normalized_shape : int or tuple of int
    gamma : array of shape `normalized_shape`, optional
    eps : float or None, keyword-only
        :math:`\epsilon\ge0`; None (as in PyTorch) is the machine epsilon of the dtype of `x`.

    Returns
    -------
    y : array, shape of `x`
    cache : Cache
        For :func:`bntheory.norms.backward`.

    Raises
    ------
    ValueError, TypeError
        As :func:`layer_norm` (a group of zeros at ``eps=0``; one value per group is allowed).
    """
    return _trailing_norm(x, normalized_shape, gamma, None, eps, center=False)


def _trailing_norm(x, normalized_shape, gamma, beta, eps, *, center: bool) -> tuple[Array, Cache]:
    xp = check_float_array(x, "x")
    shape = normalized_shape_of(x, normalized_shape)
    if center and math.prod(shape) < 2:
        raise ValueError(
            f"normalized_shape: LayerNorm needs at least 2 values per group, got {shape} (its output would be beta); "
            "use rms_norm or normalize over more values"
        )
    gamma = affine_parameter(gamma, "gamma", shape, x)
    beta = affine_parameter(beta, "beta", shape, x)
    eps = resolve_eps(eps, x, xp) if not center else check_nonnegative(eps, "eps")
    axes = tuple(range(x.ndim - len(shape), x.ndim))
    fused = _compiled_kernels(x, gamma, beta)
    if fused is not None:
        y, x_hat, inv_std = fused.forward(x, gamma, beta, eps, center, math.prod(shape))
        if not bool(np.all(np.isfinite(inv_std) & (inv_std > 0))):
            # NaN or inf in x, or a constant (zero) group at eps = 0: the reference path decides, and raises.
            fused = None
        else:
            inv_std = inv_std.reshape(tuple(x.shape[: x.ndim - len(shape)]) + (1,) * len(shape))
    if fused is None:
        x_hat, inv_std = standardize(x, tuple(x.shape), axes, eps, center, xp=xp)
        y = x_hat if gamma is None else x_hat * gamma
        if beta is not None:
            y = y + beta
    cache = Cache(
        x_hat,
        inv_std,
        gamma,
        beta is not None,
        tuple(x.shape),
        tuple(x.shape),
        axes,
        tuple(range(x.ndim - len(shape))),
        shape,
        center,
    )
    return y, cache


def _compiled_kernels(x: Array, gamma: Array | None, beta: Array | None) -> Any:
    """The compiled LN/RMSNorm kernels (:mod:`bntheory.norms._compiled`) for large NumPy inputs, else None."""
    if type(x) is not np.ndarray or any(p is not None and type(p) is not np.ndarray for p in (gamma, beta)):
        return None
    return _compiled.kernels("_standardize_fused", x)
