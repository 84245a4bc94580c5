r"""Ioffe & Szegedy 2015: the BN transform, its back-propagation, population statistics, inference, fusion.

S. Ioffe and C. Szegedy, "Batch Normalization: Accelerating Deep Network Training by Reducing Internal
Covariate Shift", ICML 2015, arXiv:1502.03167 (THEORY.md §1.1–§1.4, §1.6).

This module states the results and wires library code (:mod:`bntheory.transform`) to independent oracles
(:mod:`bntheory.checks.oracles`); it implements nothing of its own beyond the deliberately wrong variants
that the negative controls feed to the same comparisons.
"""

from __future__ import annotations

import mpmath
import numpy as np
import scipy.special
import sympy as sp
from array_api_compat import array_namespace

from bntheory import transform
from bntheory._layout import channel_shape, reduction_axes, values_per_channel
from bntheory.backend import asarray, to_numpy
from bntheory.checks.compare import Outcome, at_least, at_most, exact, max_relative_error
from bntheory.checks.instances import channel_major
from bntheory.checks.oracles import (
    mp_batch_norm,
    mp_central_gradient,
    torch_batch_norm,
    torch_batch_norm_grads,
)
from bntheory.context import Context
from bntheory.registry import register
from bntheory.symbolic.batchnorm import compact_gradient, paper_gradient, residuals, symbolic_batch

CITATION = "Ioffe & Szegedy 2015, {}, arXiv:1502.03167"
#: THEORY.md §0: float64 closed forms are compared with rtol 1e-10 against high-precision oracles, and
#: the issue asks agreement with PyTorch to 1e-12.
RTOL_CLOSED_FORM = 1e-10
RTOL_TORCH = 1e-12


def _draw(rng: np.random.Generator, shape: tuple[int, ...]):
    """A batch with per-case offset and scale (so statistics are not trivially 0 and 1) and parameters."""
    channels = shape[1]
    x = rng.normal(rng.uniform(-3, 3), rng.uniform(0.5, 3), size=shape)
    gamma = rng.uniform(0.5, 2.0, channels) * rng.choice([-1.0, 1.0], channels)
    beta = rng.normal(size=channels)
    return x, gamma, beta


# --- Algorithm 1: the training transform ----------------------------------------------------------

bn_transform = register(
    "ioffe2015.transform",
    proof="ioffe2015_transform.py",
    title="Training-mode BN transform (Algorithm 1)",
    citation=CITATION.format("Algorithm 1"),
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
)


@bn_transform.symbolic("SymPy: sum x_hat = 0 and sum x_hat^2 = m sigma^2/(sigma^2+eps), symbolic batch")
def _(ctx: Context) -> Outcome:
    sizes = (2, 3) if (ctx.size == "quick") else (2, 3, 4, 5)
    pairs = []
    for m in sizes:
        b = symbolic_batch(m)
        pairs.append((sp.Add(*b.x_hat), 0))
        pairs.append((sp.Add(*(h**2 for h in b.x_hat)), m * b.var / (b.var + b.eps)))
    return exact(residuals(pairs), f"m = {', '.join(map(str, sizes))}")


def _forward_error(ctx: Context, impl) -> Outcome:
    """Largest relative error of `impl` against Algorithm 1 evaluated in mpmath at 50 digits."""
    rng = ctx.rng("ioffe2015.transform", shared=True)
    cases = [((2, 3), 0.0), ((3, 4), 1e-5), ((8, 5), 0.1), ((2, 3, 2, 3), 1e-5)]
    if not (ctx.size == "quick"):
        cases += [((16, 7), 0.0), ((4, 2, 3, 5, 2), 1e-3)]
    worst = 0.0
    for shape, eps in cases:
        x, gamma, beta = _draw(rng, shape)
        y = to_numpy(impl(*(asarray(a, ctx.xp) for a in (x, gamma, beta)), eps))
        with mpmath.workdps(50):
            rows = channel_major(x)
            ref = [[float(v) for v in mp_batch_norm(rows[c], gamma[c], beta[c], eps)] for c in range(shape[1])]
        worst = max(worst, max_relative_error(channel_major(y), ref))
    return at_most(worst, RTOL_CLOSED_FORM, f"{len(cases)} batches, 2-D to 5-D, eps in {{0, 1e-5, 1e-3, 0.1}}")


