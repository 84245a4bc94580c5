"""Figures, one function per kind; each returns a :class:`matplotlib.figure.Figure` and can save it.

Matplotlib's object interface is used throughout (no pyplot state), so figures can be made from
threads and in headless runs; files are written atomically (:func:`save`).
"""

from __future__ import annotations

import io
import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from bntheory._io import write_bytes_atomic
from bntheory.landscape.deep_linear import DLNTrace

__all__ = [
    "auto_rate_figure",
    "bngd_figure",
    "dln_landscape_figure",
    "equivalence_figure",
    "image_bytes",
    "rate_figure",
    "ratio_histograms",
    "representation_figure",
    "save",
    "spherical_motion_figure",
]

_COLORS = {"standard": "tab:blue", "bn": "tab:orange", "bn_noise": "tab:green"}
_LABELS = {"standard": "standard", "bn": "BN", "bn_noise": "BN + noise"}


def dln_landscape_figure(runs: Mapping[tuple[str, float], Sequence[DLNTrace]]) -> Figure:
    """Training loss, ICS (cosine, l2), loss variation, gradient change and effective beta per variant.

    One column per learning rate; lines are medians over seeds, bands the min-max range. Input as
    returned by :func:`bntheory.landscape.deep_linear.experiment`.
    """
    with warnings.catch_warnings():
        # A diverged run leaves NaN columns; nan-aware medians of an all-NaN column warn and give NaN.
        warnings.simplefilter("ignore", RuntimeWarning)
        return _dln_landscape_figure(runs)


def _dln_landscape_figure(runs: Mapping[tuple[str, float], Sequence[DLNTrace]]) -> Figure:
    lrs = sorted({lr for _, lr in runs})
    panels = [
        ("training loss", lambda t: t.losses, "step"),
        ("ICS cosine (mean over layers)", lambda t: np.nanmean(t.ics_cosine[:, 1:], axis=1), "measured"),
        ("ICS l2 (mean over layers)", lambda t: np.mean(t.ics_l2[:, 1:], axis=1), "measured"),
        ("loss variation along gradient", lambda t: t.loss_variation, "measured"),
        ("max gradient change (predictiveness)", lambda t: t.gradient_predictiveness, "measured"),
        ("effective beta-smoothness", lambda t: t.effective_smoothness, "measured"),
    ]
    fig = Figure(figsize=(4.2 * len(lrs), 2.6 * len(panels)), layout="constrained")
    axes = fig.subplots(len(panels), len(lrs), squeeze=False)
    for col, lr in enumerate(lrs):
        for row, (title, get, xkind) in enumerate(panels):
            ax = axes[row, col]
            for (variant, run_lr), traces in runs.items():
                if run_lr != lr:
                    continue
                curves = np.array([get(t) for t in traces], dtype=np.float64)
                x = np.arange(curves.shape[1]) if xkind == "step" else traces[0].steps
                color = _COLORS.get(variant)
                ax.plot(x, np.nanmedian(curves, axis=0), color=color, label=_LABELS.get(variant, variant))
                ax.fill_between(x, np.nanmin(curves, axis=0), np.nanmax(curves, axis=0), color=color, alpha=0.2)
            if row != 1:
                ax.set_yscale("log")
            ax.set_title(f"{title}, lr = {lr:g}", fontsize=9)
            ax.set_xlabel("step")
    axes[0, 0].legend(fontsize=8)
    depth = next(iter(runs.values()))[0].config.get("depth")
    fig.suptitle(f"{depth}-layer deep linear network, full-batch GD (Santurkar et al. 2018, §2-§3)", fontsize=10)
    return fig


