r"""The Jacobians of LayerNorm, RMSNorm, GroupNorm, InstanceNorm and WeightNorm: one projector per group.

Each result states a normalization's Jacobian (:mod:`bntheory.norms.jacobian`, THEORY-2.md §9.2 [D]) and checks it
three ways: SymPy's Jacobian of one group's forward against the closed form (ε symbolic) and the projector identities
at ε = 0 that fix its rank; the library's blocks, assembled into the full matrix, against 50-digit central differences
of the definition written entry by entry (:func:`~bntheory.checks.oracles.normalizations.mp_normalization_jacobian`,
which assumes no block structure, so every cross-group entry is checked to be 0); and the rank of that oracle
Jacobian, by SVD, against the statement. The control is the nearest plausible slip, through the mpmath comparison.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg

from bntheory.backend import to_numpy
from bntheory.checks.compare import Outcome, Worst, at_most, exact, max_relative_error
from bntheory.checks.oracles.normalizations import layout, mp_normalization_jacobian, mp_weight_norm_jacobian
from bntheory.checks.spectral import numerical_rank
from bntheory.checks.tolerances import CLOSED_FORM, RANK_GAP
from bntheory.context import Context
from bntheory.norms import jacobian as nj
from bntheory.registry import ARRAY
from bntheory.results.normalizations import BA2016, PROOF, SALIMANS2016, WU2018, ZHANG2019
from bntheory.symbolic.batchnorm import residuals
from bntheory.symbolic.normalizations import group_jacobian_steps, projector_residuals, weight_jacobian_steps

#: (shape, eps) per normalization: eps = 0 (the exact projector) and eps > 0 (one more direction survives).
CASES = {
    "layer": (((2, 5), 0.0), ((2, 4), 0.1)),
    "rms": (((2, 5), 0.0), ((2, 4), 0.1)),
    "group": (((2, 4, 2), 0.0), ((1, 4, 3), 0.1)),
    "instance": (((2, 2, 3), 0.0), ((1, 3, 4), 0.1)),
}
#: How the mpmath oracle groups the entries: LN and RMSNorm over the last axis, GroupNorm in 2 groups.
LAYOUT = {"layer": {"trailing": 1}, "rms": {"trailing": 1}, "group": {"groups": 2}, "instance": {}}


def ctx_blocks(ctx: Context, kind: str, x: np.ndarray, gamma: np.ndarray, eps: float, wrong: bool = False):
    """The library's per-group Jacobians of `kind` as float64 blocks (groups, m, m); `wrong`: the control's slip."""
    X, G = ctx.asarray(x), ctx.asarray(gamma)
    if kind == "layer":
        J = nj.layer_norm_jacobian(X, x.shape[-1], G, eps=eps)
        if wrong:  # the gain on the columns (inputs) instead of the rows: J diag(gamma) / gamma_i
            J = nj.layer_norm_jacobian(X, x.shape[-1], eps=eps) * G[None, None, :]
    elif kind == "rms":
        J = nj.rms_norm_jacobian(X, x.shape[-1], G, eps=eps)
        if wrong:  # LayerNorm's centring term -1 1^T / m kept in RMSNorm's bracket
            m = x.shape[-1]
            cache_inv = 1 / np.sqrt(np.mean(x**2, axis=-1) + eps)
            J = J - ctx.asarray(gamma[None, :, None] * cache_inv[:, None, None] / m)
    elif kind == "group":
        J = nj.group_norm_jacobian(X, 2, G, eps=eps)
        if wrong:  # statistics over the whole sample (one group), restricted to the true groups' blocks
            whole = to_numpy(nj.group_norm_jacobian(X, 1, G, eps=eps))
            m = whole.shape[-1] // 2
            J = np.stack([whole[:, 0, k * m : (k + 1) * m, k * m : (k + 1) * m] for k in range(2)], axis=1)
    else:
        J = nj.instance_norm_jacobian(X, G, eps=eps)
    J = to_numpy(J)
    return J.reshape(-1, *J.shape[-2:])


def ctx_draw(ctx: Context, kind: str, shape: tuple[int, ...]):
    """An offset, scaled batch and gains near 1 (elementwise for LN/RMS, per channel for GN/IN)."""
    rng = ctx.rng(f"{kind}/{shape}", shared=True)
    x = rng.normal(size=shape) * rng.uniform(0.5, 3) + rng.uniform(-2, 2)
    params = shape[-1:] if kind in ("layer", "rms") else shape[1:2]
    return x, 1 + 0.4 * rng.normal(size=params)


def ctx_jacobian_error(ctx: Context, kinds: tuple[str, ...], wrong: bool = False) -> Outcome:
    """Worst relative error of the assembled block-diagonal Jacobian against the mpmath one, over the cases."""
    worst = Worst()
    for kind in kinds:
        for shape, eps in CASES[kind]:
            x, gamma = ctx_draw(ctx, kind, shape)
            full = scipy.linalg.block_diag(*ctx_blocks(ctx, kind, x, gamma, eps, wrong))
            worst.add(
                max_relative_error(
                    full,
                    mp_normalization_jacobian(
                        x, layout(kind, x.ndim, channels=x.shape[1], **LAYOUT[kind]), gamma, eps=eps
                    ),
                ),
                f"{kind} {shape}, eps = {eps}",
            )
    return at_most(
        float(worst), float(CLOSED_FORM), f"full Jacobian vs 50-digit central differences; worst {worst.where}"
    )


def ctx_rank_mismatches(ctx: Context, kinds: tuple[str, ...], drop: dict[str, tuple[int, int]]) -> Outcome:
    """Blocks of the mpmath Jacobian whose SVD rank is not m - drop[kind][eps > 0]."""
    lines, misses = [], 0
    for kind in kinds:
        for shape, eps in CASES[kind]:
            x, gamma = ctx_draw(ctx, kind, shape)
            how = layout(kind, x.ndim, channels=x.shape[1], **LAYOUT[kind])
            full = mp_normalization_jacobian(x, how, gamma, eps=eps)
            # Groups are contiguous in C order for every layout here; their size comes from the oracle's layout.
            m = x.size // len({how.group_of(i) for i in np.ndindex(x.shape)})
            ranks = [numerical_rank(full[k : k + m, k : k + m], RANK_GAP.value) for k in range(0, full.shape[0], m)]
            want = m - drop[kind][eps > 0]
            misses += sum(r != want for r in ranks)
            lines.append(f"{kind} {shape} eps = {eps}: ranks {ranks} (stated {want})")
    return exact(misses, "; ".join(lines))


def ctx_symbolic(ctx: Context, center: bool, channels: int | None = None) -> Outcome:
    """SymPy's Jacobian of one group vs the closed form (eps symbolic), and the projector identities at eps = 0."""
    sizes = ctx.by_size(quick=(3,), default=(3, 4))
    failures = sum(residuals(*group_jacobian_steps(m, center=center, channels=channels)) for m in sizes)
    failures += sum(projector_residuals(m, center=center) for m in sizes)
    return exact(failures, f"group sizes {sizes}, eps symbolic; P^2 = P, P^T = P, null space and trace at eps = 0")


