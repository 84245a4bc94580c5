r"""Scale invariance of normalized weights: four identities and the effective learning rate (THEORY-2.md §10.1–§10.2).

For a loss with :math:`L(cw)=L(w)` (:math:`c>0`): :math:`\langle\nabla L(w),w\rangle=0`,
:math:`\nabla L(cw)=\nabla L(w)/c`, :math:`H(w)w=-\nabla L(w)`,
:math:`\|w-\eta\nabla L(w)\|^2=\|w\|^2+\eta^2\|\nabla L(w)\|^2`, plus :math:`H(cw)=H(w)/c^2` and
:math:`\nabla L(w)=\nabla L(u)/\|w\|` (:math:`u=w/\|w\|`); and one GD step on :math:`w` moves the direction exactly like
one GD step on the unit sphere with the effective rate :math:`\eta/\|w\|^2`. All [D] (the first two also Wan et al.
2021, Lemma 1 [P]; the effective-rate notion is credited to van Laarhoven 2017 and Hoffer et al. 2018 [S]).

Checked on four losses of :mod:`bntheory.optim.scale_invariant`, built from the check's own draws: :math:`f(w/\|w\|)`
with a sum of sines plus a quadratic (:math:`d=10`), one BN unit on a batch (Kohler et al.'s setting, :math:`d=5`), a
2-hidden-layer tanh network with BN after each hidden layer and one with LayerNorm, both in their first-layer
weights (:math:`W_1\in\mathbb R^{4\times5}`, :math:`d=20`). Oracles: SymPy (the BN unit, exact), PyTorch autograd of the
losses rebuilt from primitives (:mod:`bntheory.checks.oracles.scale_invariance`), central differences, and for the
effective rate a NumPy sphere recursion written from the definition of the sum of sines.

Sizes: ``quick`` runs SymPy on the first-order identities only (the Hessian ones at ``default``: 0.4 s), PyTorch
Hessians of the two deep networks only, and 30 steps of the sphere recursion; ``default`` all four losses and 60 steps.
"""

from __future__ import annotations

import numpy as np

from bntheory.backend import to_numpy
from bntheory.checks.compare import Outcome, Worst, at_least, at_most, exact
from bntheory.checks.oracles.scale_invariance import torch_loss
from bntheory.checks.tolerances import CLOSED_FORM, FLOAT64_ORACLE, IDENTITY
from bntheory.context import Context
from bntheory.optim import scale_invariant as si
from bntheory.registry import ARRAY, paper
from bntheory.symbolic.scale_invariance import bn_unit_residuals

PROOF = "scale_invariance.py"
SCALE = paper("scale", citation="Scale invariance of normalized weights (derived)", source="THEORY-2.md §10")
#: The rescalings c of the homogeneity identities, and the GD step of the norm-growth identity.
SCALES = (0.3, 7.0)
ETA = 0.7
#: Central-difference step (relative to |w|) for Hessian-vector products of the library gradient: the truncation
#: error is ~h^2 |L'''| ~ 1e-10 relative on these losses, rounding ~1e-16 / h ~ 1e-11.
FD_STEP = 1e-5
FD_TOLERANCE = 1e-7
#: A false identity must miss by more than this (a million times the identity tolerance).
MISS = 1e-6


def ctx_draws(ctx: Context, eps: float = 0.0, wrt: str = "first") -> list[tuple[str, str, si.Loss, np.ndarray]]:
    """The four losses (``(label, oracle kind, loss, point)``) on the run's backend, drawn once per process.

    `eps` goes into the normalizations; ``wrt="last"`` takes both networks in their readout weights (the control).
    Every variant draws the same parameters (the stream of the memo key without the variant).
    """
    return ctx.memo(f"scale/draws/{eps:g}/{wrt}", lambda inner: ctx_build(inner, eps, wrt))


