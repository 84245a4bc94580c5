r"""Santurkar et al. 2018: the BN Jacobian and the four landscape bounds of §4, attacked by worst-case search.

S. Santurkar, D. Tsipras, A. Ilyas and A. Madry, "How does batch normalization help optimization?",
NeurIPS 2018, arXiv:1805.11604 (THEORY.md §2.3–§2.8, pitfalls §8).

Library code under test: :func:`bntheory.jacobian.bn_jacobian`, :mod:`bntheory.lipschitz` (the right-hand
sides). Left-hand sides come from PyTorch autograd (float64, during the search) and from mpmath central
differences at 50–60 digits (the numbers that are reported), never from the formulas under test.

Worst-case ratios. Each inequality :math:`\mathrm{lhs}\le\mathrm{rhs}` is reported as the largest
:func:`~bntheory.checks.search.normalized_ratio` found by :func:`~bntheory.checks.search.worst_case`
(random draws, hand-picked adversarial starts, Nelder–Mead climbs), re-evaluated in mpmath at the best
points. A statement passes when that ratio is at most :data:`RATIO_TOL` above 1; the control runs the
same search on a false variant and is rejected when the ratio exceeds the same threshold. The upstream
loss enters the statements only through :math:`g=\partial\hat{\mathcal L}/\partial z` (and :math:`H`), so the
searches range over a generic smooth downstream function :math:`F(z)=a^\top z+\tfrac12z^\top Qz+\sum_i c_i\sin z_i`,
whose gradient and Hessian at any point are arbitrary; the numeric checks add real networks.
"""

from __future__ import annotations

from fractions import Fraction

import mpmath
import numpy as np
import scipy.optimize
import sympy as sp

from bntheory import lipschitz, transform
from bntheory.backend import asarray, to_numpy
from bntheory.checks.compare import Outcome, at_most, exact, max_relative_error
from bntheory.checks.inequality import Inequality, Params, attack_family, batch, nonneg, scalar, vector
from bntheory.checks.oracles import (
    mp_batch_norm,
    mp_batch_norm_vjp,
    mp_central_gradient,
    mp_second_directional,
    torch_normalize,
    torch_normalize_vjp,
)
from bntheory.checks.search import WorstCase, normalized_ratio, worst_case
from bntheory.context import Context
from bntheory.jacobian import bn_jacobian, jacobian_deviation
from bntheory.registry import register
from bntheory.symbolic.batchnorm import residuals
from bntheory.symbolic.jacobian import is_zero, symbolic_jacobian
from bntheory.symbolic.landscape import (
    gradient_norm_steps,
    hessian_form_steps,
    rescaling_steps,
    scale_shift_steps,
    weight_space_steps,
)

CITATION = "Santurkar et al. 2018, {}, arXiv:1805.11604"
#: Slack above 1 allowed for a worst-case ratio re-evaluated in mpmath. The refined left sides are
#: rounded to float64 once (relative error ~1e-16 per entry) and the right sides are exact to 50 digits,
#: so an identity shows up as 1 +- 1e-14 at worst; 1e-12 leaves two orders of margin and is still ten
#: orders below the smallest violation any control produces (reported in the table).
RATIO_TOL = 1e-12
#: Closed-form Jacobians vs 50-digit central differences (THEORY.md §0: rtol 1e-10 for closed forms).
RTOL = 1e-10
#: Rounding allowance added to float64 right sides during the search only, so the climber does not
#: chase cancellation noise when g is nearly in span{1, y_hat}; the reported ratios are the mpmath ones.
_ALLOWANCE = 1e-11


def _symbolic_sizes(ctx: Context, full: tuple[int, ...] = (2, 3, 4, 5, 6)) -> tuple[int, ...]:
    return full[:2] if (ctx.size == "quick") else full


def _budget(ctx: Context) -> dict:
    if (ctx.size == "quick"):
        return {"draws": 40, "climbs": 1, "max_evaluations": 120}
    return {"draws": 60, "climbs": 2, "max_evaluations": 150}


def _report(found: list[tuple[str, WorstCase]], what: str) -> Outcome:
    """Outcome of a family of searches: the worst refined ratio over all of them."""
    label, worst = max(found, key=lambda t: t[1].ratio)
    evaluations = sum(w.evaluations for _, w in found)
    detail = (
        f"max {what} {worst.ratio:.15g} at {label} (float64 search max {worst.float_ratio:.6g}, "
        f"{evaluations} evaluations over {', '.join(lbl for lbl, _ in found)})"
    )
    samples = np.concatenate([w.draws for _, w in found])
    return at_most(worst.ratio, 1 + RATIO_TOL, detail, samples=samples)


