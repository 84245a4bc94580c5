r"""The transfer matrix, row T3: Kohler et al.'s per-unit length-direction decoupling under other normalizations.

THEORY-2.md §9.4. A weight row :math:`w_j` is decoupled into a length and a direction (Kohler et al. 2019 §3.2,
THEORY.md §3.2) when the loss does not depend on its length; at :math:`\epsilon=0` that scale invariance is
equivalent to :math:`\langle\nabla_{w_j}L,w_j\rangle=0`. The net: :math:`a=Wx` (a 1×1 convolution at :math:`S=3`
positions, :math:`C=6` units) :math:`\to` the normalization :math:`\to\tanh\to` a linear readout and a squared
loss, its gradient in :math:`W` by PyTorch's autograd through the library's forward (never through a closed-form
backward). BN, IN and WN decouple per row; GN per group of rows; LN and RMSNorm only the whole matrix,
:math:`\langle\nabla_WL,W\rangle_F=0` (the finding: length-direction decoupling fails for LN and RMSNorm). And the
exact bridge to THEORY.md §3.1: training-mode BN of one unit is WN in the metric of the centred batch covariance.
"""

from __future__ import annotations

import numpy as np

from bntheory.backend import to_numpy
from bntheory.checks.compare import Outcome, Worst, at_most, max_relative_error
from bntheory.checks.oracles.autograd import torch_gradient
from bntheory.checks.tolerances import IDENTITY
from bntheory.context import Context
from bntheory.norms import invariance
from bntheory.registry import ARRAY, paper

PROOF = "invariance.py"
NEEDS = ("torch",)
#: (N, D, S) inputs, C units, K readout outputs; GN with 3 groups of 2 units.
SHAPE, UNITS, OUTPUTS, GROUPS = (4, 5, 3), 6, 2, 3
#: The eps of IN's control: PyTorch's default.
CONTROL_EPS = 1e-5

TRANSFER = paper(
    "transfer",
    citation="THEORY-2.md §9.4",
    source="THEORY-2.md §9.4 (the transfer matrix, derived and verified in bntheory)",
)


def ctx_nets(ctx: Context) -> list[dict]:
    """Random nets (weights with rows of lengths 0.3-3, offset data, readout, targets), shared by every column."""
    out = []
    for draw in range(ctx.by_size(quick=1, default=6)):
        rng = ctx.rng(f"net/{draw}")
        out.append(
            {
                "X": rng.normal(size=SHAPE) * rng.uniform(0.5, 3) + rng.uniform(-2, 2, size=(1, SHAPE[1], 1)),
                "W": rng.normal(size=(UNITS, SHAPE[1])) * rng.uniform(0.3, 3, size=(UNITS, 1)),
                "V": rng.normal(size=(UNITS * SHAPE[2], OUTPUTS)),
                "T": rng.normal(size=(SHAPE[0], OUTPUTS)),
            }
        )
    return out


def ctx_inner_products(ctx: Context, norm: str, eps: float = 0.0) -> list[tuple[np.ndarray, np.ndarray]]:
    r"""``(W, grad_W L)`` per net, the gradient by autograd of the loss through ``normalized_layer(., norm)``."""
    import torch

    groups = GROUPS if norm == "group" else None
    pairs = []
    for net in ctx.memo("transfer t3 nets", ctx_nets):
        X, V, T = (torch.from_numpy(net[k]) for k in ("X", "V", "T"))

        def loss(W, X=X, V=V, T=T):
            y = invariance.normalized_layer(W, X, norm, groups=groups, eps=eps)
            return 0.5 * torch.sum((torch.tanh(y).reshape(SHAPE[0], -1) @ V - T) ** 2)

        pairs.append((net["W"], torch_gradient(loss, net["W"])[0]))
    return pairs


def ctx_orthogonality(ctx: Context, norm: str, blocks: str, eps: float = 0.0) -> Outcome:
    r"""Worst :math:`|\sum_{j\in B}\langle\nabla_{w_j}L,w_j\rangle|/\max_j\|\nabla_{w_j}L\|\|w_j\|` over blocks B.

    `blocks`: ``"row"`` (each row alone), ``"group"`` (GN's groups of rows) or ``"matrix"`` (all rows: the
    Frobenius inner product, relative to :math:`\|\nabla_WL\|_F\|W\|_F`).
    """
    worst = Worst()
    for W, G in ctx.memo(f"transfer t3 {norm} eps={eps}", lambda inner: ctx_inner_products(inner, norm, eps)):
        t = np.sum(G * W, axis=1)
        if blocks == "matrix":
            worst.add(abs(np.sum(t)) / (np.linalg.norm(G) * np.linalg.norm(W)))
            continue
        sums = t if blocks == "row" else np.sum(np.reshape(t, (GROUPS, -1)), axis=1)
        worst.add(np.max(np.abs(sums)) / np.max(np.linalg.norm(G, axis=1) * np.linalg.norm(W, axis=1)))
    detail = f"{worst.count} nets, (N, D, S) = {SHAPE}, C = {UNITS}, eps = {eps:g}, autograd through the library"
    return at_most(float(worst), float(IDENTITY), detail)


