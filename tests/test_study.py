"""bntheory.study: seeds, cache and resume, the table's formats, merge, verdicts, executors and the CLI."""

from __future__ import annotations

import importlib.util
import math
import multiprocessing
import shutil
import time

import numpy as np
import pytest

from bntheory.cli import main
from bntheory.study import Component, SpecError, Study, merge, read_table, run_study, start_workers
from bntheory.study.cache import Cache
from bntheory.study.runs import run_key

LS = Component("least_squares", {"d": 4, "n": 40, "kappa": [10.0, 100.0]})
HS = Component("halfspace", {"d": 3, "loss": ["softplus", "smooth_hinge"]})
GDNP, GD, CG = Component("gdnp", {"T_d": 6, "T_s": 20}), Component("gd", {"T": 6}), Component("cg")
MEASURES = (
    Component("rho_gap"),
    Component("objective_gap"),
    Component("angle"),
    Component("bound", {"exponent": [1.0, 1.1]}),
)


def small(problems=(LS, HS), methods=(GDNP, GD, CG), repetitions=2, **kw) -> Study:
    return Study("t", list(problems), list(methods), list(MEASURES), repetitions=repetitions, seed=7, **kw)


def seeds(study: Study) -> dict:
    return {(r.cell.id, r.repetition): (r.problem_seed, r.method_seed, run_key(r)) for r in study.runs()}


def test_seeds_do_not_depend_on_order_or_on_other_cells():
    base = seeds(small())
    reordered = small(
        problems=(
            Component("halfspace", {"loss": ["smooth_hinge", "softplus"], "d": 3}),
            Component("least_squares", {"kappa": [100, 10], "n": 40, "d": 4}),
        ),
        methods=(CG, GD, GDNP),
    )
    assert seeds(reordered) == base  # grids reversed, components swapped, 10 given as an int
    fewer = seeds(small(problems=(LS,), methods=(GDNP,)))
    assert fewer and all(base[k] == v for k, v in fewer.items())
    other = seeds(Study("t", [LS, HS], [GDNP, GD, CG], list(MEASURES), repetitions=2, seed=8))
    assert not set(v[0] for v in other.values()) & set(v[0] for v in base.values())
    # Every method of a problem point meets the same instance (common random numbers); methods' seeds differ.
    runs = [r for r in small().runs() if r.cell.problem == "least_squares" and r.repetition == 0]
    assert len({r.problem_seed for r in runs if dict(r.cell.problem_params)["kappa"] == 10.0}) == 1
    assert len({r.method_seed for r in runs}) == len(runs)


def test_bad_specs_name_the_field_before_anything_runs():
    cases = [
        (dict(problems=[Component("lasso")]), "problems[0].name: unknown problem 'lasso'"),
        (dict(methods=[Component("adam")]), "methods[0].name: unknown method 'adam'"),
        (dict(problems=[Component("least_squares", {"kappa": "ten"})]), "problems[0].kappa: expected a number"),
        (dict(problems=[Component("least_squares", {"d": 2.5})]), "problems[0].d: expected an integer"),
        (dict(problems=[Component("least_squares", {"d": []})]), "problems[0].d: the grid is empty"),
        (dict(problems=[Component("least_squares", {"dim": 3})]), "problems[0].dim: unknown parameter"),
        (dict(methods=[Component("gd", {"T": -1})]), "methods[0].T: expected a finite value >= 0"),
        (dict(problems=[Component("halfspace", {"loss": "hinge"})]), "problems[0].loss: expected one of"),
        (dict(repetitions=0), "study.repetitions"),
        (dict(problems=[Component("least_squares", {"d": 5, "n": [10, 3]})]), "problems[0]: n = 3 samples are fewer"),
        (dict(problems=[Component("tanh_mlp")], methods=[CG]), "no method applies to any problem"),
    ]
    for kwargs, message in cases:
        base = dict(problems=[LS], methods=[GDNP], repetitions=1)
        with pytest.raises(SpecError, match=message.replace("[", r"\[").replace("]", r"\]").replace(".", r"\.")):
            small(**{**base, **kwargs})


def test_interrupted_study_resumes_computing_only_the_missing_runs(tmp_path):
    study = small()
    total = len(study.runs())
    whole = run_study(study)

    def killed(done, _total, record):
        if done == 5:  # the 5th record is in the cache when the "kill" comes
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_study(study, cache=tmp_path, progress=killed)
    assert len(Cache(tmp_path)) == 5
    resumed = run_study(study, cache=tmp_path, resume=True)
    assert (resumed.computed, resumed.cached) == (total - 5, 5)
    assert resumed.table.same_numbers(whole.table)
    again = run_study(study, cache=tmp_path, resume=True)
    assert (again.computed, again.cached) == (0, total)
    # A corrupt record (a disk fault) is recomputed, not read.
    next(tmp_path.glob("*/*.json")).write_text("{", encoding="utf-8")
    assert run_study(study, cache=tmp_path, resume=True).computed == 1