@bn_transform.numeric("forward vs Algorithm 1 in mpmath (50 digits)")
def _(ctx: Context) -> Outcome:
    return _forward_error(ctx, lambda x, g, b, eps: transform.forward(x, g, b, eps=eps)[0])


@bn_transform.numeric("forward vs torch.nn.functional.batch_norm(training=True), float64", needs=("torch",))
def _(ctx: Context) -> Outcome:
    rng = ctx.rng("ioffe2015.transform.torch", shared=True)
    worst = 0.0
    for shape in [(16, 5), (4, 3, 5, 5), (2, 3, 4, 2, 2)]:
        x, gamma, beta = _draw(rng, shape)
        y, _ = transform.forward(*(asarray(a, ctx.xp) for a in (x, gamma, beta)), eps=1e-5)
        worst = max(worst, max_relative_error(to_numpy(y), torch_batch_norm(x, gamma, beta, 1e-5)))
    return at_most(worst, RTOL_TORCH, "shapes (16,5), (4,3,5,5), (2,3,4,2,2)")


@bn_transform.negative_control("normalize with the unbiased batch variance (divide by m-1)")
def _(ctx: Context) -> Outcome:
    def unbiased(x, gamma, beta, eps):
        xp = array_namespace(x)
        axes, shape = reduction_axes(x.ndim), channel_shape(x.ndim, x.shape[1])
        centered = x - xp.mean(x, axis=axes, keepdims=True)
        var = xp.sum(centered * centered, axis=axes, keepdims=True) / (values_per_channel(x) - 1)
        return centered / xp.sqrt(var + eps) * xp.reshape(gamma, shape) + xp.reshape(beta, shape)

    return _forward_error(ctx, unbiased)


# --- §3: back-propagation -------------------------------------------------------------------------

backprop = register(
    "ioffe2015.backprop",
    proof="ioffe2015_transform.py",
    title="Back-propagation through BN (closed forms)",
    citation=CITATION.format("§3, back-propagation formulas"),
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
    notes=(
        "The compact projector form (s = sqrt(sigma^2 + eps)) is tagged [D] in THEORY.md §1.2; the symbolic check "
        "proves it equal to the paper's six formulas and to SymPy's derivative. The second term of dl/dmu is "
        "identically 0 (sum of x_i - mu); the check proves that too."
    ),
)


@backprop.symbolic("SymPy: d/dx, d/dgamma, d/dbeta of sum(delta*y) = paper's formulas = compact form")
def _(ctx: Context) -> Outcome:
    sizes = (2, 3) if (ctx.size == "quick") else (2, 3, 4, 5)
    failures = 0
    for m in sizes:
        b = symbolic_batch(m)
        paper = paper_gradient(b)
        autodiff = [sp.diff(b.loss, xi) for xi in b.x]
        pairs = list(zip(autodiff, paper["dx"], strict=True))
        pairs += list(zip(paper["dx"], compact_gradient(b), strict=True))
        pairs += [(sp.diff(b.loss, b.gamma), paper["dgamma"]), (sp.diff(b.loss, b.beta), paper["dbeta"])]
        pairs.append((paper["dmu_vanishing"], 0))
        failures += residuals(pairs, b)
    return exact(failures, f"m = {', '.join(map(str, sizes))}, eps symbolic >= 0")


