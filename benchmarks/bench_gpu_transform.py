"""BN forward and forward+backward on the GPU: bntheory on CuPy against PyTorch CUDA and a device copy, one run.

Ratios, each against a baseline measured in the same process:

* ``fwd/torch``, ``f+b/torch``  bntheory (CuPy arrays, the portable array-API path) / ``torch.nn.functional.batch_norm``
  (training mode, CUDA) forward, and forward + backward;
* ``fwd BW``, ``f+b BW``  achieved bandwidth as a fraction of a device-to-device copy's (measured in the same run),
  counting the least traffic each must move: forward reads x and writes y (2 arrays, like the copy); forward +
  backward also reads dy and x and writes dx (5 arrays).

Targets (issue 9): forward+backward at most 1.0x PyTorch's time and at least 70% of the copy bandwidth.

Usage (on a machine with a CUDA GPU, CuPy and PyTorch): ``python benchmarks/bench_gpu_transform.py``.
"""

from __future__ import annotations

import time

import array_api_compat.cupy as xp
import cupy
import numpy as np
import torch

from bntheory.norms import batch as transform


def timed(fn, repeat: int = 20) -> float:
    for _ in range(3):
        fn()
    cupy.cuda.Device().synchronize()
    torch.cuda.synchronize()
    best = np.inf
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        cupy.cuda.Device().synchronize()
        torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return best


def measure(shape: tuple[int, ...], dtype: str) -> tuple[float, ...]:
    """(forward ms, fwd/torch, f+b/torch, forward BW / copy BW, f+b BW / copy BW) for one shape and dtype."""
    rng = np.random.default_rng(0)
    x_np = rng.standard_normal(shape).astype(dtype)
    dy_np = rng.standard_normal(shape).astype(dtype)
    C = shape[1]
    x, dy = xp.asarray(x_np), xp.asarray(dy_np)
    gamma, beta = xp.ones(C, dtype=x.dtype), xp.zeros(C, dtype=x.dtype)
    xt = torch.from_numpy(x_np).cuda().requires_grad_(True)
    gt = torch.ones(C, dtype=xt.dtype, device="cuda", requires_grad=True)
    bt = torch.zeros(C, dtype=xt.dtype, device="cuda", requires_grad=True)
    dyt = torch.from_numpy(dy_np).cuda()
    out = xp.empty_like(x)

    def ours_fb():
        _, cache = transform.forward(x, gamma, beta)
        transform.backward(dy, cache)

    def torch_fwd():
        with torch.no_grad():
            torch.nn.functional.batch_norm(xt, None, None, gt, bt, training=True)

    def torch_fb():
        y = torch.nn.functional.batch_norm(xt, None, None, gt, bt, training=True)
        torch.autograd.grad(y, (xt, gt, bt), dyt)

    fwd = timed(lambda: transform.forward(x, gamma, beta))
    copy = timed(lambda: cupy.copyto(out, x))
    tf, tfb, fb = timed(torch_fwd), timed(torch_fb), timed(ours_fb)
    return 1e3 * fwd, fwd / tf, fb / tfb, copy / fwd, 2.5 * copy / fb


def main() -> None:
    print(torch.cuda.get_device_name(0))
    print(f"{'shape':>15} {'dtype':>8} {'fwd ms':>8} {'fwd/torch':>9} {'f+b/torch':>9} {'fwd BW':>7} {'f+b BW':>7}")
    for shape in ((65536, 1024), (256, 256, 32, 32)):
        ms, rf, rfb, bw, bwfb = measure(shape, "float32")
        label = "x".join(map(str, shape))
        print(f"{label:>15} {'float32':>8} {ms:>8.3f} {rf:>9.2f} {rfb:>9.2f} {bw:>7.0%} {bwfb:>7.0%}")

if __name__ == "__main__":
    main()
