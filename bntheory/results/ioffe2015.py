r"""Ioffe & Szegedy 2015: the BN transform, its back-propagation, population statistics, inference, fusion.

S. Ioffe and C. Szegedy, "Batch Normalization: Accelerating Deep Network Training by Reducing Internal
Covariate Shift", ICML 2015, arXiv:1502.03167 (THEORY.md §1.1–§1.4, §1.6).

This module states the results and wires library code (:mod:`bntheory.norms.batch`) to independent oracles
(:mod:`bntheory.checks.oracles`, :mod:`bntheory.checks.oracles.bn_reference`) on instances from
:mod:`bntheory.checks.instances.batches`; it implements nothing of its own beyond the deliberately wrong variants
that the negative controls feed to the same comparisons.
"""

from __future__ import annotations

import mpmath
import numpy as np
import scipy.special
import sympy as sp
from array_api_compat import array_namespace

from bntheory.backend import to_numpy
from bntheory.checks.compare import Outcome, Worst, at_least, at_most, exact, max_relative_error
from bntheory.checks.instances.batches import (
    array_paths,
    bn_batch,
    channel_major,
    gaussian_batches,
    narrow_batch,
    running_statistics,
)
from bntheory.checks.oracles import mp_batch_norm, torch_batch_norm, torch_batch_norm_grads
from bntheory.checks.oracles.bn_reference import (
    direct_conv2d,
    exact_population_stats,
    flat,
    mp_batch_norm_gradients,
    mp_inference,
    torch_eval_batch_norm,
)
from bntheory.checks.tolerances import CLOSED_FORM, FLOAT64_ORACLE
from bntheory.context import Context
from bntheory.norms import batch as transform
from bntheory.norms._layout import channel_shape, reduction_axes, values_per_channel
from bntheory.registry import ARRAY, paper
from bntheory.symbolic.batchnorm import compact_gradient, paper_gradient, residuals, symbolic_batch

IOFFE2015 = paper("ioffe2015", citation="Ioffe & Szegedy 2015", arxiv="1502.03167")
#: Shapes compared with PyTorch, and some past the NumPy kernel's size thresholds (2^14 elements: blocked; 2^18 per
#: block; 2^19: threaded), so each of its paths is checked: MID in one block, LARGE in blocks of several rows, WIDE
#: with rows wider than a block (blocks of one row). WIDE is drawn narrow (mean 1, standard deviation NARROW:
#: mean^2/var = 1e4), where the kernel must take its two-pass path (one-pass sums err by ~1e-11 there); PyTorch,
#: which loses digits there too (its dgamma by ~2e-12), is evaluated at the exactly centred x - 1 (narrow_batch).
SHAPES_TORCH = ((16, 5), (4, 3, 5, 5), (2, 3, 4, 2, 2))
MID = (16, 3, 24, 24)
LARGE = (64, 3, 64, 48)
WIDE = (2, 3, 300, 300)
NARROW = 0.01
#: The epsilon of the checks that fix one (PyTorch's default); the checks against PyTorch call bntheory at its
#: default eps, so that default is compared with PyTorch's.
EPS = 1e-5


# --- Algorithm 1: the training transform ----------------------------------------------------------

bn_transform = IOFFE2015.result(
    "transform",
    proof="ioffe2015_transform.py",
    title="Training-mode BN transform (Algorithm 1)",
    where="Algorithm 1",
    tag="P",
    statement=(
        r"\mu_{\mathcal B}=\frac1m\sum_i x_i,\ \sigma^2_{\mathcal B}=\frac1m\sum_i(x_i-\mu_{\mathcal B})^2,\ "
        r"\hat x_i=\frac{x_i-\mu_{\mathcal B}}{\sqrt{\sigma^2_{\mathcal B}+\epsilon}},\ y_i=\gamma\hat x_i+\beta;"
        r"\quad \sum_i\hat x_i=0,\ \sum_i\hat x_i^2=\frac{m\,\sigma^2_{\mathcal B}}{\sigma^2_{\mathcal B}+\epsilon}"
    ),
    assumptions=(
        "m >= 2 values per channel (all axes but the channel axis)",
        "epsilon >= 0, and sigma^2 > 0 when epsilon = 0",
    ),
    under_test=("bntheory.norms.batch.forward",),
)


