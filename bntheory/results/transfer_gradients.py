r"""The transfer matrix, families T1 and T2: Ioffe's backprop structure and Santurkar's bounds beyond BN.

THEORY-2.md §9.4 asks, for each BN result of bntheory, whether it holds for LayerNorm, GroupNorm, InstanceNorm,
RMSNorm and weight normalization with the normalization *group* in place of the batch, and in which exact form.
This module states the answers of rows T1 (THEORY.md §1.2: the backward pass through BN and its two consequences,
:math:`\sum_i\partial\ell/\partial x_i=0` and :math:`\sum_i\hat x_i\,\partial\ell/\partial x_i=0` at
:math:`\epsilon=0`) and T2 (Santurkar et al. 2018, Theorems 4.1 and 4.2, THEORY.md §2.4-§2.5), one result per
cell. Derivation: ``proofs/transfer.py``. The matrix itself, and the cells of the other rows, are
:mod:`bntheory.matrix`.

Under test: the transforms of :mod:`bntheory.norms` and the transferred right sides of
:mod:`bntheory.landscape.lipschitz`. Oracles: PyTorch's native kernels with first-order autograd (left sides of
T1 and of Theorem 4.1's form), double backward through the group's normalization written from primitives
(Theorem 4.2's form), NumPy for the groups' statistics. Each control is the nearest plausible slip of the cell
through the same comparison (THEORY-2.md §9.2 trap (i), §9.4).
"""

from __future__ import annotations

import numpy as np
from array_api_compat import array_namespace

from bntheory import norms
from bntheory.backend import to_numpy
from bntheory.checks.compare import Outcome, Worst, at_most, max_relative_error
from bntheory.checks.inequality import Inequality, Params, attack_family, batch, nonneg, vector
from bntheory.checks.instances.landscape import Downstream, dot2, draw_batch
from bntheory.checks.instances.transfer import orthogonal_in_group, sample_layout
from bntheory.checks.oracles.normalizations import (
    torch_group_hessian_form,
    torch_normalization,
    torch_normalization_grads,
    torch_weight_norm,
)
from bntheory.checks.tolerances import CLOSED_FORM
from bntheory.context import Context
from bntheory.landscape import lipschitz
from bntheory.registry import ARRAY, paper

TRANSFER = paper(
    "transfer",
    citation="THEORY-2.md §9.4",
    source="THEORY-2.md §9.4 (the transfer matrix, derived and verified in bntheory)",
)
PROOF = "transfer.py"
NEEDS = ("torch",)
#: The attack's budget per run size, small next to Santurkar's own attack (checks/inequality.BUDGETS), which covers
#: the batch case that one group of these normalizations is: random instances per family (split between its group
#: sizes), the adversarial starts, the equality instances and a short differential-evolution climb; the kit's budget
#: at --size large.
BUDGET = {
    "quick": {"instances": 1_000, "population": 8, "generations": 3},
    "default": {"instances": 10_000, "population": 16, "generations": 8},
}
#: Rounding allowance on the float64 right side during the search only (as santurkar2018_bounds).
_ALLOWANCE = 1e-11


# --- T1: the backward pass and its two consequences, per group -----------------------------------------------

#: T1's input shapes: LN and RMSNorm over the features of (N, H); GN with 3 groups of 2 channels over (N, C, S); IN
#: over the positions of (N, C, S).
T1_SHAPES = {"layer": (4, 6), "rms": (4, 6), "group": (3, 6, 2), "instance": (3, 4, 3)}


def _t1_library(ctx: Context, kind: str, x, dy, gamma, eps: float):
    """``(dx, x_hat)`` from the library transform of `kind` (no shift) and its backward; x_hat in the grouped shape."""
    X, DY, G = (ctx.asarray(a) for a in (x, dy, gamma))
    if kind == "layer":
        _, cache = norms.layer_norm(X, x.shape[-1], G, eps=eps)
    elif kind == "rms":
        _, cache = norms.rms_norm(X, x.shape[-1], G, eps=eps)
    elif kind == "group":
        _, cache = norms.group_norm(X, 3, G, eps=eps)
    else:
        _, cache = norms.instance_norm(X, G, eps=eps)
    dx = to_numpy(norms.backward(DY, cache)[0])
    return np.asarray(dx, np.float64), np.asarray(to_numpy(cache.x_hat), np.float64)