def _orthogonal_to_1_and(v: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random vector orthogonal to 1 and to `v` (which is taken to be centred)."""
    w = rng.normal(size=v.size)
    w -= w.mean()
    return w - (w @ v) / (v @ v) * v


def _draw_batch(rng: np.random.Generator, m: int) -> np.ndarray:
    return rng.normal(rng.uniform(-2, 2), rng.uniform(0.3, 3), m)


# --- the BN Jacobian --------------------------------------------------------------------------------


def _mp_jacobian(x: np.ndarray, gamma: float, eps: float) -> np.ndarray:
    r""":math:`\partial y_i/\partial x_j` of Algorithm 1 by 50-digit central differences (the oracle)."""
    rows = [mp_central_gradient(lambda v, i=i: mp_batch_norm(v, gamma, 0.0, eps)[i], x) for i in range(x.size)]
    return np.array(rows)


def _jacobian_error(ctx: Context, impl, eps_values: tuple[float, ...]) -> Outcome:
    rng = ctx.rng("santurkar2018.bn_jacobian", shared=True)
    sizes = (2, 3, 6) if (ctx.size == "quick") else (2, 3, 4, 6, 9)
    worst = 0.0
    for m in sizes:
        for eps in eps_values:
            x = np.stack([_draw_batch(rng, m) for _ in range(2)], axis=1)
            gamma = rng.uniform(0.5, 2, 2) * rng.choice([-1, 1], 2)
            J = to_numpy(impl(asarray(x, ctx.xp), asarray(gamma, ctx.xp), eps))
            for c in range(2):
                # Relative to gamma/s, the Jacobian's natural scale: at m = 2 and eps = 0 the true Jacobian
                # is exactly 0 and an entry-relative error would only measure rounding (THEORY.md §8).
                scale = abs(gamma[c]) / np.sqrt(x[:, c].var() + eps)
                worst = max(worst, float(np.max(np.abs(J[c] - _mp_jacobian(x[:, c], gamma[c], eps)))) / scale)
    return at_most(
        worst, RTOL, f"m in {sizes}, 2 channels, eps in {eps_values}, vs mpmath (50 digits), error / (|gamma|/s)"
    )


bn_jacobian_form = register(
    "santurkar2018.bn_jacobian",
    proof="santurkar2018_jacobian.py",
    title="The BN Jacobian is (gamma/sigma) times a projector",
    citation=CITATION.format("§4 and Fact C.1"),
    tag="D",
    statement=(
        r"\frac{\partial z}{\partial y}=\frac{\gamma}{\sigma}\Big(I-\frac1m\mathbf 1\mathbf 1^\top"
        r"-\frac1m\hat y\hat y^\top\Big)\quad(\epsilon=0)"
    ),
    assumptions=("epsilon = 0 (the setting of §4)", "m >= 2", "sigma > 0"),
    notes=(
        "THEORY.md §2.3: the matrix form is [D]; the paper's Fact C.1 states it entrywise [S]. Verified by SymPy "
        "for m = 2..6 exactly (with symbolic epsilon, then epsilon = 0)."
    ),
)


@bn_jacobian_form.symbolic("SymPy d(y_i)/d(x_j) of Algorithm 1 = closed form, m = 2..6 (any eps, so eps = 0)")
def _(ctx: Context) -> Outcome:
    sizes = _symbolic_sizes(ctx)
    fails = 0
    for m in sizes:
        jac = symbolic_jacobian(m)
        fails += not is_zero(jac, jac.J - jac.closed_form)
    return exact(fails, f"m = {', '.join(map(str, sizes))}")


@bn_jacobian_form.numeric("bn_jacobian (eps = 0) vs mpmath central differences of Algorithm 1")
def _(ctx: Context) -> Outcome:
    return _jacobian_error(ctx, lambda x, g, eps: bn_jacobian(x, g, eps=eps), (0.0,))


@bn_jacobian_form.negative_control("treat the batch mean and variance as constants: J = (gamma/sigma) I")
def _(ctx: Context) -> Outcome:
    def frozen(x, gamma, eps):
        J = bn_jacobian(x, gamma, eps=eps)
        xp = ctx.xp
        centered = x - xp.mean(x, axis=0, keepdims=True)
        s = xp.sqrt(xp.mean(centered * centered, axis=0) + eps)
        return (gamma / s)[:, None, None] * xp.eye(x.shape[0], dtype=J.dtype)[None, :, :]

    return _jacobian_error(ctx, frozen, (0.0,))


bn_jacobian_spectrum = register(
    "santurkar2018.bn_jacobian_spectrum",
    proof="santurkar2018_jacobian.py",
    title="The BN Jacobian is symmetric, kills 1 and y_hat, and has eigenvalue gamma/sigma (m-2 times)",
    citation=CITATION.format("§4 and Fact C.1"),
    tag="D",
    statement=(
        r"J=J^\top,\ J\mathbf 1=0,\ J\hat y=0,\ J^2=\frac{\gamma}{\sigma}J,\ "
        r"\operatorname{tr}J=\frac{\gamma}{\sigma}(m-2)\ \Rightarrow\ "
        r"\operatorname{spec}J=\{0^{(2)},(\gamma/\sigma)^{(m-2)}\},\ \ker J=\operatorname{span}\{\mathbf 1,\hat y\}"
    ),
    assumptions=("epsilon = 0", "m >= 2", "sigma > 0"),
    notes="THEORY.md §2.3 [D]: (sigma/gamma) J is the orthogonal projector onto {1, y_hat}^perp, rank m-2.",
)


@bn_jacobian_spectrum.symbolic(
    "SymPy: symmetric, J 1 = 0, J y_hat = 0, tr J (m = 2..6), J^2 = (gamma/sigma) J (m <= 4)"
)
def _(ctx: Context) -> Outcome:
    sizes = _symbolic_sizes(ctx)
    fails = 0
    for m in sizes:
        jac = symbolic_jacobian(m)
        J, s, g, eps = jac.J, jac.s, jac.batch.gamma, jac.batch.eps
        at0 = {eps: 0}
        facts = [
            J - J.T,
            J * jac.ones,
            # With eps symbolic J y_hat = gamma eps/s^3 y_hat; at eps = 0 this is 0.
            J * jac.x_hat - g * eps / s**3 * jac.x_hat,
            J.trace() - g / s * (m - 2 + eps / s**2),
        ]
        if m <= 4:  # J^2 costs seconds per matrix beyond m = 4; symmetry, kernel and trace go to m = 6
            facts.append(J * J - g / s * J + g**2 * eps / s**4 * jac.x_hat * jac.x_hat.T / m)
        fails += sum(not is_zero(jac, f) for f in facts)
        # The eps = 0 specialisations: the eps terms above vanish identically.
        fails += sum(sp.simplify(e.subs(at0)) != 0 for e in (g * eps / s**3, g**2 * eps / s**4))
    return exact(fails, f"m = {', '.join(map(str, sizes))}; facts for any eps, specialised to eps = 0")


def _spectrum_error(ctx: Context, sigma_of) -> Outcome:
    """Eigen-decomposition of the mpmath finite-difference Jacobian vs the claimed spectrum and kernel."""
    rng = ctx.rng("santurkar2018.bn_jacobian_spectrum", shared=True)
    worst = 0.0
    for m in (3, 5) if (ctx.size == "quick") else (3, 4, 6, 8):
        x = _draw_batch(rng, m)
        gamma = rng.uniform(0.5, 2) * rng.choice([-1, 1])
        J = _mp_jacobian(x, gamma, 0.0)
        y_hat = (x - x.mean()) / x.std()
        scale = abs(gamma) / x.std()
        claimed = np.sort(np.r_[0.0, 0.0, np.full(m - 2, gamma / sigma_of(x))])
        errors = [
            np.max(np.abs(J - J.T)) / scale,
            np.max(np.abs(J @ np.ones(m))) / scale,
            np.max(np.abs(J @ y_hat)) / (scale * np.sqrt(m)),
            np.max(np.abs(np.linalg.eigvalsh((J + J.T) / 2) - claimed)) / scale,
        ]
        worst = max(worst, *errors)
    return at_most(worst, RTOL, "FD Jacobian: asymmetry, |J 1|, |J y_hat|, eigenvalues vs {0, 0, gamma/sigma}")


@bn_jacobian_spectrum.numeric("mpmath FD Jacobian: symmetry, kernel {1, y_hat}, eigenvalues (numpy eigvalsh)")
def _(ctx: Context) -> Outcome:
    return _spectrum_error(ctx, np.std)


@bn_jacobian_spectrum.negative_control("claim the eigenvalue gamma/sigma with the unbiased sigma")
def _(ctx: Context) -> Outcome:
    return _spectrum_error(ctx, lambda x: np.std(x, ddof=1))


bn_jacobian_eps = register(
    "santurkar2018.bn_jacobian_eps",
    proof="santurkar2018_jacobian.py",
    title="The BN Jacobian for eps > 0: exact form, spectrum, and its distance to the eps = 0 Jacobian",
    citation=CITATION.format("§4 (eps = 0 there); extension derived"),
    tag="D",
    statement=(
        r"J_\epsilon=\frac{\gamma}{s}\Big(I-\frac1m\mathbf 1\mathbf 1^\top-\frac1m\hat y\hat y^\top\Big),\ "
        r"s=\sqrt{\sigma^2+\epsilon},\ \hat y=\frac{y-\mu\mathbf 1}{s};\ "
        r"\operatorname{spec}J_\epsilon=\{0,\ \gamma\epsilon/s^3,\ (\gamma/s)^{(m-2)}\};\ "
        r"\|J_\epsilon-J_0\|_2=|\gamma|\max\Big(\frac{\epsilon}{s^3},\frac{\epsilon}{\sigma s(\sigma+s)}\Big)"
        r"\le\frac{|\gamma|\epsilon}{\sigma^3}"
    ),
    assumptions=("epsilon >= 0", "m >= 3 for the eigenvalue gamma/s to occur", "sigma > 0 for J_0"),
    notes=(
        "Derived here (THEORY.md §2.3 gives eps = 0 only). y_hat must be the eps-normalized batch everywhere "
        "(THEORY.md §8); the control keeps (y - mu)/sigma in the projector and is rejected."
    ),
)


@bn_jacobian_eps.symbolic("SymPy: J = closed form with eps-normalized y_hat; eigen-relations; s - sigma identity")
def _(ctx: Context) -> Outcome:
    sizes = _symbolic_sizes(ctx, (3, 4, 5))
    fails = 0
    for m in sizes:
        jac = symbolic_jacobian(m)
        J, s, g, eps = jac.J, jac.s, jac.batch.gamma, jac.batch.eps
        fails += not is_zero(jac, J - jac.closed_form)
        fails += not is_zero(jac, J * jac.x_hat - g * eps / s**3 * jac.x_hat)
    # The deviation on {1, y_hat}^perp: 1/sigma - 1/s = eps / (sigma s (sigma + s)) <= eps / (2 sigma^3).
    sigma, e = sp.symbols("sigma epsilon", positive=True)
    s = sp.sqrt(sigma**2 + e)
    fails += sp.simplify(1 / sigma - 1 / s - e / (sigma * s * (sigma + s))) != 0
    return exact(fails, f"m = {', '.join(map(str, sizes))} and the scalar identity for s - sigma")


def _eps_jacobian_error(ctx: Context, impl) -> Outcome:
    """Jacobian vs mpmath FD at eps > 0, and the deviation's spectral norm vs its exact value and bound."""
    closed = _jacobian_error(ctx, impl, (1e-3, 0.5))
    rng = ctx.rng("santurkar2018.bn_jacobian_eps.deviation", shared=True)
    worst_exact, worst_ratio = 0.0, 0.0
    for m in (3, 6):
        for eps in (1e-4, 0.3, 5.0):
            x = _draw_batch(rng, m)
            gamma = rng.uniform(0.5, 2)
            measured = np.linalg.norm(_mp_jacobian(x, gamma, eps) - _mp_jacobian(x, gamma, 0.0), 2)
            exact_norm, bound = jacobian_deviation(float(x.std()), gamma, eps)
            worst_exact = max(worst_exact, abs(measured - exact_norm) / exact_norm)
            worst_ratio = max(worst_ratio, measured / bound)
    detail = (
        f"{closed.detail}; deviation: exact rel. err {worst_exact:.2g}, max ||J_eps - J_0|| / bound {worst_ratio:.4f}"
    )
    worst = max(closed.measured, worst_exact)
    return at_most(worst if worst_ratio <= 1 else np.inf, RTOL, detail)


@bn_jacobian_eps.numeric("bn_jacobian(eps) vs mpmath FD; ||J_eps - J_0||_2 vs its exact value and bound")
def _(ctx: Context) -> Outcome:
    return _eps_jacobian_error(ctx, lambda x, g, eps: bn_jacobian(x, g, eps=eps))


@bn_jacobian_eps.negative_control("keep y_hat = (y - mu)/sigma (not eps-normalized) in the projector")
def _(ctx: Context) -> Outcome:
    def unnormalized(x, gamma, eps):
        xp = ctx.xp
        m = x.shape[0]
        centered = x - xp.mean(x, axis=0, keepdims=True)
        var = xp.mean(centered * centered, axis=0)
        y_hat = xp.permute_dims(centered / xp.sqrt(var), (1, 0))
        projector = xp.eye(m, dtype=x.dtype)[None, :, :] - 1.0 / m - y_hat[:, :, None] * y_hat[:, None, :] / m
        return (gamma / xp.sqrt(var + eps))[:, None, None] * projector

    return _eps_jacobian_error(ctx, unnormalized)


# --- Theorem 4.1: gradient magnitude ------------------------------------------------------------------


def _torch_grad_y(y: np.ndarray, gamma: float, eps: float, downstream):
    """(grad of L_hat w.r.t. y, g = grad w.r.t. z) by autograd, for L_hat(y) = F(gamma * BN(y))."""
    import torch

    t = torch.tensor(y, dtype=torch.float64, requires_grad=True)
    z = gamma * torch_normalize(t, eps)
    z.retain_grad()
    downstream(z).backward()
    return t.grad.numpy(), z.grad.numpy()


def _linear(g: np.ndarray):
    import torch

    gt = torch.from_numpy(g)
    return lambda z: z @ gt


def _mp_gradient_norm_rhs(g, y, gamma, eps, coefficient: float | None = None):
    """Theorem 4.1's right side in mpmath (coefficient of the last term 1/m unless given)."""
    m = len(y)
    ym, gm = [mpmath.mpf(v) for v in y], [mpmath.mpf(v) for v in g]
    mu = mpmath.fsum(ym) / m
    s2 = mpmath.fsum((v - mu) ** 2 for v in ym) / m + mpmath.mpf(eps)
    y_hat = [(v - mu) / mpmath.sqrt(s2) for v in ym]
    c = mpmath.mpf(1) / m if coefficient is None else mpmath.mpf(coefficient)
    dot = mpmath.fsum(a * b for a, b in zip(gm, y_hat, strict=True))
    return mpmath.mpf(gamma) ** 2 / s2 * (mpmath.fsum(v * v for v in gm) - mpmath.fsum(gm) ** 2 / m - c * dot**2)


def _thm4_1(ctx: Context, coefficient) -> dict[str, Inequality]:
    """Theorem 4.1 as a spec per batch size; `coefficient(m)` on the last term (1/m is the theorem)."""

    def spec(m: int) -> Inequality:
        def rhs(v):
            y, g, gamma, eps = v["y"], v["g"], float(v["gamma"]), float(v["eps"])
            right = float(to_numpy(lipschitz.gradient_norm_bound(ctx.asarray(g), ctx.asarray(y), gamma, eps=eps)))
            y_hat = (y - y.mean()) / np.sqrt(y.var() + eps)
            # A false coefficient is applied as a correction to the library's 1/m term.
            return right - gamma**2 / (y.var() + eps) * (coefficient(m) - 1 / m) * (g @ y_hat) ** 2

        def starts(rng):
            """G along 1, along y_hat, in their span; tiny gamma; a near-degenerate batch; g orthogonal to both."""
            y = rng.normal(rng.uniform(-2, 2), rng.uniform(0.3, 3), m)
            y_hat = (y - y.mean()) / y.std()
            ortho = _orthogonal_to_1_and(y_hat, rng)
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
                y = rng.normal(rng.uniform(-2, 2), rng.uniform(0.3, 3), m)
                g = rng.normal(size=m) if eps == 0 else _orthogonal_to_1_and((y - y.mean()), rng) + rng.normal()
                out.append({"y": y, "g": g, "gamma": rng.normal() * 2, "eps": eps})
            return out

        return Inequality(
            Params(batch("y", m), vector("g", m, spread=(0.1, 5)), scalar("gamma"), nonneg("eps")),
            lhs=lambda v: float(np.sum(torch_normalize_vjp(v["y"], v["g"], v["gamma"], v["eps"]) ** 2)),
            rhs=rhs,
            lhs_exact=lambda v: mpmath.fsum(
                d**2 for d in mp_batch_norm_vjp(v["y"], v["g"], float(v["gamma"]), float(v["eps"]))
            ),
            valid=lambda v: v["y"].var() + v["eps"] >= 1e-12,
            allowance=lambda v: _ALLOWANCE * v["gamma"] ** 2 / (v["y"].var() + v["eps"]) * (v["g"] @ v["g"]),
            starts=starts,
            equality=equality,
            what="||grad_y L_hat||^2 / rhs",
        )

    return {f"m={m}": spec(m) for m in ctx.by_size(quick=(3, 5), default=(3, 4, 6, 9))}


gradient_magnitude = register(
    "santurkar2018.thm4_1",
    proof="santurkar2018_bounds.py",
    title="Theorem 4.1: BN bounds the gradient magnitude (Lipschitzness of the loss)",
    citation=CITATION.format("Theorem 4.1"),
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
        "THEORY.md §2.4: form [S], constant 1/m [D]. A 1/sqrt(m) rendering of the last coefficient circulates; it is "
        "false for m > 2 and is the negative control. Whether the paper prints 1/m or 1/sqrt(m) is NOT confirmed."
    ),
)


