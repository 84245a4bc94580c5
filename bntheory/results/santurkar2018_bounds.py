r"""Santurkar et al. 2018, §4: the four landscape bounds and Observation 4.3, each attacked as an inequality spec.

S. Santurkar, D. Tsipras, A. Ilyas and A. Madry, "How does batch normalization help optimization?",
NeurIPS 2018, arXiv:1805.11604 (THEORY.md §2.4-§2.8, THEORY-2.md §12.5-§12.6, pitfalls §8). Derivation:
``proofs/santurkar2018_bounds.py``.

Under test: the right sides in :mod:`bntheory.landscape.lipschitz` and :func:`bntheory.norms.batch.forward`. Each
inequality is an :class:`~bntheory.checks.inequality.Inequality` evaluated a batch of instances at a time (a million
per family at the default size, 10^5 for its control): its left side from PyTorch autograd on the whole batch
(float64, during the search; Lemma 4.5's by parabolic interpolation over the ray) and mpmath at 50-60 digits (the
reported points), its right side from the library function on the backend of the run (the batch arrays live in
``ctx.xp``), and its equality case declared, so that an inflated bound fails as surely as a violated one. The upstream
loss
enters the statements only through :math:`g=\partial\hat{\mathcal L}/\partial z` (and :math:`H`), so the specs range
over a generic smooth downstream function (:class:`~bntheory.checks.instances.landscape.Downstream`); the network checks
add real BN networks. Each control is the same spec with one wrong piece.
"""

from __future__ import annotations

import mpmath
import numpy as np
from array_api_compat import array_namespace

from bntheory.backend import to_numpy
from bntheory.checks.compare import Outcome, Worst, at_most, exact, max_relative_error, worst
from bntheory.checks.inequality import Inequality, Params, attack_family, batch, matrix, nonneg, scalar, vector
from bntheory.checks.instances.landscape import (
    Downstream,
    aligned_batch,
    dot,
    dot2,
    draw_batch,
    first,
    normalized,
    orthogonal_to_1_and,
    per_batch,
    random_bn_mlp,
    variance,
)
from bntheory.checks.oracles.autograd import (
    as_tensor,
    like,
    torch_bn_mlp_curvature,
    torch_bn_mlp_grads,
    torch_hessian_form,
    torch_loss_gradient,
    torch_normalize_vjp,
    torch_weight_gradient,
)
from bntheory.checks.oracles.mp import (
    mp_batch_norm,
    mp_batch_norm_vjp,
    mp_central_gradient,
    mp_ray_distance,
    mp_second_directional,
)
from bntheory.checks.oracles.optimize import ray_distance
from bntheory.checks.tolerances import CLOSED_FORM, RATIO_SLACK
from bntheory.context import Context
from bntheory.landscape import lipschitz
from bntheory.norms import batch as transform
from bntheory.registry import ARRAY, paper
from bntheory.symbolic.batchnorm import residuals
from bntheory.symbolic.landscape import (
    gradient_norm_steps,
    hessian_form_steps,
    rescaling_steps,
    scale_shift_steps,
    weight_space_steps,
)

SANTURKAR2018 = paper("santurkar2018", citation="Santurkar et al. 2018", arxiv="1805.11604")
#: Rounding allowance added to float64 right sides during the search only (never to a reported ratio), so the
#: climber does not chase cancellation noise when g is nearly in span{1, y_hat}.
_ALLOWANCE = 1e-11


# --- Theorem 4.1: gradient magnitude ------------------------------------------------------------------
#
# Every side below takes a batch: block name -> array (N, *shape) in ctx.xp; the library functions take the batch
# entries along their first axis and units (here: instances) trailing, hence the transposes.


