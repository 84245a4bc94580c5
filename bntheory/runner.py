"""Running registered results: in this process, or spread over worker processes.

Results are independent by construction: each check seeds its own generator from ``(seed, key)``
(:meth:`bntheory.context.Context.rng`), so the order in which they run, and the process they run in, change
neither their random inputs nor their verdicts. That makes a run embarrassingly parallel. Measured values agree
to rounding: every process here runs BLAS and PyTorch on one thread, so ``jobs=1`` and ``jobs=N`` sum in the same
order, but the last digits of a value at rounding level can still follow the memory alignment of its arrays, that is
what the process ran before (``docs/reproducibility.rst``). Workers are *spawned*
(a fresh interpreter, never a fork of a process that may hold BLAS or PyTorch threads) and each is held
to one BLAS and one PyTorch thread, so ``jobs`` processes use ``jobs`` cores instead of oversubscribing them.
The unit handed to a process is a results module's results that need PyTorch, or those that do not (results
share memoized work), and a worker is handed its next unit as soon as it finishes one, while this process works
through the queue from the other end, leaving PyTorch's units to the workers unless it has imported PyTorch itself.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import importlib
import importlib.util
import multiprocessing
import os
import queue as queue_module
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from bntheory import registry
from bntheory.context import Context
from bntheory.run import ResultReport, run

__all__ = ["WorkerDied", "Workers", "default_jobs", "run_all", "start_workers"]

#: Backends whose arrays live on one shared device: several processes would only contend for it.
_DEVICE_BACKENDS = ("cupy",)

Progress = Callable[[int, int, ResultReport, float], None]


class WorkerDied(RuntimeError):
    """A worker process died (killed, out of memory) while running `results`; the others' reports are kept.

    Attributes
    ----------
    results : list of str
        The ids the dead worker was running.
    """

    def __init__(self, message: str, results: Sequence[str]):
        super().__init__(message)
        self.results = list(results)


#: Most processes used by default: each costs about 2 s of imports (PyTorch among them) and a few hundred MB,
#: and a whole run is about 20 s of work, so more would mostly add start-up.
MAX_DEFAULT_JOBS = 8


def default_jobs(backend_name: str) -> int:
    """Processes ``bntheory verify`` uses unless told: the usable cores (at most 8), one for a GPU backend."""
    if backend_name in _DEVICE_BACKENDS:
        return 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return min(cores, MAX_DEFAULT_JOBS)


def run_all(
    results: Sequence[registry.Result],
    ctx: Context,
    *,
    jobs: int = 1,
    progress: Progress | None = None,
    scheduler: object = None,
    workers: Workers | None = None,
) -> list[ResultReport]:
    """Run `results` in `ctx` and return their reports in the order of `results`.

    Parameters
    ----------
    results : sequence of Result
        What to run (registered results: workers look them up by id).
    ctx : Context
        Backend, seed and size of the run.
    jobs : int, default 1
        Processes at work: this one and ``jobs - 1`` spawned workers; ``1`` runs everything here. No more jobs
        than results are used.
    progress : callable, optional
        Called as ``progress(done, total, report, seconds)`` as each result finishes (in completion
        order when ``jobs > 1``).
    scheduler : distributed.Client or str, optional
        Run on this Dask scheduler instead (a client, or an address such as ``tcp://host:8786``): one task per
        results module, `jobs` ignored. The workers need bntheory installed, and the file of a module loaded from a
        path (``--with``) at the same path.
    workers : Workers, optional
        The ``jobs - 1`` workers, started ahead by :func:`start_workers` so that their start-up overlapped the
        caller's (``bntheory verify`` starts them before discovery). The run closes them when it ends, whether
        it used them or not.

    Raises
    ------
    ValueError
        If `jobs` is less than 1.
    WorkerDied
        If a worker process died; the reports finished before were handed to `progress`. Workers are spawned,
        so a script calling this with ``jobs > 1`` must do so under ``if __name__ == "__main__":`` (as with any
        :mod:`multiprocessing` code). A worker whose parent dies exits within a second.
    """
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs: expected a positive integer, got {jobs!r}")
    jobs = min(jobs, len(results))
    if workers is not None and (scheduler is not None or jobs <= 1):
        workers.close()
        workers = None
    if scheduler is not None:
        return _run_on_dask(results, ctx, scheduler, progress)
    if jobs <= 1:
        return _run_here(results, ctx, progress)
    return _run_spread(results, ctx, jobs, progress, workers or start_workers(jobs - 1))


def _run_here(results, ctx, progress) -> list[ResultReport]:
    reports = []
    for i, result in enumerate(results, 1):
        start = time.perf_counter()
        # One BLAS and one PyTorch thread here too: the checks' matrices are small, and next to PyTorch's OpenMP
        # pool a multi-threaded BLAS was measured 16-100x slower on a loaded machine.
        with _single_threaded():
            rep = run(result, ctx)
        if progress is not None:
            progress(i, len(results), rep, time.perf_counter() - start)
        reports.append(rep)
    return reports


def _run_spread(results, ctx, jobs: int, progress, workers: Workers) -> list[ResultReport]:
    done: dict[str, ResultReport] = {}

    def record(result: registry.Result, rep: ResultReport, seconds: float) -> None:
        done[result.id] = rep
        if progress is not None:
            progress(len(done), len(results), rep, seconds)

    # The unit of work is a results module: its results share memoized computations (ctx.memo is per process),
    # which two processes would each compute. Modules that import PyTorch (1-2 s) go first, to the pool, and of
    # those first the ones whose checks import torch._dynamo (_DYNAMO_USERS: another 1.3-1.4 s, once per process):
    # the pool's workers take them one after the other from the front, while this process works from the back of
    # the queue (it has everything imported already), so the one-time imports are paid by as few processes as
    # possible. This process takes no PyTorch module unless it has imported PyTorch already: the import (1.3-2.4 s
    # of CPU) costs more than the share of PyTorch work left at the end of the queue that it would take over.
    groups: dict[str, list[registry.Result]] = {}
    for r in results:
        groups.setdefault((registry.module_of(r), _needs(r, "torch")), []).append(r)
    queue = collections.deque(sorted(groups.values(), key=_import_weight))
    lock = threading.Lock()
    finished: queue_module.SimpleQueue = queue_module.SimpleQueue()
    pool = workers.pool
    with pool:

        def feed() -> None:
            # Called here at the start and from the pool's thread as each module finishes, so a worker gets its
            # next module at once even while this process is busy with one of its own.
            with lock:
                if not queue:
                    return
                group = queue.popleft()
            try:
                future = pool.submit(_run_in_worker, _stating_module(group), [r.id for r in group], ctx)
            except Exception as exc:  # a broken pool: hand the error to this process, which raises it
                finished.put((group, exc))
                return
            future.add_done_callback(lambda f, group=group: (finished.put((group, f)), feed()))

        try:
            for _ in range(jobs - 1):
                feed()
            received = 0

            def drain(block: bool) -> None:
                nonlocal received
                while block or not finished.empty():
                    group, item = finished.get()  # a finished future, or the error that kept it from starting
                    received += 1
                    block = False
                    try:
                        if isinstance(item, BaseException):
                            raise item
                        outcomes = item.result()
                    except (BrokenProcessPool, RuntimeError) as exc:
                        names = ", ".join(r.id for r in group)
                        raise WorkerDied(
                            f"a worker process died while running {names} ({exc}); rerun them with --jobs 1, and run "
                            "scripts that call run_all under `if __name__ == '__main__':`",
                            [r.id for r in group],
                        ) from exc
                    # Reports cross the process edge without their Result (its check functions are not picklable):
                    # the parent's own registered Result is put back in.
                    for result, (checks, control, seconds) in zip(group, outcomes, strict=True):
                        record(result, ResultReport(result, checks, control), seconds)

            ran_here = 0
            while True:
                with lock:
                    group = queue.pop() if queue and _may_run_here(queue[-1]) else None
                if group is None:
                    break
                ran_here += 1
                for result in group:
                    start = time.perf_counter()
                    # Entered per result: a check may import PyTorch, whose threads must then be limited too.
                    with _single_threaded():
                        rep = run(result, ctx)
                    record(result, rep, time.perf_counter() - start)
                    drain(block=False)
            while received + ran_here < len(groups):  # the workers may still be taking the queue's last modules
                drain(block=True)
        finally:
            # Every report is in and the workers are idle, or the run ends early (a dead worker, Ctrl-C) and they
            # may be mid-check.
            workers.close()
    return [done[r.id] for r in results]


def _run_on_dask(results, ctx, scheduler, progress) -> list[ResultReport]:
    """One task per results module on a Dask scheduler (nothing else home-made: placement and retries are Dask's)."""
    from distributed import Client, as_completed

    client = scheduler if isinstance(scheduler, Client) else Client(scheduler)
    groups: dict[str, list[registry.Result]] = {}
    for r in results:
        groups.setdefault(registry.module_of(r), []).append(r)
    done: dict[str, ResultReport] = {}
    try:
        futures = {
            client.submit(_run_in_dask_worker, _stating_module(g), [r.id for r in g], ctx, pure=False): g
            for g in groups.values()
        }
        for future in as_completed(futures):
            group = futures[future]
            try:
                outcomes = future.result()
            except Exception as exc:  # a killed worker (KilledWorker), an import error on the worker
                names = ", ".join(r.id for r in group)
                raise WorkerDied(f"a Dask task failed while running {names} ({exc})", [r.id for r in group]) from exc
            for result, (checks, control, seconds) in zip(group, outcomes, strict=True):
                done[result.id] = ResultReport(result, checks, control)
                if progress is not None:
                    progress(len(done), len(results), done[result.id], seconds)
    finally:
        if client is not scheduler:
            client.close()
    return [done[r.id] for r in results]


def _run_in_dask_worker(module: tuple[str, str | None], result_ids: list[str], ctx: Context) -> list[tuple]:
    # A Dask worker's threads are not ours to configure: the task holds BLAS and PyTorch to one thread itself.
    with _single_threaded():
        return _run_in_worker(module, result_ids, ctx)


#: Library packages whose checks reach ``torch.func`` (libraries) or compare with ``torch.optim`` (the SGD
#: oracles): both import ``torch._dynamo`` and more (1.3-1.4 s once per process, measured).
_DYNAMO_USERS = ("bntheory.curvature", "bntheory.libraries", "bntheory.optim.sgd")


def _import_weight(group: list[registry.Result]) -> tuple[bool, bool]:
    """Sort key of a module's results: those importing torch._dynamo first, then PyTorch users, then the rest."""
    torch = any(_needs(r, "torch") for r in group)
    dynamo = torch and any(name.startswith(_DYNAMO_USERS) for r in group for name in r.under_test)
    return not torch, not dynamo


def _may_run_here(group: list[registry.Result]) -> bool:
    """Whether the run's own process takes `group`: not a PyTorch module before PyTorch is imported here."""
    return "torch" in sys.modules or not any(_needs(r, "torch") for r in group)


def _needs(result: registry.Result, package: str) -> bool:
    checks = [*result.checks, *([result.control] if result.control is not None else [])]
    return any(package in c.needs for c in checks)


_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def worker_pool(workers: int) -> ProcessPoolExecutor:
    """`workers` spawned processes: one BLAS and PyTorch thread each, each exiting when this process is gone.

    The pool of :func:`run_all`, and of :mod:`bntheory.study`'s local runs.
    """
    context = multiprocessing.get_context("spawn")
    return ProcessPoolExecutor(workers, mp_context=context, initializer=_one_thread, initargs=(os.getpid(),))


@dataclasses.dataclass(frozen=True)
class Workers:
    """Worker processes of a coming run (:func:`start_workers`), and what ends them.

    Attributes
    ----------
    pool : ProcessPoolExecutor
        The spawned processes (:func:`worker_pool`).
    others : frozenset
        The child processes that existed before them, which :meth:`close` leaves alone.
    started : tuple of Future
        The start-up tasks (the imports of `preload`), one per process.
    """

    pool: ProcessPoolExecutor
    others: frozenset
    started: tuple[Future, ...] = ()

    def ready(self, timeout: float | None = None) -> None:
        """Wait until the start-up tasks are done: the processes are up, with their imports (a benchmark's clock)."""
        for future in self.started:
            future.result(timeout)

    def close(self) -> None:
        """End the workers now, idle or mid-check, rather than wait for them.

        A worker's interpreter shutdown alone takes 0.7 s once PyTorch is loaded, and nothing may outlive the run.
        """
        self.pool.shutdown(wait=False, cancel_futures=True)
        for process in set(multiprocessing.active_children()) - self.others:
            process.terminate()


def start_workers(workers: int, preload: Sequence[str] = ()) -> Workers:
    """`workers` processes of :func:`worker_pool`, spawned now, each importing the modules `preload` in the background.

    A worker takes about a second to start and PyTorch another 1-1.5 s to import; started before the caller's
    own start-up (discovery of the results), that time overlaps it instead of following it.
    """
    others = frozenset(multiprocessing.active_children())
    pool = worker_pool(workers)
    # The pool spawns a process per task submitted while none is idle: one start-up task each.
    started = tuple(pool.submit(_import_all, tuple(preload)) for _ in range(workers))
    return Workers(pool, others, started)


def _import_all(modules: tuple[str, ...]) -> None:
    for name in modules:
        importlib.import_module(name)


def _one_thread(parent: int) -> None:
    """Worker initializer: one BLAS thread, one PyTorch thread if a check imports it later, a watch on the parent.

    The watch makes a worker exit when the run's main process (pid `parent`, passed by that process) is gone:
    kill -9 runs no cleanup there. The pid comes from the parent, not from ``os.getppid()`` here, because a parent
    killed while this worker was still starting has already been replaced by init (or a subreaper) by now.
    """
    os.environ.update(dict.fromkeys(_THREAD_VARIABLES, "1"))
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True, name="parent-watch").start()
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)


