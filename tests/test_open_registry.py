"""Results stated outside the package: an installed distribution's entry point, and ``--with file.py``.

The third-party package is built in a temporary directory and installed the way an installer leaves it: the
package next to a ``<name>.dist-info`` directory holding its metadata and ``entry_points.txt``, on the path of
the processes started here (``PYTHONPATH``). Those processes see its results in ``bntheory list``, ``verify``,
``report`` and the pytest plugin, exactly like the package's own.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import bntheory.results
from bntheory import registry

#: A researcher's claims, written against the public API only: a paper handle, the kit's comparisons.
CLAIMS = '''
"""BN's output per channel: mean beta, variance gamma^2 sigma^2 / (sigma^2 + eps)."""

import numpy as np

from bntheory.checks import at_most, max_relative_error, worst
from bntheory.registry import paper
from bntheory.norms.batch import forward

{KEY} = paper("{key}", citation="{author} 2026", arxiv="2601.00001")


def _batch(ctx):
    rng = ctx.rng("batch")
    return rng.normal(rng.uniform(-2, 2), rng.uniform(0.5, 3), size=(16, 5)), rng.normal(size=5), rng.normal(size=5)


def _errors(ctx, claimed_variance):
    x, gamma, beta = _batch(ctx)
    y, _ = forward(x, gamma, beta, eps=0.1)
    var = x.var(axis=0)
    return worst(
        [max_relative_error(y.mean(axis=0), beta), max_relative_error(y.var(axis=0), claimed_variance(gamma, var))]
    )


moments = {KEY}.result(
    "moments",
    where="Lemma 1",
    title="BN output moments",
    statement=r"\\mathrm{{mean}}(y) = \\beta,\\ \\mathrm{{var}}(y) = \\gamma^2\\sigma^2/(\\sigma^2+\\epsilon)",
    tag="D",
)


@moments.numeric("forward vs the moments' closed form")
def _(ctx):
    return at_most(_errors(ctx, {variance}), 1e-12, "max relative error")


@moments.negative_control("variance gamma^2 (the eps term dropped)")
def _(ctx):
    return at_most(_errors(ctx, lambda gamma, var: gamma**2), 1e-12, "max relative error")


second = {KEY}.result("second", where="Lemma 2", title="a second result", statement="1 = 1", tag="D")


@second.numeric("one equals one")
def _(ctx):
    return at_most(0.0, 1e-12, "error")


@second.negative_control("one equals two")
def _(ctx):
    return at_most(1.0, 1e-12, "error")