def _thm4_1(ctx: Context, coefficient) -> dict[str, Inequality]:
    """Theorem 4.1 as a spec per batch size; `coefficient(m)` on the last term (1/m is the theorem)."""

    def spec(m: int) -> Inequality:
        def rhs(v):
            xp, y, g, gamma, eps = array_namespace(v["y"]), v["y"], v["g"], v["gamma"], v["eps"]
            right = lipschitz.gradient_norm_bound(g.T, y.T, gamma, eps=eps)
            y_hat, s = normalized(y, eps)
            # A false coefficient is applied as a correction to the library's 1/m term.
            return right - gamma**2 / s**2 * (coefficient(m) - 1 / m) * xp.sum(g * y_hat, axis=-1) ** 2

        def starts(rng):
            """G along 1, along y_hat, in their span; tiny gamma; a near-degenerate batch; g orthogonal to both."""
            y = draw_batch(rng, m)
            y_hat = (y - y.mean()) / y.std()
            ortho = orthogonal_to_1_and(y_hat, rng)
            near_degenerate = np.r_[np.zeros(m - 1), 1.0] + 1e-3 * rng.normal(size=m)
            return [
                {"y": y, "g": y_hat + 1e-3 * ortho, "gamma": 1.0, "eps": 0.0},
                {"y": y, "g": np.ones(m) + 1e-3 * ortho, "gamma": 1.0, "eps": 0.0},
                {"y": y, "g": y_hat + 3.0, "gamma": -2.0, "eps": 0.25},
                {"y": y, "g": y_hat, "gamma": 1.0, "eps": 1.0},
                {"y": near_degenerate, "g": rng.normal(size=m), "gamma": 1e-4, "eps": 1e-4},
                {"y": y, "g": ortho, "gamma": 1.0, "eps": 0.0},
            ]

        def equality(rng):
            """Eps = 0 (any g), and eps > 0 with <g, y_hat> = 0: there the bound is attained exactly."""
            out = []
            for eps in (0.0, 0.3, 2.0):
                y = draw_batch(rng, m)
                g = rng.normal(size=m) if eps == 0 else orthogonal_to_1_and(y - y.mean(), rng) + rng.normal()
                out.append({"y": y, "g": g, "gamma": rng.normal() * 2, "eps": eps})
            return out

        return Inequality(
            Params(batch("y", m), vector("g", m, spread=(0.1, 5)), scalar("gamma"), nonneg("eps")),
            lhs=lambda v: dot2(torch_normalize_vjp(v["y"], v["g"], v["gamma"], v["eps"])),
            rhs=rhs,
            lhs_exact=lambda v: mpmath.fsum(
                d**2 for d in mp_batch_norm_vjp(v["y"], v["g"], float(v["gamma"]), float(v["eps"]))
            ),
            valid=lambda v: variance(v["y"]) + v["eps"] >= 1e-12,
            allowance=lambda v: _ALLOWANCE * v["gamma"] ** 2 / (variance(v["y"]) + v["eps"]) * dot2(v["g"]),
            starts=starts,
            equality=equality,
            what="||grad_y L_hat||^2 / rhs",
        )

    return {f"m={m}": spec(m) for m in ctx.by_size(quick=(3, 5), default=(3, 4, 6, 9))}


gradient_magnitude = SANTURKAR2018.result(
    "thm4_1",
    proof="santurkar2018_bounds.py",
    title="Theorem 4.1: BN bounds the gradient magnitude (Lipschitzness of the loss)",
    where="Theorem 4.1",
    tag="D",
    statement=(
        r"\|\nabla_{y_j}\hat{\mathcal L}\|^2\le\frac{\gamma^2}{\sigma_j^2}"
        r"\Big(\|g_j\|^2-\frac1m\langle\mathbf 1,g_j\rangle^2"
        r"-\frac1m\langle g_j,\hat y_j\rangle^2\Big),\ g_j=\partial\hat{\mathcal L}/\partial z_j"
    ),
    assumptions=(
        "epsilon = 0 (then equality); for epsilon > 0, sigma -> s = sqrt(sigma^2 + eps) and y_hat eps-normalized",
        "gamma, beta constants; biased sigma_j > 0",
    ),
    notes=(
        "THEORY.md §2.4: form [S], constant 1/m [D]; THEORY-2.md §12.5: 1/m on both subtracted terms in two "
        "independent transcriptions [S]. A 1/sqrt(m) rendering of the last coefficient circulates; it is false for "
        "m > 2 and is the negative control. Equality at eps = 0 (any g) and at eps > 0 with <g, y_hat> = 0."
    ),
    under_test=("bntheory.landscape.lipschitz.gradient_norm_bound",),
)


@gradient_magnitude.symbolic("SymPy: ||J^T g||^2 exact value (any eps) and the inequality step, m = 2..4")
def _(ctx: Context) -> Outcome:
    sizes = ctx.by_size(quick=(2, 3), default=(2, 3, 4))
    return exact(sum(residuals(gradient_norm_steps(m)) for m in sizes), f"m = {', '.join(map(str, sizes))}")


