"""The batched attack on Santurkar et al.'s inequalities: instances per second, and the worst ratios by budget.

Two tables, in one run, for the four inequality results (Theorems 4.1, 4.2, 4.4, Lemma 4.5; their specs at the
default size, every label of the family):

* **rate**: instances per second of the attack's evaluation, batched (``chunk`` instances per call, the
  default) against the per-instance search (one instance per call through the same spec, oracle and library
  function: ``chunk=1``), and their ratio. The per-instance figure is what the search was before it was batched
  (it then evaluated one instance at a time in Python, with Nelder-Mead climbs);
* **worst**: the attack (:func:`bntheory.checks.inequality.attack_family`) with 10^4 and 10^6 random instances per
  family, and 10^8 with ``--size large``: the worst reported ratio and the lowest ratio reached at the equality
  instances (both 1 for a sharp, true bound), for the check and for its negative control, and the seconds taken.

Run on the CPU held to one thread per process, as ``bntheory verify`` runs a check; ``--backend cupy`` runs the
batches on the GPU (the per-instance rate is then skipped: one instance per kernel launch is not a search).

Usage: ``python benchmarks/bench_attack.py [--size {quick,default,large}] [--backend numpy] [--json out.json]``
"""

from __future__ import annotations

import argparse
import json
import math
import time

import numpy as np

from bntheory.checks import inequality
from bntheory.context import Context
from bntheory.results import santurkar2018_bounds as bounds

#: The four inequality results: the check's family and the control's, by the builders of the results module.
FAMILIES = {
    "thm4_1": (lambda ctx: bounds._thm4_1(ctx, lambda m: 1 / m), lambda ctx: bounds._thm4_1(ctx, lambda m: m**-0.5)),
    "thm4_2": (lambda ctx: bounds._thm4_2(ctx, False), lambda ctx: bounds._thm4_2(ctx, True)),
    "thm4_4": (lambda ctx: bounds._thm4_4(ctx, False), lambda ctx: bounds._thm4_4(ctx, True)),
    "lemma4_5": (lambda ctx: bounds._lemma4_5(ctx, 1), lambda ctx: bounds._lemma4_5(ctx, -1)),
}


def rate(specs, ctx: Context, *, draws: int, chunk: int) -> float:
    """Instances per second of the random phase over the labels of a family (no climb, no refinement)."""
    total, seconds = 0, 0.0
    for spec in specs.values():
        rng = np.random.default_rng(0)
        inequality.attack(spec, rng, xp=ctx.xp, draws=min(draws, 64), generations=0, refine_top=0, chunk=chunk)
        start = time.perf_counter()
        inequality.attack(spec, rng, xp=ctx.xp, draws=draws, generations=0, refine_top=0, chunk=chunk)
        seconds += time.perf_counter() - start
        total += draws
    return total / seconds


def worst(specs, ctx: Context, instances: int) -> dict[str, float]:
    """The attack of ``verify`` (its default climb and refinement) with `instances` random draws per family."""
    settings = {k: v for k, v in inequality.BUDGETS["default"].items() if k not in ("instances", "controls")}
    draws = -(-instances // len(specs))
    start = time.perf_counter()
    found = [
        inequality.attack(spec, ctx.rng(f"attack/{label}", shared=True), xp=ctx.xp, draws=draws, **settings)
        for label, spec in specs.items()
    ]
    seconds = time.perf_counter() - start
    reach = [a.equality_ratio for a in found if a.equality_ratio is not None]
    top = max(found, key=lambda a: a.ratio)
    return {
        "worst": float(top.ratio),
        # Kept so that a ratio above 1 can be re-evaluated in high precision (is it rounding or a counterexample?).
        "worst_instance": {name: np.asarray(v).tolist() for name, v in top.point.items()},
        "reach": float(np.min(reach)) if reach else math.nan,
        "evaluations": sum(a.evaluations for a in found),
        "seconds": seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=("quick", "default", "large"), default="default")
    parser.add_argument("--backend", default="numpy")
    parser.add_argument("--json", help="write the figures here")
    args = parser.parse_args()
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    ctx = Context.of(args.backend, size="default").scoped("bench.attack")
    budgets = {"quick": (10**4,), "default": (10**4, 10**6), "large": (10**4, 10**6, 10**8)}[args.size]
    batched_draws, single_draws = (20_000, 200) if args.size == "quick" else (200_000, 1_000)
    figures: dict[str, dict] = {}
    print(f"{'theorem':9s} {'batched/s':>11s} {'per-instance/s':>15s} {'speedup':>8s}")
    for name, (check, _) in FAMILIES.items():
        specs = check(ctx)
        batched = rate(specs, ctx, draws=batched_draws, chunk=1 << 15)
        single = rate(specs, ctx, draws=single_draws, chunk=1) if args.backend == "numpy" else math.nan
        figures[name] = {"batched_per_s": batched, "per_instance_per_s": single}
        print(f"{name:9s} {batched:11.0f} {single:15.0f} {batched / single:7.0f}x", flush=True)
    print()
    print(f"{'theorem':9s} {'instances':>10s} {'check worst':>20s} {'check reach':>20s} {'control':>12s} {'s':>6s}")
    for name, (check, control) in FAMILIES.items():
        for n in budgets:
            ours, theirs = worst(check(ctx), ctx, n), worst(control(ctx), ctx, n)
            figures[name][f"worst@{n}"] = {"check": ours, "control": theirs}
            print(
                f"{name:9s} {n:10.0e} {ours['worst']:20.16f} {ours['reach']:20.16f} "
                f"{theirs['worst']:12.6g} {ours['seconds'] + theirs['seconds']:6.1f}",
                flush=True,
            )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(figures, f, indent=1)


if __name__ == "__main__":
    main()
