r"""Santurkar et al. 2018: the Jacobian of training-mode BN, its spectrum, and its dependence on epsilon.

S. Santurkar, D. Tsipras, A. Ilyas and A. Madry, "How does batch normalization help optimization?",
NeurIPS 2018, arXiv:1805.11604, §4 and Fact C.1 (THEORY.md §2.3, pitfalls §8). Derivation:
``proofs/santurkar2018_jacobian.py``.

Under test: :func:`bntheory.landscape.jacobian.bn_jacobian`,
:func:`~bntheory.landscape.jacobian.bn_jacobian_eigenvalues` and
:func:`~bntheory.landscape.jacobian.jacobian_deviation`, on the backend of the run. The reference is the Jacobian of
Algorithm 1 by 50-digit central differences (:func:`bntheory.checks.oracles.mp.mp_jacobian`), never the closed form.
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from bntheory.backend import to_numpy
from bntheory.checks.compare import Outcome, Worst, at_most, exact, within
from bntheory.checks.instances.landscape import draw_batch
from bntheory.checks.oracles.mp import mp_jacobian, mp_jacobian_difference, mp_to_numpy
from bntheory.checks.tolerances import CLOSED_FORM, EQUALITY_REACH, RATIO_SLACK
from bntheory.context import Context
from bntheory.landscape.jacobian import bn_jacobian, bn_jacobian_eigenvalues, jacobian_deviation
from bntheory.registry import ARRAY, paper
from bntheory.symbolic.jacobian import rational_jacobian

SANTURKAR2018 = paper("santurkar2018", citation="Santurkar et al. 2018", arxiv="1805.11604")


def _jacobian_error(ctx: Context, impl, eps_values: tuple[float, ...]) -> Outcome:
    """Largest error of `impl(x, gamma, eps)` against the mpmath Jacobian, relative to gamma / s."""
    rng = ctx.rng("santurkar2018.bn_jacobian", shared=True)
    sizes = ctx.by_size(quick=(2, 3, 6), default=(2, 3, 4, 6, 9))
    err = Worst()
    for m in sizes:
        for eps in eps_values:
            x = np.stack([draw_batch(rng, m) for _ in range(2)], axis=1)
            gamma = rng.uniform(0.5, 2, 2) * rng.choice([-1, 1], 2)
            J = to_numpy(impl(ctx.asarray(x), ctx.asarray(gamma), eps))
            for c in range(2):
                # Relative to gamma/s, the Jacobian's natural scale: at m = 2 and eps = 0 the true Jacobian
                # is exactly 0 and an entry-relative error would only measure rounding (THEORY.md §8).
                scale = abs(gamma[c]) / np.sqrt(x[:, c].var() + eps)
                ref = mp_to_numpy(mp_jacobian(x[:, c], gamma[c], eps))
                err.add(np.max(np.abs(J[c] - ref)) / scale, f"m = {m}, eps = {eps}")
    return at_most(
        float(err),
        CLOSED_FORM.value,
        f"m in {sizes}, 2 channels, eps in {eps_values}, vs mpmath (50 digits), error / (|gamma|/s); "
        f"worst at {err.where}",
    )


def _spectrum_error(ctx: Context, eps_values: tuple[float, ...], factor=lambda m: 1.0) -> Outcome:
    """The mpmath Jacobian against bn_jacobian_eigenvalues (times `factor(m)`, 1 for the claim).

    Compares: symmetry; J 1 = lambda_1 1 and J y_hat = lambda_2 y_hat with the library's first two eigenvalues;
    the sorted eigenvalues (numpy eigvalsh) with the library's. All relative to |gamma| / s.
    """
    rng = ctx.rng("santurkar2018.bn_jacobian_spectrum", shared=True)
    err = Worst()
    for m in ctx.by_size(quick=(3, 5), default=(3, 4, 6, 8)):
        for eps in eps_values:
            x = draw_batch(rng, m)
            gamma = rng.uniform(0.5, 2) * rng.choice([-1, 1])
            J = mp_to_numpy(mp_jacobian(x, gamma, eps))
            claimed = (
                factor(m) * to_numpy(bn_jacobian_eigenvalues(ctx.asarray(x[:, None]), ctx.asarray([gamma]), eps=eps))[0]
            )
            s = np.sqrt(x.var() + eps)
            y_hat, scale = (x - x.mean()) / s, abs(gamma) / s
            where = f"m = {m}, eps = {eps}"
            err.add(np.max(np.abs(J - J.T)) / scale, where)
            err.add(np.max(np.abs(J @ np.ones(m) - claimed[0])) / scale, where)
            err.add(np.max(np.abs(J @ y_hat - claimed[1] * y_hat)) / (scale * np.sqrt(m)), where)
            err.add(np.max(np.abs(np.linalg.eigvalsh((J + J.T) / 2) - np.sort(claimed))) / scale, where)
    return at_most(
        float(err),
        CLOSED_FORM.value,
        "mpmath FD Jacobian vs bn_jacobian_eigenvalues: asymmetry, |J 1 - l_1 1|, |J y_hat - l_2 y_hat|, sorted "
        f"eigenvalues, / (|gamma|/s), eps in {eps_values}; worst at {err.where}",
    )


def _deviations(ctx: Context) -> list[tuple[float, float, float, float]]:
    """(sigma, gamma, eps, ||J_eps - J_0||_2) with the difference taken at 50 digits, eps / sigma^2 in 4 regimes.

    eps / sigma^2 = 1e-12 (where the bound is tight to first order), 0.3 (eps < sigma s: the y_hat eigenvalue
    decides the norm), 5 and 30 (eps > sigma s: the {1, y_hat}^perp eigenvalue decides it).
    """
    rng = ctx.rng("deviation")
    out = []
    for m in (3, 6):
        for relative in (1e-12, 0.3, 5.0, 30.0):
            x = draw_batch(rng, m)
            sigma, gamma = float(x.std()), float(rng.uniform(0.5, 2) * rng.choice([-1, 1]))
            eps = relative * sigma**2
            out.append((sigma, gamma, eps, float(np.linalg.norm(mp_jacobian_difference(x, gamma, eps, 0.0), 2))))
    return out


def _rational(ctx: Context, m: int):
    """The Jacobian of Algorithm 1 for a batch of `m` in exact rational arithmetic (eps = s^2 - sigma^2 eliminated).

    Derived once per process for the three results below.
    """
    return ctx.memo(f"santurkar2018.symbolic_jacobian/{m}/rational", lambda inner: rational_jacobian(m))


bn_jacobian_form = SANTURKAR2018.result(
    "bn_jacobian",
    proof="santurkar2018_jacobian.py",
    title="The BN Jacobian is (gamma/sigma) times a projector",
    where="§4 and Fact C.1",
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
    under_test=("bntheory.landscape.jacobian.bn_jacobian",),
)


@bn_jacobian_form.symbolic("SymPy d(y_i)/d(x_j) of Algorithm 1 = closed form, m = 2..6 (any eps, so eps = 0)")
def _(ctx: Context) -> Outcome:
    sizes = ctx.by_size(quick=(2, 3), default=(2, 3, 4, 5, 6))
    fails = 0
    for m in sizes:
        r = _rational(ctx, m)  # exact in Q(s, x, delta, gamma, beta), eps = s^2 - sigma^2
        fails += not r.is_zero(r.J - r.closed_form)
    return exact(fails, f"m = {', '.join(map(str, sizes))}")


@bn_jacobian_form.numeric("bn_jacobian (eps = 0) vs mpmath central differences of Algorithm 1", backends=ARRAY)
def _(ctx: Context) -> Outcome:
    return _jacobian_error(ctx, lambda x, g, eps: bn_jacobian(x, g, eps=eps), (0.0,))


@bn_jacobian_form.negative_control(
    "treat the batch mean and variance as constants: J = (gamma/sigma) I", backends=ARRAY
)
def _(ctx: Context) -> Outcome:
    def frozen(x, gamma, eps):
        xp = ctx.xp
        centered = x - xp.mean(x, axis=0, keepdims=True)
        s = xp.sqrt(xp.mean(centered * centered, axis=0) + eps)
        return (gamma / s)[:, None, None] * xp.eye(x.shape[0], dtype=x.dtype)[None, :, :]

    return _jacobian_error(ctx, frozen, (0.0,))


bn_jacobian_spectrum = SANTURKAR2018.result(
    "bn_jacobian_spectrum",
    proof="santurkar2018_jacobian.py",
    title="The BN Jacobian is symmetric, kills 1 and y_hat, and has eigenvalue gamma/sigma (m-2 times)",
    where="§4 and Fact C.1",
    tag="D",
    statement=(
        r"J=J^\top,\ J\mathbf 1=0,\ J\hat y=0,\ J^2=\frac{\gamma}{\sigma}J,\ "
        r"\operatorname{tr}J=\frac{\gamma}{\sigma}(m-2)\ \Rightarrow\ "
        r"\operatorname{spec}J=\{0^{(2)},(\gamma/\sigma)^{(m-2)}\},\ \ker J=\operatorname{span}\{\mathbf 1,\hat y\}"
    ),
    assumptions=("epsilon = 0", "m >= 2", "sigma > 0"),
    notes=(
        "THEORY.md §2.3 [D]: (sigma/gamma) J is the orthogonal projector onto {1, y_hat}^perp, rank m-2. The "
        "claimed spectrum is bntheory.landscape.jacobian.bn_jacobian_eigenvalues; the Jacobian it is compared with is "
        "Algorithm 1's by mpmath central differences."
    ),
    under_test=("bntheory.landscape.jacobian.bn_jacobian_eigenvalues",),
)


@bn_jacobian_spectrum.symbolic(
    "SymPy: symmetric, J 1 = 0, J y_hat = 0, tr J (m = 2..6), J^2 = (gamma/sigma) J (m <= 4)"
)
def _(ctx: Context) -> Outcome:
    sizes = ctx.by_size(quick=(2, 3), default=(2, 3, 4, 5, 6))
    fails = 0
    for m in sizes:
        r = _rational(ctx, m)  # r: exact arithmetic in Q(s, x, delta, gamma, beta)
        J, x_hat, s, g, eps = r.J, r.x_hat, r.s, r.gamma, r.eps
        facts = [
            J - J.transpose(),
            J * r.ones,
            # With eps symbolic J y_hat = gamma eps/s^3 y_hat; at eps = 0 this is 0.
            J * x_hat - x_hat * (g * eps / s**3),
            r.trace(J) - g / s * (m - 2 + eps / s**2),
        ]
        if m <= 4:  # J^2 is the costly fact (its cost grows ~3x per m); symmetry, kernel and trace go to m = 6
            facts.append(J * J - J * (g / s) + x_hat * x_hat.transpose() * (g**2 * eps / s**4 / m))
        fails += sum(not r.is_zero(f) for f in facts)
        # The eps = 0 specialisations: the eps terms above vanish identically.
        s, g, eps = sp.Symbol("s", positive=True), sp.Symbol("gamma", real=True), next(iter(r.eliminate))
        fails += sum(sp.simplify(e.subs({eps: 0})) != 0 for e in (g * eps / s**3, g**2 * eps / s**4))
    return exact(fails, f"m = {', '.join(map(str, sizes))}; facts for any eps, specialised to eps = 0")


@bn_jacobian_spectrum.numeric(
    "mpmath FD Jacobian: symmetry, kernel {1, y_hat}, eigenvalues (numpy eigvalsh) vs bn_jacobian_eigenvalues",
    backends=ARRAY,
)
def _(ctx: Context) -> Outcome:
    return _spectrum_error(ctx, (0.0,))


@bn_jacobian_spectrum.negative_control("claim the eigenvalue gamma/sigma with the unbiased sigma", backends=ARRAY)
def _(ctx: Context) -> Outcome:
    # gamma / sigma_unbiased = (gamma / sigma) sqrt((m - 1) / m); the zero eigenvalues stay zero.
    return _spectrum_error(ctx, (0.0,), factor=lambda m: np.sqrt((m - 1) / m))


bn_jacobian_eps = SANTURKAR2018.result(
    "bn_jacobian_eps",
    proof="santurkar2018_jacobian.py",
    title="The BN Jacobian for eps > 0: exact form, spectrum, and its distance to the eps = 0 Jacobian",
    where="§4 (eps = 0 there); extension derived",
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
        "(THEORY.md §8); the control keeps (y - mu)/sigma in the projector and is rejected. The bound on "
        "||J_eps - J_0|| is tight to first order in eps (ratio 1 - 3 eps / (2 sigma^2) + O(eps^2)), which the "
        "check shows at eps / sigma^2 = 1e-12; the exact norm is checked on both sides of eps = sigma s, where "
        "the maximum changes argument."
    ),
    under_test=(
        "bntheory.landscape.jacobian.bn_jacobian",
        "bntheory.landscape.jacobian.bn_jacobian_eigenvalues",
        "bntheory.landscape.jacobian.jacobian_deviation",
    ),
)


@bn_jacobian_eps.symbolic("SymPy: J = closed form with eps-normalized y_hat; eigen-relations; s - sigma identity")
def _(ctx: Context) -> Outcome:
    sizes = ctx.by_size(quick=(3, 4), default=(3, 4, 5))
    fails = 0
    for m in sizes:
        r = _rational(ctx, m)  # r: exact arithmetic in Q(s, x, delta, gamma, beta)
        fails += not r.is_zero(r.J - r.closed_form)
        fails += not r.is_zero(r.J * r.x_hat - r.x_hat * (r.gamma * r.eps / r.s**3))
    # The deviation on {1, y_hat}^perp: 1/sigma - 1/s = eps / (sigma s (sigma + s)) <= eps / (2 sigma^3).
    # Exactly, as the rational identity it is once s = sqrt(sigma^2 + eps) > 0 is a symbol and eps = s^2 - sigma^2.
    sigma, s = sp.symbols("sigma s", positive=True)
    e = s**2 - sigma**2
    fails += sp.cancel(1 / sigma - 1 / s - e / (sigma * s * (sigma + s))) != 0
    return exact(fails, f"m = {', '.join(map(str, sizes))} and the scalar identity for s - sigma")


@bn_jacobian_eps.numeric("bn_jacobian(eps > 0) vs mpmath central differences of Algorithm 1", backends=ARRAY)
def _(ctx: Context) -> Outcome:
    return _jacobian_error(ctx, lambda x, g, eps: bn_jacobian(x, g, eps=eps), (1e-3, 0.5))


@bn_jacobian_eps.numeric(
    "mpmath FD Jacobian (eps > 0) vs bn_jacobian_eigenvalues: 0, gamma eps/s^3, gamma/s", backends=ARRAY
)
def _(ctx: Context) -> Outcome:
    return _spectrum_error(ctx, (1e-3, 0.5))


@bn_jacobian_eps.numeric("||J_eps - J_0||_2 (mpmath, 50 digits) vs jacobian_deviation's exact value")
def _(ctx: Context) -> Outcome:
    err = Worst()
    for sigma, gamma, eps, measured in ctx.memo("santurkar2018.bn_jacobian_eps.deviations", _deviations):
        exact_norm, _ = jacobian_deviation(sigma, gamma, eps)
        err.add(abs(measured - exact_norm) / exact_norm, f"eps / sigma^2 = {eps / sigma**2:.3g}")
    return at_most(
        float(err), CLOSED_FORM.value, f"relative error, eps / sigma^2 in {{1e-12, 0.3, 5, 30}}, worst at {err.where}"
    )


@bn_jacobian_eps.numeric("||J_eps - J_0||_2 / jacobian_deviation's bound: at most 1, reaching 1 as eps -> 0")
def _(ctx: Context) -> Outcome:
    ratios = Worst()
    reach = Worst()  # of the negated ratios at the smallest eps: the lowest ratio where the bound is tight
    for sigma, gamma, eps, measured in ctx.memo("santurkar2018.bn_jacobian_eps.deviations", _deviations):
        _, bound = jacobian_deviation(sigma, gamma, eps)
        ratios.add(measured / bound, f"eps / sigma^2 = {eps / sigma**2:.3g}")
        if eps < 1e-9 * sigma**2:
            reach.add(-measured / bound)
    worst, lowest = float(ratios), -float(reach)
    high = 1 + RATIO_SLACK.value
    return within(
        worst if not worst <= high else lowest,
        1 - EQUALITY_REACH.value,
        high,
        f"max ratio {worst:.15g} (at {ratios.where}); at eps / sigma^2 = 1e-12 the ratio reaches {lowest:.15g}",
    )


@bn_jacobian_eps.negative_control("keep y_hat = (y - mu)/sigma (not eps-normalized) in the projector", backends=ARRAY)
def _(ctx: Context) -> Outcome:
    def unnormalized(x, gamma, eps):
        xp = ctx.xp
        m = x.shape[0]
        centered = x - xp.mean(x, axis=0, keepdims=True)
        var = xp.mean(centered * centered, axis=0)
        y_hat = xp.permute_dims(centered / xp.sqrt(var), (1, 0))
        projector = xp.eye(m, dtype=x.dtype)[None, :, :] - 1.0 / m - y_hat[:, :, None] * y_hat[:, None, :] / m
        return (gamma / xp.sqrt(var + eps))[:, None, None] * projector

    return _jacobian_error(ctx, unnormalized, (1e-3, 0.5))