def _exit_with_parent(parent: int) -> None:
    # An orphan is re-parented (to init or a subreaper), so a changed parent id means the run is gone.
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(1)


@contextlib.contextmanager
def _single_threaded():
    """Hold BLAS and PyTorch to one thread while this process takes its share of a parallel run.

    The setting is restored afterwards. Without it the parent's BLAS threads spin-wait against the workers
    (OpenBLAS busy-waits), which was measured to make a BLAS-bound check three times slower than alone.
    """
    from bntheory._torch_threads import thread_pools

    saved_env = {var: os.environ.get(var) for var in _THREAD_VARIABLES}
    torch = sys.modules.get("torch")
    saved_torch = torch.get_num_threads() if torch is not None else None
    os.environ.update(dict.fromkeys(_THREAD_VARIABLES, "1"))
    try:
        with thread_pools().limit(limits=1):  # entered per result: the libraries are found once per process
            if torch is not None:
                torch.set_num_threads(1)
            yield
    finally:
        for var, value in saved_env.items():
            if value is None:
                os.environ.pop(var, None)
            else:
                os.environ[var] = value
        if torch is not None:
            torch.set_num_threads(saved_torch)


def _stating_module(group: list[registry.Result]) -> tuple[str, str | None]:
    """Name (and, for a module loaded from a path, file) of the module that states the results of `group`."""
    return registry.module_of(group[0]), registry.file_of(group[0])


def _run_in_worker(module: tuple[str, str | None], result_ids: list[str], ctx: Context) -> list[tuple]:
    # The context travels by value (backend by name); results travel by id, their check functions do not pickle:
    # the worker imports the module that states them, which registers them here too.
    name, file = module
    if name not in sys.modules:
        if file is None:
            importlib.import_module(name)
        else:
            spec = importlib.util.spec_from_file_location(name, file)
            sys.modules[name] = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(sys.modules[name])
    by_id = {r.id: r for r in registry.registered()}
    out = []
    for result in (by_id[i] for i in result_ids):
        start = time.perf_counter()
        rep = run(result, ctx)
        out.append((rep.checks, rep.control, time.perf_counter() - start))
    return out
