r"""Optimisation oracles: quantities defined as an optimum, computed by a generic search rather than a closed form."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from array_api_compat import array_namespace

__all__ = ["ray_distance"]

#: Golden-section steps of :func:`ray_distance`: the bracket shrinks to 0.618^45 ~ 4e-10 of its width, below the
#: 1e-8 (relative) at which float64 values of the function stop telling two points apart near its minimum.
_STEPS = 45


def ray_distance(w0: Any, w_star: Any) -> tuple[Any, Any]:
    r""":math:`\inf_{c>0}\|w_0-cw^*\|^2` by a golden-section search over :math:`c`, and the minimiser.

    The distance from :math:`w_0` to the ray :math:`\{cw^*:c>0\}` of optima that BN's invariance to positive
    rescaling creates (Santurkar et al. 2018, Lemma 4.5). The search brackets
    :math:`c\in[0,\,2\|w_0\|/\|w^*\|]` (the minimiser :math:`\langle w^*,w_0\rangle/\|w^*\|^2` lies inside by
    Cauchy-Schwarz) and shrinks it by the golden ratio for :data:`_STEPS` steps, using only values of the
    function, never the closed form; the infimum includes the limit :math:`c\to0^+`, :math:`\|w_0\|^2`.

    Array-API code on a batch: `w0` and `w_star` of shape (..., d) in one namespace (leading axes: independent
    pairs), every pair searched at once. Returns ``(value, c)`` of shape (...), floats for one NumPy pair.

    Raises
    ------
    ValueError
        If the shapes differ or a `w_star` is 0.
    """
    if not hasattr(w0, "__array_namespace__"):
        w0, w_star = np.asarray(w0, dtype=np.float64), np.asarray(w_star, dtype=np.float64)
    one_pair = isinstance(w0, np.ndarray) and w0.ndim == 1
    if w0.shape != w_star.shape:
        raise ValueError(f"w0, w_star: expected one shape, got {w0.shape} and {w_star.shape}")
    xp = array_namespace(w0, w_star)
    norm = xp.sqrt(xp.sum(w_star * w_star, axis=-1))
    if not bool(xp.all(norm > 0)):
        raise ValueError("w_star: must be non-zero (the ray is a point)")

    def f(c):
        diff = w0 - c[..., None] * w_star
        return xp.sum(diff * diff, axis=-1)

    shrink = (math.sqrt(5) - 1) / 2
    a = xp.zeros_like(norm)
    b = 2 * xp.sqrt(xp.sum(w0 * w0, axis=-1)) / norm
    c, d = b - shrink * (b - a), a + shrink * (b - a)
    fc, fd = f(c), f(d)
    for _ in range(_STEPS):
        left = fc < fd  # the minimum of the convex function lies in [a, d]: keep it
        a, b = xp.where(left, a, c), xp.where(left, d, b)
        new = xp.where(left, b - shrink * (b - a), a + shrink * (b - a))
        f_new = f(new)
        c, d, fc, fd = (
            xp.where(left, new, d),
            xp.where(left, c, new),
            xp.where(left, f_new, fd),
            xp.where(left, fc, f_new),
        )
    best_c = xp.where(fc < fd, c, d)
    best = xp.minimum(fc, fd)
    at_zero = xp.sum(w0 * w0, axis=-1)
    value, c = xp.where(at_zero < best, at_zero, best), xp.where(at_zero < best, xp.zeros_like(best_c), best_c)
    if one_pair:
        return float(value), float(c)
    return value, c
