r"""The invariance table (Ba, Kiros & Hinton 2016, Table 1; THEORY-2.md §9.3): one result per row, both settings.

Setting (Ba et al. §5.1): a bias-free layer :math:`a=Wx`, fully connected (:math:`S=1`) or a 1×1 convolution at
:math:`S=4` positions, normalized without affine at :math:`\epsilon=0`
(:func:`bntheory.norms.invariance.normalized_layer`). Columns: (1) :math:`W\to\delta W`; (2) :math:`W\to W+\mathbf
1c^\top`; (3) :math:`w_i\to\delta w_i`; (4) :math:`x_n\to\delta x_n` for all :math:`n`; (5) :math:`x_n\to x_n+c` for
all :math:`n`; (6) :math:`x_n\to\delta x_n` for one :math:`n` (:mod:`bntheory.norms.invariance`). "Y" = the output is
unchanged. Each row is a result with two checks, on random layers and data, :math:`\delta\in\{2.5,0.1,10\}` (quick:
2.5 and one draw): every "Y" cell changes the output (:math:`\max|y'-y|/\max|y|`) by at most
:data:`~bntheory.checks.tolerances.IDENTITY`, every "N" cell by at least
:data:`~bntheory.checks.tolerances.NOT_INVARIANT`. The four fully connected rows of BN, WN, LN (Ba et al. Table 1)
and RMSNorm (its authors' README) are [P]; the rest are [D]. Each control is the row's nearest plausible false
claim through the same comparison: :math:`\epsilon=10^{-5}` for BN (its scale invariances are then approximate),
the re-centring invariance of the fully connected LN carried into the convolution (trap (i)), and for the others
the one cell a neighbouring row has the other way.
"""

from __future__ import annotations

import numpy as np

from bntheory.backend import to_numpy
from bntheory.checks.compare import Outcome, at_least, at_most, exact, max_relative_error
from bntheory.checks.tolerances import IDENTITY, NOT_INVARIANT
from bntheory.context import Context
from bntheory.norms import invariance
from bntheory.registry import ARRAY, paper

PROOF = "invariance.py"

#: Each row: (setting, normalization, groups of GN, the six cells as published or derived). THEORY-2.md §9.3.
ROWS = {
    "fc_batch": ("fc", "batch", None, "YNYYYN"),
    "fc_weight": ("fc", "weight", None, "YNYNNN"),
    "fc_layer": ("fc", "layer", None, "YYNYNY"),
    "fc_rms": ("fc", "rms", None, "YNNYNY"),
    "fc_group": ("fc", "group", 2, "YYNYNY"),
    "conv_batch": ("conv", "batch", None, "YNYYYN"),
    "conv_layer": ("conv", "layer", None, "YNNYNY"),
    "conv_position": ("conv", "position", None, "YYNYNY"),
    "conv_group": ("conv", "group", 3, "YNNYNY"),
    "conv_instance": ("conv", "instance", None, "YNYYYY"),
    "conv_rms": ("conv", "rms", None, "YNNYNY"),
    "conv_weight": ("conv", "weight", None, "YNYNNN"),
}
#: Input shapes: (N, D) fully connected, (N, D, S) for the 1×1 convolution; C = 6 units from D = 5 inputs.
SHAPES = {"fc": (8, 5), "conv": (3, 5, 4)}
UNITS = 6
#: The eps of the BN controls: PyTorch's default.
CONTROL_EPS = 1e-5


def ctx_instances(ctx: Context, setting: str) -> list[dict]:
    """Random layers and data of `setting`, the same for every row of the table (one stream per setting)."""
    out = []
    for draw in range(ctx.by_size(quick=1, default=8)):
        rng = ctx.rng(f"{setting}/{draw}")
        shape = SHAPES[setting]
        scale = rng.uniform(0.5, 3)
        offset = rng.uniform(-2, 2, size=(1, shape[1]) + (1,) * (len(shape) - 2))
        out.append(
            {
                "W": rng.normal(size=(UNITS, shape[1])),
                "X": rng.normal(size=shape) * scale + offset,
                # The shifts of (2) and (5) on the scale of what they shift: O(1) transformations.
                "c_weights": rng.normal(size=shape[1]),
                "c_data": scale * rng.normal(size=shape[1]),
                "row": int(rng.integers(UNITS)),
                "case": int(rng.integers(shape[0])),
            }
        )
    return out