def _t1_outcome(ctx: Context, kind: str, statistics: str) -> Outcome:
    r"""Worst of: library dx vs PyTorch's kernel; the group sums of dx; the x_hat-weighted sums vs their closed form.

    `statistics` names the groups the two sums (and their :math:`\hat x`, :math:`s`) are taken over: ``"own"``
    (the normalization's groups: the statement); for the controls ``"batch"`` (BN's: each channel over the samples
    and positions), ``"sample"`` (LayerNorm's: the whole sample) or ``"centred"`` (RMSNorm's groups with
    LayerNorm's centring and its sum identity).
    """
    shape = T1_SHAPES[kind]
    gains = shape[-1] if kind in ("layer", "rms") else shape[1]
    gain_shape = (gains,) if kind in ("layer", "rms") else (1, gains) + (1,) * (len(shape) - 2)
    worst = Worst()
    for eps in (0.0, 1e-2):
        rng = ctx.rng(f"t1/{kind}/{eps}", shared=True)
        x = rng.normal(size=shape) * rng.uniform(0.5, 3) + rng.uniform(-2, 2)
        dy, gamma = rng.normal(size=shape), 1 + 0.4 * rng.normal(size=gains)
        dx, x_hat = _t1_library(ctx, kind, x, dy, gamma, eps)
        want = torch_normalization(kind, x, dy, gamma, eps=eps, trailing=1, groups=3)[1]
        worst.add(max_relative_error(dx, want), f"dx vs PyTorch, eps = {eps}")
        g = dy * np.reshape(gamma, gain_shape)
        # The groups as rows, written from THEORY-2.md §9.1's table (not read from the library's cache).
        if statistics == "batch":

            def rows(a):
                return np.moveaxis(a, 1, 0).reshape(shape[1], -1)
        elif statistics == "sample" or kind in ("layer", "rms"):

            def rows(a):
                return a.reshape(shape[0], -1)
        else:
            per = 2 * shape[2] if kind == "group" else shape[2]

            def rows(a, per=per):
                return a.reshape(-1, per)

        x_r, g_r, d_r = rows(x), rows(g), rows(dx)
        m = x_r.shape[1]
        z = x_r if kind == "rms" and statistics == "own" else x_r - x_r.mean(axis=1, keepdims=True)
        s = np.sqrt(np.mean(z * z, axis=1) + eps)
        xh = z / s[:, None]
        if kind != "rms" or statistics != "own":
            worst.add(np.max(np.abs(d_r.sum(axis=1)) / np.sum(np.abs(d_r), axis=1)), f"sum dx, eps = {eps}")
        # sum x_hat dx = (1/s)(1 - |x_hat|^2/m) sum g x_hat: zero at eps = 0 (THEORY.md §1.2's consequence).
        lhs = np.sum(xh * d_r, axis=1)
        rhs = (1 - np.sum(xh * xh, axis=1) / m) * np.sum(g_r * xh, axis=1) / s
        worst.add(np.max(np.abs(lhs - rhs) / (np.sum(np.abs(xh * d_r), axis=1) + np.abs(rhs))), f"x_hat dx, {eps}")
        if statistics == "own":
            worst.add(max_relative_error(rows(x_hat.reshape(shape)), xh), f"x_hat, eps = {eps}")
    return at_most(float(worst), CLOSED_FORM.value, f"{kind}, {shape}, eps in {{0, 1e-2}}; worst at {worst.where}")


T1_FORM = (
    r"\nabla_x\ell=\frac1s\big(g-\overline g\,\mathbf 1-\hat x\,\overline{g\odot\hat x}\big),\ g=\gamma\odot\delta"
    r"\ \text{per group};\ \textstyle\sum_{\text{group}}\nabla_x\ell=0,\ "
    r"\sum_{\text{group}}\hat x\odot\nabla_x\ell=\frac1s\big(1-\frac{\|\hat x\|^2}m\big)\langle g,\hat x\rangle"
    r"\ (=0\text{ at }\epsilon=0)"
)
T1_NOTES = (
    "THEORY-2.md §9.4 row T1 [D]: Ioffe & Szegedy's backward pass (THEORY.md §1.2) and its two consequences hold "
    "with the batch replaced by the normalization group and the gain inside the projector. The closed form itself is "
    "also the subject of the normalization's own result (ba2016.layer_norm, wu2018.group_norm, "
    "ulyanov2016.instance_norm, zhang2019.rms_norm); this cell checks the structure: library dx against PyTorch's "
    "kernel and both group sums, at eps = 0 and 1e-2. The control takes the sums over BN's groups (each channel "
    "across the batch), the literal transfer of Ioffe's identities."
)


