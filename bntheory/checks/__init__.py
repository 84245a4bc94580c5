"""The check kit: what every result's checks and negative controls are built from, public for your own claims.

Comparisons (:mod:`~bntheory.checks.compare`)
    :class:`Outcome` (its verdict follows from its numbers; NaN or inf never passes), :func:`at_most`,
    :func:`at_least`, :func:`within`, :func:`exact`, the NaN-keeping maxima :class:`Worst` and :func:`worst`,
    :func:`max_relative_error`, :func:`unless_nonfinite`.
Inequalities (:mod:`~bntheory.checks.inequality`)
    :class:`Inequality` over named parameter :class:`Params` blocks (:func:`batch`, :func:`vector`,
    :func:`matrix`, :func:`scalar`, :func:`nonneg`), evaluated a batch of instances at a time, attacked by
    :func:`attack` / :func:`attack_family` (a million random draws, adversarial starts, differential-evolution
    climbs, mpmath refinement) and judged by :func:`verdict`.
Rates (:mod:`~bntheory.checks.rates`)
    :func:`fit_rate` (log-linear fit with a confidence interval), :class:`Trajectory`, :func:`rate_check`,
    :func:`faster_rate_violated` (the sharp control: a rate faster than the bound), :func:`fit_exponent` (the
    power-law exponent of a quantile over seeded runs, with a bootstrap interval).
Frequencies (:mod:`~bntheory.checks.frequency`)
    :func:`frequency` of an event over seeded draws with its Clopper-Pearson interval.
Intervals (:mod:`~bntheory.checks.intervals`)
    :func:`batch_means` (the mean of an autocorrelated signal over independent chains, with its t-interval),
    :func:`farthest_deviation` (a prediction against the far end of an interval).
Tolerances (:mod:`~bntheory.checks.tolerances`)
    Every tolerance with its justification.

Oracles independent of the library (mpmath, exact rationals, PyTorch, SciPy) are in
:mod:`bntheory.checks.oracles`; instance generators in :mod:`bntheory.checks.instances`.
"""

import importlib

#: Public name -> the kit module that defines it. Imported on first use (PEP 562), so that importing one piece
#: (the registry imports :mod:`~bntheory.checks.compare`) does not import SciPy's optimizers with the rest.
_HOME = {
    **dict.fromkeys(("Outcome", "Worst", "at_least", "at_most", "exact", "max_relative_error"), "compare"),
    **dict.fromkeys(("unless_nonfinite", "within", "worst"), "compare"),
    **dict.fromkeys(("Frequency", "frequency"), "frequency"),
    **dict.fromkeys(("Interval", "batch_means", "farthest_deviation"), "intervals"),
    **dict.fromkeys(
        ("Attack", "Block", "Inequality", "Params", "attack", "attack_family", "batch", "matrix", "nonneg"),
        "inequality",
    ),
    **dict.fromkeys(("scalar", "vector", "verdict"), "inequality"),
    **dict.fromkeys(("ExponentFit", "RateFit", "Trajectory", "faster_rate_violated", "fit_exponent"), "rates"),
    **dict.fromkeys(("fit_rate", "rate_check"), "rates"),
}

__all__ = sorted([*_HOME, "tolerances"])


def __getattr__(name: str):
    if name == "tolerances":
        return importlib.import_module(f"{__name__}.tolerances")
    if name in _HOME:
        return getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