def ctx_changes(ctx: Context, row: str, eps: float = 0.0) -> np.ndarray:
    """Relative output changes, one column per transformation (1)-(6), one line per draw and factor delta."""
    setting, norm, groups, _ = ROWS[row]
    instances = ctx.memo(f"invariance {setting} instances", lambda inner: ctx_instances(inner, setting))
    lines = []
    for inst in instances:
        W, X = ctx.asarray(inst["W"]), ctx.asarray(inst["X"])
        shifts = {"c_weights": ctx.asarray(inst["c_weights"]), "c_data": ctx.asarray(inst["c_data"])}
        y = to_numpy(invariance.normalized_layer(W, X, norm, groups=groups, eps=eps))
        for delta in ctx.by_size(quick=(2.5,), default=(2.5, 0.1, 10.0)):
            line = []
            for number in invariance.TRANSFORMATIONS:
                W2, X2 = invariance.transformed(number, W, X, delta=delta, row=inst["row"], case=inst["case"], **shifts)
                line.append(
                    max_relative_error(to_numpy(invariance.normalized_layer(W2, X2, norm, groups=groups, eps=eps)), y)
                )
            lines.append(line)
    return np.asarray(lines)


def ctx_cells(ctx: Context, row: str, cells: str, claim: str, eps: float = 0.0) -> Outcome:
    """The cells of `row` claimed `claim` ("Y" or "N") by the pattern `cells`, compared as that claim says."""
    changes = ctx.memo(f"invariance {row} eps={eps}", lambda inner: ctx_changes(inner, row, eps))
    columns = [k for k, cell in enumerate(cells) if cell == claim]
    what = ", ".join(
        f"({k + 1}) {np.max(changes[:, k]) if claim == 'Y' else np.min(changes[:, k]):.2g}" for k in columns
    )
    detail = f"{ROWS[row][0]}, eps = {eps:g}, {len(changes)} draws x factors; per cell: {what}"
    # np.max / np.min propagate NaN (every row has cells of both kinds, so neither is empty).
    if claim == "Y":
        return at_most(float(np.max(changes[:, columns])), float(IDENTITY), detail)
    return at_least(float(np.min(changes[:, columns])), float(NOT_INVARIANT), detail)


def ctx_y(ctx: Context, row: str) -> Outcome:
    """The row's "Y" cells: the output is unchanged (at most IDENTITY)."""
    return ctx_cells(ctx, row, ROWS[row][3], "Y")


def ctx_n(ctx: Context, row: str) -> Outcome:
    """The row's "N" cells: the output changes (at least NOT_INVARIANT)."""
    return ctx_cells(ctx, row, ROWS[row][3], "N")


BA2016 = paper("ba2016", citation="Ba, Kiros & Hinton 2016", arxiv="1607.06450")
ZHANG2019 = paper("zhang2019", citation="Zhang & Sennrich 2019", arxiv="1910.07467")
WU2018 = paper("wu2018", citation="Wu & He 2018", arxiv="1803.08494")
ULYANOV2016 = paper("ulyanov2016", citation="Ulyanov, Vedaldi & Lempitsky 2016", arxiv="1607.08022")

#: What every row puts to the test: the six transformations and the normalized layer; each row adds its norm.
UNDER_TEST = (
    "bntheory.norms.invariance.normalized_layer",
    "bntheory.norms.invariance.transformed",
    "bntheory.norms.invariance.rescale_weights",
    "bntheory.norms.invariance.recentre_weights",
    "bntheory.norms.invariance.rescale_row",
    "bntheory.norms.invariance.rescale_data",
    "bntheory.norms.invariance.recentre_data",
    "bntheory.norms.invariance.rescale_case",
)
#: The row of each result as LaTeX, from ROWS.
CELLS = {row: r",\ ".join(rf"({k})\,\mathrm{{{c}}}" for k, c in enumerate(spec[3], 1)) for row, spec in ROWS.items()}
FC = ("bias-free a = W x, fully connected: (N, D) = (8, 5) inputs, C = 6 units", "no affine, eps = 0")
CONV = (
    "bias-free 1x1 convolution a = W x at S = 4 positions: (N, D, S) = (3, 5, 4), C = 6 channels",
    "no affine, eps = 0",
)
SIZES = "8 draws x delta in {2.5, 0.1, 10} (quick: 1 draw, delta = 2.5)"
Y, N = "the 'Y' cells: the output is unchanged", "the 'N' cells: the output changes"