JACOBIAN = (
    r"\frac{\partial y}{\partial x}=\frac1s\,\mathrm{diag}(\gamma)"
    r"\big(I-\tfrac1m\mathbf 1\mathbf 1^\top-\tfrac1m\hat x\hat x^\top\big)"
)

layer_jacobian = BA2016.result(
    "jacobian",
    where="the per-sample Jacobian of eq. 3 (derived, THEORY-2.md §9.2)",
    proof=PROOF,
    title="LayerNorm's Jacobian is BN's projector taken per sample, the gain on the outputs",
    tag="D",
    statement=JACOBIAN + r"\ \text{per sample};\ \operatorname{rank}=m-2\ (\epsilon=0),\ m-1\ (\epsilon>0)",
    assumptions=("nonzero gains", "eps >= 0; a constant sample needs eps > 0"),
    notes="At eps = 0 the bracket is the orthogonal projector onto {1, x_hat}^perp (||x_hat||^2 = m); samples do "
    "not interact (the full Jacobian is block diagonal), unlike BN, whose projector couples the batch.",
    under_test=("bntheory.norms.jacobian.layer_norm_jacobian",),
)


@layer_jacobian.symbolic("SymPy: Jacobian of one sample = the closed form; P^2 = P, rank m - 2 at eps = 0")
def _(ctx: Context) -> Outcome:
    return ctx_symbolic(ctx, center=True)


