r"""Daneshmand et al. 2020 and 2021: BN avoids rank collapse, and orthogonalizes, in deep random networks.

H. Daneshmand, J. Kohler, F. Bach, T. Hofmann, A. Lucchi, "Batch normalization provably avoids rank collapse for
randomly initialised deep networks", NeurIPS 2020, arXiv:2003.01652 (THEORY.md §5.1, THEORY-2.md §12.2);
H. Daneshmand, A. Joudaki, F. Bach, "Batch normalization orthogonalizes representations in deep random networks",
NeurIPS 2021, arXiv:2106.03970 (THEORY-2.md §12.1, which overrides THEORY.md §5.2).

Library code under test: :mod:`bntheory.representations`. The reference table of THEORY.md §5.1 (an independent
reproduction of the authors' setting) is gated at its own settings; numerical ranks are reported with the
tolerance used. Oracles: NumPy's ``matrix_rank`` and its tolerance, the soft rank from traces, the gap from
singular values (:mod:`bntheory.checks.instances.networks`, which also builds the chains).
"""

from __future__ import annotations

import numpy as np

from bntheory import representations as rep
from bntheory.backend import to_numpy
from bntheory.checks.compare import Outcome, Worst, at_least, at_most, within, worst
from bntheory.checks.instances import networks as nets
from bntheory.checks.tolerances import (
    FLOAT64_ORACLE,
    GAP_DECAY,
    STATIONARY_SOFT_RANK,
    TABLE_RANK,
    TABLE_SOFT_ABS,
    TABLE_SOFT_REL,
)
from bntheory.context import Context
from bntheory.registry import ARRAY, paper

DANESHMAND2020 = paper("daneshmand2020", citation="Daneshmand et al. 2020", arxiv="2003.01652")
DANESHMAND2021 = paper("daneshmand2021", citation="Daneshmand et al. 2021", arxiv="2106.03970")
REP = "bntheory.representations."
#: THEORY.md §5.1 reference (d = N = 32, uniform unit-variance weights, float64 tolerance, medians of 3 seeds):
#: depth -> (rank no BN, rank BN, soft rank no BN, soft rank BN).
REFERENCE = {0: (32, 32, 16, 16), 100: (15, 18, 1.08, 5.0), 300: (6, 13, 1.00, 5.1), 1000: (2, 10, 1.00, 5.3)}
#: THEORY.md §5.1: stationary soft rank of the rescaling-only chain for d = 8, 16, ..., 256.
STATIONARY = {8: 2.2, 16: 3.3, 32: 4.9, 64: 7.2, 128: 10.5, 256: 15.1}


def _snapshots(ctx: Context, steps: tuple[str, ...]) -> dict[int, np.ndarray]:
    """Batches of the reference chain (3 networks, d = N = 32) at the reference depths, shared by the checks."""
    return nets.memoized(
        ctx,
        "daneshmand2020.chain",
        ("+".join(steps) or "linear",),
        lambda rng, xp: nets.chain_snapshots(
            rng, xp, steps=steps, depths=tuple(REFERENCE), width=32, seeds=3, weights="uniform"
        ),
    )


def _measured_table(ctx: Context) -> dict[int, tuple[float, float, float, float]]:
    """Depth -> (median rank no BN, median rank BN, median soft rank no BN, median soft rank BN), library measures."""
    plain, bn = _snapshots(ctx, ()), _snapshots(ctx, ("rc", "rs"))
    table = {}
    for t in REFERENCE:
        ranks = [float(np.median(to_numpy(rep.numerical_rank(ctx.asarray(s[t]))[0]))) for s in (plain, bn)]
        soft = [float(np.median(to_numpy(rep.soft_rank(ctx.asarray(s[t]))))) for s in (plain, bn)]
        table[t] = (*ranks, *soft)
    return table