@gradient_magnitude.symbolic("SymPy: ||J^T g||^2 exact value (any eps) and the inequality step, m = 2..4")
def _(ctx: Context) -> Outcome:
    sizes = (2, 3) if (ctx.size == "quick") else (2, 3, 4)
    return exact(sum(residuals(gradient_norm_steps(m)) for m in sizes), f"m = {', '.join(map(str, sizes))}")


def _mlp(rng: np.random.Generator, m: int, d: int, k: int):
    """A random network X -> W -> BN(eps) -> tanh -> V -> MSE, in torch (float64), and its instance data."""
    X = rng.normal(size=(m, d)) * rng.uniform(0.5, 2)
    W = rng.normal(size=(d, k))
    gamma = rng.uniform(0.5, 2, k) * rng.choice([-1, 1], k)
    beta = rng.normal(size=k)
    V = rng.normal(size=(k, 3))
    target = rng.normal(size=(m, 3))
    return X, W, gamma, beta, V, target


def _network_grads(inst, eps: float):
    """y, z-gradient g, y-gradient and W-gradient of the random network, all by autograd."""
    import torch

    X, W, gamma, beta, V, target = (torch.from_numpy(np.asarray(a, np.float64)) for a in inst)
    W = W.clone().requires_grad_(True)
    y = X @ W
    y.retain_grad()
    z = gamma * torch_normalize(y.T, eps).T + beta
    z.retain_grad()
    loss = ((torch.tanh(z) @ V - target) ** 2).mean()
    loss.backward()
    return y.detach().numpy(), z.grad.numpy(), y.grad.numpy(), W.grad.numpy()


