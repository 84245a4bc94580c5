"""Peak memory of per-component gradients and the GGN diagonal against the batch size N (issue 21).

Each point runs in a fresh subprocess: it imports everything, runs the function once on a tiny batch (so lazy
imports and PyTorch's first-call allocations count as baseline), records ``ru_maxrss``, then runs the function
at batch size N and reports the growth of the peak resident set over that baseline (``resource.getrusage``;
tracemalloc does not see PyTorch's allocations). The fitted exponent is the least-squares slope of
log(growth) on log(N). The model is :func:`bntheory.curvature.random_problem`'s default (4 -> 6 -> BN -> tanh -> 3,
D = 63), so the O(ND) output itself is small and what grows is the method's working memory.

Usage: ``python benchmarks/bench_curvature_memory.py [--samples 512 1024 2048 4096] [--tree /path/to/checkout]``
(`--tree` measures another checkout, e.g. the code before the change).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

import numpy as np

CHILD = """
import json, resource, sys, time
import numpy as np
from bntheory import curvature as cv
N, method = int(sys.argv[1]), sys.argv[2]
fn = {"per_component": lambda p: cv.per_component_gradients(p.model, p.theta, p.X, p.Y),
      "ggn_diagonal": lambda p: cv.ggn_diagonal(p.model, p.theta, p.X, loss="cross_entropy")}[method]
fn(cv.random_problem(np.random.default_rng(0), samples=8))
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
p = cv.random_problem(np.random.default_rng(1), samples=N)
start = time.perf_counter()
out = fn(p)
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": seconds, "growth_mb": (peak - base) / 1024, "checksum": float(np.sum(out))}))
"""


def run(N: int, method: str, tree: str | None) -> dict:
    # `python -c` puts its working directory first on sys.path, so the child runs in the tree it measures.
    tree = tree or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=tree)
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(N), method], capture_output=True, text=True, env=env, cwd=tree
    )
    if proc.returncode:
        return {"seconds": float("nan"), "growth_mb": float("nan"), "error": proc.stderr.strip().splitlines()[-1]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def exponent(Ns, growth) -> float:
    """Least-squares slope of log(growth) on log(N) over the points with a positive, finite growth."""
    pts = [(n, g) for n, g in zip(Ns, growth, strict=True) if np.isfinite(g) and g > 0]
    if len(pts) < 2:
        return float("nan")
    x, y = np.log([p[0] for p in pts]), np.log([p[1] for p in pts])
    return float(np.polyfit(x, y, 1)[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, nargs="+", default=[512, 1024, 2048, 4096])
    parser.add_argument("--methods", nargs="+", default=["per_component", "ggn_diagonal"])
    parser.add_argument("--tree", default=None, help="PYTHONPATH of the checkout to measure (default: this one)")
    args = parser.parse_args()
    for method in args.methods:
        rows = [run(N, method, args.tree) for N in args.samples]
        print(f"{method}:  {'N':>6} {'peak growth MB':>15} {'seconds':>8}")
        for N, r in zip(args.samples, rows, strict=True):
            print(f"{'':15} {N:>6} {r['growth_mb']:>15.1f} {r['seconds']:>8.3f}  {r.get('error', '')}")
        slope = exponent(args.samples, [r["growth_mb"] for r in rows])
        print(f"{'':15} fitted exponent of the growth in N: {slope:.2f}")


if __name__ == "__main__":
    main()