def _table_outcome(ctx: Context, reference: dict[int, tuple[float, ...]]) -> Outcome:
    """Worst deviation from a claimed table in units of its tolerance (<= 1 passes)."""
    table = _measured_table(ctx)
    acc = Worst()
    for t, claimed in reference.items():
        for j, (m, r) in enumerate(zip(table[t], claimed, strict=True)):
            # checks.tolerances: ranks +-2, soft ranks +-(0.3 + 25%) (seed-to-seed spread of a median of 3).
            tol = TABLE_RANK.value if j < 2 else TABLE_SOFT_ABS.value + TABLE_SOFT_REL.value * r
            acc.add(abs(m - r) / tol, f"depth {t}, {('rank', 'rank', 'soft', 'soft')[j]} {'BN' if j % 2 else 'no BN'}")
    rows = "; ".join(
        f"depth {t}: rank {v[0]:g}/{v[1]:g} (ref {r[0]:g}/{r[1]:g}), soft {v[2]:.3g}/{v[3]:.3g} (ref {r[2]:g}/{r[3]:g})"
        for (t, v), r in zip(table.items(), reference.values(), strict=True)
    )
    return at_most(float(acc), 1.0, f"no BN/BN; worst at {acc.where}: {rows}")


rank_collapse = DANESHMAND2020.result(
    "rank_collapse",
    title="Without BN the rank of a deep random linear network collapses; with BN it stays bounded away from 1",
    where="Theorem 2 (informal; formal Theorem 14 not read)",
    tag="P",
    statement=(
        r"\text{no BN: }r(H_\ell)\to1;\quad\text{BN (under additional technical assumptions): }"
        r"\lim_L\frac1L\sum_{\ell\le L}\operatorname{rank}_\tau(H_\ell)"
        r"=\Omega\big((1-\tau)^2\sqrt d\big),\ r(H)=\frac{\operatorname{tr}(HH^\top)^2}{\|HH^\top\|_F^2}"
    ),
    assumptions=(
        "linear network, d = N = 32, weights i.i.d. U[-sqrt 3, sqrt 3] fresh per layer",
        "BN = per-feature centering + division by the biased std",
        "rank at NumPy's float64 tolerance",
        "the theorem holds 'under some additional technical assumptions' (informal Theorem 2, THEORY-2.md §12.2)",
    ),
    notes=(
        "THEORY.md §5.1: claim [P] (abstract and the authors' README), reference numbers [D]. Checked: soft rank "
        "< 1.1 at depth 300 without BN, > 3 at depth 1000 with BN; THEORY.md's table gated entry by entry (ranks "
        "+-2, soft ranks +-(0.3 + 25%)); the library's rank, tolerance and soft rank against NumPy's matrix_rank and "
        "the trace formula, and its stable rank (not the soft rank, THEORY.md §5.1) against NumPy's norms. 'Layer "
        "weights I + gamma W' and the soft-rank definition are code facts of the authors' repository (THEORY-2.md "
        "§12.2); the reference chain uses plain W. The control is THEORY.md's false claim "
        "'the BN chain keeps full numerical rank' entered into the same table gate."
    ),
    proof="daneshmand2020_rank.py",
    under_test=(
        REP + "deep_network",
        REP + "apply_steps",
        REP + "numerical_rank",
        REP + "soft_rank",
        REP + "stable_rank",
    ),
)


@rank_collapse.numeric(
    "soft rank without BN at depth 300 (< 1.1) and with BN at depth 1000 (> 3), d = 32: worst margin", backends=ARRAY
)
def _(ctx: Context) -> Outcome:
    table = _measured_table(ctx)
    margin = -worst([table[300][2] - 1.1, 3.0 - table[1000][3]])
    detail = f"soft rank no BN at 300: {table[300][2]:.4g} (< 1.1); BN at 1000: {table[1000][3]:.4g} (> 3)"
    return at_least(margin, 0.0, detail)


@rank_collapse.numeric(
    "THEORY.md §5.1's table at depths 0/100/300/1000: ranks within 2, soft ranks within 0.3 + 25% (worst <= 1)",
    backends=ARRAY,
)
def _(ctx: Context) -> Outcome:
    return _table_outcome(ctx, REFERENCE)


