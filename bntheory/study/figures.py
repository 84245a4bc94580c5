r"""The study's summary: median curves with quantile bands, fitted rates against bounds, a performance profile.

* :func:`curves_figure`: per problem point, each method's :math:`e_t/e_0` (the theorem's measure, or the cell's
  first defined gap): the median over repetitions and the 10%-90% band, with the bound :math:`q^t` dashed where a
  rate is claimed. A step is drawn only while every repetition is above its rounding floor (``floor * scale``, the
  verdicts' floor; THEORY.md §8): past it the curve stops instead of flattening on a fixed epsilon.
* :func:`rates_figure`: each claimed cell's fitted :math:`\hat q` with its 95% interval against the bound :math:`q`
  (exponent 1); on or below the diagonal is a rate at least as fast as claimed.
* :func:`profile_figure`: the Dolan-Moré performance profile of the methods over the problem points, on the time to
  the study's target: the fraction of problems a method solves within a factor :math:`\tau` of the fastest.

:func:`summary_html` puts them and the verdicts on one self-contained page (images inline, no script).
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

from bntheory.checks.tolerances import RATE_FLOOR
from bntheory.study.table import Table
from bntheory.study.verdicts import Verdict

__all__ = ["curves_figure", "profile_figure", "rates_figure", "summary_html"]

#: Panels drawn at most: a study of hundreds of problem points is read from its table, not from a wall of panels.
MAX_PANELS = 24


def _series(table: Table) -> dict[tuple[str, str], dict[str, list[np.ndarray]]]:
    """(problem, problem_params) -> method label -> per-repetition e_t / e_0 above the floor (NaN past it)."""
    runs: dict[tuple[str, str, str, int], list[dict]] = {}
    for row in table.rows():
        if not row["error_message"]:
            label = f"{row['method']} {_short(row['method_params'])}".strip()
            runs.setdefault((row["problem"], row["problem_params"], label, row["repetition"]), []).append(row)
    out: dict[tuple[str, str], dict[str, list[np.ndarray]]] = {}
    for (problem, params, label, _), rows in sorted(runs.items()):
        rows.sort(key=lambda r: r["iteration"])
        e = np.array([r["error"] for r in rows], dtype=np.float64)
        scale = rows[0]["scale"] if np.isfinite(rows[0]["scale"]) else abs(e[0])
        if e.size == 0 or not e[0] > 0:
            continue
        above = np.isfinite(e) & (e > RATE_FLOOR.value * scale)
        stop = int(np.argmin(above)) if not above.all() else e.size
        ratio = np.full(e.size, np.nan)
        ratio[:stop] = e[:stop] / e[0]
        out.setdefault((problem, params), {}).setdefault(label, []).append(ratio)
    return out


def _short(params: str) -> str:
    return " ".join(
        f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in json.loads(params).items() if v is not None
    )


def curves_figure(table: Table) -> Figure:
    """Median :math:`e_t/e_0` with its 10%-90% band per method, one panel per problem point (module docstring)."""
    series = _series(table)
    q = {}
    for row in table.rows():
        if row["theorem"] and row["iteration"] == 0:
            q.setdefault((row["problem"], row["problem_params"]), []).append(row["q"])
    keys = list(series)[:MAX_PANELS]
    cols = min(3, max(len(keys), 1))
    rows = max(1, -(-len(keys) // cols))
    fig = Figure(figsize=(4.6 * cols, 3.2 * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax, key in zip(axes, keys, strict=False):
        longest = 0
        for i, (label, reps) in enumerate(sorted(series[key].items())):
            n = max(r.size for r in reps)
            longest = max(longest, n)
            stack = np.full((len(reps), n), np.nan)
            for j, r in enumerate(reps):
                stack[j, : r.size] = r
            whole = np.all(np.isfinite(stack), axis=0)  # drawn only where every repetition is above its floor
            t = np.arange(n)[whole]
            if t.size == 0:
                continue
            color = f"C{i % 10}"
            ax.semilogy(t, np.median(stack[:, whole], axis=0), color=color, lw=1.2, label=label)
            if len(reps) > 1:
                low, high = np.quantile(stack[:, whole], [0.1, 0.9], axis=0)
                ax.fill_between(t, low, high, color=color, alpha=0.2, lw=0)
        if key in q:
            t = np.arange(longest)
            ax.semilogy(t, float(np.median(q[key])) ** t, color="k", ls="--", lw=0.8, label="bound q^t (median q)")
        ax.set_title(f"{key[0]} {_short(key[1])}", fontsize=8)
        ax.set_xlabel("iteration", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=6)
    for ax in axes[len(keys) :]:
        ax.set_visible(False)
    more = f" (first {MAX_PANELS} of {len(series)} problem points)" if len(series) > MAX_PANELS else ""
    fig.suptitle(f"e_t / e_0: median and 10-90% band over repetitions{more}", fontsize=10)
    return fig


def rates_figure(found: Sequence[Verdict]) -> Figure:
    """Fitted rate with its 95% interval against the claimed bound, exponent 1 (module docstring)."""
    fig = Figure(figsize=(4.6, 4.2), layout="constrained")
    ax = fig.subplots()
    claimed = [v for v in found if v.exponent == 1.0 and v.fit is not None and np.isfinite(v.q)]
    for status, color in (("passed", "tab:green"), ("failed", "tab:red")):
        pts = [v for v in claimed if v.status == status]
        if pts:
            x = np.array([v.q for v in pts])
            y = np.array([v.fit.q for v in pts])
            err = np.array([[v.fit.q - v.fit.low for v in pts], [v.fit.high - v.fit.q for v in pts]])
            ax.errorbar(x, y, yerr=err, fmt="o", ms=3, color=color, lw=0.8, label=f"{status} ({len(pts)})")
    lo = min([v.fit.low for v in claimed] + [v.q for v in claimed], default=0.0)
    ax.plot([lo, 1], [lo, 1], color="k", ls="--", lw=0.8, label="fitted = bound")
    ax.set_xlabel("bound q (from the cell's own matrices)", fontsize=8)
    ax.set_ylabel("fitted q, slowest repetition, 95% CI", fontsize=8)
    ax.legend(fontsize=7)
    ax.set_title("fitted linear rates against their bounds", fontsize=9)
    return fig


def profile_figure(found: Sequence[Verdict]) -> Figure:
    """Dolan-Moré performance profile on the time to target across problem points (module docstring)."""
    times: dict[str, dict[str, float]] = {}
    for v in found:
        if v.exponent == found[0].exponent:
            method = f"{v.method} {_short(v.method_params)}".strip()
            times.setdefault(f"{v.problem} {v.problem_params}", {})[method] = v.seconds
    methods = sorted({m for per in times.values() for m in per})
    fig = Figure(figsize=(5.2, 3.6), layout="constrained")
    ax = fig.subplots()
    ratios = {m: [] for m in methods}
    for per in times.values():
        best = min((t for t in per.values() if np.isfinite(t)), default=np.nan)
        for m in methods:
            t = per.get(m, np.nan)
            ratios[m].append(t / best if np.isfinite(t) and np.isfinite(best) and best > 0 else np.inf)
    finite = [r for rs in ratios.values() for r in rs if np.isfinite(r)]
    tau = np.geomspace(1, max(max(finite, default=1.0), 1.0) * 2, 200)
    for m in methods:
        r = np.array(ratios[m])
        ax.step(tau, [(r <= x).mean() for x in tau], where="post", label=m, lw=1.2)
    ax.set_xscale("log")
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("tau: within this factor of the fastest time to target", fontsize=8)
    ax.set_ylabel("fraction of problem points", fontsize=8)
    ax.legend(fontsize=6)
    ax.set_title(f"performance profile over {len(times)} problem points", fontsize=9)
    return fig


def summary_html(name: str, images: dict[str, bytes], summary: str, verdicts_text: str, footer: str) -> str:
    """One self-contained page: the summary, the figures (PNG inline) and the verdicts."""
    figures = "\n".join(
        f'<h2>{html.escape(title)}</h2><img alt="{html.escape(title)}" '
        f'src="data:image/png;base64,{base64.b64encode(data).decode()}">'
        for title, data in images.items()
    )
    return (
        f"<!doctype html><html lang=en><meta charset=utf-8><title>study {html.escape(name)}</title>"
        "<style>body{font-family:sans-serif;margin:2em}pre{font-size:12px}img{max-width:100%}</style>"
        f"<h1>Convergence study {html.escape(name)}</h1><pre>{html.escape(summary)}</pre>{figures}"
        f"<h2>verdicts</h2><pre>{html.escape(verdicts_text)}</pre><p>{html.escape(footer)}</p></html>\n"
    )