def ctx_build(ctx: Context, eps: float, wrt: str) -> list[tuple[str, str, si.Loss, np.ndarray]]:
    """Build the four losses of :func:`ctx_draws` (in a memo's context)."""
    rng = ctx.rng("losses", shared=True)
    K, d = 6, 10
    a, b, c = rng.normal(size=K), 2 * rng.normal(size=(K, d)), rng.uniform(0, 2 * np.pi, K)
    Q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    A = (Q * np.linspace(0, 1, d)) @ Q.T
    X_unit = rng.normal(size=(16, 5)) * rng.uniform(0.5, 2, 5) + rng.normal(size=5)
    y_unit = rng.normal(size=16)
    X, Y = rng.normal(size=(12, 5)), rng.normal(size=(12, 2))
    weights = [rng.normal(size=(4, 5)), rng.normal(size=(4, 4)) / 2, rng.normal(size=(2, 4)) / 2]
    on = ctx.asarray
    draws = [("sum of sines + quadratic", "sin_sum", si.sin_sum(on(a), on(b), on(c), on(A)))]
    draws.append(("BN unit", "bn_unit", si.bn_unit(on(X_unit), on(y_unit), 1.3, eps=eps)))
    for norm in ("batch", "layer"):
        loss = si.normalized_mlp(on(X), on(Y), [on(W) for W in weights], norm=norm, eps=eps, wrt=wrt)
        draws.append((f"{norm}-norm MLP, W_{'1' if wrt == 'first' else 'out'}", "mlp", loss))
    return [(label, kind, loss, 5 * rng.normal(size=loss.d) / np.sqrt(loss.d)) for label, kind, loss in draws]


def ctx_first_order(ctx: Context, draws) -> tuple[Worst, dict[str, float]]:
    """Worst relative residual of the first-order identities on the library, and the three false forms' misses."""
    worst, misses = Worst(), {"grad(w)/c^2": np.inf, "eta for eta^2": np.inf}
    for label, _, loss, w_host in draws:
        w = ctx.asarray(w_host)
        grad = to_numpy(loss.gradient(w))
        scale = np.linalg.norm(grad)
        worst.add(abs(grad @ w_host) / (scale * np.linalg.norm(w_host)), f"{label}: <grad, w>")
        for c in SCALES:
            scaled = to_numpy(loss.gradient(ctx.asarray(c * w_host)))
            worst.add(np.linalg.norm(scaled - grad / c) / (scale / c), f"{label}: grad(cw), c = {c:g}")
            misses["grad(w)/c^2"] = float(
                np.fmin(misses["grad(w)/c^2"], np.linalg.norm(scaled - grad / c**2) / (scale / c))
            )
        unit = to_numpy(loss.unit_gradient(w))
        worst.add(np.linalg.norm(grad - unit / np.linalg.norm(w_host)) / scale, f"{label}: grad(u) / |w|")
        trace = si.gd(loss, w, ETA, T=1)
        r0, r1, g0 = trace.norm_sq[0], trace.norm_sq[1], trace.grad_sq[0]
        worst.add(abs(r1 - r0 - ETA**2 * g0) / r1, f"{label}: norm growth")
        wrong = abs(r1 - r0 - ETA * g0) / r1
        misses["eta for eta^2"] = float(np.fmin(misses["eta for eta^2"], wrong))
    return worst, misses


def ctx_identities(ctx: Context, wrt: str = "first") -> Outcome:
    """The first-order identities and the norm growth of one library GD step, four losses."""
    worst, _ = ctx.memo(f"scale/first_order/{wrt}", lambda inner: ctx_first_order(inner, ctx_draws(inner, wrt=wrt)))
    detail = (
        f"<grad, w>, grad(cw) = grad(w)/c (c = 0.3, 7), grad(u)/|w|, one GD step (eta = {ETA}); worst at {worst.where}"
    )
    return at_most(float(worst), IDENTITY, detail)


