"""Running results in parallel worker processes gives what running them here gives."""

import subprocess
import sys

import pytest

import bntheory.results
from bntheory import runner
from bntheory.context import Context

CHEAP = ["ioffe2015.transform", "nachum2024.rc_rank", "keras.running_stats", "santurkar2018.obs4_3"]


def _context() -> Context:
    return Context(backend="numpy", seed=5, size="quick")


def _summary(reports):
    rows = []
    for rep in reports:
        rows.append((rep.result.id, rep.status, tuple((c.status, c.outcome.measured) for c in rep.checks)))
        rows.append((rep.control.rejected, rep.control.outcome.measured))
    return rows


def test_parallel_run_equals_serial_run():
    results = bntheory.results.get(CHEAP)
    seen = []
    parallel = runner.run_all(results, _context(), jobs=2, progress=lambda *args: seen.append(args[:2]))
    serial = runner.run_all(results, _context(), jobs=1)
    assert [r.result.id for r in parallel] == CHEAP, "reports come back in the order asked for"
    assert all(r.result is s.result for r, s in zip(parallel, serial, strict=True))
    assert _summary(parallel) == _summary(serial), "seeded per check: the process a result runs in changes nothing"
    assert sorted(seen) == [(k, len(CHEAP)) for k in range(1, len(CHEAP) + 1)]


@pytest.mark.parametrize("jobs", [0, -1, 1.5, True])
def test_jobs_must_be_a_positive_integer(jobs):
    with pytest.raises(ValueError, match="jobs"):
        runner.run_all(bntheory.results.get(CHEAP[:1]), _context(), jobs=jobs)


def test_default_jobs():
    assert runner.default_jobs("cupy") == 1
    assert 1 <= runner.default_jobs("numpy") <= runner.MAX_DEFAULT_JOBS


def _in_a_fresh_process(body: str) -> str:
    """Run `body` in a new interpreter with PyTorch not imported; its printed output."""
    pytest.importorskip("torch")
    header = "import sys\nimport bntheory.results\nfrom bntheory import runner\nfrom bntheory.context import Context\n"
    done = subprocess.run([sys.executable, "-c", header + body], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_the_parent_leaves_pytorch_work_to_the_workers():
    """Without PyTorch imported, the run's own process takes only results that do not need it (its import costs
    more than the PyTorch work it would take over), and a run of PyTorch results alone still completes."""
    printed = _in_a_fresh_process(
        "if __name__ == '__main__':\n"
        "    ctx = Context(size='quick')\n"
        f"    for ids in ({CHEAP!r}, ['ioffe2015.transform', 'dangel2021.ggn_rank']):\n"
        "        reports = runner.run_all(bntheory.results.get(ids), ctx, jobs=2)\n"
        "        assert [r.result.id for r in reports] == ids and all(r.status == 'passed' for r in reports)\n"
        "    print('torch' in sys.modules)\n"
    )
    assert printed == "False"


def test_results_that_do_not_declare_pytorch_do_not_import_it():
    """The run's own process takes the results whose checks do not declare ``needs=("torch",)`` (see above): an
    undeclared import would pay PyTorch's import there again. Every such result, run at the quick size in one fresh
    process, leaves ``torch`` unimported."""
    printed = _in_a_fresh_process(
        "from bntheory.run import run\n"
        "plain = [r for r in bntheory.results.all_results() if not runner._needs(r, 'torch')]\n"
        "for r in plain:\n"
        "    run(r, Context(size='quick'))\n"
        "    if 'torch' in sys.modules:\n"
        "        print(r.id)\n"
        "        break\n"
        "else:\n"
        "    print(len(plain))\n"
    )
    assert printed.isdigit(), f"{printed} imports PyTorch without declaring it"