# --- fully connected: the published rows ----------------------------------------------------------------

invariance_fc_batch = BA2016.result(
    "invariance_fc_batch",
    where="Table 1 (batch normalization row), §5.1; THEORY-2.md §9.3",
    proof=PROOF,
    title="Invariance, fully connected BN: weight rescaling, one row, data rescaling and re-centring; not (2), (6)",
    tag="P",
    statement=r"\mathrm{BN}(Wx):\ " + CELLS["fc_batch"],
    assumptions=FC,
    notes=(
        f"Ba et al.'s row, reproduced; {SIZES}. The control: with eps = 1e-5 (PyTorch's default) the scale "
        "invariances (1), (3), (4) hold only to about eps / var(a) (THEORY-2.md §9.3: 7.9e-6 at delta = 2.5)."
    ),
    under_test=(*UNDER_TEST, "bntheory.norms.batch.forward"),
)


@invariance_fc_batch.numeric(Y, backends=ARRAY)
def _(ctx: Context) -> Outcome:
    return ctx_y(ctx, "fc_batch")


@invariance_fc_batch.numeric(N, backends=ARRAY)
def _(ctx: Context) -> Outcome:
    return ctx_n(ctx, "fc_batch")


@invariance_fc_batch.negative_control("the 'Y' cells claimed exact at eps = 1e-5", backends=ARRAY)
def _(ctx: Context) -> Outcome:
    return ctx_cells(ctx, "fc_batch", ROWS["fc_batch"][3], "Y", eps=CONTROL_EPS)


invariance_fc_weight = BA2016.result(
    "invariance_fc_weight",
    where="Table 1 (weight normalization row), §5.1; THEORY-2.md §9.3",
    proof=PROOF,
    title="Invariance, fully connected WN: weight rescaling and one row only; nothing on the data side",
    tag="P",
    statement=r"\frac{w_i^\top x}{\|w_i\|}:\ " + CELLS["fc_weight"],
    assumptions=FC[:1],
    notes=(
        f"Ba et al.'s row (WN as mu = 0, sigma = ||w||), reproduced; {SIZES}. The control claims BN's data "
        "rescaling invariance (4) for WN: WN's output scales with the data."
    ),
    under_test=(*UNDER_TEST, "bntheory.norms.weight_norm"),
)


@invariance_fc_weight.numeric(Y, backends=ARRAY)
def _(ctx: Context) -> Outcome:
    return ctx_y(ctx, "fc_weight")


@invariance_fc_weight.numeric(N, backends=ARRAY)
def _(ctx: Context) -> Outcome:
    return ctx_n(ctx, "fc_weight")


@invariance_fc_weight.negative_control("(4) data rescaling claimed invariant too, as for BN", backends=ARRAY)
def _(ctx: Context) -> Outcome:
    return ctx_cells(ctx, "fc_weight", "YNYYNN", "Y")


invariance_fc_layer = BA2016.result(
    "invariance_fc_layer",
    where="Table 1 (layer normalization row), §5.1; THEORY-2.md §9.3",
    proof=PROOF,
    title="Invariance, fully connected LN: weight rescaling and re-centring, data rescaling, one case; not (3), (5)",
    tag="P",
    statement=r"\mathrm{LN}(Wx):\ " + CELLS["fc_layer"],
    assumptions=FC,
    notes=(
        f"Ba et al.'s row, reproduced; {SIZES}. The control claims data re-centring invariance (5) (LN centres, "
        "but x + c shifts unit i by w_i^T c, different for each unit of the group)."
    ),
    under_test=(*UNDER_TEST, "bntheory.norms.layer_norm"),
)


@invariance_fc_layer.numeric(Y, backends=ARRAY)
def _(ctx: Context) -> Outcome:
    return ctx_y(ctx, "fc_layer")


@invariance_fc_layer.numeric(N, backends=ARRAY)
def _(ctx: Context) -> Outcome:
    return ctx_n(ctx, "fc_layer")


@invariance_fc_layer.negative_control("(5) data re-centring claimed invariant (LN centres each sample)", backends=ARRAY)
def _(ctx: Context) -> Outcome:
    return ctx_cells(ctx, "fc_layer", "YYNYYY", "Y")


