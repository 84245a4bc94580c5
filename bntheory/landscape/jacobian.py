r"""The Jacobian of training-mode BN with respect to its input batch, channel by channel.

For one channel with batch :math:`x\in\mathbb R^m`, :math:`s=\sqrt{\sigma^2_{\mathcal B}+\epsilon}` and the
normalized batch :math:`\hat x=(x-\mu_{\mathcal B}\mathbf 1)/s`,

.. math::

    \frac{\partial y}{\partial x}=\frac{\gamma}{s}\Big(I-\frac1m\mathbf 1\mathbf 1^\top-\frac1m\hat x\hat x^\top\Big).

With :math:`\epsilon=0` the bracket is the orthogonal projector onto :math:`\{\mathbf 1,\hat x\}^\perp`
(rank :math:`m-2`); with :math:`\epsilon>0`, :math:`\|\hat x\|^2=m\sigma^2/s^2<m` and :math:`\hat x` becomes an
eigenvector with the small eigenvalue :math:`\gamma\epsilon/s^3`.

References
----------
Santurkar, Tsipras, Ilyas & Madry 2018, "How does batch normalization help optimization?", NeurIPS,
arXiv:1805.11604, Fact C.1 (entrywise form); THEORY.md §2.3 (matrix form, [D]).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from array_api_compat import device

from bntheory._validation import (
    check_float_array,
    check_nonnegative,
    check_real,
    check_same_dtype,
    check_statistics,
    check_vector,
)

__all__ = ["bn_jacobian", "bn_jacobian_eigenvalues", "jacobian_deviation"]

Array = Any


def bn_jacobian(x: Array, gamma: Array, *, eps: float = 0.0) -> Array:
    r"""Per-channel Jacobian :math:`\partial y/\partial x` of Algorithm 1 for a batch in rows.

    .. math:: J_c=\frac{\gamma_c}{s_c}\Big(I-\frac1m\mathbf 1\mathbf 1^\top-\frac1m\hat x_c\hat x_c^\top\Big)

    Parameters
    ----------
    x : array, shape (m, C)
        The batch, one sample per row, one channel per column; ``m >= 2``.
    gamma : array, shape (C,)
        Scale parameters (the shift :math:`\beta` does not enter the Jacobian).
    eps : float
        The :math:`\epsilon` of Algorithm 1, ``>= 0``.

    Returns
    -------
    array, shape (C, m, m)
        ``J[c, i, j]`` is :math:`\partial y_{ic}/\partial x_{jc}`; channels do not interact, so the full
        Jacobian is block-diagonal with these blocks.
    """
    xp, m, _, centered, s, eps = _batch_statistics(x, gamma, eps)
    x_hat = xp.permute_dims(centered / s, (1, 0))  # (C, m)
    eye = xp.eye(m, dtype=x.dtype, device=device(x))
    projector = eye - 1.0 / m - x_hat[:, :, None] * x_hat[:, None, :] / m
    return (gamma / s)[:, None, None] * projector


def bn_jacobian_eigenvalues(x: Array, gamma: Array, *, eps: float = 0.0) -> Array:
    r"""Eigenvalues of the per-channel BN Jacobian :func:`bn_jacobian`, in closed form, eigenvector by eigenvector.

    :math:`J_c` is symmetric, with eigenvectors :math:`\mathbf 1`, :math:`\hat x_c` and any basis of
    :math:`\{\mathbf 1,\hat x_c\}^\perp`: since :math:`\mathbf 1^\top\hat x_c=0` and
    :math:`\|\hat x_c\|^2=m\sigma_c^2/s_c^2`,

    .. math::

        J_c\mathbf 1=0,\qquad J_c\hat x_c=\frac{\gamma_c\epsilon}{s_c^3}\hat x_c,\qquad
        J_cu=\frac{\gamma_c}{s_c}u\ \ (u\perp\mathbf 1,\hat x_c),

    so :math:`\operatorname{spec}J_c=\{0,\ \gamma_c\epsilon/s_c^3,\ (\gamma_c/s_c)^{(m-2)}\}`; at :math:`\epsilon=0`,
    :math:`(\sigma_c/\gamma_c)J_c` is the orthogonal projector onto :math:`\{\mathbf 1,\hat x_c\}^\perp`
    (Santurkar et al. 2018, §4 and Fact C.1; THEORY.md §2.3, [D]).

    Parameters
    ----------
    x : array, shape (m, C)
        The batch, one sample per row; ``m >= 2``.
    gamma : array, shape (C,)
        Scale parameters.
    eps : float
        The :math:`\epsilon` of Algorithm 1, ``>= 0``.

    Returns
    -------
    array, shape (C, m)
        Row :math:`c` is :math:`(0,\ \gamma_c\epsilon/s_c^3,\ \gamma_c/s_c,\dots,\gamma_c/s_c)`: the eigenvalues for
        :math:`\mathbf 1`, for :math:`\hat x_c`, and for the :math:`m-2` directions orthogonal to both (unsorted).
    """
    xp, m, channels, _, s, eps = _batch_statistics(x, gamma, eps)
    ones = xp.ones((channels, m), dtype=x.dtype, device=device(x))
    first = xp.concat(
        [xp.zeros((channels, 1), dtype=x.dtype, device=device(x)), ones[:, :1] * eps / s[:, None] ** 2], axis=1
    )
    return (gamma / s)[:, None] * xp.concat([first, ones[:, 2:]], axis=1)


def jacobian_deviation(sigma: float, gamma: float, eps: float) -> tuple[float, float]:
    r"""Spectral norm of :math:`J_\epsilon-J_0` for one channel, exactly, and its simple bound.

    :math:`J_\epsilon` and :math:`J_0` share the eigenvectors :math:`\mathbf 1`, :math:`\hat x` and
    :math:`\{\mathbf 1,\hat x\}^\perp`, on which the difference has eigenvalues :math:`0`,
    :math:`\gamma\epsilon/s^3` and :math:`\gamma(1/s-1/\sigma)`; since :math:`s-\sigma=\epsilon/(s+\sigma)`,

    .. math::

        \|J_\epsilon-J_0\|_2=|\gamma|\,\max\Big(\frac{\epsilon}{s^3},\ \frac{\epsilon}{\sigma s(\sigma+s)}\Big)
        \le\frac{|\gamma|\,\epsilon}{\sigma^3}.

    Parameters
    ----------
    sigma : float
        Biased batch standard deviation, ``> 0`` (:math:`J_0` does not exist at :math:`\sigma=0`).
    gamma, eps : float
        Scale and :math:`\epsilon\ge 0`.

    Returns
    -------
    (float, float)
        The exact norm and the bound :math:`|\gamma|\epsilon/\sigma^3`.
    """
    if isinstance(sigma, int | float | np.integer | np.floating) and not isinstance(sigma, bool) and sigma == 0:
        raise ValueError(
            f"sigma: the eps = 0 Jacobian needs a batch with non-zero variance, got sigma = {sigma}; pass sigma > 0"
        )
    sigma = check_real(sigma, "sigma", low=0.0, open_low=True)
    gamma = check_real(gamma, "gamma")
    eps = check_nonnegative(eps, "eps")
    if eps == 0 or gamma == 0:
        return 0.0, 0.0  # J_eps = J_0, or both vanish
    s = (sigma * sigma + eps) ** 0.5
    # Products, not powers: a float power that overflows raises, a product rounds to inf; a denominator that
    # underflows to 0 (sigma near the smallest double) makes the quotient inf, its rounded value.
    exact = abs(gamma) * max(_quotient(eps, s * s * s), _quotient(eps, sigma * s * (sigma + s)))
    return exact, abs(gamma) * _quotient(eps, sigma * sigma * sigma)


def _quotient(num: float, den: float) -> float:
    """``num / den`` for ``num > 0``, ``den >= 0``, with a denominator that underflowed to 0 giving inf."""
    return num / den if den > 0 else math.inf


def _batch_statistics(x: Array, gamma: Array, eps: float):
    """Validate (x, gamma, eps) and return (xp, m, C, x - mean, s = sqrt(var + eps), eps) per channel."""
    xp = check_float_array(x, "x", min_ndim=2)
    if x.ndim != 2:
        raise ValueError(f"x: expected shape (m, C) with samples in rows, got shape {tuple(x.shape)}; reshape it")
    m, channels = x.shape
    if m < 2:
        raise ValueError(
            f"x: the Jacobian of training-mode BN needs at least 2 samples per channel, got {m}; use a larger batch"
        )
    if channels == 0:
        raise ValueError("x: has no channels (shape (m, 0)); pass at least one column")
    check_vector(gamma, "gamma", channels, x)
    check_same_dtype(gamma, "gamma", x)
    eps = check_nonnegative(eps, "eps")
    with np.errstate(all="ignore"):  # NaN, inf and overflow show in s, checked below
        centered = x - xp.mean(x, axis=0, keepdims=True)
        s = xp.sqrt(xp.mean(centered * centered, axis=0) + eps)
    check_statistics(x, "x", (s,), xp=xp)
    if not bool(xp.all(s > 0)):
        raise ValueError("x: a channel is constant over the batch, so with eps=0 its Jacobian is 0/0; use eps > 0")
    return xp, m, channels, centered, s, eps