@gradient_magnitude.numeric(
    "random tanh networks with MSE loss: autograd ||grad_y||^2 vs rhs per unit", needs=("torch",), backends=ARRAY
)
def _(ctx: Context) -> Outcome:
    rng = ctx.rng("santurkar2018.thm4_1.networks", shared=True)
    off_equality, ratio = Worst(), Worst()
    for _ in range(ctx.by_size(quick=3, default=10)):
        net = random_bn_mlp(rng, m=int(rng.integers(3, 12)), d=4, k=3)
        for eps in (0.0, 1e-3, 0.5):
            y, g, dy, _ = torch_bn_mlp_grads(net, eps)
            rhs = to_numpy(
                lipschitz.gradient_norm_bound(ctx.asarray(g), ctx.asarray(y), ctx.asarray(net.gamma), eps=eps)
            )
            ratios = np.sum(dy * dy, axis=0) / rhs
            ratio.add(ratios - 1, f"eps = {eps}")
            if eps == 0.0:
                off_equality.add(np.abs(ratios - 1))
    detail = (
        f"eps = 0: max |ratio - 1| = {float(off_equality):.2g} (an equality); all eps: max ratio - 1 = "
        f"{float(ratio):.3g} (at {ratio.where})"
    )
    return at_most(worst((float(off_equality), float(ratio))), CLOSED_FORM.value, detail)


@gradient_magnitude.numeric(
    "worst-case search (10^6 random + adversarial + differential evolution), refined in mpmath",
    needs=("torch",),
    backends=ARRAY,
)
def _(ctx: Context) -> Outcome:
    return attack_family(_thm4_1(ctx, lambda m: 1 / m), ctx)


@gradient_magnitude.negative_control(
    "the circulating 1/sqrt(m) coefficient on the last term", needs=("torch",), backends=ARRAY
)
def _(ctx: Context) -> Outcome:
    return attack_family(_thm4_1(ctx, lambda m: m**-0.5), ctx, control=True)


# --- Theorem 4.2: the Hessian quadratic form ----------------------------------------------------------


def _thm4_2(ctx: Context, flip_sign: bool) -> dict[str, Inequality]:
    r"""Theorem 4.2 as specs: along the gradient at eps = 0 (the theorem), and along {1, y_hat}^perp for eps >= 0.

    Both are identities (THEORY.md §2.5; THEORY-2.md §12.6 for eps >= 0, where the direction must be orthogonal to
    1 and the eps-normalized y_hat: the gradient is not, once eps > 0), so every instance is an equality instance.
    The sides change sign; the ratio is 1 + (lhs - rhs) / size with size = gamma^2/s^2 ||H||_F ||v||^2 +
    |gamma|/(m s^2) ||g|| ||y_hat|| ||v||^2, the two terms before their inner products cancel (where float64 rounding
    lives). `flip_sign` is the control: the second term B with the wrong sign, as a correction 2B.
    """

    def spec(m: int, along_gradient: bool) -> Inequality:
        blocks = [batch("y", m), vector("a", m), matrix("Q", m, m, spread=(0.3, 1.5)), vector("c", m), scalar("gamma")]
        if not along_gradient:
            blocks += [nonneg("eps"), vector("w", m)]

        @per_batch
        def unit(v):
            xp, y, gamma = array_namespace(v["y"]), v["y"], v["gamma"]
            F = Downstream(v["a"], v["Q"], v["c"])
            eps = 0.0 if along_gradient else v["eps"]
            y_hat, s = normalized(y, eps)
            g, H = F.grad(gamma[:, None] * y_hat), F.hess(gamma[:, None] * y_hat)

            # The direction is made orthogonal to 1 and y_hat to float64 rounding *of itself*: the gradient (exactly
            # orthogonal at eps = 0) carries ~1e-16 |g| gamma / s of spurious in-plane part in float64, which breaks
            # the identity by far more than rounding where |grad| is small (measured: 1.2e-11 of the size at 10^6).
            def project(u):
                u = u - u.mean(dim=-1, keepdim=True)
                plane = as_tensor(y_hat).to(u.device)
                return u - (u * plane).sum(-1, keepdim=True) / (plane * plane).sum(-1, keepdim=True) * plane

            if along_gradient:
                direction, form = torch_hessian_form(y, gamma, eps, F.torch, project=project)
            else:
                direction, form = torch_hessian_form(y, gamma, eps, F.torch, like(project(as_tensor(v["w"])), y))
            vv = dot2(direction)
            B = gamma / (m * s**2) * dot(g, y_hat) * vv
            # The size of the two terms before their inner products cancel: float64 rounding of the direction and of
            # the library's value is relative to it, not to |A| + |B|, which can be tiny. ||H||_F (>= ||H||_2, within
            # sqrt(m) of it) in place of ||H||_2: a batched eigvalsh was a third of the attack's time.
            norm_h = xp.sqrt(xp.sum(H * H, axis=(-2, -1)))
            size = gamma**2 / s**2 * norm_h * vv + xp.abs(gamma) / (m * s**2) * xp.sqrt(dot2(g) * m) * vv
            return {"F": F, "eps": eps, "v": direction, "form": form, "g": g, "H": H, "B": B, "size": size}

        def rhs(v):
            u, xp = unit(v), array_namespace(v["y"])
            H = xp.permute_dims(u["H"], (1, 2, 0))
            right = lipschitz.hessian_form_bound(u["v"].T, H, u["g"].T, v["y"].T, v["gamma"], eps=u["eps"])
            return right + 2 * u["B"] if flip_sign else right

        def lhs_exact(v):
            u, gamma = first(unit, v), float(v["gamma"])
            F = Downstream(v["a"], v["Q"], v["c"])
            eps = float(u["eps"])
            return mp_second_directional(lambda p: F.mp(mp_batch_norm(p, gamma, 0, eps)), v["y"], u["v"])

        def instances(rng, count: int, spreads=((1.5, 3.0), (0.2, 0.6), (1.5, 3.0))):
            """Random instances with |gamma| away from 1 (where gamma and gamma^2 agree, THEORY.md §8)."""
            out = []
            for k in range(count):
                gamma = rng.uniform(*spreads[k % len(spreads)]) * rng.choice([-1, 1])
                values = {"y": draw_batch(rng, m), "a": rng.normal(size=m), "Q": rng.normal(size=(m, m))}
                values |= {"c": rng.normal(size=m), "gamma": gamma}
                if not along_gradient:
                    values |= {"eps": (0.0, 0.3, 2.0)[k % 3], "w": rng.normal(size=m)}
                out.append(values)
            return out

        def starts(rng):
            """A near-degenerate batch, a tiny gamma, a large curvature."""
            near, tiny, steep = instances(rng, 3)
            near["y"] = np.r_[np.zeros(m - 1), 1.0] + 1e-3 * rng.normal(size=m)
            tiny["gamma"] = 1e-3
            steep["Q"] = 30 * steep["Q"]
            return [near, tiny, steep]

        return Inequality(
            Params(*blocks),
            lhs=lambda v: unit(v)["form"],
            rhs=rhs,
            lhs_exact=lhs_exact,
            scale=lambda v: unit(v)["size"],
            valid=lambda v: variance(v["y"]) >= 1e-8,
            allowance=lambda v: _ALLOWANCE * unit(v)["size"],
            starts=starts,
            equality=lambda rng: instances(rng, 3),
            what="1 + (v^T Hess v - rhs) / (size of the two terms)",
        )

    families = ctx.by_size(quick=((3, True), (5, False)), default=((3, True), (6, True), (4, False)))
    return {
        f"m={m}, v = grad" if along else f"m={m}, v in {{1, y_hat}}^perp, eps >= 0": spec(m, along)
        for m, along in families
    }