def _backward_error(ctx: Context, impl) -> Outcome:
    """Largest relative error of `impl`'s gradients against mpmath central differences at 50 digits."""
    rng = ctx.rng("ioffe2015.backprop", shared=True)
    sizes = [(2, 2), (8, 2)] if (ctx.size == "quick") else [(2, 2), (3, 2), (8, 2)]
    eps_values = (0.0, 1e-5) if (ctx.size == "quick") else (0.0, 1e-5, 0.1)
    cases = [(s, e) for s in sizes for e in eps_values] + [((2, 2, 2, 2), 1e-5)]
    worst = 0.0
    for shape, eps in cases:
        x, gamma, beta = _draw(rng, shape)
        dy = rng.normal(size=shape)
        _, cache = transform.forward(*(asarray(a, ctx.xp) for a in (x, gamma, beta)), eps=eps)
        got = _flat(to_numpy(g) for g in impl(asarray(dy, ctx.xp), cache))
        worst = max(worst, max_relative_error(got, _flat(_fd_gradients(x, gamma, beta, dy, eps))))
    return at_most(worst, RTOL_CLOSED_FORM, f"{len(cases)} cases, m in {{2,3,8}}, eps in {eps_values}, 2-D and 4-D")


def _flat(grads) -> np.ndarray:
    """(dx, dgamma, dbeta) as one vector, so errors are judged on the scale of the whole gradient.

    dl/dx is exactly 0 for m = 2 at eps = 0 (x_hat = +-1 whatever x is) and tiny for small eps; an error
    relative to dl/dx alone would then measure rounding against nothing (THEORY.md §8).
    """
    return np.concatenate([np.ravel(g) for g in grads])


def _fd_gradients(x, gamma, beta, dy, eps):
    """dl/dx, dl/dgamma, dl/dbeta of l = sum(dy * BN(x)) by 50-digit central differences."""
    shape, channels = x.shape, x.shape[1]
    dy_rows = channel_major(dy)
    n = x.size

    def loss(params):
        xs, gs, bs = params[:n], params[n : n + channels], params[n + channels :]
        rows = channel_major(np.array(xs, dtype=object).reshape(shape))
        return mpmath.fsum(
            mpmath.fsum(d * y for d, y in zip(dy_rows[c], mp_batch_norm(rows[c], gs[c], bs[c], eps), strict=True))
            for c in range(channels)
        )

    grad = mp_central_gradient(loss, [*x.ravel(), *gamma, *beta])
    return grad[:n].reshape(shape), grad[n : n + channels], grad[n + channels :]


@backprop.numeric("closed form vs mpmath central differences (50 digits)")
def _(ctx: Context) -> Outcome:
    return _backward_error(ctx, transform.backward)


@backprop.numeric("closed form vs PyTorch autograd, float64", needs=("torch",))
def _(ctx: Context) -> Outcome:
    rng = ctx.rng("ioffe2015.backprop.torch", shared=True)
    worst = 0.0
    for shape, eps in [((16, 5), 1e-5), ((3, 4), 0.1), ((4, 3, 5, 5), 1e-5)]:
        x, gamma, beta = _draw(rng, shape)
        dy = rng.normal(size=shape)
        _, cache = transform.forward(*(asarray(a, ctx.xp) for a in (x, gamma, beta)), eps=eps)
        got = _flat(to_numpy(g) for g in transform.backward(asarray(dy, ctx.xp), cache))
        worst = max(worst, max_relative_error(got, _flat(torch_batch_norm_grads(x, gamma, beta, dy, eps))))
    return at_most(worst, RTOL_TORCH, "shapes (16,5), (3,4), (4,3,5,5)")


@backprop.negative_control("drop the dl/dmu term from dl/dx (THEORY §1.6 control vi)")
def _(ctx: Context) -> Outcome:
    def without_dmu(dy, cache):
        dx, dgamma, dbeta = transform.backward(dy, cache)
        xp = array_namespace(dy)
        shape = channel_shape(dy.ndim, dy.shape[1])
        # dl/dmu / m contributes -(gamma/s) mean(delta); removing it adds that back.
        return dx + xp.reshape(cache.gamma * cache.inv_std * dbeta / values_per_channel(dy), shape), dgamma, dbeta

    return _backward_error(ctx, without_dmu)


# --- Algorithm 2: population statistics --------------------------------------------------------------

