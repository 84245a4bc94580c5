"""Exact-rational oracles: :class:`fractions.Fraction` represents every float64 input exactly."""

from __future__ import annotations

from fractions import Fraction

import numpy as np

__all__ = ["exact_fraction"]


def exact_fraction(a) -> np.ndarray:
    """An object array of :class:`~fractions.Fraction`, exactly equal to the float64 entries of `a`."""
    a = np.asarray(a, dtype=np.float64)
    return np.array([Fraction(float(v)) for v in a.ravel()], dtype=object).reshape(a.shape)
