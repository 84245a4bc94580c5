"""The command line: list, verify, --json schema, and one-line errors with exit code 2."""

import json
import subprocess
import sys

import pytest

import bntheory.results
from bntheory import cli


def test_list_prints_every_id(capsys):
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    for r in bntheory.results.all_results():
        assert r.id in out and r.citation in out


def test_verify_writes_the_schema(tmp_path, capsys):
    path = tmp_path / "sub" / "verify.json"
    code = cli.main(["verify", "--quick", "--seed", "3", "--json", str(path), "--only", "ioffe2015.transform",
                     "keras.running_stats"])
    assert code == 0
    out = capsys.readouterr().out
    assert "ioffe2015.transform" in out and "rejected" in out
    doc = json.loads(path.read_text())
    assert doc["backend"] == "numpy" and doc["seed"] == 3 and isinstance(doc["bntheory"], str)
    assert [r["id"] for r in doc["results"]] == ["ioffe2015.transform", "keras.running_stats"]
    for r in doc["results"]:
        assert {"id", "title", "citation", "checks", "negative_control", "passed", "status", "tag"} <= r.keys()
        assert r["passed"] is True and r["status"] == "passed"
        assert r["negative_control"]["rejected"] is True and r["negative_control"]["description"]
        for c in r["checks"]:
            assert c["kind"] in ("symbolic", "numeric") and isinstance(c["passed"], bool)
            assert {"measured", "bound", "seconds"} <= c.keys()
    assert not list(path.parent.glob(".*.tmp")), "no temporary file is left behind"


def test_only_is_repeatable(tmp_path):
    path = tmp_path / "verify.json"
    argv = ["verify", "--quick", "--json", str(path), "--only", "ioffe2015.transform", "--only", "keras.running_stats"]
    assert cli.main(argv) == 0
    assert [r["id"] for r in json.loads(path.read_text())["results"]] == ["ioffe2015.transform", "keras.running_stats"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["verify", "--only", "no.such"], "unknown result id(s): no.such"),
        (["verify", "--backend", "cupy"], "backend"),
    ],
)
def test_usage_errors_exit_2_with_one_line(argv, message, capsys):
    from bntheory import backend

    if argv[-1] == "cupy" and "cupy" in backend.available():
        pytest.skip("a GPU is present")
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("bntheory: error:") and message in err[0]


def test_json_to_a_directory_is_a_usage_error(tmp_path, capsys):
    assert cli.main(["verify", "--quick", "--only", "keras.running_stats", "--json", str(tmp_path)]) == 2
    assert "--json" in capsys.readouterr().err


def test_console_script_runs_as_a_module():
    proc = subprocess.run([sys.executable, "-m", "bntheory.cli", "list"], capture_output=True, text=True, check=False)
    assert proc.returncode == 0 and "ioffe2015.backprop" in proc.stdout


def test_readme_table_is_generated_from_the_registry():
    from pathlib import Path

    from bntheory import report

    readme = Path(__file__).resolve().parents[1] / "README.md"
    table = report.markdown_table(bntheory.results.all_results())
    assert table in readme.read_text(), "README table is stale: run `bntheory table --update README.md`"


def test_table_update_replaces_a_stale_table(tmp_path, capsys):
    path = tmp_path / "README.md"
    stale = "| id | tag | result | citation |\n| --- | --- | --- | --- |\n| `old.one` | P | x | y |\n"
    path.write_text(f"# title\n\n{stale}\nafter\n")
    assert cli.main(["table", "--update", str(path)]) == 0
    text = path.read_text()
    assert "old.one" not in text and "`ioffe2015.backprop`" in text and text.endswith("\nafter\n")
    (tmp_path / "empty.md").write_text("no table\n")
    assert cli.main(["table", "--update", str(tmp_path / "empty.md")]) == 2


def test_verify_a_paper_prefix_and_save_figures(tmp_path, capsys):
    only = ["--only", "santurkar2018.dln_landscape", "santurkar2018.obs4_3"]
    code = cli.main(["verify", "--quick", "--jobs", "1", *only, "--figures", str(tmp_path)])
    assert code == 0, "a result that is not reproduced does not fail the run"
    out = capsys.readouterr().out
    assert "not reproduced" in out
    assert (tmp_path / "santurkar2018.dln_landscape.dln.png").stat().st_size > 0


def test_report_writes_html_and_json(tmp_path, capsys):
    only = ["--only", "santurkar2018.dln_landscape", "keras.running_stats"]
    code = cli.main(["report", "--jobs", "1", *only, "--size", "quick", "--out", str(tmp_path)])
    assert code == 0
    page = (tmp_path / "report.html").read_text()
    assert '<table id="checks">' in page and "keras.running_stats" in page and "not reproduced" in page
    assert page.count("data:image/png;base64,") == 1, "the DLN figure is embedded"
    assert "<script" not in page, "self-contained: no external scripts"
    assert json.loads((tmp_path / "verify.json").read_text())["size"] == "quick"


def test_jobs_must_be_positive(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["verify", "--jobs", "0"])
    assert exc.value.code == 2 and "--jobs: expected a positive integer" in capsys.readouterr().err