invariance_fc_rms = ZHANG2019.result(
    "invariance_fc_rms",
    where="the authors' README (invariance table, RMSNorm row); THEORY-2.md §9.3",
    proof=PROOF,
    title="Invariance, fully connected RMSNorm: LN's row without the weight re-centring invariance (2)",
    tag="P",
    statement=r"\mathrm{RMS}(Wx)=\frac{Wx}{\sqrt{\overline{(Wx)^2}}}:\ " + CELLS["fc_rms"],
    assumptions=FC,
    notes=(
        f"The README's row, reproduced; {SIZES}. The control claims LN's re-centring invariance (2), which "
        "RMSNorm gives up by not centring (the README's own point)."
    ),
    under_test=(*UNDER_TEST, "bntheory.norms.rms_norm"),
)


@invariance_fc_rms.numeric(Y, backends=ARRAY)
def _(ctx: Context) -> Outcome:
    return ctx_y(ctx, "fc_rms")


@invariance_fc_rms.numeric(N, backends=ARRAY)
def _(ctx: Context) -> Outcome:
    return ctx_n(ctx, "fc_rms")


@invariance_fc_rms.negative_control("(2) weight re-centring claimed invariant, as for LN", backends=ARRAY)
def _(ctx: Context) -> Outcome:
    return ctx_cells(ctx, "fc_rms", "YYNYNY", "Y")


# --- fully connected: derived ------------------------------------------------------------------------------

invariance_fc_group = WU2018.result(
    "invariance_fc_group",
    where="GroupNorm in Ba et al.'s Table 1 setting (THEORY-2.md §9.3)",
    proof=PROOF,
    title="Invariance, fully connected GN (2 groups of 3 units): LN's row",
    tag="D",
    statement=r"\mathrm{GN}_{G=2}(Wx):\ " + CELLS["fc_group"],
    assumptions=(*FC, "at least 2 units per group (one unit per group, IN, is undefined: sigma = 0)"),
    notes=(
        f"{SIZES}. Each group holds all of a sample's shift c^T x under (2), so GN keeps LN's row. The control "
        "claims BN's one-row invariance (3): the rescaled row changes its group's statistics."
    ),
    under_test=(*UNDER_TEST, "bntheory.norms.group_norm"),
)


@invariance_fc_group.numeric(Y, backends=ARRAY)
def _(ctx: Context) -> Outcome:
    return ctx_y(ctx, "fc_group")


@invariance_fc_group.numeric(N, backends=ARRAY)
def _(ctx: Context) -> Outcome:
    return ctx_n(ctx, "fc_group")


@invariance_fc_group.negative_control("(3) one row rescaled claimed invariant, as for BN", backends=ARRAY)
def _(ctx: Context) -> Outcome:
    return ctx_cells(ctx, "fc_group", "YYYYNY", "Y")


# --- 1x1 convolution, S = 4 positions: derived --------------------------------------------------------------

invariance_conv_batch = BA2016.result(
    "invariance_conv_batch",
    where="Table 1 (batch normalization row) for a 1x1 convolution (THEORY-2.md §9.3)",
    proof=PROOF,
    title="Invariance, 1x1 convolution, BN: the fully connected row",
    tag="D",
    statement=r"\mathrm{BN}(Wx)\ \text{per channel over}\ (n,s):\ " + CELLS["conv_batch"],
    assumptions=CONV,
    notes=f"{SIZES}. The control: the 'Y' cells claimed exact at eps = 1e-5, as in the fully connected row.",
    under_test=(*UNDER_TEST, "bntheory.norms.batch.forward"),
)


@invariance_conv_batch.numeric(Y, backends=ARRAY)
def _(ctx: Context) -> Outcome:
    return ctx_y(ctx, "conv_batch")


@invariance_conv_batch.numeric(N, backends=ARRAY)
def _(ctx: Context) -> Outcome:
    return ctx_n(ctx, "conv_batch")


@invariance_conv_batch.negative_control("the 'Y' cells claimed exact at eps = 1e-5", backends=ARRAY)
def _(ctx: Context) -> Outcome:
    return ctx_cells(ctx, "conv_batch", ROWS["conv_batch"][3], "Y", eps=CONTROL_EPS)