@bn_transform.symbolic("SymPy: sum x_hat = 0 and sum x_hat^2 = m sigma^2/(sigma^2+eps), symbolic batch")
def _(ctx: Context) -> Outcome:
    sizes = ctx.by_size(quick=(2, 3), default=(2, 3, 4, 5))
    pairs = []
    for m in sizes:
        b = symbolic_batch(m, rational=True)  # exact fractions in Q(s, x, ...), eps = s^2 - sigma^2
        pairs.append((sum(b.x_hat), 0))
        pairs.append((sum(h**2 for h in b.x_hat), m * b.var / (b.var + b.eps)))
    return exact(residuals(pairs), f"m = {', '.join(map(str, sizes))}")


def _forward_error(ctx: Context, impl) -> Outcome:
    """Largest relative error of `impl`'s ``(y, x_hat)`` against Algorithm 1 evaluated in mpmath at 50 digits."""
    rng = ctx.rng("ioffe2015.transform", shared=True)
    cases = [((2, 3), 0.0), ((3, 4), 1e-5), ((8, 5), 0.1), ((2, 3, 2, 3), 1e-5)]
    cases += ctx.by_size(quick=[], default=[((16, 7), 0.0), ((4, 2, 3, 5, 2), 1e-3)])
    # Last, a batch BN leaves unchanged at eps = 0 (mean 0, variance exactly 1 in float64): the edge of the
    # constant-channel guard, which must refuse var == 0 only.
    x_fixed = np.array([[-1.0, 1.0], [-1.0, -1.0], [1.0, 1.0], [1.0, -1.0]])
    batches = [(*bn_batch(rng, shape), eps) for shape, eps in cases] + [(x_fixed, np.ones(2), np.zeros(2), 0.0)]
    worst = Worst()
    paths = array_paths(ctx)
    for x, gamma, beta, eps in batches:
        shape = x.shape
        with mpmath.workdps(50):
            rows = channel_major(x)
            ref = [[float(v) for v in mp_batch_norm(rows[c], gamma[c], beta[c], eps)] for c in range(shape[1])]
            # x_hat is Algorithm 1 with gamma = 1, beta = 0.
            ref_hat = [[float(v) for v in mp_batch_norm(rows[c], 1, 0, eps)] for c in range(shape[1])]
        for label, asarray in paths:
            y, x_hat = (to_numpy(a) for a in impl(*(asarray(a) for a in (x, gamma, beta)), eps))
            worst.add(max_relative_error(channel_major(y), ref), f"y, shape {shape}, eps {eps}, {label}")
            worst.add(max_relative_error(channel_major(x_hat), ref_hat), f"x_hat, shape {shape}, eps {eps}, {label}")
    detail = (
        f"y and x_hat, {len(batches)} batches, 2-D to 5-D, eps in {{0, 1e-5, 1e-3, 0.1}}, one with var = 1 at eps = 0;"
        f" on {', '.join(label for label, _ in paths)}; worst at {worst.where}"
    )
    return at_most(float(worst), float(CLOSED_FORM), detail)


@bn_transform.numeric("forward and its Cache.x_hat vs Algorithm 1 in mpmath (50 digits)", backends=ARRAY)
def _(ctx: Context) -> Outcome:
    def forward(x, gamma, beta, eps):
        y, cache = transform.forward(x, gamma, beta, eps=eps)
        return y, cache.x_hat

    return _forward_error(ctx, forward)


@bn_transform.numeric(
    "forward vs torch.nn.functional.batch_norm(training=True), float64", needs=("torch",), backends=ARRAY
)
def _(ctx: Context) -> Outcome:
    rng = ctx.rng("ioffe2015.transform.torch", shared=True)
    worst = Worst()
    for shape in (*SHAPES_TORCH, LARGE, WIDE):
        x, gamma, beta = narrow_batch(rng, shape, NARROW) if shape == WIDE else bn_batch(rng, shape)
        centred = x - 1.0 if shape == WIDE else x
        y, _ = transform.forward(*(ctx.asarray(a) for a in (x, gamma, beta)))  # its default eps: PyTorch's EPS
        worst.add(max_relative_error(to_numpy(y), torch_batch_norm(centred, gamma, beta, EPS)), f"{shape}")
    return at_most(
        float(worst),
        float(FLOAT64_ORACLE),
        f"shapes {SHAPES_TORCH}, {LARGE} (blocked, threaded), {WIDE} (wide rows, narrow: two-pass), at {worst.where}",
    )


