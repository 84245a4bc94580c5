"""diag(G) of a training-mode BN network: back-propagated factors against forming the full GGN, in one run.

For MLPs of growing size (cross-entropy, 10 classes, batch 32), each method runs in a fresh subprocess that
reports its wall time and peak resident memory (``resource.getrusage``):

* ``factors``  ``curvature.ggn_diagonal`` (C backward passes of the N·C factors, memory linear in N);
* ``dense``    ``curvature.ggn_dense`` (full Jacobian and J^T H J, O(D^2) memory), only while it fits.

Usage: ``python benchmarks/bench_ggn.py [--hidden 32 128 512 1000] [--dense-limit 20000]``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

CHILD = """
import json, resource, sys, time
import numpy as np
from bntheory import curvature as cv
hidden, method = int(sys.argv[1]), sys.argv[2]
model = cv.Model(inputs=100, hidden=hidden, classes=10, bn=True)
rng = np.random.default_rng(0)
theta, X = model.init(rng), rng.normal(size=(32, 100))
start = time.perf_counter()
out = (cv.ggn_diagonal if method == "factors" else lambda *a, **k: np.diag(cv.ggn_dense(*a, **k)))(
    model, theta, X, loss="cross_entropy")
seconds = time.perf_counter() - start
rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"D": model.size, "seconds": seconds, "rss_mb": rss_mb, "checksum": float(np.sum(out))}))
"""


def run(hidden: int, method: str) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(hidden), method], capture_output=True, text=True, check=True
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hidden", type=int, nargs="+", default=[32, 128, 512, 1000])
    parser.add_argument("--dense-limit", type=int, default=20000, help="largest D for which the full G is formed")
    args = parser.parse_args()
    print(f"{'D':>8} {'factors s':>10} {'MB':>7} {'dense s':>9} {'MB':>7} {'time ratio':>10} {'mem ratio':>9}")
    for hidden in args.hidden:
        f = run(hidden, "factors")
        if f["D"] <= args.dense_limit:
            d = run(hidden, "dense")
            assert abs(d["checksum"] - f["checksum"]) <= 1e-8 * abs(d["checksum"]), "diagonals disagree"
            print(
                f"{f['D']:>8} {f['seconds']:>10.3f} {f['rss_mb']:>7.0f} {d['seconds']:>9.3f} {d['rss_mb']:>7.0f} "
                f"{d['seconds'] / f['seconds']:>10.1f} {d['rss_mb'] / f['rss_mb']:>9.1f}"
            )
        else:
            need = f"(G would need {8 * f['D'] ** 2 / 2**30:.0f} GiB)"
            print(f"{f['D']:>8} {f['seconds']:>10.3f} {f['rss_mb']:>7.0f} {need:>29}")


if __name__ == "__main__":
    main()
