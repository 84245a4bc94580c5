"""The runnable derivations in proofs/: every one the registry names exists, and each one runs."""

import runpy
from pathlib import Path

import pytest

import bntheory.results

PROOFS = Path(__file__).resolve().parents[1] / "proofs"


def test_every_result_names_an_existing_proof():
    missing = [r.id for r in bntheory.results.all_results() if not r.proof]
    assert not missing, f"results without a proof in proofs/: {missing}"
    named = {r.proof for r in bntheory.results.all_results()}
    for name in named:
        assert (PROOFS / name).is_file(), name


@pytest.mark.parametrize("path", sorted(PROOFS.glob("*.py")), ids=lambda p: p.name)
def test_proof_runs(path):
    text = path.read_text()
    assert text.startswith("# ---\n# jupyter:") and "# %% [markdown]" in text, "jupytext percent format"
    runpy.run_path(str(path), run_name="__main__")


@pytest.mark.parametrize("path", sorted(PROOFS.glob("*.py")), ids=lambda p: p.name)
def test_proof_ends_in_the_registry_checks(path):
    last_cell = path.read_text().rsplit("# %%", 1)[-1]
    assert f'assert_holds(proof="{path.name}")' in last_cell, "the last cell runs the registry's checks"