@gradient_magnitude.numeric(
    "random tanh networks with MSE loss: autograd ||grad_y||^2 vs rhs per unit", needs=("torch",)
)
def _(ctx: Context) -> Outcome:
    rng = ctx.rng("santurkar2018.thm4_1.networks", shared=True)
    worst_eq, worst_ratio = 0.0, 0.0
    for _ in range(3 if (ctx.size == "quick") else 10):
        inst = _mlp(rng, m=int(rng.integers(3, 12)), d=4, k=3)
        for eps in (0.0, 1e-3, 0.5):
            y, g, dy, _ = _network_grads(inst, eps)
            rhs = to_numpy(
                lipschitz.gradient_norm_bound(
                    asarray(g.T, ctx.xp), asarray(y.T, ctx.xp), asarray(inst[2], ctx.xp), eps=eps
                )
            )
            ratios = np.sum(dy * dy, axis=0) / rhs
            worst_ratio = max(worst_ratio, float(np.max(ratios)))
            if eps == 0.0:
                worst_eq = max(worst_eq, float(np.max(np.abs(ratios - 1))))
    detail = f"eps = 0: max |ratio - 1| = {worst_eq:.2g} (an equality); eps > 0: max ratio {worst_ratio:.12g}"
    return at_most(max(worst_eq, worst_ratio - 1), 1e-10, detail)