def equivalence_figure(runs: Mapping[str, object], *, title: str) -> Figure:
    r"""Weight decay vs an exponential schedule (Li & Arora 2020): norms, and the trajectory gap per step.

    `runs` has ``"with weight decay"`` (:math:`\|w_t\|`), ``"alpha^-t x with weight decay"``
    (:math:`\alpha^{-t}\|w_t\|`) and ``"variants"``: label -> (:math:`\|\tilde w_t\|`, gap
    :math:`\|\tilde w_t-\alpha^{-t}w_t\|/\|\alpha^{-t}w_t\|`), the equivalent schedule first, then the controls.
    """
    fig = Figure(figsize=(10, 3.6), layout="constrained")
    left, right = fig.subplots(1, 2)
    wd = np.asarray(runs["with weight decay"])
    left.semilogy(np.arange(wd.size), wd, color="tab:blue", label="||w_t|| (weight decay)")
    scaled = np.asarray(runs["alpha^-t x with weight decay"])
    left.semilogy(np.arange(scaled.size), scaled, color="k", ls="--", lw=1, label="alpha^-t ||w_t|| (predicted)")
    for i, (label, (norm, gap)) in enumerate(runs["variants"].items()):
        color = f"C{i + 1}"
        left.semilogy(np.arange(norm.size), norm, color=color, lw=0.8, label=f"||w~_t||, {label}")
        right.semilogy(np.arange(gap.size), np.maximum(gap, 1e-18), color=color, lw=0.8, label=label)
    left.set_title("norms", fontsize=9)
    right.set_title("||w~_t - alpha^-t w_t|| / ||alpha^-t w_t||", fontsize=9)
    for ax in (left, right):
        ax.set_xlabel("step t")
        ax.legend(fontsize=7)
    fig.suptitle(f"weight decay = exponential learning rate (Li & Arora 2020), {title}, one SGD run", fontsize=10)
    return fig


def rate_figure(runs) -> Figure:
    """GDNP on least squares: observed suboptimality of the direction against the bound, beside plain GD.

    `runs` is a sequence of ``(kappa, gdnp_gaps, q_bound, gd_gaps)`` (as computed by the
    ``kohler2019.ls_rate`` result); one panel per condition number, every instance a thin line.
    """
    kappas = sorted({r[0] for r in runs})
    fig = Figure(figsize=(5 * len(kappas), 3.6), layout="constrained")
    axes = fig.subplots(1, len(kappas), squeeze=False)[0]
    for ax, kappa in zip(axes, kappas, strict=True):
        for i, (_, gaps, q, gd_gaps) in enumerate(r for r in runs if r[0] == kappa):
            t = np.arange(gaps.size)
            ax.semilogy(
                t, np.maximum(gaps, 1e-300), color="tab:orange", lw=0.8, label="GDNP rho - rho*" if i == 0 else None
            )
            ax.semilogy(
                np.arange(gd_gaps.size),
                np.maximum(gd_gaps, 1e-300),
                color="tab:blue",
                lw=0.8,
                label="plain GD f - f*" if i == 0 else None,
            )
            ax.semilogy(
                t, gaps[0] * q**t, color="k", ls="--", lw=0.8, label="bound (1 - mu/L)^(2t)" if i == 0 else None
            )
        ax.set_ylim(1e-14, None)
        ax.set_title(f"least squares, kappa = {kappa:g}", fontsize=9)
        ax.set_xlabel("iteration")
    axes[0].legend(fontsize=8)
    fig.suptitle("GDNP vs the (1 - mu/L)^2 bound and plain GD (Kohler et al. 2019)", fontsize=10)
    return fig


def auto_rate_figure(eta: np.ndarray, norm_sq: np.ndarray, G: np.ndarray, C: np.ndarray) -> Figure:
    r"""GD on a scale-invariant loss over a step-size sweep: norm growth, and the unit gradient against the bound.

    `eta` (runs,), `norm_sq` :math:`R_t^2` (T + 1, runs), `G` :math:`\|\nabla L(u_t)\|^2` (T, runs), `C` (runs,) as
    computed by ``arora2019.auto_rate_tuning``. Lines are medians over the runs of one step size.
    """
    fig = Figure(figsize=(10, 3.8), layout="constrained")
    left, right = fig.subplots(1, 2)
    t = np.arange(1, G.shape[0] + 1)
    colors = {e: f"C{i}" for i, e in enumerate(np.unique(eta))}
    for e, color in colors.items():
        cols = eta == e
        left.loglog(
            np.arange(1, norm_sq.shape[0] + 1), np.median(norm_sq[:, cols], axis=1), color=color, label=f"eta = {e:g}"
        )
        running = np.sqrt(np.minimum.accumulate(G[:, cols], axis=0))
        right.loglog(t, np.maximum(np.median(running, axis=1), 1e-16), color=color, label=f"eta = {e:g}")
        right.loglog(t, np.sqrt(C[cols][0] / t), color=color, ls="--", lw=0.7)
    left.set_title("norm growth R_t^2 (median over seeds)", fontsize=9)
    right.set_title("min_{s<=t} |grad L(u_s)| (median); dashed: sqrt(C / t)", fontsize=9)
    for ax in (left, right):
        ax.set_xlabel("step t + 1")
    left.legend(fontsize=7)
    fig.suptitle("Auto rate-tuning: GD on f(w/|w|) at fixed step sizes (Arora, Li & Lyu 2019)", fontsize=10)
    return fig