@bn_transform.negative_control("normalize with the unbiased batch variance (divide by m-1)", backends=ARRAY)
def _(ctx: Context) -> Outcome:
    def unbiased(x, gamma, beta, eps):
        xp = array_namespace(x)
        axes, shape = reduction_axes(x.ndim), channel_shape(x.ndim, x.shape[1])
        centered = x - xp.mean(x, axis=axes, keepdims=True)
        var = xp.sum(centered * centered, axis=axes, keepdims=True) / (values_per_channel(x) - 1)
        x_hat = centered / xp.sqrt(var + eps)
        return x_hat * xp.reshape(gamma, shape) + xp.reshape(beta, shape), x_hat

    return _forward_error(ctx, unbiased)


# --- §3: back-propagation -------------------------------------------------------------------------

backprop = IOFFE2015.result(
    "backprop",
    proof="ioffe2015_transform.py",
    title="Back-propagation through BN (closed forms)",
    where="§3, back-propagation formulas",
    tag="P",
    statement=(
        r"\frac{\partial\ell}{\partial x_i}="
        r"\frac{\partial\ell}{\partial\hat x_i}\frac{1}{\sqrt{\sigma^2_{\mathcal B}+\epsilon}}"
        r"+\frac{\partial\ell}{\partial\sigma^2_{\mathcal B}}\frac{2(x_i-\mu_{\mathcal B})}{m}"
        r"+\frac{\partial\ell}{\partial\mu_{\mathcal B}}\frac1m"
        r"=\frac{\gamma}{s}\Big(\delta_i-\frac1m\sum_k\delta_k-\frac{\hat x_i}{m}\sum_k\delta_k\hat x_k\Big),\quad"
        r"\frac{\partial\ell}{\partial\gamma}=\sum_i\delta_i\hat x_i,\quad"
        r"\frac{\partial\ell}{\partial\beta}=\sum_i\delta_i"
    ),
    assumptions=("m >= 2", "epsilon >= 0, and sigma^2 > 0 when epsilon = 0", r"\delta_i = \partial\ell/\partial y_i"),
    under_test=("bntheory.norms.batch.backward", "bntheory.norms.batch.forward"),
    notes=(
        "The compact projector form (s = sqrt(sigma^2 + eps)) is tagged [D] in THEORY.md §1.2; the symbolic check "
        "proves it equal to the paper's six formulas and to SymPy's derivative. The second term of dl/dmu is "
        "identically 0 (sum of x_i - mu); the check proves that too."
    ),
)


@backprop.symbolic("SymPy: d/dx, d/dgamma, d/dbeta of sum(delta*y) = paper's formulas = compact form")
def _(ctx: Context) -> Outcome:
    sizes = ctx.by_size(quick=(2, 3), default=(2, 3, 4, 5))
    failures = 0
    for m in sizes:
        # Exact in Q(s, x, delta, gamma, beta) with eps = s^2 - sigma^2: SymPy's polynomial derivative and the chain
        # rule through s, then equality of reduced fractions (no expression trees to differentiate and cancel).
        b = symbolic_batch(m, rational=True)
        paper = paper_gradient(b)
        autodiff = [b.diff(b.loss, xi) for xi in b.x]
        pairs = list(zip(autodiff, paper["dx"], strict=True))
        pairs += list(zip(paper["dx"], compact_gradient(b), strict=True))
        pairs += [(b.diff(b.loss, b.gamma), paper["dgamma"]), (b.diff(b.loss, b.beta), paper["dbeta"])]
        pairs.append((paper["dmu_vanishing"], 0))
        failures += residuals(pairs, b)
    return exact(failures, f"m = {', '.join(map(str, sizes))}, eps symbolic >= 0")


def _mp_cases(ctx: Context) -> list[tuple]:
    """The cases (shape, eps, x, gamma, beta, dy) and their mpmath gradients, once per process.

    The check and its control draw the same cases from the shared stream, so their 50-digit references are the
    same numbers: computed once, for both.
    """

    def build(_memo_ctx: Context) -> list[tuple]:
        rng = ctx.rng("ioffe2015.backprop", shared=True)  # the result's stream, as both drew it before
        sizes = ctx.by_size(quick=[(2, 2), (8, 2)], default=[(2, 2), (3, 2), (8, 2)])
        eps_values = ctx.by_size(quick=(0.0, 1e-5), default=(0.0, 1e-5, 0.1))
        out = []
        for shape, eps in [(s, e) for s in sizes for e in eps_values] + [((2, 2, 2, 2), 1e-5)]:
            x, gamma, beta = bn_batch(rng, shape)
            dy = rng.normal(size=shape)
            out.append((shape, eps, x, gamma, beta, dy, flat(mp_batch_norm_gradients(x, gamma, beta, dy, eps))))
        return out

    return ctx.memo("ioffe2015.backprop/mp", build)


