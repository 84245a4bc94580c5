"""CPU seconds per registered result at a size, in one process, with the one-time imports paid first.

``bntheory verify --quick`` is CPU-bound on 2 cores: its wall time is about (the checks' CPU + each process's fixed
cost of discovery, ``import torch`` and ``torch._dynamo``) / 2. This prints the checks' part, result by result
(``time.process_time`` around :func:`bntheory.run.run`, BLAS and PyTorch on one thread as in a run), sorted, with
the sum: the list to work down when the quick run must get faster without losing power.

    python benchmarks/check_cpu.py [--size quick|default|large] [--top N] [--only ID ...]
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.update(dict.fromkeys(("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"), "1"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="quick", choices=("quick", "default", "large"))
    parser.add_argument("--top", type=int, default=30, help="results to list (default 30)")
    parser.add_argument("--only", nargs="+", metavar="ID", help="ids or paper prefixes (default: all)")
    args = parser.parse_args()

    from bntheory import discovery, registry
    from bntheory.context import Context
    from bntheory.run import run

    try:  # one-time imports that a run pays once per process, kept out of the first result that needs them
        import torch
        import torch._dynamo

        torch.set_num_threads(1)
    except ImportError:
        pass
    results = discovery.all_results()
    if args.only:
        results = registry.select(results, args.only)
    ctx = Context(size=args.size)
    rows = []
    for result in results:
        start = time.process_time()
        report = run(result, ctx)
        rows.append((time.process_time() - start, result.id, report.status))
    rows.sort(reverse=True)
    print(f"{sum(t for t, *_ in rows):.2f} s CPU over {len(rows)} results at --size {args.size}")
    for seconds, rid, status in rows[: args.top]:
        print(f"{seconds:7.3f}  {rid}  ({status})")


if __name__ == "__main__":
    main()