@layer_jacobian.numeric("full Jacobian vs mpmath central differences (50 digits), eps = 0 and 0.1", backends=ARRAY)
def _(ctx: Context) -> Outcome:
    return ctx_jacobian_error(ctx, ("layer",))


@layer_jacobian.numeric("SVD rank of the mpmath Jacobian per sample: m - 2 at eps = 0, m - 1 at eps > 0")
def _(ctx: Context) -> Outcome:
    return ctx_rank_mismatches(ctx, ("layer",), {"layer": (2, 1)})


@layer_jacobian.negative_control("the gain on the inputs (columns) instead of the outputs", backends=ARRAY)
def _(ctx: Context) -> Outcome:
    return ctx_jacobian_error(ctx, ("layer",), wrong=True)


rms_jacobian = ZHANG2019.result(
    "jacobian",
    where="the Jacobian of RMSNorm (derived, THEORY-2.md §9.2)",
    proof=PROOF,
    title="RMSNorm's Jacobian has no centring term: rank m - 1 at eps = 0, full at eps > 0",
    tag="D",
    statement=r"\frac{\partial y}{\partial x}=\frac1r\,\mathrm{diag}(\gamma)\big(I-\tfrac1m\hat x\hat x^\top\big);\ "
    r"\operatorname{rank}=m-1\ (\epsilon=0),\ m\ (\epsilon>0)",
    assumptions=("nonzero gains", "eps >= 0; an all-zero sample needs eps > 0"),
    notes="Without centring, 1 is not in the null space: RMSNorm is not invariant to re-centring (THEORY-2.md §9.3).",
    under_test=("bntheory.norms.jacobian.rms_norm_jacobian",),
)


@rms_jacobian.symbolic("SymPy: Jacobian = the closed form without the 1 1^T / m term; P^2 = P, rank m - 1")
def _(ctx: Context) -> Outcome:
    return ctx_symbolic(ctx, center=False)


@rms_jacobian.numeric("full Jacobian vs mpmath central differences (50 digits), eps = 0 and 0.1", backends=ARRAY)
def _(ctx: Context) -> Outcome:
    return ctx_jacobian_error(ctx, ("rms",))


@rms_jacobian.numeric("SVD rank of the mpmath Jacobian per sample: m - 1 at eps = 0, m at eps > 0")
def _(ctx: Context) -> Outcome:
    return ctx_rank_mismatches(ctx, ("rms",), {"rms": (1, 0)})


@rms_jacobian.negative_control("LayerNorm's centring term -1 1^T / m kept in the bracket", backends=ARRAY)
def _(ctx: Context) -> Outcome:
    return ctx_jacobian_error(ctx, ("rms",), wrong=True)


group_jacobian = WU2018.result(
    "jacobian",
    where="the Jacobian of GroupNorm and InstanceNorm (derived, THEORY-2.md §9.2)",
    proof=PROOF,
    title="GroupNorm's Jacobian is block diagonal: LayerNorm's projector per (sample, group), per-channel gains",
    tag="D",
    statement=JACOBIAN + r"\ \text{per (sample, group)};\ \text{InstanceNorm: per (sample, channel)}",
    assumptions=("channels divisible by the groups (2 here)", "at least 2 values per group", "nonzero gains"),
    notes="A group's gains repeat over each channel's positions; InstanceNorm is GroupNorm with one channel per "
    "group, checked here with its own function.",
    under_test=("bntheory.norms.jacobian.group_norm_jacobian", "bntheory.norms.jacobian.instance_norm_jacobian"),
)


