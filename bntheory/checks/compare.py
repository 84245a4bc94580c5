r"""Outcomes of checks and the comparisons that produce them; nothing non-finite ever passes.

An :class:`Outcome` decides its verdict itself, from the measured value, the bound and the relation, so no
results module can hand in a verdict that its numbers do not support. A measured value or bound that is NaN
or infinite makes the outcome *invalid*: it fails as a check, and it does not count as a rejection when it is
a negative control's (:attr:`Outcome.valid`), because a control that produced NaN has shown nothing.

Accumulating a worst case with the builtin ``max`` drops NaN (``max(0.0, nan) == 0.0``); :class:`Worst` and
:func:`worst` propagate it instead, and name the first place it appeared.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

__all__ = [
    "Outcome",
    "Worst",
    "at_least",
    "at_most",
    "exact",
    "max_relative_error",
    "unless_nonfinite",
    "within",
    "worst",
]

Relation = Literal["<=", ">=", "==", "in"]


def _finite_floats(values) -> tuple[float, ...]:
    return tuple(float(v) for v in np.ravel(np.asarray(values, dtype=np.float64)))


@dataclass(frozen=True)
class Outcome:
    """What a check measured, what it was compared with, and the verdict that follows from the two.

    `relation` says how `measured` must stand to `bound` for the check to pass: ``"<="`` for errors and
    ratios, ``">="`` for p-values, margins and frequencies, ``"=="`` for exact (symbolic) residual counts,
    ``"in"`` for ``low <= measured <= bound`` (a worst-case ratio that must reach an attainable equality).

    Attributes
    ----------
    measured, bound : float
        The figure and what it is compared with.
    relation : {"<=", ">=", "==", "in"}
    detail : str
        What was measured where, for the table and the report.
    samples : tuple of float
        Values behind `measured` when it summarises many (a worst-case search's ratios at its random draws);
        the report draws them as a histogram. Non-finite samples make the outcome invalid.
    low : float or None
        Lower end for ``relation == "in"``.
    """

    measured: float
    bound: float
    relation: Relation = "<="
    detail: str = ""
    samples: tuple[float, ...] = ()
    low: float | None = None
    passed: bool = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "measured", float(self.measured))
        object.__setattr__(self, "bound", float(self.bound))
        object.__setattr__(self, "samples", _finite_floats(self.samples))
        if self.relation == "in" and self.low is None:
            raise ValueError("low: an 'in' comparison needs the lower end of its interval")
        if not self.valid:
            what = [n for n, v in (("measured", self.measured), ("bound", self.bound)) if not math.isfinite(v)]
            if not all(map(math.isfinite, self.samples)):
                what.append("samples")
            object.__setattr__(self, "detail", f"non-finite {' and '.join(what)}: {self.detail}")
        object.__setattr__(self, "passed", self.valid and self._holds())

    @property
    def valid(self) -> bool:
        """Whether every number is finite; an invalid outcome neither passes nor counts as a rejection."""
        numbers = (self.measured, self.bound, *self.samples, *(() if self.low is None else (self.low,)))
        return all(map(math.isfinite, numbers))

    @property
    def bound_text(self) -> str:
        """The comparison as the table shows it (``"<= 1e-10"``, ``"in [0.999, 1]"``)."""
        if self.relation == "in":
            return f"in [{self.low:.6g}, {self.bound:.6g}]"
        return f"{self.relation} {self.bound:.6g}"

    def _holds(self) -> bool:
        m, b = self.measured, self.bound
        if self.relation == "<=":
            return m <= b
        if self.relation == ">=":
            return m >= b
        if self.relation == "==":
            return m == b
        return self.low <= m <= b


def at_most(measured: float, bound: float, detail: str = "", *, samples=()) -> Outcome:
    """Pass when ``measured <= bound`` and both are finite; `samples` as in :class:`Outcome`."""
    return Outcome(measured, bound, "<=", detail, samples)


def at_least(measured: float, bound: float, detail: str = "") -> Outcome:
    """Pass when ``measured >= bound`` and both are finite."""
    return Outcome(measured, bound, ">=", detail)


def within(measured: float, low: float, high: float, detail: str = "", *, samples=()) -> Outcome:
    """Pass when ``low <= measured <= high``: an upper bound that must also be reached (an attainable equality)."""
    return Outcome(measured, high, "in", detail, samples, low=float(low))


def exact(residuals: int, detail: str = "") -> Outcome:
    """Pass when no residual is left: `residuals` counts the expressions that did not simplify to 0."""
    return Outcome(residuals, 0, "==", detail)


def unless_nonfinite(value: float, *inputs) -> float:
    """`value`, or NaN when any of `inputs` (numbers or arrays) holds NaN or inf.

    Comparisons with NaN are False, so a count of events (``sum(b < a ...)``) built from non-finite measurements
    looks like a genuine frequency of 0; passing the count through this makes the outcome invalid instead.
    """
    finite = all(bool(np.all(np.isfinite(np.asarray(v, dtype=np.float64)))) for v in inputs)
    return float(value) if finite else math.nan


def worst(values: Iterable[float]) -> float:
    """The largest of `values`, NaN if any is NaN (the builtin ``max`` would silently drop it)."""
    acc = Worst()
    for v in values:
        acc.add(v)
    return acc.value


@dataclass
class Worst:
    """A running maximum that keeps NaN and remembers where the maximum (or the first NaN) was.

    >>> w = Worst()
    >>> w.add(1e-16, "m = 2"); w.add(float("nan"), "m = 3"); w.add(0.5, "m = 4")
    >>> w.value, w.where
    (nan, 'm = 3')
    """

    value: float = -math.inf
    where: str = ""
    count: int = 0

    def add(self, value: float, where: str = "") -> None:
        """Take `value` (anything convertible to float; an array contributes its largest entry, NaN first)."""
        arr = np.asarray(value, dtype=np.float64)
        v = float(np.nan if np.isnan(arr).any() else arr.max(initial=-math.inf))
        self.count += 1
        if math.isnan(self.value):
            return
        if math.isnan(v) or v > self.value:
            self.value, self.where = v, where

    def __float__(self) -> float:
        # An empty accumulator has measured nothing: that is not a pass.
        return self.value if self.count else math.nan


def max_relative_error(actual, expected) -> float:
    r"""Norm-wise relative error :math:`\max_i|a_i-e_i| / \max_i|e_i|` over NumPy-convertible arrays.

    Norm-wise rather than entry-wise, so entries whose true value is exactly 0 (the gradient of a batch
    of 2 at ``eps = 0``, a vanishing term of a formula) are judged on the scale of the whole array.
    Returns ``inf`` for mismatched shapes and NaN when either side is not finite (so the check fails with
    the reason, :class:`Outcome`).
    """
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    if actual.shape != expected.shape:
        return math.inf
    if not (np.all(np.isfinite(actual)) and np.all(np.isfinite(expected))):
        return math.nan
    scale = float(np.max(np.abs(expected), initial=0.0))
    diff = float(np.max(np.abs(actual - expected), initial=0.0))
    if scale == 0.0:
        return diff
    return diff / scale
