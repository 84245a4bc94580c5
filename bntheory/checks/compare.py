"""Outcomes of checks and the comparisons that produce them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

__all__ = ["Outcome", "at_least", "at_most", "exact", "max_relative_error"]


@dataclass(frozen=True)
class Outcome:
    """What a check measured and what it was compared with.

    `relation` says how `measured` must stand to `bound` for the check to pass: ``"<="`` for errors
    and ratios, ``">="`` for p-values and margins, ``"=="`` for exact (symbolic) residual counts.
    """

    passed: bool
    measured: float
    bound: float
    relation: Literal["<=", ">=", "=="] = "<="
    detail: str = ""
    #: Values behind `measured`, when it summarises many (a worst-case search's ratios at its random draws);
    #: the report draws them as a histogram against the bound.
    samples: tuple[float, ...] = ()


def at_most(measured: float, bound: float, detail: str = "", *, samples=()) -> Outcome:
    """Pass when ``measured <= bound`` (NaN never passes); `samples` as in :class:`Outcome`."""
    measured = float(measured)
    kept = tuple(float(v) for v in np.ravel(samples) if np.isfinite(v))
    return Outcome(bool(measured <= bound), measured, float(bound), "<=", detail, kept)


def at_least(measured: float, bound: float, detail: str = "") -> Outcome:
    """Pass when ``measured >= bound`` (NaN never passes)."""
    measured = float(measured)
    return Outcome(bool(measured >= bound), measured, float(bound), ">=", detail)


def exact(residuals: int, detail: str = "") -> Outcome:
    """Pass when no residual is left: `residuals` counts the expressions that did not simplify to 0."""
    return Outcome(residuals == 0, residuals, 0, "==", detail)


def max_relative_error(actual, expected) -> float:
    r"""Norm-wise relative error :math:`\max_i|a_i-e_i| / \max_i|e_i|` over NumPy-convertible arrays.

    Norm-wise rather than entry-wise, so entries whose true value is exactly 0 (the gradient of a batch
    of 2 at ``eps = 0``, a vanishing term of a formula) are judged on the scale of the whole array.
    Returns ``inf`` for mismatched shapes and for a non-finite `actual`.
    """
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    if actual.shape != expected.shape or not np.all(np.isfinite(actual)):
        return float("inf")
    scale = float(np.max(np.abs(expected), initial=0.0))
    diff = float(np.max(np.abs(actual - expected), initial=0.0))
    if scale == 0.0:
        return diff
    return diff / scale