@gradient_magnitude.numeric(
    "worst-case search (random + adversarial + Nelder-Mead), refined in mpmath", needs=("torch",)
)
def _(ctx: Context) -> Outcome:
    return attack_family(_thm4_1(ctx, lambda m: 1 / m), ctx)


@gradient_magnitude.negative_control("the circulating 1/sqrt(m) coefficient on the last term", needs=("torch",))
def _(ctx: Context) -> Outcome:
    return attack_family(_thm4_1(ctx, lambda m: 1 / np.sqrt(m)), ctx)


# --- Theorem 4.2: the Hessian quadratic form ----------------------------------------------------------


def _unpack_42(p: np.ndarray, m: int):
    y, a = p[:m], p[m : 2 * m]
    k = 2 * m + m * (m + 1) // 2
    Q = np.zeros((m, m))
    Q[np.triu_indices(m)] = p[2 * m : k]
    Q = Q + np.triu(Q, 1).T
    return y, a, Q, p[k : k + m], p[k + m]


def _downstream_42(a, Q, c):
    """F(z) = a.z + z^T Q z / 2 + sum c sin z in torch, and its gradient and Hessian in NumPy."""
    import torch

    at, Qt, ct = (torch.from_numpy(np.asarray(v, np.float64)) for v in (a, Q, c))

    def F(z):
        return z @ at + 0.5 * z @ Qt @ z + (ct * torch.sin(z)).sum()

    return F, (lambda z: a + Q @ z + c * np.cos(z)), (lambda z: Q - np.diag(c * np.sin(z)))


def _terms_42(v, H, g, y, gamma):
    """The two terms A, B of the right side A - B (for the scale of the ratio and the sign-flip control)."""
    sigma2 = y.var()
    y_hat = (y - y.mean()) / np.sqrt(sigma2)
    return gamma**2 / sigma2 * (v @ H @ v), gamma / (y.size * sigma2) * (g @ y_hat) * (v @ v)