def bngd_figure(curves: Mapping[str, np.ndarray], effective: Mapping[str, np.ndarray]) -> Figure:
    r"""BNGD over the weight step sizes beside plain GD: predictor error per step, and BNGD's effective step.

    `curves` maps a label to the relative predictor error per step; `effective` a BNGD label to
    :math:`\varepsilon/\|w_k\|^2` per step (as computed by ``cai2019.bngd``).
    """
    fig = Figure(figsize=(10, 3.8), layout="constrained")
    left, right = fig.subplots(1, 2)
    for i, (label, error) in enumerate(curves.items()):
        ls = "--" if label.startswith("GD") else "-"
        left.semilogy(
            np.arange(error.size), np.clip(error, 1e-17, 1e30), ls=ls, color=f"C{i % 10}", label=label, lw=0.9
        )
    for i, (label, eff) in enumerate(effective.items()):
        right.loglog(np.arange(1, eff.size + 1), eff, color=f"C{i % 10}", label=label, lw=0.9)
    left.set_title("relative predictor error |a w/|w|_H - u*| / |u*|", fontsize=9)
    right.set_title("BNGD effective step eps / |w_k|^2", fontsize=9)
    left.set_xlabel("step k")
    right.set_xlabel("step k + 1")
    left.legend(fontsize=6, ncol=2)
    fig.suptitle("BNGD on population least squares vs plain GD (Cai, Li & Shen 2019)", fontsize=10)
    return fig