invariance_conv_layer = BA2016.result(
    "invariance_conv_layer",
    where="Table 1 (layer normalization row) for a 1x1 convolution, LN over (C, S) (THEORY-2.md §9.3, trap (i))",
    proof=PROOF,
    title="Invariance, 1x1 convolution, LN over (C, S): loses the weight re-centring invariance (2)",
    tag="D",
    statement=r"\mathrm{LN}_{(C,S)}(Wx):\ " + CELLS["conv_layer"],
    assumptions=CONV,
    notes=(
        f"{SIZES}. Under (2) every unit at position s shifts by c^T x_s, which varies over the positions of the "
        "group (C, S), so the centring does not remove it (trap (i); GroupNorm(1, C) is this LN). The control "
        "carries the fully connected LN's 'Y' for (2) into the convolution."
    ),
    under_test=(*UNDER_TEST, "bntheory.norms.layer_norm"),
)


@invariance_conv_layer.numeric(Y, backends=ARRAY)
def _(ctx: Context) -> Outcome:
    return ctx_y(ctx, "conv_layer")


@invariance_conv_layer.numeric(N, backends=ARRAY)
def _(ctx: Context) -> Outcome:
    return ctx_n(ctx, "conv_layer")


@invariance_conv_layer.negative_control("(2) claimed invariant, as for the fully connected LN", backends=ARRAY)
def _(ctx: Context) -> Outcome:
    return ctx_cells(ctx, "conv_layer", ROWS["fc_layer"][3], "Y")


invariance_conv_position = BA2016.result(
    "invariance_conv_position",
    where="Table 1 (layer normalization row) for a 1x1 convolution, LN per position (THEORY-2.md §9.3)",
    proof=PROOF,
    title="Invariance, 1x1 convolution, LN per position (the transformer's): keeps the fully connected LN's row",
    tag="D",
    statement=r"\mathrm{LN}_{C}(Wx)\ \text{at each}\ (n,s):\ " + CELLS["conv_position"],
    assumptions=CONV,
    notes=(
        f"{SIZES}. Each group is one position, where c^T x_s is constant: re-centring invariance (2) survives. "
        "The control is LN over (C, S)'s row ('N' for (2)) claimed for LN per position, through the 'N' comparison."
    ),
    under_test=(*UNDER_TEST, "bntheory.norms.layer_norm"),
)


@invariance_conv_position.numeric(Y, backends=ARRAY)
def _(ctx: Context) -> Outcome:
    return ctx_y(ctx, "conv_position")


@invariance_conv_position.numeric(N, backends=ARRAY)
def _(ctx: Context) -> Outcome:
    return ctx_n(ctx, "conv_position")


@invariance_conv_position.negative_control("(2) claimed to change the output, as for LN over (C, S)", backends=ARRAY)
def _(ctx: Context) -> Outcome:
    return ctx_cells(ctx, "conv_position", ROWS["conv_layer"][3], "N")


invariance_conv_group = WU2018.result(
    "invariance_conv_group",
    where="GroupNorm in Ba et al.'s Table 1 setting, 1x1 convolution (THEORY-2.md §9.3, trap (i))",
    proof=PROOF,
    title="Invariance, 1x1 convolution, GN (3 groups of 2 channels): loses the weight re-centring invariance (2)",
    tag="D",
    statement=r"\mathrm{GN}_{G=3}(Wx):\ " + CELLS["conv_group"],
    assumptions=CONV,
    notes=(
        f"{SIZES}. As LN over (C, S): the shift c^T x_s of (2) varies over each group's positions. The control "
        "carries the fully connected GN's 'Y' for (2) into the convolution (trap (i))."
    ),
    under_test=(*UNDER_TEST, "bntheory.norms.group_norm"),
)


@invariance_conv_group.numeric(Y, backends=ARRAY)
def _(ctx: Context) -> Outcome:
    return ctx_y(ctx, "conv_group")


@invariance_conv_group.numeric(N, backends=ARRAY)
def _(ctx: Context) -> Outcome:
    return ctx_n(ctx, "conv_group")


@invariance_conv_group.negative_control("(2) claimed invariant, as for the fully connected GN", backends=ARRAY)
def _(ctx: Context) -> Outcome:
    return ctx_cells(ctx, "conv_group", ROWS["fc_group"][3], "Y")