def _backward_error(ctx: Context, impl) -> Outcome:
    """Largest relative error of `impl`'s gradients against mpmath central differences at 50 digits."""
    eps_values = ctx.by_size(quick=(0.0, 1e-5), default=(0.0, 1e-5, 0.1))
    cases = _mp_cases(ctx)
    worst = Worst()
    paths = array_paths(ctx)
    for shape, eps, x, gamma, beta, dy, want in cases:
        for label, asarray in paths:
            _, cache = transform.forward(*(asarray(a) for a in (x, gamma, beta)), eps=eps)
            got = flat(to_numpy(g) for g in impl(asarray(dy), cache))
            worst.add(max_relative_error(got, want), f"{shape}, {eps}, {label}")
    detail = (
        f"{len(cases)} cases, m in {{2,3,8}}, eps in {eps_values}, 2-D and 4-D, on {', '.join(p for p, _ in paths)};"
        f" worst at {worst.where}"
    )
    return at_most(float(worst), float(CLOSED_FORM), detail)


@backprop.numeric("closed form vs mpmath central differences (50 digits)", backends=ARRAY)
def _(ctx: Context) -> Outcome:
    return _backward_error(ctx, transform.backward)


@backprop.numeric("closed form vs PyTorch autograd, float64", needs=("torch",), backends=ARRAY)
def _(ctx: Context) -> Outcome:
    rng = ctx.rng("ioffe2015.backprop.torch", shared=True)
    worst = Worst()
    for shape, eps in [((16, 5), 1e-5), ((3, 4), 0.1), ((4, 3, 5, 5), 1e-5), (MID, 1e-5), (WIDE, 1e-5)]:
        x, gamma, beta = narrow_batch(rng, shape, NARROW) if shape == WIDE else bn_batch(rng, shape)
        centred = x - 1.0 if shape == WIDE else x
        dy = rng.normal(size=shape)
        _, cache = transform.forward(*(ctx.asarray(a) for a in (x, gamma, beta)), eps=eps)
        got = flat(to_numpy(g) for g in transform.backward(ctx.asarray(dy), cache))
        worst.add(max_relative_error(got, flat(torch_batch_norm_grads(centred, gamma, beta, dy, eps))), f"{shape}")
    detail = f"shapes (16,5), (3,4), (4,3,5,5), {MID} (blocked), {WIDE} (threaded, narrow: two-pass), at {worst.where}"
    return at_most(float(worst), float(FLOAT64_ORACLE), detail)


@backprop.negative_control("drop the dl/dmu term from dl/dx (THEORY §1.6 control vi)", backends=ARRAY)
def _(ctx: Context) -> Outcome:
    def without_dmu(dy, cache):
        dx, dgamma, dbeta = transform.backward(dy, cache)
        xp = array_namespace(dy)
        shape = channel_shape(dy.ndim, dy.shape[1])
        # dl/dmu / m contributes -(gamma/s) mean(delta); removing it adds that back.
        return dx + xp.reshape(cache.gamma * cache.inv_std * dbeta / values_per_channel(dy), shape), dgamma, dbeta

    return _backward_error(ctx, without_dmu)


# --- Algorithm 2: population statistics --------------------------------------------------------------

population = IOFFE2015.result(
    "population_stats",
    proof="ioffe2015_transform.py",
    title="Population statistics for inference (Algorithm 2)",
    where="Algorithm 2",
    tag="P",
    statement=(
        r"\mathrm E[x]\leftarrow\mathrm E_{\mathcal B}[\mu_{\mathcal B}],\quad"
        r"\mathrm{Var}[x]\leftarrow\frac{m}{m-1}\mathrm E_{\mathcal B}[\sigma^2_{\mathcal B}],\quad"
        r"\text{since }\mathrm E[\sigma^2_{\mathcal B}]=\frac{m-1}{m}\mathrm{Var}[x]"
    ),
    assumptions=("mini-batches of a fixed size m >= 2", "samples i.i.d. within and across batches"),
    notes=(
        "The estimator is a deterministic function of the batches: it is compared exactly (exact rationals), so a "
        "bias of any size fails. The Monte Carlo check is a separate claim, about the statistics: the estimate "
        "follows its exact sampling law for Gaussian batches (unbiased, chi-square)."
    ),
    under_test=("bntheory.norms.batch.population_stats",),
)