def _lhs_42(y, gamma, F):
    """V = grad_y L_hat and v^T (d^2 L_hat / dy^2) v by autograd double-backward, at eps = 0."""
    import torch

    t = torch.tensor(y, dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(F(gamma * torch_normalize(t, 0.0)), t, create_graph=True)
    v = grad.detach()
    (hv,) = torch.autograd.grad(grad @ v, t)
    return v.numpy(), float(hv @ v)


def _search_42(ctx: Context, key: str, flip_sign: bool) -> Outcome:
    rng = ctx.rng(key, shared=True)
    found = []
    for m in (3, 5) if (ctx.size == "quick") else (3, 4, 6):
        n = 3 * m + m * (m + 1) // 2 + 1

        def sample(rng, n=n, m=m):
            p = rng.normal(size=n)
            p[:m] = _draw_batch(rng, m)
            p[-1] = rng.uniform(0.3, 3) * rng.choice([-1, 1])
            return p

        def ratio(p, m=m):
            y, a, Q, c, gamma = _unpack_42(p, m)
            if y.var() < 1e-8:
                return np.nan
            F, grad_F, hess_F = _downstream_42(a, Q, c)
            v, lhs = _lhs_42(y, gamma, F)
            z = gamma * (y - y.mean()) / y.std()
            g, H = grad_F(z), hess_F(z)
            A, B = _terms_42(v, H, g, y, gamma)
            xp = ctx.xp
            rhs = float(to_numpy(lipschitz.hessian_form_bound(*(asarray(u, xp) for u in (v, H, g, y)), gamma)))
            if flip_sign:
                rhs = A + B
            return normalized_ratio(lhs, rhs, abs(A) + abs(B) + _ALLOWANCE * (abs(lhs) + abs(A) + abs(B)))

        def refine(p, m=m):
            y, a, Q, c, gamma = _unpack_42(p, m)
            with mpmath.workdps(60):

                def F(z):
                    return (
                        mpmath.fsum(ai * zi for ai, zi in zip(a, z, strict=True))
                        + mpmath.fsum(Q[i, j] * z[i] * z[j] for i in range(m) for j in range(m)) / 2
                        + mpmath.fsum(ci * mpmath.sin(zi) for ci, zi in zip(c, z, strict=True))
                    )

                def L_hat(u):
                    return F(mp_batch_norm(u, gamma, 0, 0))

                v = mp_central_gradient(L_hat, y, dps=60)
                lhs = mp_second_directional(L_hat, y, v)
                z = mp_batch_norm(y, gamma, 0, 0)
                g = [a[i] + mpmath.fsum(Q[i, j] * z[j] for j in range(m)) + c[i] * mpmath.cos(z[i]) for i in range(m)]
                H = [[Q[i, j] - (c[i] * mpmath.sin(z[i]) if i == j else 0) for j in range(m)] for i in range(m)]
                ym = [mpmath.mpf(u) for u in y]
                mu = mpmath.fsum(ym) / m
                var = mpmath.fsum((u - mu) ** 2 for u in ym) / m
                y_hat = [(u - mu) / mpmath.sqrt(var) for u in ym]
                A = (
                    mpmath.mpf(gamma) ** 2
                    / var
                    * mpmath.fsum(v[i] * H[i][j] * v[j] for i in range(m) for j in range(m))
                )
                B = (
                    mpmath.mpf(gamma)
                    / (m * var)
                    * mpmath.fsum(gi * h for gi, h in zip(g, y_hat, strict=True))
                    * mpmath.fsum(u * u for u in v)
                )
                rhs = A + B if flip_sign else A - B
                return float(normalized_ratio(lhs, rhs, abs(A) + abs(B)))

        found.append((f"m={m}", worst_case(ratio, sample, rng, refine=refine, **_budget(ctx))))
    return _report(found, "normalized v^T Hess v / rhs")


hessian_form = register(
    "santurkar2018.thm4_2",
    proof="santurkar2018_bounds.py",
    title="Theorem 4.2: BN's effect on smoothness (Hessian quadratic form along the gradient)",
    citation=CITATION.format("Theorem 4.2"),
    tag="D",
    statement=(
        r"v^\top\frac{\partial^2\hat{\mathcal L}}{\partial y_j\partial y_j}v\le"
        r"\frac{\gamma^2}{\sigma_j^2}v^\top H_{jj}v"
        r"-\frac{\gamma}{m\sigma_j^2}\langle g_j,\hat y_j\rangle\|v\|^2,\quad v=\nabla_{y_j}\hat{\mathcal L}"
    ),
    assumptions=(
        "epsilon = 0",
        "gamma, beta constants; sigma_j > 0",
        "H_jj, g_j: Hessian and gradient at the BN output",
    ),
    notes=(
        "THEORY.md §2.5: form [S]; with eps = 0 the statement is an exact identity [D] (the paper calls it a bound). "
        "Sides change sign, so the ratio is 1 + (lhs - rhs)/(|A| + |B|) with A, B the two terms. The paper's second, "
        "conditional form ('if H preserves relative norms') is informal and is not tested."
    ),
)


@hessian_form.symbolic(
    "SymPy: constant mean, sigma(t)^2 = sigma^2 + t^2|v|^2/m, y_hat'' = -y_hat|v|^2/(m sigma^2), m = 3..6"
)
def _(ctx: Context) -> Outcome:
    sizes = (3, 4) if (ctx.size == "quick") else (3, 4, 5, 6)
    return exact(sum(residuals(hessian_form_steps(m)) for m in sizes), f"m = {', '.join(map(str, sizes))}")


@hessian_form.numeric("random tanh networks: autograd double-backward v^T Hess_yj v vs rhs per unit", needs=("torch",))
def _(ctx: Context) -> Outcome:
    import torch

    rng = ctx.rng("santurkar2018.thm4_2.networks", shared=True)
    worst = 0.0
    for _ in range(2 if (ctx.size == "quick") else 6):
        m = int(rng.integers(3, 10))
        X, W, gamma, beta, V, target = _mlp(rng, m=m, d=4, k=3)
        Vt, Tt, gt, bt = (torch.from_numpy(a) for a in (V, target, gamma, beta))

        def downstream(z, Vt=Vt, Tt=Tt):
            return ((torch.tanh(z) @ Vt - Tt) ** 2).mean()

        y = torch.from_numpy(X @ W).requires_grad_(True)
        z = gt * torch_normalize(y.T, 0.0).T + bt
        (grad_y,) = torch.autograd.grad(downstream(z), y, create_graph=True)
        z0 = z.detach()
        g = torch.autograd.grad(downstream(z0.requires_grad_(True)), z0)[0].numpy()
        for j in range(3):
            mask = torch.zeros_like(y)
            mask[:, j] = grad_y[:, j].detach()
            (hv,) = torch.autograd.grad((grad_y * mask).sum(), y, retain_graph=True)
            lhs = float((hv * mask).sum())

            def unit(zj, j=j, z0=z0, downstream=downstream):
                return downstream(torch.cat([z0[:, :j], zj[:, None], z0[:, j + 1 :]], dim=1))

            H = torch.autograd.functional.hessian(unit, z0[:, j].clone()).numpy()
            v, yj = mask[:, j].numpy(), y.detach().numpy()[:, j]
            rhs = float(
                to_numpy(lipschitz.hessian_form_bound(*(asarray(u, ctx.xp) for u in (v, H, g[:, j], yj)), gamma[j]))
            )
            A, B = _terms_42(v, H, g[:, j], yj, gamma[j])
            worst = max(worst, abs(lhs - rhs) / (abs(A) + abs(B)))
    return at_most(worst, 1e-10, "eps = 0: |lhs - rhs| / (|A| + |B|), an identity")


@hessian_form.numeric(
    "worst-case search over batches, downstream F and gamma, refined in mpmath (60 digits)", needs=("torch",)
)
def _(ctx: Context) -> Outcome:
    return _search_42(ctx, "santurkar2018.thm4_2.search", flip_sign=False)


@hessian_form.negative_control("flip the sign of the second term", needs=("torch",))
def _(ctx: Context) -> Outcome:
    return _search_42(ctx, "santurkar2018.thm4_2.search", flip_sign=True)


# --- Observation 4.3: BN can represent the identity ---------------------------------------------------

rescaling = register(
    "santurkar2018.obs4_3",
    proof="santurkar2018_bounds.py",
    title="Observation 4.3: BN does more than rescaling (gamma = sigma, beta = mu reproduce the input)",
    citation=CITATION.format("Observation 4.3"),
    tag="S",
    statement=r"\gamma_j=\sigma_j,\ \beta_j=\mu_j\ \Rightarrow\ z_j=\sigma_j\hat y_j+\mu_j\mathbf 1=y_j",
    assumptions=("epsilon = 0", "sigma_j the biased batch standard deviation, > 0"),
    notes="THEORY.md §2.6 [S]: every minimum of the non-BN landscape is attained in the BN landscape.",
)


@rescaling.symbolic("SymPy: sigma (symbolic square root) * y_hat + mu = y, m = 2..5")
def _(ctx: Context) -> Outcome:
    sizes = (2, 3) if (ctx.size == "quick") else (2, 3, 4, 5)
    return exact(sum(residuals(scale_shift_steps(m)) for m in sizes), f"m = {', '.join(map(str, sizes))}")


def _identity_error(ctx: Context, ddof: int) -> Outcome:
    rng = ctx.rng("santurkar2018.obs4_3", shared=True)
    worst = 0.0
    for shape in [(2, 3), (7, 4), (32, 5)]:
        y = rng.normal(rng.uniform(-3, 3), rng.uniform(0.5, 3), shape)
        z, _ = transform.forward(*(asarray(a, ctx.xp) for a in (y, y.std(axis=0, ddof=ddof), y.mean(axis=0))), eps=0.0)
        worst = max(worst, max_relative_error(to_numpy(z), y))
    return at_most(worst, RTOL, "transform.forward(y, gamma=sigma, beta=mu, eps=0) vs y itself, m = 2, 7, 32")


@rescaling.numeric("transform.forward with gamma = sigma, beta = mu returns its input")
def _(ctx: Context) -> Outcome:
    return _identity_error(ctx, ddof=0)


@rescaling.negative_control("gamma = the unbiased sigma")
def _(ctx: Context) -> Outcome:
    return _identity_error(ctx, ddof=1)


# --- Theorem 4.4: weight-space Lipschitzness ----------------------------------------------------------


def _unpack_44(p: np.ndarray, m: int, d: int):
    X = p[: m * d].reshape(m, d)
    k = m * d
    return X, p[k : k + d], p[k + d : k + d + m], p[k + d + m : k + d + 2 * m], p[-2], p[-1] ** 2


def _search_44(ctx: Context, key: str, frobenius: bool) -> Outcome:
    import torch

    rng = ctx.rng(key, shared=True)
    found = []
    for m, d in ((4, 3), (6, 2)) if (ctx.size == "quick") else ((3, 2), (5, 3), (8, 4)):

        def lhs_and_g(X, w, a, c, gamma, eps):
            W = torch.tensor(w, requires_grad=True)
            y = torch.from_numpy(X) @ W
            z = gamma * torch_normalize(y, eps)
            at, ct = torch.from_numpy(a), torch.from_numpy(c)
            (grad,) = torch.autograd.grad(z @ at + (ct * torch.sin(z)).sum(), W)
            zn = z.detach().numpy()
            return float(grad @ grad), a + c * np.cos(zn), y.detach().numpy()

        def ratio(p, m=m, d=d):
            X, w, a, c, gamma, eps = _unpack_44(p, m, d)
            lhs, g, y = lhs_and_g(X, w, a, c, gamma, eps)
            if y.var() + eps < 1e-10:
                return np.nan
            lam = np.linalg.norm(X, 2)
            xp = ctx.xp
            rhs = float(to_numpy(lipschitz.weight_gradient_bound(asarray(g, xp), asarray(y, xp), gamma, lam, eps=eps)))
            if frobenius:
                rhs *= np.sum(X * X) / m / lam**2
            return normalized_ratio(lhs, rhs + _ALLOWANCE * lam**2 * gamma**2 / (y.var() + eps) * (g @ g))

        def sample(rng, m=m, d=d):
            return np.r_[
                rng.normal(size=m * d) * rng.uniform(0.3, 3),
                rng.normal(size=d),
                rng.normal(size=2 * m),
                rng.normal() * 2,
                0.0 if rng.random() < 0.5 else rng.uniform(0, 1),
            ]

        def aligned_start(rng, m=m, d=d):
            # Equality needs X's top singular direction along grad_y L_hat: with W = e_1 the batch is
            # y = X[:, 0], and a large second column along grad_y makes ||X^T grad_y|| ~ ||X||_2 ||grad_y||.
            u, a, c = _draw_batch(rng, m), rng.normal(size=m), rng.normal(size=m)
            grad_y, _ = _torch_grad_y(
                u, 1.0, 0.0, lambda z: z @ torch.from_numpy(a) + (torch.from_numpy(c) * torch.sin(z)).sum()
            )
            X = np.zeros((m, d))
            X[:, 0], X[:, 1] = u, 1e3 * grad_y / np.linalg.norm(grad_y)
            return np.r_[X.ravel(), np.eye(d)[0], a, c, 1.0, 0.0]

        def refine(p, m=m, d=d):
            X, w, a, c, gamma, eps = _unpack_44(p, m, d)
            with mpmath.workdps(50):

                def L_hat(wv):
                    y = [mpmath.fsum(X[i, k] * wv[k] for k in range(d)) for i in range(m)]
                    z = mp_batch_norm(y, gamma, 0, eps)
                    return mpmath.fsum(ai * zi + ci * mpmath.sin(zi) for ai, zi, ci in zip(a, z, c, strict=True))

                grad = mp_central_gradient(L_hat, w)
                y = [mpmath.fsum(mpmath.mpf(X[i, k]) * w[k] for k in range(d)) for i in range(m)]
                z = mp_batch_norm(y, gamma, 0, eps)
                g = [ai + ci * mpmath.cos(zi) for ai, zi, ci in zip(a, z, c, strict=True)]
                XtX = mpmath.matrix(X.T.tolist()) * mpmath.matrix(X.tolist())
                lam2 = max(mpmath.eigsy(XtX)[0])
                lhs = mpmath.fsum(mpmath.mpf(v) ** 2 for v in grad)
                rhs = lam2 * _mp_gradient_norm_rhs(g, y, gamma, eps)
                if frobenius:
                    rhs *= mpmath.fsum(mpmath.mpf(v) ** 2 for v in X.ravel()) / m / lam2
                return float(normalized_ratio(lhs, rhs)) if rhs > 0 else np.nan

        starts = [aligned_start(rng) for _ in range(2)]
        found.append((f"m={m},d={d}", worst_case(ratio, sample, rng, starts=starts, refine=refine, **_budget(ctx))))
    return _report(found, "||grad_W L_hat||^2 / rhs")


weight_space = register(
    "santurkar2018.thm4_4",
    proof="santurkar2018_bounds.py",
    title="Theorem 4.4: weight-space Lipschitzness (checkable pointwise form)",
    citation=CITATION.format("Theorem 4.4"),
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
        "(g_j is already a squared norm, "
        "lambda^2 multiplies one term only); it is NOT tested. The pointwise form is [D]; equality is approached when "
        "X's top singular vector is aligned with grad_y L_hat (the search starts from such X)."
    ),
)


