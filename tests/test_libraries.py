"""BN in the libraries: the conformance results run the real libraries, and their findings are listed apart."""

import importlib.util
import json

import numpy as np
import pytest

import bntheory.results
from bntheory import cli, libraries, report
from bntheory.context import Context
from bntheory.run import run

IDS = [
    "pytorch.running_stats",
    "pytorch.batch_norm_hessian",
    "pytorch.norm_kernel_hessians",
    "keras.running_stats",
    "keras.outputs",
    "keras.float64_precision",
    "keras.large_mean_variance",
    "curvlinops.bn_curvature",
    "backpack.bn",
    "pyhessian.bn",
]

#: What THEORY-2.md §11 measured: the claim checks each library version misses (all others conform).
DEVIATES = {
    "pytorch.batch_norm_hessian": {"torch.func.hessian", "jacrev(jacrev)", "jvp(jacrev)", "jacfwd(jacfwd)"},
    "pytorch.norm_kernel_hessians": {"F.layer_norm: torch.func", "F.instance_norm: torch.func"},
    "keras.float64_precision": {"float64 layer output"},
    "keras.large_mean_variance": {
        "numpy backend: batch variance at mean 3000",
        "torch backend: batch variance at mean 3000",
    },
    "curvlinops.bn_curvature": {"HessianLinearOperator", "track_running_stats=True"},
    "backpack.bn": {"training mode: BatchGrad"},
    "pyhessian.bn": {
        "the module stays",
        "top eigenvalue vs the training",
        "trace of its Hessian operator vs the training",
    },
}


@pytest.fixture(scope="module")
def reports():
    results = bntheory.results.get(IDS)
    return [run(r, Context(size="quick").scoped(r.id)) for r in results]


def test_every_library_result_runs_and_none_fails(reports):
    for rep in reports:
        assert all(c.status != "skipped" for c in rep.checks), f"{rep.result.id}: a library is missing in the tests"
        expected = "not reproduced" if rep.result.id in DEVIATES else "passed"
        assert rep.status == expected, (rep.result.id, [(c.name, c.status, c.detail) for c in rep.checks])
        assert rep.control is not None and rep.control.rejected, rep.result.id


def test_the_rows_say_which_library_version_deviates_where(reports):
    rows = libraries.rows(reports)
    assert {r["result"] for r in rows} == set(IDS)
    for row in rows:
        deviating = any(row["checked"].startswith(p) for p in DEVIATES.get(row["result"], ()))
        assert row["verdict"] == ("deviates" if deviating else "conforms"), row
        assert row["version"] not in ("", "not installed") and np.isfinite(row["error"]), row
        assert ("repro" in row) == deviating
    versions = {r["library"]: r["version"] for r in rows}
    assert versions["PyTorch"].startswith("2.13.0")


def test_the_measured_errors_are_those_of_theory_2_section_11(reports):
    by = {(r["result"], r["checked"].split(" ")[0]): r["error"] for r in libraries.rows(reports)}
    assert by[("pytorch.batch_norm_hessian", "torch.func.hessian")] == pytest.approx(0.534, abs=1e-3)
    assert by[("pytorch.batch_norm_hessian", "jacrev(grad)")] < 1e-15
    assert by[("keras.float64_precision", "float64")] > 1e-8  # float32 compute
    assert by[("pyhessian.bn", "the")] == 1  # switched to eval mode


def test_the_table_json_and_html_list_them_apart(reports):
    text = report.format_table(reports)
    assert "BN in libraries" in text and "minimal reproducing case, pytorch.batch_norm_hessian" in text
    doc = json.loads(report.to_json(reports, version="0", backend="numpy", seed=0, size="quick"))
    rows = doc["libraries"]
    assert {"library", "version", "checked", "verdict", "error"} <= rows[0].keys()
    assert any(r["verdict"] == "deviates" and "torch.func" in r["repro"] for r in rows)
    assert doc["passed"] is True, "a deviating library is not a failure of the run"
    page = report.to_html(reports, {}, version="0", backend="numpy", seed=0, size="quick", seconds=1.0)
    assert '<table id="libraries">' in page and "Minimal reproducing cases" in page


def test_each_repro_is_short_enough_for_a_bug_report():
    for rid in IDS:
        record = libraries.declared(rid)
        assert record is not None and len(record.repro.splitlines()) <= 16, rid
        compile(record.repro, rid, "exec")


def test_a_missing_library_skips_with_the_pip_fix(monkeypatch):
    real = importlib.util.find_spec
    missing = {"keras", "jax", "curvlinops", "backpack", "pyhessian"}
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name in missing else real(name, *a))
    for rid in ("keras.outputs", "curvlinops.bn_curvature"):
        rep = run(bntheory.results.get([rid])[0], Context(size="quick").scoped(rid))
        claims = [c for c in rep.checks if c.claim]
        assert claims and all(c.status == "skipped" for c in claims)
        assert all("pip install 'bntheory[libraries]'" in c.detail for c in claims)
        assert rep.status == "passed", "the references still ran: a missing library is no failure"
        assert {r["verdict"] for r in libraries.rows([rep])} == {"skipped"}


def test_verify_prints_the_conformance_table(tmp_path, capsys):
    path = tmp_path / "v.json"
    assert cli.main(["verify", "--quick", "--jobs", "1", "--only", "backpack", "--json", str(path)]) == 0
    out = capsys.readouterr().out
    assert "BN in libraries" in out and "BackPACK" in out and "deviates" in out
    assert json.loads(path.read_text())["libraries"][0]["library"] == "BackPACK"


def test_the_module_name_selects_the_family():
    assert {r.id for r in bntheory.results.get(["libraries"])} == set(IDS)


def test_bad_input_is_refused_with_the_fix():
    from bntheory.libraries import keras_bn, torch_ad

    with pytest.raises(ValueError, match="paths"):
        torch_ad.native_bn_hessians(np.ones((4, 1)), np.ones((4, 1)), 1.0, 0.0, 1e-5, paths=("hessian",))
    with pytest.raises(ValueError, match="x, w"):
        torch_ad.primitive_bn_hessian(np.ones(4), np.ones(4), 1.0, 0.0, 1e-5)
    with pytest.raises(ValueError, match="kernel"):
        torch_ad.primitive_row_norm_hessian("group_norm", np.ones((2, 4)), np.ones((2, 4)), 1e-5)
    with pytest.raises(ValueError, match="backend"):
        keras_bn.batch_variance(np.ones((4, 2)), "tensorflow")
    with pytest.raises(ValueError, match="declared"):
        libraries.declare("pytorch.batch_norm_hessian", library="Other", distribution="x", repro="print()")
