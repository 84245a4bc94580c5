r"""Probabilistic and empirical claims as frequencies over seeded draws, with a confidence bound.

A claim "event E happens with probability at least p" (or at most p) is checked by counting E over
:math:`n` independent seeded draws and comparing the exact Clopper–Pearson bound on the probability
with p, so that a check passes only when the data *support* the claim at the stated confidence, not
merely when the point estimate lands on the right side.
"""

from __future__ import annotations

from dataclasses import dataclass

import scipy.special

__all__ = ["Frequency", "frequency"]


@dataclass(frozen=True)
class Frequency:
    """Count of an event over seeded draws and the exact two-sided confidence interval of its probability."""

    successes: int
    draws: int
    low: float
    high: float
    confidence: float

    @property
    def estimate(self) -> float:
        """The observed frequency."""
        return self.successes / self.draws

    def __str__(self) -> str:
        pct = round(100 * self.confidence)
        return f"{self.successes}/{self.draws} = {self.estimate:.3g} ({pct}% CI [{self.low:.3g}, {self.high:.3g}])"


def frequency(successes: int, draws: int, *, confidence: float = 0.95) -> Frequency:
    r"""Clopper–Pearson interval for a binomial proportion.

    .. math::

        p_{\mathrm{low}} = B\big(\tfrac{\alpha}{2};\,k,\,n-k+1\big),\qquad
        p_{\mathrm{high}} = B\big(1-\tfrac{\alpha}{2};\,k+1,\,n-k\big),

    with :math:`B(q;a,b)` the quantile of the Beta distribution (the inverse regularized incomplete beta
    function, :func:`scipy.special.betaincinv`), :math:`\alpha=1-\text{confidence}`, and the bounds 0 at
    :math:`k=0` and 1 at :math:`k=n`.

    Raises
    ------
    ValueError
        If `draws` < 1, `successes` is outside ``[0, draws]``, or `confidence` is outside (0, 1).
    """
    if draws < 1:
        raise ValueError(f"draws: need at least one draw, got {draws}")
    if not 0 <= successes <= draws:
        raise ValueError(f"successes: must lie in [0, draws={draws}], got {successes}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence: must lie strictly between 0 and 1, got {confidence}")
    k, n, alpha = int(successes), int(draws), 1.0 - confidence
    low = 0.0 if k == 0 else float(scipy.special.betaincinv(k, n - k + 1, alpha / 2))
    high = 1.0 if k == n else float(scipy.special.betaincinv(k + 1, n - k, 1 - alpha / 2))
    return Frequency(k, n, low, high, confidence)
