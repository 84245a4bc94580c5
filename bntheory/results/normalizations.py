r"""LayerNorm, RMSNorm, GroupNorm, InstanceNorm and WeightNorm: the transforms of :mod:`bntheory.norms`.

Each result states a normalization's forward map (THEORY-2.md §9.1) and its closed-form backward pass (§9.2),
and checks them three ways: SymPy's derivative of the forward against the closed form (exact), the library
against mpmath central differences of the definition written entry by entry (50 digits), and the library
against PyTorch's native kernel with autograd in float64 and float32 on 2-D to 5-D inputs. The control is the
nearest plausible slip of that normalization, through the mpmath comparison.
"""

from __future__ import annotations

import numpy as np

from bntheory import norms
from bntheory.backend import to_numpy
from bntheory.checks.compare import Outcome, Worst, at_most, exact, max_relative_error
from bntheory.checks.oracles.bn_reference import flat
from bntheory.checks.oracles.normalizations import (
    layout,
    mp_normalization,
    mp_weight_norm,
    torch_normalization,
    torch_weight_norm,
)
from bntheory.checks.tolerances import CLOSED_FORM, FLOAT32_ORACLE, FLOAT64_ORACLE
from bntheory.context import Context
from bntheory.registry import ARRAY, paper
from bntheory.symbolic.batchnorm import residuals
from bntheory.symbolic.normalizations import group_backward_steps, weight_norm_steps

PROOF = "normalizations.py"
NEEDS = ("torch",)
#: Input shapes compared with PyTorch: 2-D to 5-D, channels (axis 1) divisible by the group counts.
SHAPES = ((7, 6), (5, 6, 4), (3, 6, 3, 4), (2, 6, 2, 3, 2))
#: (shape, eps) of the mpmath comparison: eps = 0 (the exact projector) and eps > 0, 2-D to 4-D.
MP_CASES = (((3, 4), 0.0), ((2, 4, 3), 0.1), ((2, 4, 2, 2), 1e-3))


#: The dims each normalization's affine parameters span here: LayerNorm is taken over every dim but the batch's,
#: RMSNorm over the last; GroupNorm and InstanceNorm have one gain per channel (axis 1). For the first two these are
#: also the normalized trailing dims.
AFFINE = {"layer": slice(1, None), "rms": slice(-1, None), "group": slice(1, 2), "instance": slice(1, 2)}


def ctx_draw(ctx: Context, kind: str, key: str, shape: tuple[int, ...]):
    """A batch with an offset and a scale, an upstream gradient, and `kind`'s gains near 1 and shifts."""
    params = shape[AFFINE[kind]]
    rng = ctx.rng(key, shared=True)
    x = rng.normal(size=shape) * rng.uniform(0.5, 3) + rng.uniform(-2, 2)
    return x, rng.normal(size=shape), 1 + 0.4 * rng.normal(size=params), rng.normal(size=params)


def ctx_library(ctx: Context, kind: str, x, dy, gamma, beta, eps: float, wrong: bool = False):
    """``(y, dx, dgamma, dbeta)`` from :mod:`bntheory.norms` on the run's backend; `wrong`: the control's slip."""
    X, DY, G, B = (None if a is None else ctx.asarray(a) for a in (x, dy, gamma, beta))
    if kind == "layer":
        y, cache = norms.layer_norm(X, tuple(x.shape[1:]), G, B, eps=eps)
        out = norms.backward(DY, cache)
        if wrong:  # the gain outside the projector: gamma * (P delta) / s (THEORY-2.md §9.2 trap (i))
            dx0 = norms.backward(DY, norms.layer_norm(X, tuple(x.shape[1:]), eps=eps)[1])[0]
            out = (G * dx0, *out[1:])
    elif kind == "rms":
        y, cache = norms.rms_norm(X, tuple(x.shape[-1:]), G, eps=eps)
        out = norms.backward(DY, cache)
        if wrong:  # LayerNorm's centring term in RMSNorm's backward: - mean(gamma delta) / r
            axis = (x.ndim - 1,)
            out = (out[0] - cache.inv_std * ctx.xp.mean(G * DY, axis=axis, keepdims=True), *out[1:])
    elif kind == "group":
        groups = 2
        y, cache = norms.group_norm(X, groups, G, B, eps=eps)
        out = norms.backward(DY, cache)
        if wrong:  # the gain outside the projector
            shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
            dx0 = norms.backward(DY, norms.group_norm(X, groups, eps=eps)[1])[0]
            out = (ctx.xp.reshape(G, shape) * dx0, *out[1:])
    elif kind == "instance":
        if wrong:  # statistics over the whole sample (GroupNorm with one group: LayerNorm over (C, *spatial))
            y, cache = norms.group_norm(X, 1, G, B, eps=eps)
        else:
            y, cache = norms.instance_norm(X, G, B, eps=eps)
        out = norms.backward(DY, cache)
    else:
        raise ValueError(f"kind: {kind!r}")
    return tuple(None if a is None else to_numpy(a) for a in (y, *out))


