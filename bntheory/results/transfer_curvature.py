r"""THEORY-2.md §9.4, row T4: Dangel's per-component gradients and GGN rank under LN, GN, RMSNorm, WN.

For a normalization whose statistics are taken per sample, the per-component gradient
:math:`\mathbf g_n=(\mathrm J_\theta F_n)^\top\nabla_{F_n}\ell` (THEORY.md §6.1) is the gradient of
:math:`\ell(F(x_n),y_n)` on :math:`x_n` alone, and :math:`\operatorname{rank}G=NC` (§6.4) is attained; a
normalization without affine as the **last** layer removes output directions (the trap). Library code under test:
:mod:`bntheory.curvature.network` (``Model(norm=...)``). Oracles (:mod:`bntheory.checks.oracles.normalized_networks`):
the same networks from ``torch.nn`` modules (``LayerNorm``, ``GroupNorm``, ``RMSNorm``, ``weight_norm``) with the
weights copied in, each sample alone (a batch of one) and through the whole batch. MLP 4 → 6 → norm → tanh → 3,
N = 5 (THEORY-2.md §9.4, check (c)). All float64. Needs PyTorch.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from bntheory import curvature as cv
from bntheory.checks.compare import Outcome, Worst, at_most, exact, max_relative_error
from bntheory.checks.oracles import normalized_networks as oracle
from bntheory.checks.tolerances import IDENTITY
from bntheory.context import Context
from bntheory.registry import paper

TRANSFER = paper(
    "transfer",
    citation="THEORY-2.md §9.4",
    source="THEORY-2.md §9.4 (the transfer matrix, derived and verified in bntheory)",
)
NEEDS = ("torch",)
LOSSES = ("mse", "cross_entropy")
SAMPLES = 5
#: x_1 moves by this much in the "g_0 unchanged" check (THEORY-2.md §9.4: 0.5).
MOVE = 0.5
#: Numerical rank threshold, relative to the largest singular value (as dangel2021.ggn_rank).
RANK_RTOL = 1e-10
#: The output-layer trap (N = 5, C = 4): the rank of G with a normalization without affine as the last layer,
#: written from the counting argument of §9.4, not read from the library: centring removes one direction per
#: group, the fixed norm of x-hat at eps = 0 a second one. Groups: per sample for LN and RMSNorm (N of them, C
#: entries each), per output unit for BN (C of them, N entries each).
TRAP_N, TRAP_C = 5, 4
TRAP = {
    "layer": {0.0: TRAP_N * (TRAP_C - 2), 1e-3: TRAP_N * (TRAP_C - 1)},
    "rms": {0.0: TRAP_N * (TRAP_C - 1), 1e-3: TRAP_N * TRAP_C},
    "batch": {0.0: TRAP_N * TRAP_C - 2 * TRAP_C, 1e-3: TRAP_N * TRAP_C - TRAP_C},
}
NAMES = {
    "layer": "LayerNorm",
    "group": "GroupNorm (2 groups of 3)",
    "rms": "RMSNorm",
    "weight": "weight normalization",
    "batch": "BN",
}


def _problem(ctx: Context, kind: str, classes: int = 3) -> cv.Problem:
    return cv.random_problem(
        ctx.rng(f"transfer.t4/{kind}/{classes}", shared=True), samples=SAMPLES, classes=classes, norm=kind
    )


def ctx_rank(ctx: Context, G: np.ndarray) -> int:
    """Numerical rank of `G` at relative `RANK_RTOL`; -1 when its singular values are not finite."""
    s = np.linalg.svd(G, compute_uv=False)
    return int(np.sum(s > RANK_RTOL * s[0])) if np.all(np.isfinite(s)) else -1


def ctx_alone_error(ctx: Context, kind: str) -> Outcome:
    """Per-component gradients (library; torch.nn through the batch) vs torch.nn's gradient of each sample alone."""
    acc, lines = Worst(), []
    p = _problem(ctx, kind)
    for loss in LOSSES:
        T = p.targets(loss)
        alone = oracle.per_sample_gradients(p.model, p.theta, p.X, T, loss=loss)
        errs = {
            "library": max_relative_error(cv.per_component_gradients(p.model, p.theta, p.X, T, loss=loss), alone),
            "torch.nn through the batch": max_relative_error(
                oracle.per_component_gradients(p.model, p.theta, p.X, T, loss=loss), alone
            ),
        }
        for what, e in errs.items():
            acc.add(e, f"{loss}: {what}")
        lines.append(f"{loss}: " + ", ".join(f"{w} {e:.2g}" for w, e in errs.items()))
    detail = f"{NAMES[kind]}, per-component g_n vs torch.nn's gradient on x_n alone: " + "; ".join(lines)
    return at_most(float(acc), IDENTITY.value, detail)


