r"""Nachum et al. 2024, "Batch Normalization Decomposed": rank and geometry of a batch at initialization.

L. Nachum, G. Bondaschi, M. Gastpar, A. Khina, arXiv:2412.02843 (THEORY.md §4). Only the abstract, secondary
summaries and a seed document were available: no theorem was read in the paper's words, so the records
carry THEORY.md's tags ([D] derived here, [S] secondary) and say what is unconfirmed.

Library code under test: :mod:`bntheory.representations` (decomposed BN steps, deep random networks,
measures). Oracles: exact rank in SymPy rationals, Monte Carlo averages with their standard errors, and
frequencies over seeded networks with exact Clopper–Pearson bounds (:mod:`bntheory.checks.frequency`).
"""

from __future__ import annotations

import functools
import itertools

import numpy as np
import sympy as sp

from bntheory import representations as rep
from bntheory.backend import asarray, to_numpy
from bntheory.checks.compare import Outcome, at_least, at_most, exact
from bntheory.checks.frequency import frequency
from bntheory.context import Context
from bntheory.registry import register

CITATION = "Nachum et al. 2024, {}, arXiv:2412.02843"


def _centering(n: int) -> sp.Matrix:
    return sp.eye(n) - sp.ones(n, n) / n


# --- rank facts for linear networks with recentering -----------------------------------------------------

rc_rank = register(
    "nachum2024.rc_rank",
    title="Recentering drops the rank by one iff 1 is in the row space; rescaling keeps it; later RCs are identities",
    citation=CITATION.format("§3 (linear networks)"),
    tag="D",
    statement=(
        r"\operatorname{rank}(HC_n)=\operatorname{rank}H-[\mathbf 1^\top\in\operatorname{row}H],\ "
        r"\operatorname{rank}(DH)=\operatorname{rank}H\ (D\succ0\ \text{diagonal}),\ (WHC_n)C_n=WHC_n"
    ),
    assumptions=("batch in columns, C_n = I - 11^T/n", "W square invertible for the depth statement"),
    notes="THEORY.md §4.2 [D]: elementary linear algebra; 'recentering only affects the first layer' is [S].",
    proof="nachum2024_representations.py",
)


def _rank_cases(ctx: Context, centred_rows: bool) -> list[tuple[int, int, int]]:
    """(rank H, rank H C_n exactly in SymPy, numerical rank of the library's recentering) for integer batches."""
    rng = ctx.rng("nachum2024.rc_rank", shared=True)
    out = []
    for d, n in ((6, 4), (5, 5), (3, 6), (8, 6), (2, 7)):
        H = sp.Matrix(rng.integers(-5, 6, size=(d, n)).tolist())
        if centred_rows:
            H = H * _centering(n) * n  # integer rows summing to 0: 1 is orthogonal to the row space
        ours = rep.apply_steps(asarray(np.array(H.tolist(), dtype=np.float64), ctx.xp), ("rc",))
        rank, _ = rep.numerical_rank(ours)
        out.append((H.rank(), (H * _centering(n)).rank(), int(to_numpy(rank))))
    return out


@rc_rank.symbolic("SymPy rationals: rank(H C) = rank H - 1 for generic integer H; D H, C^2 = C, W H C C = W H C")
def _(ctx: Context) -> Outcome:
    rng = ctx.rng("nachum2024.rc_rank.symbolic", shared=True)
    fails = 0
    for d, n in ((6, 4), (4, 4), (3, 5)):
        H = sp.Matrix(rng.integers(-5, 6, size=(d, n)).tolist())
        C = _centering(n)
        ones_in_rowspace = H.T.rank() == H.T.row_join(sp.ones(n, 1)).rank()
        fails += (H * C).rank() != H.rank() - int(ones_in_rowspace)
        D = sp.diag(*[sp.Rational(k + 1, 3) for k in range(d)])
        fails += (D * H).rank() != H.rank()
        W = sp.Matrix(rng.integers(-3, 4, size=(d, d)).tolist()) + 7 * sp.eye(d)  # diagonally dominant: invertible
        fails += (C * C - C) != sp.zeros(n, n)
        fails += (W * H * C * C - W * H * C) != sp.zeros(d, n)
        fails += (W * H * C).rank() != (H * C).rank()
    return exact(fails, "(d, n) = (6, 4), (4, 4), (3, 5): exact ranks and projector identities")


