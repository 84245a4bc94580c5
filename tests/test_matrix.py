"""The transfer matrix (THEORY-2.md §9.4): its model, ``bntheory matrix``, verify's JSON, the HTML report; and the
library pieces its results rest on (the per-group bounds, per-sample normalization, paired chains)."""

import json

import numpy as np
import pytest

import bntheory.results
from bntheory import cli, matrix, registry, report
from bntheory import representations as rep
from bntheory.context import Context
from bntheory.landscape import lipschitz
from bntheory.run import run

REGISTERED = {r.id for r in bntheory.results.all_results()}
#: Cells stated by the sibling modules of the T3 and T4 rows; they may be absent from a tree.
SIBLING_ROWS = ("T3", "T4")


# --- the model ------------------------------------------------------------------------------------------------


def test_every_cell_is_a_result_or_says_why_not():
    assert [f.key for f in matrix.FAMILIES] == ["T1", "T2", "T3", "T4", "T5", "T6"]
    for f in matrix.FAMILIES:
        assert f.bn and set(f.bn) <= REGISTERED, f"{f.key}: BN results {f.bn} must be registered"
        for norm in matrix.NORMS:
            c = matrix.cell(f.key, norm)
            if norm == "batch":
                assert c.result is None and c.verdict == "original"
            elif c.result is None:
                assert c.verdict == "n/a" and len(c.reason) > 20, (f.key, norm)
            else:
                assert c.result == f"transfer.{f.key.lower()}_{norm}"
                assert c.verdict in ("yes", "modified", "partly", "no")
                assert c.result in REGISTERED or f.key in SIBLING_ROWS, f"{c.result} is not registered"


def test_the_cells_of_this_tree_are_its_transfer_results():
    stated = {i for i in REGISTERED if i.startswith("transfer.")}
    assert stated == {i for i in matrix.result_ids() if i.startswith("transfer.")}
    # T4 and T5 InstanceNorm and T6 InstanceNorm, RMSNorm and WeightNorm do not apply.
    assert len(stated) == 5 + 5 + 5 + 4 + 4 + 2
    assert matrix.cell("T4", "instance").verdict == "n/a"


def test_unknown_cell_names_the_choices():
    with pytest.raises(KeyError, match="families"):
        matrix.cell("T9", "layer")


def test_statuses_decide_the_cells():
    statuses = dict.fromkeys(matrix.result_ids(), "passed")
    table = matrix.matrix(statuses)
    assert table.status("T1", "layer") == "passed" and table.status("T5", "instance") == "n/a"
    # The BN column takes the worst of its results; a missing result is "not run".
    statuses["santurkar2018.thm4_2"] = "not reproduced"
    del statuses["nachum2024.emergence"]
    statuses["transfer.t5_rms"] = "failed"
    table = matrix.matrix(statuses)
    assert table.status("T2", "batch") == "not reproduced"
    assert table.status("T6", "batch") == "not run"
    assert table.status("T5", "rms") == "failed"
    assert matrix.matrix({}).status("T1", "group") == "not run"


def test_statuses_from_a_verify_document_and_bad_input():
    doc = {"results": [{"id": "transfer.t1_layer", "status": "passed"}, {"id": "x.y", "status": "failed"}]}
    assert matrix.statuses_of(doc) == {"transfer.t1_layer": "passed", "x.y": "failed"}
    with pytest.raises(ValueError, match="'id' and a 'status'"):
        matrix.statuses_of({"results": [{"id": "a"}]})
    with pytest.raises(ValueError, match="'results' list"):
        matrix.statuses_of({"results": "nope"})
    with pytest.raises(TypeError, match="reports"):
        matrix.statuses_of(3)
    with pytest.raises(TypeError, match="ResultReport"):
        matrix.statuses_of([1, 2])
    with pytest.raises(ValueError, match="unknown status"):
        matrix.matrix({"transfer.t1_layer": "great"})


def test_the_table_as_text_and_json():
    table = matrix.matrix({"transfer.t5_layer": "passed"})
    text = table.format()
    for label in matrix.NORMS.values():
        assert label in text
    assert "no (passed)" in text and "n/a" in text and "T5: Daneshmand" in text
    doc = json.loads(json.dumps(table.to_dict()))
    assert doc["cells"]["layer"]["T5"] == {"status": "passed", "verdict": "no", "results": ["transfer.t5_layer"]}
    assert doc["cells"]["instance"]["T5"]["status"] == "n/a" and doc["cells"]["instance"]["T5"]["reason"]
    assert [f["key"] for f in doc["families"]] == ["T1", "T2", "T3", "T4", "T5", "T6"]


def test_a_run_fills_its_cells():
    reports = [run(registry.select(bntheory.results.all_results(), ["transfer.t6_layer"])[0], Context(size="quick"))]
    table = matrix.matrix(reports)
    assert table.status("T6", "layer") == "passed" and table.status("T6", "group") == "not run"