T1_ASSUMPTIONS = ("eps >= 0; a constant (RMSNorm: zero) group needs eps > 0", "no shift (it does not enter dx)")

t1_layer = TRANSFER.result(
    "t1_layer",
    where="row T1 (Ioffe backprop structure, THEORY.md §1.2), LN",
    proof=PROOF,
    title="T1 LayerNorm: Ioffe's backward per sample over the layer, the gain inside the projector",
    tag="D",
    statement=T1_FORM,
    assumptions=T1_ASSUMPTIONS,
    notes=T1_NOTES,
    under_test=("bntheory.norms.layer_norm", "bntheory.norms.backward"),
)
t1_group = TRANSFER.result(
    "t1_group",
    where="row T1 (Ioffe backprop structure, THEORY.md §1.2), GN",
    proof=PROOF,
    title="T1 GroupNorm: Ioffe's backward per (sample, group of channels)",
    tag="D",
    statement=T1_FORM,
    assumptions=(*T1_ASSUMPTIONS, "3 groups of 2 channels; the gain varies within a group"),
    notes=T1_NOTES,
    under_test=("bntheory.norms.group_norm", "bntheory.norms.backward"),
)
t1_instance = TRANSFER.result(
    "t1_instance",
    where="row T1 (Ioffe backprop structure, THEORY.md §1.2), IN",
    proof=PROOF,
    title="T1 InstanceNorm: Ioffe's backward per (sample, channel)",
    tag="D",
    statement=T1_FORM,
    assumptions=(*T1_ASSUMPTIONS, "spatial positions (3 here): a fully connected IN group has one value"),
    notes=T1_NOTES.replace(
        "The control takes the sums over BN's groups (each channel across the batch), the literal transfer of "
        "Ioffe's identities.",
        "IN's groups tile BN's (and LN's), so both sums vanish over any union of them: BN's groups are no control "
        "here. The control computes the identities with the statistics of the whole sample (LayerNorm's x_hat).",
    ),
    under_test=("bntheory.norms.instance_norm", "bntheory.norms.backward"),
)
t1_rms = TRANSFER.result(
    "t1_rms",
    where="row T1 (Ioffe backprop structure, THEORY.md §1.2), RMSNorm",
    proof=PROOF,
    title="T1 RMSNorm: Ioffe's backward without the 1 term, so sum dx != 0",
    tag="D",
    statement=(
        r"\nabla_x\ell=\frac1r\big(g-\hat x\,\overline{g\odot\hat x}\big);\ "
        r"\textstyle\sum\hat x\odot\nabla_x\ell=\frac1r\big(1-\frac{\|\hat x\|^2}m\big)\langle g,\hat x\rangle;"
        r"\ \sum\nabla_x\ell\neq0"
    ),
    assumptions=T1_ASSUMPTIONS,
    notes=T1_NOTES.replace(
        "The control takes the sums over BN's groups (each channel across the batch), the literal transfer of "
        "Ioffe's identities.",
        "RMSNorm does not centre, so the first identity is gone (THEORY-2.md §9.2: 'sum dx = 0' misses by 0.60 of "
        "max |dx|); the control imposes it, through the same comparison.",
    ),
    under_test=("bntheory.norms.rms_norm", "bntheory.norms.backward"),
)

for _kind, _result in (("layer", t1_layer), ("group", t1_group), ("instance", t1_instance), ("rms", t1_rms)):

    @_result.numeric(
        "library dx = PyTorch's kernel; group sums of dx and of x_hat dx = closed forms", needs=NEEDS, backends=ARRAY
    )
    def _(ctx: Context, kind: str = _kind) -> Outcome:
        return _t1_outcome(ctx, kind, "own")

    @_result.negative_control(
        {
            "rms": "LayerNorm's centring and its identity sum dx = 0 imposed on RMSNorm",
            "instance": "the identities with the statistics of the whole sample (LayerNorm's group)",
        }.get(_kind, "the identities over BN's groups (each channel across the batch)"),
        needs=NEEDS,
        backends=ARRAY,
    )
    def _(ctx: Context, kind: str = _kind) -> Outcome:
        return _t1_outcome(ctx, kind, {"rms": "centred", "instance": "sample"}.get(kind, "batch"))