@population.symbolic("SymPy: E[sigma_B^2] = (m-1)/m tau^2 for i.i.d. samples, m = 2..6")
def _(ctx: Context) -> Outcome:
    mu, tau = sp.symbols("mu tau", positive=True)
    pairs = []
    for m in ctx.by_size(quick=(2, 3), default=(2, 3, 4, 5, 6)):
        b = symbolic_batch(m, eps=0)
        poly = sp.Poly(sp.expand(b.var), *b.x)
        expectation = 0
        for powers, coeff in poly.terms():
            # E[x_i x_j] = mu^2 + tau^2 [i == j],  E[x_i] = mu
            factors = [i for i, p in enumerate(powers) for _ in range(p)]
            if len(factors) == 2:
                moment = mu**2 + tau**2 if factors[0] == factors[1] else mu**2
            else:
                moment = mu ** len(factors)
            expectation += coeff * moment
        pairs.append((expectation, sp.Rational(m - 1, m) * tau**2))
    return exact(residuals(pairs), "expectation taken monomial by monomial")


def _population_error(ctx: Context, impl) -> Outcome:
    r"""Relative error of `impl` against Algorithm 2 in exact rationals, batches of m = 2, 4 and 8 values per channel.

    The reference averages the per-batch unbiased variances exactly (:func:`exact_population_stats`), so the only
    error of a correct implementation is float64 rounding (~1e-15); the m/(m-1) factor omitted is off by 12.5% to
    100%, a 3% bias by 3%.
    """
    rng = ctx.rng("ioffe2015.population_stats.exact", shared=True)
    worst = Worst()
    cases = [(6, (4, 3)), (3, (2, 3, 2, 2)), (9, (2, 2)), *ctx.by_size(quick=[], default=[(40, (8, 5))])]
    for k, shape in cases:
        batches = [bn_batch(rng, shape)[0] for _ in range(k)]
        mean, var = impl([ctx.asarray(b) for b in batches])
        ref_mean, ref_var = exact_population_stats(batches)
        worst.add(max_relative_error(to_numpy(mean), [float(v) for v in ref_mean]), f"mean, K={k} of {shape}")
        worst.add(max_relative_error(to_numpy(var), [float(v) for v in ref_var]), f"var, K={k} of {shape}")
    detail = f"{len(cases)} sets of K batches, 2-D and 4-D (m = 2 to 8); worst at {worst.where}"
    return at_most(float(worst), float(CLOSED_FORM), detail)


@population.numeric(
    "population_stats vs Algorithm 2 in exact rationals (mean and m/(m-1)-corrected variance)", backends=ARRAY
)
def _(ctx: Context) -> Outcome:
    return _population_error(ctx, transform.population_stats)


@population.numeric("sampling law: Monte Carlo estimate vs exact chi-square / normal laws (p-value)", backends=ARRAY)
def _(ctx: Context) -> Outcome:
    r"""Smallest p-value of the estimates under their exact sampling laws, Gaussian batches.

    With K batches of size m from :math:`\mathcal N(\mu,\tau^2)`, the unbiased estimate V satisfies
    :math:`K(m-1)V/\tau^2\sim\chi^2_{K(m-1)}` and the mean :math:`E\sim\mathcal N(\mu,\tau^2/(Km))`.
    """
    rng = ctx.rng("ioffe2015.population_stats", shared=True)
    k, m, channels = ctx.by_size(quick=400, default=2000), 4, 3
    data, mu, tau = gaussian_batches(rng, k, (m, channels))
    mean, var = (to_numpy(v) for v in transform.population_stats([ctx.asarray(batch) for batch in data]))
    dof = k * (m - 1)
    chi2 = dof * var / tau**2
    # Two-sided p-values from the chi-square and normal distribution functions (scipy.special: chdtr is the
    # chi-square CDF, chdtrc its survival function, ndtr the normal CDF).
    p_var = 2 * np.minimum(scipy.special.chdtr(dof, chi2), scipy.special.chdtrc(dof, chi2))
    p_mean = 2 * scipy.special.ndtr(-np.abs(mean - mu) / (tau / np.sqrt(k * m)))
    alpha = 1e-6 / (2 * channels)  # Bonferroni over the 2C tests: a correct estimator fails w.p. <= 1e-6
    p = np.concatenate([p_var, p_mean])
    smallest = float(np.nan if np.isnan(p).any() else np.min(p))
    detail = f"K={k} batches of m={m}, {channels} channels; Var/tau^2 = {np.round(var / tau**2, 4).tolist()}"
    return at_least(smallest, alpha, detail)


