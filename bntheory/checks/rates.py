r"""Linear rates: fit the observed contraction factor of a trace and compare it with a theorem's bound.

A linearly convergent error sequence satisfies :math:`e_t\approx C q^t`. The fit is ordinary least
squares of :math:`\log e_t` on :math:`t`, with the slope's standard error giving a confidence interval
for :math:`q`. Points at or below a rounding floor are dropped first (THEORY.md §8: once the error sits
at rounding level while the bound keeps shrinking, any comparison "explodes" spuriously), as are
exact zeros.

A bound stated for every step, :math:`e_t\le q_\star^{\,t}e_0`, is checked pointwise by
:func:`pointwise_ratio`: the largest :math:`e_t/(q_\star^{\,t}e_0)` over the steps above the floor.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.special

__all__ = ["RateFit", "fit_rate", "pointwise_ratio"]


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


def pointwise_ratio(errors, q_bound: float, *, floor: float = 1e-9) -> float:
    r"""Largest :math:`e_t/(q_\star^{\,t}e_0)` over the steps above the floor; at most 1 iff the bound holds there."""
    if not 0 < q_bound <= 1:
        raise ValueError(f"q_bound: a contraction factor must lie in (0, 1], got {q_bound}")
    errors = np.asarray(errors, dtype=np.float64)
    keep = _usable(errors, floor)
    t = np.flatnonzero(keep)
    return float(np.max(errors[t] / (errors[0] * q_bound ** t.astype(np.float64))))
