r"""Li & Arora 2020: on scale-invariant weights, weight decay is an exponentially growing learning rate.

Z. Li and S. Arora, "An exponential learning rate schedule for deep learning", ICLR 2020, arXiv:1910.07454
(THEORY-2.md §10.4). Only the abstract was read: the paper's theorem (and its treatment of the momentum buffer) is
[R], so both records are provisional; what the checks test are the GD and heavy-ball forms derived in THEORY-2.md
§10.4 [D], exact trajectory equivalences on a scale-invariant loss.

Library code under test: :func:`bntheory.optim.sgd.sgd` (heavy ball with weight decay, PyTorch's convention, any
schedule, an initial buffer) and :func:`bntheory.optim.sgd.exponential_lr_equivalent` (the root, the schedule and
the initial buffer). Oracles: the factor :math:`\alpha` from ``numpy.roots`` (or :math:`1-\eta\lambda`), both
recursions at 40 digits in mpmath, and ``torch.optim.SGD`` with ``LambdaLR`` and autograd
(:mod:`bntheory.checks.oracles.sgd_reference`). The loss is :math:`-\xi^\top w/\|w\|` of THEORY-2.md §10.6 in
:math:`d=8`, noise-free (GD) and with noise (SGD on the same samples in both runs: the equivalence holds sample by
sample, since :math:`\nabla\ell(cw;\xi)=\nabla\ell(w;\xi)/c` for every :math:`\xi`).
"""

from __future__ import annotations

import numpy as np

from bntheory.backend import to_numpy
from bntheory.checks.compare import Outcome, Worst, at_least, at_most, exact
from bntheory.checks.oracles.sgd_reference import (
    mp_equivalence_gaps,
    mp_exponential_root,
    mp_heavy_ball,
    mp_relative_gap,
    torch_sgd_path,
)
from bntheory.checks.tolerances import FLOAT64_ORACLE, MP_RECURSION, TRAJECTORY
from bntheory.context import Context
from bntheory.optim.sgd import NoisyLinear, exponential_lr_equivalent, exponential_schedule, sgd
from bntheory.registry import ARRAY, paper

LI2020 = paper("li2020", citation="Li & Arora 2020", arxiv="1910.07454")
PROOF = "li2020_exponential_lr.py"
D = 8
MEAN = np.r_[2.0, np.zeros(D - 1)]
#: Noise level of each run: two noise-free (GD) and two noisy (SGD, the same samples in both runs of a pair).
SCALES = (0.0, 0.0, 1.0, 1.0)
#: (eta, lambda, gamma) of THEORY-2.md §10.4: GD with eta lambda = 6e-3; heavy ball with eta lambda = 1.5e-3 below
#: (1 - sqrt 0.9)^2 = 2.6e-3.
GD = (0.3, 0.02, 0.0)
HEAVY_BALL = (0.3, 0.005, 0.9)
UNDER_TEST = (
    "bntheory.optim.sgd.sgd",
    "bntheory.optim.sgd.exponential_lr_equivalent",
    "bntheory.optim.sgd.exponential_schedule",
)


def ctx_start(ctx: Context):
    """The four starts (rows of a (4, 8) array) and their seeds, shared by a result's checks and control."""
    rng = ctx.rng("start", shared=True)
    return rng.normal(size=(len(SCALES), D)), [int(s) for s in rng.integers(2**32, size=len(SCALES))]


def ctx_steps(ctx: Context, case) -> int:
    """Steps of the float64 runs: at least 100 (THEORY-2.md §10.4), 200 (GD) or 150 (heavy ball) beyond quick."""
    # Not longer: in the noise-free runs weight decay shrinks the norm until the effective rate eta/||w||^2 passes the
    # stability of GD on the sphere (about 2 after 200 heavy-ball steps); the direction is then kicked off the optimum
    # and rounding differences between any two float64 runs grow 1e3-fold within 50 steps (1.8e-10 at 200 heavy-ball
    # steps, seed 1; <= 3e-13 at 150 over seeds 0-29). The 40-digit runs (ctx_mp) are exact there too.
    return ctx.by_size(quick=100, default=200 if case[2] == 0 else 150)