@population.negative_control("omit the m/(m-1) factor (THEORY §1.6 control ii)", backends=ARRAY)
def _(ctx: Context) -> Outcome:
    def biased(batches):
        mean, var = transform.population_stats(batches)
        m = values_per_channel(batches[0])
        return mean, var * ((m - 1) / m)

    return _population_error(ctx, biased)


# --- §1.3-1.4: inference is affine -------------------------------------------------------------------

inference_affine = IOFFE2015.result(
    "inference_affine",
    proof="ioffe2015_transform.py",
    title="Inference-mode BN is a per-channel affine map",
    where="Algorithm 2, step 11",
    tag="P",
    statement=(
        r"y=\frac{\gamma}{\sqrt{\mathrm{Var}[x]+\epsilon}}x+\Big(\beta-\frac{\gamma\,\mathrm E[x]}"
        r"{\sqrt{\mathrm{Var}[x]+\epsilon}}\Big)=a\odot x+b"
    ),
    assumptions=("fixed (running or population) statistics", "Var[x] + epsilon > 0"),
    under_test=("bntheory.norms.batch.inference", "bntheory.norms.batch.inference_affine"),
)


@inference_affine.symbolic("SymPy: gamma (x - E)/sqrt(V + eps) + beta - (a x + b) = 0")
def _(ctx: Context) -> Outcome:
    x, gamma, beta, mean = sp.symbols("x gamma beta E", real=True)
    var, eps = sp.symbols("V epsilon", positive=True)
    a = gamma / sp.sqrt(var + eps)
    return exact(residuals([(gamma * (x - mean) / sp.sqrt(var + eps) + beta, a * x + (beta - a * mean))]))


def _inference_error(ctx: Context, impl) -> Outcome:
    """Largest relative error of `impl` against the inference transform evaluated in mpmath."""
    rng = ctx.rng("ioffe2015.inference_affine", shared=True)
    worst = Worst()
    for shape in [(1, 4), (6, 3), (2, 3, 4, 4)]:
        x, gamma, beta = bn_batch(rng, shape)
        mean, var = running_statistics(rng, shape[1])
        y = to_numpy(impl(*(ctx.asarray(a) for a in (x, gamma, beta, mean, var))))
        worst.add(max_relative_error(y, mp_inference(x, gamma, beta, mean, var, EPS)), f"shape {shape}")
    return at_most(float(worst), float(CLOSED_FORM), "shapes (1,4), (6,3), (2,3,4,4); eps = 1e-5")


@inference_affine.numeric(
    "inference() and inference_affine() vs the transform in mpmath (50 digits), batch of 1 included", backends=ARRAY
)
def _(ctx: Context) -> Outcome:
    through_inference = _inference_error(
        ctx, lambda x, g, b, mean, var: transform.inference(x, g, b, mean, var, eps=EPS)
    )
    # The affine map itself: a = gamma / sqrt(Var + eps), b = beta - a E, at 50 digits.
    rng = ctx.rng("ioffe2015.inference_affine.coefficients")
    _, gamma, beta = bn_batch(rng, (2, 6))
    mean, var = running_statistics(rng, 6)
    coefficients = transform.inference_affine(*(ctx.asarray(v) for v in (gamma, beta, mean, var)), eps=EPS)
    a, b = (to_numpy(v) for v in coefficients)
    with mpmath.workdps(50):
        a_ref = [mpmath.mpf(g) / mpmath.sqrt(mpmath.mpf(v) + mpmath.mpf(EPS)) for g, v in zip(gamma, var, strict=True)]
        b_ref = [float(mpmath.mpf(bt) - ar * mpmath.mpf(e)) for bt, ar, e in zip(beta, a_ref, mean, strict=True)]
    worst = Worst()
    worst.add(through_inference.measured, through_inference.detail)
    worst.add(max_relative_error(a, [float(v) for v in a_ref]), "a = gamma / sqrt(Var + eps)")
    worst.add(max_relative_error(b, b_ref), "b = beta - a E")
    return at_most(float(worst), float(CLOSED_FORM), f"{through_inference.detail}; (a, b) for 6 channels")


