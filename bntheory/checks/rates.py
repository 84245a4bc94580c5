r"""Linear rates: fit the observed contraction factor of a trace and compare it with a theorem's bound.

A linearly convergent error sequence satisfies :math:`e_t\approx C q^t`. The fit is ordinary least
squares of :math:`\log e_t` on :math:`t`, with the slope's standard error giving a confidence interval
for :math:`q`. Points at or below a rounding floor are dropped first (THEORY.md §8: once the error sits
at rounding level while the bound keeps shrinking, any comparison "explodes" spuriously), as are
exact zeros.

A bound stated for every step, :math:`e_t\le q_\star^{\,t}e_0`, is checked pointwise by
:func:`pointwise_ratio`: the largest :math:`e_t/(q_\star^{\,t}e_0)` over the steps above the floor.

A rate *check* (:func:`rate_check`) takes the runs of a statement as :class:`Trajectory` objects: the errors,
the bound's factor :math:`q` **computed by the check** from the matrices it built (never read from the object
under test), and how the statement compares them (cumulatively, :math:`e_t\le q^te_0`, or step by step,
:math:`e_{t+1}\le qe_t`). Its sharp negative controls claim a faster rate, :math:`q^{\,a}` with :math:`a>1`
(`exponent`), through the same comparison: ``exponent=1.1`` is a rate 10% faster than the bound,
``exponent=2`` THEORY.md §3.5(ii)'s :math:`(1-\mu/L)^{4t}`. Where the bound is nearly attained (THEORY.md §3.4-§3.5),
the runs include adversarial instances and the check requires the largest ratio to come within `reach` of 1,
so that a bound that is loose (an inflated constant, a slower step) fails as surely as a violated one.

A *sublinear* rate :math:`e(T)\approx cT^{p}` over a population of seeded runs (GD's :math:`T^{-1/2}`) is fitted by
:func:`fit_exponent` as the log-log slope of a quantile over the runs, with a bootstrap interval over the runs:
the quantile of the error curves, not a quantile of per-run slopes, so that a run resting on a plateau *below* the
quantile (its local slope 0, its error already small) does not decide the figure.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.special

from bntheory.checks.compare import Outcome, Worst, at_least, at_most, within
from bntheory.checks.tolerances import RATE_FLOOR, RATE_REACH, RATE_SLACK

__all__ = [
    "ExponentFit",
    "RateFit",
    "Trajectory",
    "faster_rate_violated",
    "fit_exponent",
    "fit_rate",
    "pointwise_ratio",
    "rate_check",
    "rate_ratios",
]


@dataclass(frozen=True)
class RateFit:
    """Observed linear rate :math:`q` (per step) with a confidence interval, from `points` steps."""

    q: float
    low: float
    high: float
    points: int
    confidence: float

    def __str__(self) -> str:
        ci = f"{round(100 * self.confidence)}% CI [{self.low:.6g}, {self.high:.6g}]"
        return f"q = {self.q:.6g} ({ci}, {self.points} steps)"


def _usable(errors: np.ndarray, floor: float) -> np.ndarray:
    errors = np.asarray(errors, dtype=np.float64)
    if errors.ndim != 1 or errors.size < 2:
        raise ValueError(f"errors: need a 1-D trace of at least 2 steps, got shape {errors.shape}")
    if not np.all(np.isfinite(errors)):
        raise ValueError("errors: the trace must be finite (a diverged run has no rate)")
    if errors[0] <= 0:
        raise ValueError("errors: the first error must be positive, so that there is something to contract")
    # Small negative values are rounding around an optimum (e.g. rho - rho* once converged): below the floor.
    if np.any(errors < -floor * errors[0]):
        raise ValueError(
            "errors: the trace has negative entries above the rounding floor; pass errors, not signed gaps"
        )
    return errors > floor * errors[0]


def fit_rate(errors, *, floor: float = 1e-9, confidence: float = 0.95) -> RateFit:
    r"""Fit :math:`q` in :math:`e_t\approx Cq^t` by least squares on :math:`\log e_t`, steps above `floor`.

    Parameters
    ----------
    errors : array_like, shape (T,)
        Non-negative errors (suboptimality, gradient norm), one per step, step 0 first.
    floor : float
        Relative rounding floor: steps with :math:`e_t\le\text{floor}\cdot e_0` are not used.
    confidence : float
        Level of the two-sided interval (Student t on the slope).

    Returns
    -------
    RateFit
        With ``q = exp(slope)``; ``low``/``high`` the interval (equal to ``q`` when the fit is exact).

    Raises
    ------
    ValueError
        If the trace is not finite and non-negative, or fewer than 3 steps lie above the floor.
    """
    keep = _usable(errors, floor)
    t = np.flatnonzero(keep)
    # Only the leading run above the floor: after the error first reaches rounding level it only jitters.
    stop = np.flatnonzero(np.diff(t) != 1)
    t = t[: stop[0] + 1] if stop.size else t
    if t.size < 3:
        raise ValueError(f"errors: only {t.size} steps lie above the floor {floor:g} * e_0; need 3 for a rate")
    y = np.log(np.asarray(errors, dtype=np.float64)[t])
    slope, stderr = _slope(t.astype(np.float64), y)
    # Student t quantile with n - 2 degrees of freedom (scipy.special.stdtrit: no scipy.stats import, 0.5 s).
    spread = scipy.special.stdtrit(t.size - 2, 0.5 + confidence / 2) * stderr
    return RateFit(
        float(np.exp(slope)),
        float(np.exp(slope - spread)),
        float(np.exp(slope + spread)),
        int(t.size),
        confidence,
    )


def _slope(t: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    r"""Least-squares slope of y on t and its standard error (as ``scipy.stats.linregress``; tested against it).

    .. math:: \hat b=\frac{\sum(t-\bar t)(y-\bar y)}{\sum(t-\bar t)^2},\qquad
              \mathrm{se}(\hat b)=\sqrt{\frac{\sum r_i^2/(n-2)}{\sum(t-\bar t)^2}}
    """
    tc, yc = t - t.mean(), y - y.mean()
    sxx = float(tc @ tc)
    slope = float(tc @ yc) / sxx
    residual = yc - slope * tc
    return slope, (float(residual @ residual) / (t.size - 2) / sxx) ** 0.5


@dataclass(frozen=True)
class ExponentFit:
    r"""Fitted exponent :math:`p` of :math:`q(T)\approx cT^{p}`, a quantile over runs, with a bootstrap interval."""

    exponent: float
    low: float
    high: float
    quantile: float
    runs: int
    points: int
    confidence: float

    def __str__(self) -> str:
        ci = f"{round(100 * self.confidence)}% CI [{self.low:.3g}, {self.high:.3g}]"
        return f"p = {self.exponent:.3g} ({ci}; {self.quantile:g}-quantile of {self.runs} runs, {self.points} horizons)"


def _quantile_slopes(x: np.ndarray, curves: np.ndarray, floor: float) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares slopes of log curves[..., h] on x[h] over each row's leading points above `floor` (-inf if < 3)."""
    # A quantile of non-increasing curves is non-increasing: once it reaches the floor it only jitters there.
    keep = np.logical_and.accumulate(curves > floor, axis=-1)
    n = keep.sum(axis=-1)
    y = np.log(np.where(keep, curves, 1.0))
    m = np.maximum(n, 1)
    xm = (keep * x).sum(axis=-1) / m
    ym = (keep * y).sum(axis=-1) / m
    xc = np.where(keep, x - xm[..., None], 0.0)
    sxx = (xc * xc).sum(axis=-1)
    slope = (xc * (y - ym[..., None])).sum(axis=-1) / np.where(n >= 3, sxx, 1.0)
    # Fewer than 3 points above the floor: the quantile reached rounding level early, faster than any power.
    return np.where(n >= 3, slope, -np.inf), n


