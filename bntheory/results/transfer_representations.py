r"""The transfer matrix, families T5 and T6: BN's representation theorems do not carry over to per-sample norms.

THEORY-2.md §9.4 rows T5 (Daneshmand et al. 2020/2021: BN avoids rank collapse in deep random linear networks,
THEORY.md §5) and T6 (Nachum et al. 2024: one cluster plus one orthogonal outlier, invariant under recentering +
ReLU, THEORY.md §4). Both are *negative* cells for LayerNorm, RMSNorm and weight normalization: the registered
statement is THEORY-2.md's finding "the BN theorem does not transfer", with its mechanism, and a result passes when
the run confirms the finding. (``not reproduced`` is kept for a published claim that fails under its stated
assumptions; nobody claims that LayerNorm avoids rank collapse, so there is no such claim here to reproduce.) The
controls enter the nearest normalization for which the finding is false (one that does keep rank, or keeps the
outlier orthogonal) into the same gate, so the gate is shown to tell the two apart. Derivation:
``proofs/transfer.py``.

Under test: :func:`bntheory.representations.deep_network` with its per-sample and weight-normalized layers,
:func:`bntheory.representations.per_sample_norm` (the transforms of :mod:`bntheory.norms` on a batch's columns), the
soft rank. Oracles: the linear chain in NumPy (:func:`bntheory.checks.instances.transfer.linear_chain`), NumPy's
cosines.
"""

from __future__ import annotations

import numpy as np

from bntheory import representations as rep
from bntheory.backend import to_numpy
from bntheory.checks.compare import Outcome, at_least, at_most
from bntheory.checks.instances import networks as nets
from bntheory.checks.instances.transfer import linear_chain
from bntheory.checks.tolerances import CLOSED_FORM, T5_SPLIT, T6_COSINE
from bntheory.context import Context
from bntheory.registry import ARRAY, paper

TRANSFER = paper(
    "transfer",
    citation="THEORY-2.md §9.4",
    source="THEORY-2.md §9.4 (the transfer matrix, derived and verified in bntheory)",
)
PROOF = "transfer.py"
REP = "bntheory.representations."

# --- T5: rank collapse of the deep linear chain -------------------------------------------------------------

#: The chains of THEORY-2.md §9.4 T5 (d = N = 32, U[-sqrt 3, sqrt 3] weights, THEORY.md §5.1), as variants of
#: paired_networks: steps across the batch (BN's), or a per-sample normalization, or weight-normalized layers.
CHAINS: dict[str, dict] = {
    "layer": {"per_sample": "layer"},
    "rms": {"per_sample": "rms"},
    "weight": {"weight_norm": True},
    "group4": {"per_sample": "group", "groups": 4},
    "group8": {"per_sample": "group", "groups": 8},
    "batch": {"steps": ("rc", "rs")},
}


