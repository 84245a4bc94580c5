"""GPU smoke figures (CuPy): deep random BN network and GDNP, each against its matrix-product floor, one run.

* deep_network (RC + RS + ReLU), batch 64, depth 100, widths 1024 and 4096: time per layer / one ``W @ H``
  on the GPU, with W drawn on the host (explicit weights) and with the Gram-law sampler;
* GDNP on least squares, d = 16384, kappa = 10 (S built on the GPU): time per iteration (the difference of a
  40- and a 10-iteration run, so the set-up is not counted; ``diagnostics=False``) / one ``S @ w`` on the GPU.

Usage (on a machine with a CUDA GPU and CuPy): ``python benchmarks/bench_gpu_smoke.py``.
"""

from __future__ import annotations

import time

import array_api_compat.cupy as xp
import cupy
import numpy as np

from bntheory import representations as rep
from bntheory.optim import gdnp, problems


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
    d = 16384
    generator = cupy.random.default_rng(1)
    # S = Q diag(eigenvalues in [1, 10]) Q^T built on the device: a host QR at this size takes minutes.
    Q, _ = cupy.linalg.qr(generator.standard_normal((d, d)))
    S = (Q * cupy.linspace(1.0, 10.0, d)) @ Q.T
    S = (S + S.T) / 2
    u = S @ generator.standard_normal(d)
    problem = problems.least_squares_moments(S, u, 0.0)
    w0 = generator.standard_normal(d)

    def run(T):
        return gdnp.gdnp(problem, w0, T_d=T, T_s=40, diagnostics=False)

    per = (timed(lambda: run(40), repeat=1) - timed(lambda: run(10), repeat=1)) / 30
    mv = timed(lambda: problem.S @ w0)
    res = run(40)
    rho_star = -float(u @ problem.optimum)
    print(
        f"GDNP d = {d}: {1e3 * per:.2f} ms/iteration, matvec {1e3 * mv:.3f} ms, ratio {per / mv:.2f}; "
        f"final rho gap {res.trace.rho[-1] - rho_star:.3g}"
    )

if __name__ == "__main__":
    main()
