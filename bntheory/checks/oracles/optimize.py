r"""SciPy oracles: quantities defined as an optimum, computed by a generic optimiser rather than a closed form."""

from __future__ import annotations

import numpy as np
import scipy.optimize

__all__ = ["ray_distance"]


def ray_distance(w0: np.ndarray, w_star: np.ndarray) -> tuple[float, float]:
    r""":math:`\inf_{c>0}\|w_0-cw^*\|^2` by bounded Brent minimisation over :math:`c`, and the minimiser.

    The distance from :math:`w_0` to the ray :math:`\{cw^*:c>0\}` of optima that BN's invariance to positive
    rescaling creates (Santurkar et al. 2018, Lemma 4.5). Brent searches :math:`c\in[0,\,2\|w_0\|/\|w^*\|]`
    (the minimiser :math:`\langle w^*,w_0\rangle/\|w^*\|^2` lies inside by Cauchy-Schwarz) to
    :math:`10^{-13}` of the interval, never using the closed form.

    Raises
    ------
    ValueError
        If the shapes differ or `w_star` is 0.
    """
    w0, w_star = np.asarray(w0, dtype=np.float64), np.asarray(w_star, dtype=np.float64)
    if w0.shape != w_star.shape:
        raise ValueError(f"w0, w_star: expected one shape, got {w0.shape} and {w_star.shape}")
    norm = np.linalg.norm(w_star)
    if not norm > 0:
        raise ValueError("w_star: must be non-zero (the ray is a point)")
    upper = 2 * np.linalg.norm(w0) / norm
    res = scipy.optimize.minimize_scalar(
        lambda c: np.sum((w0 - c * w_star) ** 2),
        bounds=(0.0, upper),
        method="bounded",
        options={"xatol": 1e-13 * upper},
    )
    return float(res.fun), float(res.x)