@weight_space.symbolic("SymPy: grad_W = X^T grad_y ((m, d) = (3, 2), (2, 3)); equality at X = lambda u w^T/||u||")
def _(ctx: Context) -> Outcome:
    sizes = ((3, 2),) if (ctx.size == "quick") else ((3, 2), (2, 3))
    return exact(sum(residuals(weight_space_steps(m, d)) for m, d in sizes), f"(m, d) = {sizes}")


@weight_space.numeric("random tanh networks: autograd ||grad_W_j||^2 <= rhs with lambda = ||X||_2", needs=("torch",))
def _(ctx: Context) -> Outcome:
    rng = ctx.rng("santurkar2018.thm4_4.networks", shared=True)
    worst = 0.0
    for _ in range(3 if (ctx.size == "quick") else 10):
        inst = _mlp(rng, m=int(rng.integers(3, 12)), d=4, k=3)
        for eps in (0.0, 1e-3):
            y, g, _, dW = _network_grads(inst, eps)
            rhs = to_numpy(
                lipschitz.weight_gradient_bound(
                    asarray(g.T, ctx.xp),
                    asarray(y.T, ctx.xp),
                    asarray(inst[2], ctx.xp),
                    float(np.linalg.norm(inst[0], 2)),
                    eps=eps,
                )
            )
            worst = max(worst, float(np.max(np.sum(dW * dW, axis=0) / rhs)))
    return at_most(worst, 1 + RATIO_TOL, f"max ratio {worst:.6g} over units, eps in {{0, 1e-3}}")


