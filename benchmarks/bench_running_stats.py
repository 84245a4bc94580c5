"""Peak memory of the running-statistics updates: temporaries against the size of the batch.

``update_running_stats`` and ``population_stats`` produce 2 x C numbers; their temporaries should not be copies of
the batch. Measured with :mod:`tracemalloc` (NumPy reports its allocations to it) as the peak above the memory held
before the call, for a float64 batch of the given shape, together with the batch's own size.

Usage: ``python benchmarks/bench_running_stats.py [--shapes 4096x1024 65536x64]``
"""

from __future__ import annotations

import argparse
import tracemalloc

import numpy as np

from bntheory.norms import batch


def peak_bytes(fn) -> int:
    """Peak traced allocation of ``fn()`` above what was allocated before it."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak - base


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", nargs="+", default=["4096x1024", "65536x64"])
    args = parser.parse_args()
    print(f"{'shape':>12} {'batch MiB':>10} {'update_running_stats MiB':>25} {'population_stats MiB':>21}")
    for spec in args.shapes:
        shape = tuple(int(s) for s in spec.split("x"))
        x = np.random.default_rng(0).standard_normal(shape)
        c = shape[1]
        batch.update_running_stats(np.zeros(c), np.ones(c), x[:2], momentum=0.1)  # warm-up: lazy imports
        update = peak_bytes(lambda x=x, c=c: batch.update_running_stats(np.zeros(c), np.ones(c), x, momentum=0.1))
        population = peak_bytes(lambda x=x: batch.population_stats([x, x]))
        print(f"{spec:>12} {x.nbytes / 2**20:10.1f} {update / 2**20:25.2f} {population / 2**20:21.2f}")


if __name__ == "__main__":
    main()