@rank_collapse.numeric(
    "library rank and tolerance = NumPy's matrix_rank and its tolerance; soft rank = tr(HH^T)^2/||HH^T||_F^2; "
    "stable rank (the measure THEORY.md §5.1 warns against) = ||H||_F^2/||H||_2^2",
    backends=ARRAY,
)
def _(ctx: Context) -> Outcome:
    wrong, soft_err = 0, Worst()
    for steps in ((), ("rc", "rs")):
        for t, H in _snapshots(ctx, steps).items():
            rank, tol = rep.numerical_rank(ctx.asarray(H))
            oracle_tol = nets.numpy_rank_tolerance(H)
            wrong += int(np.sum(np.asarray(to_numpy(rank)) != [np.linalg.matrix_rank(M) for M in H]))
            tol = np.asarray(to_numpy(tol), dtype=np.float64)
            wrong += int(np.sum(~(np.abs(tol - oracle_tol) <= FLOAT64_ORACLE.value * oracle_tol)))
            oracle = nets.soft_rank_by_traces(H)
            soft = np.asarray(to_numpy(rep.soft_rank(ctx.asarray(H))), dtype=np.float64)
            soft_err.add(np.abs(soft - oracle) / oracle, f"{'+'.join(steps) or 'no BN'}, depth {t}")
            # The stable rank, which the soft rank must not be confused with, against NumPy's norms.
            stable = np.asarray(to_numpy(rep.stable_rank(ctx.asarray(H))), dtype=np.float64)
            norms = np.array([np.linalg.norm(M, "fro") ** 2 / np.linalg.norm(M, 2) ** 2 for M in H])
            soft_err.add(np.abs(stable - norms) / norms, f"stable rank, {'+'.join(steps) or 'no BN'}, depth {t}")
    # A rank or tolerance that differs is a failure outright; soft ranks agree to rounding (1e-12 allows
    # cancellation in the trace formula, whose terms agree to ~1e-15).
    return at_most(
        float(soft_err) + wrong,
        FLOAT64_ORACLE.value,
        f"{wrong} rank/tolerance mismatches; soft/stable rank worst at {soft_err.where}: {float(soft_err):.2g}",
    )


@rank_collapse.negative_control(
    "'the BN chain keeps full numerical rank' (32 at depth 1000) entered into the same table gate", backends=ARRAY
)
def _(ctx: Context) -> Outcome:
    claimed = dict(REFERENCE)
    claimed[1000] = (REFERENCE[1000][0], 32, *REFERENCE[1000][2:])
    return _table_outcome(ctx, claimed)


soft_rank_scaling = DANESHMAND2020.result(
    "soft_rank_scaling",
    title="The stationary soft rank of the rescaled linear chain grows like sqrt(d)",
    where="Theorem 2 (Omega(sqrt d) lower bound)",
    tag="D",
    statement=r"\log r_\infty(d)\ \text{vs}\ \log d:\ \text{slope}\in[0.45,0.65]",
    assumptions=("rescaling-only chain (per-feature division by the root mean square), Gaussian weights, N = d",),
    notes=(
        "THEORY.md §5.1 [D]: reference stationary soft ranks 2.2, 3.3, 4.9, 7.2, 10.5, 15.1 for d = 8..256 (gated "
        "within 10%). Default widths 8..64 (depth 600); --size large adds 128 and 256 (depth 2000). The control "
        "claims the same sqrt(d) growth for the chain without BN (through the same slope gate). 'Rescaling only' is "
        "read as division by the RMS (BN without mean subtraction): it reproduces the reference (2.24, 3.33, 4.83, "
        "7.15 here); division by the std about the mean gives 1.8, 3.2, 4.7, 7.1."
    ),
    proof="daneshmand2020_rank.py",
    under_test=(REP + "deep_network", REP + "apply_steps", REP + "soft_rank"),
)


def _stationary(ctx: Context, steps: tuple[str, ...]) -> tuple[tuple[int, ...], list[float]]:
    # --size quick reads every 4th layer of the stationary half: the same median for a quarter of the SVDs.
    widths, depth, every = ctx.by_size(
        quick=((8, 16, 32, 64), 600, 4), default=((8, 16, 32, 64), 600, 1), large=((8, 16, 32, 64, 128, 256), 2000, 1)
    )
    r = nets.memoized(
        ctx,
        "daneshmand2020.stationary",
        ("+".join(steps) or "linear", widths, depth, every),
        lambda rng, xp: nets.stationary_soft_ranks(rng, xp, widths=widths, depth=depth, steps=steps, every=every),
    )
    return widths, r