@rc_rank.numeric("library recentering: numerical rank (float64 tolerance) = exact rank of H C_n")
def _(ctx: Context) -> Outcome:
    cases = _rank_cases(ctx, centred_rows=False)
    wrong = sum(num != exact_hc for _, exact_hc, num in cases)
    dropped = sum(hc == h - 1 for h, hc, _ in cases)
    return exact(wrong, f"ranks (H, HC, library): {cases}; RC dropped the rank in {dropped}/{len(cases)}")


@rc_rank.negative_control("'recentering always drops the rank', on batches whose rows are already centred")
def _(ctx: Context) -> Outcome:
    cases = _rank_cases(ctx, centred_rows=True)
    return exact(sum(hc != h - 1 for h, hc, _ in cases), f"ranks (H, HC, library): {cases}")


# --- ReLU raises the rank --------------------------------------------------------------------------------

relu_rank = register(
    "nachum2024.relu_rank",
    title="A ReLU layer raises the rank of a low-rank batch (full rank with probability -> 1 as the width grows)",
    citation=CITATION.format("Theorem 3 (statement not confirmed)"),
    tag="D",
    statement=(
        r"H\in\mathbb R^{2\times n}\ \text{pairwise non-parallel columns},\ "
        r"W\in\mathbb R^{d\times 2}\ \text{Gaussian}:\ "
        r"\Pr[\operatorname{rank}\mathrm{ReLU}(WH)=n]\to1\ (d\to\infty)"
    ),
    assumptions=("n pairwise non-parallel batch points", "i.i.d. Gaussian W"),
    notes=(
        "THEORY.md §4.3: Theorem 3's exact bound is NOT confirmed, so only the [D] facts are checked: the frequency "
        "of full rank over seeded draws for d in {n, 2n, 4n, 8n}, with Clopper-Pearson bounds. ReLU is positively "
        "homogeneous: columns x and 2x stay parallel (the control)."
    ),
    proof="nachum2024_representations.py",
)


def _relu_full_rank(ctx: Context, parallel_pair: bool) -> tuple[list, object]:
    rng = ctx.rng("nachum2024.relu_rank", shared=True)
    n, draws = 8, 60 if (ctx.size == "quick") else 200
    angles = np.sort(rng.uniform(0, 2 * np.pi, n))
    H = np.stack([np.cos(angles), np.sin(angles)]) * rng.uniform(0.5, 2, n)
    if parallel_pair:
        H[:, 1] = 2 * H[:, 0]
    rows = []
    for d in (n, 2 * n, 4 * n, 8 * n):
        W = rng.standard_normal((draws, d, 2))
        Z = rep.apply_steps(asarray(W @ H, ctx.xp), ("relu",))
        ranks, _ = rep.numerical_rank(Z)
        rows.append((d, frequency(int(np.sum(to_numpy(ranks) == n)), draws)))
    return rows, rows[-1][1]


@relu_rank.numeric("frequency of rank n after ReLU(W H), n = 8, rank-2 batch, d = n..8n; CP lower bound at 8n >= 0.9")
def _(ctx: Context) -> Outcome:
    rows, last = _relu_full_rank(ctx, parallel_pair=False)
    detail = "; ".join(f"d = {d}: {f}" for d, f in rows)
    increasing = all(b[1].estimate >= a[1].estimate - 0.1 for a, b in itertools.pairwise(rows))
    return at_least(last.low if increasing else 0.0, 0.9, detail)


@relu_rank.negative_control("the same claim for a batch with columns x and 2x (parallel, so never full rank)")
def _(ctx: Context) -> Outcome:
    rows, last = _relu_full_rank(ctx, parallel_pair=True)
    return at_least(last.low, 0.9, "; ".join(f"d = {d}: {f}" for d, f in rows))


# --- the invariant cluster-plus-outlier configuration --------------------------------------------------


def _configuration(rng: np.random.Generator, d: int, n: int, outlier_ratio: float) -> np.ndarray:
    """N - 1 identical columns a and one column b orthogonal to a with ||b|| = outlier_ratio * ||a||."""
    a = rng.standard_normal(d)
    b = rng.standard_normal(d)
    b -= (a @ b) / (a @ a) * a
    b *= outlier_ratio * np.linalg.norm(a) / np.linalg.norm(b)
    return np.column_stack([np.tile(a[:, None], (1, n - 1)), b])