'''
RIGHT = "lambda gamma, var: gamma**2 * var / (var + 0.1)"
WRONG = "lambda gamma, var: gamma**2"  # a researcher's false claim: it forgets eps


def _claims(key: str, variance: str) -> str:
    return CLAIMS.format(KEY=key.upper(), key=key, author=key[:-4].title(), variance=variance)


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """A site directory with the distribution ``smith-claims`` installed (package + dist-info with entry point)."""
    root = tmp_path_factory.mktemp("site")
    package = root / "smith_claims"
    package.mkdir()
    (package / "__init__.py").write_text('"""Smith et al. 2026, checked with bntheory."""\n')
    (package / "results.py").write_text(_claims("smith2026", RIGHT))
    info = root / "smith_claims-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: smith-claims\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[bntheory.results]\nsmith2026 = smith_claims.results\n")
    (info / "RECORD").write_text("")
    return root


def _run(args, site: Path, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]).rstrip(":")}
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_an_entry_point_result_is_listed_verified_and_reported(site, tmp_path):
    listed = _run(["-m", "bntheory.cli", "list"], site, tmp_path)
    assert listed.returncode == 0, listed.stderr
    line = next(ln for ln in listed.stdout.splitlines() if ln.startswith("smith2026.moments"))
    assert "Smith 2026, Lemma 1, arXiv:2601.00001" in line and "[from entry point smith2026 (smith-claims)]" in line
    assert "ioffe2015.transform" in listed.stdout  # the package's own results are still there

    out = tmp_path / "v.json"
    verified = _run(["-m", "bntheory.cli", "verify", "--only", "smith2026", "--json", str(out)], site, tmp_path)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    doc = json.loads(out.read_text())
    assert [(r["id"], r["status"], r["origin"]) for r in doc["results"]] == [
        ("smith2026.moments", "passed", "entry point smith2026 (smith-claims)"),
        ("smith2026.second", "passed", "entry point smith2026 (smith-claims)"),
    ]

    reported = _run(["-m", "bntheory.cli", "report", "--only", "smith2026.moments", "--out", "r"], site, tmp_path)
    assert reported.returncode == 0, reported.stderr
    html = (tmp_path / "r" / "report.html").read_text()
    assert "smith2026.moments" in html and "entry point smith2026 (smith-claims)" in html


def test_the_pytest_plugin_collects_and_gates(site, tmp_path):
    passed = _run(["-m", "pytest", "-p", "no:cacheprovider", "-q", "--bntheory=smith2026", "-rA"], site, tmp_path)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "2 passed" in passed.stdout and "bntheory::smith2026.moments" in passed.stdout

    (tmp_path / "jones.py").write_text(_claims("jones2026", WRONG))
    args = ["-m", "pytest", "-p", "no:cacheprovider", "-q", "--bntheory=jones2026", "--bntheory-with=jones.py"]
    failed = _run([*args, "--bntheory-size=quick", "--bntheory-seed=3"], site, tmp_path)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "1 failed, 1 passed" in failed.stdout
    # The failure shows the result's check table: the false variance formula, measured against its bound.
    assert "FAIL" in failed.stdout and "forward vs the moments' closed form" in failed.stdout

    unknown = _run(["-m", "pytest", "-p", "no:cacheprovider", "-q", "--bntheory=nobody2026"], site, tmp_path)
    assert unknown.returncode == 4 and "unknown result id(s): nobody2026" in unknown.stderr


def test_with_a_file_works_in_every_command_and_in_worker_processes(site, tmp_path):
    (tmp_path / "jones.py").write_text(_claims("jones2026", RIGHT))
    listed = _run(["-m", "bntheory.cli", "list", "--with", "jones.py"], site, tmp_path)
    assert "[from --with jones.py]" in listed.stdout
    out = tmp_path / "v.json"
    args = ["-m", "bntheory.cli", "verify", "--with", "jones.py", "--only", "jones2026", "--jobs", "2"]
    verified = _run([*args, "--json", str(out)], site, tmp_path)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert {r["status"] for r in json.loads(out.read_text())["results"]} == {"passed"}

    (tmp_path / "wrong.py").write_text(_claims("jones2026", WRONG))
    failed = _run(["-m", "bntheory.cli", "verify", "--with", "wrong.py", "--only", "jones2026.moments"], site, tmp_path)
    assert failed.returncode == 1 and "jones2026.moments" in failed.stdout

    missing = _run(["-m", "bntheory.cli", "verify", "--with", "nope.py"], site, tmp_path)
    assert missing.returncode == 2 and "--with nope.py: no such file" in missing.stderr
    broken = tmp_path / "broken.py"
    broken.write_text("raise RuntimeError('half-written')\n")
    crashed = _run(["-m", "bntheory.cli", "list", "--with", "broken.py"], site, tmp_path)
    assert crashed.returncode == 2 and "RuntimeError: half-written" in crashed.stderr


def test_a_paper_handle_builds_ids_and_citations():
    handle = registry.paper("handle2026", citation="Handle et al. 2026", arxiv="2602.00002")
    assert registry.paper("handle2026", citation="Handle et al. 2026", arxiv="2602.00002") is handle
    with pytest.raises(ValueError, match="already declared"):
        registry.paper("handle2026", citation="Someone else 2026")
    assert handle.cite("Theorem 3") == "Handle et al. 2026, Theorem 3, arXiv:2602.00002"
    assert registry.Paper("note2021", "Note 2021", source="a note").cite("§2") == "Note 2021, §2, a note"
    with pytest.raises(ValueError, match="key"):
        registry.paper("no spaces 2026", citation="x")
    with pytest.raises(ValueError, match="name"):
        handle.result("a.b", where="x", title="t", statement="s", tag="D")


def test_builtin_results_come_from_the_package():
    found = bntheory.results.all_results()
    assert found and {registry.origin_of(r) for r in found} == {"bntheory"}
    assert all(registry.module_of(r).startswith("bntheory.results.") for r in found)


def test_the_plugin_is_registered_as_a_pytest11_entry_point():
    from importlib.metadata import entry_points

    names = {ep.value for ep in entry_points(group="pytest11")}
    assert "bntheory.pytest_plugin" in names, "the pytest plugin is not installed: reinstall bntheory (pip install .)"


def test_notebooks_of_a_third_party_proof_run_its_registered_checks(site, tmp_path):
    """A package's proof ends in assert_holds like the built-in ones; `bntheory notebooks` executes it."""
    proofs = tmp_path / "proofs"
    proofs.mkdir()
    (proofs / "smith2026_moments.py").write_text(
        textwrap.dedent(
            """\
            # ---
            # jupyter:
            #   jupytext:
            #     formats: py:percent
            #   kernelspec:
            #     display_name: Python 3
            #     language: python
            #     name: python3
            # ---

            # %% [markdown]
            # # Smith 2026, Lemma 1

            # %%
            from bntheory.results import assert_holds

            assert_holds(proof="smith2026_moments.py")
            """
        )
    )
    (site / "smith_claims" / "results.py").write_text(
        _claims("smith2026", RIGHT).replace('    tag="D",\n)', '    tag="D",\n    proof="smith2026_moments.py",\n)', 1)
    )
    args = ["-m", "bntheory.cli", "notebooks", "--proofs", "proofs", "--out", "nb", "--only", "smith2026"]
    done = _run(args, site, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    notebook = (tmp_path / "nb" / "smith2026_moments.ipynb").read_text()
    assert "smith2026.moments" in notebook and "1 passed" in notebook