def _slope_outcome(ctx: Context, steps: tuple[str, ...]) -> Outcome:
    """The claim: log-log slope of the stationary soft rank vs the width in [0.45, 0.65]."""
    widths, r = _stationary(ctx, steps)
    slope = nets.loglog_slope(widths, r)
    detail = (
        f"{'+'.join(steps) or 'no BN'}: stationary soft rank {', '.join(f'{v:.3g}' for v in r)} for d = {widths}; "
        f"log-log slope {slope:.3f}"
    )
    return within(slope, 0.45, 0.65, detail)


@soft_rank_scaling.numeric("log-log slope of the stationary soft rank vs width in [0.45, 0.65]", backends=ARRAY)
def _(ctx: Context) -> Outcome:
    return _slope_outcome(ctx, ("rms",))


@soft_rank_scaling.numeric(
    "stationary soft ranks = THEORY.md §5.1's (2.2, 3.3, 4.9, 7.2, ...) within 10%", backends=ARRAY
)
def _(ctx: Context) -> Outcome:
    widths, r = _stationary(ctx, ("rms",))
    rel = worst(abs(v / STATIONARY[d] - 1) for d, v in zip(widths, r, strict=True))
    detail = ", ".join(f"d = {d}: {v:.3g} (ref {STATIONARY[d]})" for d, v in zip(widths, r, strict=True))
    return at_most(rel, STATIONARY_SOFT_RANK.value, detail)


@soft_rank_scaling.negative_control("the same sqrt(d) claim for the chain without BN (same slope gate)", backends=ARRAY)
def _(ctx: Context) -> Outcome:
    return _slope_outcome(ctx, ())


# --- Daneshmand et al. 2021: the orthogonality gap -------------------------------------------------------

orthogonality = DANESHMAND2021.result(
    "orthogonality_gap",
    title="BN orthogonalizes: the orthogonality gap decays with depth to a plateau that shrinks like n/sqrt(d)",
    where="Theorem 1 and Fig. 2b",
    tag="P",
    statement=(
        r"V(H)=\Big\|\frac{H^\top H}{\|H\|_F^2}-\frac{I_n}{n}\Big\|_F,\ "
        r"\mathrm E\,V(H_{\ell+1})\le2\big(1-\tfrac23\alpha\big)^\ell+\frac{3n}{\alpha\sqrt d}:\ "
        r"\text{plateau of }V\propto d^{-1/2}\ (\text{log-log slope }-1/2\pm0.1)"
    ),
    assumptions=(
        "H_{l+1} = BN(W_l H_l)/sqrt(d), BN(M) = diag(M M^T)^{-1/2} M (no mean correction), W_l ~ N(0, I_d/d), d >= n",
        "Theorem 1 under A_1(alpha, l): sigma_min(H_k) >= alpha for k <= l",
        "batch n = 8; plateau = mean of V over 12 seeds and layers 60..100",
    ),
    notes=(
        "THEORY-2.md §12.1 [P, OCR'd full text], which overrides THEORY.md §5.2: V unsquared; the floor is n/sqrt(d) "
        "(the abstract's 'inversely proportional to width' does not match the theorem); the gate is the slope of the "
        "plateau of V vs d, -1/2 +- 0.1 (the paper's Fig. 2b); V^2's slope (about -1) is reported as derived only. "
        "Tag [R] -> [P] on THEORY-2.md §12.1's reading of the primary text. The bound itself is vacuous at the tested "
        "sizes (THEORY-2.md §12.1): its tightness is never tested. BN without mean correction is the step 'rms' "
        "(scale-equivalent to diag(MM^T)^{-1/2}M; the measures are scale invariant). The control enters the other "
        "reading of 'rescaling only', division by the std about the mean, into the same slope gate: that chain "
        "collapses (V -> sqrt(1 - 1/n)) at every width."
    ),
    proof="daneshmand2020_rank.py",
    under_test=(REP + "deep_network", REP + "apply_steps", REP + "orthogonality_gap", REP + "gram"),
)