def ctx_reference(ctx: Context, kind: str, x, dy, gamma, beta, eps: float):
    """The mpmath oracle for `kind`, with the parameters the library call used."""
    how = layout(kind, x.ndim, trailing=len(x.shape[AFFINE[kind]]), groups=2, channels=x.shape[1])
    return mp_normalization(x, dy, how, gamma, None if kind == "rms" else beta, eps=eps)


def ctx_mp_error(ctx: Context, kind: str, wrong: bool = False) -> Outcome:
    """Worst relative error of (y, dx, dgamma, dbeta) against the mpmath definition over the run's cases."""
    worst = Worst()
    # InstanceNorm needs positions to take statistics over: a 2-D input has a group of one value per channel.
    cases = [c for c in ctx.by_size(quick=MP_CASES[:2], default=MP_CASES) if kind != "instance" or len(c[0]) > 2]
    for shape, eps in cases:
        x, dy, gamma, beta = ctx_draw(ctx, kind, f"{kind}/mp/{shape}", shape)
        got = ctx_library(ctx, kind, x, dy, gamma, beta, eps, wrong)
        want = ctx_reference(ctx, kind, x, dy, gamma, beta, eps)
        error = max_relative_error(flat(a for a in got if a is not None), flat(a for a in want if a is not None))
        worst.add(error, f"{shape}, eps = {eps}")
    detail = f"(y, dx, dgamma, dbeta) vs 50-digit central differences, worst at {worst.where}"
    return at_most(float(worst), float(CLOSED_FORM), detail)


def ctx_torch_error(ctx: Context, kind: str, dtype) -> Outcome:
    """Worst relative error against PyTorch's kernel and autograd on 2-D to 5-D inputs in `dtype`."""
    tol = FLOAT64_ORACLE if dtype == np.float64 else FLOAT32_ORACLE
    worst = Worst()
    for shape in SHAPES[1:] if kind in ("group", "instance") else SHAPES:
        x, dy, gamma, beta = (a.astype(dtype) for a in ctx_draw(ctx, kind, f"{kind}/torch/{shape}", shape))
        beta = None if kind == "rms" else beta
        got = ctx_library(ctx, kind, x, dy, gamma, beta, 1e-3)
        trailing = len(x.shape[AFFINE[kind]])
        want = torch_normalization(kind, x, dy, gamma, beta, eps=1e-3, trailing=trailing, groups=2)
        worst.add(max_relative_error(flat(a for a in got if a is not None), flat(a for a in want if a is not None)))
    return at_most(float(worst), float(tol), f"{np.dtype(dtype).name}, shapes {', '.join(map(str, SHAPES))}")


def ctx_symbolic(ctx: Context, center: bool) -> Outcome:
    """SymPy's derivative of one group's loss against the closed form, gains elementwise, eps symbolic."""
    sizes = ctx.by_size(quick=(2, 3), default=(2, 3, 4))
    failures = sum(residuals(*group_backward_steps(m, center=center)) for m in sizes)
    return exact(failures, f"group sizes {sizes}, eps >= 0 symbolic, elementwise gamma and beta")


BA2016 = paper("ba2016", citation="Ba, Kiros & Hinton 2016", arxiv="1607.06450")
ZHANG2019 = paper("zhang2019", citation="Zhang & Sennrich 2019", arxiv="1910.07467")
WU2018 = paper("wu2018", citation="Wu & He 2018", arxiv="1803.08494")
ULYANOV2016 = paper("ulyanov2016", citation="Ulyanov, Vedaldi & Lempitsky 2016", arxiv="1607.08022")
SALIMANS2016 = paper("salimans2016", citation="Salimans & Kingma 2016", arxiv="1602.07868")

