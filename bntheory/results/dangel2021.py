r"""Dangel 2021, "Structural implications of batch normalization": per-component gradients and the GGN.

F. Dangel, note (2021), seed 003 in ``shared/seeds`` (THEORY.md §6, tag [P]: the seed is the primary text; the
explicit factors of §6.3 are [D]). Library code under test: :mod:`bntheory.curvature`. Oracles: the full
gradient by ordinary back-propagation, the full Jacobian (``torch.func.jacrev``) and the exact loss Hessian
(``torch.func.hessian``), dense Hessians of the training-mode network. All float64. Needs PyTorch.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse.linalg

from bntheory import curvature as cv
from bntheory.checks.compare import Outcome, at_least, at_most
from bntheory.context import Context
from bntheory.registry import register

CITATION = "Dangel 2021, {}, note 'Structural implications of batch normalization'"
NEEDS = ("torch",)


def _instance(ctx: Context, key: str, *, bn: bool = True, N: int = 8, C: int = 3):
    rng = ctx.rng(key, shared=True)
    model = cv.Model(inputs=4, hidden=6, classes=C, bn=bn)
    theta = model.init(rng)
    X = rng.normal(size=(N, 4)) * rng.uniform(0.5, 2, 4) + rng.normal(size=4)
    return model, theta, X, rng.normal(size=(N, C)), rng.integers(0, C, N)


# --- per-component gradients ------------------------------------------------------------------------------

components = register(
    "dangel2021.per_component",
    title="Per-component gradients sum to the gradient but are not per-sample gradients under BN",
    citation=CITATION.format("§1-§2 (per-component gradients)"),
    tag="P",
    statement=(
        r"\mathbf g_n=(\mathrm J_\theta F_n)^\top\nabla_{F_n}\ell(F_n,y_n),\ \nabla_\theta L=r\sum_n\mathbf g_n;\ "
        r"\text{with BN in training mode }\mathbf g_n\text{ depends on every }x_k"
    ),
    assumptions=("L = r sum_n l(F_n, y_n), r = 1 (sum) or 1/N (mean)", "BN in training mode (batch statistics)"),
    notes=(
        "THEORY.md §6.1. The four candidate per-sample gradients of BackPACK issue 160 are implemented in "
        "curvature.per_sample_gradients; only the per-component one sums to the gradient and none of the "
        "batch-independent ones does (the detail reports their distances)."
    ),
    proof="dangel2021_structure.py",
)


def _sum_error(ctx: Context, definition: str) -> tuple[float, str]:
    worst, lines = 0.0, []
    for loss in ("mse", "cross_entropy"):
        model, theta, X, Y, labels = _instance(ctx, "dangel2021.per_component")
        target = Y if loss == "mse" else labels
        full = cv.full_gradient(model, theta, X, target, loss=loss)
        g = cv.per_sample_gradients(model, theta, X, target, definition=definition, loss=loss)
        err = float(np.max(np.abs(g.sum(axis=0) / len(X) - full)) / np.max(np.abs(full)))
        worst = max(worst, err)
        lines.append(f"{loss}: {err:.2g}")
    return worst, f"{definition}: max |r sum g_n - grad L| / max |grad L| = " + ", ".join(lines)


@components.numeric("r * sum of per-component gradients = the gradient (mean reduction, MSE and CE)", needs=NEEDS)
def _(ctx: Context) -> Outcome:
    worst, detail = _sum_error(ctx, "per_component")
    return at_most(worst, 1e-12, detail)


@components.numeric("BN: g_n moves when another input x_k moves; without BN it does not", needs=NEEDS)
def _(ctx: Context) -> Outcome:
    changes = {}
    for bn in (True, False):
        model, theta, X, Y, _ = _instance(ctx, "dangel2021.dependence", bn=bn)
        g = cv.per_component_gradients(model, theta, X, Y)
        X2 = X.copy()
        X2[1:] += 0.1  # move every input but x_0
        g2 = cv.per_component_gradients(model, theta, X2, Y)
        changes[bn] = float(np.max(np.abs(g2[0] - g[0])) / np.max(np.abs(g[0])))
    # Distances between the four candidate definitions: they coincide without BN and differ with it.
    defs = ("running", "batch_of_one", "per_component", "frozen_statistics")
    spread = {}
    for bn in (True, False):
        model, theta, X, Y, _ = _instance(ctx, "dangel2021.dependence", bn=bn)
        grads = {d: cv.per_sample_gradients(model, theta, X, Y, definition=d) for d in defs}
        ref = np.linalg.norm(grads["per_component"])
        spread[bn] = {d: float(np.linalg.norm(grads[d] - grads["per_component"]) / ref) for d in defs}
    dist = ", ".join(f"{d}: {spread[True][d]:.2f}" for d in defs if d != "per_component")
    changes[False] = max(changes[False], *spread[False].values())
    detail = (
        f"relative change of g_0 when the other inputs move: with BN {changes[True]:.3g}; without BN, that change "
        f"and the spread of the four definitions: {changes[False]:.1g}; with BN, distance of each definition to "
        f"per-component (relative Frobenius): {dist}"
    )
    # Dependence with BN must be visible (above 1e-3) and absent without BN (rounding only).
    return at_least(changes[True] if changes[False] <= 1e-12 else 0.0, 1e-3, detail)


@components.negative_control("per-sample gradients (each sample alone, batch of one) sum to the gradient", needs=NEEDS)
def _(ctx: Context) -> Outcome:
    worst, detail = _sum_error(ctx, "batch_of_one")
    return at_most(worst, 1e-12, detail)


# --- the GGN: factors, diagonal, rank ------------------------------------------------------------------------

ggn = register(
    "dangel2021.ggn_diagonal",
    title="The GGN of a BN network, its diagonal by back-propagating the loss-Hessian factors",
    citation=CITATION.format("§3 (GGN) and its diagonal"),
    tag="D",
    statement=(
        r"G=r\sum_n(\mathrm J_\theta F_n)^\top S_nS_n^\top(\mathrm J_\theta F_n),\ "
        r"\mathrm{diag}\,G=r\sum_{n,c}\big((\mathrm J_\theta F_n)^\top\mathbf s_{nc}\big)^{\odot2},\ "
        r"\mathbf s_{nc}=\sqrt{p_c}(e_c-p)\ (\text{CE}),\ \sqrt2e_c\ (\|f-y\|^2)"
    ),
    assumptions=("training-mode BN; the factors are back-propagated through the whole batch",),
    notes="THEORY.md §6.2-§6.5: decomposition [P], explicit factors [D]. The issue asks diag agreement to 1e-10.",
    proof="dangel2021_structure.py",
)


def _diag_error(ctx: Context, factors) -> Outcome:
    worst, lines = 0.0, []
    for loss in ("mse", "cross_entropy"):
        model, theta, X, _, _ = _instance(ctx, "dangel2021.ggn")
        dense = np.diag(cv.ggn_dense(model, theta, X, loss=loss))
        ours = factors(model, theta, X, loss)
        err = float(np.max(np.abs(ours - dense)) / np.max(np.abs(dense)))
        worst = max(worst, err)
        lines.append(f"{loss}: {err:.2g}")
    return at_most(
        worst, 1e-10, "diag(G) by factors vs diag of the dense J^T H J (jacrev, hessian): " + ", ".join(lines)
    )


@ggn.numeric("diag(G) by factors vs the dense G from torch.func.jacrev and the exact loss Hessian", needs=NEEDS)
def _(ctx: Context) -> Outcome:
    return _diag_error(ctx, lambda m, t, X, loss: cv.ggn_diagonal(m, t, X, loss=loss))


@ggn.numeric("G = r * sum over components of J_n^T (S_n S_n^T) J_n, each J_n by jacrev of F_n alone", needs=NEEDS)
def _(ctx: Context) -> Outcome:
    import torch

    worst = 0.0
    for loss in ("mse", "cross_entropy"):
        model, theta, X, _, _ = _instance(ctx, "dangel2021.ggn")
        t, Xt = torch.as_tensor(theta), torch.as_tensor(X)
        F = model.forward(t, Xt).detach().numpy()
        S = cv.loss_hessian_factors(F, loss)
        total = np.zeros((model.size, model.size))
        for n in range(len(X)):
            J_n = torch.func.jacrev(lambda p, n=n, m=model, X=Xt: m.forward(p, X)[n])(t).numpy()  # (C, D)
            total += J_n.T @ S[n] @ S[n].T @ J_n
        G = cv.ggn_dense(model, theta, X, loss=loss)
        worst = max(worst, float(np.max(np.abs(total / len(X) - G)) / np.max(np.abs(G))))
    return at_most(worst, 1e-12, "sum of N per-component GGNs vs the dense G, MSE and CE (mean reduction)")


@ggn.negative_control("omit the reduction factor r (mean reduction)", needs=NEEDS)
def _(ctx: Context) -> Outcome:
    return _diag_error(ctx, lambda m, t, X, loss: len(X) * cv.ggn_diagonal(m, t, X, loss=loss))


rank = register(
    "dangel2021.ggn_rank",
    title="rank G <= N C (square loss, attained) and <= N (C - 1) (cross-entropy), with BN",
    citation=CITATION.format("§3 (rank bound)"),
    tag="D",
    statement=r"\operatorname{rank}G\le NC\ (\text{MSE}),\quad\operatorname{rank}G\le N(C-1)\ (\text{CE}),\quad D>NC",
    assumptions=("output layer with a free bias (THEORY.md §8: otherwise the MSE bound is not attained)",),
    notes="THEORY.md §6.4: the bound is [P], the cross-entropy refinement [D]. Numerical rank at relative 1e-10.",
    proof="dangel2021_structure.py",
)


def _ranks(ctx: Context) -> dict:
    model, theta, X, _, _ = _instance(ctx, "dangel2021.rank", N=6, C=3)
    out = {}
    for loss in ("mse", "cross_entropy"):
        G = cv.ggn_dense(model, theta, X, loss=loss)
        s = np.linalg.svd(G, compute_uv=False)
        out[loss] = int(np.sum(s > 1e-10 * s[0]))
    return out


@rank.numeric("numerical rank of the dense G: N C for MSE and N (C - 1) for CE (N = 6, C = 3, D = 63)", needs=NEEDS)
def _(ctx: Context) -> Outcome:
    r = _ranks(ctx)
    ok = r["mse"] == 18 and r["cross_entropy"] == 12
    return at_least(float(ok), 1.0, f"ranks: MSE {r['mse']} (bound 18), CE {r['cross_entropy']} (bound 12)")


@rank.negative_control("the sharper claim rank G <= N C - 1 for square loss", needs=NEEDS)
def _(ctx: Context) -> Outcome:
    r = _ranks(ctx)
    return at_most(r["mse"], 17, f"MSE rank {r['mse']}")


# --- linear operators --------------------------------------------------------------------------------------

operators = register(
    "dangel2021.operators",
    title="GGN and Hessian of a training-mode BN network as LinearOperators (for eigsh)",
    citation=CITATION.format("§3; training-mode curvature"),
    tag="D",
    statement=(
        r"v\mapsto Gv=\mathrm J^\top\nabla^2_FL\,\mathrm Jv,\quad v\mapsto\nabla^2_\theta L\,v\ "
        r"\text{(training mode)}"
    ),
    assumptions=("matrix-vector products only; the dense matrices are built here for the check",),
    notes=(
        "The control is the PyHessian trap: the Hessian of the network with its batch statistics frozen (eval "
        "mode with the batch's own statistics) is not the training-mode Hessian."
    ),
    proof="dangel2021_structure.py",
)


def _operator_error(ctx: Context, frozen: bool) -> Outcome:
    import torch

    model, theta, X, Y, _ = _instance(ctx, "dangel2021.operators")
    ggn_err = float(np.max(np.abs(cv.to_dense(cv.ggn_operator(model, theta, X)) - cv.ggn_dense(model, theta, X))))
    t, Xt, Yt = (torch.as_tensor(a, dtype=torch.float64) for a in (theta, X, Y))

    stats = model.batch_statistics(t, Xt) if frozen else None

    def L(p):
        return ((model.forward(p, Xt, statistics=stats) - Yt) ** 2).sum() / len(X)

    H_dense = torch.func.hessian(L)(t).numpy()
    H_op = cv.hessian_operator(model, theta, X, Y)
    hess_err = float(np.max(np.abs(cv.to_dense(H_op) - H_dense)) / np.max(np.abs(H_dense)))
    top = scipy.sparse.linalg.eigsh(H_op, k=1, which="LA", return_eigenvectors=False)[0]
    top_dense = np.linalg.eigvalsh(H_dense)[-1]
    detail = (
        f"GGN operator vs dense {ggn_err:.2g}; Hessian operator vs dense {hess_err:.2g}; eigsh top eigenvalue "
        f"{top:.10g} vs dense {top_dense:.10g}"
    )
    return at_most(max(hess_err, ggn_err, abs(top - top_dense) / abs(top_dense)), 1e-10, detail)


@operators.numeric("operators vs dense matrices (torch.func.hessian, jacrev); eigsh top eigenvalue", needs=NEEDS)
def _(ctx: Context) -> Outcome:
    return _operator_error(ctx, frozen=False)


@operators.negative_control("the Hessian with the batch statistics frozen (eval-mode shortcut)", needs=NEEDS)
def _(ctx: Context) -> Outcome:
    return _operator_error(ctx, frozen=True)