def representation_figure(traces: Mapping[str, Mapping[str, np.ndarray]], heatmaps: Mapping[str, np.ndarray]) -> Figure:
    """Rank, soft rank and d_max against depth per decomposition, and cosine heatmaps.

    `traces` maps a decomposition's label to ``{"depth", "rank", "soft_rank", "d_max"}`` arrays (medians over
    seeds); `heatmaps` maps a title to an n × n cosine matrix.
    """
    fig = Figure(figsize=(13, 6.5), layout="constrained")
    top = fig.subfigures(2, 1)
    axes = top[0].subplots(1, 3)
    for label, tr in traces.items():
        axes[0].plot(tr["depth"], tr["rank"], label=label)
        axes[1].plot(tr["depth"], tr["soft_rank"], label=label)
        axes[2].plot(tr["depth"], tr["d_max"], label=label)
    for ax, title in zip(
        axes, ("numerical rank (float64 tolerance)", "soft rank", "d_max to cluster + outlier"), strict=True
    ):
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("depth")
    axes[1].set_yscale("log")
    axes[0].legend(fontsize=7)
    hm = top[1].subplots(1, max(len(heatmaps), 1), squeeze=False)[0]
    for ax, (title, C) in zip(hm, heatmaps.items(), strict=False):
        image = ax.imshow(C, vmin=-1, vmax=1, cmap="RdBu_r")
        ax.set_title(title, fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    if heatmaps:
        top[1].colorbar(image, ax=hm, shrink=0.8, label="cosine")
    fig.suptitle("Representations at initialization (Nachum et al. 2024; Daneshmand et al. 2020)", fontsize=10)
    return fig


def ratio_histograms(panels: Sequence[tuple[str, Sequence[float], float, float]], *, columns: int = 4) -> Figure:
    r"""Histograms of left/right ratios :math:`r=\mathrm{lhs}/\mathrm{rhs}` of attacked inequalities.

    Each panel is ``(title, ratios at random draws, worst ratio found, bound)``: the histogram shows where
    typical instances sit, the red line the worst case the search found (after refinement), the dashed line
    the bound (1 for an inequality that holds). A negative control's panel shows its ratios crossing the bound.
    """
    if not panels:
        raise ValueError("panels: nothing to draw; pass at least one (title, ratios, worst, bound)")
    rows = -(-len(panels) // columns)
    fig = Figure(figsize=(3.2 * min(columns, len(panels)), 2.4 * rows), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, min(columns, len(panels)), squeeze=False).ravel())
    for ax, (title, ratios, worst, bound) in zip(axes, panels, strict=False):
        ratios = np.asarray(ratios, dtype=np.float64)
        # Identities (ratio 1 at every draw) leave no spread for 30 bins at float64 resolution: use one.
        spread = np.ptp(ratios) > 1e-9 * max(1.0, float(np.max(np.abs(ratios))))
        ax.hist(ratios, bins=30 if spread else 1, color="tab:blue", alpha=0.75)
        ax.axvline(bound, color="black", ls="--", lw=1, label=f"bound {bound:g}")
        ax.axvline(worst, color="tab:red", lw=1.2, label=f"worst {worst:.6g}")
        ax.set_title(title, fontsize=8)
        ax.set_xlabel("lhs / rhs", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=6, loc="upper left")
    for ax in axes[len(panels) :]:
        ax.set_visible(False)
    fig.suptitle("Worst-case search: ratios at random draws, the worst case found, and the bound", fontsize=10)
    return fig


def spherical_motion_figure(panels: Sequence[Mapping[str, object]], *, block: int = 100) -> Figure:
    r"""Spherical motion (Wan et al. 2021): :math:`\|w_t\|` and the angular update over t against the predictions.

    Each panel (a grid point) has ``label``, ``norm`` (T + 1, seeds), ``w_star``, ``delta`` (T, seeds),
    ``predicted`` (:math:`\sqrt{2\eta\lambda/(1+\alpha)}`), ``control`` (the false
    :math:`\sqrt{2\eta\lambda/(1+\alpha^2)}`) and ``window`` (the first step averaged over). The angular update is
    drawn as the rms over blocks of `block` steps, one line per seed.
    """
    fig = Figure(figsize=(3.2 * len(panels), 5.4), layout="constrained")
    axes = fig.subplots(2, len(panels), squeeze=False)
    for col, panel in enumerate(panels):
        top, bottom = axes[0, col], axes[1, col]
        norm, delta = np.asarray(panel["norm"]), np.asarray(panel["delta"])
        top.plot(np.arange(norm.shape[0]), norm, lw=0.6)
        top.axhline(float(panel["w_star"]), color="k", ls="--", lw=1, label="w* (Theorems 1-2)")
        n = (delta.shape[0] // block) * block
        rms = np.sqrt(np.mean(delta[:n].reshape(-1, block, delta.shape[1]) ** 2, axis=1))
        bottom.plot(np.arange(rms.shape[0]) * block + block / 2, rms, lw=0.6)
        bottom.axhline(float(panel["predicted"]), color="k", ls="--", lw=1, label="sqrt(2 eta lambda / (1 + alpha))")
        bottom.axhline(float(panel["control"]), color="tab:red", ls=":", lw=1, label="1 + alpha^2 (false)")
        for ax in (top, bottom):
            ax.axvline(float(panel["window"]), color="0.6", lw=0.8)
            ax.set_xlabel("step t")
        top.set_title(str(panel["label"]), fontsize=8)
        top.set_ylabel("||w_t||" if col == 0 else "")
        bottom.set_ylabel(f"rms angular update ({block} steps)" if col == 0 else "")
    axes[0, 0].legend(fontsize=7)
    axes[1, 0].legend(fontsize=7)
    fig.suptitle("spherical motion dynamics (Wan et al. 2021): norm and angular update; grey line: window start",
                 fontsize=10)
    return fig


def save(fig: Figure, path: str | os.PathLike) -> Path:
    """Write `fig` to `path` atomically (format from the suffix); returns the path."""
    path = Path(path)
    if not path.suffix:
        raise ValueError(f"path: give a file name with a format suffix (.png, .pdf, .svg), got {str(path)!r}")
    return write_bytes_atomic(path, image_bytes(fig, path.suffix[1:], dpi=120))


def image_bytes(fig: Figure, fmt: str = "png", *, dpi: int = 100) -> bytes:
    """`fig` rendered in memory in the format `fmt` (png, pdf, svg)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format=fmt, dpi=dpi)
    return buffer.getvalue()
