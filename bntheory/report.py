"""Turning a verify run into a table for the terminal and a JSON document."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence

from bntheory.registry import CheckReport, Result, ResultReport

__all__ = ["format_table", "markdown_table", "summary", "to_json"]


def to_json(reports: Sequence[ResultReport], *, version: str, backend: str, seed: int, size: str) -> str:
    """The JSON document of a run (schema in the README, section "verify --json")."""
    doc = {
        "bntheory": version,
        "backend": backend,
        "seed": seed,
        "size": size,
        "quick": size == "quick",
        "passed": all(r.status != "failed" for r in reports),
        "results": [_result(r) for r in reports],
    }
    return json.dumps(doc, indent=2, allow_nan=False) + "\n"


def _result(r: ResultReport) -> dict:
    res = r.result
    control = None
    if r.control is not None:
        control = {
            "description": r.control.description,
            "rejected": r.control.rejected,
            "skipped": r.control.skipped,
            **_measure(r.control.outcome),
            "seconds": round(r.control.seconds, 4),
            "detail": r.control.detail,
        }
    return {
        "id": res.id,
        "title": res.title,
        "citation": res.citation,
        "tag": res.tag,
        "statement": res.statement,
        "assumptions": list(res.assumptions),
        "notes": res.notes,
        "proof": res.proof or None,
        "status": r.status,
        "passed": r.status == "passed",
        "checks": [_check(c) for c in r.checks],
        "negative_control": control,
        **({"not_reproduced": res.not_reproduced} if res.not_reproduced else {}),
    }


def _check(c: CheckReport) -> dict:
    return {
        "kind": c.kind,
        "name": c.name,
        "status": c.status,
        "passed": c.passed,
        **_measure(c.outcome),
        "seconds": round(c.seconds, 4),
        "detail": c.detail,
    }


def _measure(outcome) -> dict:
    if outcome is None:
        return {"measured": None, "bound": None, "relation": None}
    return {"measured": _finite(outcome.measured), "bound": _finite(outcome.bound), "relation": outcome.relation}


def _finite(value: float) -> float | str:
    # JSON has no inf/nan; keep them readable rather than failing the write.
    return value if math.isfinite(value) else str(value)


def format_table(reports: Sequence[ResultReport]) -> str:
    """A plain-text table: one row per check and per negative control, gating results first."""
    header = ("id", "check", "measured", "bound", "pass", "s")
    rows: list[tuple[str, ...]] = []
    groups = [
        ("", [r for r in reports if r.gates]),
        ("provisional ([R] statements, not gating)", [r for r in reports if r.status == "provisional"]),
        ("not reproduced (listed apart, not failures)", [r for r in reports if r.status == "not reproduced"]),
    ]
    for title, group in groups:
        if not group:
            continue
        if title:
            rows.append((f"-- {title}", "", "", "", "", ""))
        for r in group:
            for c in r.checks:
                verdict = {"passed": "yes", "failed": "NO", "skipped": "skip"}[c.status]
                rows.append((r.result.id, f"[{c.kind[:3]}] {c.name}", *_cells(c.outcome), verdict, f"{c.seconds:.2f}"))
                if c.status != "passed" and c.detail and c.outcome is None:
                    rows.append(("", f"    {c.detail}", "", "", "", ""))
            if r.control is not None:
                k = r.control
                verdict = "skip" if k.skipped else ("rejected" if k.rejected else "NOT REJECTED")
                rows.append((r.result.id, f"[ctl] {k.description}", *_cells(k.outcome), verdict, f"{k.seconds:.2f}"))
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    widths[1] = min(widths[1], 78)
    lines = [_line(header, widths), _line(tuple("-" * w for w in widths), widths)]
    lines += [_line(row, widths) for row in rows]
    return "\n".join(lines)


def _cells(outcome) -> tuple[str, str]:
    if outcome is None:
        return "-", "-"
    return _num(outcome.measured), f"{outcome.relation} {_num(outcome.bound)}"


def _num(value: float) -> str:
    if isinstance(value, int) or (math.isfinite(value) and value == int(value) and abs(value) < 1e6):
        return str(int(value))
    if abs(value - 1) < 1e-3:
        # Worst-case ratios of tight inequalities: show how close to 1 they are.
        return f"{value:.13g}"
    return f"{value:.3g}"


def _line(row: tuple[str, ...], widths: list[int]) -> str:
    cells = [cell if len(cell) <= w else cell[: w - 1] + "…" for cell, w in zip(row, widths, strict=True)]
    return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()


def markdown_table(results: Sequence[Result]) -> str:
    """The README's table of registered results, generated from the registry."""
    lines = ["| id | tag | result | citation |", "| --- | --- | --- | --- |"]
    lines += [f"| `{r.id}` | {r.tag} | {r.title} | {r.citation} |" for r in results]
    return "\n".join(lines)


def summary(reports: Sequence[ResultReport]) -> str:
    """One line: counts by status and whether the run passed."""
    counts = {s: sum(r.status == s for r in reports) for s in ("passed", "failed", "provisional", "not reproduced")}
    skipped = sum(c.status == "skipped" for r in reports for c in r.checks)
    parts = [f"{n} {s}" for s, n in counts.items() if n or s in ("passed", "failed")]
    if skipped:
        parts.append(f"{skipped} check(s) skipped")
    return ", ".join(parts)