def _plateaus(ctx: Context, steps: tuple[str, ...], widths: tuple[int, ...], seeds: int) -> tuple[list, list]:
    return nets.memoized(
        ctx,
        "daneshmand2021.gap",
        ("+".join(steps), widths, seeds),
        lambda rng, xp: nets.gap_plateaus(rng, xp, widths=widths, seeds=seeds, steps=steps),
    )


def _gap_outcome(ctx: Context, steps: tuple[str, ...]) -> Outcome:
    """The claim: log-log slope of the plateau of V vs the width in [-0.6, -0.4]."""
    widths, seeds = ctx.by_size(default=((16, 64, 256), 12), large=((16, 32, 64, 128, 256, 512, 1024), 40))
    plateau, squared = _plateaus(ctx, steps, widths, seeds)
    slope, slope2 = nets.loglog_slope(widths, plateau), nets.loglog_slope(widths, squared)
    detail = (
        f"{'+'.join(steps)}: plateau of V {', '.join(f'{v:.3g}' for v in plateau)} for d = {widths}; slope "
        f"{slope:.3f} (V), {slope2:.3f} (V^2, derived)"
    )
    return within(slope, -0.6, -0.4, detail)


@orthogonality.numeric("log-log slope of the plateau of V vs width in [-0.6, -0.4] (Fig. 2b)", backends=ARRAY)
def _(ctx: Context) -> Outcome:
    return _gap_outcome(ctx, ("rms",))


@orthogonality.numeric(
    "decay: from a nearly rank-one batch (V >= 0.8) the gap falls to the Gaussian input's plateau (within 15%), d = 64",
    backends=ARRAY,
)
def _(ctx: Context) -> Outcome:
    widths, seeds = ctx.by_size(default=((16, 64, 256), 12), large=((16, 32, 64, 128, 256, 512, 1024), 40))
    plateau, _ = _plateaus(ctx, ("rms",), widths, seeds)
    first, late = nets.gap_from_correlated_input(ctx.rng(), ctx.xp, d=64, seeds=seeds, steps=("rms",))
    ratio = late / plateau[widths.index(64)]
    detail = f"V at layer 0: {first:.3f}; layers 60..100: {late:.3g} vs plateau {plateau[widths.index(64)]:.3g}"
    # GAP_DECAY (15%): plateaus vary by ~3% between seeds; a chain that had not decayed sits near 0.9.
    return at_most(worst([abs(ratio - 1) / GAP_DECAY.value, 0.8 / first if first < 0.8 else 0.0]), 1.0, detail)


@orthogonality.numeric(
    "library V = sqrt(sum lambda_i^2 - 1/n) from singular values (THEORY-2.md §12.1), d >= n and d < n",
    backends=ARRAY,
)
def _(ctx: Context) -> Outcome:
    rng = ctx.rng()
    err = Worst()
    for d, n in ((16, 8), (64, 8), (5, 8), (32, 32)):
        # Batches from orthogonal to nearly rank one: V from 0 to its maximum sqrt(1 - 1/n).
        for spread in (1.0, 1e-2, 1e-4):
            H = rng.standard_normal((4, d, n)) * spread + rng.standard_normal((4, d, 1))
            ours = np.asarray(to_numpy(rep.orthogonality_gap(ctx.asarray(H))), dtype=np.float64)
            err.add(np.abs(ours - nets.gap_by_singular_values(H)), f"d = {d}, n = {n}, spread {spread:g}")
    # V is at most 1 in magnitude; the two formulas agree to rounding of sums of n^2 terms.
    return at_most(float(err), FLOAT64_ORACLE.value, f"worst absolute difference at {err.where}: {float(err):.2g}")


@orthogonality.negative_control(
    "the same slope claim for rescaling by the std about the mean (the other reading of 'rescaling only')",
    backends=ARRAY,
)
def _(ctx: Context) -> Outcome:
    return _gap_outcome(ctx, ("rs",))
