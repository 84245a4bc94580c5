r"""Arora, Li & Lyu 2019: auto rate-tuning of GD on scale-invariant weights (THEORY-2.md §10.3).

S. Arora, Z. Li and K. Lyu, "Theoretical analysis of auto rate-tuning by batch normalization", ICLR 2019,
arXiv:1812.03981. The claim [P, abstract]: with the step size of the scale-invariant weights fixed to any constant, GD
approaches a stationary point at rate :math:`T^{-1/2}`. The exact theorem (its constants, the treatment of the
other parameters) is [R]: no primary text was reachable. What is checked is THEORY-2.md's derived statement [D] for
the purely scale-invariant case, whose constant the check computes from the analytic bounds of the loss it built.

Library under test: :func:`bntheory.optim.scale_invariant.gd` on :func:`~bntheory.optim.scale_invariant.sin_sum`,
:math:`L(w)=f(w/\|w\|)` with :math:`f(u)=\sum_{k\le6}a_k\sin(b_k^\top u+c_k)+\frac12u^\top Au`, :math:`d=10`, all step
sizes and seeds in one batched run; step sizes :math:`10^{-2},\dots,10^3` (five decades) at every size. Seeds (starts)
at :math:`\eta\le10` / at :math:`\eta\ge100`: ``quick`` 32 / 4, :math:`T=1000`; ``default`` 160 / 8, :math:`T=2000`;
``large`` 160 / 160, :math:`T=20000`. The many seeds go where the rate is gated: at :math:`\eta\ge100` the sum
:math:`\sum G_t` is mostly still growing at the default :math:`T` (seeds 0-9: 5-56% of it in the second half at
:math:`\eta=100`, 52-66% at :math:`10^3`, in the 95% quantile over the runs), so the rate is gated there only where it
has settled, on the 8 seeds of the bound checks (a wider interval, so a harder pass).
"""

from __future__ import annotations

import numpy as np
import scipy.linalg

from bntheory.backend import to_numpy
from bntheory.checks.compare import Outcome, Worst, at_least, at_most
from bntheory.checks.rates import fit_exponent
from bntheory.checks.tolerances import CLOSED_FORM
from bntheory.context import Context
from bntheory.optim import scale_invariant as si
from bntheory.registry import ARRAY, paper

ARORA2019 = paper("arora2019", citation="Arora, Li & Lyu 2019", arxiv="1812.03981")
PROOF = "arora2019_auto_rate.py"
#: The step sizes of the sweep (five decades) and of the controls; the first RATE_ETAS get the rate's many seeds.
ETAS = tuple(10.0**k for k in range(-2, 4))
RATE_ETAS = 4
PROJECTED_ETA = 0.1
DIVERGENT_ETAS = (10.0, 100.0, 1000.0)
#: Steps of the unnormalized control: |1 - eta lambda_max| <= 1000 per step keeps |grad|^2 below 1e300 for 40 steps.
DIVERGENT_T = 40
#: Unit gradients at or below this are rounding (the floor of |grad L(u)| in float64 is ~1e-15 here); not fitted.
FLOOR = 1e-10
#: The rate is that of this quantile over the seeds of min_{t<T} |grad L(u_t)|: T^(-1/2) for 95% of the runs.
QUANTILE = 0.95
#: The rate is gated only where sum G_t has stopped growing: at most this fraction of it came in the second half,
#: in the QUANTILE over the runs.
SETTLED = 0.05
#: The gate is the upper end of this two-sided bootstrap interval over the seeds: a one-sided 95% bound.
CONFIDENCE = 0.90
RESAMPLES = 200


def ctx_instance(ctx: Context) -> dict:
    """The loss's parameters and the bounds of THEORY-2.md §10.3 computed from them (not from the library)."""
    rng = ctx.rng("instance", shared=True)
    K, d = 6, 10
    a, b, c = rng.normal(size=K), 2 * rng.normal(size=(K, d)), rng.uniform(0, 2 * np.pi, K)
    Q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    A = (Q * np.linspace(0, 1, d)) @ Q.T
    lam = scipy.linalg.eigvalsh(A)
    norm_b = np.linalg.norm(b, axis=1)
    s1, s2, nA = float(np.sum(np.abs(a) * norm_b)), float(np.sum(np.abs(a) * norm_b**2)), float(np.max(np.abs(lam)))
    # On the sphere |Hess L(u)| <= |Hess f| + 3 |grad f| (§10.3), |grad f| <= s1 + |A|, |Hess f| <= s2 + |A|
    bounds = {
        "rho": s2 + nA + 3 * (s1 + nA),
        "delta": 2 * float(np.sum(np.abs(a))) + (lam[-1] - lam[0]) / 2,
        "g_max": (s1 + nA) ** 2,
    }
    return {"a": a, "b": b, "c": c, "A": A, "lambda_max": float(lam[-1]), **bounds}


