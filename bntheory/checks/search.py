r"""Worst-case search: attack an inequality :math:`\mathrm{lhs}(p)\le\mathrm{rhs}(p)` instead of sampling it once.

An inequality is handed over as a *ratio* function :math:`r(p)` of a flat parameter vector :math:`p`, with
:math:`r\le 1` exactly where the inequality holds (see :func:`normalized_ratio`). The parametrisation
carries the assumptions (a scale as ``exp(p_k)``, a variance as ``p_k**2``), so every :math:`p\in\mathbb R^n`
is an admissible instance and the optimiser may roam freely. The search

1. evaluates :math:`r` at seeded random draws and at hand-picked adversarial starts (edge cases: the
   smallest batch, a direction aligned with a null vector, a tiny or huge scale);
2. climbs from the best few of those with Nelder–Mead on :math:`-r` (derivative-free, so it also works
   where :math:`r` is only piecewise smooth);
3. optionally re-evaluates the best points with a high-precision oracle (``refine``), so that the figure
   it reports is not float64 rounding that the climber has learnt to amplify.

It returns the largest ratio found and where, which is what ``bntheory verify`` prints.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.optimize

__all__ = ["WorstCase", "normalized_ratio", "worst_case"]

Ratio = Callable[[np.ndarray], float]


@dataclass(frozen=True)
class WorstCase:
    """What a worst-case search found.

    Attributes
    ----------
    ratio : float
        Largest ratio found (after refinement, when a refining oracle was given).
    point : ndarray
        The parameter vector where it was found.
    float_ratio : float
        Largest ratio seen in float64 during the search (before refinement).
    evaluations : int
        Number of float64 evaluations of the ratio.
    draws : ndarray
        The ratios at the random draws, for frequency statements ("equality in x% of draws").
    """

    ratio: float
    point: np.ndarray
    float_ratio: float
    evaluations: int
    draws: np.ndarray


def normalized_ratio(lhs: float, rhs: float, scale: float | None = None) -> float:
    r"""The left/right ratio of :math:`\mathrm{lhs}\le\mathrm{rhs}`, defined for sides of any sign.

    .. math:: r = 1+\frac{\mathrm{lhs}-\mathrm{rhs}}{s},\qquad s = |\mathrm{rhs}|\ \text{by default}.

    For positive sides this is exactly :math:`\mathrm{lhs}/\mathrm{rhs}`. For sides that change sign (a
    Hessian quadratic form) pass as `scale` the sum of the absolute values of the terms, so that
    :math:`r-1` is the violation relative to the size of what is being compared. :math:`r\le1` if and
    only if the inequality holds; :math:`r=1` at equality. ``nan`` when the scale is 0 (no information).
    """
    s = abs(rhs) if scale is None else scale
    if not s > 0:
        return float("nan")
    return 1.0 + (lhs - rhs) / s


def worst_case(
    ratio: Ratio,
    sample: Callable[[np.random.Generator], np.ndarray],
    rng: np.random.Generator,
    *,
    draws: int = 200,
    starts: Sequence[np.ndarray] = (),
    climbs: int = 3,
    max_evaluations: int = 400,
    refine: Ratio | None = None,
    refine_top: int = 3,
) -> WorstCase:
    """Search for the parameters that maximise `ratio`.

    Parameters
    ----------
    ratio : callable
        ``ratio(p) -> float`` for a 1-D float64 vector ``p``; ``nan`` or ``inf`` marks a point that
        tells nothing (a degenerate instance) and is skipped, never counted as a violation.
    sample : callable
        ``sample(rng) -> p``: one random admissible parameter vector.
    rng : numpy.random.Generator
        Source of every random draw (the search is reproducible from it).
    draws : int
        Number of random draws.
    starts : sequence of ndarray
        Adversarial starting points evaluated before the climbs.
    climbs : int
        Number of Nelder–Mead climbs, each from one of the best distinct points so far.
    max_evaluations : int
        Budget of ratio evaluations per climb.
    refine : callable, optional
        High-precision re-evaluation of the ratio (mpmath, exact arithmetic). When given, the reported
        `ratio` is the largest refined value over the `refine_top` best float64 points.
    refine_top : int
        How many of the best points to refine.

    Returns
    -------
    WorstCase
    """
    if draws < 1:
        raise ValueError(f"draws: need at least one random draw, got {draws}")
    seen: list[tuple[float, np.ndarray]] = []

    def evaluate(p: np.ndarray) -> float:
        r = float(ratio(p))
        if np.isfinite(r):
            seen.append((r, np.array(p, dtype=np.float64)))
        return r

    random_ratios = np.array([evaluate(sample(rng)) for _ in range(draws)])
    for p in starts:
        evaluate(np.asarray(p, dtype=np.float64))
    if not seen:
        raise ValueError("ratio: no finite value at any draw or start; check the parametrisation of the instances")

    for p0 in _best_distinct(seen, climbs):
        scipy.optimize.minimize(
            lambda p: -r if np.isfinite(r := evaluate(p)) else np.inf,
            p0,
            method="Nelder-Mead",
            options={"maxfev": max_evaluations, "xatol": 1e-10, "fatol": 1e-15, "adaptive": p0.size > 5},
        )

    best_float, best_point = max(seen, key=lambda t: t[0])
    if refine is None:
        return WorstCase(best_float, best_point, best_float, len(seen), random_ratios)
    refined = [(float(refine(p)), p) for p in _best_distinct(seen, refine_top)]
    refined = [(r, p) for r, p in refined if np.isfinite(r)] or [(float("nan"), best_point)]
    best_ratio, point = max(refined, key=lambda t: t[0])
    return WorstCase(best_ratio, point, best_float, len(seen), random_ratios)


def _best_distinct(seen: list[tuple[float, np.ndarray]], k: int) -> list[np.ndarray]:
    """The `k` points with the largest ratios, skipping near-duplicates (a climb's own trail)."""
    chosen: list[np.ndarray] = []
    for _, p in sorted(seen, key=lambda t: -t[0]):
        if all(p.shape != q.shape or np.linalg.norm(p - q) > 1e-6 * (1 + np.linalg.norm(q)) for q in chosen):
            chosen.append(p)
        if len(chosen) == k:
            break
    return chosen
