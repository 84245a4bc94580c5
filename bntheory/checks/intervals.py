r"""Confidence intervals for the mean of a stationary, autocorrelated signal: batch means over independent chains.

A time average over the late window of a simulation (the angular update of SGD at equilibrium, its norm) is
autocorrelated over a relaxation time, so the naive standard error of the samples is too small. Batch means
(e.g. Flegal & Jones 2010, "Batch means and spectral variance estimators in MCMC", Ann. Statist. 38) split each
chain (an independent seed) into contiguous batches much longer than that time; the batch means are then nearly
independent, and the Student-t interval of their mean has the stated coverage.

A prediction is compared with such an interval by :func:`farthest_deviation`: the relative distance from the
prediction to the far end of the interval, which is small only when the estimate is both close to the
prediction and precise (a wide interval cannot pass by containing everything).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.special

__all__ = ["Interval", "batch_means", "farthest_deviation"]


@dataclass(frozen=True)
class Interval:
    """An estimate of a mean with a two-sided confidence interval from `batches` batch means.

    `stderr` is the standard error of the estimate (of the mean itself, also after :meth:`map`).
    """

    estimate: float
    low: float
    high: float
    batches: int
    confidence: float
    stderr: float

    def map(self, f) -> Interval:
        """The interval of ``f(mean)`` for an increasing `f` (``np.sqrt`` turns a mean square into an rms)."""
        ends = (float(f(self.estimate)), float(f(self.low)), float(f(self.high)))
        return Interval(*ends, self.batches, self.confidence, self.stderr)

    def __str__(self) -> str:
        pct = round(100 * self.confidence)
        return f"{self.estimate:.6g} ({pct}% CI [{self.low:.6g}, {self.high:.6g}], {self.batches} batches)"


def batch_means(x, *, batches: int = 10, confidence: float = 0.95) -> Interval:
    r"""The mean of `x` over steps and chains, with the t-interval of its batch means.

    .. math:: \bar x\pm t_{K-1,(1+c)/2}\,s_K/\sqrt K,

    where the :math:`K` = `batches` x chains batch means have sample standard deviation :math:`s_K`.

    Parameters
    ----------
    x : array-like, shape (n,) or (n, chains)
        Samples in time order (axis 0), one column per independent chain. Trailing steps that do not fill a
        batch are dropped (at most ``batches - 1`` per chain).
    batches : int
        Contiguous batches per chain, each to be much longer than the autocorrelation time.
    confidence : float
        Level of the interval, in (0, 1).

    Raises
    ------
    ValueError
        If `x` is not finite, has fewer steps than batches, or `batches`/`confidence` are out of range, or
        only one batch mean results.
    """
    x = np.asarray(x, dtype=np.float64)
    x = x[:, None] if x.ndim == 1 else x
    if x.ndim != 2 or not np.all(np.isfinite(x)):
        raise ValueError(f"x: expected finite samples of shape (n,) or (n, chains), got shape {x.shape}")
    if isinstance(batches, bool) or not isinstance(batches, int | np.integer) or batches < 1:
        raise ValueError(f"batches: expected a positive integer, got {batches!r}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence: must lie strictly between 0 and 1, got {confidence}")
    n, chains = x.shape
    size = n // batches
    if size < 1 or batches * chains < 2:
        raise ValueError(f"x: {n} steps x {chains} chains cannot give {batches} batches per chain and 2 batch means")
    means = x[: size * batches].reshape(batches, size, chains).mean(axis=1).ravel()
    k = means.size
    centre = float(means.mean())
    stderr = float(means.std(ddof=1) / np.sqrt(k))
    # The Student t quantile by scipy.special.stdtrit, which scipy.stats.t.ppf calls: the same number without
    # importing scipy.stats (0.3-0.5 s in the first check of a process that asks).
    half = float(scipy.special.stdtrit(k - 1, (1 + confidence) / 2)) * stderr
    return Interval(centre, centre - half, centre + half, k, confidence, stderr)


def farthest_deviation(interval: Interval, predicted: float) -> float:
    r"""Relative distance from `predicted` to the farther end of `interval`: :math:`\max(|h-p|,|l-p|)/|p|`.

    At most the relative error of the estimate plus the interval's relative half-width, and at least either;
    a check that gates it passes only an estimate that is close to the prediction *and* precise.
    """
    p = float(predicted)
    # np.maximum keeps NaN (the builtin max may drop it), so a non-finite interval fails the comparison.
    return float(np.maximum(abs(interval.high - p), abs(interval.low - p))) / abs(p)
