"""GPU smoke figures (CuPy): deep random BN network and GDNP, each against its matrix-product floor, one run.

* deep_network (RC + RS + ReLU), batch 64, depth 100, widths 1024 and 4096: time per layer / one ``W @ H``
  on the GPU, with W drawn on the host (explicit weights) and with the Gram-law sampler;
* GDNP on least squares, d = 4096, kappa = 10: time per iteration / one ``S @ w`` on the GPU.

Usage (on a machine with a CUDA GPU and CuPy): ``python benchmarks/bench_gpu_smoke.py``.
"""

from __future__ import annotations

import time

import array_api_compat.cupy as xp
import cupy
import numpy as np

from bntheory import gdnp, problems
from bntheory import representations as rep
from bntheory.problems import spd_with_condition


def timed(fn, repeat: int = 5) -> float:
    fn()
    cupy.cuda.Device().synchronize()
    best = np.inf
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        cupy.cuda.Device().synchronize()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    print(cupy.cuda.runtime.getDeviceProperties(0)["name"].decode())
    for d in (1024, 4096):
        rng = np.random.default_rng(0)
        H = xp.asarray(rng.standard_normal((d, 64)))
        W = xp.asarray(rng.standard_normal((d, d)))
        mm = timed(lambda W=W, H=H: W @ H)
        for method in ("weights", "gram"):
            per = (
                timed(
                    lambda H=H, m=method, rng=rng: rep.deep_network(
                        H, 100, ("rc", "rs", "relu"), rng, variance=2.0, method=m
                    ),
                    repeat=1,
                )
                / 100
            )
            print(f"d = {d}, {method}: {1e3 * per:.3f} ms/layer, matmul {1e3 * mm:.3f} ms, ratio {per / mm:.1f}")
    rng = np.random.default_rng(1)
    d = 4096
    S = spd_with_condition(rng, d, 10.0)
    u = S @ rng.normal(size=d)
    problem = problems.least_squares_moments(xp.asarray(S), xp.asarray(u), 0.0)
    w0 = xp.asarray(rng.normal(size=d))
    T = 40
    per = timed(lambda: gdnp.gdnp(problem, w0, T_d=T, T_s=40), repeat=1) / (T + 1)
    mv = timed(lambda: problem.S @ w0)
    res = gdnp.gdnp(problem, w0, T_d=T, T_s=40)
    print(
        f"GDNP d = {d}: {1e3 * per:.2f} ms/iteration, matvec {1e3 * mv:.3f} ms, ratio {per / mv:.0f}; "
        f"final rho gap {res.trace.rho[-1] + float(u @ np.linalg.solve(S, u)):.3g}"
    )


if __name__ == "__main__":
    main()