@inference_affine.numeric("inference() vs torch BatchNorm1d/2d in eval mode, float64", needs=("torch",), backends=ARRAY)
def _(ctx: Context) -> Outcome:
    import torch

    rng = ctx.rng("ioffe2015.inference_affine.torch", shared=True)
    worst = Worst()
    for shape in [(5, 3), (2, 3, 4, 4)]:
        x, gamma, beta = bn_batch(rng, shape)
        mean, var = running_statistics(rng, shape[1])
        bn = torch_eval_batch_norm(len(shape) - 2, gamma, beta, mean, var, EPS)
        with torch.no_grad():
            ref = bn(torch.from_numpy(x)).numpy()
        y = transform.inference(*(ctx.asarray(a) for a in (x, gamma, beta, mean, var)))  # default eps: PyTorch's
        worst.add(max_relative_error(to_numpy(y), ref), f"shape {shape}")
    return at_most(float(worst), float(FLOAT64_ORACLE), "BatchNorm1d on (5,3), BatchNorm2d on (2,3,4,4)")


@inference_affine.negative_control(
    "normalize with the batch's own statistics at inference (training mode)", backends=ARRAY
)
def _(ctx: Context) -> Outcome:
    # The batch of 1 in the cases cannot be normalized by its own statistics; start from 2 rows.
    def batch_stats(x, gamma, beta, mean, var):
        xp = array_namespace(x)
        if x.shape[0] == 1:
            x = xp.concat([x, x + 1], axis=0)
            return transform.forward(x, gamma, beta, eps=EPS)[0][:1, ...]
        return transform.forward(x, gamma, beta, eps=EPS)[0]

    return _inference_error(ctx, batch_stats)


# --- §1.4: fusion into the preceding layer ------------------------------------------------------------

fusion = IOFFE2015.result(
    "fusion",
    proof="ioffe2015_transform.py",
    title="Fusing inference-mode BN into the preceding linear or convolution layer",
    where="Algorithm 2 (inference BN is affine); fusion algebra derived",
    tag="D",
    statement=(
        r"\mathrm{BN}_{\inf}(Wu+c)=W'u+c',\quad W'=\mathrm{diag}(a)W,\quad c'=a\odot(c-\mathrm E[x])+\beta,"
        r"\quad a=\frac{\gamma}{\sqrt{\mathrm{Var}[x]+\epsilon}};\ \text{per output channel for convolutions}"
    ),
    assumptions=("BN in inference mode (fixed statistics)", "the layer's output channel axis is BN's channel axis"),
    notes="THEORY.md §1.4: [P] for the affine form, [D] for the fusion algebra; registered as [D].",
    under_test=("bntheory.norms.batch.fuse_linear", "bntheory.norms.batch.fuse_conv"),
)


@fusion.symbolic("SymPy: BN_inf(W u + c) - (W' u + c') = 0 for a symbolic 2x3 layer")
def _(ctx: Context) -> Outcome:
    W = sp.Matrix(2, 3, sp.symbols("W1:7", real=True))
    u = sp.Matrix(sp.symbols("u1:4", real=True))
    c, gamma, beta, mean = (sp.Matrix(sp.symbols(f"{n}1:3", real=True)) for n in ("c", "gamma", "beta", "E"))
    var = sp.Matrix(sp.symbols("V1:3", positive=True))
    eps = sp.Symbol("epsilon", positive=True)
    a = sp.Matrix([gamma[k] / sp.sqrt(var[k] + eps) for k in range(2)])
    pre = W * u + c
    bn = [gamma[k] * (pre[k] - mean[k]) / sp.sqrt(var[k] + eps) + beta[k] for k in range(2)]
    fused = sp.diag(*a) * W * u + a.multiply_elementwise(c - mean) + beta
    return exact(residuals(zip(bn, fused, strict=True)))