def fit_exponent(
    horizons,
    values,
    *,
    quantile: float,
    rng: np.random.Generator,
    resamples: int = 200,
    confidence: float = 0.95,
    floor: float = 0.0,
) -> ExponentFit:
    r"""Fit :math:`p` in :math:`q_\alpha(T)\approx cT^{p}`, the `quantile` over runs, with a bootstrap interval.

    .. math::

        \hat p=\frac{\sum_h(x_h-\bar x)(y_h-\bar y)}{\sum_h(x_h-\bar x)^2},\qquad
        x_h=\log T_h,\quad y_h=\log\hat q_\alpha(T_h),

    where :math:`\hat q_\alpha(T_h)` is the sample :math:`\alpha`-quantile (linear interpolation) of
    ``values[h, :]`` over the runs, fitted over the leading horizons with :math:`\hat q_\alpha>` `floor`. The
    interval is the percentile bootstrap over runs (Efron & Tibshirani 1993, ch. 13): the runs are resampled
    with replacement `resamples` times and the same fit repeated; its ends are the lower and upper order
    statistics at :math:`(1\mp\text{confidence})/2`, so that a one-sided bound at :math:`(1+\text{confidence})/2`
    is either end alone. The runs must be independent draws (seeded starts); the horizons of one run need not be.

    Parameters
    ----------
    horizons : array_like, shape (H,)
        Increasing positive horizons :math:`T_h` (at least 3).
    values : array_like, shape (H, runs)
        Non-negative :math:`e_j(T_h)`, one column per run (at least 2), e.g. :math:`\min_{t<T_h}\|g_t\|`.
    quantile : float
        :math:`\alpha\in(0,1)`.
    rng : numpy.random.Generator
        For the resamples (the check's ``ctx.rng``).
    resamples : int
        Bootstrap resamples.
    confidence : float
        Level of the two-sided interval, in (0, 1).
    floor : float
        Quantiles at or below it are rounding and not fitted; with fewer than 3 points above it the exponent is
        :math:`-\infty` (converged faster than any power).

    Returns
    -------
    ExponentFit
        NaN throughout when `values` is not finite (a broken run has no rate).

    Raises
    ------
    ValueError
        If the shapes, the horizons, `quantile`, `resamples`, `confidence` or `floor` are out of range, or a value
        is negative.
    """
    x = np.asarray(horizons, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    if x.ndim != 1 or x.size < 3 or not np.all(np.isfinite(x)) or np.any(x <= 0) or np.any(np.diff(x) <= 0):
        raise ValueError(f"horizons: need at least 3 increasing positive horizons, got {x!r}; pass T_1 < ... < T_H")
    if v.ndim != 2 or v.shape[0] != x.size or v.shape[1] < 2:
        raise ValueError(f"values: expected shape ({x.size}, runs >= 2), one column per run, got {v.shape}")
    if not 0 < quantile < 1:
        raise ValueError(f"quantile: must lie strictly between 0 and 1, got {quantile}")
    if isinstance(resamples, bool) or not isinstance(resamples, int | np.integer) or resamples < 1:
        raise ValueError(f"resamples: expected a positive integer, got {resamples!r}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence: must lie strictly between 0 and 1, got {confidence}")
    if not (math.isfinite(floor) and floor >= 0):
        raise ValueError(f"floor: expected a finite floor >= 0, got {floor}")
    runs = v.shape[1]
    if not np.all(np.isfinite(v)):
        return ExponentFit(math.nan, math.nan, math.nan, float(quantile), runs, 0, float(confidence))
    if np.any(v < 0):
        raise ValueError("values: negative entries; pass errors (norms), not signed gaps")
    (slope,), (points,) = _quantile_slopes(np.log(x), np.quantile(v, quantile, axis=1)[None], floor)
    picks = rng.integers(0, runs, size=(resamples, runs))
    boot, _ = _quantile_slopes(np.log(x), np.quantile(v[:, picks], quantile, axis=-1).T, floor)
    # Order statistics, not interpolation: a resample that reached the floor has slope -inf.
    low = float(np.quantile(boot, (1 - confidence) / 2, method="lower"))
    high = float(np.quantile(boot, (1 + confidence) / 2, method="higher"))
    return ExponentFit(float(slope), low, high, float(quantile), runs, int(points), float(confidence))


def pointwise_ratio(errors, q_bound: float, *, floor: float = 1e-9) -> float:
    r"""Largest :math:`e_t/(q_\star^{\,t}e_0)` over the steps above the floor; at most 1 iff the bound holds there."""
    if not 0 < q_bound <= 1:
        raise ValueError(f"q_bound: a contraction factor must lie in (0, 1], got {q_bound}")
    errors = np.asarray(errors, dtype=np.float64)
    keep = _usable(errors, floor)
    t = np.flatnonzero(keep)
    return float(np.max(errors[t] / (errors[0] * q_bound ** t.astype(np.float64))))


@dataclass(frozen=True)
class Trajectory:
    r"""The errors of one run and the bound a rate statement puts on them.

    Attributes
    ----------
    label : str
        Where it came from (``"kappa 10, instance 3"``), for the report.
    errors : ndarray
        :math:`e_t\ge0`, step 0 first (NaN anywhere makes the check fail).
    q : float
        The bound's factor per step, in (0, 1], computed by the check from the matrices it built.
    scale : float or None
        Steps whose error is at most ``floor * scale`` are at rounding level and not compared (THEORY.md §8);
        by default :math:`e_0`. Runs started near the optimum pass the size of the optimum (e.g. :math:`|\rho^*|`).
    per_step : bool
        Compare :math:`e_{t+1}\le qe_t` at every step (THEORY.md §3.4) instead of :math:`e_t\le q^te_0`.
    valid : ndarray of bool or None
        Steps at which the statement's assumption holds (``per_step``: compared only from such a step).
    adversarial : bool
        Chosen where the bound is nearly attained (:func:`rate_check`'s `reach`).
    """

    label: str
    errors: np.ndarray
    q: float
    scale: float | None = None
    per_step: bool = False
    valid: np.ndarray | None = None
    adversarial: bool = False


def rate_ratios(traj: Trajectory, *, exponent: float = 1.0, floor: float = RATE_FLOOR.value) -> np.ndarray:
    r"""Observed over claimed, at every compared step: at most 1 where the claimed rate :math:`q^{\,a}` holds.

    :math:`e_t/(q^{at}e_0)` for :math:`t\ge1` while :math:`e_t` stays above the floor (the leading run: after the
    error first reaches rounding level it only jitters), or :math:`e_{t+1}/(q^ae_t)` at the valid steps whose
    :math:`e_{t+1}` is above the floor (``per_step``). A NaN error gives NaN ratios; negative errors above the
    floor are an error of the caller (signed gaps, not errors).
    """
    e = np.asarray(traj.errors, dtype=np.float64)
    if e.ndim != 1 or e.size < 2:
        raise ValueError(f"errors: need a 1-D trace of at least 2 steps, got shape {e.shape}")
    if not 0 < traj.q <= 1 or not exponent > 0:
        raise ValueError(f"q, exponent: need 0 < q <= 1 and exponent > 0, got {traj.q}, {exponent}")
    if not np.all(np.isfinite(e)):
        return np.array([math.nan])
    q = traj.q**exponent
    cut = floor * (e[0] if traj.scale is None else traj.scale)
    if not cut >= 0:
        raise ValueError(f"scale: the floor must be non-negative and finite, got {cut}")
    if np.any(e < -cut):
        raise ValueError("errors: negative entries above the rounding floor; pass errors, not signed gaps")
    if traj.per_step:
        valid = np.ones(e.size, bool) if traj.valid is None else np.asarray(traj.valid, bool)
        keep = valid[:-1] & (e[1:] > cut) & (e[:-1] > 0)
        return e[1:][keep] / (q * e[:-1][keep])
    above = np.flatnonzero(e[1:] <= cut)
    stop = e.size if above.size == 0 else int(above[0]) + 1
    t = np.arange(1, stop, dtype=np.float64)
    return e[1:stop] / (e[0] * q**t) if e[0] > 0 else np.zeros(0)


def rate_check(
    runs: Sequence[Trajectory],
    *,
    exponent: float = 1.0,
    reach: float | None = RATE_REACH.value,
    slack: float = RATE_SLACK.value,
    floor: float = RATE_FLOOR.value,
    what: str = "e_t / (q^t e_0)",
    note: str = "",
) -> Outcome:
    r"""One outcome for a rate statement over `runs`: the largest observed-over-claimed ratio.

    Passes when every ratio is at most ``1 + slack`` and, where some runs are adversarial and `reach` is given,
    the largest comes within `reach` of 1 (``within``). A negative control claims the faster rate
    :math:`q^{\,a}` (`exponent` :math:`a>1`) through the same comparison and is rejected when some ratio exceeds
    ``1 + slack``. NaN anywhere fails, naming the run; so does a set of runs with no step above the floor.
    `note` is appended to the detail (fitted rates, for the report).
    """
    if not runs:
        raise ValueError("runs: need at least one trajectory")
    acc, random_acc, adversarial_acc = Worst(), Worst(), Worst()
    peaks, violated, steps = [], 0, 0
    for traj in runs:
        r = rate_ratios(traj, exponent=exponent, floor=floor)
        if r.size == 0:
            continue
        steps += int(np.isfinite(r).sum())
        peak = float(np.nan if np.isnan(r).any() else r.max())
        peaks.append(peak)
        violated += int(not peak <= 1 + slack)
        acc.add(peak, traj.label)
        (adversarial_acc if traj.adversarial else random_acc).add(peak, traj.label)
    measured = float(acc)
    claimed = "" if exponent == 1 else f" (claimed factor q^{exponent:g})"
    detail = (
        f"max {what}{claimed} {measured:.9g} at {acc.where} over {steps} steps of {len(runs)} runs; "
        f"> 1 + {slack:g} in {violated}/{len(peaks)} runs"
    )
    if random_acc.count:
        detail += f"; random instances max {float(random_acc):.9g}"
    if adversarial_acc.count:
        detail += f"; adversarial instances max {float(adversarial_acc):.9g}"
    if note:
        detail += f"; {note}"
    if reach is None or not adversarial_acc.count:
        return at_most(measured, 1 + slack, detail, samples=peaks)
    return within(measured, 1 - reach, 1 + slack, detail, samples=peaks)


def faster_rate_violated(
    runs: Sequence[Trajectory],
    *,
    exponent: float,
    minimum: int = 1,
    slack: float = RATE_SLACK.value,
    floor: float = RATE_FLOOR.value,
) -> Outcome:
    r"""A faster rate :math:`q^{\,a}` is violated on at least `minimum` of a fixed seeded set of `runs`.

    THEORY.md §3.5(ii): the least-squares bound is nearly tight on random instances too, so claiming its square,
    :math:`(1-\mu/L)^{4t}` (``exponent=2``), must fail on some of them (about a third), through the comparison of
    :func:`rate_check`. The measured value is the number of runs whose largest ratio exceeds ``1 + slack``; a NaN
    ratio anywhere makes it NaN (a broken run refutes nothing).
    """
    if not runs:
        raise ValueError("runs: need at least one trajectory")
    count, peak = 0, Worst()
    for traj in runs:
        r = rate_ratios(traj, exponent=exponent, floor=floor)
        if np.isnan(r).any():
            return at_least(math.nan, minimum, f"non-finite ratio in {traj.label}")
        if r.size:
            peak.add(float(r.max()), traj.label)
            count += int(r.max() > 1 + slack)
    detail = f"q^{exponent:g} violated (> 1 + {slack:g}) in {count}/{len(runs)} runs, largest ratio {float(peak):.6g}"
    return at_least(count, minimum, detail)