identities = SCALE.result(
    "identities",
    where="§10.1 (the first two also Wan et al. 2021, Lemma 1)",
    title="Scale invariance: <grad L, w> = 0, grad L(cw) = grad L(w)/c, H w = -grad L, the norm only grows under GD",
    tag="D",
    statement=(
        r"L(cw)=L(w)\ (c>0)\Rightarrow\ \langle\nabla L(w),w\rangle=0,\ \nabla L(cw)=\tfrac1c\nabla L(w),\ "
        r"H(w)w=-\nabla L(w),\ H(cw)=\tfrac1{c^2}H(w),\ \nabla L(w)=\frac{\nabla L(u)}{\|w\|},\ "
        r"\|w-\eta\nabla L(w)\|^2=\|w\|^2+\eta^2\|\nabla L(w)\|^2"
    ),
    assumptions=(
        "L(cw) = L(w) for all c > 0: BN or LayerNorm with eps = 0 after the weights (eps > 0: ~eps/sigma^2 off)",
        "L twice differentiable at w != 0",
    ),
    notes=(
        "[D]: differentiate L(cw) = L(w) in w and in c; the third is Euler's relation for the degree -1 homogeneous "
        "grad L. The first two are also Wan et al. 2021, Lemma 1 [P]. Losses: a sum of sines plus a quadratic "
        "f(w/|w|), a BN unit on a batch (Kohler et al.'s setting), 2-hidden-layer tanh networks with BN and with "
        "LayerNorm in their first-layer weights. The control takes the networks' readout weights, which are not "
        "scale invariant; the false forms (grad/c^2, H w = 0, eta in place of eta^2) and eps = 1e-5 are checked to "
        "miss."
    ),
    proof=PROOF,
    under_test=("bntheory.optim.scale_invariant.Loss.value_and_grad", "bntheory.optim.scale_invariant.gd"),
)


@identities.symbolic("SymPy: the identities for a BN unit (m = 3, d = 2), exact modulo s^2 = q(w)")
def _(ctx: Context) -> Outcome:
    hessian = ctx.by_size(quick=False, default=True)
    held = bn_unit_residuals(hessian=hessian)
    what = "L(cw), <grad, w>, grad(cw)" + (", H w, H(cw)" if hessian else "")
    return exact(held.count(False), f"{len(held)} residuals ({what}); c > 0 symbolic")


@identities.numeric("on the library's losses: first-order identities and one GD step, four losses", backends=ARRAY)
def _(ctx: Context) -> Outcome:
    return ctx_identities(ctx)


@identities.numeric(
    "the library's gradient vs PyTorch autograd of the rebuilt losses", needs=("torch",), backends=ARRAY
)
def _(ctx: Context) -> Outcome:
    worst = Worst()
    for label, kind, loss, w in ctx_draws(ctx):
        _, want, _ = torch_loss(kind, loss.info, w)
        got = to_numpy(loss.gradient(ctx.asarray(w)))
        worst.add(np.linalg.norm(got - want) / np.linalg.norm(want), label)
    return at_most(float(worst), FLOAT64_ORACLE, f"relative error of grad L, worst at {worst.where}")


@identities.numeric(
    "H w = -grad L and H(cw) = H(w)/c^2 with PyTorch's Hessian of the rebuilt losses", needs=("torch",), backends=ARRAY
)
def _(ctx: Context) -> Outcome:
    worst = Worst()
    # The quick size takes the two deep networks only (a dense autograd Hessian costs ~12 ms each).
    draws = ctx_draws(ctx)
    for label, kind, loss, w in ctx.by_size(quick=draws[2:], default=draws):
        _, grad, H = torch_loss(kind, loss.info, w, hessian=True)
        worst.add(np.linalg.norm(H @ w + grad) / np.linalg.norm(grad), f"{label}: H w")
        c = SCALES[1]
        _, _, H_c = torch_loss(kind, loss.info, c * w, hessian=True)
        worst.add(np.linalg.norm(H_c - H / c**2) / np.linalg.norm(H / c**2), f"{label}: H(cw)")
    return at_most(float(worst), FLOAT64_ORACLE, f"autograd Hessians (float64), worst at {worst.where}")


