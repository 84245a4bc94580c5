"""Exact-rational oracles: :class:`fractions.Fraction` represents every float64 input exactly."""

from __future__ import annotations

from fractions import Fraction

import numpy as np

__all__ = ["exact_fraction", "exact_rayleigh_step"]


def exact_fraction(a) -> np.ndarray:
    """An object array of :class:`~fractions.Fraction`, exactly equal to the float64 entries of `a`."""
    a = np.asarray(a, dtype=np.float64)
    return np.array([Fraction(float(v)) for v in a.ravel()], dtype=object).reshape(a.shape)


def exact_rayleigh_step(A, B, w, L: float, lam_min: float) -> tuple[Fraction, Fraction]:
    r"""One step of the gradient method on a generalized Rayleigh quotient, in exact rationals.

    :math:`\rho(w)=w^\top Bw/w^\top Aw` (Kohler et al. 2019; THEORY.md §3.4); returns :math:`(\rho(w),\rho(w'))` with

    .. math:: w'=w+\frac{Bw-\rho(w)Aw}{L(\rho(w)-\lambda_{\min})}.

    The float64 inputs (and `L`, `lam_min`) are taken as the exact rationals they represent, so the only error
    left in a comparison is the float64 iteration's own.
    """
    A, B, w = exact_fraction(A), exact_fraction(B), exact_fraction(w)
    L, lam_min = Fraction(float(L)), Fraction(float(lam_min))

    def rho(v):
        return (v @ (B @ v)) / (v @ (A @ v))

    r = rho(w)
    return r, rho(w + (B @ w - r * (A @ w)) / (L * (r - lam_min)))