hessian_form = SANTURKAR2018.result(
    "thm4_2",
    proof="santurkar2018_bounds.py",
    title="Theorem 4.2: BN's effect on smoothness (Hessian quadratic form along the gradient)",
    where="Theorem 4.2",
    tag="D",
    statement=(
        r"v^\top\frac{\partial^2\hat{\mathcal L}}{\partial y_j\partial y_j}v\le"
        r"\frac{\gamma^2}{\sigma_j^2}v^\top H_{jj}v"
        r"-\frac{\gamma}{m\sigma_j^2}\langle g_j,\hat y_j\rangle\|v\|^2,\quad v=\nabla_{y_j}\hat{\mathcal L}"
    ),
    assumptions=(
        "epsilon = 0 (then v = grad is orthogonal to 1 and y_hat; for eps > 0 the identity holds with s and the "
        "eps-normalized y_hat for every v orthogonal to both, which the gradient is not)",
        "gamma, beta constants; sigma_j > 0",
        "H_jj, g_j: Hessian and gradient at the BN output",
    ),
    notes=(
        "THEORY.md §2.5: form [S]; with eps = 0 the statement is an exact identity [D] (the paper calls it a bound). "
        "THEORY-2.md §12.6: exact for every eps >= 0 with s and the eps-normalized y_hat, for directions v "
        "orthogonal to 1 and y_hat (measured: along the gradient at eps > 0 it is neither identity nor bound). "
        "Sides change sign, so the ratio is 1 + (lhs - rhs)/size with size the two terms with norms in place of their "
        "inner products; every instance is an equality instance. The paper's second, conditional form ('if H "
        "preserves relative norms') is informal and is not tested."
    ),
    under_test=("bntheory.landscape.lipschitz.hessian_form_bound",),
)


