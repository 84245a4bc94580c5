"""The command line under bad arguments and faults: checked before any check runs, one line, nothing left over."""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bntheory import cli

CHEAP = ["--only", "keras.running_stats", "ioffe2015.population_stats"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["verify", "--seed", "-1"], "--seed: expected a non-negative integer"),
        (["verify", "--json", ""], "--json: '' is not a file name"),
        (["verify", "--json", "somewhere/"], "is not a file name"),
        (["verify", "--quick", "--size", "large"], "--quick and --size large contradict"),
        (["verify", "--figures", ""], "--figures: give a directory"),
        (["report", "--out", ""], "--out: give a directory"),
    ],
)
def test_bad_arguments_are_one_line_usage_errors(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    try:
        code = cli.main(argv)
    except SystemExit as exc:  # argparse's own usage errors (the type of --seed) exit 2 themselves
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert message in err[-1] and not any(line.startswith("[") for line in err), "nothing ran"


def test_unwritable_paths_are_refused_before_any_check_runs(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    for argv in (["verify", "--json", str(blocker / "v.json")], ["verify", "--figures", str(blocker / "figs")]):
        assert cli.main([*argv, *CHEAP]) == 2
        err = capsys.readouterr().err
        assert "not a directory" in err.lower() and "[1/" not in err


def test_jobs_above_the_cores_are_capped(capsys):
    assert cli.main(["verify", "--quick", "--jobs", "1000", "--only", "keras.running_stats"]) == 0
    assert "capped to the" in capsys.readouterr().err


def test_workers_started_ahead_end_with_a_usage_error_found_at_discovery(capsys):
    # verify starts its workers before discovery; an unknown id, found there, must not leave them behind.
    assert cli.main(["verify", "--jobs", "2", "--only", "no.such_result"]) == 2
    assert "unknown result id" in capsys.readouterr().err
    for _ in range(100):
        if not multiprocessing.active_children():
            break
        time.sleep(0.05)
    else:
        raise AssertionError(f"left running: {multiprocessing.active_children()}")


def test_the_console_script_exits_with_the_code_of_main_and_flushed_output(tmp_path):
    # cli.command skips the interpreter's teardown (os._exit): the exit code and the buffered stdout must survive.
    ok = subprocess.run(
        [sys.executable, "-m", "bntheory.cli", "verify", *CHEAP, "--json", "v.json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert ok.returncode == 0 and "0 failed" in ok.stdout and ok.stdout.rstrip().endswith("v.json"), ok.stderr
    assert json.loads((tmp_path / "v.json").read_text())["passed"] is True
    bad = subprocess.run(
        [sys.executable, "-m", "bntheory.cli", "verify", "--only", "no.such_result"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert bad.returncode == 2 and "unknown result id" in bad.stderr


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="sets the pipe's size with F_SETPIPE_SZ")
def test_a_reader_that_goes_away_ends_the_command_quietly(tmp_path):
    # `bntheory list | head -1`: the pipe closes under the command; exit code 1 and no traceback. The pipe is made
    # smaller than the listing (a page), so the command is still writing when the reader goes.
    proc = subprocess.Popen(
        [sys.executable, "-m", "bntheory.cli", "list"], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    import fcntl  # Linux only, as the test

    fcntl.fcntl(proc.stdout.fileno(), 1031, 4096)  # F_SETPIPE_SZ, before the command has written anything
    assert proc.stdout.readline()
    proc.stdout.close()
    with proc.stderr:
        err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 1 and "Traceback" not in err, err


def test_report_replaces_its_directory_as_one_unit(tmp_path):
    out = tmp_path / "r"
    argv = ["report", "--size", "quick", "--jobs", "1", "--only", "keras.running_stats", "--out", str(out)]
    assert cli.main(argv) == 0 and cli.main(argv) == 0
    assert sorted(p.name for p in out.iterdir()) == ["report.html", "verify.json"]
    assert not [p for p in tmp_path.iterdir() if p.name != "r"], "no temporary directory is left"
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    assert cli.main([*argv[:-1], str(mine)]) == 0
    assert (mine / "notes.txt").read_text() == "keep me" and (mine / "report.html").exists()


def _start(args, tmp_path):
    # The run under test gets SIGINT as a terminal would. Where this suite itself runs as a background job of a
    # non-interactive shell, SIGINT is ignored and an exec'd child inherits it ignored (Python then installs no
    # KeyboardInterrupt); a *handled* signal is reset to its default on exec, so it is handled here while the child
    # starts (no preexec_fn: that forks, which JAX, loaded by other tests, warns against).
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "bntheory.cli", *args],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
    finally:
        signal.signal(signal.SIGINT, previous)


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(c) for c in path.read_text().split()] if path.exists() else []


def _wait_for_worker(proc) -> int:
    """The pool's worker among the run's children (multiprocessing also starts a resource tracker)."""
    for _ in range(600):
        for pid in _children(proc.pid):
            with contextlib.suppress(OSError):
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
                if b"spawn_main" in cmdline and b"resource_tracker" not in cmdline:
                    return pid
        time.sleep(0.05)
    raise AssertionError("no worker process started")


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs /proc to find the workers")
def test_ctrl_c_ends_with_one_line_and_the_finished_results(tmp_path):
    proc = _start(["verify", "--jobs", "2", "--json", "v.json"], tmp_path)
    # Wait until some results finished, then interrupt the whole process group, as a terminal's Ctrl-C does.
    lines = []
    while len(lines) < 3:
        lines.append(proc.stderr.readline())
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    tail = [line for line in (lines[-1] + err).splitlines() if line.startswith("bntheory:")]
    assert tail and "interrupted" in tail[-1] and "Traceback" not in err
    doc = json.loads((tmp_path / "v.json").read_text())
    assert doc["incomplete"] == "interrupted" and doc["passed"] is False and len(doc["results"]) >= 2


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs /proc to find the workers")
def test_a_worker_exits_when_the_main_process_is_killed(tmp_path):
    proc = _start(["verify", "--jobs", "2"], tmp_path)
    worker = _wait_for_worker(proc)
    time.sleep(1.0)
    proc.kill()  # kill -9: the main process runs no cleanup at all
    proc.communicate(timeout=30)
    for _ in range(100):
        if not Path(f"/proc/{worker}").exists() or "Z" in Path(f"/proc/{worker}/stat").read_text().split()[2]:
            break
        time.sleep(0.1)
    else:
        raise AssertionError(f"worker {worker} outlived the killed run")


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs /proc to find the workers")
def test_a_dead_worker_ends_the_run_with_one_line_keeping_the_finished_results(tmp_path):
    proc = _start(["verify", "--jobs", "2", "--json", "v.json"], tmp_path)
    worker = _wait_for_worker(proc)
    lines = []
    while len(lines) < 2:
        lines.append(proc.stderr.readline())
    os.kill(worker, signal.SIGKILL)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1
    assert "Traceback" not in err and "a worker process died while running" in err
    doc = json.loads((tmp_path / "v.json").read_text())
    assert doc["incomplete"].startswith("a worker process died") and doc["results"]