@identities.numeric(
    "H(w) w and H(cw) v by central differences of the library's gradient (h = 1e-5 |w|)", backends=ARRAY
)
def _(ctx: Context) -> Outcome:
    worst = Worst()
    rng = ctx.rng("directions")
    for label, _, loss, w in ctx_draws(ctx):
        h = FD_STEP * np.linalg.norm(w)

        def hvp(x, v, loss=loss, h=h):
            up, down = (to_numpy(loss.gradient(ctx.asarray(x + t * v))) for t in (h, -h))
            return (up - down) / (2 * h)

        grad = to_numpy(loss.gradient(ctx.asarray(w)))
        v = rng.normal(size=w.size)
        v *= np.linalg.norm(w) / np.linalg.norm(v)
        worst.add(
            np.linalg.norm(hvp(w, w / np.linalg.norm(w)) * np.linalg.norm(w) + grad) / np.linalg.norm(grad),
            f"{label}: H w",
        )
        c = SCALES[1]
        Hv = hvp(w, v)
        worst.add(np.linalg.norm(hvp(c * w, c * v) - Hv / c) / np.linalg.norm(Hv / c), f"{label}: H(cw) v")
    return at_most(float(worst), FD_TOLERANCE, f"relative residual, worst at {worst.where}")


@identities.numeric(
    "the false forms miss: grad(w)/c^2, H w = 0, eta in place of eta^2 in the norm growth", backends=ARRAY
)
def _(ctx: Context) -> Outcome:
    draws = ctx_draws(ctx)
    _, misses = ctx.memo("scale/first_order/first", lambda inner: ctx_first_order(inner, ctx_draws(inner)))
    misses = dict(misses)
    # "H w = 0" misses by |H w| / |grad L| = 1 exactly when H w = -grad L; measured by the library's gradient.
    worst_hw = Worst()
    for _, _, loss, w in draws:
        h = FD_STEP
        up, down = (to_numpy(loss.gradient(ctx.asarray((1 + t) * w))) for t in (h, -h))
        grad = to_numpy(loss.gradient(ctx.asarray(w)))
        worst_hw.add(-np.linalg.norm((up - down) / (2 * h)) / np.linalg.norm(grad))
    misses["H w = 0"] = -float(worst_hw)
    smallest = float(np.min(list(misses.values())))
    detail = ", ".join(f"{k} misses by {v:.2g}" for k, v in misses.items())
    return at_least(smallest, MISS, f"smallest relative miss over the four losses: {detail}")


@identities.numeric("eps = 1e-5 inside BN/LN: <grad, w> / (|grad| |w|) leaves the identity tolerance", backends=ARRAY)
def _(ctx: Context) -> Outcome:
    worst = Worst()
    for label, _, loss, w in ctx_draws(ctx, eps=1e-5)[1:]:
        grad = to_numpy(loss.gradient(ctx.asarray(w)))
        worst.add(-abs(grad @ w) / (np.linalg.norm(grad) * np.linalg.norm(w)), label)
    return at_least(
        -float(worst), 1e3 * float(IDENTITY), "smallest |cos(grad L, w)| with eps = 1e-5: exact tests need eps = 0"
    )


@identities.negative_control(
    "the same identities in the networks' readout weights (not scale invariant)", backends=ARRAY
)
def _(ctx: Context) -> Outcome:
    return ctx_identities(ctx, wrt="last")


# --- the effective learning rate ----------------------------------------------------------------------------------

effective_lr = SCALE.result(
    "effective_lr",
    where="§10.2 (the notion: van Laarhoven 2017; Hoffer et al. 2018)",
    title="Effective learning rate: a GD step on w moves w/|w| like a GD step on the sphere with eta/|w|^2",
    tag="D",
    statement=(
        r"\frac{w_{t+1}}{\|w_{t+1}\|}=\frac{u_t-\eta_{\rm eff}\nabla L(u_t)}"
        r"{\|u_t-\eta_{\rm eff}\nabla L(u_t)\|},\quad \eta_{\rm eff}=\frac{\eta}{\|w_t\|^2},\quad "
        r"\|w_{t+1}\|^2=\|w_t\|^2+\frac{\eta^2\|\nabla L(u_t)\|^2}{\|w_t\|^2}"
    ),
    assumptions=("L(cw) = L(w) for all c > 0", "w_{t+1} = w_t - eta grad L(w_t)"),
    notes=(
        "[D] from grad L(w) = grad L(u)/|w| (§10.1). Attribution of the notion to van Laarhoven 2017 "
        "(arXiv:1706.05350) and Hoffer et al. 2018 (arXiv:1803.01814) [S]; their wording was not read. One step at "
        "|w| = 0.2, 1, 5, 30 on the four losses against PyTorch's unit gradient; 60 steps of the sum of sines (eight "
        "runs, eta = 0.01..100) against a NumPy recursion on the sphere that never sees w, only R_t from the "
        "norm-growth identity. The control uses eta/|w| as the effective rate."
    ),
    proof=PROOF,
    under_test=("bntheory.optim.scale_invariant.gd", "bntheory.optim.scale_invariant.Loss.value_and_grad"),
)


