"""The documentation builds: Sphinx with numpydoc over the public docstrings, warnings as errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_the_docs_build_without_warnings(tmp_path):
    cmd = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", str(DOCS), str(tmp_path)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    html = (tmp_path / "api.html").read_text()
    for name in ("bntheory.registry.paper", "bntheory.checks.inequality.attack", "bntheory.norms.batch.forward"):
        assert f'id="{name}"' in html, f"{name} is missing from the API reference"
    assert "Verify your own claim" in (tmp_path / "tutorial.html").read_text()
