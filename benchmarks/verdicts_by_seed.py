"""Gating verdicts over seeds: every result's status for seeds 0-9, the flips, and each gate's smallest clearance.

A claim whose verdict flips between seeds has too little power (give it power; do not move its threshold). The
clearance of a passing gate is how far its measured value sits inside its bound, relative to the bound's scale:
``(bound - measured) / max(|bound|, tiny)`` for ``<=``, the mirror for ``>=``, and the distance to the nearer end
for ``in``. Tight inequalities clear by their stated slack alone (1e-12 at an equality) by design; frequency and
rate gates should clear by a visible fraction.

Run (about ten default verify runs; ~3-4 minutes on 2 cores)::

    python benchmarks/verdicts_by_seed.py [--seeds 0 1 ... 9] [--size default] [--only ID ...] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import math
from collections import defaultdict

import bntheory.results
from bntheory import runner
from bntheory._io import write_bytes_atomic
from bntheory.context import Context


def clearance(outcome) -> float:
    """How far inside its bound a passing outcome lies, relative to the bound's scale (negative: outside)."""
    m, b = outcome.measured, outcome.bound
    scale = max(abs(b), 1e-300)
    if outcome.relation == "<=":
        return (b - m) / scale
    if outcome.relation == ">=":
        return (m - b) / scale
    if outcome.relation == "in":
        return min(b - m, m - outcome.low) / max(abs(b), abs(outcome.low), 1e-300)
    return 0.0 if m == b else -1.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=list(range(10)))
    parser.add_argument("--size", default="default", choices=("quick", "default", "large"))
    parser.add_argument("--only", nargs="+", action="extend", metavar="ID")
    parser.add_argument("--jobs", type=int, default=None)
    parser.add_argument("--json", metavar="PATH")
    args = parser.parse_args(argv)
    results = bntheory.results.get(args.only) if args.only else bntheory.results.all_results()
    status: dict[str, dict[int, str]] = defaultdict(dict)
    least: dict[tuple[str, str], tuple[float, int, str]] = {}
    for seed in args.seeds:
        ctx = Context.of("numpy", seed=seed, size=args.size)
        jobs = runner.default_jobs("numpy") if args.jobs is None else args.jobs
        for rep in runner.run_all(results, ctx, jobs=jobs):
            status[rep.result.id][seed] = rep.status
            for c in rep.checks:
                if c.status == "passed" and c.kind == "numeric":
                    value = clearance(c.outcome)
                    key = (rep.result.id, c.name)
                    if key not in least or value < least[key][0]:
                        least[key] = (value, seed, f"{c.outcome.measured:.6g} {c.outcome.bound_text}")
        print(f"seed {seed}: done", flush=True)
    flips = {rid: s for rid, s in status.items() if len(set(s.values())) > 1}
    print("\nresult".ljust(48), " ".join(f"{s:>3}" for s in args.seeds))
    for rid, by_seed in status.items():
        row = " ".join(f"{by_seed[s][:3]:>3}" for s in args.seeds)
        print(f"{rid:<47} {row}{'   <- flips' if rid in flips else ''}")
    print(f"\n{len(flips)} result(s) flip between seeds" + (f": {', '.join(flips)}" if flips else ""))
    print("\nsmallest clearances of passing numeric gates (relative to the bound):")
    for (rid, name), (value, seed, text) in sorted(least.items(), key=lambda t: t[1][0])[:25]:
        print(f"  {value:10.3g}  seed {seed}  {rid}: {name[:70]} ({text})")
    if args.json:
        doc = {
            "seeds": args.seeds,
            "size": args.size,
            "status": status,
            "flips": sorted(flips),
            "clearance": [
                {"id": rid, "check": name, "clearance": v if math.isfinite(v) else str(v), "seed": s, "figure": t}
                for (rid, name), (v, s, t) in least.items()
            ],
        }
        write_bytes_atomic(args.json, (json.dumps(doc, indent=2) + "\n").encode())
    return 1 if flips else 0


if __name__ == "__main__":
    raise SystemExit(main())