@hessian_form.symbolic(
    "SymPy: constant mean, sigma(t)^2 = sigma^2 + t^2|v|^2/m, y_hat'' = -y_hat|v|^2/(m sigma^2), m = 3..6"
)
def _(ctx: Context) -> Outcome:
    sizes = ctx.by_size(quick=(3, 4), default=(3, 4, 5, 6))
    return exact(sum(residuals(hessian_form_steps(m)) for m in sizes), f"m = {', '.join(map(str, sizes))}")


@hessian_form.numeric(
    "random tanh networks: autograd double-backward v^T Hess_yj v vs rhs per unit", needs=("torch",), backends=ARRAY
)
def _(ctx: Context) -> Outcome:
    rng = ctx.rng("santurkar2018.thm4_2.networks", shared=True)
    err = Worst()
    for _ in range(ctx.by_size(quick=2, default=6)):
        m = int(rng.integers(3, 10))
        net = random_bn_mlp(rng, m=m, d=4, k=3)
        for j, u in enumerate(torch_bn_mlp_curvature(net)):
            v, H, g, y = u["v"], u["H"], u["g"], u["y"]
            rhs = float(
                to_numpy(lipschitz.hessian_form_bound(*(ctx.asarray(a) for a in (v, H, g, y)), float(net.gamma[j])))
            )
            y_hat, s = normalized(y)
            scale = abs(net.gamma[j] ** 2 / s**2 * (v @ H @ v)) + abs(net.gamma[j] / (m * s**2) * (g @ y_hat) * (v @ v))
            err.add(abs(u["form"] - rhs) / scale, f"m = {m}, unit {j}")
    return at_most(
        float(err), CLOSED_FORM.value, f"eps = 0: |lhs - rhs| / (|A| + |B|), an identity; worst at {err.where}"
    )


@hessian_form.numeric(
    "worst-case search over batches, downstream F, gamma (and eps, v), refined in mpmath (60 digits)",
    needs=("torch",),
    backends=ARRAY,
)
def _(ctx: Context) -> Outcome:
    return attack_family(_thm4_2(ctx, flip_sign=False), ctx)


@hessian_form.negative_control("flip the sign of the second term", needs=("torch",), backends=ARRAY)
def _(ctx: Context) -> Outcome:
    return attack_family(_thm4_2(ctx, flip_sign=True), ctx, control=True)


# --- Observation 4.3: BN can represent the identity ---------------------------------------------------

rescaling = SANTURKAR2018.result(
    "obs4_3",
    proof="santurkar2018_bounds.py",
    title="Observation 4.3: BN does more than rescaling (gamma = sigma, beta = mu reproduce the input)",
    where="Observation 4.3",
    tag="S",
    statement=r"\gamma_j=\sigma_j,\ \beta_j=\mu_j\ \Rightarrow\ z_j=\sigma_j\hat y_j+\mu_j\mathbf 1=y_j",
    assumptions=("epsilon = 0", "sigma_j the biased batch standard deviation, > 0"),
    notes="THEORY.md §2.6 [S]: every minimum of the non-BN landscape is attained in the BN landscape.",
    under_test=("bntheory.norms.batch.forward",),
)


@rescaling.symbolic("SymPy: sigma (symbolic square root) * y_hat + mu = y, m = 2..5")
def _(ctx: Context) -> Outcome:
    sizes = ctx.by_size(quick=(2, 3), default=(2, 3, 4, 5))
    return exact(sum(residuals(scale_shift_steps(m)) for m in sizes), f"m = {', '.join(map(str, sizes))}")


def _identity_error(ctx: Context, ddof: int) -> Outcome:
    rng = ctx.rng("santurkar2018.obs4_3", shared=True)
    err = Worst()
    for shape in [(2, 3), (7, 4), (32, 5)]:
        y = rng.normal(rng.uniform(-3, 3), rng.uniform(0.5, 3), shape)
        z, _ = transform.forward(*(ctx.asarray(a) for a in (y, y.std(axis=0, ddof=ddof), y.mean(axis=0))), eps=0.0)
        err.add(max_relative_error(to_numpy(z), y), f"m = {shape[0]}")
    return at_most(
        float(err),
        CLOSED_FORM.value,
        f"transform.forward(y, gamma=sigma, beta=mu, eps=0) vs y, m = 2, 7, 32; worst at {err.where}",
    )


@rescaling.numeric("transform.forward with gamma = sigma, beta = mu returns its input", backends=ARRAY)
def _(ctx: Context) -> Outcome:
    return _identity_error(ctx, ddof=0)


@rescaling.negative_control("gamma = the unbiased sigma", backends=ARRAY)
def _(ctx: Context) -> Outcome:
    return _identity_error(ctx, ddof=1)


# --- Theorem 4.4: weight-space Lipschitzness ----------------------------------------------------------