invariant = register(
    "nachum2024.invariant",
    title="One cluster plus one orthogonal outlier is invariant under RC + ReLU (Gram preserved with 2 alpha/d)",
    citation=CITATION.format("Definition 12"),
    tag="D",
    statement=(
        r"H=[a,\dots,a,b],\ a\perp b,\ \|b\|=(n-1)\|a\|:\ "
        r"\text{after }W,\text{RC},\text{ReLU the cluster stays identical and "
        r"orthogonal to the outlier; }\mathrm E[G']=G\iff\sigma_w^2=2\alpha,\ \alpha=\frac{n^2}{n^2-2n+2}"
    ),
    assumptions=("W_kl ~ N(0, sigma_w^2 / d), fresh per layer", "batch in columns; RC per feature across the batch"),
    notes=(
        "THEORY.md §4.4 [D]; alpha matches the seed's constant exactly, but whether the paper writes the variance "
        "as 2 alpha / d is NOT confirmed. The configuration is invariant but NOT attracting: a 1e-6 perturbation "
        "grows (second numeric check)."
    ),
    proof="nachum2024_representations.py",
)


@invariant.symbolic("SymPy: RC maps the configuration onto one line; E||a'||^2 = (sigma^2/2)(n^2-2n+2)/n^2 ||a||^2")
def _(ctx: Context) -> Outcome:
    n, s2 = sp.symbols("n sigma2", positive=True)
    na = sp.Symbol("A", positive=True)  # ||a||^2
    fails = 0
    # ||a - b||^2 = ||a||^2 + ||b||^2 with ||b|| = (n-1)||a||, and E||ReLU(W v)||^2 = (sigma^2/2)||v||^2.
    cluster = s2 / 2 * (na + (n - 1) ** 2 * na) / n**2
    fails += sp.cancel(cluster.subs(s2, 2 * n**2 / (n**2 - 2 * n + 2)) - na) != 0  # rational in n: exact
    for m in (3, 5, 8):  # exact RC of the configuration with integer vectors
        a = sp.Matrix([1, 2, 0])
        b = (m - 1) * sp.Matrix([2, -1, 0])  # orthogonal to a, and ||(2, -1, 0)|| = ||a||
        H = sp.Matrix.hstack(*([a] * (m - 1)), b)
        HC = H * _centering(m)
        fails += HC.rank() != 1
        G = H.T * H
        ideal = sp.diag(sp.ones(m - 1, m - 1), sp.Matrix([[(m - 1) ** 2]])) * (a.T * a)[0]
        fails += G != ideal  # integer matrices: exact comparison
    return exact(
        fails, "alpha solves the norm recursion; RC leaves rank 1; exact Gram of the ideal configuration, n = 3, 5, 8"
    )


def _gram_preservation(ctx: Context, use_alpha: bool) -> Outcome:
    rng = ctx.rng("nachum2024.invariant", shared=True)
    n, d, explicit, draws = 5, 2000, 2 if (ctx.size == "quick") else 4, 200
    H = _configuration(rng, d, n, n - 1)
    variance = 2 * rep.alpha(n) if use_alpha else 2.0
    G0 = H.T @ H
    # The shape is kept exactly for every W: checked on explicit draws (exact zeros, identical columns).
    shape_ok = True
    for _ in range(explicit):
        W = rng.standard_normal((d, d)) * np.sqrt(variance / d)
        out = to_numpy(rep.apply_steps(asarray(W @ H, ctx.xp), ("rc", "relu")))
        shape_ok &= bool(np.all(out[:, : n - 1] == out[:, :1])) and float(out[:, 0] @ out[:, -1]) == 0.0
    # The expectation by Monte Carlo over the exact law of W H (deep_network(method="gram")): 200 draws.
    stack = asarray(np.broadcast_to(H, (draws, d, n)).copy(), ctx.xp)
    out = rep.deep_network(stack, 1, ("rc", "relu"), rng, variance=variance, method="gram")
    grams = to_numpy(rep.gram(out))
    mean = grams.mean(axis=0)
    # Standard error of the Monte Carlo mean per entry; exactly-zero entries (orthogonality) have none.
    se = grams.std(axis=0, ddof=1) / np.sqrt(draws)
    z = float(np.max(np.abs(mean - G0) / np.maximum(se, 1e-12 * np.max(np.abs(G0)))))
    rel = float(np.max(np.abs(mean - G0)) / np.max(np.abs(G0)))
    detail = (
        f"n = {n}, d = {d}, {draws} draws: max |E[G'] - G| = {z:.2f} standard errors ({rel:.3g} relative); "
        f"exact shape kept in {explicit} explicit draws: {shape_ok}"
    )
    # 5 standard errors: a false expectation (He without alpha is 32% off) is dozens of SEs away.
    return at_most(z if shape_ok else np.inf, 5.0, detail)