@weight_space.numeric("worst-case search over X, W_j, downstream F, gamma, eps; refined in mpmath", needs=("torch",))
def _(ctx: Context) -> Outcome:
    return _search_44(ctx, "santurkar2018.thm4_4.search", frobenius=False)


@weight_space.negative_control("||X||_F = lambda with lambda^2/m in place of lambda^2", needs=("torch",))
def _(ctx: Context) -> Outcome:
    return _search_44(ctx, "santurkar2018.thm4_4.search", frobenius=True)


# --- Lemma 4.5: favourable initialization --------------------------------------------------------------


def _ray_distance(w0: np.ndarray, ws: np.ndarray) -> tuple[float, float]:
    """Inf over c > 0 of ||w0 - c ws||^2 by bounded Brent minimisation (the oracle), and the minimiser."""
    upper = 2 * np.linalg.norm(w0) / np.linalg.norm(ws)
    res = scipy.optimize.minimize_scalar(
        lambda c: np.sum((w0 - c * ws) ** 2), bounds=(0.0, upper), method="bounded", options={"xatol": 1e-13 * upper}
    )
    return float(res.fun), float(res.x)


def _mp_ray_distance(w0: np.ndarray, ws: np.ndarray, c0: float):
    """The same infimum at 50 digits: Newton on the mpmath derivative from the float64 minimiser, clipped at c = 0."""
    with mpmath.workdps(50):
        a, b = [mpmath.mpf(v) for v in w0], [mpmath.mpf(v) for v in ws]

        def f(c):
            return mpmath.fsum((ai - c * bi) ** 2 for ai, bi in zip(a, b, strict=True))

        c = mpmath.findroot(lambda t: mpmath.diff(f, t), mpmath.mpf(c0))
        return f(c) if c > 0 else f(0)


def _search_45(ctx: Context, key: str, sign: int) -> Outcome:
    """Worst case of Lemma 4.5 over pairs with sign(<W0, W*>) = `sign` (+1: the assumption; -1: violated)."""
    rng = ctx.rng(key, shared=True)
    found = []
    for d in (3, 8) if (ctx.size == "quick") else (2, 5, 20):

        def ratio(p, d=d):
            w0, ws = p[:d], p[d:]
            if sign * (w0 @ ws) <= 0 or ws @ ws < 1e-12:
                return np.nan
            lhs, _ = _ray_distance(w0, ws)
            rhs = float(to_numpy(lipschitz.rescaling_distance_bound(asarray(w0, ctx.xp), asarray(ws, ctx.xp))))
            return normalized_ratio(lhs, rhs + _ALLOWANCE * (w0 @ w0))

        def sample(rng, d=d):
            w0, ws = rng.normal(size=d), rng.normal(size=d) * rng.uniform(0.1, 10)
            return np.r_[w0, ws if sign * (w0 @ ws) > 0 else -ws]

        def refine(p, d=d):
            w0, ws = p[:d], p[d:]
            _, c0 = _ray_distance(w0, ws)
            lhs = _mp_ray_distance(w0, ws, c0)
            fw0, fws = (np.array([Fraction(float(v)) for v in u]) for u in (w0, ws))
            rhs = Fraction(np.sum((fw0 - fws) ** 2)) - (np.sum(fws * fws) - np.sum(fws * fw0)) ** 2 / np.sum(fws * fws)
            with mpmath.workdps(50):
                return float(normalized_ratio(lhs, mpmath.mpf(rhs.numerator) / rhs.denominator)) if rhs > 0 else np.nan

        parallel = np.r_[np.ones(d), sign * np.ones(d) * 3] + 1e-4 * rng.normal(size=2 * d)
        found.append((f"d={d}", worst_case(ratio, sample, rng, starts=[parallel], refine=refine, **_budget(ctx))))
    return _report(found, "||W0 - W_hat*||^2 / rhs")


initialization = register(
    "santurkar2018.lemma4_5",
    proof="santurkar2018_bounds.py",
    title="Lemma 4.5: BN leads to a favourable initialization",
    citation=CITATION.format("Lemma 4.5"),
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
        "with equality for W_hat* on the ray. The control violates <W0, W*> > 0, where the infimum over c > 0 is "
        "||W0||^2 (c -> 0+) and exceeds the right side."
    ),
)


@initialization.symbolic("SymPy: argmin_c ||W0 - c W*||^2 = <W*,W0>/||W*||^2 and the minimum = rhs, d = 2..4")
def _(ctx: Context) -> Outcome:
    sizes = (2, 3) if (ctx.size == "quick") else (2, 3, 4)
    return exact(sum(residuals(rescaling_steps(d)) for d in sizes), f"d = {', '.join(map(str, sizes))}")


@initialization.numeric("BN network loss invariant under W -> cW, c > 0 (transform.forward, eps = 0)")
def _(ctx: Context) -> Outcome:
    rng = ctx.rng("santurkar2018.lemma4_5.invariance", shared=True)
    worst = 0.0
    X, W = rng.normal(size=(16, 5)), rng.normal(size=(5, 4))
    ones, zeros = np.ones(4), np.zeros(4)
    base = to_numpy(transform.forward(*(asarray(a, ctx.xp) for a in (X @ W, ones, zeros)), eps=0.0)[0])
    for c in (1e-3, 0.5, 7.0, 1e4):
        out = to_numpy(transform.forward(*(asarray(a, ctx.xp) for a in (X @ (c * W), ones, zeros)), eps=0.0)[0])
        worst = max(worst, max_relative_error(out, base))
    return at_most(worst, RTOL, "BN(X (cW)) vs BN(X W), c in {1e-3, 0.5, 7, 1e4}")


@initialization.numeric("worst-case search, lhs by Brent over c > 0, refined by 50-digit Newton and exact rhs")
def _(ctx: Context) -> Outcome:
    return _search_45(ctx, "santurkar2018.lemma4_5.search", sign=1)


@initialization.negative_control("violate the assumption: <W0, W*> < 0")
def _(ctx: Context) -> Outcome:
    return _search_45(ctx, "santurkar2018.lemma4_5.search", sign=-1)
