r"""Dangel 2021, "Structural implications of batch normalization": per-component gradients and the GGN.

F. Dangel, note (2021), seed 003 in ``shared/seeds`` (THEORY.md §6, tag [P]: the seed is the primary text; the
explicit factors of §6.3 are [D]). Library code under test: :mod:`bntheory.curvature.network`. Oracles, independent of
``curvature.Model`` (:mod:`bntheory.checks.oracles.networks`): first order from ``torch.nn`` modules (``Linear``,
training-mode ``BatchNorm1d``) with the same weights copied in; the loss Hessian by PyTorch's own losses; the
parameter Hessian from BN written out in primitive operations, differentiated reverse-over-reverse (never
``torch.func`` through the native kernel, THEORY-2.md §11.1). All float64. Needs PyTorch.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse.linalg

from bntheory import curvature as cv
from bntheory.checks.compare import Outcome, Worst, at_least, at_most, exact, max_relative_error
from bntheory.checks.oracles import networks as oracle
from bntheory.checks.tolerances import CLOSED_FORM, FLOAT64_ORACLE, IDENTITY
from bntheory.context import Context
from bntheory.curvature import spectrum
from bntheory.registry import paper

DANGEL2021 = paper("dangel2021", citation="Dangel 2021", source="note 'Structural implications of batch normalization'")
NEEDS = ("torch",)
LOSSES = ("mse", "cross_entropy")
#: The reduction factor r of L = r sum_n l(F_n, y_n) for a batch of N, written here (THEORY.md §6), not read from
#: the library: both are checked, since a wrong factor for one reduction is invisible to checks of the other.
REDUCTIONS = {"mean": lambda N: 1.0 / N, "sum": lambda N: 1.0}


def _problem(ctx: Context, key: str, **kwargs) -> cv.Problem:
    return cv.random_problem(ctx.rng(key, shared=True), **kwargs)


# --- per-component gradients ------------------------------------------------------------------------------

components = DANGEL2021.result(
    "per_component",
    title="Per-component gradients sum to the gradient but are not per-sample gradients under BN",
    where="§1-§2 (per-component gradients)",
    tag="P",
    statement=(
        r"\mathbf g_n=(\mathrm J_\theta F_n)^\top\nabla_{F_n}\ell(F_n,y_n),\ \nabla_\theta L=r\sum_n\mathbf g_n;\ "
        r"\text{with BN in training mode }\mathbf g_n\text{ depends on every }x_k"
    ),
    assumptions=("L = r sum_n l(F_n, y_n), r = 1 (sum) or 1/N (mean)", "BN in training mode (batch statistics)"),
    notes=(
        "THEORY.md §6.1. Oracle: the torch.nn network (Linear, BatchNorm1d in training mode) with the same weights, "
        "one backward pass per component. The four candidate per-sample gradients of BackPACK issue 160 are "
        "implemented in curvature.per_sample_gradients; only the per-component one sums to the gradient. The other "
        "three are checked against torch.nn's BatchNorm1d in eval mode (the running statistics of a fresh module after "
        "one training step, or the batch's own) and against primitive BN on a batch of one."
    ),
    proof="dangel2021_structure.py",
    under_test=(
        "bntheory.curvature.network.per_component_gradients",
        "bntheory.curvature.network.full_gradient",
        "bntheory.curvature.network.per_sample_gradients",
        "bntheory.curvature.network.Model.forward",
    ),
)


def _sum_error(ctx: Context, definition: str) -> Outcome:
    acc, lines = Worst(), []
    for loss in LOSSES:
        p = _problem(ctx, "dangel2021.per_component")
        T = p.targets(loss)
        g = cv.per_sample_gradients(p.model, p.theta, p.X, T, definition=definition, loss=loss)
        errs = {}
        for reduction, r in REDUCTIONS.items():
            g_ref = oracle.gradient(p.model, p.theta, p.X, T, loss=loss, reduction=reduction)
            errs[f"r sum g_n vs grad L ({reduction})"] = max_relative_error(r(len(p.X)) * g.sum(axis=0), g_ref)
            if definition == "per_component":
                errs[f"full_gradient ({reduction})"] = max_relative_error(
                    cv.full_gradient(p.model, p.theta, p.X, T, loss=loss, reduction=reduction), g_ref
                )
                errs[f"loss_value ({reduction})"] = max_relative_error(
                    cv.loss_value(p.model, p.theta, p.X, T, loss=loss, reduction=reduction),
                    oracle.objective(p.model, p.theta, p.X, T, loss=loss, reduction=reduction),
                )
        if definition == "per_component":
            errs["g_n vs torch.nn"] = max_relative_error(
                g, oracle.per_component_gradients(p.model, p.theta, p.X, T, loss=loss)
            )
        for what, e in errs.items():
            acc.add(e, f"{loss}: {what}")
        lines.append(f"{loss}: " + ", ".join(f"{w} {e:.2g}" for w, e in errs.items()))
    return at_most(float(acc), IDENTITY.value, f"{definition} (r = 1/N and 1; oracle torch.nn): " + "; ".join(lines))


@components.numeric(
    "r * sum of per-component gradients = the torch.nn gradient (mean, sum); g_n = torch.nn's (MSE, CE)", needs=NEEDS
)
def _(ctx: Context) -> Outcome:
    return _sum_error(ctx, "per_component")


@components.numeric(
    "the running, frozen-statistics and batch-of-one per-sample gradients = torch.nn's eval-mode BatchNorm1d "
    "(running or batch statistics) and primitive BN on one sample",
    needs=NEEDS,
)
def _(ctx: Context) -> Outcome:
    acc, lines = Worst(), []
    p = _problem(ctx, "dangel2021.per_component")
    rng = ctx.rng("running statistics")
    given = (rng.normal(size=p.model.hidden), rng.uniform(0.5, 2.0, p.model.hidden))  # any mean, positive variance
    cases = [(d, None) for d in ("running", "frozen_statistics", "batch_of_one")] + [("running", given)]
    for loss in LOSSES:
        T = p.targets(loss)
        for definition, running in cases:
            what = f"{loss}: {definition}" + (" (given statistics)" if running is not None else "")
            e = max_relative_error(
                cv.per_sample_gradients(p.model, p.theta, p.X, T, definition=definition, loss=loss, running=running),
                oracle.per_sample_gradients(
                    p.model, p.theta, p.X, T, definition=definition, loss=loss, running=running
                ),
            )
            acc.add(e, what)
            lines.append(f"{what} {e:.2g}")
    return at_most(float(acc), IDENTITY.value, "relative to the torch.nn oracles: " + ", ".join(lines))


@components.numeric("BN: g_n moves when another input x_k moves; without BN it does not", needs=NEEDS)
def _(ctx: Context) -> Outcome:
    moved, still = {}, Worst()
    defs = ("running", "batch_of_one", "per_component", "frozen_statistics")
    spread = {}
    for bn in (True, False):
        p = _problem(ctx, "dangel2021.dependence", bn=bn)
        g = cv.per_component_gradients(p.model, p.theta, p.X, p.Y)
        X2 = p.X.copy()
        X2[1:] += 0.1  # move every input but x_0
        g2 = cv.per_component_gradients(p.model, p.theta, X2, p.Y)
        moved[bn] = max_relative_error(g2[0], g[0])
        grads = {d: cv.per_sample_gradients(p.model, p.theta, p.X, p.Y, definition=d) for d in defs}
        ref = np.linalg.norm(grads["per_component"])
        spread[bn] = {d: float(np.linalg.norm(grads[d] - grads["per_component"]) / ref) for d in defs}
    still.add(moved[False], "no BN: change of g_0")
    still.add(list(spread[False].values()), "no BN: spread of the definitions")
    dist = ", ".join(f"{d}: {spread[True][d]:.2f}" for d in defs if d != "per_component")
    detail = (
        f"relative change of g_0 when the other inputs move: with BN {moved[True]:.3g}; without BN, that change "
        f"and the spread of the four definitions: {float(still):.1g}; with BN, distance of each definition to "
        f"per-component (relative Frobenius): {dist}"
    )
    # Dependence with BN must be visible (above 1e-3) and absent without BN (rounding only).
    return at_least(moved[True] if float(still) <= IDENTITY.value else 0.0, 1e-3, detail)


@components.negative_control("per-sample gradients (each sample alone, batch of one) sum to the gradient", needs=NEEDS)
def _(ctx: Context) -> Outcome:
    return _sum_error(ctx, "batch_of_one")


# --- the GGN: factors, diagonal, rank ------------------------------------------------------------------------

ggn = DANGEL2021.result(
    "ggn_diagonal",
    title="The GGN of a BN network, its diagonal by back-propagating the loss-Hessian factors",
    where="§3 (GGN) and its diagonal",
    tag="D",
    statement=(
        r"G=r\sum_n(\mathrm J_\theta F_n)^\top S_nS_n^\top(\mathrm J_\theta F_n),\ "
        r"\mathrm{diag}\,G=r\sum_{n,c}\big((\mathrm J_\theta F_n)^\top\mathbf s_{nc}\big)^{\odot2},\ "
        r"\mathbf s_{nc}=\sqrt{p_c}(e_c-p)\ (\text{CE}),\ \sqrt2e_c\ (\|f-y\|^2)"
    ),
    assumptions=("training-mode BN; the factors are back-propagated through the whole batch",),
    notes=(
        "THEORY.md §6.2-§6.5: decomposition [P], explicit factors [D]. The issue asks diag agreement to 1e-10. "
        "Oracle G = J^T (d^2 L / dF^2) J with J from the torch.nn network (one backward pass per output) and the "
        "loss Hessian of PyTorch's mse_loss / cross_entropy (reverse-over-reverse)."
    ),
    proof="dangel2021_structure.py",
    under_test=(
        "bntheory.curvature.network.ggn_diagonal",
        "bntheory.curvature.network.ggn_dense",
        "bntheory.curvature.network.loss_hessian_factors",
    ),
)


def _ggn_oracle(ctx: Context, loss: str, reduction: str = "mean") -> tuple[cv.Problem, np.ndarray]:
    p = _problem(ctx, "dangel2021.ggn")
    return p, oracle.ggn(p.model, p.theta, p.X, loss=loss, reduction=reduction)


def _diag_error(ctx: Context, factor: float, reductions: tuple[str, ...]) -> Outcome:
    acc, lines = Worst(), []
    for loss in LOSSES:
        for reduction in reductions:
            p, G = _ggn_oracle(ctx, loss, reduction)
            diag = cv.ggn_diagonal(p.model, p.theta, p.X, loss=loss, reduction=reduction)
            err = max_relative_error(factor * diag, np.diag(G))
            acc.add(err, f"{loss} ({reduction})")
            lines.append(f"{loss} ({reduction}): {err:.2g}")
    return at_most(
        float(acc), CLOSED_FORM.value, "diag(G) by factors vs diag of the torch.nn J^T H J: " + ", ".join(lines)
    )


@ggn.numeric(
    "diag(G) by factors vs the dense G of the torch.nn network (its Jacobian, PyTorch's loss Hessian); mean and sum",
    needs=NEEDS,
)
def _(ctx: Context) -> Outcome:
    return _diag_error(ctx, 1.0, tuple(REDUCTIONS))


@ggn.numeric("G = r * sum over components of J_n^T (S_n S_n^T) J_n, and ggn_dense, vs the torch.nn G", needs=NEEDS)
def _(ctx: Context) -> Outcome:
    acc, lines = Worst(), []
    for loss in LOSSES:
        p = _problem(ctx, "dangel2021.ggn")
        J, F = oracle.jacobian(p.model, p.theta, p.X), oracle.outputs(p.model, p.theta, p.X)  # (N, C, D), (N, C)
        S = cv.loss_hessian_factors(F, loss)
        total = np.einsum("nad,nac,nbc,nbe->de", J, S, S, J) / len(p.X)
        Jm = J.reshape(-1, J.shape[-1])  # the oracle's G = J^T (d^2 L / dF^2) J, for each reduction, from one J
        G, G_sum = (Jm.T @ oracle.loss_hessian(F, loss=loss, reduction=r) @ Jm for r in ("mean", "sum"))
        errs = (
            max_relative_error(total, G),
            max_relative_error(cv.ggn_dense(p.model, p.theta, p.X, loss=loss), G),
            max_relative_error(cv.ggn_dense(p.model, p.theta, p.X, loss=loss, reduction="sum"), G_sum),
        )
        acc.add(errs, loss)
        lines.append(f"{loss}: sum of components {errs[0]:.2g}, ggn_dense {errs[1]:.2g} (mean), {errs[2]:.2g} (sum)")
    return at_most(float(acc), IDENTITY.value, "vs the torch.nn G: " + "; ".join(lines))


@ggn.negative_control("omit the reduction factor r (mean reduction)", needs=NEEDS)
def _(ctx: Context) -> Outcome:
    return _diag_error(ctx, float(len(_problem(ctx, "dangel2021.ggn").X)), ("mean",))


rank = DANGEL2021.result(
    "ggn_rank",
    title="rank G <= N C (square loss, attained) and <= N (C - 1) (cross-entropy), with BN",
    where="§3 (rank bound)",
    tag="D",
    statement=r"\operatorname{rank}G\le NC\ (\text{MSE}),\quad\operatorname{rank}G\le N(C-1)\ (\text{CE}),\quad D>NC",
    assumptions=("output layer with a free bias (THEORY.md §8, THEORY-2.md §12.10: otherwise NC - C, not NC)",),
    notes=(
        "THEORY.md §6.4: the bound is [P], the cross-entropy refinement [D]. Numerical rank at relative 1e-10, of "
        "the library's G and of the torch.nn oracle's G; both bounds must be attained (generic parameters). The "
        "control is the sharper pair NC - 1 and N(C - 1) - 1 that THEORY.md §6.4 says must fail."
    ),
    proof="dangel2021_structure.py",
    under_test=("bntheory.curvature.network.ggn_dense",),
)


def _rank_residual(ctx: Context, sharper: int) -> Outcome:
    p = _problem(ctx, "dangel2021.rank", samples=6, classes=3)
    N, C = p.X.shape[0], p.model.classes
    bounds = {"mse": N * C - sharper, "cross_entropy": N * (C - 1) - sharper}
    residual, lines = 0, []
    for loss in LOSSES:
        for source, G in (
            ("library", cv.ggn_dense(p.model, p.theta, p.X, loss=loss)),
            ("torch.nn", oracle.ggn(p.model, p.theta, p.X, loss=loss)),
        ):
            s = np.linalg.svd(G, compute_uv=False)
            r = int(np.sum(s > 1e-10 * s[0])) if np.all(np.isfinite(s)) else -1
            residual += abs(r - bounds[loss])
            lines.append(f"{loss} {source} {r}")
    return exact(residual, f"ranks (N = {N}, C = {C}, D = {p.model.size}): {', '.join(lines)}; claimed {bounds}")


@rank.numeric(
    "numerical rank of G (library and torch.nn): N C for MSE and N (C - 1) for CE (N = 6, C = 3)", needs=NEEDS
)
def _(ctx: Context) -> Outcome:
    return _rank_residual(ctx, 0)


@rank.negative_control("the sharper claims rank G <= N C - 1 (MSE) and <= N (C - 1) - 1 (CE)", needs=NEEDS)
def _(ctx: Context) -> Outcome:
    return _rank_residual(ctx, 1)


# --- linear operators --------------------------------------------------------------------------------------

operators = DANGEL2021.result(
    "operators",
    title="GGN and Hessian of a training-mode BN network as LinearOperators (for eigsh)",
    where="§3; training-mode curvature",
    tag="D",
    statement=(
        r"v\mapsto Gv=\mathrm J^\top\nabla^2_FL\,\mathrm Jv,\quad v\mapsto\nabla^2_\theta L\,v\ "
        r"\text{(training mode)}"
    ),
    assumptions=("matrix-vector products only; the dense matrices are built here for the check",),
    notes=(
        "Oracles: the torch.nn G, and the Hessian of BN written from primitive operations (reverse-over-reverse), "
        "whose gradient is checked against the torch.nn network's; the dense Hessian from the block structure "
        "(curvature.hessian_dense, which ghorbani2019.outliers uses) against the same oracle. The control is the "
        "PyHessian trap: the Hessian with the batch statistics frozen (eval mode with the batch's own statistics)."
    ),
    proof="dangel2021_structure.py",
    under_test=(
        "bntheory.curvature.network.hessian_vector_products",
        "bntheory.curvature.network.hessian_dense",
        "bntheory.curvature.network.ggn_vector_products",
    ),
)


def _operator_oracles(ctx: Context) -> tuple[cv.Problem, dict]:
    """The shared problem and, per loss, the oracle H, the oracle gradient's check and the GGN operator's error.

    The check and its control compare against the same ones, so they are computed once per process.
    """

    def build(_memo_ctx: Context) -> tuple[cv.Problem, dict]:
        p = _problem(ctx, "dangel2021.operators")  # the result's shared stream, as the checks drew it before
        out = {}
        for loss in LOSSES:
            T = p.targets(loss)
            G = oracle.ggn(p.model, p.theta, p.X, loss=loss)
            same_net = max_relative_error(
                oracle.primitive_gradient(p.model, p.theta, p.X, T, loss=loss),
                oracle.gradient(p.model, p.theta, p.X, T, loss=loss),
            )
            ggn_error = max_relative_error(cv.to_dense(cv.ggn_operator(p.model, p.theta, p.X, loss=loss)), G)
            out[loss] = (oracle.hessian(p.model, p.theta, p.X, T, loss=loss), same_net, ggn_error)
        return p, out

    return ctx.memo("dangel2021.operators/oracles", build)


def _operator_error(ctx: Context, frozen: bool) -> Outcome:
    acc, lines = Worst(), []
    p, oracles = _operator_oracles(ctx)
    for loss in LOSSES:
        T = p.targets(loss)
        H, same_net, ggn_error = oracles[loss]
        eye = np.eye(p.model.size)
        H_lib = cv.hessian_vector_products(p.model, p.theta, p.X, T, eye, loss=loss, frozen=frozen)
        op = cv.hessian_operator(p.model, p.theta, p.X, T, loss=loss)
        # ARPACK starts from a random vector of its own unless given one: seed it, so the figure is reproducible.
        v0 = ctx.rng(f"dangel2021.operators.eigsh/{loss}", shared=True).normal(size=op.shape[0])
        top = np.nan if frozen else scipy.sparse.linalg.eigsh(op, k=1, which="LA", v0=v0, return_eigenvectors=False)[0]
        errs = {
            "oracle gradient vs torch.nn": same_net,
            "GGN operator": ggn_error,
            "Hessian" + (" (frozen statistics)" if frozen else " operator"): max_relative_error(H_lib, H),
            "dense Hessian" + (" (frozen statistics)" if frozen else ""): max_relative_error(
                cv.hessian_dense(p.model, p.theta, p.X, T, loss=loss, frozen=frozen), H
            ),
        }
        if not frozen:
            lam_max = spectrum.eigenvalues(H)[-1]
            errs["eigsh top"] = abs(top - lam_max) / abs(lam_max)
        for what, e in errs.items():
            acc.add(e, f"{loss}: {what}")
        lines.append(f"{loss}: " + ", ".join(f"{w} {e:.2g}" for w, e in errs.items()))
    return at_most(float(acc), FLOAT64_ORACLE.value, "relative to the oracles: " + "; ".join(lines))


@operators.numeric("operators vs the torch.nn G and the primitive-BN Hessian; eigsh top eigenvalue", needs=NEEDS)
def _(ctx: Context) -> Outcome:
    return _operator_error(ctx, frozen=False)


@operators.negative_control("the Hessian with the batch statistics frozen (eval-mode shortcut)", needs=NEEDS)
def _(ctx: Context) -> Outcome:
    return _operator_error(ctx, frozen=True)