ORTHOGONALITY = "autograd: <grad_{w_j} L, w_j> = 0 for every row j"
FROBENIUS = "autograd: <grad_W L, W>_F = 0 (the whole matrix)"
PER_ROW = "the per-row claim <grad_{w_j} L, w_j> = 0 (Kohler's per-unit decoupling, as for BN)"
NET = ("a = W x, 1x1 convolution, S = 3 positions, C = 6 units", "-> norm (no affine) -> tanh -> readout", "eps = 0")

t3_layer = TRANSFER.result(
    "t3_layer",
    where="T3 x LN (Kohler et al. 2019 §3.2 transferred)",
    proof=PROOF,
    title="Length-direction decoupling fails for LN: only the whole weight matrix is scale invariant",
    tag="D",
    statement=(
        r"\mathrm{LN}_{(C,S)}:\ \langle\nabla_WL,W\rangle_F=0,\ \text{but}\ "
        r"\langle\nabla_{w_j}L,w_j\rangle\neq0\ \text{per row}"
    ),
    assumptions=NET,
    notes=(
        "A finding, not a reproduction. LN standardizes each sample over all units, so rescaling W whole leaves "
        "the loss unchanged, while rescaling one row changes every unit's statistics: the per-row claim (true "
        "for BN, IN, WN) fails. This result's negative control is that claim, and its rejection, by a wide "
        "margin, is the evidence (the run's figure; THEORY-2.md §9.4 measured 5.3e-2 on its instance). So "
        "'passed' reads: the transferred form holds and the per-row one was refuted. No source claims per-row "
        "decoupling for LN, so this is not 'not reproduced'. Kohler's per-unit analysis keeps only the "
        "whole-matrix consequences of THEORY-2.md §10 for LN."
    ),
    under_test=("bntheory.norms.invariance.normalized_layer", "bntheory.norms.layer_norm"),
)


@t3_layer.numeric(FROBENIUS, needs=NEEDS)
def _(ctx: Context) -> Outcome:
    return ctx_orthogonality(ctx, "layer", "matrix")


@t3_layer.negative_control(PER_ROW, needs=NEEDS)
def _(ctx: Context) -> Outcome:
    return ctx_orthogonality(ctx, "layer", "row")


t3_group = TRANSFER.result(
    "t3_group",
    where="T3 x GN (Kohler et al. 2019 §3.2 transferred)",
    proof=PROOF,
    title="Length-direction decoupling under GN: per group of rows, not per row",
    tag="D",
    statement=r"\mathrm{GN}_G:\ \sum_{j\in g}\langle\nabla_{w_j}L,w_j\rangle=0\ \text{for each group}\ g",
    assumptions=(*NET, "G = 3 groups of 2 units"),
    notes=(
        "A group's rows rescaled together leave the loss unchanged; one row alone changes its group's "
        "statistics. The control is the per-row claim (THEORY-2.md §9.4 measured a miss of 1.3e-2 on its instance)."
    ),
    under_test=("bntheory.norms.invariance.normalized_layer", "bntheory.norms.group_norm"),
)


@t3_group.numeric("autograd: the sum of <grad_{w_j} L, w_j> over each group's rows = 0", needs=NEEDS)
def _(ctx: Context) -> Outcome:
    return ctx_orthogonality(ctx, "group", "group")


@t3_group.negative_control(PER_ROW, needs=NEEDS)
def _(ctx: Context) -> Outcome:
    return ctx_orthogonality(ctx, "group", "row")


t3_instance = TRANSFER.result(
    "t3_instance",
    where="T3 x IN (Kohler et al. 2019 §3.2 transferred)",
    proof=PROOF,
    title="Length-direction decoupling under IN: per row (channel), as for BN",
    tag="D",
    statement=r"\mathrm{IN}:\ \langle\nabla_{w_j}L,w_j\rangle=0\ \text{for every row}\ j",
    assumptions=NET,
    notes=(
        "Row j feeds channel j only, which IN standardizes per sample: Kohler's form holds per sample with a "
        "sample-dependent metric. The control drops the assumption eps = 0 (PyTorch's default 1e-5), which "
        "breaks the invariance at relative order eps / var (THEORY-2.md §9.3, trap (iii))."
    ),
    under_test=("bntheory.norms.invariance.normalized_layer", "bntheory.norms.instance_norm"),
)


@t3_instance.numeric(ORTHOGONALITY, needs=NEEDS)
def _(ctx: Context) -> Outcome:
    return ctx_orthogonality(ctx, "instance", "row")


@t3_instance.negative_control("the per-row claim at eps = 1e-5", needs=NEEDS)
def _(ctx: Context) -> Outcome:
    return ctx_orthogonality(ctx, "instance", "row", eps=CONTROL_EPS)