def ctx_root(ctx: Context, case, root: str = "larger") -> float:
    r"""The oracle's :math:`\alpha`: :math:`1-\eta\lambda` for GD, else the root of the quadratic by ``numpy.roots``."""
    eta, lam, gamma = case
    if gamma == 0:
        return 1 - eta * lam
    roots = np.sort(np.roots([1.0, -(1 + gamma - lam * eta), gamma]).real)
    return float(roots[-1] if root == "larger" else roots[0])


def ctx_gap(ctx: Context, free_path, wd_path, alpha: float) -> float:
    r""":math:`\max_{t,r}\|\tilde w_t-\alpha^{-t}w_t\|/\|\alpha^{-t}w_t\|` over two paths of shape (T + 1, R, d)."""
    free, wd = np.asarray(free_path, dtype=np.float64), np.asarray(wd_path, dtype=np.float64)
    scaled = wd * alpha ** -np.arange(wd.shape[0], dtype=np.float64)[:, None, None]
    worst = Worst()
    worst.add(np.linalg.norm(free - scaled, axis=-1) / np.linalg.norm(scaled, axis=-1))
    return float(worst)


def ctx_equivalence(ctx: Context, case, wrong: str | None = None) -> Outcome:
    r"""The library's WD run against its WD-free run, step by step, on the run's backend.

    `wrong` is a control's one false piece: ``"exponent"`` (steps :math:`\eta\alpha^{-2t}`), ``"zero buffer"``
    (:math:`\tilde b_0=0`), ``"gd factor"`` (:math:`\alpha=1-\eta\lambda` for heavy ball).
    """
    eta, lam, gamma = case
    w0, seeds = ctx_start(ctx)
    steps = ctx_steps(ctx, case)
    loss = NoisyLinear(MEAN, SCALES)
    W0 = ctx.asarray(w0)
    wd = sgd(loss, W0, lr=eta, momentum=gamma, weight_decay=lam, steps=steps, seeds=seeds, keep_path=True)
    wd_path = to_numpy(wd.path)
    # Both roots are exact; the smaller one grows the step by (alpha+/alpha-)^2 = 1.15x per step more.
    roots = ("larger", "smaller") if gamma > 0 and wrong is None else ("larger",)
    worst = Worst()
    for root in roots:
        alpha = ctx_root(ctx, case, root)
        if wrong == "gd factor":
            alpha = 1 - eta * lam
            schedule, buffer0 = exponential_schedule(alpha, steps), (alpha - 1) / (eta * alpha) * W0
        else:
            eq = exponential_lr_equivalent(eta, lam, gamma, steps=steps, root=root)
            schedule, buffer0 = eq.schedule, eq.buffer_factor * W0
            if wrong == "exponent":
                schedule = schedule * eq.alpha
            elif wrong == "zero buffer":
                buffer0 = None
        free = sgd(
            loss,
            W0,
            lr=eta,
            momentum=gamma,
            schedule=schedule,
            buffer0=buffer0,
            steps=steps,
            seeds=seeds,
            keep_path=True,
        )
        worst.add(ctx_gap(ctx, to_numpy(free.path), wd_path, alpha), f"{root} root, alpha = {alpha:.6g}")
    detail = (
        f"max over t <= {steps} of ||w~_t - alpha^-t w_t|| / ||alpha^-t w_t|| (predicted 0), 2 GD + 2 SGD runs, "
        f"worst at {worst.where}"
    )
    return at_most(float(worst), TRAJECTORY, detail)


def ctx_mp_steps(ctx: Context) -> tuple[int, tuple[int, ...]]:
    """Steps and runs (rows of the start) of the 40-digit recursions: the SGD run at quick, a GD run too otherwise."""
    return ctx.by_size(quick=(8, (2,)), default=(40, (0, 2)), large=(100, (0, 2)))


def ctx_mp_paths(ctx: Context, case):
    """Per run and root: the 40-digit paths with WD and WD-free (shared by the two mpmath checks), and alpha."""
    eta, lam, gamma = case
    w0, seeds = ctx_start(ctx)
    steps, rows = ctx_mp_steps(ctx)
    samples = NoisyLinear(MEAN, SCALES).samples(seeds, steps)

    def compute(_: Context):
        paths = {}
        for r in rows:
            wd = mp_heavy_ball(w0[r], samples[:, r], lr=eta, momentum=gamma, weight_decay=lam)
            for larger in (True, False) if gamma > 0 else (True,):
                alpha = mp_exponential_root(eta, lam, gamma, larger=larger)
                free = mp_heavy_ball(
                    w0[r], samples[:, r], lr=eta, momentum=gamma, schedule_base=alpha, buffer_factor="exponential"
                )
                paths[r, larger] = (wd, free, alpha)
        return paths

    return ctx.memo(f"li2020/mp/{case}", compute)


