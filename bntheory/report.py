"""Turning a verify run into a table for the terminal, a JSON document and a self-contained HTML report."""

from __future__ import annotations

import base64
import html
import json
import math
from collections import Counter
from collections.abc import Sequence

from latex2mathml.converter import convert as latex_to_mathml

from bntheory import libraries, matrix
from bntheory.registry import Result, origin_of
from bntheory.run import CheckReport, ResultReport

__all__ = ["format_table", "markdown_table", "matrix_html", "ratio_panels", "summary", "to_html", "to_json"]


def to_json(
    reports: Sequence[ResultReport], *, version: str, backend: str, seed: int, size: str, incomplete: str = ""
) -> str:
    """The JSON document of a run (schema in the README, section "verify --json").

    `incomplete` says why a run ended early (Ctrl-C, a dead worker); its document then holds the results
    finished so far, ``"incomplete"`` says why, and ``"passed"`` is false. ``"matrix"`` is the transfer matrix of
    the run (:meth:`bntheory.matrix.Table.to_dict`; cells whose results did not run say ``"not run"``).
    """
    doc = {
        "bntheory": version,
        "backend": backend,
        "seed": seed,
        "size": size,
        "quick": size == "quick",
        "passed": not incomplete and all(r.status != "failed" for r in reports),
        **({"incomplete": incomplete} if incomplete else {}),
        "results": [_result(r) for r in reports],
        "matrix": matrix.matrix(reports).to_dict(),
        "libraries": _library_rows(reports),
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
            "ran_on": r.control.ran_on,
        }
    return {
        "id": res.id,
        "title": res.title,
        "citation": res.citation,
        "origin": origin_of(res),
        "tag": res.tag,
        "statement": res.statement,
        "assumptions": list(res.assumptions),
        "notes": res.notes,
        "proof": res.proof or None,
        "status": r.status,
        "passed": r.status == "passed",
        "checks": [_check(c) for c in r.checks],
        "negative_control": control,
        **({"not_reproduced": r.evidence} if r.evidence else {}),
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
        "ran_on": c.ran_on,
        "claim": c.claim,
    }


def _measure(outcome) -> dict:
    if outcome is None:
        return {"measured": None, "bound": None, "relation": None}
    low = {} if outcome.low is None else {"low": _finite(outcome.low)}
    return {
        "measured": _finite(outcome.measured),
        "bound": _finite(outcome.bound),
        **low,
        "relation": outcome.relation,
        "valid": outcome.valid,
    }


def _finite(value: float) -> float | str:
    # JSON has no inf/nan; keep them readable rather than failing the write.
    return value if math.isfinite(value) else str(value)


def format_table(reports: Sequence[ResultReport]) -> str:
    """A plain-text table: one row per check and per negative control, gating results first."""
    header = ("id", "check", "measured", "bound", "pass", "on", "s")
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
            rows.append((f"-- {title}", "", "", "", "", "", ""))
        for r in group:
            for c in r.checks:
                verdict = {"passed": "yes", "failed": "NO", "skipped": "skip"}[c.status]
                label = f"[{_label(c)}] {c.name}"
                rows.append((r.result.id, label, *_cells(c.outcome), verdict, c.ran_on, f"{c.seconds:.2f}"))
                if c.status != "passed" and c.detail and c.outcome is None:
                    rows.append(("", f"    {c.detail}", "", "", "", "", ""))
            if r.control is not None:
                k = r.control
                verdict = "skip" if k.skipped else ("rejected" if k.rejected else "NOT REJECTED")
                rows.append(
                    (r.result.id, f"[ctl] {k.description}", *_cells(k.outcome), verdict, k.ran_on, f"{k.seconds:.2f}")
                )
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    widths[1] = min(widths[1], 78)
    lines = [_line(header, widths), _line(tuple("-" * w for w in widths), widths)]
    lines += [_line(row, widths) for row in rows]
    return "\n".join(lines) + libraries_section(reports)


def _label(c: CheckReport) -> str:
    """``sym``, ``num``, or ``clm`` for the check that measures a published claim."""
    return "clm" if c.claim else c.kind[:3]


