"""Convergence studies at scale: a 240-cell study in one process, on 2 spawned processes and on a 2-worker Dask
LocalCluster (identical tables, wall times), and the throughput of compute-bound runs with 1 and 2 workers
(spawned processes started ahead, and Dask workers, both up before the clock starts).

    python benchmarks/bench_study.py [--skip-dask]

Prints one line per measurement. Needs the ``study`` extra for the Dask lines.
"""

from __future__ import annotations

import argparse
import time

from bntheory.study import Component, Study, run_study, start_workers


def wide() -> Study:
    """240 cells: least squares 3 d x 8 kappa x 2 starts x 5 methods, one repetition."""
    kappas = [3.0, 10.0, 30.0, 100.0, 300.0, 1000.0, 3000.0, 10000.0]
    return Study(
        "wide",
        [Component("least_squares", {"d": [10, 20, 50], "kappa": kappas, "start": ["random", "adversarial"]})],
        [
            Component("gdnp", {"T_d": 60, "T_s": 50}),
            Component("gd", {"T": 60}),
            Component("bngd", {"T": 60}),
            Component("cg"),
            Component("cholesky"),
        ],
        [Component("objective_gap"), Component("rho_gap"), Component("bound", {"exponent": [1.0, 1.1]})],
    )


def heavy() -> Study:
    """Compute-bound runs: GDNP on halfspaces (a quadrature per bisection step), 2 x 2 x 2 cells x 24 repetitions.

    About 10-12 s in one process; a worker's start-up (0.7-1 s: an interpreter and the study's imports) is measured
    both inside the time (processes started with the study) and outside it (started ahead: the throughput).
    """
    return Study(
        "heavy",
        [
            Component(
                "halfspace",
                {
                    "d": 20,
                    "kappa": [2.0, 20.0],
                    "loss": ["softplus", "smooth_hinge"],
                    "start": ["random", "adversarial"],
                },
            )
        ],
        [Component("gdnp", {"T_d": 40, "T_s": 40})],
        [Component("rho_gap")],
        repetitions=24,
    )


def timed(label: str, study: Study, **kw):
    start = time.perf_counter()
    result = run_study(study, **kw)
    seconds = time.perf_counter() - start
    runs = len(study.runs())
    print(
        f"{label}: {len(study.cells())} cells, {runs} runs in {seconds:.2f} s ({runs / seconds:.1f} runs/s)", flush=True
    )
    return result, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--skip-dask", action="store_true")
    args = parser.parse_args()
    study = wide()
    base, _ = timed("wide, 1 process", study)
    two, _ = timed("wide, 2 spawned processes", study, jobs=2)
    print(f"  identical to 1 process: {two.table.same_numbers(base.table)}")
    summary = {a: sum(v.status == "passed" and v.exponent == a for v in base.verdicts) for a in (1.0, 1.1)}
    print(f"  verdicts passed at exponent 1 / 1.1: {summary[1.0]} / {summary[1.1]}")
    h1, s1 = timed("heavy, 1 process", heavy())
    h2, s2 = timed("heavy, 2 spawned processes, started with the study", heavy(), jobs=2)
    print(f"  vs 1 process: {s1 / s2:.2f}x (with their start-up); identical: {h2.table.same_numbers(h1.table)}")
    ahead = {}
    for jobs in (1, 2):
        # Throughput: the processes are up (started ahead, as `bntheory study` starts them) before the clock starts.
        workers = start_workers(jobs)
        workers.ready()
        hp, ahead[jobs] = timed(f"heavy, {jobs} spawned worker(s) started ahead", heavy(), jobs=jobs, workers=workers)
        print(f"  vs 1 process: {s1 / ahead[jobs]:.2f}x; identical: {hp.table.same_numbers(h1.table)}")
    print(f"  throughput, 2 workers vs 1 worker: {ahead[1] / ahead[2]:.2f}x")
    if args.skip_dask:
        return
    import dask
    from distributed import Client, LocalCluster

    for workers in (1, 2):
        with (
            # Dask's statistical profiler samples the workers' stacks every 10 ms: measured 12-15% of a compute-bound
            # run's time here, so it is off, as the README advises for studies.
            dask.config.set({"distributed.worker.profile.enabled": False}),
            LocalCluster(n_workers=workers, threads_per_worker=1, dashboard_address=None) as cluster,
            Client(cluster) as client,
        ):
            client.submit(sum, [1]).result()  # the workers are up before the clock starts
            if workers == 2:
                dask, _ = timed("wide, Dask LocalCluster, 2 workers", study, scheduler=client)
                print(f"  identical to 1 process: {dask.table.same_numbers(base.table)}")
            hd, sd = timed(f"heavy, Dask LocalCluster, {workers} worker(s)", heavy(), scheduler=client)
            print(f"  vs 1 process: {s1 / sd:.2f}x; identical: {hd.table.same_numbers(h1.table)}")


if __name__ == "__main__":
    main()
