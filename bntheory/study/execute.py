"""Running a study's runs: in this process, on spawned local processes, or on a Dask ``distributed`` scheduler.

Local processes follow the registry runner's rules (:mod:`bntheory.runner`): workers are *spawned* (never a fork of
a process holding BLAS or PyTorch threads), each held to one BLAS thread, and each exits when this process dies.
On Dask each run is one task (``client.submit``) and nothing else is home-made: the scheduler places, retries and
balances them. Either way the records come back here, where they are written to the cache as they arrive, so a
cluster's workers need no shared file system, and a study interrupted at any point resumes from what was written.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import as_completed
from dataclasses import dataclass

from bntheory import runner
from bntheory.runner import Workers
from bntheory.study.cache import Cache
from bntheory.study.runs import code_version, compute, run_key
from bntheory.study.spec import Run

__all__ = ["Progress", "StudyRuns", "execute", "start_workers"]

#: Called as ``progress(done, total, record)`` as each run finishes (cached ones first, all at once).
Progress = Callable[[int, int, dict], None]


@dataclass(frozen=True)
class StudyRuns:
    """The records of a study's runs, in the order of the runs, and how many were computed or read back."""

    records: list[dict]
    computed: int
    cached: int


def execute(
    runs: Sequence[Run],
    *,
    cache: Cache | None = None,
    resume: bool = False,
    jobs: int = 1,
    scheduler: object = None,
    progress: Progress | None = None,
    workers: Workers | None = None,
) -> StudyRuns:
    """Compute `runs` (reading back those in `cache` when `resume`) and return their records.

    Parameters
    ----------
    runs : sequence of Run
        From :meth:`~bntheory.study.spec.Study.runs`.
    cache : Cache, optional
        Where each record is written as it arrives (and read from when `resume`).
    resume : bool
        Use the records already in `cache`; without it every run is computed (and its record rewritten).
    jobs : int
        Local processes (1: in this process); ignored with a `scheduler`.
    scheduler : distributed.Client or str, optional
        A Dask client, or a scheduler's address (``tcp://host:8786``); one task per run.
    progress : callable, optional
        See :data:`Progress`.
    workers : Workers, optional
        The `jobs` local processes, started ahead by :func:`start_workers` so that their start-up
        (about a second: an interpreter and the imports of :mod:`bntheory.study.runs`) overlapped the caller's
        (``bntheory study`` starts them before it reads the spec). Closed when the runs end, used or not.

    Raises
    ------
    ValueError
        If `jobs` is not a positive integer, or a Dask worker runs another code version than this process.
    ImportError
        If a `scheduler` is given and ``distributed`` is not installed (the ``study`` extra).
    """
    problem = None
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        problem = f"jobs: expected a positive integer, got {jobs!r}"
    elif resume and cache is None:
        problem = "resume: needs a cache to resume from; pass cache=Cache(directory)"
    if problem is not None:
        if workers is not None:
            workers.close()
        raise ValueError(problem)
    keys = [run_key(r) for r in runs]
    found: dict[str, dict] = {}
    if resume:
        found = {k: rec for k in keys if (rec := cache.get(k)) is not None}
    todo = [r for r, k in zip(runs, keys, strict=True) if k not in found]
    done = 0
    for rec in found.values():
        done += 1
        if progress is not None:
            progress(done, len(runs), rec)
    local = scheduler is None and jobs > 1 and len(todo) > 1
    if workers is not None and not local:
        workers.close()
    if scheduler is not None:
        stream = _on_dask(todo, scheduler)
    elif not local:
        stream = (compute(r) for r in todo)
    else:
        stream = _on_processes(todo, workers or start_workers(min(jobs, len(todo))))
    computed = 0
    for rec in stream:
        if rec["code_version"] != code_version():
            raise ValueError(
                f"scheduler: a worker computed {rec['cell_id']} with bntheory {rec['code_version']}, this process "
                f"runs {code_version()}; install the same code on the workers"
            )
        if cache is not None:
            cache.put(rec)
        found[rec["key"]] = rec
        computed += 1
        done += 1
        if progress is not None:
            progress(done, len(runs), rec)
    return StudyRuns([found[k] for k in keys], computed, len(runs) - computed)


def start_workers(jobs: int) -> Workers:
    """`jobs` local processes for :func:`execute`, spawned now, each importing what a run needs as it starts.

    Started before the caller's own work (reading a spec, building its runs), their start-up overlaps it.
    """
    return runner.start_workers(jobs, preload=("bntheory.study.runs",))


def _on_processes(todo: Sequence[Run], workers: Workers) -> Iterator[dict]:
    # The runner's processes: one BLAS thread each, and each exits when this process is gone.
    try:
        futures = [workers.pool.submit(compute, r) for r in todo]
        for future in as_completed(futures):
            yield future.result()
    finally:
        # Done, or ended early (Ctrl-C, an error): end the workers rather than wait for their queued runs.
        workers.close()


def _on_dask(todo: Sequence[Run], scheduler: object) -> Iterator[dict]:
    from distributed import Client
    from distributed import as_completed as dask_completed

    client = scheduler if isinstance(scheduler, Client) else Client(scheduler)
    try:
        # A run's key names its task: resubmitting a run the cluster still holds reuses its result.
        futures = [client.submit(compute, r, key=f"bntheory-study-{run_key(r)}") for r in todo]
        for future in dask_completed(futures):
            yield future.result()
    finally:
        if client is not scheduler:
            client.close()