def ctx_mp(ctx: Context, case) -> Outcome:
    """Both recursions at 40 digits (mpmath), alpha at 40 digits: alpha^-t w_t = w~_t."""
    worst = Worst()
    for (r, larger), (wd, free, alpha) in ctx_mp_paths(ctx, case).items():
        worst.add(mp_equivalence_gaps(free, wd, alpha), f"run {r}, {'larger' if larger else 'smaller'} root")
    steps, rows = ctx_mp_steps(ctx)
    return at_most(float(worst), MP_RECURSION, f"40 digits, {steps} steps, runs {rows}; worst at {worst.where}")


def ctx_library_vs_mp(ctx: Context, case) -> Outcome:
    """The library's float64 runs (NumPy), with WD and with the exponential schedule, vs the 40-digit recursions."""
    eta, lam, gamma = case
    w0, seeds = ctx_start(ctx)
    steps, _ = ctx_mp_steps(ctx)
    loss = NoisyLinear(MEAN, SCALES)
    eq = exponential_lr_equivalent(eta, lam, gamma, steps=steps)
    wd = to_numpy(
        sgd(loss, w0, lr=eta, momentum=gamma, weight_decay=lam, steps=steps, seeds=seeds, keep_path=True).path
    )
    free = to_numpy(
        sgd(
            loss,
            w0,
            lr=eta,
            momentum=gamma,
            schedule=eq.schedule,
            buffer0=eq.buffer_factor * w0,
            steps=steps,
            seeds=seeds,
            keep_path=True,
        ).path
    )
    worst = Worst()
    for (r, larger), (ref_wd, ref_free, _) in ctx_mp_paths(ctx, case).items():
        if not larger:
            continue
        for t in range(steps + 1):
            worst.add(mp_relative_gap(list(wd[t, r]), ref_wd[t]), f"WD run {r}, t = {t}")
            worst.add(mp_relative_gap(list(free[t, r]), ref_free[t]), f"WD-free run {r}, t = {t}")
    return at_most(float(worst), FLOAT64_ORACLE, f"relative error per step, {steps} steps; worst at {worst.where}")


def ctx_torch(ctx: Context, case) -> Outcome:
    """torch.optim.SGD runs the equivalence (LambdaLR, buffer in its state), and equals the library's WD run."""
    eta, lam, gamma = case
    w0, seeds = ctx_start(ctx)
    # PyTorch's optimizer costs ~1 ms a step: 25 steps at quick, the full length otherwise.
    steps = ctx.by_size(quick=25, default=ctx_steps(ctx, case))
    loss = NoisyLinear(MEAN, SCALES)
    samples = loss.samples(seeds, steps)
    alpha = ctx_root(ctx, case)
    wd = torch_sgd_path(w0, samples, lr=eta, momentum=gamma, weight_decay=lam)
    free = torch_sgd_path(
        w0,
        samples,
        lr=eta,
        momentum=gamma,
        lr_lambda=lambda t: alpha ** (-2 * t - 1),
        buffer0=(alpha - 1) / (eta * alpha) * w0,
    )
    ours = to_numpy(
        sgd(
            loss, ctx.asarray(w0), lr=eta, momentum=gamma, weight_decay=lam, steps=steps, seeds=seeds, keep_path=True
        ).path
    )
    worst = Worst()
    worst.add(ctx_gap(ctx, free, wd, alpha), "torch: WD-free vs WD")
    worst.add(ctx_gap(ctx, ours, wd, 1.0), "library vs torch, WD run")
    return at_most(float(worst), TRAJECTORY, f"{steps} steps, 2 GD + 2 SGD runs; worst: {worst.where}")