def ctx_moved(ctx: Context, kind: str) -> Outcome:
    """Relative change of g_0 (library and torch.nn, through the batch) when x_1 moves by `MOVE`."""
    p = _problem(ctx, kind)
    X2 = p.X.copy()
    X2[1] += MOVE
    acc = Worst()
    for source, per_component in (
        ("library", cv.per_component_gradients),
        ("torch.nn", oracle.per_component_gradients),
    ):
        g, g2 = (per_component(p.model, p.theta, X, p.Y) for X in (p.X, X2))
        acc.add(max_relative_error(g2[0], g[0]), source)
    detail = f"{NAMES[kind]}: relative change of g_0 when x_1 moves by {MOVE} (worst: {acc.where})"
    return at_most(float(acc), IDENTITY.value, detail)


def ctx_ggn_rank(ctx: Context, kind: str) -> Outcome:
    """The rank of G is N C (square loss) for the library's G and the torch.nn oracle's."""
    p = _problem(ctx, kind)
    N, C = p.X.shape[0], p.model.classes
    ranks = {
        "library": ctx_rank(ctx, cv.ggn_dense(p.model, p.theta, p.X, reduction="sum")),
        "torch.nn": ctx_rank(ctx, oracle.ggn(p.model, p.theta, p.X)),
    }
    detail = f"{NAMES[kind]}: rank G (N = {N}, C = {C}, D = {p.model.size}): {ranks}; claimed N C = {N * C}"
    return exact(sum(abs(r - N * C) for r in ranks.values()), detail)


def ctx_trap_ranks(ctx: Context, kinds: tuple[str, ...]) -> Outcome:
    """Ranks of G with the normalization also as the last layer (no affine), eps = 0 and 1e-3, vs `TRAP`."""
    residual, lines = 0, []
    for kind in kinds:
        # BN's trap behind a hidden LayerNorm (the count does not depend on the hidden layer; D = 70 as in §9.4).
        p = _problem(ctx, "layer" if kind == "batch" else kind, classes=TRAP_C)
        # quick: the eps = 0 ranks only (the sharper counts, two directions per group); default adds eps = 1e-3
        for eps in ctx.by_size(quick=(0.0,), default=(0.0, 1e-3)):
            claimed = TRAP[kind][eps]
            model = dataclasses.replace(p.model, output_norm=kind, eps=eps)
            for source, G in (
                ("library", cv.ggn_dense(model, p.theta, p.X, reduction="sum")),
                ("torch.nn", oracle.ggn(model, p.theta, p.X)),
            ):
                r = ctx_rank(ctx, G)
                residual += abs(r - claimed)
                lines.append(f"{NAMES[kind]} eps = {eps:g} {source} {r} (claimed {claimed})")
    return exact(residual, f"N = {TRAP_N}, C = {TRAP_C}: " + ", ".join(lines))