def _fusion_error(ctx: Context, reference) -> Outcome:
    """Relative error of fused Linear and Conv2d layers against `reference(pre_activation, gamma, beta, mean, var)`.

    The convolutions are computed by explicit sums (:func:`direct_conv2d`) on both sides.
    """
    rng = ctx.rng("ioffe2015.fusion", shared=True)
    worst = Worst()
    for has_bias in (True, False):
        W, b = rng.normal(size=(3, 4)), (rng.normal(size=3) if has_bias else None)
        u = rng.normal(size=(6, 4))
        _, gamma, beta = bn_batch(rng, (2, 3))
        mean, var = running_statistics(rng, 3)
        args = [ctx.asarray(a) for a in (W, gamma, beta, mean, var)]
        Wf, bf = transform.fuse_linear(args[0], None if b is None else ctx.asarray(b), *args[1:], eps=EPS)
        fused = u @ to_numpy(Wf).T + to_numpy(bf)
        pre = u @ W.T + (0 if b is None else b)
        worst.add(max_relative_error(fused, reference(pre, gamma, beta, mean, var)), f"linear, bias {has_bias}")
    crng = ctx.rng("ioffe2015.fusion.conv", shared=True)
    for has_bias, groups in ((True, 2), (False, 1)):
        K, b = crng.normal(size=(4, 4 // groups, 3, 3)), (crng.normal(size=4) if has_bias else None)
        u = crng.normal(size=(2, 4, 4, 4))
        _, gamma, beta = bn_batch(crng, (2, 4))
        mean, var = running_statistics(crng, 4)
        args = [ctx.asarray(a) for a in (K, gamma, beta, mean, var)]
        Kf, bf = transform.fuse_conv(args[0], None if b is None else ctx.asarray(b), *args[1:], eps=EPS)
        fused = direct_conv2d(u, to_numpy(Kf), to_numpy(bf), padding=1, groups=groups)
        pre = direct_conv2d(u, K, b, padding=1, groups=groups)
        worst.add(max_relative_error(fused, reference(pre, gamma, beta, mean, var)), f"conv, bias {has_bias}")
    detail = f"Linear(4 -> 3) and Conv2d(4 -> 4, 3x3, groups 2 and 1), with and without bias; worst at {worst.where}"
    return at_most(float(worst), float(CLOSED_FORM), detail)


@fusion.numeric("fused Linear / Conv2d vs layer -> BN(inference) in mpmath (50 digits)", backends=ARRAY)
def _(ctx: Context) -> Outcome:
    return _fusion_error(ctx, lambda pre, gamma, beta, mean, var: mp_inference(pre, gamma, beta, mean, var, EPS))


@fusion.numeric(
    "fuse_linear / fuse_conv vs torch Linear/Conv2d -> BatchNorm eval, float64", needs=("torch",), backends=ARRAY
)
def _(ctx: Context) -> Outcome:
    import torch

    rng = ctx.rng("ioffe2015.fusion.torch", shared=True)
    worst = Worst()
    for kind, bias in [("linear", True), ("conv", True), ("conv", False)]:
        out = 6
        _, gamma, beta = bn_batch(rng, (2, out))
        mean, var = running_statistics(rng, out)
        if kind == "linear":
            layer, u = torch.nn.Linear(5, out, bias=bias), rng.normal(size=(7, 5))
            fuse, conv_args = transform.fuse_linear, None
        else:
            layer, u = torch.nn.Conv2d(4, out, 3, padding=1, groups=2, bias=bias), rng.normal(size=(2, 4, 5, 5))
            fuse, conv_args = transform.fuse_conv, {"padding": layer.padding, "groups": layer.groups}
        layer = layer.double()
        with torch.no_grad():  # the layer's parameters from this check's stream, not torch's global generator
            for parameter in layer.parameters():
                parameter.copy_(torch.from_numpy(rng.normal(size=tuple(parameter.shape))))
        bn = torch_eval_batch_norm(0 if kind == "linear" else 2, gamma, beta, mean, var, EPS)
        weight = layer.weight.detach().numpy()
        b = layer.bias.detach().numpy() if bias else None
        # The default eps of fuse_linear / fuse_conv, against PyTorch's default EPS.
        Wf, bf = fuse(
            ctx.asarray(weight),
            None if b is None else ctx.asarray(b),
            *(ctx.asarray(a) for a in (gamma, beta, mean, var)),
        )
        Wt, bt, ut = (torch.from_numpy(to_numpy(v)) for v in (Wf, bf, u))
        with torch.no_grad():
            ref = bn(layer(torch.from_numpy(u))).numpy()
            if conv_args is None:
                got = torch.nn.functional.linear(ut, Wt, bt).numpy()
            else:
                got = torch.nn.functional.conv2d(ut, Wt, bt, **conv_args).numpy()
        worst.add(max_relative_error(got, ref), f"{kind}, bias {bias}")
    detail = "Linear(5->6) with bias; Conv2d(4->6, 3x3, groups=2) with and without bias"
    return at_most(float(worst), float(FLOAT64_ORACLE), detail)


@fusion.negative_control("compare the fused layer with training-mode BN (THEORY §1.6 control v)", backends=ARRAY)
def _(ctx: Context) -> Outcome:
    # Training-mode BN normalizes the layer output with the batch's statistics, not the running ones.
    def training_bn(pre, gamma, beta, mean, var):
        return to_numpy(transform.forward(*(np.asarray(a) for a in (pre, gamma, beta)), eps=EPS)[0])

    return _fusion_error(ctx, training_bn)