exp_lr_gd = LI2020.result(
    "exp_lr_gd",
    where="main theorem, GD form (THEORY-2.md §10.4; the form checked is derived [D])",
    proof=PROOF,
    title="GD with weight decay on a scale-invariant loss = WD-free GD with step eta (1 - eta lambda)^(-2t-1)",
    tag="R",
    statement=(
        r"L(cw)=L(w):\ w_{t+1}=(1-\eta\lambda)w_t-\eta\nabla L(w_t),\ "
        r"\tilde w_{t+1}=\tilde w_t-\eta(1-\eta\lambda)^{-2t-1}\nabla L(\tilde w_t),\ \tilde w_0=w_0"
        r"\ \Rightarrow\ \tilde w_t=(1-\eta\lambda)^{-t}w_t\ \forall t"
    ),
    assumptions=("L scale invariant (eps = 0)", "0 < eta lambda < 1", "the same samples in both runs (SGD)"),
    notes=(
        "[R]: the paper's theorem was not read (THEORY-2.md §10.4, abstract only); the GD form is [D] (substitute and "
        "use grad L(cw) = grad L(w)/c). Proof: THEORY-2.md §10.4."
    ),
    under_test=UNDER_TEST,
)


@exp_lr_gd.numeric(
    "library: WD run vs exponential-schedule run, step by step (eta = 0.3, lambda = 0.02)", backends=ARRAY
)
def _(ctx: Context) -> Outcome:
    return ctx_equivalence(ctx, GD)


@exp_lr_gd.numeric("40-digit mpmath: both recursions from the definition, (1 - eta lambda)^-t w_t = w~_t")
def _(ctx: Context) -> Outcome:
    return ctx_mp(ctx, GD)


@exp_lr_gd.numeric("the library's float64 runs vs the 40-digit recursions")
def _(ctx: Context) -> Outcome:
    return ctx_library_vs_mp(ctx, GD)


@exp_lr_gd.numeric(
    "PyTorch: torch.optim.SGD + LambdaLR runs the equivalence; the library equals torch.optim.SGD",
    needs=("torch",),
    backends=ARRAY,
)
def _(ctx: Context) -> Outcome:
    return ctx_torch(ctx, GD)


@exp_lr_gd.negative_control("the exponent -2t in place of -2t - 1 (steps eta (1 - eta lambda)^(-2t))", backends=ARRAY)
def _(ctx: Context) -> Outcome:
    return ctx_equivalence(ctx, GD, wrong="exponent")


exp_lr_momentum = LI2020.result(
    "exp_lr_momentum",
    where="main theorem, heavy-ball form (THEORY-2.md §10.4; the form checked is derived [D])",
    proof=PROOF,
    title="Heavy ball with weight decay = WD-free heavy ball with step eta alpha^(-2t-1) and a non-zero first buffer",
    tag="R",
    statement=(
        r"b_{t+1}=\gamma b_t+\nabla L(w_t)+\lambda w_t,\ w_{t+1}=w_t-\eta b_{t+1},\ b_0=0;\ "
        r"\tilde b_{t+1}=\gamma\tilde b_t+\nabla L(\tilde w_t),\ "
        r"\tilde w_{t+1}=\tilde w_t-\eta\alpha^{-2t-1}\tilde b_{t+1},\ "
        r"\tilde b_0=\frac{\alpha-1}{\eta\alpha}w_0\ \Rightarrow\ \tilde w_t=\alpha^{-t}w_t,\quad "
        r"\alpha^2-(1+\gamma-\lambda\eta)\alpha+\gamma=0"
    ),
    assumptions=(
        "L scale invariant (eps = 0)",
        "eta lambda <= (1 - sqrt gamma)^2 (real roots; else no real exponential schedule exists)",
        "PyTorch's convention: weight decay inside the buffer, dampening 0",
    ),
    notes=(
        "[R]: the paper's theorem and its momentum buffer were not read; the form is [D] (THEORY-2.md §10.4: both runs "
        "are second-order recursions, matching coefficients gives the quadratic, the first step the buffer). Both "
        "roots are exact; the larger is the useful one. Controls: a zero first buffer (the negative control) and the "
        "GD factor 1 - eta lambda (a check that it misses)."
    ),
    under_test=UNDER_TEST,
)


@exp_lr_momentum.numeric(
    "library: WD run vs exponential-schedule run, both roots (gamma = 0.9, eta lambda = 1.5e-3)", backends=ARRAY
)
def _(ctx: Context) -> Outcome:
    return ctx_equivalence(ctx, HEAVY_BALL)


@exp_lr_momentum.numeric("40-digit mpmath: both recursions and both roots from the definition")
def _(ctx: Context) -> Outcome:
    return ctx_mp(ctx, HEAVY_BALL)


@exp_lr_momentum.numeric("the library's float64 runs vs the 40-digit recursions")
def _(ctx: Context) -> Outcome:
    return ctx_library_vs_mp(ctx, HEAVY_BALL)


