r"""Cai, Li & Shen 2019: BNGD on population least squares converges for any weight step size (THEORY-2.md §10.5).

Y. Cai, Q. Li and Z. Shen, "A quantitative analysis of the effect of batch normalization on gradient descent",
ICML 2019, arXiv:1810.00122. Claim [P, abstract]: unlike GD, gradient descent with BN converges for arbitrary
learning rates of the weights, linearly under mild conditions; an earlier version's abstract adds a scaling law.
The paper's theorems (the admissible range of the gain's step, the "mild conditions") are [R]; what is checked is
THEORY-2.md's statement: the iteration and the exact scaling law [D], convergence observed numerically.

Library under test: :func:`bntheory.optim.bngd.bngd` and :func:`bntheory.optim.bngd.gd`, every step size and start in
one batched run. Instance: :math:`d=6`, the spectrum of :math:`H` geometric in [1, 10], :math:`\sigma^2=0.1`, two
starts. Sizes: ``quick`` :math:`T=600`, ``default`` :math:`T=2000`, weight steps :math:`10^{-2},\dots,10^4` (six
decades); ``large`` :math:`T=60000` and also :math:`10^5`.
"""

from __future__ import annotations

import numpy as np

from bntheory.checks.compare import Outcome, Worst, at_least, at_most
from bntheory.checks.rates import fit_rate
from bntheory.checks.tolerances import IDENTITY
from bntheory.context import Context
from bntheory.optim import bngd as bn
from bntheory.registry import ARRAY, paper

CAI2019 = paper("cai2019", citation="Cai, Li & Shen 2019", arxiv="1810.00122")
PROOF = "cai2019_bngd.py"
GAIN_STEPS = (1.0, 0.5)
#: A predictor error at or below this (relative to |u*|) is the rounding floor: the run has converged.
FLOOR = 1e-12
#: Convergence means a contraction factor below 1 - 1e-6 per step (the slowest run, eps = 1e4, contracts by ~5e-4
#: per step; a run that does not converge has q >= 1, a diverging one 1.02-1.05).
CONTRACTION = 1 - 1e-6
#: The rescaling of the scaling law.
C_SCALE = 7.0


def ctx_problem(ctx: Context) -> tuple[bn.LeastSquares, np.ndarray, np.ndarray, float]:
    """The problem on the run's backend, u*, the starts (two), and lambda_max(H) (from the spectrum drawn)."""
    rng = ctx.rng("instance", shared=True)
    d = 6
    Q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    spectrum = np.geomspace(1.0, 10.0, d)
    H = (Q * spectrum) @ Q.T
    u_star = rng.normal(size=d)
    problem = bn.least_squares(ctx.asarray(H), ctx.asarray(u_star), 0.1)
    return problem, u_star, rng.normal(size=(2, d)), float(spectrum[-1])


def ctx_errors(ctx: Context, predictor: np.ndarray, u_star: np.ndarray) -> np.ndarray:
    """Relative predictor error |p_k - u*| / |u*|, shape (T + 1, runs)."""
    return np.linalg.norm(predictor - u_star, axis=-1) / np.linalg.norm(u_star)


