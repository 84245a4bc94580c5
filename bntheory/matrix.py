"""The transfer matrix of THEORY-2.md §9.4: which BN results hold for LN, GN, IN, RMSNorm and WN, in which form.

A *family* is a BN result of bntheory (a row of §9.4: Ioffe's backprop structure, Santurkar's bounds, Kohler's
decoupling, Dangel's per-sample gradients, Daneshmand's rank, Nachum's outlier) together with the ids of the BN
results it transfers; a *normalization* is a column. Every cell names the registered result that states its exact
form (``transfer.t<k>_<norm>``) and §9.4's verdict on the transfer (``yes``, ``modified``: holds in a changed form,
``partly``, ``no``), or says why it does not apply. The BN column is the original results.

:func:`matrix` turns the reports of a run (or the statuses of a ``verify --json`` document) into a
:class:`Table`: each cell's status is ``passed``, ``failed``, ``provisional``, ``not reproduced``, ``n/a`` or
``not run`` (a cell whose results are not all in the run). Pure functions and frozen records: the CLI
(``bntheory matrix``), the JSON of ``verify`` and the HTML report present the same table.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "CELLS",
    "FAMILIES",
    "NORMS",
    "STATUSES",
    "Cell",
    "CellStatus",
    "Family",
    "Table",
    "cell",
    "matrix",
    "result_ids",
    "statuses_of",
]


@dataclass(frozen=True)
class Family:
    """A row of §9.4: a BN result family and the ids of the BN results it transfers."""

    key: str
    name: str
    section: str
    bn: tuple[str, ...]


@dataclass(frozen=True)
class Cell:
    """One cell: the result that states it (or None) and §9.4's verdict; `reason` when it does not apply."""

    result: str | None
    verdict: str
    reason: str = ""