population = register(
    "ioffe2015.population_stats",
    proof="ioffe2015_transform.py",
    title="Population statistics for inference (Algorithm 2)",
    citation=CITATION.format("Algorithm 2"),
    tag="P",
    statement=(
        r"\mathrm E[x]\leftarrow\mathrm E_{\mathcal B}[\mu_{\mathcal B}],\quad"
        r"\mathrm{Var}[x]\leftarrow\frac{m}{m-1}\mathrm E_{\mathcal B}[\sigma^2_{\mathcal B}],\quad"
        r"\text{since }\mathrm E[\sigma^2_{\mathcal B}]=\frac{m-1}{m}\mathrm{Var}[x]"
    ),
    assumptions=("mini-batches of a fixed size m >= 2", "samples i.i.d. within and across batches"),
)


@population.symbolic("SymPy: E[sigma_B^2] = (m-1)/m tau^2 for i.i.d. samples, m = 2..6")
def _(ctx: Context) -> Outcome:
    mu, tau = sp.symbols("mu tau", positive=True)
    pairs = []
    for m in (2, 3) if (ctx.size == "quick") else (2, 3, 4, 5, 6):
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


def _population_pvalue(ctx: Context, impl) -> Outcome:
    r"""Smallest p-value of the estimates under their exact sampling laws, Gaussian batches.

    With K batches of size m from :math:`\mathcal N(\mu,\tau^2)`, the unbiased estimate V satisfies
    :math:`K(m-1)V/\tau^2\sim\chi^2_{K(m-1)}` and the mean :math:`E\sim\mathcal N(\mu,\tau^2/(Km))`.
    """
    rng = ctx.rng("ioffe2015.population_stats", shared=True)
    k, m, channels = (400 if (ctx.size == "quick") else 2000), 4, 3
    mu = rng.uniform(-2, 2, channels)
    tau = rng.uniform(0.5, 2, channels)
    data = rng.normal(mu, tau, size=(k, m, channels))
    mean, var = (to_numpy(v) for v in impl([asarray(batch, ctx.xp) for batch in data]))
    dof = k * (m - 1)
    chi2 = dof * var / tau**2
    # Two-sided p-values from the chi-square and normal distribution functions (scipy.special: chdtr is the
    # chi-square CDF, chdtrc its survival function, ndtr the normal CDF).
    p_var = 2 * np.minimum(scipy.special.chdtr(dof, chi2), scipy.special.chdtrc(dof, chi2))
    p_mean = 2 * scipy.special.ndtr(-np.abs(mean - mu) / (tau / np.sqrt(k * m)))
    alpha = 1e-6 / (2 * channels)  # Bonferroni over the 2C tests: a correct estimator fails w.p. <= 1e-6
    detail = f"K={k} batches of m={m}, {channels} channels; Var/tau^2 = {np.round(var / tau**2, 4).tolist()}"
    return at_least(float(min(p_var.min(), p_mean.min())), alpha, detail)


@population.numeric("Monte Carlo vs exact chi-square / normal sampling laws (p-value)")
def _(ctx: Context) -> Outcome:
    return _population_pvalue(ctx, transform.population_stats)


@population.negative_control("omit the m/(m-1) factor (THEORY §1.6 control ii: 25% bias at m = 4)")
def _(ctx: Context) -> Outcome:
    def biased(batches):
        mean, var = transform.population_stats(batches)
        m = batches[0].shape[0]
        return mean, var * ((m - 1) / m)

    return _population_pvalue(ctx, biased)


# --- §1.3-1.4: inference is affine -------------------------------------------------------------------

