r"""Santurkar et al.'s bounds on the gradient and curvature of a loss behind a BN layer.

Setting (Santurkar et al. 2018, §4; THEORY.md §2.3): unit :math:`j` of a linear layer has pre-BN
activations :math:`y\in\mathbb R^m` over a batch of :math:`m`; BN gives :math:`z=\gamma\hat y+\beta\mathbf 1`
with :math:`\hat y=(y-\mu\mathbf 1)/s`, :math:`s=\sqrt{\sigma^2+\epsilon}` (biased :math:`\sigma`). The loss
:math:`\hat{\mathcal L}` of the BN network depends on :math:`y` through :math:`z`;
:math:`g=\partial\hat{\mathcal L}/\partial z` and
:math:`H=\partial^2\hat{\mathcal L}/\partial z^2` are the gradient and Hessian at the BN output (the
quantities the paper writes :math:`\nabla_{y_j}\mathcal L` and :math:`H_{jj}`: "same downstream function, same
point"). The functions below give the *right-hand sides* of the paper's statements; the left-hand sides
are whatever autograd or finite differences say they are, which is how :mod:`bntheory.results.santurkar2018_bounds`
checks them.

Every function takes the batch along the first axis, as the transforms do: ``(m,)`` for one unit, ``(m, C)`` for C
units at once (trailing axes broadcast, a ``(C,)`` gamma included); the Hessian over one unit's batch entries is
``(m, m)``, ``(m, m, C)`` for C units.

References
----------
Santurkar, Tsipras, Ilyas & Madry, "How does batch normalization help optimization?", NeurIPS 2018,
arXiv:1805.11604: Theorem 4.1, Theorem 4.2, Theorem 4.4, Lemma 4.5.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from array_api_compat import array_namespace, is_array_api_obj

from bntheory._validation import (
    check_float_array,
    check_nonnegative,
    check_real,
    check_same_dtype,
    check_statistics,
)

__all__ = ["gradient_norm_bound", "hessian_form_bound", "rescaling_distance_bound", "weight_gradient_bound"]

Array = Any


def _normalized(y: Array, eps: float) -> tuple[Array, Array]:
    xp = check_float_array(y, "y")
    if y.shape[0] < 2:
        raise ValueError(
            f"y: BN needs a batch of at least 2 along the first axis, got shape {tuple(y.shape)}; use a larger batch"
        )
    if 0 in tuple(y.shape):
        raise ValueError(f"y: is empty (shape {tuple(y.shape)}); pass at least one unit")
    with np.errstate(all="ignore"):  # NaN, inf and overflow show in s, checked below
        centered = y - xp.mean(y, axis=0, keepdims=True)
        s = xp.sqrt(xp.mean(centered * centered, axis=0) + eps)
    check_statistics(y, "y", (s,), (0,), xp=xp)
    if not bool(xp.all(s > 0)):
        raise ValueError("y: a unit is constant over the batch, so with eps=0 its y_hat is 0/0; use eps > 0")
    return centered / s, s


def _like_y(a: Array, name: str, y: Array, shape: tuple[int, ...] | None = None) -> None:
    """Check an array argument that lives with `y`: floating, finite, the backend, dtype and shape it must have."""
    check_float_array(a, name, finite=True)
    check_same_dtype(a, name, y)
    expected = tuple(y.shape) if shape is None else shape
    if tuple(a.shape) != expected:
        raise ValueError(f"{name}: expected shape {expected} (that of y), got {tuple(a.shape)}; pass matching arrays")


def _scale_parameter(value: Any, name: str, y: Array, *, low: float | None = None) -> Any:
    """A per-unit parameter (gamma, lam): a finite real number, or a finite array of one value per unit."""
    if isinstance(value, np.generic) or not is_array_api_obj(value):
        return check_real(value, name, low=low)
    check_float_array(value, name, min_ndim=0, finite=True)
    check_same_dtype(value, name, y)
    if tuple(value.shape) not in ((), (1,), tuple(y.shape[1:])):
        raise ValueError(
            f"{name}: expected a number or shape {tuple(y.shape[1:])} (one per unit), got {tuple(value.shape)}; "
            "pass one value per unit"
        )
    if low is not None and not bool(array_namespace(value).all(value >= low)):
        raise ValueError(f"{name}: expected values >= {low:g}; pass non-negative values")
    return value


def _dot(a: Array, b: Array) -> Array:
    return array_namespace(a, b).sum(a * b, axis=0)


def gradient_norm_bound(g: Array, y: Array, gamma: Any, *, eps: float = 0.0) -> Array:
    r"""Right side of Theorem 4.1 (Lipschitzness of the loss), Santurkar et al. 2018.

    .. math::

        \|\nabla_{y}\hat{\mathcal L}\|^2\le\frac{\gamma^2}{s^2}\Big(\|g\|^2-\frac1m\langle\mathbf 1,g\rangle^2
            -\frac1m\langle g,\hat y\rangle^2\Big)

    An equality when :math:`\epsilon=0` (Pythagoras for the projector of
    :func:`bntheory.landscape.jacobian.bn_jacobian`);
    for :math:`\epsilon>0` the :math:`\epsilon`-normalized :math:`\hat y` is used throughout (THEORY.md §8) and
    the inequality is strict unless :math:`\langle g,\hat y\rangle=0`. The coefficient of the last term is
    :math:`1/m`; a :math:`1/\sqrt m` rendering that circulates is false for :math:`m>2`.

    Parameters
    ----------
    g : array, shape (m, ...)
        Gradient of the loss at the BN output.
    y : array, shape (m, ...)
        Pre-BN activations of the unit over the batch.
    gamma : float or array broadcastable to (...)
        BN scale (one per unit).
    eps : float
        The :math:`\epsilon` of BN, ``>= 0``.
    """
    eps = check_nonnegative(eps, "eps")
    y_hat, s = _normalized(y, eps)
    _like_y(g, "g", y)
    gamma = _scale_parameter(gamma, "gamma", y)
    m = y.shape[0]
    total = array_namespace(g).sum(g, axis=0)
    return gamma**2 / s**2 * (_dot(g, g) - total**2 / m - _dot(g, y_hat) ** 2 / m)


def hessian_form_bound(v: Array, hessian: Array, g: Array, y: Array, gamma: Any, *, eps: float = 0.0) -> Array:
    r"""Right side of Theorem 4.2 (effect on smoothness), Santurkar et al. 2018.

    .. math::

        v^\top\frac{\partial^2\hat{\mathcal L}}{\partial y\,\partial y}v\le
        \frac{\gamma^2}{s^2}v^\top H v-\frac{\gamma}{ms^2}\langle g,\hat y\rangle\|v\|^2,
        \qquad v=\nabla_y\hat{\mathcal L},

    with :math:`s=\sqrt{\sigma^2+\epsilon}` and the :math:`\epsilon`-normalized :math:`\hat y` (:math:`s=\sigma` at the
    paper's :math:`\epsilon=0`). For every :math:`\epsilon\ge0` this is an *identity* for every direction
    :math:`v\perp\{\mathbf 1,\hat y\}`: along :math:`y+tv` the mean is constant and
    :math:`s(t)^2=s^2+t^2\|v\|^2/m`, so :math:`\dot{\hat y}=v/s` and :math:`\ddot{\hat y}=-\hat y\|v\|^2/(ms^2)`
    (THEORY.md §2.5, THEORY-2.md §12.6, [D]). At :math:`\epsilon=0` the gradient :math:`v=\nabla_y\hat{\mathcal L}`
    is such a direction, which is the theorem with equality. At :math:`\epsilon>0` it is not
    (:math:`\hat y^\top\nabla_y\hat{\mathcal L}=\gamma\epsilon\langle g,\hat y\rangle/s^3`), and the statement
    along the gradient is then neither an identity nor a bound. The paper's second, conditional form is
    informal and is not provided.

    Parameters
    ----------
    v : array, shape (m, ...)
        Direction; the theorem takes the gradient :math:`\nabla_y\hat{\mathcal L}`.
    hessian : array, shape (m, m, ...)
        Hessian of the loss at the BN output.
    g : array, shape (m, ...)
        Gradient of the loss at the BN output.
    y : array, shape (m, ...)
        Pre-BN activations.
    gamma : float or array broadcastable to (...)
        BN scale.
    eps : float
        The :math:`\epsilon` of BN, ``>= 0``.
    """
    eps = check_nonnegative(eps, "eps")
    y_hat, s = _normalized(y, eps)
    _like_y(v, "v", y)
    _like_y(g, "g", y)
    _like_y(hessian, "hessian", y, (y.shape[0], *y.shape))
    gamma = _scale_parameter(gamma, "gamma", y)
    xp = array_namespace(v, hessian)
    m = y.shape[0]
    vhv = _dot(v, xp.sum(hessian * v[None, ...], axis=1))  # sum_ij v_i H_ij v_j per unit
    return gamma**2 / s**2 * vhv - gamma / (m * s**2) * _dot(g, y_hat) * _dot(v, v)


def weight_gradient_bound(g: Array, y: Array, gamma: Any, lam: Any, *, eps: float = 0.0) -> Array:
    r"""Right side of Theorem 4.4 (weight-space Lipschitzness), Santurkar et al. 2018, checkable form.

    For unit :math:`j` with weights :math:`W_j` and batch :math:`X\in\mathbb R^{m\times d}` (:math:`y=XW_j`),
    :math:`\nabla_{W_j}\hat{\mathcal L}=X^\top\nabla_y\hat{\mathcal L}`, so for :math:`\|X\|_2\le\lambda`

    .. math::

        \|\nabla_{W_j}\hat{\mathcal L}\|^2\le\lambda^2\frac{\gamma^2}{s^2}\Big(\|g\|^2-m\mu_g^2
            -\frac1m\langle g,\hat y\rangle^2\Big).

    The printed minimax form (:math:`g_j^2` of an already squared norm, :math:`\lambda^2` on one term only)
    is dimensionally inconsistent and is not what this computes (THEORY.md §2.7).

    Parameters
    ----------
    g, y, gamma, eps
        As in :func:`gradient_norm_bound`.
    lam : float or array broadcastable to (...)
        Bound on the operator norm :math:`\|X\|_2` of the input batch.
    """
    bound = gradient_norm_bound(g, y, gamma, eps=eps)
    return _scale_parameter(lam, "lam", y, low=0.0) ** 2 * bound


def rescaling_distance_bound(w0: Array, w_star: Array) -> Array:
    r"""Right side of Lemma 4.5 (BN leads to a favourable initialization), Santurkar et al. 2018.

    .. math::

        \|W_0-\hat W^*\|^2\le\|W_0-W^*\|^2-\frac{1}{\|W^*\|^2}\big(\|W^*\|^2-\langle W^*,W_0\rangle\big)^2
        =\|W_0\|^2-\frac{\langle W^*,W_0\rangle^2}{\|W^*\|^2},

    where :math:`\hat W^*` is the optimum of the BN network closest to :math:`W_0` on the ray
    :math:`\{cW^*:c>0\}` of optima that BN's invariance to positive rescaling creates. Needs
    :math:`\langle W_0,W^*\rangle>0`; otherwise the closest admissible point is the limit :math:`c\to0^+`
    and the bound is false.

    Parameters
    ----------
    w0, w_star : array, shape (..., d)
        Initialization and optimum of the network without BN (weights flattened along the last axis).

    Raises
    ------
    ValueError
        On NaN or inf, a shape mismatch or a zero :math:`W^*` (its ray is a point).

    Notes
    -----
    The bound is homogeneous of degree 2, so both vectors are first scaled by one power of two (exact) that brings
    their largest entry near 1: weights near 1e200 do not overflow the squares.
    """
    xp = check_float_array(w0, "w0", finite=True)
    check_float_array(w_star, "w_star", finite=True)
    check_same_dtype(w_star, "w_star", w0)
    if tuple(w0.shape) != tuple(w_star.shape) or 0 in tuple(w0.shape):
        raise ValueError(
            f"w0, w_star: expected one non-empty shape, got {tuple(w0.shape)} and {tuple(w_star.shape)}; "
            "pass matching weights"
        )
    if bool(xp.any(xp.all(w_star == 0, axis=-1))):
        raise ValueError("w_star: is zero, so the ray {c W*} of optima is a point; pass a non-zero optimum")
    from bntheory.backend import asarray, to_numpy

    largest = float(to_numpy(xp.max(xp.maximum(xp.abs(w0), xp.abs(w_star)))))
    scale = float(np.ldexp(1.0, -np.frexp(largest)[1]))
    a, b = w0 * asarray(scale, xp, dtype=w0.dtype), w_star * asarray(scale, xp, dtype=w0.dtype)
    diff = a - b

    def dot(p, q):  # over the weights, the last axis (the batch functions above sum over the first)
        return xp.sum(p * q, axis=-1)

    norm2 = dot(b, b)
    # Back to the input's scale by 2**e twice (2**(2e) itself may not be representable).
    return (dot(diff, diff) - (norm2 - dot(b, a)) ** 2 / norm2) / scale / scale