t1_weight = TRANSFER.result(
    "t1_weight",
    where="row T1 (Ioffe backprop structure, THEORY.md §1.2), WN",
    proof=PROOF,
    title="T1 WeightNorm: the backward is a projector on the weights, orthogonal to v, with no 1 term",
    tag="D",
    statement=(
        r"w=g\,v/\|v\|:\ \nabla_vL=\frac g{\|v\|}\big(I-\hat w\hat w^\top\big)\nabla_wL,\ "
        r"\langle\nabla_vL,v\rangle=0,\ \textstyle\sum_i(\nabla_vL)_i\neq0"
    ),
    assumptions=("per output row; no zero row",),
    notes=(
        "THEORY-2.md §9.4 row T1 [D]: 'n/a (weights)': WN normalizes the weights, and its backward is Ioffe's "
        "structure with the row in place of the batch, the unit w_hat in place of x_hat / sqrt(m) and no centring "
        "term. Checked per row against torch._weight_norm with autograd (the formula itself is also "
        "salimans2016.weight_norm's). Control: BN's centring identity sum_i (grad_v L)_i = 0 imposed."
    ),
    under_test=("bntheory.norms.weight_norm", "bntheory.norms.weight_norm_backward"),
)


def _t1_weight(ctx: Context, centred: bool) -> Outcome:
    rng = ctx.rng("t1/weight", shared=True)
    worst = Worst()
    for shape in ((4, 3), (5, 6)):
        v, g, dw = rng.normal(size=shape), rng.uniform(0.5, 2, size=shape[0]), rng.normal(size=shape)
        _, cache = norms.weight_norm(ctx.asarray(v), ctx.asarray(g))
        dv = np.asarray(to_numpy(norms.weight_norm_backward(ctx.asarray(dw), cache)[0]), np.float64)
        worst.add(max_relative_error(dv, torch_weight_norm(v, g, dw, dim=0)[1]), f"dv vs PyTorch, {shape}")
        scale = np.sum(np.abs(dv * v), axis=1)
        worst.add(np.max(np.abs(np.sum(dv * v, axis=1)) / scale), f"<dv, v>, {shape}")
        if centred:
            worst.add(np.max(np.abs(dv.sum(axis=1)) / np.sum(np.abs(dv), axis=1)), f"sum dv, {shape}")
    return at_most(float(worst), CLOSED_FORM.value, f"rows of {(4, 3)} and {(5, 6)}; worst at {worst.where}")


@t1_weight.numeric("library dv = PyTorch's kernel; <dv, v> = 0 per row", needs=NEEDS, backends=ARRAY)
def _(ctx: Context) -> Outcome:
    return _t1_weight(ctx, centred=False)


@t1_weight.negative_control("BN's centring identity sum_i (grad_v L)_i = 0 imposed", needs=NEEDS, backends=ARRAY)
def _(ctx: Context) -> Outcome:
    return _t1_weight(ctx, centred=True)


# --- T2: Santurkar's Theorem 4.1 and 4.2 forms, per group ----------------------------------------------------


