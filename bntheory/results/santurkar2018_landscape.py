r"""Santurkar et al. 2018, §2–§3: internal covariate shift, landscape measures, and the paper's claims.

The qualitative claims are measured on a 25-layer deep linear network.

S. Santurkar, D. Tsipras, A. Ilyas and A. Madry, "How does batch normalization help optimization?",
NeurIPS 2018, arXiv:1805.11604 (THEORY.md §2.1–§2.2). The definitions are recalled, not confirmed from
the paper's text ([R]), so every record here is provisional: run and reported, never gating.

Library code under test: :mod:`bntheory.covariate_shift`, :mod:`bntheory.landscape`,
:mod:`bntheory.deep_linear`. The claims are checked as frequencies over paired runs (same data, same
initial weights, same seed; one pair per seed and learning rate) with an exact Clopper–Pearson bound:
a claim is supported when the 95% lower bound on the frequency of the claimed ordering exceeds 1/2.
"""

from __future__ import annotations

import functools

import numpy as np

from bntheory.backend import asarray, to_numpy
from bntheory.checks.compare import Outcome, at_least, at_most, max_relative_error
from bntheory.checks.frequency import frequency
from bntheory.checks.oracles import torch_normalize
from bntheory.context import Context
from bntheory.covariate_shift import internal_covariate_shift
from bntheory.deep_linear import EPS, experiment, init_weights, loss_and_gradients
from bntheory.landscape import probe_gradient_direction
from bntheory.registry import register

CITATION = "Santurkar et al. 2018, {}, arXiv:1805.11604"
#: Learning rates of the paired runs: both inside the standard network's stable range on these problems
#: (it diverges at 0.05, where BN still trains: a regime the claims do not need to be tested in).
LRS = (0.002, 0.01)
#: THEORY.md §0: float64 closed forms against independent oracles.
RTOL = 1e-10


def _seeds(ctx: Context) -> tuple[int, ...]:
    return tuple(1000 * ctx.seed + i for i in range(3 if (ctx.size == "quick") else 5))


def _schedule(quick: bool) -> dict:
    """Depth, steps and measuring interval of the runs.

    --size quick trains half as long but keeps the depth: at 16 or 20 layers the ICS ordering holds in fewer
    pairs (4-5 of 6 for some seeds, against 6 of 6 at 25 layers for seeds 0-3).
    """
    return {"depth": 25, "steps": 20 if quick else 40, "measure_every": 10 if quick else 20}


@functools.lru_cache(maxsize=4)
def _runs(seeds: tuple[int, ...], quick: bool):
    """The paired DLN runs shared by the claims and the figure (computed once per seed set)."""
    return experiment(seeds, LRS, ("standard", "bn"), width=10, n=64, **_schedule(quick))


def _pairs(ctx: Context, statistic, a: str, b: str) -> tuple[int, int, list[str]]:
    """How many (seed, lr) pairs have statistic(run of `a`) < statistic(run of `b`), and the figures."""
    runs = _runs(_seeds(ctx), (ctx.size == "quick"))
    wins, total, figures = 0, 0, []
    for lr in LRS:
        for ta, tb in zip(runs[(a, lr)], runs[(b, lr)], strict=True):
            sa, sb = statistic(ta), statistic(tb)
            wins += bool(sa < sb)  # a NaN (diverged run) never counts as a win
            total += 1
            figures.append(f"{sa:.3g}/{sb:.3g}")
    return wins, total, figures


def _claim(ctx: Context, statistic, a: str, b: str, what: str) -> Outcome:
    wins, total, figures = _pairs(ctx, statistic, a, b)
    f = frequency(wins, total)
    detail = f"{what}: {f}; per pair ({a}/{b}, lr = {', '.join(map(str, LRS))}): {', '.join(figures)}"
    return at_least(f.low, 0.5, detail)


def _mean_cosine(trace) -> float:
    cos = trace.ics_cosine[:, 1:]
    return float(np.mean(cos[np.isfinite(cos)])) if np.isfinite(cos).any() else np.nan


# --- the ICS measure ---------------------------------------------------------------------------------

ics_measure = register(
    "santurkar2018.ics_measure",
    proof="santurkar2018_landscape.py",
    title="Internal covariate shift measure (l2 and cosine of a layer's gradient before/after earlier layers step)",
    citation=CITATION.format("Definition 2.1"),
    tag="R",
    statement=(
        r"\mathrm{ICS}_{\ell_2}(t,i)=\|G_{t,i}-G'_{t,i}\|_2,\ \mathrm{ICS}_{\cos}(t,i)="
        r"\frac{\langle G_{t,i},G'_{t,i}\rangle}{\|G_{t,i}\|\|G'_{t,i}\|},\ G'_{t,i}=\nabla_{W_i}\mathcal L"
        r"(W_{1..i-1}^{(t+1)},W_{i..k}^{(t)})"
    ),
    assumptions=("same batch (and same noise) in both evaluations", "earlier layers take one GD step"),
    notes="THEORY.md §2.1: definition and its numbering recalled, not confirmed from the paper's text ([R]).",
)


