r"""Verdicts per cell: the fitted linear rate with its interval against the theorem's bound, and time to target.

For a cell whose problem and method carry a rate claim (:mod:`bntheory.study.theorems`) and a claimed exponent
:math:`a` (1: the theorem; 1.1: a rate 10% faster, the kit's sharp control), the verdict is the kit's:

* :func:`~bntheory.checks.rates.rate_check` over the cell's repetitions, the largest observed-over-claimed
  :math:`e_t/(q^{at}e_0)` above the rounding floor at most :math:`1+` slack (and, for adversarial starts, within
  reach of 1: a bound that is loose fails as surely as a violated one), and
* :func:`~bntheory.checks.rates.fit_rate` on each repetition: the slowest repetition's fitted :math:`\hat q` with
  its 95% interval. A cell whose interval lies wholly above the claimed :math:`q^a` fails too (observed rate
  significantly slower than claimed), even where the pointwise comparison could not see it.

Cells without a claim are "not applicable"; a run that raised is an "error". Every cell also gets its median
iterations and time to the study's target, :math:`e_t\le` target :math:`\cdot e_0` on the theorem's measure (or the
cell's first defined gap), over the repetitions that reached it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bntheory.checks.rates import RateFit, Trajectory, fit_rate, rate_check
from bntheory.checks.tolerances import RATE_FLOOR, RATE_SLACK
from bntheory.study.table import Table

__all__ = ["STATUSES", "Verdict", "bound_exponents", "format_summary", "format_verdicts", "verdicts"]

STATUSES = ("passed", "failed", "not applicable", "error")


@dataclass(frozen=True)
class Verdict:
    """One cell's verdict at one claimed exponent.

    Attributes
    ----------
    cell, problem, problem_params, method, method_params : str
        The cell (params as canonical JSON).
    exponent : float
        The claimed rate :math:`q^{a}` per step, :math:`a` = `exponent`.
    status : {"passed", "failed", "not applicable", "error"}
    theorem : str
        The registry result whose claim the cell tests ("" when none).
    q : float
        The claimed factor :math:`q^a`, :math:`q` from the cell's own matrices (the largest over repetitions).
    fit : RateFit or None
        The slowest repetition's fitted rate with its interval (None: fewer than 3 steps above the floor).
    ratio : float
        The largest :math:`e_t/(q^{at}e_0)` (NaN when not applicable).
    repetitions, reached : int
        Repetitions, and those that reached the target.
    iterations, seconds : float
        Median iterations and time to the target over those that reached it (NaN if none).
    detail : str
        The kit's detail, or why not applicable.
    """

    cell: str
    problem: str
    problem_params: str
    method: str
    method_params: str
    exponent: float
    status: str
    theorem: str
    q: float
    fit: RateFit | None
    ratio: float
    repetitions: int
    reached: int
    iterations: float
    seconds: float
    detail: str


def bound_exponents(table: Table) -> tuple[float, ...]:
    """The exponents of the table's ``bound[exponent=a]`` columns (1.0 when it has none)."""
    found = [float(m.group(1)) for n in table.columns if (m := re.fullmatch(r"bound\[exponent=([^\]]+)\]", n))]
    return tuple(found) or (1.0,)


def _to_target(error: np.ndarray, times: np.ndarray, target: float) -> tuple[float, float] | None:
    if error.size == 0 or not np.isfinite(error[0]) or error[0] <= 0:
        return None
    hit = np.flatnonzero(np.abs(error) <= target * error[0])
    return None if hit.size == 0 else (float(hit[0]), float(times[hit[0]]))