def ctx_bound(ctx: Context, inst: dict, eta: np.ndarray, R0_sq: np.ndarray) -> np.ndarray:
    r"""The bound :math:`C=\frac{\rho+2\Delta L}{\eta}\bar R^2+4\Delta L^2` of THEORY-2.md §10.3.

    :math:`\bar R^2=\max(R_0^2,\eta\rho+\eta^2G_{\max}/R_0^2)`, from the constants the check computed.
    """
    rho, delta, g_max = inst["rho"], inst["delta"], inst["g_max"]
    R_bar = np.maximum(R0_sq, eta * rho + eta**2 * g_max / R0_sq)
    return (rho + 2 * delta) / eta * R_bar + 4 * delta**2


def ctx_loss(ctx: Context, inst: dict, normalized: bool = True) -> si.Loss:
    """The library's loss f(w/|w|) (or f(w)) from the instance's parameters, on the run's backend."""
    return si.sin_sum(*(ctx.asarray(inst[k]) for k in ("a", "b", "c", "A")), normalized=normalized)


def ctx_starts(ctx: Context, count: int) -> np.ndarray:
    """Unit-norm starts, one per seed (R_0 = 1)."""
    w0 = ctx.rng("starts", shared=True).normal(size=(count, 10))
    return w0 / np.linalg.norm(w0, axis=1, keepdims=True)


def ctx_sweep(ctx: Context) -> dict:
    """One batched GD run over every (step size, seed): the unit gradients, norms and bounds."""
    inst = ctx_instance(ctx)
    many, few = ctx.by_size(quick=(32, 4), default=(160, 8), large=(160, 160))
    T = ctx.by_size(quick=1000, default=2000, large=20000)
    counts = [many] * RATE_ETAS + [few] * (len(ETAS) - RATE_ETAS)
    # The same starts at every step size: the few are the first of the many.
    starts = ctx_starts(ctx, int(np.max(counts)))
    w0 = np.concatenate([starts[:k] for k in counts])
    eta = np.repeat(ETAS, counts)
    trace = si.gd(ctx_loss(ctx, inst), ctx.asarray(w0), eta, T=T)
    G = trace.unit_grad_sq[:T]  # G_t for t < T
    return {
        "inst": inst,
        "eta": eta,
        "T": T,
        "G": G,
        "norm_sq": trace.norm_sq,
        "C": ctx_bound(ctx, inst, eta, np.ones_like(eta)),
        "w": to_numpy(trace.w),
        "G_last": trace.unit_grad_sq[T],
    }


def ctx_runs(ctx: Context) -> dict:
    """The sweep, computed once per process and shared by the checks and the figure."""
    return ctx.memo("arora2019.auto_rate_tuning/sweep", ctx_sweep)


def ctx_sum_ratio(ctx: Context, sums: np.ndarray, C: np.ndarray, eta: np.ndarray, what: str) -> Outcome:
    """Worst sum_t G_t / C over the runs, with the largest sum and C per step size."""
    ratio = Worst()
    for j, e in enumerate(eta):
        ratio.add(sums[j] / C[j], f"eta = {e:g}")
    parts = [f"eta {e:g}: {np.max(sums[eta == e]):.3g} vs C {C[eta == e][0]:.3g}" for e in np.unique(eta)]
    return at_most(float(ratio), 1.0, f"{what}; max over seeds of sum G_t vs C: {'; '.join(parts)}")


