"""Computing one run (a cell and a repetition): the unit a worker, local or on a Dask cluster, is handed.

:func:`compute` is a plain top-level function of plain data (a :class:`~bntheory.study.spec.Run` in, a dict of
lists and numbers out), so it pickles to any worker and its result is JSON for the cache. It holds BLAS and
PyTorch to one thread, as the registry's runner does (:mod:`bntheory.runner`), wherever it runs: on a cluster the
workers' own settings are not ours to change, the task's are.
"""

from __future__ import annotations

import functools
import hashlib
import time
from pathlib import Path

import numpy as np

import bntheory
from bntheory.runner import _single_threaded
from bntheory.study.methods import METHODS
from bntheory.study.problems import PROBLEMS
from bntheory.study.seeds import digest
from bntheory.study.spec import Run
from bntheory.study.theorems import theorem_for

__all__ = ["code_version", "compute", "run_key"]

#: The sources a run's record depends on: a change to any of them is a new code version (a cache miss). The table,
#: the verdicts and the figures are computed from the records afresh each time, so their code is not in the key.
_SOURCES = (
    "optim",
    "checks/instances",
    "backend.py",
    *(f"study/{m}.py" for m in ("params", "seeds", "spec", "problems", "methods", "theorems", "runs")),
)


@functools.cache
def code_version() -> str:
    """The package version and a hash of the sources that compute a run (12 hex digits after a '+')."""
    root = Path(bntheory.__file__).parent
    h = hashlib.sha256()
    for entry in _SOURCES:
        path = root / entry
        for f in sorted(path.rglob("*.py")) if path.is_dir() else [path]:
            h.update(f.relative_to(root).as_posix().encode() + b"\0" + f.read_bytes() + b"\0")
    return f"{bntheory.__version__}+{h.hexdigest()[:12]}"


def run_key(run: Run) -> str:
    """The cache key of `run`: a hash of its cell, repetition, seeds and the code version."""
    return digest(
        {
            "cell": run.cell.encoding(),
            "repetition": run.repetition,
            "seeds": [run.problem_seed, run.method_seed],
            "code": code_version(),
        }
    )


def _floats(a) -> list[float]:
    return [float(x) for x in np.asarray(a, dtype=np.float64)]


def _fallback_error(raw: dict) -> tuple[str, list[float]]:
    candidates = (
        ("objective_gap", np.asarray(raw["objective"]) - raw["f_star"]),
        ("rho_gap", np.asarray(raw["rho"]) - raw["rho_star"]),
        ("grad_norm", np.asarray(raw["grad_norm"])),
    )
    for name, values in candidates:
        if values.size and np.all(np.isfinite(values)):
            return name, _floats(values)
    return "grad_norm", raw["grad_norm"]


def compute(run: Run) -> dict:
    """Draw the run's instance, run its method, and return its raw record (JSON-able).

    A method that raises (a diverged run, a start the method refuses) gives a record with ``error`` set and no
    iterates: it is deterministic, so it is cached like any other outcome and reported in the verdicts.
    """
    cell = run.cell
    start = time.perf_counter()
    record = {
        "key": run_key(run),
        "cell": cell.encoding(),
        "cell_id": cell.id,
        "repetition": run.repetition,
        "problem_seed": run.problem_seed,
        "method_seed": run.method_seed,
        "code_version": code_version(),
        "error_message": None,
    }
    with _single_threaded():
        try:
            inst = PROBLEMS[cell.problem].build(np.random.default_rng(run.problem_seed), dict(cell.problem_params))
            result = METHODS[cell.method].run(inst, dict(cell.method_params))
        except (ValueError, ArithmeticError, np.linalg.LinAlgError) as exc:
            record.update(
                objective=[],
                rho=[],
                grad_norm=[],
                time_s=[],
                rho_star=np.nan,
                f_star=np.nan,
                theorem=None,
                q=np.nan,
                scale=np.nan,
                error=[],
                error_measure="",
                adversarial=False,
                error_message=f"{type(exc).__name__}: {exc}",
                seconds=time.perf_counter() - start,
            )
            return record
        theorem = theorem_for(cell.problem, cell.method, dict(cell.method_params), inst)
    raw = {
        "objective": _floats(result.objective),
        "rho": _floats(result.rho),
        "grad_norm": _floats(result.grad_norm),
        "time_s": _floats(result.time_s),
        "rho_star": float(inst.rho_star),
        "f_star": float(inst.f_star),
    }
    if theorem is None:
        # No claim: the cell's error for the iterations to target is its first defined gap, or the gradient norm.
        measure, error = _fallback_error(raw)
        q, scale = np.nan, np.nan
    elif theorem.measure == "rho_gap":
        measure, error = "rho_gap", _floats(np.asarray(raw["rho"]) - raw["rho_star"])
        q, scale = theorem.q, abs(raw["rho_star"])  # the size of the optimum sets the rounding floor
    else:
        measure, error = "objective_gap", _floats(np.asarray(raw["objective"]) - raw["f_star"])
        # The library computes f = E y^2 - 2 u^T w + w^T S w, terms of size E y^2 = f* + u^T w*: its rounding is
        # relative to that, not to f* + |f_0 - f*| (which sufficed for the kit's 12 adversarial steps, not for 60).
        q, scale = theorem.q, raw["f_star"] + abs(error[0]) + abs(float(inst.u @ inst.w_star))
    record.update(
        raw,
        theorem=None if theorem is None else theorem.result,
        q=q,
        scale=scale,
        error=error,
        error_measure=measure,
        adversarial=inst.adversarial,
        seconds=time.perf_counter() - start,
    )
    return record