def _torch_ics(weights, X, Y, lr: float, shift_through: int):
    """ICS by direct recomputation in PyTorch: step layers < i + `shift_through` and differentiate again."""
    import torch

    def grads(ws):
        ts = [torch.tensor(w, requires_grad=True) for w in ws]
        H = torch.from_numpy(X)
        for w in ts[:-1]:
            H = torch_normalize((H @ w).T, EPS).T
        loss = 0.5 * ((H @ ts[-1] - torch.from_numpy(Y)) ** 2).sum() / X.shape[0]
        return [g.numpy() for g in torch.autograd.grad(loss, ts)]

    G = grads(weights)
    l2, cos = [], []
    for i in range(len(weights)):
        k = min(i + shift_through, len(weights))
        moved = [w - lr * g for w, g in zip(weights[:k], G[:k], strict=True)] + list(weights[k:])
        Gp = grads(moved)[i]
        l2.append(np.linalg.norm(G[i] - Gp))
        cos.append(np.sum(G[i] * Gp) / (np.linalg.norm(G[i]) * np.linalg.norm(Gp)))
    return np.array(l2), np.array(cos)


def _ics_error(ctx: Context, shift_through: int) -> Outcome:
    rng = ctx.rng("santurkar2018.ics_measure", shared=True)
    X, Y = rng.normal(size=(32, 4)), rng.normal(size=(32, 3))
    weights = init_weights(rng, 6, 4, 5, 3)
    xp = ctx.xp

    def gradients(ws):
        _, gs = loss_and_gradients([to_numpy(w) for w in ws], X, Y, variant="bn")
        return [asarray(g, xp) for g in gs]

    shift = internal_covariate_shift(gradients, [asarray(w, xp) for w in weights], 0.05)
    l2, cos = _torch_ics(weights, X, Y, 0.05, shift_through)
    still = internal_covariate_shift(gradients, [asarray(w, xp) for w in weights], 0.0)
    worst = max(
        max_relative_error(shift.l2, l2),
        max_relative_error(shift.cosine, cos),
        float(np.max(still.l2)),
        float(np.max(np.abs(still.cosine - 1))),
    )
    return at_most(worst, RTOL, "6-layer BN network vs torch recomputation of G'; layer 1 and lr = 0 give 0 and 1")


@ics_measure.numeric(
    "internal_covariate_shift vs PyTorch autograd recomputation of G'; lr = 0 gives no shift", needs=("torch",)
)
def _(ctx: Context) -> Outcome:
    return _ics_error(ctx, shift_through=0)


@ics_measure.negative_control("the oracle also steps layer i itself (a wrong G')", needs=("torch",))
def _(ctx: Context) -> Outcome:
    return _ics_error(ctx, shift_through=1)


# --- the landscape measures --------------------------------------------------------------------------

landscape_measures = register(
    "santurkar2018.landscape_measures",
    proof="santurkar2018_landscape.py",
    title="Loss variation, gradient predictiveness and effective beta-smoothness along the gradient",
    citation=CITATION.format("§3.1"),
    tag="R",
    statement=(
        r"\Delta\mathcal L=\max_\eta\mathcal L(\theta-\eta g)-\min_\eta\mathcal L(\theta-\eta g),\ "
        r"\|\nabla\mathcal L(\theta)-\nabla\mathcal L(\theta-\eta g)\|,\ "
        r"\beta_{\rm eff}=\max_\eta\frac{\|\nabla\mathcal L(\theta)-\nabla\mathcal L(\theta-\eta g)\|}{\|\eta g\|}"
    ),
    assumptions=("g = grad L(theta) != 0", "step sizes eta > 0"),
    notes=(
        "THEORY.md §2.2: definitions recalled and the paper's range of eta not confirmed ([R]). On a quadratic "
        "1/2 theta^T Q theta the measures have closed forms (beta_eff = ||Qg||/||g|| <= lambda_max(Q)), "
        "the oracle here."
    ),
)


def _quadratic_error(ctx: Context, per_eta: bool) -> Outcome:
    rng = ctx.rng("santurkar2018.landscape_measures", shared=True)
    worst = 0.0
    for p in (3, 10, 40):
        B = rng.normal(size=(p, p))
        Q = B @ B.T / p + np.diag(rng.uniform(0, 3, p))
        theta = rng.normal(size=p)
        etas = np.array([0.01, 0.1, 0.5, 1.0])
        Qx = asarray(Q, ctx.xp)
        probe = probe_gradient_direction(lambda t, Qx=Qx: (float(t @ Qx @ t) / 2, Qx @ t), asarray(theta, ctx.xp), etas)
        g = Q @ theta
        losses = [(theta - e * g) @ Q @ (theta - e * g) / 2 for e in etas]
        beta = np.linalg.norm(Q @ g) / np.linalg.norm(g)
        measured_beta = np.max(probe.gradient_changes / (etas if per_eta else probe.step_lengths))
        worst = max(
            worst,
            max_relative_error(probe.losses, losses),
            max_relative_error(probe.gradient_changes, etas * np.linalg.norm(Q @ g)),
            abs(measured_beta - beta) / beta,
        )
        if beta > np.linalg.eigvalsh(Q)[-1] * (1 + 1e-12):
            return at_most(np.inf, RTOL, "beta_eff exceeds lambda_max(Q)")
    return at_most(worst, 1e-12, "quadratics p = 3, 10, 40: losses, gradient changes and beta_eff vs closed forms")