# --- the command, the JSON, the report ---------------------------------------------------------------------------


def _doc(tmp_path, statuses):
    path = tmp_path / "verify.json"
    path.write_text(json.dumps({"results": [{"id": k, "status": v} for k, v in statuses.items()]}))
    return path


def test_matrix_reads_a_verify_document(tmp_path, capsys):
    path = _doc(tmp_path, {"transfer.t2_rms": "passed", "santurkar2018.thm4_1": "passed"})
    assert cli.main(["matrix", "--json", str(path)]) == 0
    out = capsys.readouterr().out
    assert "modified (passed)" in out and "original (not run)" in out
    failing = _doc(tmp_path, {"transfer.t2_rms": "failed"})
    assert cli.main(["matrix", "--json", str(failing)]) == 1
    assert "modified (failed)" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("extra", "content", "message"),
    [
        (["--quick"], "{}", "give one or the other"),
        ([], None, "cannot read"),
        ([], "not json", "is not a verify --json document"),
        ([], '{"results": [{"id": 1}]}', "is not a verify --json document"),
    ],
)
def test_matrix_usage_errors_exit_2(tmp_path, capsys, extra, content, message):
    path = tmp_path / "verify.json"
    if content is not None:
        path.write_text(content)
    assert cli.main(["matrix", "--json", str(path), *extra]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


def test_matrix_runs_its_results(monkeypatch, capsys):
    monkeypatch.setattr(matrix, "result_ids", lambda: ["transfer.t6_layer", "transfer.t6_group"])
    assert cli.main(["matrix", "--quick", "--jobs", "1"]) == 0
    out = capsys.readouterr().out
    assert out.count("no (passed)") == 2 and "2 passed, 0 failed" in out


def test_verify_json_and_report_carry_the_matrix(tmp_path, capsys):
    path = tmp_path / "verify.json"
    assert cli.main(["verify", "--quick", "--jobs", "1", "--json", str(path), "--only", "transfer.t6_layer"]) == 0
    doc = json.loads(path.read_text())
    assert doc["matrix"]["cells"]["layer"]["T6"]["status"] == "passed"
    assert doc["matrix"]["cells"]["group"]["T6"]["status"] == "not run"
    reports = [run(registry.select(bntheory.results.all_results(), ["transfer.t6_layer"])[0], Context(size="quick"))]
    meta = {"version": "0", "backend": "numpy", "seed": 0, "size": "quick", "seconds": 1.0}
    page = report.to_html(reports, {}, **meta)
    assert 'id="matrix"' in page and 'class="m-passed"' in page and 'href="#transfer.t6_layer"' in page
    assert 'class="m-na" title="' in page  # a cell that does not apply says why
    other = [run(registry.select(bntheory.results.all_results(), ["keras.running_stats"])[0], Context(size="quick"))]
    assert 'id="matrix"' not in report.to_html(other, {}, **meta)


# --- the library under the cells --------------------------------------------------------------------------------


def test_group_bound_is_santurkars_for_a_constant_gain(rng):
    y, g = rng.normal(size=(7, 3)), rng.normal(size=(7, 3))
    for eps in (0.0, 0.3):
        bn = lipschitz.gradient_norm_bound(g, y, 1.7, eps=eps)
        ours = lipschitz.group_gradient_norm_bound(g.T, y.T, 1.7, eps=eps)
        np.testing.assert_allclose(ours, bn, rtol=1e-13)


def test_group_bound_takes_one_eps_per_group(rng):
    x, delta, gamma = rng.normal(size=(4, 3, 5)), rng.normal(size=(4, 3, 5)), rng.normal(size=(4, 3, 5))
    eps = np.array([0.0, 0.3, 1e-9, 2.0])[:, None]  # one per sample, shared by its three groups
    batched = lipschitz.group_gradient_norm_bound(delta, x, gamma, eps=eps)
    for i in range(4):
        one = lipschitz.group_gradient_norm_bound(delta[i], x[i], gamma[i], eps=float(eps[i, 0]))
        np.testing.assert_allclose(batched[i], one, rtol=1e-14)
    constant = np.ones((2, 5))
    with pytest.raises(ValueError, match="constant"):  # a constant group needs its own eps > 0
        lipschitz.group_gradient_norm_bound(delta[:2, 0], constant, eps=np.array([0.1, 0.0]))
    assert np.all(np.isfinite(lipschitz.group_gradient_norm_bound(delta[:2, 0], constant, eps=np.array([0.1, 0.2]))))
    with pytest.raises(ValueError, match="eps"):
        lipschitz.group_gradient_norm_bound(delta, x, eps=np.array([0.1, -1.0, 0.0, 0.0])[:, None])


def test_batched_kernel_oracle_is_the_kernel_one_sample_at_a_time(rng):
    """torch_normalization_grads (one eps per sample via the kernels' scale invariance) vs each sample alone."""
    pytest.importorskip("torch")
    from bntheory.checks.oracles.normalizations import torch_normalization, torch_normalization_grads

    eps = np.array([0.0, 0.3, 1e-9, 2.0, 0.0])
    for kind, shape, groups in (("layer", (5,), 1), ("rms", (5,), 1), ("group", (4, 3), 2), ("instance", (2, 4), 1)):
        x, dy, gain = (rng.normal(size=(5, *shape)) for _ in range(3))
        batched = torch_normalization_grads(kind, x, dy, gain, eps, groups=groups)
        for i in range(5):
            one = x[i : i + 1], dy[i : i + 1] * gain[i]
            want = torch_normalization(kind, *one, eps=eps[i], trailing=1, groups=groups)[1][0]
            np.testing.assert_allclose(batched[i], want, rtol=1e-12, atol=1e-14 * np.abs(want).max())
    with pytest.raises(ValueError, match="eps"):
        torch_normalization_grads("layer", x[:, 0], dy[:, 0], gain[:, 0], -eps, groups=1)
    with pytest.raises(ValueError, match="kind"):
        torch_normalization_grads("batch", x, dy, gain, eps, groups=1)


def test_group_hessian_form_is_santurkars_for_a_constant_gain(rng):
    y, g, v = rng.normal(size=5), rng.normal(size=5), rng.normal(size=5)
    H = rng.normal(size=(5, 5))
    bn = lipschitz.hessian_form_bound(v, H, g, y, -0.8, eps=0.2)
    ours = lipschitz.group_hessian_form(v, H, g, y, -0.8, eps=0.2)
    np.testing.assert_allclose(ours, bn, rtol=1e-13)


def test_weight_norm_gradient_norm_is_the_projection(rng):
    v, dw, g = rng.normal(size=(3, 4)), rng.normal(size=(3, 4)), rng.uniform(0.5, 2, size=3)
    u = v / np.linalg.norm(v, axis=1, keepdims=True)
    dv = g[:, None] / np.linalg.norm(v, axis=1, keepdims=True) * (dw - u * np.sum(dw * u, axis=1, keepdims=True))
    np.testing.assert_allclose(lipschitz.weight_norm_gradient_norm(dw, v, g), np.sum(dv * dv, axis=1), rtol=1e-13)


def test_group_bound_refuses_bad_groups():
    with pytest.raises(ValueError, match="at least 2 entries"):
        lipschitz.group_gradient_norm_bound(np.ones((3, 1)), np.ones((3, 1)))
    with pytest.raises(ValueError, match="eps"):
        lipschitz.group_gradient_norm_bound(np.ones(3), np.arange(3.0), eps=-1.0)


def test_per_sample_norm_normalizes_columns(rng):
    Z = rng.normal(size=(2, 8, 5))
    out = rep.per_sample_norm(Z, "layer")
    np.testing.assert_allclose(out.mean(axis=-2), 0, atol=1e-14)
    np.testing.assert_allclose((out**2).mean(axis=-2), 1, rtol=1e-13)
    np.testing.assert_allclose(np.sqrt((rep.per_sample_norm(Z, "rms") ** 2).mean(axis=-2)), 1, rtol=1e-13)
    blocks = rep.per_sample_norm(Z, "group", groups=2).reshape(2, 2, 4, 5)
    np.testing.assert_allclose(blocks.mean(axis=2), 0, atol=1e-14)
    with pytest.raises(ValueError, match="kind"):
        rep.per_sample_norm(Z, "batch")
    with pytest.raises(ValueError, match="groups"):
        rep.per_sample_norm(Z, "group", groups=3)


def test_paired_networks_are_deep_networks_on_shared_weights(rng):
    H0 = rng.normal(size=(2, 6, 6))
    variants = {"ln": {"per_sample": "layer"}, "wn": {"weight_norm": True}, "bn": {"steps": ("rc", "rs")}}
    seed = 11
    paired = rep.paired_networks(H0, 5, variants, np.random.default_rng(seed), weights="uniform", normalize=True)
    for (name, v), together in zip(variants.items(), paired, strict=True):
        steps = v.get("steps", ())
        options = {k: x for k, x in v.items() if k != "steps"}
        alone = rep.deep_network(
            H0, 5, steps, np.random.default_rng(seed), weights="uniform", normalize=True, **options
        )
        np.testing.assert_allclose(together, alone, rtol=1e-13, atol=1e-15, err_msg=name)
    with pytest.raises(ValueError, match="unknown keyword"):
        rep.paired_networks(H0, 1, {"x": {"colour": 1}}, rng)
    with pytest.raises(ValueError, match="per_sample"):
        rep.deep_network(H0, 1, (), rng, per_sample="batch")
