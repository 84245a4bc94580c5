"""Convergence studies: sweeps of problems x methods x seeds over :mod:`bntheory.optim` that end in verdicts.

Declare a :class:`Study` (or :func:`load_study` a TOML spec), :func:`run_study` it on local processes or a Dask
cluster, and get one long :class:`~bntheory.study.table.Table` (Parquet or CSV) and a verdict per cell: the fitted
linear rate with its confidence interval against the theorem's bound, computed by the check kit
(:mod:`bntheory.checks.rates`) from the matrices the cell drew. The design follows benchopt (problem x solver x
measure, each with a parameter grid; a per-run cache; one long table), with verdicts instead of plots at the end.

* :mod:`~bntheory.study.spec`: declaring (:class:`Study`, :class:`Component`), cells and runs;
* :mod:`~bntheory.study.seeds`: seeds and keys from a canonical encoding (order- and machine-independent);
* :mod:`~bntheory.study.problems`, :mod:`~bntheory.study.methods`, :mod:`~bntheory.study.measures`: what a spec
  can name; :mod:`~bntheory.study.theorems`: the claim a cell tests;
* :mod:`~bntheory.study.runs`: one run; :mod:`~bntheory.study.cache`: its record on disk;
  :mod:`~bntheory.study.execute`: local processes or Dask;
* :mod:`~bntheory.study.table`: the long table, Parquet/CSV, :func:`merge`;
  :mod:`~bntheory.study.verdicts`: verdicts and the summary.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bntheory.runner import Workers
from bntheory.study.cache import Cache
from bntheory.study.execute import Progress, execute, start_workers
from bntheory.study.params import SpecError
from bntheory.study.spec import Cell, Component, Run, Study, load_study
from bntheory.study.table import Table, merge, read_table, results_table
from bntheory.study.verdicts import Verdict, format_summary, format_verdicts, verdicts

__all__ = [
    "Cache",
    "Cell",
    "Component",
    "Run",
    "SpecError",
    "Study",
    "StudyResult",
    "Table",
    "Verdict",
    "format_summary",
    "format_verdicts",
    "load_study",
    "merge",
    "read_table",
    "results_table",
    "run_study",
    "start_workers",
    "verdicts",
]


@dataclass(frozen=True)
class StudyResult:
    """What :func:`run_study` returns: the table, the verdicts, and how many runs were computed or cached."""

    table: Table
    verdicts: list[Verdict]
    computed: int
    cached: int


def run_study(
    study: Study,
    *,
    cache: str | Path | None = None,
    resume: bool = False,
    jobs: int = 1,
    scheduler: object = None,
    progress: Progress | None = None,
    workers: Workers | None = None,
) -> StudyResult:
    """Run `study` and return its table and verdicts.

    Parameters
    ----------
    study : Study
    cache : str or Path, optional
        Directory of the per-run cache (each record written atomically as it arrives).
    resume : bool
        Read back the runs already in `cache` and compute only the missing ones.
    jobs : int
        Local spawned processes, one BLAS thread each (1: this process). Scripts that pass ``jobs > 1`` must call
        this under ``if __name__ == "__main__":`` (as any spawning code).
    scheduler : distributed.Client or str, optional
        Run on a Dask cluster instead, one task per run (``pip install 'bntheory[study]'``).
    progress : callable, optional
        ``progress(done, total, record)`` as each run finishes.
    workers : Workers, optional
        The `jobs` processes, started ahead with :func:`start_workers` (see :func:`~bntheory.study.execute.execute`).
    """
    found = execute(
        study.runs(),
        cache=None if cache is None else Cache(cache),
        resume=resume,
        jobs=jobs,
        scheduler=scheduler,
        progress=progress,
        workers=workers,
    )
    table = results_table(study.name, found.records, study.measure_columns())
    return StudyResult(table, verdicts(table, target=study.target), found.computed, found.cached)
