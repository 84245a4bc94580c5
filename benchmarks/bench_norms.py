"""LayerNorm, RMSNorm, GroupNorm, InstanceNorm: bntheory.norms (NumPy) against PyTorch and a plain copy, in one run.

Per normalization and shape, as ratios against baselines measured in the same process:

* ``fwd/torch``  bntheory forward time / PyTorch's native kernel (``torch.no_grad``);
* ``f+b/torch``  forward + closed-form backward / PyTorch forward + autograd backward (x, gamma, beta);
* ``f+b BW``     bytes/s of forward + backward as a fraction of a plain copy's (the bandwidth ceiling), counting
  the minimum traffic (forward reads x, writes y; backward reads x and dy, writes dx).

LayerNorm and RMSNorm normalize the last axis ((4096, 1024): a transformer's features); GroupNorm (32 groups) and
InstanceNorm take the image layout ((256, 64, 56, 56) by default; ``--quick`` uses (64, 64, 28, 28)).
Times are the minimum over ``--repeat`` runs after one warm-up; both sides use the process's threads. LayerNorm and
RMSNorm run on the compiled kernels where numba is installed (the ``fast`` extra; printed); ``BNTHEORY_NUMBA=0``
in the environment measures the NumPy reference path instead.

Usage: ``python benchmarks/bench_norms.py [--repeat 5] [--quick]``
"""

from __future__ import annotations

import argparse
import os

import numpy as np
import torch
from _timing import best_time

from bntheory import norms
from bntheory.norms import _compiled

F = torch.nn.functional


def cases(quick: bool):
    image = (64, 64, 28, 28) if quick else (256, 64, 56, 56)
    rows = (1024, 1024) if quick else (4096, 1024)
    return [
        (
            "layer",
            rows,
            lambda x, g, b: norms.layer_norm(x, x.shape[-1:], g, b),
            lambda t, g, b: F.layer_norm(t, t.shape[-1:], g, b),
        ),
        (
            "rms",
            rows,
            lambda x, g, b: norms.rms_norm(x, x.shape[-1:], g, eps=1e-6),
            lambda t, g, b: F.rms_norm(t, t.shape[-1:], g, eps=1e-6),
        ),
        ("group", image, lambda x, g, b: norms.group_norm(x, 32, g, b), lambda t, g, b: F.group_norm(t, 32, g, b)),
        (
            "instance",
            image,
            lambda x, g, b: norms.instance_norm(x, g, b),
            lambda t, g, b: F.instance_norm(t, weight=g, bias=b),
        ),
    ]


def measure(kind, shape, ours, theirs, dtype, repeat: int) -> dict[str, float]:
    rng = np.random.default_rng(0)
    x, dy = (rng.standard_normal(shape).astype(dtype) for _ in range(2))
    params = shape[-1:] if kind in ("layer", "rms") else shape[1:2]
    gamma, beta = np.ones(params, dtype), np.zeros(params, dtype)
    tx = torch.from_numpy(x).requires_grad_()
    tg, tb = (torch.from_numpy(a).requires_grad_() for a in (gamma, beta))
    tdy = torch.from_numpy(dy)
    wrt = (tx, tg) if kind == "rms" else (tx, tg, tb)

    def torch_forward():
        with torch.no_grad():
            theirs(tx, tg, tb)

    def torch_forward_backward():
        torch.autograd.grad(theirs(tx, tg, tb), wrt, tdy)

    def ours_forward_backward():
        norms.backward(dy, ours(x, gamma, beta)[1])

    out = np.empty_like(x)
    t = {
        "copy": best_time(lambda: np.copyto(out, x), repeat),
        "torch_fwd": best_time(torch_forward, repeat),
        "torch_fb": best_time(torch_forward_backward, repeat),
        "fwd": best_time(lambda: ours(x, gamma, beta), repeat),
        "fb": best_time(ours_forward_backward, repeat),
    }
    copy_bw = 2 * x.nbytes / t["copy"]
    return {
        **t,
        "fwd/torch": t["fwd"] / t["torch_fwd"],
        "f+b/torch": t["fb"] / t["torch_fb"],
        "f+b BW": (5 * x.nbytes / t["fb"]) / copy_bw,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="smaller shapes (a smoke run)")
    args = parser.parse_args()
    fused = _compiled.load("_standardize_fused") is not None and os.environ.get("BNTHEORY_NUMBA", "1") != "0"
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; numpy {np.__version__}; "
        f"compiled LayerNorm/RMSNorm kernels: {'on' if fused else 'off'}"
    )
    print(
        f"{'norm':>9} {'shape':>17} {'dtype':>8} {'fwd ms':>8} {'torch':>8} {'fwd/torch':>9} "
        f"{'f+b ms':>8} {'torch':>8} {'f+b/torch':>9} {'f+b BW':>7}"
    )
    for kind, shape, ours, theirs in cases(args.quick):
        for dtype in (np.float32, np.float64):
            r = measure(kind, shape, ours, theirs, dtype, args.repeat)
            print(
                f"{kind:>9} {'x'.join(map(str, shape)):>17} {np.dtype(dtype).name:>8} {r['fwd'] * 1e3:8.1f} "
                f"{r['torch_fwd'] * 1e3:8.1f} {r['fwd/torch']:9.2f} {r['fb'] * 1e3:8.1f} {r['torch_fb'] * 1e3:8.1f} "
                f"{r['f+b/torch']:9.2f} {r['f+b BW']:7.0%}"
            )


if __name__ == "__main__":
    main()
