r"""Optimisation oracles: quantities defined as an optimum, computed by a generic search rather than a closed form."""

from __future__ import annotations

from typing import Any

import numpy as np
from array_api_compat import array_namespace, is_array_api_obj

__all__ = ["ray_distance"]


def ray_distance(w0: Any, w_star: Any) -> tuple[Any, Any]:
    r""":math:`\inf_{c>0}\|w_0-cw^*\|^2` by successive parabolic interpolation over :math:`c`, and the minimiser.

    The distance from :math:`w_0` to the ray :math:`\{cw^*:c>0\}` of optima that BN's invariance to positive
    rescaling creates (Santurkar et al. 2018, Lemma 4.5). The search brackets
    :math:`c\in[0,\,2\|w_0\|/\|w^*\|]` (the minimiser :math:`\langle w^*,w_0\rangle/\|w^*\|^2` lies inside by
    Cauchy-Schwarz) and takes the vertex of the parabola through three values of the function, twice (the second
    time through points 1e-3 of the bracket around the first vertex, so rounding of the first does not stay): the
    interpolation step of Brent's method, which uses only values of the function, never the closed form, and is
    exact on a quadratic up to rounding. The vertex is kept inside the bracket, and the infimum includes the limit
    :math:`c\to0^+`, :math:`\|w_0\|^2`.

    Array-API code on a batch: `w0` and `w_star` of shape (..., d) in one namespace (leading axes: independent
    pairs), every pair searched at once. Returns ``(value, c)`` of shape (...), floats for one NumPy pair.

    Raises
    ------
    ValueError
        If the shapes differ or a `w_star` is 0.
    """
    if not is_array_api_obj(w0):
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

    upper = 2 * xp.sqrt(xp.sum(w0 * w0, axis=-1)) / norm
    c, h = upper / 2, upper / 2
    for _ in range(2):
        f0, f1, f2 = f(c - h), f(c), f(c + h)
        curvature = f0 - 2 * f1 + f2  # > 0 for the convex function (0 only in the degenerate w_star = 0)
        c = c + h * (f0 - f2) / (2 * xp.where(curvature > 0, curvature, xp.ones_like(curvature)))
        c = xp.clip(c, 0 * upper, upper)
        h = 1e-3 * upper
    value, at_zero = f(c), xp.sum(w0 * w0, axis=-1)
    value, c = xp.where(at_zero < value, at_zero, value), xp.where(at_zero < value, 0 * c, c)
    if one_pair:
        return float(value), float(c)
    return value, c