@dataclass(frozen=True)
class CellStatus:
    """A cell's status in a run, with what decided it."""

    status: str
    verdict: str
    results: tuple[str, ...]
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: status, verdict, result ids and, for a cell that does not apply, the reason."""
        out: dict[str, Any] = {"status": self.status, "verdict": self.verdict, "results": list(self.results)}
        if self.reason:
            out["reason"] = self.reason
        return out


FAMILIES: tuple[Family, ...] = (
    Family("T1", "Ioffe backprop structure", "THEORY.md §1.2", ("ioffe2015.backprop",)),
    Family(
        "T2", "Santurkar Theorems 4.1, 4.2", "THEORY.md §2.4-§2.5", ("santurkar2018.thm4_1", "santurkar2018.thm4_2")
    ),
    Family("T3", "Kohler length-direction decoupling", "THEORY.md §3.2", ("kohler2019.decoupling",)),
    Family(
        "T4",
        "Dangel per-component gradients, GGN rank",
        "THEORY.md §6.1, §6.4",
        ("dangel2021.per_component", "dangel2021.ggn_rank"),
    ),
    Family(
        "T5",
        "Daneshmand rank / orthogonality",
        "THEORY.md §5",
        ("daneshmand2020.rank_collapse", "daneshmand2020.soft_rank_scaling", "daneshmand2021.orthogonality_gap"),
    ),
    Family("T6", "Nachum cluster + outlier", "THEORY.md §4", ("nachum2024.invariant", "nachum2024.emergence")),
)

#: The columns: BN (the original results) and the five normalizations of THEORY-2.md §9.1, by the ids' suffix.
NORMS: dict[str, str] = {
    "batch": "BN",
    "layer": "LN",
    "group": "GN",
    "instance": "IN",
    "rms": "RMSNorm",
    "weight": "WN",
}

#: Every status a cell can have, in the order in which a cell of several results takes the worst one.
STATUSES: tuple[str, ...] = ("failed", "not reproduced", "not run", "provisional", "passed", "n/a")

_VERDICTS = {
    # THEORY-2.md §9.4's table, cell by cell (family -> norm -> verdict).
    "T1": {"layer": "yes", "group": "yes", "instance": "yes", "rms": "modified", "weight": "modified"},
    "T2": {"layer": "yes", "group": "yes", "instance": "yes", "rms": "modified", "weight": "modified"},
    "T3": {"layer": "no", "group": "partly", "instance": "yes", "rms": "no", "weight": "yes"},
    "T4": {"layer": "yes", "group": "yes", "rms": "yes", "weight": "yes"},
    "T5": {"layer": "no", "group": "partly", "rms": "no", "weight": "no"},
    "T6": {"layer": "no", "group": "no"},
}
_NOT_APPLICABLE = {
    ("T4", "instance"): (
        "the network of the T4 cells is fully connected, where InstanceNorm is undefined (each group holds one "
        "value); with positions each sample is normalized alone, so the per-component and per-sample gradients "
        "coincide by construction (§9.4: [R], not run)"
    ),
    ("T5", "instance"): (
        "InstanceNorm of a fully connected chain is undefined (each group holds one value); with positions it is "
        "another network than Daneshmand's (§9.4: not run [R])"
    ),
    ("T6", "instance"): "InstanceNorm of a fully connected layer is undefined (each group holds one value)",
    ("T6", "rms"): "RMSNorm does not centre, and the configuration is about centring (§9.4: n/a)",
    ("T6", "weight"): "WeightNorm normalizes weights, not the batch's activations (§9.4: n/a)",
}


def _cells() -> dict[tuple[str, str], Cell]:
    cells = {}
    for family in FAMILIES:
        for norm in NORMS:
            if norm == "batch":
                cells[family.key, norm] = Cell(None, "original")
            elif (family.key, norm) in _NOT_APPLICABLE:
                cells[family.key, norm] = Cell(None, "n/a", _NOT_APPLICABLE[family.key, norm])
            else:
                verdict = _VERDICTS[family.key][norm]
                cells[family.key, norm] = Cell(f"transfer.{family.key.lower()}_{norm}", verdict)
    return cells


#: (family key, norm) -> its :class:`Cell`.
CELLS: dict[tuple[str, str], Cell] = _cells()


def cell(family: str, norm: str) -> Cell:
    """The cell of `family` (``"T1"`` to ``"T6"``) and `norm` (a key of :data:`NORMS`).

    Raises
    ------
    KeyError
        Naming the families and normalizations there are.
    """
    try:
        return CELLS[family, norm]
    except KeyError:
        raise KeyError(
            f"no cell ({family!r}, {norm!r}); families {[f.key for f in FAMILIES]}, normalizations {list(NORMS)}"
        ) from None


def _ids(family: Family, norm: str) -> tuple[str, ...]:
    c = CELLS[family.key, norm]
    return family.bn if norm == "batch" else ((c.result,) if c.result else ())


def result_ids() -> list[str]:
    """Every result id the matrix reads (the BN column and every applicable cell), in table order, no repeats."""
    ids: dict[str, None] = {}
    for family in FAMILIES:
        for norm in NORMS:
            ids.update(dict.fromkeys(_ids(family, norm)))
    return list(ids)


def statuses_of(reports: Iterable[Any] | Mapping[str, str]) -> dict[str, str]:
    """``{result id: status}`` from run reports, a ``verify --json`` document, or such a mapping itself.

    Run reports are :class:`~bntheory.run.ResultReport` objects.

    Raises
    ------
    TypeError
        If `reports` is none of these.
    ValueError
        If a JSON document has no ``"results"`` list, or one of its results lacks an id or a status.
    """
    if isinstance(reports, Mapping):
        if "results" not in reports:
            return {str(k): str(v) for k, v in reports.items()}
        results = reports["results"]
        if not isinstance(results, list):
            raise ValueError("reports: a verify --json document has a 'results' list")
        out = {}
        for r in results:
            if not isinstance(r, Mapping) or not isinstance(r.get("id"), str) or not isinstance(r.get("status"), str):
                raise ValueError(f"reports: every result of the document needs an 'id' and a 'status', got {r!r}")
            out[r["id"]] = r["status"]
        return out
    if isinstance(reports, str | bytes) or not isinstance(reports, Iterable):
        raise TypeError(f"reports: expected ResultReports, a verify --json document or a mapping, got {reports!r}")
    try:
        return {r.result.id: r.status for r in reports}
    except AttributeError:
        raise TypeError("reports: expected ResultReport objects (from bntheory.run.run)") from None


@dataclass(frozen=True)
class Table:
    """The matrix of a run: ``cells[norm][family]`` is a :class:`CellStatus`; rows normalizations, columns families."""

    cells: dict[str, dict[str, CellStatus]]

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (the ``"matrix"`` key of ``verify --json``)."""
        return {
            "families": [{"key": f.key, "name": f.name, "section": f.section, "bn": list(f.bn)} for f in FAMILIES],
            "normalizations": dict(NORMS),
            "cells": {n: {f: c.to_dict() for f, c in row.items()} for n, row in self.cells.items()},
        }

    def status(self, family: str, norm: str) -> str:
        """The status of one cell."""
        return self.cells[norm][family].status

    def format(self) -> str:
        """A plain-text table: normalizations down, families across, each cell ``verdict (status)``; a legend."""
        header = ["", *(f.key for f in FAMILIES)]
        rows = [[NORMS[n], *(_text(self.cells[n][f.key]) for f in FAMILIES)] for n in NORMS]
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in [header, *rows]]
        lines.insert(1, "  ".join("-" * w for w in widths))
        lines.append("")
        lines += [f"{f.key}: {f.name} ({f.section}; BN: {', '.join(f.bn)})" for f in FAMILIES]
        lines.append(
            "verdict (THEORY-2.md §9.4): yes = holds with the group for the batch, modified = holds in a changed "
            "form, partly, no = does not transfer (the cell's result states the finding); (status) = this run's"
        )
        return "\n".join(lines)


def _text(c: CellStatus) -> str:
    if c.status == "n/a":
        return "n/a"
    return f"{c.verdict} ({c.status})"


def matrix(reports: Iterable[Any] | Mapping[str, str]) -> Table:
    """The :class:`Table` of a run: each cell's status from the statuses of its results (:func:`statuses_of`).

    A cell of one result has that result's status; the BN column, of several, the worst (:data:`STATUSES` order);
    ``not run`` where a result is missing from the run; ``n/a`` where the cell does not apply.
    """
    statuses = statuses_of(reports)
    cells: dict[str, dict[str, CellStatus]] = {}
    for norm in NORMS:
        row = {}
        for family in FAMILIES:
            c, ids = CELLS[family.key, norm], _ids(family, norm)
            if not ids:
                row[family.key] = CellStatus("n/a", c.verdict, (), c.reason)
                continue
            found = [statuses.get(i, "not run") for i in ids]
            unknown = sorted(set(found) - set(STATUSES))
            if unknown:
                raise ValueError(f"reports: unknown status(es) {unknown} for {ids}; expected one of {STATUSES}")
            row[family.key] = CellStatus(min(found, key=STATUSES.index), c.verdict, ids)
        cells[norm] = row
    return Table(cells)