@exp_lr_momentum.numeric(
    "PyTorch: torch.optim.SGD (momentum, LambdaLR, the buffer set in its state) runs the equivalence; library = torch",
    needs=("torch",),
    backends=ARRAY,
)
def _(ctx: Context) -> Outcome:
    return ctx_torch(ctx, HEAVY_BALL)


@exp_lr_momentum.numeric(
    "the GD factor alpha = 1 - eta lambda in place of the root misses (by more than 1e-10)", backends=ARRAY
)
def _(ctx: Context) -> Outcome:
    miss = ctx_equivalence(ctx, HEAVY_BALL, wrong="gd factor")
    return at_least(miss.measured, float(TRAJECTORY), f"the same comparison with alpha = 1 - eta lambda: {miss.detail}")


@exp_lr_momentum.numeric("trap: eta lambda > (1 - sqrt gamma)^2 (complex roots) is refused with a ValueError")
def _(ctx: Context) -> Outcome:
    eta, _, gamma = HEAVY_BALL
    wrong = []
    # A sweep across the boundary (1 - sqrt 0.9)^2 = 2.63e-3, the last point THEORY-2.md §10.4's eta lambda = 6e-3.
    for product in (1e-3, 2.5e-3, 2.7e-3, 6e-3):
        lam = product / eta
        complex_roots = (1 + gamma - lam * eta) ** 2 - 4 * gamma < 0
        try:
            exponential_lr_equivalent(eta, lam, gamma, steps=3)
            refused = False
        except ValueError:
            refused = True
        if refused != complex_roots:
            wrong.append(f"eta lambda = {product:g}: refused {refused}, discriminant < 0 {complex_roots}")
    return exact(len(wrong), "; ".join(wrong) or "refused exactly where the discriminant is negative")


@exp_lr_momentum.negative_control("a zero first buffer b~_0 = 0 (PyTorch's default) in the WD-free run", backends=ARRAY)
def _(ctx: Context) -> Outcome:
    return ctx_equivalence(ctx, HEAVY_BALL, wrong="zero buffer")


@exp_lr_gd.figure("trajectories")
def _(ctx: Context):
    from bntheory.plots import equivalence_figure

    return equivalence_figure(ctx_figure_runs(ctx, GD), title="GD, eta = 0.3, lambda = 0.02")


@exp_lr_momentum.figure("trajectories")
def _(ctx: Context):
    from bntheory.plots import equivalence_figure

    return equivalence_figure(ctx_figure_runs(ctx, HEAVY_BALL), title="heavy ball, gamma = 0.9, eta lambda = 1.5e-3")


def ctx_figure_runs(ctx: Context, case):
    """Per variant (the equivalent schedule and the controls): norms and the per-step gap of the first SGD run."""
    eta, lam, gamma = case
    w0, seeds = ctx_start(ctx)
    steps = ctx_steps(ctx, case)
    loss = NoisyLinear(MEAN, SCALES)
    wd = sgd(loss, w0, lr=eta, momentum=gamma, weight_decay=lam, steps=steps, seeds=seeds, keep_path=True)
    eq = exponential_lr_equivalent(eta, lam, gamma, steps=steps)
    variants = {
        "alpha^(-2t-1), b~0 as derived": (eq.schedule, eq.buffer_factor * w0),
        "exponent -2t (control)": (eq.schedule * eq.alpha, eq.buffer_factor * w0),
    }
    if gamma > 0:
        variants["b~0 = 0 (control)"] = (eq.schedule, None)
    t = np.arange(steps + 1, dtype=np.float64)
    scaled = wd.path[:, 2] * eq.alpha ** -t[:, None]
    runs = {}
    for label, (schedule, buffer0) in variants.items():
        free = sgd(
            loss,
            w0,
            lr=eta,
            momentum=gamma,
            schedule=schedule,
            buffer0=buffer0,
            steps=steps,
            seeds=seeds,
            keep_path=True,
        )
        gap = np.linalg.norm(free.path[:, 2] - scaled, axis=-1) / np.linalg.norm(scaled, axis=-1)
        runs[label] = (free.trace.norm[:, 2], gap)
    return {
        "with weight decay": wd.trace.norm[:, 2],
        "alpha^-t x with weight decay": np.linalg.norm(scaled, axis=-1),
        "variants": runs,
    }