def ctx_contraction(ctx: Context, errors: np.ndarray) -> tuple[float, float, str]:
    r"""(upper, lower) end of the 95% interval of the contraction factor of one run, and how it was measured.

    At the floor by step k: the mean factor :math:`(e_k/e_0)^{1/k}` (exact, no interval); otherwise the fitted rate
    of the second half of the run (:func:`~bntheory.checks.rates.fit_rate`), after the first steps' transient.
    """
    if not np.all(np.isfinite(errors)):
        return np.nan, np.nan, "non-finite"
    floor = np.flatnonzero(errors <= FLOOR)
    if floor.size:
        k = int(floor[0])
        q = (errors[k] / errors[0]) ** (1 / k)
        return q, q, f"floor at step {k}"
    fit = fit_rate(errors[errors.size // 2 :], floor=0.0)
    return fit.high, fit.low, f"q = {fit.q:.6g}, error {errors[-1]:.2g} at T"


def ctx_bngd_runs(ctx: Context, gain_steps=GAIN_STEPS, T: int | None = None) -> dict:
    """BNGD over every (weight step, gain step, start) in one batch."""
    problem, u_star, starts, _ = ctx_problem(ctx)
    eps = ctx.by_size(default=tuple(10.0**k for k in range(-2, 5)), large=tuple(10.0**k for k in range(-2, 6)))
    T = T or ctx.by_size(quick=600, default=2000, large=60000)
    grid = [(e, ea, s) for ea in gain_steps for e in eps for s in range(len(starts))]
    w0 = np.stack([starts[s] for _, _, s in grid])
    trace = bn.bngd(problem, 1.0, ctx.asarray(w0), np.array([g[0] for g in grid]), np.array([g[1] for g in grid]), T=T)
    return {"grid": grid, "T": T, "errors": ctx_errors(ctx, trace.predictor, u_star), "trace": trace}


#: Plain GD's steps (as factors of 1 / lambda_max): converging just below 2, diverging just above.
GD_FACTORS = (1.98, 2.02)


def ctx_gd_runs(ctx: Context, factors: tuple[float, ...] = GD_FACTORS) -> dict:
    """Plain GD at step factor / lambda_max, from zero: 600 steps (0.98^600 = 5e-6, 1.02^600 = 1.5e5)."""
    problem, u_star, starts, lam_max = ctx_problem(ctx)
    T = 600
    u0 = np.zeros((len(factors), starts.shape[1]))
    trace = bn.gd(problem, ctx.asarray(u0), np.array(factors) / lam_max, T=T)
    return {"factors": factors, "errors": ctx_errors(ctx, trace.predictor, u_star), "T": T}


def ctx_converges(ctx: Context, labels: list[str], errors: np.ndarray) -> Outcome:
    """The convergence gate: the largest upper end of the contraction factor over the runs must be < 1."""
    worst, rows = Worst(), []
    for j, label in enumerate(labels):
        high, _, how = ctx_contraction(ctx, errors[:, j])
        worst.add(high, label)
        rows.append(f"{label}: {how}")
    return at_most(float(worst), CONTRACTION, f"worst at {worst.where}; " + "; ".join(rows))


bngd_any_step = CAI2019.result(
    "bngd",
    where="main claim (abstract); the iteration as THEORY-2.md §10.5 states it",
    title="BNGD on population least squares converges for every weight step size; plain GD only below 2/lambda_max",
    tag="D",
    statement=(
        r"a_{k+1}=a_k-\varepsilon_a\Big(a_k-\frac{w_k^\top g}{\|w_k\|_H}\Big),\ "
        r"w_{k+1}=w_k+\varepsilon\frac{a_k}{\|w_k\|_H}\Big(g-\frac{w_k^\top g}{\|w_k\|_H^2}Hw_k\Big):\ "
        r"\frac{a_kw_k}{\|w_k\|_H}\to u^*\ \text{linearly for every }\varepsilon>0,\ \varepsilon_a\in\{1,\tfrac12\}"
    ),
    assumptions=("x ~ N(0, H), H positive definite, y = x^T u* + noise", "eps_a in (0, 1]", "a_0 != 0, w_0^T g != 0"),
    notes=(
        "Convergence is observed, not proved here ([D] for the algebra and the mechanism: the w-step is orthogonal to "
        "w, so |w| grows until eps/|w|^2 is small). The paper's theorems (the eps_a range, the mild conditions) are "
        "[R]. Gate: the predictor a w/|w|_H, not J (J - J* is quadratic in the predictor error, so it reaches the "
        "rounding floor first; J is also not monotone for eps >= 1e4). A run converges when its error reaches 1e-12 "
        "or its fitted contraction factor over the second half has a 95% interval below 1 - 1e-6; at eps >= 1e4 the "
        "effective step is ~1e-4 and the floor needs ~1e5 steps (--size large). Control: plain GD beyond "
        "2/lambda_max; also checked: plain GD at 1.98/lambda_max passes, BNGD with eps_a = 2.05 diverges."
    ),
    proof=PROOF,
    under_test=("bntheory.optim.bngd.bngd", "bntheory.optim.bngd.gd"),
)


@bngd_any_step.claim(
    "BNGD converges linearly for eps = 1e-2..1e4 (..1e5 at large) and eps_a in {1, 0.5}, two starts", backends=ARRAY
)
def _(ctx: Context) -> Outcome:
    runs = ctx.memo("cai2019.bngd/sweep", ctx_bngd_runs)
    labels = [f"eps {e:g}, eps_a {ea:g}, start {s}" for e, ea, s in runs["grid"]]
    return ctx_converges(ctx, labels, runs["errors"])


@bngd_any_step.numeric("plain GD at 1.98 / lambda_max passes the same gate", backends=ARRAY)
def _(ctx: Context) -> Outcome:
    runs = ctx.memo("cai2019.bngd/gd", ctx_gd_runs)
    return ctx_converges(ctx, ["GD, 1.98 / lambda_max"], runs["errors"][:, :1])


@bngd_any_step.numeric("BNGD with eps_a = 2.05 diverges: the lower end of its rate is above 1", backends=ARRAY)
def _(ctx: Context) -> Outcome:
    # |1 - eps_a| = 1.05 per step: 300 steps leave no doubt.
    runs = ctx_bngd_runs(ctx, gain_steps=(2.05,), T=300)
    lows = Worst()
    for j, (e, _, s) in enumerate(runs["grid"]):
        _, low, _ = ctx_contraction(ctx, runs["errors"][:, j])
        lows.add(-low, f"eps {e:g}, start {s}")
    final = float(np.min(runs["errors"][-1]))
    detail = f"'any step size' is for the weights only; smallest final predictor error {final:.3g}"
    return at_least(-float(lows), 1.0, f"smallest lower end of q over eps = 1e-2..1e4, at {lows.where}; {detail}")


@bngd_any_step.negative_control("plain GD at 2.02 / lambda_max, the same gate", backends=ARRAY)
def _(ctx: Context) -> Outcome:
    runs = ctx.memo("cai2019.bngd/gd", ctx_gd_runs)
    return ctx_converges(ctx, ["GD, 2.02 / lambda_max"], runs["errors"][:, 1:])


@bngd_any_step.figure("bngd_vs_gd")
def _(ctx: Context):
    from bntheory.plots import bngd_figure

    runs = ctx.memo("cai2019.bngd/sweep", ctx_bngd_runs)
    gd_runs = ctx.memo("cai2019.bngd/gd", ctx_gd_runs)
    curves, effective = {}, {}
    for j, (e, ea, s) in enumerate(runs["grid"]):
        if ea == 1.0 and s == 0:
            curves[f"BNGD eps {e:g}"] = runs["errors"][:, j]
            effective[f"eps {e:g}"] = e / runs["trace"].norm_sq[:, j]
    for j, f in enumerate(gd_runs["factors"]):
        curves[f"GD {f:g} / lambda_max"] = gd_runs["errors"][:, j]
    return bngd_figure(curves, effective)


# --- the scaling law ----------------------------------------------------------------------------------------------

scaling_law = CAI2019.result(
    "scaling_law",
    where="the earlier version's abstract (scaling law); exact form derived, THEORY-2.md §10.5",
    title="BNGD's scaling law: (eps, w_0) and (c^2 eps, c w_0) give the same gains, directions and J",
    tag="D",
    statement=(
        r"(\varepsilon,w_0)\mapsto(c^2\varepsilon,cw_0):\ a_k,\ w_k/\|w_k\|,\ J(a_k,w_k)\ \text{unchanged},\ "
        r"w_k\mapsto cw_k"
    ),
    assumptions=("c > 0", "the same a_0 and eps_a"),
    notes=(
        "[D]: with w_k -> c w_k and eps -> c^2 eps the w-step eps a_k/|w_k|_H (g - ...) scales by c^2/c = c, so "
        "w_{k+1} -> c w_{k+1}; a_k sees w only through w/|w|_H and is unchanged. Checked with c = 7 over "
        "eps = 0.1, 10, 1e3 and eps_a = 1, 0.5; the control rescales eps by c instead of c^2."
    ),
    proof=PROOF,
    under_test=("bntheory.optim.bngd.bngd",),
)


def ctx_scaled(ctx: Context, power: int) -> Outcome:
    """Largest relative difference of the gain, direction and J traces between (eps, w0) and (c^power eps, c w0)."""
    problem, _, starts, _ = ctx_problem(ctx)
    grid = [(e, ea) for e in (0.1, 10.0, 1e3) for ea in GAIN_STEPS]
    eps, eps_a = np.array([g[0] for g in grid]), np.array([g[1] for g in grid])
    w0 = np.repeat(starts[:1], len(grid), axis=0)
    T = ctx.by_size(quick=100, default=300)
    base = bn.bngd(problem, 1.0, ctx.asarray(w0), eps, eps_a, T=T)
    scaled = bn.bngd(problem, 1.0, ctx.asarray(C_SCALE * w0), C_SCALE**power * eps, eps_a, T=T)
    worst = Worst()
    for name in ("gain", "direction", "objective"):
        a, b = getattr(base, name), getattr(scaled, name)
        worst.add(np.max(np.abs(a - b)) / np.max(np.abs(a)), name)
    law = "c^2 eps" if power == 2 else "c eps"
    return at_most(float(worst), IDENTITY, f"c = {C_SCALE:g}, {law}, {T} steps, 6 runs; worst in the {worst.where}")


@scaling_law.numeric("gains, directions and J traces of (eps, w0) vs (c^2 eps, c w0), c = 7", backends=ARRAY)
def _(ctx: Context) -> Outcome:
    return ctx_scaled(ctx, 2)


@scaling_law.negative_control("c eps in place of c^2 eps", backends=ARRAY)
def _(ctx: Context) -> Outcome:
    return ctx_scaled(ctx, 1)