@group_jacobian.symbolic("SymPy: one group of 2 channels x 2 positions (gains per channel) = the closed form")
def _(ctx: Context) -> Outcome:
    failures = residuals(*group_jacobian_steps(4, center=True, channels=2))
    return exact(failures, "m = 4, 2 channels, eps symbolic (the projector identities: ba2016.jacobian)")


@group_jacobian.numeric("full Jacobian (GroupNorm, InstanceNorm) vs mpmath central differences", backends=ARRAY)
def _(ctx: Context) -> Outcome:
    return ctx_jacobian_error(ctx, ("group", "instance"))


@group_jacobian.numeric("SVD rank of each (sample, group) block: m - 2 at eps = 0, m - 1 at eps > 0")
def _(ctx: Context) -> Outcome:
    return ctx_rank_mismatches(ctx, ("group", "instance"), {"group": (2, 1), "instance": (2, 1)})


@group_jacobian.negative_control(
    "statistics over the whole sample (one group) in place of each group's", backends=ARRAY
)
def _(ctx: Context) -> Outcome:
    return ctx_jacobian_error(ctx, ("group",), wrong=True)


weight_jacobian = SALIMANS2016.result(
    "jacobian",
    where="dw/dv of w = g v / ||v|| (derived, THEORY-2.md §9.2)",
    proof=PROOF,
    title="WeightNorm's Jacobian projects out the direction of v: rank k - 1 per slice",
    tag="D",
    statement=r"\frac{\partial w}{\partial v}=\frac g{\|v\|}\big(I-\hat v\hat v^\top\big),\ "
    r"\frac{\partial w}{\partial v}v=0,\ \operatorname{rank}=k-1",
    assumptions=("no zero slice of v", "g != 0"),
    under_test=("bntheory.norms.jacobian.weight_norm_jacobian",),
)


def ctx_weight_error(ctx: Context, wrong: bool = False) -> Outcome:
    """Relative error of the assembled per-row Jacobian against mpmath; `wrong`: the projector dropped."""
    worst = Worst()
    for shape in ((3, 4), (2, 2, 3)):
        rng = ctx.rng(f"weight/{shape}", shared=True)
        v, g = rng.normal(size=shape), rng.uniform(0.5, 2, size=shape[0])
        J = to_numpy(nj.weight_norm_jacobian(ctx.asarray(v), ctx.asarray(g)))
        if wrong:
            k = J.shape[-1]
            J = (g / np.linalg.norm(v.reshape(shape[0], -1), axis=1))[:, None, None] * np.eye(k)
        worst.add(max_relative_error(scipy.linalg.block_diag(*J), mp_weight_norm_jacobian(v, g, dim=0)), str(shape))
    return at_most(float(worst), float(CLOSED_FORM), f"full dw/dv vs 50-digit central differences; worst {worst.where}")


@weight_jacobian.symbolic("SymPy: dw/dv = (g / ||v||)(I - v_hat v_hat^T) and (dw/dv) v = 0, k = 2, 3")
def _(ctx: Context) -> Outcome:
    sizes = ctx.by_size(quick=(3,), default=(2, 3))
    return exact(sum(residuals(weight_jacobian_steps(k)) for k in sizes), f"k = {sizes}")


@weight_jacobian.numeric("full dw/dv vs mpmath central differences (50 digits)", backends=ARRAY)
def _(ctx: Context) -> Outcome:
    return ctx_weight_error(ctx)


@weight_jacobian.negative_control("the projector dropped: dw/dv = (g / ||v||) I", backends=ARRAY)
def _(ctx: Context) -> Outcome:
    return ctx_weight_error(ctx, wrong=True)
