"""Deep random BN networks: time per layer against the matrix multiply of the same shapes, in one run.

Width d in {1024, 4096}, batch n = 64, depth 100, RC + RS + ReLU. For each width the run measures

* ``layer/mm``    time per layer of ``representations.deep_network`` (explicit Gaussian W) / one ``W @ H`` (the
  ceiling: a layer must at least multiply); the rest is drawing W, which is d^2 random numbers per layer;
* ``gram/mm``     the same with ``method="gram"`` (samples W H from its law: d n random numbers and an n × n
  eigendecomposition per layer);
* ``rng/mm``      drawing one d × d Gaussian matrix / the multiply, to show where the time goes.

Usage: ``python benchmarks/bench_representations.py [--widths 1024 4096] [--depth 100]``. On a GPU pass CuPy
arrays to ``deep_network`` (weights are drawn on the host and moved; see the note in the module).
"""

from __future__ import annotations

import argparse

import numpy as np
from _timing import best_time

from bntheory import representations as rep


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--widths", type=int, nargs="+", default=[1024, 4096])
    parser.add_argument("--depth", type=int, default=100)
    args = parser.parse_args()
    n = 64
    print(f"{'d':>6} {'layer ms':>9} {'mm ms':>7} {'layer/mm':>9} {'gram/mm':>8} {'rng/mm':>7}")
    for d in args.widths:
        rng = np.random.default_rng(0)
        H = rng.standard_normal((d, n))
        W = rng.standard_normal((d, d))
        mm = best_time(lambda W=W, H=H: W @ H)
        draw = best_time(lambda d=d, rng=rng: rng.standard_normal((d, d)))

        def network(method, H=H, rng=rng):
            return rep.deep_network(H, args.depth, ("rc", "rs", "relu"), rng, variance=2.0, method=method)

        layer = best_time(lambda: network("weights"), repeat=1) / args.depth
        gram = best_time(lambda: network("gram"), repeat=1) / args.depth
        print(f"{d:>6} {1e3 * layer:>9.2f} {1e3 * mm:>7.2f} {layer / mm:>9.1f} {gram / mm:>8.2f} {draw / mm:>7.1f}")


if __name__ == "__main__":
    main()