inference_affine = register(
    "ioffe2015.inference_affine",
    proof="ioffe2015_transform.py",
    title="Inference-mode BN is a per-channel affine map",
    citation=CITATION.format("Algorithm 2, step 11"),
    tag="P",
    statement=(
        r"y=\frac{\gamma}{\sqrt{\mathrm{Var}[x]+\epsilon}}x+\Big(\beta-\frac{\gamma\,\mathrm E[x]}"
        r"{\sqrt{\mathrm{Var}[x]+\epsilon}}\Big)=a\odot x+b"
    ),
    assumptions=("fixed (running or population) statistics", "Var[x] + epsilon > 0"),
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
    worst = 0.0
    for shape in [(1, 4), (6, 3), (2, 3, 4, 4)]:
        x, gamma, beta = _draw(rng, shape)
        mean, var = rng.normal(size=shape[1]), rng.uniform(0.1, 4, shape[1])
        y = to_numpy(impl(*(asarray(a, ctx.xp) for a in (x, gamma, beta, mean, var))))
        worst = max(worst, max_relative_error(y, _mp_inference(x, gamma, beta, mean, var)))
    return at_most(worst, RTOL_CLOSED_FORM, "shapes (1,4), (6,3), (2,3,4,4); eps = 1e-5")


@inference_affine.numeric("inference() vs the transform in mpmath (50 digits), batch of 1 included")
def _(ctx: Context) -> Outcome:
    return _inference_error(ctx, lambda x, g, b, mean, var: transform.inference(x, g, b, mean, var, eps=1e-5))


@inference_affine.numeric("inference() vs torch BatchNorm1d/2d in eval mode, float64", needs=("torch",))
def _(ctx: Context) -> Outcome:
    import torch

    rng = ctx.rng("ioffe2015.inference_affine.torch", shared=True)
    worst = 0.0
    for shape, layer in [((5, 3), torch.nn.BatchNorm1d), ((2, 3, 4, 4), torch.nn.BatchNorm2d)]:
        x, gamma, beta = _draw(rng, shape)
        mean, var = rng.normal(size=shape[1]), rng.uniform(0.1, 4, shape[1])
        bn = _eval_bn(layer, gamma, beta, mean, var)
        with torch.no_grad():
            ref = bn(torch.from_numpy(x)).numpy()
        y = transform.inference(*(asarray(a, ctx.xp) for a in (x, gamma, beta, mean, var)), eps=1e-5)
        worst = max(worst, max_relative_error(to_numpy(y), ref))
    return at_most(worst, RTOL_TORCH, "BatchNorm1d on (5,3), BatchNorm2d on (2,3,4,4)")


@inference_affine.negative_control("normalize with the batch's own statistics at inference (training mode)")
def _(ctx: Context) -> Outcome:
    # The batch of 1 in the cases cannot be normalized by its own statistics; start from 2 rows.
    def batch_stats(x, gamma, beta, mean, var):
        xp = array_namespace(x)
        if x.shape[0] == 1:
            x = xp.concat([x, x + 1], axis=0)
            return transform.forward(x, gamma, beta, eps=1e-5)[0][:1, ...]
        return transform.forward(x, gamma, beta, eps=1e-5)[0]

    return _inference_error(ctx, batch_stats)


def _eval_bn(layer, gamma, beta, mean, var):
    import torch

    bn = layer(len(gamma), eps=1e-5).double().eval()
    with torch.no_grad():
        bn.weight.copy_(torch.from_numpy(gamma))
        bn.bias.copy_(torch.from_numpy(beta))
        bn.running_mean.copy_(torch.from_numpy(mean))
        bn.running_var.copy_(torch.from_numpy(var))
    return bn


# --- §1.4: fusion into the preceding layer ------------------------------------------------------------

fusion = register(
    "ioffe2015.fusion",
    proof="ioffe2015_transform.py",
    title="Fusing inference-mode BN into the preceding linear or convolution layer",
    citation=CITATION.format("Algorithm 2 (inference BN is affine); fusion algebra derived"),
    tag="D",
    statement=(
        r"\mathrm{BN}_{\inf}(Wu+c)=W'u+c',\quad W'=\mathrm{diag}(a)W,\quad c'=a\odot(c-\mathrm E[x])+\beta,"
        r"\quad a=\frac{\gamma}{\sqrt{\mathrm{Var}[x]+\epsilon}};\ \text{per output channel for convolutions}"
    ),
    assumptions=("BN in inference mode (fixed statistics)", "the layer's output channel axis is BN's channel axis"),
    notes="THEORY.md §1.4: [P] for the affine form, [D] for the fusion algebra; registered as [D].",
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
    """Relative error of the fused linear layer against `reference(pre_activation, gamma, beta, mean, var)`."""
    rng = ctx.rng("ioffe2015.fusion", shared=True)
    worst = 0.0
    for has_bias in (True, False):
        W, b = rng.normal(size=(3, 4)), (rng.normal(size=3) if has_bias else None)
        u = rng.normal(size=(6, 4))
        _, gamma, beta = _draw(rng, (2, 3))
        mean, var = rng.normal(size=3), rng.uniform(0.1, 4, 3)
        args = [asarray(a, ctx.xp) for a in (W, gamma, beta, mean, var)]
        Wf, bf = transform.fuse_linear(args[0], None if b is None else asarray(b, ctx.xp), *args[1:], eps=1e-5)
        fused = u @ to_numpy(Wf).T + to_numpy(bf)
        pre = u @ W.T + (0 if b is None else b)
        worst = max(worst, max_relative_error(fused, reference(pre, gamma, beta, mean, var)))
    return at_most(worst, RTOL_CLOSED_FORM, "Linear(4 -> 3) with and without bias, batch of 6")


def _mp_inference(x, gamma, beta, mean, var):
    """Inference-mode BN (eps = 1e-5) of an (m, C) or (N, C, *spatial) array, entry by entry in mpmath."""
    out = np.empty(x.shape)
    with mpmath.workdps(50):
        for idx in np.ndindex(*x.shape):
            k = idx[1]
            s = mpmath.sqrt(mpmath.mpf(var[k]) + mpmath.mpf(1e-5))
            out[idx] = float(mpmath.mpf(gamma[k]) * (mpmath.mpf(x[idx]) - mpmath.mpf(mean[k])) / s + beta[k])
    return out


@fusion.numeric("fused Linear vs Linear -> BN(inference) in mpmath (50 digits)")
def _(ctx: Context) -> Outcome:
    return _fusion_error(ctx, _mp_inference)


@fusion.numeric("fuse_linear / fuse_conv vs torch Linear/Conv2d -> BatchNorm eval, float64", needs=("torch",))
def _(ctx: Context) -> Outcome:
    import torch

    rng = ctx.rng("ioffe2015.fusion.torch", shared=True)
    worst = 0.0
    for kind, bias in [("linear", True), ("conv", True), ("conv", False)]:
        out = 6
        _, gamma, beta = _draw(rng, (2, out))
        mean, var = rng.normal(size=out), rng.uniform(0.1, 4, out)
        if kind == "linear":
            layer, u = torch.nn.Linear(5, out, bias=bias), rng.normal(size=(7, 5))
            fuse, apply = transform.fuse_linear, torch.nn.functional.linear
        else:
            layer = torch.nn.Conv2d(4, out, 3, padding=1, groups=2, bias=bias)
            u = rng.normal(size=(2, 4, 5, 5))
            fuse, apply = transform.fuse_conv, _grouped_conv(layer)
        layer = layer.double()
        bn = _eval_bn(torch.nn.BatchNorm1d if kind == "linear" else torch.nn.BatchNorm2d, gamma, beta, mean, var)
        weight = layer.weight.detach().numpy()
        b = layer.bias.detach().numpy() if bias else None
        Wf, bf = fuse(asarray(weight, ctx.xp), None if b is None else asarray(b, ctx.xp),
                      *(asarray(a, ctx.xp) for a in (gamma, beta, mean, var)), eps=1e-5)
        with torch.no_grad():
            ref = bn(layer(torch.from_numpy(u))).numpy()
            got = apply(torch.from_numpy(u), torch.from_numpy(to_numpy(Wf)), torch.from_numpy(to_numpy(bf))).numpy()
        worst = max(worst, max_relative_error(got, ref))
    return at_most(worst, RTOL_TORCH, "Linear(5->6) with bias; Conv2d(4->6, 3x3, groups=2) with and without bias")


def _grouped_conv(layer):
    import torch

    return lambda u, w, b: torch.nn.functional.conv2d(u, w, b, padding=layer.padding, groups=layer.groups)


@fusion.negative_control("compare the fused layer with training-mode BN (THEORY §1.6 control v)")
def _(ctx: Context) -> Outcome:
    # Training-mode BN normalizes the layer output with the batch's statistics, not the running ones.
    def training_bn(pre, gamma, beta, mean, var):
        return to_numpy(transform.forward(*(np.asarray(a) for a in (pre, gamma, beta)), eps=1e-5)[0])

    return _fusion_error(ctx, training_bn)