@invariant.numeric("every draw keeps the shape exactly; Monte Carlo E[G'] = G within 5 standard errors (d = 2000)")
def _(ctx: Context) -> Outcome:
    return _gram_preservation(ctx, use_alpha=True)


@invariant.numeric("not attracting: a 1e-6 perturbation grows over 100 layers (frequency over seeds)")
def _(ctx: Context) -> Outcome:
    rng = ctx.rng("nachum2024.invariant.stability", shared=True)
    n, d, seeds = 8, 256, 8 if (ctx.size == "quick") else 16
    H = np.stack([_configuration(rng, d, n, n - 1) for _ in range(seeds)])
    H1 = H + 1e-6 * np.linalg.norm(H[:, :, :1], axis=1, keepdims=True) * rng.standard_normal(H.shape) / np.sqrt(d)
    start = to_numpy(rep.d_max(asarray(H1, ctx.xp))[0])
    # First-order perturbations of the orthogonality are wiped out by ReLU's disjoint supports; the growth
    # (about 1 + 2.2/n per layer, THEORY.md §4.4) shows after a few dozen layers, so 100 are used.
    out = rep.deep_network(asarray(H1, ctx.xp), 100, ("rc", "relu"), rng, variance=2 * rep.alpha(n), method="gram")
    end = to_numpy(rep.d_max(out)[0])
    f = frequency(int(np.sum(end > 10 * start)), seeds)
    return at_least(
        f.low, 0.5, f"d_max grew more than 10x in {f}; median {np.median(start):.2g} -> {np.median(end):.2g}"
    )


@invariant.negative_control("He variance 2/d without alpha")
def _(ctx: Context) -> Outcome:
    return _gram_preservation(ctx, use_alpha=False)


# --- emergence of the geometry ---------------------------------------------------------------------------


def _emergence_setting(ctx: Context) -> tuple[int, int, int, int]:
    """(n, d, depth, seeds): THEORY.md §4.5's reference (n = 32, d = 512, depth 1000) with --size large."""
    if (ctx.size == "large"):
        return 32, 512, 1000, 24
    # At depth 400 the batch has settled as often as at 600 (14, 13, 16, 14, 15 of 16 for seeds 0-4).
    return 32, 256, 400 if (ctx.size == "quick") else 600, 16


@functools.lru_cache(maxsize=8)
def _emerge(seed: int, n: int, d: int, depth: int, seeds: int, steps: tuple[str, ...], backend_xp) -> tuple:
    rng = np.random.default_rng([seed, 2024, n, d])
    H0 = asarray(rng.standard_normal((seeds, d, n)), backend_xp)
    H = rep.deep_network(H0, depth, steps, rng, variance=2.0, method="gram")
    dist, k = rep.d_max(H)
    C = to_numpy(rep.cosine(H))
    cluster, outlier = [], []
    for s in range(seeds):
        keep = np.delete(np.arange(n), k[s])
        block = C[s][np.ix_(keep, keep)]
        cluster.append(float(np.median(block[np.triu_indices(n - 1, 1)])))
        outlier.append(float(np.max(np.abs(C[s][k[s], keep]))))
    return dist, np.array(cluster), np.array(outlier)


