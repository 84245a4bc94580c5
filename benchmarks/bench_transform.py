"""BN forward and forward+backward: bntheory (NumPy) against PyTorch and a plain copy, in one run.

Every figure is a ratio against a baseline measured in the same process, so machines compare:

* ``fwd/torch``      bntheory forward time / ``torch.nn.functional.batch_norm(training=True)`` time;
* ``f+b/torch``      forward + closed-form backward / PyTorch forward + autograd backward;
* ``fwd BW``, ``f+b BW``  achieved bytes/s as a fraction of a plain copy's (the memory-bandwidth ceiling),
  counting the minimum traffic: forward reads x and writes y; backward reads x and dy and writes dx.

Times are the minimum over ``--repeat`` runs after one warm-up. PyTorch uses as many threads as the
process may (``torch.get_num_threads()``, printed); so does bntheory's NumPy kernel.

Usage: ``python benchmarks/bench_transform.py [--repeat 15] [--shapes 4096x1024 65536x256]``
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from _timing import best_time

from bntheory.norms import batch as transform


def measure(shape: tuple[int, ...], dtype, repeat: int) -> dict[str, float]:
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(dtype)
    dy = rng.standard_normal(shape).astype(dtype)
    channels = shape[1]
    gamma, beta = np.ones(channels, dtype), np.zeros(channels, dtype)
    tx = torch.from_numpy(x).requires_grad_()
    tg, tb = torch.from_numpy(gamma).requires_grad_(), torch.from_numpy(beta).requires_grad_()
    tdy = torch.from_numpy(dy)

    def torch_forward():
        with torch.no_grad():
            torch.nn.functional.batch_norm(tx, None, None, tg, tb, training=True)

    def torch_forward_backward():
        y = torch.nn.functional.batch_norm(tx, None, None, tg, tb, training=True)
        torch.autograd.grad(y, (tx, tg, tb), tdy)

    def ours_forward_backward():
        _, cache = transform.forward(x, gamma, beta)
        transform.backward(dy, cache)

    out = np.empty_like(x)
    t = {
        "copy": best_time(lambda: np.copyto(out, x), repeat),
        "torch_fwd": best_time(torch_forward, repeat),
        "torch_fb": best_time(torch_forward_backward, repeat),
        "fwd": best_time(lambda: transform.forward(x, gamma, beta), repeat),
        "fb": best_time(ours_forward_backward, repeat),
    }
    copy_bw = 2 * x.nbytes / t["copy"]
    return {
        **t,
        "fwd/torch": t["fwd"] / t["torch_fwd"],
        "f+b/torch": t["fb"] / t["torch_fb"],
        "fwd BW": (2 * x.nbytes / t["fwd"]) / copy_bw,
        "f+b BW": (5 * x.nbytes / t["fb"]) / copy_bw,
        "copy GB/s": copy_bw / 1e9,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--shapes", nargs="+", default=["4096x1024", "65536x256"])
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; numpy {np.__version__}")
    header = f"{'shape':>14} {'dtype':>8} {'fwd ms':>8} {'torch':>8} {'fwd/torch':>9} " \
             f"{'f+b ms':>8} {'torch':>8} {'f+b/torch':>9} {'fwd BW':>7} {'f+b BW':>7} {'copy GB/s':>9}"
    print(header)
    for spec in args.shapes:
        shape = tuple(int(s) for s in spec.split("x"))
        for dtype in (np.float32, np.float64):
            r = measure(shape, dtype, args.repeat)
            print(f"{spec:>14} {np.dtype(dtype).name:>8} {r['fwd'] * 1e3:8.2f} {r['torch_fwd'] * 1e3:8.2f} "
                  f"{r['fwd/torch']:9.2f} {r['fb'] * 1e3:8.2f} {r['torch_fb'] * 1e3:8.2f} {r['f+b/torch']:9.2f} "
                  f"{r['fwd BW']:7.0%} {r['f+b BW']:7.0%} {r['copy GB/s']:9.1f}")


if __name__ == "__main__":
    main()
