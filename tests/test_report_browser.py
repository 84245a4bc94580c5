"""The HTML report in a real browser: headless Chromium renders the table, the statements and the figures.

Marked ``browser``; skipped where no Chromium is installed, except when ``BNTHEORY_REQUIRE_BROWSER=1``
(``.ci/run`` sets it after installing Debian's ``chromium``), where a missing browser is a failure.
"""

import json
import os
import re
import shutil
import subprocess

import numpy as np
import pytest

from bntheory import cli

pytestmark = pytest.mark.browser

WIDTH = 1280

# Injected into a copy of the report (the report itself runs no script): once everything has loaded, the
# boxes of the table, of every figure and of every formula, in CSS pixels of the page.
PROBE = """<script>
window.addEventListener("load", () => {
  const box = (e) => { const r = e.getBoundingClientRect();
    return [r.left + scrollX, r.top + scrollY, r.width, r.height]; };
  const out = {
    height: document.documentElement.scrollHeight,
    table: box(document.getElementById("checks")),
    images: [...document.querySelectorAll("#figures img")].map(
      (img) => ({ok: img.complete && img.naturalWidth > 0, box: box(img)})),
    math: [...document.querySelectorAll("math")].map(box),
  };
  const pre = document.createElement("pre");
  pre.id = "probe";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>"""


def _chromium() -> str | None:
    found = next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)
    if found is None and os.environ.get("BNTHEORY_REQUIRE_BROWSER") == "1":
        pytest.fail("BNTHEORY_REQUIRE_BROWSER=1 but no chromium on PATH (apt-get install chromium)")
    return found


def _run(browser: str, *args: str) -> subprocess.CompletedProcess:
    # --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--enable-logging=stderr", "--v=0"]
    return subprocess.run([browser, *flags, *args], capture_output=True, text=True, timeout=120, check=True)


def test_report_renders_in_headless_chromium(tmp_path, capsys):
    browser = _chromium()
    if browser is None:
        pytest.skip("no chromium on PATH (apt-get install chromium)")
    only = ["santurkar2018.thm4_1", "kohler2019.ls_rate", "kohler2019.mlp_lemma"]
    out = tmp_path / "report"
    assert cli.main(["report", "--jobs", "1", "--size", "quick", "--out", str(out), "--only", *only]) == 0
    capsys.readouterr()
    page = out / "report.html"

    probed = tmp_path / "probe.html"
    probed.write_text(page.read_text().replace("</body>", PROBE + "</body>"))
    dom = _run(browser, f"--window-size={WIDTH},1000", "--dump-dom", probed.as_uri()).stdout
    found = re.search(r'<pre id="probe">(.*?)</pre>', dom, re.S)
    assert found, "the probe did not run: the page did not finish loading"
    layout = json.loads(found.group(1).replace("&quot;", '"'))

    shot = tmp_path / "report.png"
    height = min(int(layout["height"]) + 10, 12000)
    run = _run(browser, f"--window-size={WIDTH},{height}", f"--screenshot={shot}", page.as_uri())
    console = [line for line in run.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]
    assert not console, f"the browser console reported: {console}"

    import matplotlib.image

    pixels = matplotlib.image.imread(shot)[..., :3]

    def painted(box, what):
        x, y, w, h = (round(v) for v in box)
        assert w > 20 and h > 10, f"{what} has no size on the page: {box}"
        area = pixels[y : y + h, x : x + w]
        assert area.size and float(np.std(area)) > 0.02, f"{what} is blank in the screenshot"

    painted(layout["table"], "the checks table")
    # One worst-case histogram (thm4_1) and the ls_rate convergence figure.
    assert len(layout["images"]) == 2
    for k, image in enumerate(layout["images"]):
        assert image["ok"], f"figure {k} did not decode"
        painted(image["box"], f"figure {k}")
    assert len(layout["math"]) == len(only), "every statement is MathML"
    for k, box in enumerate(layout["math"]):
        painted(box, f"formula {k}")