def ctx_sphere_run(ctx: Context, power: int) -> Outcome:
    """Library GD on the sum of sines (8 runs) against the sphere recursion with rate eta / R_t^power (2: the claim)."""
    _, _, loss, _ = ctx_draws(ctx)[0]
    a, b, c, A = (to_numpy(loss.info[k]) for k in ("a", "b", "c", "A"))
    rng = ctx.rng("starts", shared=True)
    eta = np.repeat(10.0 ** np.arange(-2, 2), 2)
    w0 = rng.normal(size=(eta.size, loss.d)) * rng.uniform(0.3, 3, (eta.size, 1))
    T = ctx.by_size(quick=30, default=60)
    trace = si.gd(loss, ctx.asarray(w0), eta, T=T)
    # The oracle never sees w: u_t on the sphere, R_t^2 from the norm-growth identity, and the unit gradient of
    # f(u) = sum_k a_k sin(b_k.u + c_k) + u.A.u / 2 written from the definition.
    u, R2 = w0 / np.linalg.norm(w0, axis=1, keepdims=True), np.sum(w0**2, axis=1)
    worst = Worst()
    for t in range(T + 1):
        worst.add(np.abs(trace.norm_sq[t] - R2) / R2, f"R_t^2 at step {t}")
        if t == T:
            break
        grad_f = (a * np.cos(u @ b.T + c)) @ b + u @ A
        unit = grad_f - np.sum(grad_f * u, axis=1, keepdims=True) * u
        step = u - (eta / R2 ** (power / 2))[:, None] * unit
        u = step / np.linalg.norm(step, axis=1, keepdims=True)
        R2 = R2 + eta**2 * np.sum(unit**2, axis=1) / R2
    w_T = to_numpy(trace.w)
    worst.add(np.linalg.norm(w_T / np.linalg.norm(w_T, axis=1, keepdims=True) - u, axis=1), f"direction at step {T}")
    rate = "eta/|w|^2" if power == 2 else f"eta/|w|^{power}"
    return at_most(float(worst), CLOSED_FORM, f"{T} steps, eta = 0.01..10, rate {rate}; worst at {worst.where}")


@effective_lr.numeric(
    "one GD step vs the sphere step with PyTorch's unit gradient, |w| = 0.2..30, four losses",
    needs=("torch",),
    backends=ARRAY,
)
def _(ctx: Context) -> Outcome:
    worst = Worst()
    for label, kind, loss, w in ctx_draws(ctx):
        u = w / np.linalg.norm(w)
        _, unit, _ = torch_loss(kind, loss.info, u)
        for radius in (0.2, 1.0, 5.0, 30.0):
            eta = 0.5
            w1 = to_numpy(si.gd(loss, ctx.asarray(radius * u), eta, T=1).w)
            step = u - eta / radius**2 * unit
            worst.add(
                np.linalg.norm(w1 / np.linalg.norm(w1) - step / np.linalg.norm(step)), f"{label}, |w| = {radius:g}"
            )
    return at_most(float(worst), FLOAT64_ORACLE, f"direction after one step (eta = 0.5), worst at {worst.where}")


@effective_lr.numeric(
    "GD on the sum of sines vs the sphere recursion with eta/R_t^2 and R_t from the norm growth", backends=ARRAY
)
def _(ctx: Context) -> Outcome:
    return ctx_sphere_run(ctx, 2)


@effective_lr.negative_control("the effective rate eta/|w| in the sphere recursion", backends=ARRAY)
def _(ctx: Context) -> Outcome:
    return ctx_sphere_run(ctx, 1)