def test_table_round_trips_through_parquet_and_csv(tmp_path):
    table = run_study(small(repetitions=1)).table
    assert any(math.isnan(v) for v in table.columns["rho_gap"])  # GD's trace has no rho: NaN must survive
    csv = read_table(table.write(tmp_path / "results", fmt="csv"))
    assert csv.same_numbers(table, ignore=()) and csv.types == table.types
    if importlib.util.find_spec("pyarrow") is None:
        pytest.skip("pyarrow is not installed: the CSV path alone is tested")
    parquet = read_table(table.write(tmp_path / "results", fmt="parquet"))
    assert parquet.same_numbers(table, ignore=()) and parquet.types == table.types


def test_merge_of_partial_results_equals_the_whole_study():
    whole = run_study(small()).table
    parts = [run_study(small(problems=(p,))).table for p in (HS, LS)]
    assert merge(parts).same_numbers(whole)
    assert merge([*parts, parts[0]]).same_numbers(whole)  # a part given twice is one part
    other = run_study(Study("t", [HS], [GDNP, GD, CG], list(MEASURES), repetitions=2, seed=8)).table
    with pytest.raises(ValueError, match="computed by different code"):
        merge([parts[0], other])


def test_verdicts_pass_the_theorem_and_refute_a_bound_ten_percent_too_fast():
    adversarial = Component("least_squares", {"d": 5, "kappa": 10.0, "start": "adversarial"})
    random = Component("least_squares", {"d": 5, "kappa": 100.0})
    result = run_study(small(problems=(adversarial, random), methods=(Component("gdnp", {"T_d": 10}), GD, CG)))
    found = {(v.problem_params, v.method, v.exponent): v for v in result.verdicts}
    adv = next(p for p, _, _ in found if "adversarial" in p)
    rnd = next(p for p, _, _ in found if "random" in p)
    # Near the optimum along v_mu GDNP's rate meets its bound (ratio within reach of 1) and GD attains it exactly.
    for method in ("gdnp", "gd"):
        theorem, control = found[adv, method, 1.0], found[adv, method, 1.1]
        assert theorem.status == "passed" and 1 - 1e-3 <= theorem.ratio <= 1 + 1e-6, theorem.detail
        assert control.status == "failed" and control.ratio > 1.01, control.detail
        assert theorem.fit is not None and theorem.fit.low <= theorem.q
    assert found[rnd, "gdnp", 1.0].status == "passed"
    assert found[adv, "cg", 1.0].status == "not applicable" and found[adv, "cg", 1.0].reached == 2


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::ResourceWarning", "ignore::UserWarning")
def test_dask_local_cluster_gives_the_table_of_a_local_run():
    if importlib.util.find_spec("distributed") is None:
        pytest.skip("Dask distributed is not installed (pip install 'bntheory[study]')")
    from distributed import Client, LocalCluster

    # Workers in this process (threads): the submitting path is the same; benchmarks/bench_study.py runs 2 worker
    # processes (240 cells, identical tables) where spawning them fits the time.
    study = small(repetitions=1)
    local = run_study(study).table
    start = time.perf_counter()
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):
        on_dask = run_study(study, scheduler=client)
    assert on_dask.computed == len(study.runs())
    assert on_dask.table.same_numbers(local), f"{time.perf_counter() - start:.1f} s"


def test_spawned_local_processes_give_the_table_of_one_process():
    study = small(repetitions=1, methods=(GDNP, CG))
    assert run_study(study, jobs=2).table.same_numbers(run_study(study).table)


def test_workers_started_ahead_run_the_study_and_end_with_it():
    study = small(repetitions=1, methods=(GDNP, CG))
    before = set(multiprocessing.active_children())
    workers = start_workers(2)
    workers.ready()
    assert len(set(multiprocessing.active_children()) - before) == 2
    assert run_study(study, jobs=2, workers=workers).table.same_numbers(run_study(study).table)
    assert set(multiprocessing.active_children()) <= before, "the run ended its workers"
    unused = start_workers(2)
    run_study(study, workers=unused)  # jobs=1: computed here, and the workers closed all the same
    assert set(multiprocessing.active_children()) <= before