def _thm4_4(ctx: Context, frobenius: bool) -> dict[str, Inequality]:
    r"""Theorem 4.4 (pointwise form) as a spec per (m, d); `frobenius` is the control (lambda^2/m with ||X||_F).

    Equality case: the aligned batch X = [y, 2||y|| u/||u||, 0, ...] with u = grad_y L_hat at eps = 0 and W_j = e_1
    (:func:`~instances.landscape.aligned_batch`): both steps, Theorem 4.1 and ||X^T u|| <= ||X||_2 ||u||, are
    then equalities, so the ratio is 1 up to rounding. The right side cancels when g is nearly in span{1, y_hat}, so
    the ratio is 1 + (lhs - rhs) / (the sum of the absolute values of its three terms), where the library's float64
    rounding lives.
    """

    def spec(m: int, d: int) -> Inequality:
        @per_batch
        def unit(v):
            xp, X, w, gamma, eps = array_namespace(v["X"]), v["X"], v["w"], v["gamma"], v["eps"]
            F = Downstream.linear_sine(v["a"], v["c"])
            # ||X||_2 from the largest eigenvalue of the (d, d) Gram matrix: half the time of an SVD of X, and the top
            # singular value keeps its float64 accuracy there (only small ones lose digits in X^T X).
            lam = xp.sqrt(xp.max(xp.linalg.eigvalsh(xp.matrix_transpose(X) @ X), axis=-1))
            y = xp.sum(X * w[..., None, :], axis=-1)
            y_hat, s = normalized(y, eps)
            g = F.grad(gamma[:, None] * y_hat)
            # The control's lambda^2 / m with ||X||_F = lambda, as a factor on the library's right side.
            factor = xp.sum(X * X, axis=(-2, -1)) / m / lam**2 if frobenius else 1.0
            # The size of the right side's three terms: it cancels when g is nearly in span{1, y_hat}, and float64
            # rounding of the library's value is relative to this, not to the difference.
            terms = factor * (lam * gamma / s) ** 2 * (dot2(g) + xp.sum(g, axis=-1) ** 2 / m + dot(g, y_hat) ** 2 / m)
            grad = torch_weight_gradient(X, w, gamma, eps, F.torch)
            return {"y": y, "g": g, "lam": lam, "factor": factor, "terms": terms, "grad": grad}

        def rhs(v):
            u = unit(v)
            right = lipschitz.weight_gradient_bound(u["g"].T, u["y"].T, v["gamma"], u["lam"], eps=v["eps"])
            return right * u["factor"]

        def lhs_exact(v):
            F, X, gamma, eps = Downstream.linear_sine(v["a"], v["c"]), v["X"], float(v["gamma"]), float(v["eps"])

            def loss(wv):
                y = [mpmath.fsum(X[i, k] * wv[k] for k in range(d)) for i in range(m)]
                return F.mp(mp_batch_norm(y, gamma, 0, eps))

            return mpmath.fsum(mpmath.mpf(x) ** 2 for x in mp_central_gradient(loss, v["w"]))

        def aligned(rng):
            out = []
            for _ in range(2):
                y, a, c = draw_batch(rng, m), rng.normal(size=m), rng.normal(size=m)
                gamma = rng.uniform(0.5, 2) * rng.choice([-1, 1])
                u = torch_loss_gradient(y, gamma, 0.0, Downstream.linear_sine(a, c).torch)
                out.append({"X": aligned_batch(y, u, d), "w": np.eye(d)[0], "a": a, "c": c, "gamma": gamma, "eps": 0.0})
            return out

        return Inequality(
            Params(
                matrix("X", m, d),
                vector("w", d),
                vector("a", m),
                vector("c", m),
                scalar("gamma"),
                nonneg("eps", high=1.0),
            ),
            lhs=lambda v: dot2(unit(v)["grad"]),
            rhs=rhs,
            lhs_exact=lhs_exact,
            scale=lambda v: unit(v)["terms"],
            valid=lambda v: (
                variance(array_namespace(v["X"]).sum(v["X"] * v["w"][..., None, :], axis=-1)) + v["eps"] >= 1e-10
            ),
            allowance=lambda v: _ALLOWANCE * unit(v)["terms"],
            equality=aligned,
            what="1 + (||grad_W L_hat||^2 - rhs) / (sum of |rhs terms|)",
        )

    sizes = ctx.by_size(quick=((4, 3), (6, 2)), default=((3, 2), (5, 3), (8, 4)))
    return {f"m={m},d={d}": spec(m, d) for m, d in sizes}