def _cells(outcome) -> tuple[str, str]:
    if outcome is None:
        return "-", "-"
    if outcome.relation == "in":
        return _num(outcome.measured), f"in [{_num(outcome.low)}, {_num(outcome.bound)}]"
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
    # Where the passing numeric checks ran: a host check is never counted as a pass on the backend.
    where = Counter(c.ran_on for r in reports for c in r.checks if c.kind == "numeric" and c.passed)
    if where:
        parts.append("numeric checks passed on " + ", ".join(f"{b}: {n}" for b, n in sorted(where.items())))
    return ", ".join(parts)


_STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1200px;color:#222;padding:0 1em}
table{border-collapse:collapse;width:100%;font-size:13px}th,td{border-bottom:1px solid #ddd;padding:4px 6px;
text-align:left;vertical-align:top}th{background:#f4f4f4;position:sticky;top:0}.passed{color:#126b12}
.failed{color:#b00020;font-weight:bold}.provisional{color:#7a5a00}.notrep{color:#5a3e99}
code{font-size:12px;white-space:pre-wrap}figure{margin:1em 0}img{max-width:100%;border:1px solid #eee}
.badges span{display:inline-block;margin-right:.6em;padding:.2em .7em;border-radius:1em;background:#f4f4f4}
.statement{margin:.4em 0 .8em;padding:.5em .8em;background:#fafafa;border-left:3px solid #ccd;overflow-x:auto}
math{font-size:1.15em}td.num{font-variant-numeric:tabular-nums;white-space:nowrap}
section.result{border-top:1px solid #eee;padding-top:.3em}
table.matrix td,table.matrix th{text-align:center;border:1px solid #fff}table.matrix td.m-passed{background:#d9f2d9}
table.matrix td.m-failed{background:#f8d0d6;font-weight:bold}table.matrix td.m-notrep{background:#e6dcf5}
table.matrix td.m-provisional{background:#fbefc8}table.matrix td.m-notrun{background:#eee;color:#777}
table.matrix td.m-na{background:#fafafa;color:#999}table.matrix td.m-na small{display:block}
"""

_CSS_CLASS = {"passed": "passed", "failed": "failed", "provisional": "provisional", "not reproduced": "notrep"}


def ratio_panels(reports: Sequence[ResultReport]) -> list[tuple[str, tuple[float, ...], float, float]]:
    """The ``(title, samples, worst, bound)`` of every check and control whose outcome carries samples.

    Input of :func:`bntheory.plots.ratio_histograms`: the worst-case searches of the run.
    """
    panels = []
    for r in reports:
        outcomes = [(c.name, c.outcome) for c in r.checks]
        if r.control is not None:
            outcomes.append(("control: " + r.control.description, r.control.outcome))
        for name, outcome in outcomes:
            if outcome is not None and outcome.samples:
                title = f"{r.result.id}\n{name[:48]}{'…' if len(name) > 48 else ''}"
                panels.append((title, outcome.samples, outcome.measured, outcome.bound))
    return panels


_MATRIX_CLASS = {
    "passed": "m-passed",
    "failed": "m-failed",
    "not reproduced": "m-notrep",
    "provisional": "m-provisional",
    "not run": "m-notrun",
    "n/a": "m-na",
}


def matrix_html(reports: Sequence[ResultReport]) -> str:
    """The transfer matrix of the run as an HTML table (:mod:`bntheory.matrix`), cells coloured by status.

    Each cell shows §9.4's verdict and the status, links to its results' statements when they ran, and carries the
    reason as a tooltip where the cell does not apply. Empty when none of the matrix's results ran.
    """
    esc = html.escape
    table = matrix.matrix(reports)
    ran = {r.result.id for r in reports}
    if not ran & set(matrix.result_ids()):
        return ""
    head = "".join(
        f'<th title="{esc(f.name)} ({esc(f.section)})">{esc(f.key)}<br><small>{esc(f.name)}</small></th>'
        for f in matrix.FAMILIES
    )
    rows = []
    for norm, label in matrix.NORMS.items():
        cells = []
        for f in matrix.FAMILIES:
            c = table.cells[norm][f.key]
            links = " ".join(f'<a href="#{esc(i)}">{esc(i)}</a>' for i in c.results if i in ran)
            text = "n/a" if c.status == "n/a" else f"{esc(c.verdict)}<br><b>{esc(c.status)}</b>"
            title = f' title="{esc(c.reason)}"' if c.reason else ""
            links = f"<br><small>{links}</small>" if links else ""
            cells.append(f'<td class="{_MATRIX_CLASS[c.status]}"{title}>{text}{links}</td>')
        rows.append(f"<tr><th>{esc(label)}</th>{''.join(cells)}</tr>")
    return (
        "<h2>Transfer matrix</h2><p>THEORY-2.md §9.4: which BN results hold for the other normalizations, with the "
        "group for the batch. Verdict: yes, modified (a changed form), partly, no (the cell's result states the "
        'finding); below it this run\'s status.</p><table class="matrix" id="matrix"><thead><tr><th></th>'
        f"{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def math_html(latex: str) -> str:
    """A statement's LaTeX as MathML (rendered by the browser itself: no script, works offline).

    Falls back to the escaped LaTeX source in a ``<code>`` block if the converter rejects it.
    """
    try:
        return latex_to_mathml(latex, display="block")
    except Exception:  # latex2mathml raises assorted exceptions on syntax it does not know
        return f"<code>{html.escape(latex)}</code>"


def to_html(
    reports: Sequence[ResultReport],
    figures: dict[str, bytes],
    *,
    version: str,
    backend: str,
    seed: int,
    size: str,
    seconds: float,
) -> str:
    """A self-contained HTML report: summary, the check table, the figures (embedded PNG) and every statement.

    Statements are MathML (:func:`math_html`); nothing is loaded from the network and no script runs, so
    the file opens offline in any current browser. Results that are ``not reproduced`` are listed apart.
    """
    esc = html.escape
    rows = []
    for r in reports:
        css = _CSS_CLASS[r.status]
        entries = [(f"[{_label(c)}] {c.name}", c.outcome, c.status, c.ran_on, c.seconds) for c in r.checks]
        if r.control is not None:
            k = r.control
            verdict = "skipped" if k.skipped else ("rejected" if k.rejected else "NOT REJECTED")
            entries.append((f"[control] {k.description}", k.outcome, verdict, k.ran_on, k.seconds))
        for k, (name, outcome, verdict, ran_on, secs) in enumerate(entries):
            measured, bound = _cells(outcome)
            first = (
                f'<td rowspan="{len(entries)}"><a href="#{esc(r.result.id)}">{esc(r.result.id)}</a><br>'
                f'<span class="{css}">{esc(r.status)}</span></td>'
            )
            rows.append(
                f"<tr>{first if k == 0 else ''}<td>{esc(name)}</td><td class=num>{esc(measured)}</td>"
                f"<td class=num>{esc(bound)}</td><td>{esc(verdict)}</td><td>{esc(ran_on)}</td>"
                f"<td class=num>{secs:.2f}</td></tr>"
            )
    counts = Counter(r.status for r in reports)
    badges = "".join(f'<span class="{_CSS_CLASS[k]}">{counts[k]} {esc(k)}</span>' for k in _CSS_CLASS if counts.get(k))
    apart = [r for r in reports if r.status == "not reproduced"]
    not_reproduced = "".join(
        f'<li><a href="#{esc(r.result.id)}">{esc(r.result.id)}</a> ({esc(r.result.citation)}): {esc(r.evidence)}</li>'
        for r in apart
    )
    statements = "".join(_statement_html(r) for r in reports)
    images = "".join(
        f'<figure><img alt="{esc(name)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'
        f"<figcaption>{esc(name)}</figcaption></figure>"
        for name, png in figures.items()
    )
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>bntheory report</title>'
        f'<meta name="viewport" content="width=device-width"><style>{_STYLE}</style></head><body>'
        f"<h1>bntheory verification report</h1>"
        f'<p class="badges">{badges}</p>'
        f"<p>{esc(summary(reports))} in {seconds:.1f} s — bntheory {esc(version)}, backend {esc(backend)}, "
        f"seed {seed}, size {esc(size)}. A result passes when every check passed and its negative control "
        f"was rejected; provisional results (statements recalled, not confirmed) are run but do not gate.</p>"
        f'<h2>Checks</h2><table id="checks"><thead><tr><th>result</th><th>check</th><th>measured</th>'
        f"<th>bound</th><th>verdict</th><th>ran on</th><th>s</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
        + (f'<h2>Not reproduced</h2><ul id="not-reproduced">{not_reproduced}</ul>' if apart else "")
        + matrix_html(reports)
        + _libraries_html(reports)
        + f'<h2>Figures</h2><div id="figures">{images or "<p>No figures for the selected results.</p>"}</div>'
        f'<h2>Statements</h2><div id="statements">{statements}</div></body></html>\n'
    )


def _statement_html(r: ResultReport) -> str:
    esc = html.escape
    res = r.result
    assumptions = "".join(f"<li>{esc(a)}</li>" for a in res.assumptions)
    return (
        f'<section class="result" id="{esc(res.id)}"><h3>{esc(res.id)}: {esc(res.title)}</h3>'
        f'<p>{esc(res.citation)} — tag [{res.tag}], status <b class="{_CSS_CLASS[r.status]}">{esc(r.status)}</b>'
        + (f", proof <code>proofs/{esc(res.proof)}</code>" if res.proof else "")
        + (f", from <code>{esc(origin)}</code>" if (origin := origin_of(res)) not in ("", "bntheory") else "")
        + f'</p><div class="statement">{math_html(res.statement)}</div>'
        + (f"<p><i>Assumptions:</i></p><ul>{assumptions}</ul>" if assumptions else "")
        + (f"<p><i>Notes:</i> {esc(res.notes)}</p>" if res.notes else "")
        + (f"<p><i>Not reproduced:</i> {esc(r.evidence)}</p>" if r.evidence else "")
        + "</section>"
    )


def _library_rows(reports: Sequence[ResultReport]) -> list[dict]:
    """The "BN in libraries" rows (:func:`bntheory.libraries.rows`) with JSON-safe numbers."""
    return [
        {**row, "error": None if row["error"] is None else _finite(row["error"])} for row in libraries.rows(reports)
    ]


def libraries_section(reports: Sequence[ResultReport]) -> str:
    """The printed "BN in libraries" table and the minimal reproducing case of each deviation ("" if none ran).

    One row per claim check of a result that runs a third-party library (THEORY-2.md §11): library, version,
    what was checked, verdict, error. A deviation is a finding about that library version, not a failure.
    """
    found = libraries.rows(reports)
    if not found:
        return ""
    header = ("library", "version", "checked", "verdict", "error")
    rows = [
        (r["library"], r["version"], r["checked"], r["verdict"], "-" if r["error"] is None else _num(r["error"]))
        for r in found
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    widths[2] = min(widths[2], 78)
    lines = ["", "", "BN in libraries (findings about library versions; a deviation is not a failure of the run)"]
    lines += [_line(header, widths), _line(tuple("-" * w for w in widths), widths)]
    lines += [_line(row, widths) for row in rows]
    deviating = {r["result"]: r for r in found if r["verdict"] == "deviates"}  # one case per result
    for r in deviating.values():
        lines += ["", f"minimal reproducing case, {r['result']} ({r['library']} {r['version']}):", r["repro"]]
    return "\n".join(lines)


def _libraries_html(reports: Sequence[ResultReport]) -> str:
    esc = html.escape
    found = libraries.rows(reports)
    if not found:
        return ""
    body = "".join(
        f"<tr><td>{esc(r['library'])}</td><td>{esc(r['version'])}</td><td>{esc(r['checked'])}</td>"
        f"<td class={'notrep' if r['verdict'] == 'deviates' else 'passed'}>{esc(r['verdict'])}</td>"
        f"<td class=num>{esc('-' if r['error'] is None else _num(r['error']))}</td>"
        f"<td>{esc(r['detail'])}</td></tr>"
        for r in found
    )
    deviating = {r["result"]: r for r in found if r["verdict"] == "deviates"}  # one case per result
    repros = "".join(
        f"<figure><figcaption>{esc(r['result'])} ({esc(r['library'])} {esc(r['version'])})</figcaption>"
        f"<pre><code>{esc(r['repro'])}</code></pre></figure>"
        for r in deviating.values()
    )
    return (
        "<h2>BN in libraries</h2><p>What each library version computes against the theory; a deviation is a "
        'finding about that version, never a failure of the run.</p><table id="libraries"><thead><tr>'
        "<th>library</th><th>version</th><th>checked</th><th>verdict</th><th>error</th><th>detail</th></tr>"
        f"</thead><tbody>{body}</tbody></table>" + (f"<h3>Minimal reproducing cases</h3>{repros}" if repros else "")
    )
