"""The tutorial "Verify your own claim" (docs/tutorial.rst) runs, passes, and says "false" where it should."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import bntheory.results
from bntheory.context import Context
from bntheory.run import run

TUTORIAL = Path(__file__).resolve().parents[1] / "docs" / "tutorial" / "layernorm_thm4_1.py"


def test_the_tutorial_command_passes(tmp_path):
    out = tmp_path / "v.json"
    cmd = [sys.executable, "-m", "bntheory.cli", "verify", "--with", str(TUTORIAL), "--only", "mylab2026"]
    done = subprocess.run([*cmd, "--quick", "--json", str(out)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    (result,) = json.loads(out.read_text())["results"]
    assert result["status"] == "passed" and result["negative_control"]["rejected"]
    assert result["origin"] == f"--with {TUTORIAL}"


@pytest.fixture(scope="module")
def tutorial():
    module = bntheory.results.import_source(str(TUTORIAL))
    (result,) = bntheory.results.get(["mylab2026"], [str(TUTORIAL)])
    return module, result


@pytest.mark.parametrize(
    "wrong",
    [
        pytest.param(lambda f: lambda *a: 1.001 * f(*a), id="bound inflated by 0.1%"),
        pytest.param(
            lambda f: (
                lambda delta, x, gamma, eps: (
                    f(delta, x, gamma, eps) + np.sum(gamma * delta, axis=-1) ** 2 / x.shape[-1] / (x.var(axis=-1) + eps)
                )
            ),
            id="the (1^T g)^2 term dropped (RMSNorm's form)",
        ),
        pytest.param(lambda f: lambda delta, x, gamma, eps: f(delta, x, gamma, 0.0), id="eps dropped from s"),
    ],
)
def test_the_tutorial_check_fails_on_a_wrong_formula(tutorial, monkeypatch, wrong):
    """What the tutorial invites: edit the claimed formula, and the check fails (an inflated bound too)."""
    module, result = tutorial
    assert run(result, Context(size="quick")).status == "passed"
    monkeypatch.setattr(module, "gradient_bound", wrong(module.gradient_bound))
    rep = run(result, Context(size="quick"))
    assert rep.status == "failed" and not rep.checks[0].passed