def ctx_rates(ctx: Context, runs: dict) -> tuple[float, str]:
    r"""Largest upper confidence bound on the exponent over the settled step sizes, and the table.

    The exponent is that of the QUANTILE over the seeds of :math:`\min_{t<T}\|\nabla L(u_t)\|` vs :math:`T` on
    :math:`[T/10,T]` (:func:`~bntheory.checks.rates.fit_exponent`), each step size on its own seeds.
    """
    G, eta, T = runs["G"], runs["eta"], runs["T"]
    running_min = np.sqrt(np.minimum.accumulate(G, axis=0))
    horizons = np.unique(np.geomspace(T // 10, T, 20).astype(int))
    sums, half = G.sum(axis=0), G[: T // 2].sum(axis=0)
    rng = ctx.rng("bootstrap")
    gated, rows = Worst(), []
    for e in ETAS:
        cols = np.flatnonzero(eta == e)
        growth = float(np.quantile((sums[cols] - half[cols]) / sums[cols], QUANTILE))
        fit = fit_exponent(
            horizons,
            running_min[horizons - 1][:, cols],
            quantile=QUANTILE,
            rng=rng,
            resamples=RESAMPLES,
            confidence=CONFIDENCE,
            floor=FLOOR,
        )
        settled = growth <= SETTLED
        if settled:
            gated.add(fit.high, f"eta = {e:g}")
        state = "" if settled else ", still growing: not gated"
        rows.append(
            f"eta {e:g}: {fit.exponent:.3g} [{fit.low:.3g}, {fit.high:.3g}] ({cols.size} seeds; 2nd-half growth "
            f"{growth:.2g}{state})"
        )
    measured = float(gated) if gated.count >= 2 else np.nan
    return measured, "; ".join(rows)


auto_rate_tuning = ARORA2019.result(
    "auto_rate_tuning",
    where="main claim (abstract); derived statement for the purely scale-invariant case, THEORY-2.md §10.3",
    title="Auto rate-tuning: GD on scale-invariant weights reaches small unit gradients at any fixed step size",
    tag="D",
    statement=(
        r"w_{t+1}=w_t-\eta\nabla L(w_t),\ L(cw)=L(w):\ \sum_{t\ge0}\|\nabla L(u_t)\|^2\le C="
        r"\frac{\rho+2\Delta L}{\eta}\bar R^2+4\Delta L^2,\ "
        r"\bar R^2=\max\Big(R_0^2,\eta\rho+\frac{\eta^2G_{\max}}{R_0^2}\Big),"
        r"\ \min_{t<T}\|\nabla L(u_t)\|\le\sqrt{C/T}"
    ),
    assumptions=(
        "L(w) = f(w/|w|) with rho >= |Hess L(u)|, Delta L >= sup L - inf L, G_max >= sup |grad L(u)|^2 on the sphere",
        "any step size eta > 0; R_0 = |w_0| = 1",
    ),
    notes=(
        "The paper's theorem (constants, log factors, the other parameters, SGD's T^(-1/4)) is [R]: not verified. The "
        "[D] bound is THEORY-2.md's; rho, Delta L, G_max are computed from a, b, A by the check. The rate claim "
        "T^(-1/2) is a claim about the runs from random starts, tested as the exponent p of q(T) ~ T^p, q(T) the "
        "95% quantile over the seeds of min_{t<T} |grad L(u_t)|, fitted on 20 log-spaced T in [T/10, T]: it must "
        "be at most -1/2 at the upper end of its 90% bootstrap interval over the seeds (a one-sided 95% bound), "
        "at every step size where sum G_t has settled (95% of the runs put at most 5% of it in the second half), "
        "160 seeds each at eta <= 10 (a bound, so a steeper decay agrees). Not a quantile of per-run slopes: a run "
        "resting on a plateau below q(T) (local slope 0, its minimum already small, within sqrt(C/T)) agrees with "
        "the bound, yet 5-11% of the runs at eta = 0.01 do so on some instances, and with 8 seeds the largest "
        "slope decided the old gate (-0.29 at seed 6). Without the auto-tuning (projected runs, eta = 0.1) the "
        "same exponent is -0.16 at seed 0. The UNIT gradient is "
        "tested: the raw |grad L(w_t)| = |grad L(u_t)|/R_t shrinks merely because R_t grows. Controls: projecting "
        "back to the sphere (a fixed effective rate) at eta = 0.1 breaks the sum bound; the same f without "
        "normalization diverges under GD at eta >= 10."
    ),
    proof=PROOF,
    under_test=("bntheory.optim.scale_invariant.gd", "bntheory.optim.scale_invariant.Loss.value_and_grad"),
)


@auto_rate_tuning.numeric("sum_{t<T} |grad L(u_t)|^2 <= C(eta) over eta = 1e-2..1e3 and the seeds", backends=ARRAY)
def _(ctx: Context) -> Outcome:
    runs = ctx_runs(ctx)
    counts = ", ".join(f"{np.sum(runs['eta'] == e)}" for e in ETAS)
    what = f"seeds per step size {counts}, T = {runs['T']}"
    return ctx_sum_ratio(ctx, runs["G"].sum(axis=0), runs["C"], runs["eta"], what)


@auto_rate_tuning.numeric("sqrt(T) min_{t<T} |grad L(u_t)| <= sqrt(C(eta)), every step size and seed", backends=ARRAY)
def _(ctx: Context) -> Outcome:
    runs = ctx_runs(ctx)
    ratio = np.sqrt(runs["T"] * np.min(runs["G"], axis=0) / runs["C"])
    worst = Worst()
    for e, r in zip(runs["eta"], ratio, strict=True):
        worst.add(r, f"eta = {e:g}")
    return at_most(float(worst), 1.0, f"largest sqrt(T) min |grad L(u_t)| / sqrt(C), at {worst.where}")


@auto_rate_tuning.claim(
    "rate: exponent of the 95% seed quantile of min_t |grad L(u_t)| vs T <= -1/2 (upper 95% bound), settled step sizes",
    backends=ARRAY,
)
def _(ctx: Context) -> Outcome:
    measured, table = ctx_rates(ctx, ctx_runs(ctx))
    detail = (
        f"theorem: -1/2; exponent of the {QUANTILE:.0%} quantile over the seeds on [T/10, T] "
        f"[{CONFIDENCE:.0%} bootstrap interval, gated at its upper end]: {table}"
    )
    return at_most(measured, -0.5, detail)


@auto_rate_tuning.numeric(
    "the trace's G_T = R_T^2 |grad L(w_T)|^2 vs |grad L(u_T)|^2 of f from its definition", backends=ARRAY
)
def _(ctx: Context) -> Outcome:
    runs = ctx_runs(ctx)
    inst, w = runs["inst"], runs["w"]
    u = w / np.linalg.norm(w, axis=1, keepdims=True)
    grad_f = (inst["a"] * np.cos(u @ inst["b"].T + inst["c"])) @ inst["b"] + u @ inst["A"]
    unit = grad_f - np.sum(grad_f * u, axis=1, keepdims=True) * u
    # Near a critical point the unit gradient is a difference of O(|grad f|) terms: rounding is ~1e-16 |grad f|.
    error = np.abs(np.sqrt(runs["G_last"]) - np.linalg.norm(unit, axis=1)) / np.linalg.norm(grad_f, axis=1)
    worst = Worst()
    for e, err in zip(runs["eta"], error, strict=True):
        worst.add(err, f"eta = {e:g}")
    detail = f"|sqrt(G_T) - |grad L(u_T)|| / |grad f(u_T)| over {w.shape[0]} runs, worst at {worst.where}"
    return at_most(float(worst), CLOSED_FORM, detail)


@auto_rate_tuning.numeric(
    "without normalization (f(w) itself) GD diverges at eta >= 10: sum G_t exceeds C", backends=ARRAY
)
def _(ctx: Context) -> Outcome:
    inst = ctx_instance(ctx)
    seeds = ctx.by_size(quick=4, default=8)
    w0 = np.tile(ctx_starts(ctx, seeds), (len(DIVERGENT_ETAS), 1))
    eta = np.repeat(DIVERGENT_ETAS, seeds)
    trace = si.gd(ctx_loss(ctx, inst, normalized=False), ctx.asarray(w0), eta, T=DIVERGENT_T)
    sums = trace.grad_sq[:DIVERGENT_T].sum(axis=0)
    ratio = sums / ctx_bound(ctx, inst, eta, np.ones_like(eta))
    growth = np.sqrt(np.min(trace.norm_sq[-1]))
    detail = (
        f"{DIVERGENT_T} steps, eta in {DIVERGENT_ETAS} (lambda_max(A) = {inst['lambda_max']:.3g}): smallest "
        f"sum |grad f(w_t)|^2 / C = {np.min(ratio):.3g}, smallest |w_T| = {growth:.3g}"
    )
    return at_least(float(np.min(ratio)), 1.0, detail)


@auto_rate_tuning.negative_control(
    f"no auto-tuning: w projected back to the sphere after each step (fixed effective rate), eta = {PROJECTED_ETA}",
    backends=ARRAY,
)
def _(ctx: Context) -> Outcome:
    runs = ctx_runs(ctx)
    inst, seeds = runs["inst"], ctx.by_size(quick=4, default=8)
    # The bound is on the whole sum (t >= 0), so a longer run is a stronger test; the projected sum grows ~ T.
    T = ctx.by_size(quick=2500, default=5000, large=20000)
    eta = np.full(seeds, PROJECTED_ETA)
    trace = si.gd(ctx_loss(ctx, inst), ctx.asarray(ctx_starts(ctx, seeds)), eta, T=T, project=True)
    sums = trace.unit_grad_sq[:T].sum(axis=0)
    return ctx_sum_ratio(ctx, sums, ctx_bound(ctx, inst, eta, np.ones_like(eta)), eta, f"projected, T = {T}")


@auto_rate_tuning.figure("sweep")
def _(ctx: Context):
    from bntheory.plots import auto_rate_figure

    runs = ctx_runs(ctx)
    return auto_rate_figure(runs["eta"], runs["norm_sq"], runs["G"], runs["C"])