def _t2_specs(ctx: Context, kind: str, wrong: str = "") -> dict[str, Inequality]:
    r"""Theorem 4.1's form for one sample of `kind` as specs (one per group size); `wrong` names a control's slip.

    Every side takes a batch of samples (block name -> array ``(N, *shape)`` in ``ctx.xp``). Left side:
    :math:`\|\nabla_x\ell\|^2` of :math:`\ell=\langle\delta,\gamma\odot N_\epsilon(x)\rangle` over the sample by
    PyTorch's native kernel and autograd on the whole batch (:func:`torch_normalization_grads`: one eps per sample
    through the kernel's scale invariance); right side: the library's bound summed over the sample's groups. Equality
    at :math:`\epsilon=0` (any :math:`\delta,\gamma`) and at :math:`\epsilon>0` where :math:`\hat x^\top g=0` in
    every group; "<=" otherwise. Slips: ``"gain outside"`` (:math:`\overline{\gamma^2}\,\|P\delta\|^2/s^2`),
    ``"ones term"`` (RMSNorm given LayerNorm's :math:`-(\mathbf 1^\top g)^2/m`), ``"sample"`` (InstanceNorm bounded
    with the whole sample as its group).
    """

    def spec(m: int) -> Inequality:
        how = sample_layout(kind, m)
        n, center = how.size, how.center

        def power(v):
            """Each group's variance (RMSNorm: mean square) plus eps, ``(N, groups)``; from the definition."""
            x = how.grouped(v["x"])
            xp = array_namespace(x)
            return (xp.var(x, axis=-1) if center else xp.mean(x * x, axis=-1)) + v["eps"][:, None]

        def rhs(v):
            xp = array_namespace(v["x"])
            x, delta, gain = how.grouped(v["x"]), how.grouped(v["delta"]), how.gain(v["gamma"])
            eps = v["eps"][:, None]  # one per sample, the same for its groups
            if wrong == "gain outside":  # mean(gamma^2) times the bound of the gain-free map
                ones = lipschitz.group_gradient_norm_bound(delta, x, eps=eps, center=center)
                return xp.sum(xp.mean(gain * gain, axis=-1) * ones, axis=-1)
            if wrong == "sample":  # one group: the whole sample (LayerNorm over (C, S))
                x, delta, gain = (xp.reshape(a, (a.shape[0], 1, n)) for a in (x, delta, gain))
            right = xp.sum(lipschitz.group_gradient_norm_bound(delta, x, gain, eps=eps, center=center), axis=-1)
            if wrong == "ones term":  # LayerNorm's -(1^T g)^2 / (m r^2), with RMSNorm's r
                right = right - xp.sum(xp.sum(gain * delta, axis=-1) ** 2 / (how.m * power(v)), axis=-1)
            return right

        def lhs(v):
            xp = array_namespace(v["x"])
            sample = (v["x"].shape[0], *how.shape[1:])
            x, delta, gain = (xp.reshape(a, sample) for a in (v["x"], v["delta"], how.gain(v["gamma"])))
            dx = torch_normalization_grads(kind, x, delta, gain, v["eps"], groups=how.groups)
            return dot2(xp.reshape(dx, (sample[0], n)))

        def allowance(v):
            g = how.gain(v["gamma"]) * how.grouped(v["delta"])
            return _ALLOWANCE * array_namespace(g).sum(dot2(g) / power(v), axis=-1)

        def draw(rng, eps: float, orthogonal: bool) -> dict:
            x, gamma = draw_batch(rng, n), 1 + 0.4 * rng.normal(size=how.gains)
            delta = rng.normal(size=n)
            if orthogonal:  # g = gamma * delta orthogonal to each group's x_hat: equality at eps > 0 too
                gain = how.gain(gamma)
                delta = (orthogonal_in_group(how.grouped(x), rng, center=center) / gain).ravel()
                delta = delta + (rng.normal() / gain.ravel() if center else 0)  # 1 is orthogonal to x_hat
            return {"x": x, "delta": delta, "gamma": gamma, "eps": eps}

        def equality(rng):
            return [draw(rng, 0.0, False), draw(rng, 0.0, False), draw(rng, 0.3, True)]

        def starts(rng):
            """A nearly constant group with a tiny eps, and a tiny gain."""
            near, tiny = draw(rng, 1e-4, False), draw(rng, 0.1, False)
            near["x"] = 1.0 + 1e-3 * rng.normal(size=n)
            tiny["gamma"] = 1e-3 * tiny["gamma"]
            return [near, tiny]

        return Inequality(
            Params(batch("x", n), vector("delta", n, spread=(0.1, 5)), vector("gamma", how.gains), nonneg("eps")),
            lhs=lhs,
            rhs=rhs,
            valid=lambda v: array_namespace(v["x"]).all(power(v) >= 1e-12, axis=-1),
            allowance=allowance,
            starts=starts,
            equality=equality,
            what="||grad_x l||^2 / sum of the groups' bounds",
        )

    sizes = {"group": ctx.by_size(quick=(4,), default=(4, 6)), "instance": ctx.by_size(quick=(3,), default=(3, 5))}
    return {f"m={m}": spec(m) for m in sizes.get(kind, ctx.by_size(quick=(5,), default=(4, 9)))}