def test_cli_study_smoke_and_resume(tmp_path, capsys):
    spec = tmp_path / "s.toml"
    shutil.copy("examples/studies/least_squares.toml", spec)
    out = tmp_path / "out"
    assert main(["study", str(spec), "--smoke", "--out", str(out), "--format", "csv"]) == 0
    printed = capsys.readouterr().out
    assert "passed" in printed and (out / "results.csv").is_file() and (out / "summary.txt").is_file()
    page = (out / "summary.html").read_text(encoding="utf-8")
    assert page.count("data:image/png;base64,") == 3 and "<script" not in page
    assert main(["study", str(spec), "--smoke", "--out", str(out)]) == 2
    assert "pass --resume" in capsys.readouterr().err
    assert main(["study", str(spec), "--smoke", "--out", str(out), "--resume", "--format", "csv", "--no-figures"]) == 0
    assert "0 runs computed, 6 read from the cache" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[[problems]]\nname = "lasso"\n[[methods]]\nname = "gd"\n', "problems[0].name: unknown problem"),
        ('[[problems]]\nname = "least_squares"\nkappa = []\n[[methods]]\nname = "gd"\n', "the grid is empty"),
        ('[[problems]]\nname = "least_squares"\n[[methods]]\nname = "gd"\nT = "x"\n', "methods[0].T: expected"),
        ("[study\n", "not valid TOML"),
    ],
)
def test_cli_bad_spec_is_one_line_and_exit_2(tmp_path, capsys, text, message):
    spec = tmp_path / "bad.toml"
    spec.write_text(text, encoding="utf-8")
    assert main(["study", str(spec), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "o").exists()  # nothing ran, nothing was written
    assert main(["study", str(spec), "--scheduler", "localhost:1"]) == 2
    before = set(multiprocessing.active_children())
    assert main(["study", str(spec), "--jobs", "2", "--out", str(tmp_path / "o")]) == 2
    capsys.readouterr()
    time.sleep(0.2)
    assert set(multiprocessing.active_children()) <= before, "the workers started ahead end with the usage error"


def test_curves_stop_at_the_rounding_floor_instead_of_a_fixed_epsilon():
    from bntheory.study.figures import _series

    adversarial = Component("least_squares", {"d": 4, "n": 40, "start": "adversarial"})
    table = run_study(small(problems=(adversarial,), methods=(Component("gd", {"T": 400}),), repetitions=1)).table
    (reps,) = _series(table)[next(iter(_series(table)))].values()
    ratio = reps[0]
    drawn = ratio[np.isfinite(ratio)]
    assert 0 < drawn.size < ratio.size  # 400 steps reach rounding level; the curve stops there
    assert np.all(np.isnan(ratio[drawn.size :])) and drawn.min() > 0


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::ResourceWarning", "ignore::UserWarning")
def test_verify_runs_the_registry_on_dask_with_the_same_reports():
    if importlib.util.find_spec("distributed") is None:
        pytest.skip("Dask distributed is not installed (pip install 'bntheory[study]')")
    from distributed import Client, LocalCluster

    from bntheory import discovery, runner
    from bntheory.context import Context

    chosen = discovery.get(["ioffe2015.fusion", "ioffe2015.inference_affine"])
    ctx = Context.of("numpy", size="quick")
    local = runner.run_all(chosen, ctx)
    with (
        LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):
        on_dask = runner.run_all(chosen, ctx, scheduler=client)
    assert [r.result.id for r in on_dask] == [r.id for r in chosen]
    for a, b in zip(local, on_dask, strict=True):
        assert a.status == b.status
        assert [c.outcome.measured for c in a.checks] == [c.outcome.measured for c in b.checks]


def test_verify_scheduler_usage_errors(capsys):
    assert main(["verify", "--only", "ioffe2015", "--scheduler", "host:8786"]) == 2
    assert "expected an address such as tcp://host:8786" in capsys.readouterr().err
    assert main(["verify", "--only", "ioffe2015", "--scheduler", "tcp://h:1", "--jobs", "2"]) == 2
    assert "give one" in capsys.readouterr().err


def test_kill_9_then_resume_computes_only_the_missing_runs(tmp_path):
    import os
    import signal
    import subprocess
    import sys

    spec = tmp_path / "kill.toml"
    spec.write_text(
        '[study]\nname = "kill"\nrepetitions = 10\n'
        '[[problems]]\nname = "halfspace"\nd = 8\n[[methods]]\nname = "gdnp"\nT_d = 15\nT_s = 25\n'
        '[[measures]]\nname = "rho_gap"\n',
        encoding="utf-8",
    )
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "bntheory.cli", "study", str(spec), "--out", str(out), "--no-figures"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    cache = Cache(out / "cache")
    deadline = time.monotonic() + 60
    while len(cache) < 2 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    kept = len(cache)
    if proc.returncode == 0 or kept >= 10:
        pytest.skip("the study finished before the kill came (a fast machine); nothing to resume")
    assert kept >= 1 and not list(out.rglob("*.tmp"))  # whole records only: written atomically
    from bntheory.study import load_study

    study = load_study(spec)
    resumed = run_study(study, cache=out / "cache", resume=True)
    assert (resumed.computed, resumed.cached) == (10 - kept, kept)
    assert resumed.table.same_numbers(run_study(study).table)


def test_a_run_that_raises_is_an_error_verdict_and_the_others_stand(monkeypatch):
    import dataclasses

    from bntheory.study import methods

    def broken(inst, params):
        raise ArithmeticError("diverged")

    monkeypatch.setitem(methods.METHODS, "cg", dataclasses.replace(methods.METHODS["cg"], run=broken))
    result = run_study(small(problems=(LS,), methods=(GDNP, CG), repetitions=1))
    status = {(v.method, v.exponent): v for v in result.verdicts if '"kappa":10.0' in v.problem_params}
    assert status["cg", 1.0].status == "error" and "ArithmeticError: diverged" in status["cg", 1.0].detail
    assert status["gdnp", 1.0].status == "passed"
