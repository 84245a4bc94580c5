r"""BN in the libraries researchers use: what each computes, measured by running it (THEORY-2.md §11).

The submodules run the real libraries, each imported only when a check calls it:

* :mod:`~bntheory.libraries.torch_ad`: Hessians through PyTorch's native training-mode normalization kernels on
  each ``torch.func`` path, and the independent second-order references (§11.1);
* :mod:`~bntheory.libraries.keras_bn`: Keras 3 ``BatchNormalization``: moving statistics over training calls,
  outputs, the float64 layer's precision, the batch variance at large means on each backend (§11.4);
* :mod:`~bntheory.libraries.toolkits`: curvlinops, BackPACK and PyHessian on the small training-mode BN network
  (§11.2, §11.3).

This module holds what the report needs to list these results apart ("BN in libraries"): for each registered
result that runs a library, the library, its distribution (whose installed version the row shows) and a minimal
reproducing case small enough to paste in a bug report (:func:`declare`, :func:`rows`). The verdict of a row is
the verdict of one claim check (:meth:`bntheory.registry.Result.claim`): ``conforms`` when it passed, ``deviates``
when the library's value missed the reference while the reference itself was verified (the result is then *not
reproduced*: a finding about that library version, never a failure of the run).
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["EXTRA", "Conformance", "declare", "declared", "rows", "version"]

#: The optional extra that installs every library these results run (pyproject.toml).
EXTRA = "pip install 'bntheory[libraries]'"


@dataclass(frozen=True)
class Conformance:
    """What a conformance result runs, for its rows in the "BN in libraries" table.

    Attributes
    ----------
    library : str
        The library as users name it (``"PyTorch"``, ``"Keras 3"``).
    distribution : str
        Its distribution on PyPI, whose installed version the row reports (``"torch"``, ``"keras"``).
    repro : str
        A minimal reproducing case: a short self-contained script printing the deviation.
    """

    library: str
    distribution: str
    repro: str


_DECLARED: dict[str, Conformance] = {}


def declare(result_id: str, *, library: str, distribution: str, repro: str) -> Conformance:
    """Record that result `result_id` checks `library`; returns the record.

    Raises
    ------
    ValueError
        If `result_id` was declared before with other fields, or a field is empty.
    """
    if not all(isinstance(v, str) and v.strip() for v in (result_id, library, distribution, repro)):
        raise ValueError("result_id, library, distribution, repro: give non-empty strings")
    record = Conformance(library, distribution, repro.strip("\n"))
    known = _DECLARED.setdefault(result_id, record)
    if known != record:
        raise ValueError(f"{result_id}: already declared as checking {known.library}; declare it once")
    return known


def declared(result_id: str) -> Conformance | None:
    """The declaration of `result_id`, or None for a result that runs no third-party library."""
    return _DECLARED.get(result_id)


def version(distribution: str) -> str:
    """The installed version of `distribution`, or ``"not installed"``."""
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def rows(reports: Sequence[Any]) -> list[dict]:
    """One row per claim check of every declared result in `reports` (:class:`bntheory.run.ResultReport`).

    Each row: ``result``, ``library``, ``version``, ``checked`` (the claim), ``verdict`` (``conforms``,
    ``deviates``, ``skipped`` or ``unverified``: the claim failed but so did the reference, so nothing is known
    about the library), ``error`` (the measured figure, None when skipped), ``bound``, ``detail`` and, for a
    deviation, ``repro`` (the minimal reproducing case).
    """
    out = []
    for rep in reports:
        record = declared(rep.result.id)
        if record is None:
            continue
        for check in rep.checks:
            if not check.claim:
                continue
            if check.status == "skipped":
                verdict = "skipped"
            elif check.passed:
                verdict = "conforms"
            else:
                verdict = "deviates" if rep.machinery_holds else "unverified"
            outcome = check.outcome
            out.append(
                {
                    "result": rep.result.id,
                    "library": record.library,
                    "version": version(record.distribution),
                    "checked": check.name,
                    "verdict": verdict,
                    "error": None if outcome is None else outcome.measured,
                    "bound": None if outcome is None else outcome.bound_text,
                    "detail": check.detail,
                    **({"repro": record.repro} if verdict == "deviates" else {}),
                }
            )
    return out