def _t2_attack(ctx: Context, kind: str, wrong: str = "") -> Outcome:
    budget = ctx.by_size(quick=BUDGET["quick"], default=BUDGET["default"], large={})
    return attack_family(_t2_specs(ctx, kind, wrong), ctx, control=bool(wrong), **budget)


def _t2_hessian(ctx: Context, kind: str, mean_gain: bool = False) -> Outcome:
    r"""Theorem 4.2's form for one group of `kind` against double backward, :math:`v\perp\mathbf 1,\hat x`, eps >= 0.

    `mean_gain`: the control, the scalar-:math:`\gamma` (BN) form with :math:`\gamma` replaced by its mean.
    Error: :math:`|\text{lhs}-\text{rhs}|` over the size of the two terms with norms for inner products.
    """
    how = sample_layout(kind, 6, channels=3)
    rng = ctx.rng(f"t2/hessian/{kind}", shared=True)
    err = Worst()
    for k in range(ctx.by_size(quick=3, default=9)):
        eps = (0.0, 1e-2, 0.5)[k % 3]
        x, gamma = draw_batch(rng, how.m), how.gain(1 + 0.4 * rng.normal(size=how.gains))[0]
        F = Downstream(rng.normal(size=how.m), rng.normal(size=(how.m, how.m)), rng.normal(size=how.m))
        v = orthogonal_in_group(x[None], rng, center=how.center)[0]
        z = x - x.mean() if how.center else x
        x_hat = z / np.sqrt(np.mean(z * z) + eps)
        g, H = F.grad(gamma * x_hat), F.hess(gamma * x_hat)
        form = torch_group_hessian_form(x, gamma, eps, F.torch, v, center=how.center)
        gain = np.full_like(gamma, gamma.mean()) if mean_gain else gamma
        right = lipschitz.group_hessian_form(*(ctx.asarray(a) for a in (v, H, g, x, gain)), eps=eps, center=how.center)
        s2 = np.mean(z * z) + eps
        size = (
            np.linalg.norm(gamma * v) ** 2 * np.linalg.norm(H, 2)
            + v @ v * np.linalg.norm(gamma * g) * np.sqrt(how.m) / how.m
        ) / s2
        err.add(abs(form - float(to_numpy(right))) / size, f"eps = {eps}")
    return at_most(float(err), CLOSED_FORM.value, f"{kind}, m = {how.m}, |lhs - rhs| / size; worst at {err.where}")


T2_41 = (
    r"\|\nabla_x\ell\|^2\le\frac1{s^2}\Big(\|g\|^2-\tfrac1m(\mathbf 1^\top g)^2-\tfrac1m(\hat x^\top g)^2\Big)"
    r"\ (=\text{ at }\epsilon=0),\ g=\gamma\odot\delta\ \text{per group};\ "
)
T2_42 = (
    r"v\perp\mathbf 1,\hat x:\ v^\top\nabla_x^2\hat L\,v=\frac1{s^2}(\gamma\odot v)^\top H(\gamma\odot v)"
    r"-\frac{\|v\|^2}{ms^2}\langle\gamma\odot\hat g,\hat x\rangle\ (\epsilon\ge0)"
)
T2_ASSUMPTIONS = (
    "one normalization group at a time (the sample's groups are independent)",
    "eps >= 0: Theorem 4.1's form is an equality at eps = 0 and '<=' for eps > 0 (the eps-normalized x_hat); "
    "Theorem 4.2's form is exact for every eps >= 0 along directions orthogonal to 1 and x_hat",
    "z = gamma * x_hat + beta, g_hat = grad_z F, H = Hess_z F for a smooth downstream F",
)
T2_NOTES = (
    "THEORY-2.md §9.4 row T2 [D]: Santurkar et al.'s Theorems 4.1 and 4.2 (THEORY.md §2.4-§2.5) with the batch "
    "replaced by the group and the gain inside (elementwise gamma). Theorem 4.1's form is attacked as an "
    "inequality by the batched kit (10^4 random instances per family at the default size, 10^3 at --quick, the "
    "adversarial starts, a short differential-evolution climb; left side from PyTorch's native kernel with autograd "
    "on the whole batch) with its equality case declared; Theorem 4.2's form is compared with double backward on "
    "random groups, eps in {0, 1e-2, 0.5}. The attack's budget is small next to santurkar2018.thm4_1's (10^6 "
    "instances), which covers BN."
)