BACKWARD = (
    r"\nabla_x\ell=\frac1s\big(g-\overline g\,\mathbf 1-\hat x\,\overline{g\odot\hat x}\big),\ "
    r"g=\gamma\odot\delta,\ \partial_\gamma\ell=\textstyle\sum\delta\odot\hat x,\ \partial_\beta\ell=\sum\delta"
)

layer_norm = BA2016.result(
    "layer_norm",
    where="eq. 3 (LayerNorm); backward derived (THEORY-2.md §9.2)",
    proof=PROOF,
    title="LayerNorm: forward per sample over its features, backward with the gain inside the projector",
    tag="D",
    statement=(
        r"y=\gamma\odot\frac{x-\mu\mathbf 1}{s}+\beta,\ s=\sqrt{\sigma^2+\epsilon}\ \text{per sample};\ " + BACKWARD
    ),
    assumptions=("at least 2 features per sample", "eps >= 0; a constant sample needs eps > 0"),
    notes="The forward is Ba et al.'s eq. 3 [P], the form of torch.nn.functional.layer_norm; the closed form is [D].",
    under_test=("bntheory.norms.layer_norm", "bntheory.norms.backward"),
)


@layer_norm.symbolic("SymPy: d/dx, d/dgamma, d/dbeta of sum(delta * y) = the closed forms, m = 2..4")
def _(ctx: Context) -> Outcome:
    return ctx_symbolic(ctx, center=True)


@layer_norm.numeric("forward and backward vs mpmath central differences (50 digits)", backends=ARRAY)
def _(ctx: Context) -> Outcome:
    return ctx_mp_error(ctx, "layer")


@layer_norm.numeric("vs F.layer_norm + autograd, float64, 2-D to 5-D", needs=NEEDS, backends=ARRAY)
def _(ctx: Context) -> Outcome:
    return ctx_torch_error(ctx, "layer", np.float64)


@layer_norm.numeric("vs F.layer_norm + autograd, float32, 2-D to 5-D", needs=NEEDS, backends=ARRAY)
def _(ctx: Context) -> Outcome:
    return ctx_torch_error(ctx, "layer", np.float32)


@layer_norm.negative_control("the gain outside the projector, gamma * (P delta) / s", backends=ARRAY)
def _(ctx: Context) -> Outcome:
    return ctx_mp_error(ctx, "layer", wrong=True)


rms_norm = ZHANG2019.result(
    "rms_norm",
    where="RMSNorm (the authors' README form: eps inside the mean); backward derived (THEORY-2.md §9.2)",
    proof=PROOF,
    title="RMSNorm: no centring, so no mean term in the backward pass",
    tag="D",
    statement=(
        r"y=\gamma\odot x/r,\ r=\sqrt{\overline{x^2}+\epsilon};\ "
        r"\nabla_x\ell=\frac1r\big(g-\hat x\,\overline{g\odot\hat x}\big),\ g=\gamma\odot\delta"
    ),
    assumptions=("eps >= 0; an all-zero sample needs eps > 0",),
    notes="Forward [P] (torch.nn.functional.rms_norm's form); closed form [D].",
    under_test=("bntheory.norms.rms_norm", "bntheory.norms.backward"),
)


@rms_norm.symbolic("SymPy: the derivatives = the closed forms without the mean term, m = 2..4")
def _(ctx: Context) -> Outcome:
    return ctx_symbolic(ctx, center=False)


@rms_norm.numeric("forward and backward vs mpmath central differences (50 digits)", backends=ARRAY)
def _(ctx: Context) -> Outcome:
    return ctx_mp_error(ctx, "rms")


@rms_norm.numeric("vs F.rms_norm + autograd, float64, 2-D to 5-D", needs=NEEDS, backends=ARRAY)
def _(ctx: Context) -> Outcome:
    return ctx_torch_error(ctx, "rms", np.float64)


@rms_norm.numeric("vs F.rms_norm + autograd, float32, 2-D to 5-D", needs=NEEDS, backends=ARRAY)
def _(ctx: Context) -> Outcome:
    return ctx_torch_error(ctx, "rms", np.float32)


@rms_norm.negative_control("LayerNorm's centring term -mean(gamma delta)/r in the backward", backends=ARRAY)
def _(ctx: Context) -> Outcome:
    return ctx_mp_error(ctx, "rms", wrong=True)