invariance_conv_instance = ULYANOV2016.result(
    "invariance_conv_instance",
    where="InstanceNorm in Ba et al.'s Table 1 setting, 1x1 convolution (THEORY-2.md §9.3, trap (ii))",
    proof=PROOF,
    title="Invariance, 1x1 convolution, IN: invariant to everything but the weight re-centring (2)",
    tag="D",
    statement=r"\mathrm{IN}(Wx)\ \text{per}\ (n,c)\ \text{over}\ s:\ " + CELLS["conv_instance"],
    assumptions=(*CONV, "S >= 2 positions (fully connected, each group is one value: IN is undefined)"),
    notes=(
        f"{SIZES}. Each group is one channel of one sample: (3), (5), (6) rescale or shift it whole, but (2) "
        "shifts it by c^T x_s, which varies over the positions. The control claims all six cells 'Y'."
    ),
    under_test=(*UNDER_TEST, "bntheory.norms.instance_norm"),
)


@invariance_conv_instance.numeric(Y, backends=ARRAY)
def _(ctx: Context) -> Outcome:
    return ctx_y(ctx, "conv_instance")


@invariance_conv_instance.numeric(N, backends=ARRAY)
def _(ctx: Context) -> Outcome:
    return ctx_n(ctx, "conv_instance")


@invariance_conv_instance.numeric("fully connected (S = 1): IN is undefined, and refused (ValueError)", backends=ARRAY)
def _(ctx: Context) -> Outcome:
    rng = ctx.rng("fully connected")
    W, X = ctx.asarray(rng.normal(size=(UNITS, 5))), ctx.asarray(rng.normal(size=SHAPES["fc"]))
    try:
        invariance.normalized_layer(W, X, "instance")
    except ValueError:
        return exact(0, "normalized_layer(W, X of shape (8, 5), 'instance') raised ValueError")
    return exact(1, "IN of a fully connected layer returned an output")


@invariance_conv_instance.negative_control("all six cells claimed invariant, (2) too", backends=ARRAY)
def _(ctx: Context) -> Outcome:
    return ctx_cells(ctx, "conv_instance", "YYYYYY", "Y")


invariance_conv_rms = ZHANG2019.result(
    "invariance_conv_rms",
    where="the authors' README row (RMSNorm) for a 1x1 convolution, RMSNorm over (C, S) (THEORY-2.md §9.3)",
    proof=PROOF,
    title="Invariance, 1x1 convolution, RMSNorm over (C, S): the fully connected row",
    tag="D",
    statement=r"\mathrm{RMS}_{(C,S)}(Wx):\ " + CELLS["conv_rms"],
    assumptions=CONV,
    notes=f"{SIZES}. The control claims LN's re-centring invariance (2), as in the fully connected row.",
    under_test=(*UNDER_TEST, "bntheory.norms.rms_norm"),
)


@invariance_conv_rms.numeric(Y, backends=ARRAY)
def _(ctx: Context) -> Outcome:
    return ctx_y(ctx, "conv_rms")


@invariance_conv_rms.numeric(N, backends=ARRAY)
def _(ctx: Context) -> Outcome:
    return ctx_n(ctx, "conv_rms")


@invariance_conv_rms.negative_control("(2) weight re-centring claimed invariant, as for LN", backends=ARRAY)
def _(ctx: Context) -> Outcome:
    return ctx_cells(ctx, "conv_rms", "YYNYNY", "Y")


invariance_conv_weight = BA2016.result(
    "invariance_conv_weight",
    where="Table 1 (weight normalization row) for a 1x1 convolution (THEORY-2.md §9.3)",
    proof=PROOF,
    title="Invariance, 1x1 convolution, WN: the fully connected row",
    tag="D",
    statement=r"\frac{w_c^\top x_s}{\|w_c\|}:\ " + CELLS["conv_weight"],
    assumptions=CONV[:1],
    notes=f"{SIZES}. The control claims BN's data rescaling invariance (4), as in the fully connected row.",
    under_test=(*UNDER_TEST, "bntheory.norms.weight_norm"),
)


@invariance_conv_weight.numeric(Y, backends=ARRAY)
def _(ctx: Context) -> Outcome:
    return ctx_y(ctx, "conv_weight")


@invariance_conv_weight.numeric(N, backends=ARRAY)
def _(ctx: Context) -> Outcome:
    return ctx_n(ctx, "conv_weight")


@invariance_conv_weight.negative_control("(4) data rescaling claimed invariant too, as for BN", backends=ARRAY)
def _(ctx: Context) -> Outcome:
    return ctx_cells(ctx, "conv_weight", "YNYYNN", "Y")