t2_layer = TRANSFER.result(
    "t2_layer",
    where="row T2 (Santurkar Theorems 4.1, 4.2), LN",
    proof=PROOF,
    title="T2 LayerNorm: Santurkar's Theorem 4.1 and 4.2 forms per sample, the elementwise gain inside",
    tag="D",
    statement=T2_41 + T2_42,
    assumptions=T2_ASSUMPTIONS,
    notes=T2_NOTES
    + " Control: the elementwise gain pulled out, mean(gamma^2) ||P delta||^2 / s^2 (§9.4: misses by 0.14).",
    under_test=(
        "bntheory.landscape.lipschitz.group_gradient_norm_bound",
        "bntheory.landscape.lipschitz.group_hessian_form",
    ),
)
t2_group = TRANSFER.result(
    "t2_group",
    where="row T2 (Santurkar Theorems 4.1, 4.2), GN",
    proof=PROOF,
    title="T2 GroupNorm: Santurkar's forms per (sample, group), per-channel gains varying within the group",
    tag="D",
    statement=T2_41 + T2_42,
    assumptions=(*T2_ASSUMPTIONS, "2 groups of 2 (Theorem 4.1) or 3 (Theorem 4.2) channels"),
    notes=T2_NOTES
    + " Control: Theorem 4.2's scalar-gamma (BN) form with gamma replaced by its mean over the group (§9.4: misses "
    "by 2.1).",
    under_test=(
        "bntheory.landscape.lipschitz.group_gradient_norm_bound",
        "bntheory.landscape.lipschitz.group_hessian_form",
    ),
)
t2_instance = TRANSFER.result(
    "t2_instance",
    where="row T2 (Santurkar Theorems 4.1, 4.2), IN",
    proof=PROOF,
    title="T2 InstanceNorm: Santurkar's forms per (sample, channel)",
    tag="D",
    statement=T2_41 + T2_42,
    assumptions=(*T2_ASSUMPTIONS, "spatial positions; the gain is constant on a group"),
    notes=T2_NOTES
    + " The gain is constant on an InstanceNorm group, so the gain-inside slips do not exist here; the control is "
    "the bound with the whole sample (2 channels) as the group, LayerNorm's statistics.",
    under_test=(
        "bntheory.landscape.lipschitz.group_gradient_norm_bound",
        "bntheory.landscape.lipschitz.group_hessian_form",
    ),
)
t2_rms = TRANSFER.result(
    "t2_rms",
    where="row T2 (Santurkar Theorems 4.1, 4.2), RMSNorm",
    proof=PROOF,
    title="T2 RMSNorm: Santurkar's forms without the (1^T g)^2 term",
    tag="D",
    statement=(
        r"\|\nabla_x\ell\|^2\le\frac1{r^2}\Big(\|g\|^2-\tfrac1m(\hat x^\top g)^2\Big)\ (=\text{ at }\epsilon=0);\ "
        + T2_42.replace(r"v\perp\mathbf 1,\hat x", r"v\perp x").replace("s^2", "r^2")
    ),
    assumptions=T2_ASSUMPTIONS,
    notes=T2_NOTES + " Control: LayerNorm's extra -(1^T g)^2/m term (§9.4: misses by 0.31).",
    under_test=(
        "bntheory.landscape.lipschitz.group_gradient_norm_bound",
        "bntheory.landscape.lipschitz.group_hessian_form",
    ),
)

for _kind, _result in (("layer", t2_layer), ("group", t2_group), ("instance", t2_instance), ("rms", t2_rms)):

    @_result.numeric(
        "Theorem 4.1's form attacked (random + adversarial + climb), equality at eps = 0", needs=NEEDS, backends=ARRAY
    )
    def _(ctx: Context, kind: str = _kind) -> Outcome:
        return _t2_attack(ctx, kind)

    @_result.numeric(
        "Theorem 4.2's form vs double-backward HVP, v orthogonal to 1 and x_hat, eps in {0, 1e-2, 0.5}",
        needs=NEEDS,
        backends=ARRAY,
    )
    def _(ctx: Context, kind: str = _kind) -> Outcome:
        return _t2_hessian(ctx, kind)