group_norm = WU2018.result(
    "group_norm",
    where="GroupNorm, the form of torch.nn.functional.group_norm (THEORY-2.md §9.1-9.2)",
    proof=PROOF,
    title="GroupNorm: per (sample, group of channels), per-channel affine; the gain inside the projector",
    tag="D",
    statement=r"\hat x_{n,g}=(x_{n,g}-\mu_{n,g}\mathbf 1)/s_{n,g},\ y_{n,c}=\gamma_c\hat x_{n,c}+\beta_c;\ " + BACKWARD,
    assumptions=("channels divisible by the groups (2 here)", "at least 2 values per (sample, group)", "eps >= 0"),
    notes="[R] for the paper's text, [D] for the kernel as implemented; a group's gains vary across its channels.",
    under_test=("bntheory.norms.group_norm", "bntheory.norms.backward"),
)


@group_norm.numeric("forward and backward vs mpmath central differences (50 digits), 2 groups", backends=ARRAY)
def _(ctx: Context) -> Outcome:
    return ctx_mp_error(ctx, "group")


@group_norm.numeric("vs F.group_norm + autograd, float64, 3-D to 5-D", needs=NEEDS, backends=ARRAY)
def _(ctx: Context) -> Outcome:
    return ctx_torch_error(ctx, "group", np.float64)


@group_norm.numeric("vs F.group_norm + autograd, float32, 3-D to 5-D", needs=NEEDS, backends=ARRAY)
def _(ctx: Context) -> Outcome:
    return ctx_torch_error(ctx, "group", np.float32)


@group_norm.numeric("GroupNorm with 1 group is LayerNorm over (C, *spatial); with C groups InstanceNorm")
def _(ctx: Context) -> Outcome:
    x, dy, _, _ = ctx_draw(ctx, "group", "group/limits", (3, 6, 4))
    pairs = [(norms.group_norm(x, 1, eps=1e-3), norms.layer_norm(x, x.shape[1:], eps=1e-3))]
    pairs.append((norms.group_norm(x, 6, eps=1e-3), norms.instance_norm(x, eps=1e-3)))
    worst = Worst()
    for (y1, c1), (y2, c2) in pairs:
        worst.add(max_relative_error(flat((y1, norms.backward(dy, c1)[0])), flat((y2, norms.backward(dy, c2)[0]))))
    return at_most(float(worst), float(FLOAT64_ORACLE), "y and dx, (3, 6, 4), eps = 1e-3")


@group_norm.negative_control("the gain outside the projector, gamma_c * (P delta) / s", backends=ARRAY)
def _(ctx: Context) -> Outcome:
    return ctx_mp_error(ctx, "group", wrong=True)


instance_norm = ULYANOV2016.result(
    "instance_norm",
    where="InstanceNorm, the form of torch.nn.functional.instance_norm with batch statistics",
    proof=PROOF,
    title="InstanceNorm: per (sample, channel) over the positions",
    tag="D",
    statement=r"\hat x_{n,c}=(x_{n,c}-\mu_{n,c}\mathbf 1)/s_{n,c},\ y_{n,c}=\gamma_c\hat x_{n,c}+\beta_c;\ " + BACKWARD,
    assumptions=("spatial dims holding at least 2 values", "eps >= 0"),
    notes="[R] for the paper, [D] for PyTorch's kernel; the gain is constant over a group, so it commutes with P.",
    under_test=("bntheory.norms.instance_norm", "bntheory.norms.backward"),
)


@instance_norm.numeric("forward and backward vs mpmath central differences (50 digits)", backends=ARRAY)
def _(ctx: Context) -> Outcome:
    return ctx_mp_error(ctx, "instance")


@instance_norm.numeric("vs F.instance_norm + autograd, float64, 3-D to 5-D", needs=NEEDS, backends=ARRAY)
def _(ctx: Context) -> Outcome:
    return ctx_torch_error(ctx, "instance", np.float64)


@instance_norm.numeric("vs F.instance_norm + autograd, float32, 3-D to 5-D", needs=NEEDS, backends=ARRAY)
def _(ctx: Context) -> Outcome:
    return ctx_torch_error(ctx, "instance", np.float32)