def _t5_soft_rank(ctx: Context, chain: str) -> tuple[float, int]:
    """Median soft rank over 8 networks and 6 depths of the chain's last quarter; and the depth.

    All the chains run once per process on the same weights (memoized), so the normalizations are compared on
    identical draws.
    """
    depth = ctx.by_size(quick=200, default=300, large=1000)
    depths = tuple(range(depth * 3 // 4, depth + 1, depth // 20))
    snaps = nets.memoized(
        ctx,
        "transfer.t5",
        (depth,),
        lambda rng, xp: nets.paired_snapshots(
            rng, xp, variants=CHAINS, depths=depths, width=32, seeds=8, weights="uniform"
        ),
    )
    soft = [np.asarray(to_numpy(rep.soft_rank(ctx.asarray(H))), dtype=np.float64) for H in snaps[chain].values()]
    return float(np.median(np.concatenate(soft))), depth


def _t5_collapse(ctx: Context, chain: str) -> Outcome:
    """The collapse gate: median soft rank <= T5_SPLIT."""
    soft, depth = _t5_soft_rank(ctx, chain)
    detail = f"{chain} chain, d = N = 32, layers {depth * 3 // 4}..{depth}: median soft rank {soft:.4g} (BN: about 5)"
    return at_most(soft, T5_SPLIT.value, detail)


def _t5_keeps(ctx: Context, chains: tuple[str, ...]) -> Outcome:
    """The keeps-rank gate: the smallest median soft rank of `chains` >= T5_SPLIT."""
    values = {c: _t5_soft_rank(ctx, c)[0] for c in chains}
    detail = ", ".join(f"{c}: {v:.4g}" for c, v in values.items())
    return at_least(float(np.min(list(values.values()))), T5_SPLIT.value, f"median soft ranks {detail}")


def _t5_mechanism(ctx: Context, kind: str) -> Outcome:
    """Column directions of the library's chain of `kind` = those of the linear chain (NumPy), same weights."""
    d, depth = 32, ctx.by_size(quick=10, default=40)
    H0 = ctx.rng("t5/input", shared=True).standard_normal((d, d))
    options = {k: v for k, v in CHAINS[kind].items() if k != "steps"}
    out = rep.deep_network(
        ctx.asarray(H0), depth, (), ctx.rng("t5/weights", shared=True), weights="uniform", normalize=True, **options
    )
    got = np.asarray(to_numpy(out), dtype=np.float64)
    got = got / np.linalg.norm(got, axis=0, keepdims=True)
    want = linear_chain(ctx.rng("t5/weights", shared=True), H0, depth, kind)
    err = float(np.max(np.abs(got - want)))
    return at_most(err, CLOSED_FORM.value, f"{kind}, d = N = {d}, depth {depth}: max |unit column - linear chain's|")


T5_NOTES = (
    "THEORY-2.md §9.4 row T5 [D]. Daneshmand et al.'s chain (THEORY.md §5.1: d = N = 32, uniform weights, fresh per "
    "layer) with the normalization in place of BN; soft rank = the median over 8 networks and 6 depths in the last "
    "quarter of the chain (depth 300; 200 at --size quick). The finding, not a published claim: the BN theorem does "
    "not transfer, and the result passes when the run confirms that (see the module docstring for why this is not "
    "'not reproduced'). The mechanism is exact: the chain's columns follow a linear chain (second check, against "
    "NumPy). Joudaki et al. 2023 (arXiv 2305.18399) obtain isometry with LayerNorm plus an activation, a different "
    "mechanism [S], not a transfer."
)

t5_layer = TRANSFER.result(
    "t5_layer",
    where="row T5 (Daneshmand rank collapse, THEORY.md §5), LN",
    proof=PROOF,
    title="T5 LayerNorm: the BN rank theorem does not transfer; the linear chain with LayerNorm collapses",
    tag="D",
    statement=(
        r"H_{\ell+1}=\mathrm{LN}(W_\ell H_\ell)\ \text{per column}:\ "
        r"\hat h_j^{(L)}\propto\prod_\ell(C_dW_\ell)\,h_j^{(0)},"
        r"\ C_d=I-\tfrac1d\mathbf 1\mathbf 1^\top;\ r(H_L)\to1\ (\text{BN}: r\approx5)"
    ),
    assumptions=("linear chain, d = N = 32, W_l i.i.d. U[-sqrt 3, sqrt 3]/sqrt d", "LayerNorm per sample, no affine"),
    notes=T5_NOTES + " Control: the same collapse gate on GroupNorm with 4 groups (also per sample; keeps rank).",
    under_test=(
        REP + "deep_network",
        REP + "paired_networks",
        REP + "per_sample_norm",
        REP + "soft_rank",
        "bntheory.norms.layer_norm",
    ),
)
t5_rms = TRANSFER.result(
    "t5_rms",
    where="row T5 (Daneshmand rank collapse, THEORY.md §5), RMSNorm",
    proof=PROOF,
    title="T5 RMSNorm: the BN rank theorem does not transfer; the chain follows the plain linear chain",
    tag="D",
    statement=(
        r"H_{\ell+1}=\mathrm{RMS}(W_\ell H_\ell)\ \text{per column}:\ "
        r"\hat h_j^{(L)}\propto\prod_\ell W_\ell\,h_j^{(0)};"
        r"\ r(H_L)\to1"
    ),
    assumptions=("linear chain, d = N = 32, W_l i.i.d. U[-sqrt 3, sqrt 3]/sqrt d", "RMSNorm per sample, no gain"),
    notes=T5_NOTES
    + " Control: the same collapse gate on BN, whose statistics run per feature across the batch and which keeps "
    "rank.",
    under_test=(
        REP + "deep_network",
        REP + "paired_networks",
        REP + "per_sample_norm",
        REP + "soft_rank",
        "bntheory.norms.rms_norm",
    ),
)
t5_weight = TRANSFER.result(
    "t5_weight",
    where="row T5 (Daneshmand rank collapse, THEORY.md §5), WN",
    proof=PROOF,
    title="T5 WeightNorm: the BN rank theorem does not transfer; unit-row weights leave the chain linear",
    tag="D",
    statement=(
        r"H_{\ell+1}=D_\ell W_\ell H_\ell,\ D_\ell=\operatorname{diag}(1/\|w_i\|)\ \text{(batch-free)}:\ "
        r"r(H_L)\to1"
    ),
    assumptions=("linear chain, d = N = 32, W_l i.i.d. U[-sqrt 3, sqrt 3]/sqrt d", "unit gains"),
    notes=T5_NOTES
    + " Control: the same collapse gate on BN, which is weight normalization in the metric of the centred batch "
    "covariance (THEORY-2.md §9.4, T3 bridge) and keeps rank.",
    under_test=(REP + "deep_network", REP + "paired_networks", REP + "soft_rank", "bntheory.norms.weight_norm"),
)
t5_group = TRANSFER.result(
    "t5_group",
    where="row T5 (Daneshmand rank collapse, THEORY.md §5), GN",
    proof=PROOF,
    title="T5 GroupNorm: partly transfers; with 4 or more groups the linear chain keeps its soft rank",
    tag="D",
    statement=(
        r"H_{\ell+1}=\mathrm{GN}_G(W_\ell H_\ell)\ \text{per column}:\ G\in\{4,8\}:\ r(H_L)\ \text{stays}\ge1.7"
        r"\ (G=1:\ \text{LN, collapses};\ G=2:\ \text{in between})"
    ),
    assumptions=("linear chain, d = N = 32, W_l i.i.d. U[-sqrt 3, sqrt 3]/sqrt d", "G = 4 and 8: groups of 8 and 4"),
    notes=T5_NOTES
    + " Rescaling blocks of a column by different factors acts as a non-linearity, so the column directions no "
    "longer follow a linear chain (THEORY-2.md §9.4: G = 4 2.4-3.5, G = 8 5.3-6.2). G = 2 sits in between "
    "(1.1-1.7 over 8 seeds) and is not gated; groups of 2 entries (G = 16) would be binary (+-1 at eps = 0). "
    "Control: the same keeps-rank gate on one group (LayerNorm).",
    under_test=(
        REP + "paired_networks",
        REP + "per_sample_norm",
        REP + "soft_rank",
        "bntheory.norms.group_norm",
    ),
)

for _kind, _result in (("layer", t5_layer), ("rms", t5_rms), ("weight", t5_weight)):

    @_result.numeric("median soft rank at depth <= 1.7 (collapse; BN keeps about 5)", backends=ARRAY)
    def _(ctx: Context, kind: str = _kind) -> Outcome:
        return _t5_collapse(ctx, kind)

    @_result.numeric("mechanism: the columns follow the linear chain (NumPy, same weights), exactly", backends=ARRAY)
    def _(ctx: Context, kind: str = _kind) -> Outcome:
        return _t5_mechanism(ctx, kind)


@t5_layer.negative_control("the same collapse gate on GroupNorm with 4 groups (per sample, keeps rank)", backends=ARRAY)
def _(ctx: Context) -> Outcome:
    return _t5_collapse(ctx, "group4")


@t5_rms.negative_control("the same collapse gate on BN (statistics per feature across the batch)", backends=ARRAY)
def _(ctx: Context) -> Outcome:
    return _t5_collapse(ctx, "batch")


@t5_weight.negative_control("the same collapse gate on BN (WN in the batch-covariance metric)", backends=ARRAY)
def _(ctx: Context) -> Outcome:
    return _t5_collapse(ctx, "batch")


@t5_group.numeric("median soft rank at depth >= 1.7 for G = 4 and G = 8", backends=ARRAY)
def _(ctx: Context) -> Outcome:
    return _t5_keeps(ctx, ("group4", "group8"))


@t5_group.negative_control("the same keeps-rank gate on G = 1 (LayerNorm)", backends=ARRAY)
def _(ctx: Context) -> Outcome:
    return _t5_keeps(ctx, ("layer",))


# --- T6: the cluster plus orthogonal outlier ------------------------------------------------------------------


def _t6_cosines(ctx: Context, centring: str) -> Outcome:
    r"""After one layer W -> centring -> ReLU of the configuration: min |cos(cluster, outlier)| >= T6_COSINE.

    `centring`: ``"layer"`` or ``"group"`` (per sample, the statement) or ``"batch"`` (BN's recentering, the
    control: exactly 0). The cluster's copies must stay identical in every case (a map that treats the columns
    alike keeps identical columns identical), which is checked exactly.
    """
    rng = ctx.rng("t6", shared=True)
    n, d, draws = 6, 64, ctx.by_size(quick=8, default=64)
    cos, split = [], 0.0
    for _ in range(draws):
        H = nets.cluster_outlier(rng, d, n, n - 1)
        Z = ctx.asarray((rng.standard_normal((d, d)) * np.sqrt(2 / d)) @ H)
        if centring == "batch":
            Z = rep.apply_steps(Z, ("rc",))
        else:
            Z = rep.per_sample_norm(Z, centring, groups=4)
        out = np.asarray(to_numpy(rep.apply_steps(Z, ("relu",))), dtype=np.float64)
        split += float(np.max(np.abs(out[:, : n - 1] - out[:, :1])))
        a, b = out[:, 0], out[:, -1]
        cos.append(abs(a @ b) / (np.linalg.norm(a) * np.linalg.norm(b)))
    low = float(np.min(cos)) if split == 0 else float("nan")
    detail = (
        f"{centring} centring, n = {n}, d = {d}, {draws} draws: |cos| mean {np.mean(cos):.3g}, min {np.min(cos):.3g}; "
        f"cluster copies identical: {split == 0}"
    )
    return at_least(low, T6_COSINE.value, detail)


T6_NOTES = (
    "THEORY-2.md §9.4 row T6 [D]. THEORY.md §4.4's configuration (n - 1 copies of a, b orthogonal to a, "
    "||b|| = (n - 1)||a||), one layer W (N(0, 2/d)) -> centring -> ReLU, n = 6, d = 64. With batch centring the "
    "outlier stays exactly orthogonal (|cos| = 0); with per-sample centring it does not, in every draw. The finding, "
    "not a published claim (THEORY.md §4.5 already records that with per-sample centring the configuration does not "
    "emerge). §9.4 quotes |cos| = 0.22 for one draw; this run reports the mean and minimum over its draws. Control: "
    "the same gate on batch centring (BN's recentering), where |cos| = 0 exactly."
)

t6_layer = TRANSFER.result(
    "t6_layer",
    where="row T6 (Nachum cluster + outlier, THEORY.md §4), LN",
    proof=PROOF,
    title="T6 LayerNorm: the exact cluster-plus-outlier invariance needs batch centring; LayerNorm breaks it",
    tag="D",
    statement=(
        r"H=[a,\dots,a,b],\ a\perp b:\ \text{after }W,\ \mathrm{LN}\ (\text{per sample}),\ \mathrm{ReLU}:\ "
        r"|\cos(a',b')|>0\ \text{(about 0.3)};\ \text{batch centring: }\cos(a',b')=0"
    ),
    assumptions=("W_kl ~ N(0, 2/d)", "LayerNorm without affine, eps = 0", "n = 6, d = 64"),
    notes=T6_NOTES,
    under_test=(REP + "per_sample_norm", "bntheory.norms.layer_norm"),
)
t6_group = TRANSFER.result(
    "t6_group",
    where="row T6 (Nachum cluster + outlier, THEORY.md §4), GN",
    proof=PROOF,
    title="T6 GroupNorm: per-sample centring per group breaks the invariance as LayerNorm does",
    tag="D",
    statement=(
        r"H=[a,\dots,a,b],\ a\perp b:\ \text{after }W,\ \mathrm{GN}_4\ (\text{per sample}),\ \mathrm{ReLU}:\ "
        r"|\cos(a',b')|>0"
    ),
    assumptions=("W_kl ~ N(0, 2/d)", "GroupNorm with 4 groups of 16 features, no affine, eps = 0", "n = 6, d = 64"),
    notes=T6_NOTES.replace("[D].", "[D]; §9.4 had this cell 'not run (per-sample, expected no) [R]': run here, tag D."),
    under_test=(REP + "per_sample_norm", "bntheory.norms.group_norm"),
)

for _kind, _result in (("layer", t6_layer), ("group", t6_group)):

    @_result.numeric(
        "|cos(cluster, outlier)| >= 0.05 in every draw; the cluster's copies stay identical", backends=ARRAY
    )
    def _(ctx: Context, kind: str = _kind) -> Outcome:
        return _t6_cosines(ctx, kind)

    @_result.negative_control("the same gate on batch centring (BN's recentering: |cos| = 0)", backends=ARRAY)
    def _(ctx: Context) -> Outcome:
        return _t6_cosines(ctx, "batch")