@t2_layer.negative_control(
    "the elementwise gain pulled out: mean(gamma^2) ||P delta||^2 / s^2", needs=NEEDS, backends=ARRAY
)
def _(ctx: Context) -> Outcome:
    return _t2_attack(ctx, "layer", "gain outside")


@t2_group.negative_control(
    "Theorem 4.2's scalar-gamma form with gamma replaced by its mean", needs=NEEDS, backends=ARRAY
)
def _(ctx: Context) -> Outcome:
    return _t2_hessian(ctx, "group", mean_gain=True)


@t2_instance.negative_control("the whole sample as the group (LayerNorm's statistics)", needs=NEEDS, backends=ARRAY)
def _(ctx: Context) -> Outcome:
    return _t2_attack(ctx, "instance", "sample")


@t2_rms.negative_control("LayerNorm's extra -(1^T g)^2 / m term", needs=NEEDS, backends=ARRAY)
def _(ctx: Context) -> Outcome:
    return _t2_attack(ctx, "rms", "ones term")


t2_weight = TRANSFER.result(
    "t2_weight",
    where="row T2 (Santurkar Theorem 4.1), WN",
    proof=PROOF,
    title="T2 WeightNorm: ||grad_v||^2 = g^2/||v||^2 (||grad_w||^2 - (w_hat^T grad_w)^2), an identity",
    tag="D",
    statement=(
        r"w=g\,v/\|v\|:\ \|\nabla_vL\|^2=\frac{g^2}{\|v\|^2}\Big(\|\nabla_wL\|^2-(\hat w^\top\nabla_wL)^2\Big),"
        r"\ \hat w=v/\|v\|"
    ),
    assumptions=("per output row; no zero row", "no eps: an identity, not a bound"),
    notes=(
        "THEORY-2.md §9.4 row T2 [D]: Theorem 4.1 transferred to weights, where the projector removes one direction "
        "(no centring). Checked per row against PyTorch's torch._weight_norm with autograd, on random rows and rows "
        "with grad_w nearly along v (the cancellation). Control: BN's 1/m coefficient carried over with the unit "
        "w_hat, (w_hat^T grad_w)^2 / d (with BN's x_hat, of norm sqrt(m), that term is right; with a unit vector not)."
    ),
    under_test=("bntheory.landscape.lipschitz.weight_norm_gradient_norm",),
)


def _t2_weight(ctx: Context, slip: bool) -> Outcome:
    rng = ctx.rng("t2/weight", shared=True)
    err = Worst()
    for shape in ((4, 3), (6, 5), (3, 8)):
        v, g = rng.normal(size=shape) * rng.uniform(0.1, 10, size=(shape[0], 1)), rng.uniform(0.5, 2, size=shape[0])
        dw = rng.normal(size=shape)
        dw[0] = v[0] * 3 + 1e-4 * rng.normal(size=shape[1])  # grad_w nearly along v: the terms cancel
        dv = torch_weight_norm(v, g, dw, dim=0)[1]
        right = np.asarray(to_numpy(lipschitz.weight_norm_gradient_norm(*(ctx.asarray(a) for a in (dw, v, g)))))
        if slip:  # (w_hat^T dw)^2 / d in place of (w_hat^T dw)^2, as a correction
            along = (np.sum(dw * v, axis=1) / np.linalg.norm(v, axis=1)) ** 2
            right = right + g**2 / np.sum(v * v, axis=1) * along * (1 - 1 / shape[1])
        size = g**2 / np.sum(v * v, axis=1) * np.sum(dw * dw, axis=1)
        err.add(np.abs(np.sum(dv * dv, axis=1) - right) / size, f"{shape}")
    return at_most(
        float(err), CLOSED_FORM.value, f"|lhs - rhs| / (g^2 ||grad_w||^2 / ||v||^2) per row; worst at {err.where}"
    )


@t2_weight.numeric("per row vs torch._weight_norm + autograd, incl. grad_w nearly along v", needs=NEEDS, backends=ARRAY)
def _(ctx: Context) -> Outcome:
    return _t2_weight(ctx, slip=False)


@t2_weight.negative_control(
    "BN's 1/m carried over with the unit w_hat: (w_hat^T grad_w)^2 / d", needs=NEEDS, backends=ARRAY
)
def _(ctx: Context) -> Outcome:
    return _t2_weight(ctx, slip=True)