weight_space = SANTURKAR2018.result(
    "thm4_4",
    proof="santurkar2018_bounds.py",
    title="Theorem 4.4: weight-space Lipschitzness (checkable pointwise form)",
    where="Theorem 4.4",
    tag="D",
    statement=(
        r"\|X\|_2\le\lambda\ \Rightarrow\ \|\nabla_{W_j}\hat{\mathcal L}\|^2\le\lambda^2\frac{\gamma^2}{\sigma_j^2}"
        r"\Big(\|g_j\|^2-m\mu_{g_j}^2-\frac1m\langle g_j,\hat y_j\rangle^2\Big)"
    ),
    assumptions=(
        "y_j = X W_j with X the (m, d) batch",
        "epsilon >= 0 (sigma -> s for epsilon > 0)",
        "lambda >= ||X||_2",
    ),
    notes=(
        "THEORY.md §2.7: the printed minimax form is [R] and dimensionally inconsistent "
        "(g_j is already a squared norm, lambda^2 multiplies one term only); it is NOT tested. The pointwise form is "
        "[D]; it is attained when eps = 0 and X's top left singular vector is grad_y L_hat (the aligned batch "
        "X = [y, 2||y|| u/||u||, 0, ...], W_j = e_1), which the attack declares as its equality case."
    ),
    under_test=("bntheory.landscape.lipschitz.weight_gradient_bound",),
)


@weight_space.symbolic("SymPy: grad_W = X^T grad_y ((m, d) = (3, 2), (2, 3)); equality at X = lambda u w^T/||u||")
def _(ctx: Context) -> Outcome:
    sizes = ctx.by_size(quick=((3, 2),), default=((3, 2), (2, 3)))
    return exact(sum(residuals(weight_space_steps(m, d)) for m, d in sizes), f"(m, d) = {sizes}")


@weight_space.numeric(
    "random tanh networks: autograd ||grad_W_j||^2 <= rhs with lambda = ||X||_2", needs=("torch",), backends=ARRAY
)
def _(ctx: Context) -> Outcome:
    rng = ctx.rng("santurkar2018.thm4_4.networks", shared=True)
    ratio = Worst()
    for _ in range(ctx.by_size(quick=3, default=10)):
        net = random_bn_mlp(rng, m=int(rng.integers(3, 12)), d=4, k=3)
        for eps in (0.0, 1e-3):
            y, g, _, dW = torch_bn_mlp_grads(net, eps)
            lam = float(np.linalg.norm(net.X, 2))
            rhs = lipschitz.weight_gradient_bound(ctx.asarray(g), ctx.asarray(y), ctx.asarray(net.gamma), lam, eps=eps)
            ratio.add(np.sum(dW * dW, axis=0) / to_numpy(rhs), f"eps = {eps}")
    return at_most(
        float(ratio),
        1 + RATIO_SLACK.value,
        f"max ratio {float(ratio):.6g} over units (at {ratio.where}), eps in {{0, 1e-3}}",
    )


@weight_space.numeric(
    "worst-case search over X, W_j, downstream F, gamma, eps; refined in mpmath", needs=("torch",), backends=ARRAY
)
def _(ctx: Context) -> Outcome:
    return attack_family(_thm4_4(ctx, frobenius=False), ctx)


@weight_space.negative_control(
    "||X||_F = lambda with lambda^2/m in place of lambda^2", needs=("torch",), backends=ARRAY
)
def _(ctx: Context) -> Outcome:
    return attack_family(_thm4_4(ctx, frobenius=True), ctx, control=True)


# --- Lemma 4.5: favourable initialization --------------------------------------------------------------