def verdicts(table: Table, *, target: float = 1e-6, exponents: Sequence[float] | None = None) -> list[Verdict]:
    """The verdict of every cell of `table` at every exponent (by default :func:`bound_exponents`).

    Parameters
    ----------
    table : Table
        A results table (:func:`~bntheory.study.table.results_table`, read back, or merged).
    target : float
        Relative target of the iterations and time to target.
    exponents : sequence of float, optional
        Claimed exponents :math:`a` of :math:`q^{at}`.
    """
    exponents = bound_exponents(table) if exponents is None else tuple(exponents)
    runs: dict[str, dict[int, list[dict]]] = {}
    for row in table.rows():
        runs.setdefault(row["cell"], {}).setdefault(row["repetition"], []).append(row)
    out = []
    for cell, reps in runs.items():
        first = next(iter(reps.values()))[0]
        trajectories, fits, hits, errors = [], [], [], []
        q = -math.inf
        for r, rows in sorted(reps.items()):
            rows.sort(key=lambda row: row["iteration"])
            error = np.array([row["error"] for row in rows], dtype=np.float64)
            times = np.array([row["time_s"] for row in rows], dtype=np.float64)
            if rows[0]["error_message"]:
                errors.append(f"repetition {r}: {rows[0]['error_message']}")
                continue
            if (hit := _to_target(error, times, target)) is not None:
                hits.append(hit)
            if not rows[0]["theorem"]:
                continue
            q = max(q, rows[0]["q"])
            trajectories.append((f"repetition {r}", error, rows[0]["q"], rows[0]["scale"], rows[0]["adversarial"]))
            try:
                # The rounding floor of the pointwise comparison (floor * scale, THEORY.md §8), as a fraction of e_0:
                # below it a run started near the optimum only jitters, which would fit as a slower rate.
                floor = RATE_FLOOR.value * max(rows[0]["scale"] / error[0], 1.0) if error[0] > 0 else RATE_FLOOR.value
                fits.append(fit_rate(np.maximum(error, 0.0), floor=floor))
            except ValueError:  # fewer than 3 steps above the floor: converged at once, no rate to fit
                pass
        iterations = float(np.median([h[0] for h in hits])) if hits else math.nan
        seconds = float(np.median([h[1] for h in hits])) if hits else math.nan
        common = dict(
            cell=cell,
            problem=first["problem"],
            problem_params=first["problem_params"],
            method=first["method"],
            method_params=first["method_params"],
            theorem=first["theorem"],
            repetitions=len(reps),
            reached=len(hits),
            iterations=iterations,
            seconds=seconds,
        )
        fit = max(fits, key=lambda f: f.q) if fits else None
        for a in exponents:
            if errors:
                out.append(
                    Verdict(
                        **common,
                        exponent=a,
                        status="error",
                        q=math.nan,
                        fit=None,
                        ratio=math.nan,
                        detail="; ".join(errors),
                    )
                )
                continue
            if not trajectories:
                out.append(
                    Verdict(
                        **common,
                        exponent=a,
                        status="not applicable",
                        q=math.nan,
                        fit=None,
                        ratio=math.nan,
                        detail="no rate is claimed for this problem and method",
                    )
                )
                continue
            outcome = rate_check(
                [Trajectory(label, e, qq, scale=scale, adversarial=adv) for label, e, qq, scale, adv in trajectories],
                exponent=a,
            )
            claimed = q**a
            # The kit's slack on the per-step factor: an exactly attained bound fits to a zero-width interval at q.
            slower = fit is not None and fit.low > claimed * (1 + RATE_SLACK.value)
            detail = outcome.detail + (f"; fitted {fit} above the claimed {claimed:.6g}" if slower else "")
            status = "passed" if outcome.passed and not slower else "failed"
            out.append(
                Verdict(**common, exponent=a, status=status, q=claimed, fit=fit, ratio=outcome.measured, detail=detail)
            )
    return out


def format_verdicts(found: Sequence[Verdict]) -> str:
    """A plain-text table of the verdicts, one line per cell and exponent."""
    lines = [
        f"{'cell':<12}  {'problem':<46}  {'method':<24}  {'a':>4}  {'status':<14}  {'q claimed':>9}  "
        f"{'q fitted [95% CI]':<30}  {'max ratio':>9}  {'iters':>6}  {'time s':>8}"
    ]
    for v in found:
        fit = f"{v.fit.q:.4f} [{v.fit.low:.4f}, {v.fit.high:.4f}]" if v.fit is not None else "-"
        problem = f"{v.problem} {_short(v.problem_params)}"
        method = f"{v.method} {_short(v.method_params)}"
        lines.append(
            f"{v.cell:<12}  {problem[:46]:<46}  {method[:24]:<24}  {v.exponent:>4g}  {v.status:<14}  "
            f"{v.q:>9.4f}  {fit:<30}  {v.ratio:>9.4g}  {v.iterations:>6g}  {v.seconds:>8.2g}"
        )
    return "\n".join(lines)


def _short(params: str) -> str:
    parts = params.replace('"', "").strip("{}").split(",")
    return " ".join(p.replace(":", "=") for p in parts if p and not p.endswith(":null"))


def format_summary(found: Sequence[Verdict]) -> str:
    """Counts of cells passing, failing, not applicable and in error, per claimed exponent."""
    lines = [f"{'claimed rate':<16}" + "".join(f"{s:>16}" for s in STATUSES)]
    for a in sorted({v.exponent for v in found}):
        counts = [sum(v.exponent == a and v.status == s for v in found) for s in STATUSES]
        lines.append(f"{'q^' + format(a, 'g') + ' per step':<16}" + "".join(f"{c:>16}" for c in counts))
    return "\n".join(lines)