@landscape_measures.numeric("probe_gradient_direction on quadratics vs closed forms; beta_eff <= lambda_max")
def _(ctx: Context) -> Outcome:
    return _quadratic_error(ctx, per_eta=False)


@landscape_measures.negative_control("effective beta divided by eta instead of ||eta g||")
def _(ctx: Context) -> Outcome:
    return _quadratic_error(ctx, per_eta=True)


# --- the claims on the deep linear network -----------------------------------------------------------

dln_ics = register(
    "santurkar2018.dln_ics",
    proof="santurkar2018_landscape.py",
    title="BN does not reduce internal covariate shift (25-layer deep linear network)",
    citation=CITATION.format("§2.2, Figure 5 (deep linear network)"),
    tag="R",
    statement=(
        r"\text{BN network: }\overline{\mathrm{ICS}_{\cos}}\le\overline{\mathrm{ICS}_{\cos}}\text{ of the standard "
        r"network (its gradients move at least as much when earlier layers step)}"
    ),
    assumptions=(
        "25 layers, width 10, n = 64 Gaussian inputs, linear teacher + noise, full-batch GD",
        "paired runs: same data, initial weights and seed; lr in {0.002, 0.01}",
        "claim supported when the 95% Clopper-Pearson lower bound of the frequency exceeds 1/2",
    ),
    notes=(
        "Paper's qualitative claim; its DLN sizes, learning rate and step range are not confirmed ([R]). "
        "BN's gamma, beta are held at 1, 0 so that the variants have the same parameters."
    ),
)


@dln_ics.numeric("frequency over paired runs of mean ICS cosine (BN) < mean ICS cosine (standard)")
def _(ctx: Context) -> Outcome:
    return _claim(ctx, _mean_cosine, "bn", "standard", "BN cosine below standard")


@dln_ics.negative_control("the reverse claim: BN reduces ICS (BN cosine above standard)")
def _(ctx: Context) -> Outcome:
    return _claim(ctx, lambda t: -_mean_cosine(t), "bn", "standard", "BN cosine above standard")


def _smoother(trace) -> float:
    """Rank statistic of the landscape claim: the larger of median loss variation and median gradient change."""
    return float(max(np.median(trace.loss_variation), np.median(trace.gradient_predictiveness)))  # NaN if diverged


dln_landscape = register(
    "santurkar2018.dln_landscape",
    proof="santurkar2018_landscape.py",
    title="BN lowers loss variation and raises gradient predictiveness (25-layer deep linear network)",
    citation=CITATION.format("§3.1, Figure 4 and the deep-linear-network appendix figures"),
    tag="R",
    statement=(
        r"\text{BN network: }\Delta\mathcal L<\Delta\mathcal L_{\text{std}}\ \text{and}\ "
        r"\max_\eta\|\nabla\mathcal L(\theta)-\nabla\mathcal L(\theta-\eta g)\|<\text{the standard network's}"
    ),
    assumptions=(
        "as santurkar2018.dln_ics; step sizes eta = lr x {0.5, 1, 2, 4} along the gradient",
        "a pair counts when both BN medians (over measured steps) are below the standard network's",
    ),
    notes=(
        "Paper's qualitative claim; the step range of the probe is not confirmed ([R]). Where the standard network "
        "diverges (lr = 0.05 here) BN trains and the comparison favours BN trivially; that regime is not tested. "
        "The claim check runs at equal learning rates where both networks train (gradients checked against PyTorch "
        "autograd); BN's weight gradients are 10-100x larger there (scale invariance with ||W|| ~ 1 per layer), so "
        "equal step sizes move it further, and the paper's ordering appears only near the standard network's "
        "stability limit. Whether the claim is reproduced is decided by each run (the evidence is its figures)."
    ),
)


@dln_landscape.claim("frequency over paired runs of (loss variation, gradient change) both lower with BN")
def _(ctx: Context) -> Outcome:
    return _claim(ctx, _smoother, "bn", "standard", "BN smoother")


@dln_landscape.negative_control("a claim with no effect: the standard network strictly smoother than itself")
def _(ctx: Context) -> Outcome:
    return _claim(ctx, _smoother, "standard", "standard", "standard smoother than standard")


@dln_landscape.figure("dln")
def _(ctx: Context):
    from bntheory.plots import dln_landscape_figure

    return dln_landscape_figure(_runs(_seeds(ctx), (ctx.size == "quick")))


@dln_ics.figure("noise")
def _(ctx: Context):
    """The BN + noise variant beside BN and standard, at the larger learning rate."""
    from bntheory.plots import dln_landscape_figure

    runs = experiment(_seeds(ctx), LRS[1:], width=10, n=64, **_schedule(ctx.size == "quick"))
    return dln_landscape_figure(runs)
