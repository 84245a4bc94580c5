"""BN forward and forward+backward: bntheory (NumPy kernels, and the numba kernels) against PyTorch and a copy.

Every figure is a ratio against a baseline measured in the same process, so machines compare:

* ``fwd/torch``      bntheory forward time / ``torch.nn.functional.batch_norm(training=True)`` time;
* ``f+b/torch``      forward + closed-form backward / PyTorch forward + autograd backward;
* ``fwd BW``, ``f+b BW``  achieved bytes/s as a fraction of a plain copy's (the memory-bandwidth ceiling),
  counting the minimum traffic: forward reads x and writes y; backward reads x and dy and writes dx. The forward
  reads x twice (statistics, then y), so it can reach at most 2/3 of a copy's bandwidth out of cache.
  ``fwd BW*`` is the same against a copy into a freshly allocated array (``x.copy()``), which pays, as the
  forward does for y, the page faults of a new buffer; ``fwd out BW`` is the forward into a given output
  (``out=``, reused across calls as ``np.copyto``'s destination is), against the copy.

Rows ``numpy`` run the NumPy kernels (``BNTHEORY_NUMBA=0``), rows ``numba`` the compiled kernels (the ``fast``
extra); every output is new memory, as PyTorch allocates it. The machine may be shared: each figure is the median
over ``--rounds`` rounds, in each of which every contender (copy, PyTorch, ours) is timed once (best of
``--repeat``), one after the other, so that a ratio compares runs close in time; the spread printed is the
rounds' quartiles. PyTorch uses as many threads as the process may (``torch.get_num_threads()``, printed); so do
bntheory's kernels. ``--jit`` measures, in fresh processes, the first call's compile cost of the numba kernels
with an empty cache and with the cache that first run wrote.

Usage: ``python benchmarks/bench_transform.py [--rounds 25] [--repeat 3] [--shapes 4096x1024 65536x256] [--jit]``
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch

from bntheory.norms import _batch_kernels as _numpy_kernels
from bntheory.norms import _compiled
from bntheory.norms import batch as transform


def contenders(shape: tuple[int, ...], dtype):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(dtype)
    dy = rng.standard_normal(shape).astype(dtype)
    channels = shape[1]
    gamma, beta = np.ones(channels, dtype), np.zeros(channels, dtype)
    tx = torch.from_numpy(x).requires_grad_()
    tg, tb = torch.from_numpy(gamma).requires_grad_(), torch.from_numpy(beta).requires_grad_()
    tdy = torch.from_numpy(dy)
    out, y_out = np.empty_like(x), np.empty_like(x)

    def torch_forward():
        with torch.no_grad():
            torch.nn.functional.batch_norm(tx, None, None, tg, tb, training=True)

    def torch_forward_backward():
        y = torch.nn.functional.batch_norm(tx, None, None, tg, tb, training=True)
        torch.autograd.grad(y, (tx, tg, tb), tdy)

    def ours_forward_backward():
        _, cache = transform.forward(x, gamma, beta)
        transform.backward(dy, cache)

    return x.nbytes, {
        "copy": lambda: np.copyto(out, x),
        "new copy": x.copy,
        "torch_fwd": torch_forward,
        "torch_fb": torch_forward_backward,
        "fwd": lambda: transform.forward(x, gamma, beta),
        "fwd out": lambda: transform.forward(x, gamma, beta, out=y_out),
        "fb": ours_forward_backward,
    }


def measure(shape: tuple[int, ...], dtype, path: str, rounds: int, repeat: int) -> dict[str, np.ndarray]:
    """Per round: the ratios of one case on one path (``numpy`` or ``numba``)."""
    os.environ["BNTHEORY_NUMBA"] = "0" if path == "numpy" else "1"
    nbytes, fns = contenders(shape, dtype)
    for fn in fns.values():
        fn()  # warm-up (and, on the numba path, compilation)
    rows = []
    for _ in range(rounds):
        t = {name: min(_once(fn) for _ in range(repeat)) for name, fn in fns.items()}
        rows.append(
            {
                "fwd ms": t["fwd"] * 1e3,
                "f+b ms": t["fb"] * 1e3,
                "fwd/torch": t["fwd"] / t["torch_fwd"],
                "f+b/torch": t["fb"] / t["torch_fb"],
                "fwd BW": t["copy"] / t["fwd"],
                "fwd BW*": t["new copy"] / t["fwd"],
                "fwd out BW": t["copy"] / t["fwd out"],
                "f+b BW": 2.5 * t["copy"] / t["fb"],
                "copy GB/s": 2 * nbytes / t["copy"] / 1e9,
            }
        )
    return {key: np.array([r[key] for r in rows]) for key in rows[0]}


def _once(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def jit_cost() -> None:
    """First forward+backward call per dtype in fresh processes: cold (empty numba cache), then cached."""
    code = (
        "import time, numpy as np; t0 = time.perf_counter(); import numba; t1 = time.perf_counter()\n"
        "from bntheory.norms import _batch_fused as f\n"
        "for dt in (np.float32, np.float64):\n"
        "    x = np.ones((4, 3), dt); x[0] = 0; g = np.ones(3, dt); s = time.perf_counter()\n"
        "    y, *st = f.forward(x, g, g, 1e-5); f.backward(x, x, *st, g)\n"
        "    print(f'  {np.dtype(dt).name}: {time.perf_counter() - s:.2f} s', end='')\n"
        "print(f'  (import numba {t1 - t0:.2f} s)')\n"
    )
    with tempfile.TemporaryDirectory() as cache_dir:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache_dir}
        for label in ("cold cache", "warm cache"):
            print(f"first call, {label}:", end="", flush=True)
            subprocess.run([sys.executable, "-c", code], env=env, check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=25)
    # Best of 3 consecutive calls per contender and round: its steady state. A first call after another contender's
    # allocations pays for memory that its own loop reuses (measured: our in-cache forward 3.3 ms right after a
    # PyTorch call, 2.0 ms in its own loop), which is the allocator's state, not the kernel. Every contender gets it.
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--shapes", nargs="+", default=["4096x1024", "65536x256"])
    parser.add_argument("--paths", nargs="+", default=["numpy", "numba"], choices=["numpy", "numba"])
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="threads for PyTorch and bntheory's kernels (default: what the process may use)",
    )
    parser.add_argument("--jit", action="store_true", help="also measure the numba kernels' first-call cost")
    args = parser.parse_args()
    if args.threads is not None:
        # Both sides get the same threads; with 1, every contender runs as the (single-threaded) copy does.
        torch.set_num_threads(args.threads)
        _numpy_kernels._workers = lambda: args.threads
    if _compiled.load("_batch_fused") is None:
        print("numba is not installed (pip install 'bntheory[fast]'): the numba rows are left out")
        args.paths = [p for p in args.paths if p == "numpy"]
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; numpy {np.__version__}; "
        f"median [quartiles] over {args.rounds} rounds"
    )
    keys = ["fwd ms", "fwd/torch", "f+b ms", "f+b/torch", "fwd BW", "fwd BW*", "fwd out BW", "f+b BW", "copy GB/s"]
    print(f"{'shape':>10} {'dtype':>7} {'path':>5} " + " ".join(f"{k:>17}" for k in keys))
    for spec in args.shapes:
        shape = tuple(int(s) for s in spec.split("x"))
        for dtype in (np.float32, np.float64):
            for path in args.paths:
                r = measure(shape, dtype, path, args.rounds, args.repeat)
                cells = []
                for k in keys:
                    lo, med, hi = np.quantile(r[k], [0.25, 0.5, 0.75])
                    fmt = "{:.0%}" if "BW" in k else "{:.2f}"
                    cells.append(f"{fmt.format(med)} [{fmt.format(lo)}-{fmt.format(hi)}]".rjust(17))
                print(f"{spec:>10} {np.dtype(dtype).name:>7} {path:>5} " + " ".join(cells), flush=True)
    if args.jit:
        jit_cost()


if __name__ == "__main__":
    main()