@instance_norm.negative_control("statistics over the whole sample (GroupNorm with one group)", backends=ARRAY)
def _(ctx: Context) -> Outcome:
    return ctx_mp_error(ctx, "instance", wrong=True)


weight_norm = SALIMANS2016.result(
    "weight_norm",
    where="w = g v / ||v|| (per output row); gradients derived (THEORY-2.md §9.2)",
    proof=PROOF,
    title="WeightNorm: the gradient in v is the projection of the gradient in w, orthogonal to v",
    tag="D",
    statement=(
        r"w=g\,v/\|v\|;\ \nabla_vL=\frac g{\|v\|}\big(I-\tfrac{ww^\top}{\|w\|^2}\big)\nabla_wL,\ "
        r"\partial_gL=\frac{v^\top\nabla_wL}{\|v\|},\ \langle\nabla_vL,v\rangle=0"
    ),
    assumptions=("no zero row of v",),
    notes="[P] for the definition (Ba et al. 2016 §5.1 too); the gradient forms [D].",
    under_test=("bntheory.norms.weight_norm", "bntheory.norms.weight_norm_backward"),
)


def ctx_weight_error(ctx: Context, reference: str, wrong: bool = False) -> Outcome:
    """Worst relative error of (w, dv, dg) against mpmath or PyTorch (`reference`) on 2-D and 4-D weights."""
    worst = Worst()
    shapes = ((4, 3), (3, 2, 2, 2)) if reference == "mp" else ((64, 32), (16, 8, 3, 3), (5, 4))
    for shape in shapes:
        rng = ctx.rng(f"weight/{reference}/{shape}", shared=True)
        v, dw, g = rng.normal(size=shape), rng.normal(size=shape), rng.uniform(0.5, 2, size=shape[0])
        w, cache = norms.weight_norm(ctx.asarray(v), ctx.asarray(g))
        dv, dg = norms.weight_norm_backward(ctx.asarray(dw), cache)
        if wrong:  # the projector dropped: dv = g / ||v|| dw
            dv = cache.g / cache.norm * ctx.asarray(dw)
        got = flat(to_numpy(a) for a in (w, dv, dg))
        want = flat(mp_weight_norm(v, g, dw, dim=0) if reference == "mp" else torch_weight_norm(v, g, dw, dim=0))
        worst.add(max_relative_error(got, want))
    tol = CLOSED_FORM if reference == "mp" else FLOAT64_ORACLE
    return at_most(float(worst), float(tol), f"(w, dv, dg) on {', '.join(map(str, shapes))}")


@weight_norm.symbolic("SymPy: the derivatives = the closed forms, and <dv, v> = 0, d = 2, 3")
def _(ctx: Context) -> Outcome:
    return exact(sum(residuals(weight_norm_steps(d)) for d in ctx.by_size(quick=(2,), default=(2, 3))), "g symbolic")


@weight_norm.numeric("vs mpmath central differences (50 digits)", backends=ARRAY)
def _(ctx: Context) -> Outcome:
    return ctx_weight_error(ctx, "mp")


@weight_norm.numeric("vs torch._weight_norm + autograd, float64", needs=NEEDS, backends=ARRAY)
def _(ctx: Context) -> Outcome:
    return ctx_weight_error(ctx, "torch")


@weight_norm.numeric("<grad_v L, v> = 0 per row (scale invariance in v)", backends=ARRAY)
def _(ctx: Context) -> Outcome:
    rng = ctx.rng("weight/orthogonal", shared=True)
    v, dw = rng.normal(size=(8, 5)) * rng.uniform(0.1, 10, size=(8, 1)), rng.normal(size=(8, 5))
    _, cache = norms.weight_norm(ctx.asarray(v), ctx.asarray(rng.uniform(0.5, 2, size=8)))
    dv = to_numpy(norms.weight_norm_backward(ctx.asarray(dw), cache)[0])
    scale = np.linalg.norm(dv, axis=1) * np.linalg.norm(v, axis=1)
    return at_most(float(np.max(np.abs(np.sum(dv * v, axis=1)) / scale)), float(FLOAT64_ORACLE), "8 rows, norms 0.1-10")


@weight_norm.negative_control("the projector dropped: grad_v L = g / ||v|| grad_w L", backends=ARRAY)
def _(ctx: Context) -> Outcome:
    return ctx_weight_error(ctx, "mp", wrong=True)