t3_rms = TRANSFER.result(
    "t3_rms",
    where="T3 x RMSNorm (Kohler et al. 2019 §3.2 transferred)",
    proof=PROOF,
    title="Length-direction decoupling fails for RMSNorm: only the whole weight matrix is scale invariant",
    tag="D",
    statement=(
        r"\mathrm{RMS}_{(C,S)}:\ \langle\nabla_WL,W\rangle_F=0,\ \text{but}\ "
        r"\langle\nabla_{w_j}L,w_j\rangle\neq0\ \text{per row}"
    ),
    assumptions=NET,
    notes=(
        "As for LN (transfer.t3_layer): a finding, whose evidence is the rejected control, the per-row claim "
        "(THEORY-2.md §9.4 measured a miss of 5.4e-2 on its instance)."
    ),
    under_test=("bntheory.norms.invariance.normalized_layer", "bntheory.norms.rms_norm"),
)


@t3_rms.numeric(FROBENIUS, needs=NEEDS)
def _(ctx: Context) -> Outcome:
    return ctx_orthogonality(ctx, "rms", "matrix")


@t3_rms.negative_control(PER_ROW, needs=NEEDS)
def _(ctx: Context) -> Outcome:
    return ctx_orthogonality(ctx, "rms", "row")


t3_weight = TRANSFER.result(
    "t3_weight",
    where="T3 x WN, and the bridge BN = WN in the S_B metric (THEORY.md §3.1-3.2)",
    proof=PROOF,
    title="Length-direction decoupling under WN (Kohler's form with S = I) and BN, which is WN in the metric S_B",
    tag="D",
    statement=(
        r"\mathrm{WN},\ \mathrm{BN}:\ \langle\nabla_{w_j}L,w_j\rangle=0\ \forall j;\quad "
        r"\mathrm{BN}(Xw)=\frac{X_cw}{\|w\|_{S_B}},\ X_c=X-\mathbf 1\bar x^\top,\ S_B=\tfrac1mX_c^\top X_c"
    ),
    assumptions=(*NET[:2], "bridge: one unit, a batch X of m = 8 samples in d = 4 dims, eps = 0"),
    notes=(
        "WN is Kohler et al.'s f(g w / ||w||_S) with S = I. The bridge makes the BN cell exact: training-mode "
        "BN of one unit is WN in the metric of the centred, biased batch covariance (THEORY-2.md §9.4: 3.1e-16), "
        "so Kohler's form holds for BN with S = S_B, and BN's rows decouple in the same net. The control puts "
        "the uncentred second moment X^T X / m in place of S_B (THEORY-2.md §9.4: misses by 0.37)."
    ),
    under_test=(
        "bntheory.norms.invariance.normalized_layer",
        "bntheory.norms.weight_norm",
        "bntheory.norms.batch.forward",
    ),
)


@t3_weight.numeric(ORTHOGONALITY.replace("w_j", "v_j"), needs=NEEDS)
def _(ctx: Context) -> Outcome:
    return ctx_orthogonality(ctx, "weight", "row")


@t3_weight.numeric("autograd, BN in place of WN: <grad_{w_j} L, w_j> = 0 for every row j (S = S_B)", needs=NEEDS)
def _(ctx: Context) -> Outcome:
    return ctx_orthogonality(ctx, "batch", "row")


def ctx_bridge(ctx: Context, centred: bool) -> Outcome:
    """Worst relative distance of the library's BN of one unit from X_c w / ||w||_S (S_B, or the uncentred one)."""
    worst = Worst()
    for draw in range(ctx.by_size(quick=2, default=10)):
        rng = ctx.rng(f"bridge/{draw}", shared=True)
        X = rng.normal(size=(8, 4)) * rng.uniform(0.5, 3, size=4) + rng.uniform(-2, 2, size=4)
        w = rng.normal(size=4)
        got = to_numpy(invariance.normalized_layer(ctx.asarray(w[None, :]), ctx.asarray(X), "batch"))[:, 0]
        Xc = X - np.mean(X, axis=0)
        S = (Xc if centred else X).T @ (Xc if centred else X) / len(X)
        worst.add(max_relative_error(got, Xc @ w / np.sqrt(w @ S @ w)))
    what = "S_B = X_c^T X_c / m" if centred else "S = X^T X / m (uncentred)"
    return at_most(float(worst), float(IDENTITY), f"{worst.count} batches (8, 4) with offsets, {what}")


@t3_weight.numeric("BN(X w) of the library vs X_c w / ||w||_{S_B} in NumPy", backends=ARRAY)
def _(ctx: Context) -> Outcome:
    return ctx_bridge(ctx, centred=True)


@t3_weight.negative_control("the uncentred metric X^T X / m in place of S_B", backends=ARRAY)
def _(ctx: Context) -> Outcome:
    return ctx_bridge(ctx, centred=False)