STATEMENT = (
    r"\mathbf g_n=(\mathrm J_\theta F_n)^\top\nabla_{F_n}\ell(F_n,y_n)=\nabla_\theta\ell(F(x_n),y_n)"
    r"\ (\text{on }x_n\text{ alone}),\ \operatorname{rank}G=NC"
)
NOTES = (
    "THEORY-2.md §9.4, row T4 [D] (figures there: 4.9e-16 LN, 1.6e-16 GN, 2.1e-16 RMS; g_0 unchanged, 0.0; rank "
    "NC = 15). Oracle: the torch.nn network with the same weights, each sample alone (a batch of one) and through "
    "the whole batch (one backward pass per component). The control is the same 'unchanged' claim for BN, whose "
    "g_0 moves with x_1 (THEORY.md §6.1). Numerical rank at relative 1e-10."
)
UNDER_TEST = (
    "bntheory.curvature.network.per_component_gradients",
    "bntheory.curvature.network.ggn_dense",
    "bntheory.curvature.network.Model.forward",
)


#: kind -> the normalizations whose output-layer trap its result checks (BN's beside LayerNorm's, as in §9.4).
#: InstanceNorm is left out: on a fully connected layer its group is one unit (THEORY-2.md §9.3, undefined).
TRAPS = {"layer": ("layer", "batch"), "group": (), "rms": ("rms",), "weight": ()}
T4 = {}
for kind, trap in TRAPS.items():
    T4[kind] = result = TRANSFER.result(
        f"t4_{kind}",
        proof="transfer.py",
        title=f"{NAMES[kind]}: per-component gradients are per-sample gradients; rank G = N C",
        where="§9.4, row T4 (Dangel §6.1, §6.4 transferred)",
        tag="D",
        statement=STATEMENT,
        assumptions=(
            "weight normalization of the hidden layer's rows, w_i = g_i v_i / ||v_i|| (no activation statistics)"
            if kind == "weight"
            else f"{NAMES[kind]} after the hidden linear layer (statistics per sample), training mode",
            "L = sum_n l(F_n, y_n); the output layer has a free bias",
        ),
        notes=NOTES
        + (
            f" Output-layer trap, {', '.join(NAMES[k] for k in trap)} also as the last layer without affine: "
            + "; ".join(f"{NAMES[k]} rank {TRAP[k][0.0]} at eps = 0, {TRAP[k][1e-3]} at eps = 1e-3" for k in trap)
            + f" (N = {TRAP_N}, C = {TRAP_C})."
            if trap
            else ""
        ),
        under_test=UNDER_TEST,
    )

    @result.numeric(
        "per-component g_n (library; torch.nn through the batch) = torch.nn's gradient on x_n alone (MSE, CE)",
        needs=NEEDS,
    )
    def _(ctx: Context, kind: str = kind) -> Outcome:
        return ctx_alone_error(ctx, kind)

    @result.numeric(f"g_0 unchanged when x_1 moves by {MOVE} (library and torch.nn)", needs=NEEDS)
    def _(ctx: Context, kind: str = kind) -> Outcome:
        return ctx_moved(ctx, kind)

    @result.numeric("rank G = N C (library and torch.nn, square loss, N = 5, C = 3)", needs=NEEDS)
    def _(ctx: Context, kind: str = kind) -> Outcome:
        return ctx_ggn_rank(ctx, kind)

    if trap:

        @result.numeric(
            "output-layer trap: rank G, the normalization also the last layer (eps = 0; default size also 1e-3)",
            needs=NEEDS,
        )
        def _(ctx: Context, trap: tuple[str, ...] = trap) -> Outcome:
            return ctx_trap_ranks(ctx, trap)

    @result.negative_control(f"BN in place of {NAMES[kind]}: g_0 unchanged when x_1 moves by {MOVE}", needs=NEEDS)
    def _(ctx: Context) -> Outcome:
        return ctx_moved(ctx, "batch")


# Discovery reads a module's results from its top-level names.
t4_layer, t4_group, t4_rms, t4_weight = T4["layer"], T4["group"], T4["rms"], T4["weight"]
del result