def _lemma4_5(ctx: Context, sign: int) -> dict[str, Inequality]:
    r"""Lemma 4.5 as a spec per dimension over pairs with sign(<W0, W*>) = `sign` (+1: the assumption; -1: violated).

    The left side is the distance to the ray by parabolic interpolation over c > 0 on the whole batch (Brent's
    step; 50-digit Newton at the reported points), the right side the library's. Under the assumption the lemma is
    an equality for every pair (THEORY.md §2.8), so the declared equality instances are random pairs. The right
    side cancels when W0 is nearly parallel to W*, so the ratio is
    1 + (lhs - rhs) / (||W0 - W*||^2 + (||W*||^2 - <W*, W0>)^2 / ||W*||^2), the size of its two terms.
    """

    def spec(d: int) -> Inequality:
        def rhs(v):
            return lipschitz.rescaling_distance_bound(v["w0"].T, v["ws"].T)

        def scale(v):
            w0, ws = v["w0"], v["ws"]
            return dot2(w0 - ws) + (dot2(ws) - dot(ws, w0)) ** 2 / dot2(ws)

        def pairs(rng, count: int):
            out = []
            for _ in range(count):
                w0, ws = rng.normal(size=d), rng.normal(size=d) * rng.uniform(0.1, 10)
                out.append({"w0": w0, "ws": ws if sign * (w0 @ ws) > 0 else -ws})
            return out

        def starts(rng):
            """W0 nearly parallel to W* (the right side cancels to ~1e-8 of its terms)."""
            p = np.r_[np.ones(d), sign * np.ones(d) * 3] + 1e-4 * rng.normal(size=2 * d)
            return [{"w0": p[:d], "ws": p[d:]}]

        return Inequality(
            Params(vector("w0", d), vector("ws", d, spread=(0.1, 10))),
            lhs=lambda v: ray_distance(v["w0"], v["ws"])[0],
            rhs=rhs,
            lhs_exact=lambda v: mp_ray_distance(v["w0"], v["ws"], ray_distance(v["w0"], v["ws"])[1]),
            scale=scale,
            valid=lambda v: (sign * dot(v["w0"], v["ws"]) > 0) & (dot2(v["ws"]) >= 1e-12),
            allowance=lambda v: _ALLOWANCE * scale(v),
            starts=starts,
            equality=lambda rng: pairs(rng, 3),
            what="1 + (||W0 - W_hat*||^2 - rhs) / (sum of |rhs terms|)",
        )

    return {f"d={d}": spec(d) for d in ctx.by_size(quick=(3, 8), default=(2, 5, 20))}


initialization = SANTURKAR2018.result(
    "lemma4_5",
    proof="santurkar2018_bounds.py",
    title="Lemma 4.5: BN leads to a favourable initialization",
    where="Lemma 4.5",
    tag="D",
    statement=(
        r"\langle W_0,W^*\rangle>0\ \Rightarrow\ \|W_0-\hat W^*\|^2\le\|W_0-W^*\|^2-\frac{1}{\|W^*\|^2}"
        r"\big(\|W^*\|^2-\langle W^*,W_0\rangle\big)^2"
    ),
    assumptions=(
        "<W0, W*> > 0",
        "every c W* with c > 0 is an optimum of the BN network (BN is invariant to positive rescaling of W)",
    ),
    notes=(
        "THEORY.md §2.8: form [S]; [D] the right side equals min_{c>0} ||W0 - c W*||^2 exactly, so the lemma holds "
        "with equality for W_hat* on the ray: every pair is an equality instance. The control violates "
        "<W0, W*> > 0, where the infimum over c > 0 is ||W0||^2 (c -> 0+) and exceeds the right side."
    ),
    under_test=("bntheory.landscape.lipschitz.rescaling_distance_bound", "bntheory.norms.batch.forward"),
)


@initialization.symbolic("SymPy: argmin_c ||W0 - c W*||^2 = <W*,W0>/||W*||^2 and the minimum = rhs, d = 2..4")
def _(ctx: Context) -> Outcome:
    sizes = ctx.by_size(quick=(2, 3), default=(2, 3, 4))
    return exact(sum(residuals(rescaling_steps(d)) for d in sizes), f"d = {', '.join(map(str, sizes))}")


@initialization.numeric("BN network loss invariant under W -> cW, c > 0 (transform.forward, eps = 0)", backends=ARRAY)
def _(ctx: Context) -> Outcome:
    rng = ctx.rng("santurkar2018.lemma4_5.invariance", shared=True)
    err = Worst()
    X, W = rng.normal(size=(16, 5)), rng.normal(size=(5, 4))
    ones, zeros = np.ones(4), np.zeros(4)
    base = to_numpy(transform.forward(*(ctx.asarray(a) for a in (X @ W, ones, zeros)), eps=0.0)[0])
    for c in (1e-3, 0.5, 7.0, 1e4):
        out = to_numpy(transform.forward(*(ctx.asarray(a) for a in (X @ (c * W), ones, zeros)), eps=0.0)[0])
        err.add(max_relative_error(out, base), f"c = {c:g}")
    return at_most(
        float(err), CLOSED_FORM.value, f"BN(X (cW)) vs BN(X W), c in {{1e-3, 0.5, 7, 1e4}}; worst at {err.where}"
    )


@initialization.numeric(
    "worst-case search, lhs by parabolic interpolation over c > 0, refined by 50-digit Newton; rhs from the library",
    backends=ARRAY,
)
def _(ctx: Context) -> Outcome:
    return attack_family(_lemma4_5(ctx, sign=1), ctx)


@initialization.negative_control("violate the assumption: <W0, W*> < 0", backends=ARRAY)
def _(ctx: Context) -> Outcome:
    return attack_family(_lemma4_5(ctx, sign=-1), ctx, control=True)