emergence = register(
    "nachum2024.emergence",
    title="Through RC + ReLU layers the batch becomes one cluster plus one orthogonal outlier",
    citation=CITATION.format("abstract and Theorem 11 (statement not confirmed)"),
    tag="D",
    statement=(
        r"d_{\max}(H_L)=\min_k\max_{ij}|\cos_{ij}(H_L)-I^{(k)}_{ij}|\le0.2\ "
        r"\text{for most seeds; outlier orthogonal; cluster "
        r"cosine}\approx c(n)\approx1-43/n^2"
    ),
    assumptions=(
        "RC + ReLU without RS, per-feature centering, fresh Gaussian weights per layer",
        "n >= 16, width >= 32, depth >~ 100 (n = 32) to 300 (n = 128)",
    ),
    notes=(
        "The abstract's claim [P]; the conditions are THEORY.md §4.5's numerical findings [D]; Theorem 11 (binary-tree "
        "branching) is NOT confirmed and not tested. Default size n = 32, d = 256, depth 600 (400 with --size quick), "
        "16 seeds; --size large "
        "uses THEORY.md's n = 32, d = 512, depth 1000 (24 seeds). Claimed when the one-sided 95% Clopper-Pearson "
        "lower bound of P(d_max <= 0.2) exceeds 1/2. Layers are sampled through the law of W H (exact for Gaussian "
        "weights, representations.deep_network(method='gram')). For n = 4 the batch settles in the symmetric "
        "state instead (tests)."
    ),
    proof="nachum2024_representations.py",
)


def _emergence_outcome(ctx: Context, steps: tuple[str, ...], n: int | None = None, seeds: int | None = None) -> Outcome:
    n0, d, depth, default_seeds = _emergence_setting(ctx)
    seeds = default_seeds if seeds is None else seeds
    n = n0 if n is None else n
    dist, cluster, outlier = _emerge(ctx.seed, n, d, depth, seeds, steps, ctx.xp)
    # One-sided 95% lower bound (the lower end of the two-sided 90% interval) for the claim P >= 1/2.
    f = frequency(int(np.sum(dist <= 0.2)), seeds, confidence=0.90)
    detail = (
        f"{'+'.join(steps)}, n = {n}, d = {d}, depth {depth}: d_max <= 0.2 in {f}; median d_max {np.median(dist):.3g}; "
        f"cluster cosine {np.median(cluster):.3f} vs c(n) = {1 - 43 / n**2:.3f}; outlier |cos| {np.median(outlier):.2g}"
    )
    return at_least(f.low, 0.5, detail)


@emergence.numeric("frequency over seeds of d_max <= 0.2 after RC + ReLU layers; cluster cosine vs c(n)")
def _(ctx: Context) -> Outcome:
    return _emergence_outcome(ctx, ("rc", "relu"))


@emergence.negative_control("the same claim with rescaling (full BN + ReLU)")
def _(ctx: Context) -> Outcome:
    # Fewer seeds: with rescaling no seed comes near the configuration (0 of 8 at every depth and seed tried).
    return _emergence_outcome(ctx, ("rc", "rs", "relu"), seeds=2 if (ctx.size == "quick") else 8)


@emergence.figure("representations")
def _(ctx: Context):
    """Rank, soft rank and d_max vs depth for each decomposition (n = 32, d = 128), and cosine heatmaps."""
    from bntheory.plots import representation_figure

    rng = np.random.default_rng([ctx.seed, 2024, 7])
    n, d, depth, seeds = 32, 128, 400 if (ctx.size == "quick") else 800, 4
    decompositions = {
        "linear": (),
        "RC": ("rc",),
        "RS": ("rs",),
        "RC + ReLU": ("rc", "relu"),
        "BN + ReLU": ("rc", "rs", "relu"),
    }
    traces, heatmaps = {}, {}
    for label, steps in decompositions.items():
        rows: list[tuple[float, ...]] = []

        def record(layer, H, rows=rows, label=label):
            if layer % 20 == 0:
                rank, _ = rep.numerical_rank(H)
                rows.append(
                    (
                        layer,
                        np.median(to_numpy(rank)),
                        np.median(to_numpy(rep.soft_rank(H))),
                        np.median(rep.d_max(H)[0]),
                    )
                )
                if label == "RC + ReLU" and layer in (0, 100, depth):
                    heatmaps[f"RC + ReLU, depth {layer}"] = to_numpy(rep.cosine(H))[0]

        H0 = asarray(rng.standard_normal((seeds, d, n)), ctx.xp)
        rep.deep_network(H0, depth, steps, rng, variance=2.0, method="gram", normalize=True, record=record)
        cols = np.array(rows).T
        traces[label] = {"depth": cols[0], "rank": cols[1], "soft_rank": cols[2], "d_max": cols[3]}
    return representation_figure(traces, heatmaps)
