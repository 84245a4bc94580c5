"""Notebooks are generated from proofs/: present, not stale, executable, and written atomically."""

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat", reason="the 'notebooks' extra is not installed")

from bntheory import cli, notebooks  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PROOFS = sorted((ROOT / "proofs").glob("*.py"))


@pytest.mark.parametrize("proof", PROOFS, ids=lambda p: p.stem)
def test_committed_notebook_matches_its_proof(proof):
    notebook = ROOT / "notebooks" / f"{proof.stem}.ipynb"
    assert notebook.exists(), f"missing: run `bntheory notebooks --only {proof.stem}`"
    assert not notebooks.is_stale(proof, notebook), f"stale: run `bntheory notebooks --only {proof.stem}`"
    executed = nbformat.read(notebook, as_version=4)
    assert all(c.get("execution_count") for c in executed.cells if c.cell_type == "code"), "not executed"


def test_build_executes_and_a_failing_cell_is_named(tmp_path):
    out = notebooks.build(ROOT / "proofs" / "santurkar2018_jacobian.py", tmp_path, progress=False)
    assert not notebooks.is_stale(ROOT / "proofs" / "santurkar2018_jacobian.py", out)
    bad = tmp_path / "proofs" / "broken.py"
    bad.parent.mkdir()
    bad.write_text("# %% [markdown]\n# a broken proof\n\n# %%\nx = 1\n\n# %%\nraise ValueError('boom')\n")
    (tmp_path / "broken.ipynb").write_text("previous")
    with pytest.raises(notebooks.NotebookError, match=r"broken.ipynb: cell 2 failed: .*boom"):
        notebooks.build(bad, tmp_path, progress=False)
    assert (tmp_path / "broken.ipynb").read_text() == "previous", "a failed run keeps the previous notebook"


def test_cli_selects_and_reports_unknown(tmp_path, capsys):
    assert (
        cli.main(["notebooks", "--only", "no_such_proof", "--proofs", str(ROOT / "proofs"), "--out", str(tmp_path)])
        == 2
    )
    assert "no proof for: no_such_proof" in capsys.readouterr().err
    assert [p.stem for p in notebooks.proof_files(ROOT / "proofs", ["kohler2019.rayleigh"])] == [
        "kohler2019_decoupling"
    ]
