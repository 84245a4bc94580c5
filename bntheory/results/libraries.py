r"""Running-statistics conventions of PyTorch and Keras 3 (THEORY.md §1.5).

The two libraries give *momentum* opposite meanings and store different variances; mixing them up is a
classic porting bug (THEORY.md §7 item 10). Sources: the PyTorch documentation of
``torch.nn.BatchNorm1d`` and the Keras 3 documentation and source of ``keras.layers.BatchNormalization``.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from bntheory import transform
from bntheory._layout import values_per_channel
from bntheory.backend import asarray, to_numpy
from bntheory.checks.compare import Outcome, at_most, max_relative_error
from bntheory.checks.instances import channel_major
from bntheory.checks.oracles import exact_fraction
from bntheory.context import Context
from bntheory.registry import register

#: Float64 recursion vs the exact unrolled sum: T steps of O(1) rounding each stay far below this.
RTOL = 1e-12
STEPS = 10


def _batches(rng: np.random.Generator, quick: bool) -> list[np.ndarray]:
    """A sequence of 2-D or 4-D batches with drifting statistics, as in training."""
    steps = 5 if quick else STEPS
    shape = (6, 3) if rng.integers(2) else (3, 3, 2, 2)
    return [rng.normal(rng.uniform(-1, 1), rng.uniform(0.5, 2), size=shape) for _ in range(steps)]


def _exact_unrolled(batches, weight_new: Fraction, unbiased: bool) -> tuple[list, list]:
    r"""The closed form :math:`r_T=(1-w)^T r_0+\sum_t w(1-w)^{T-t}v_t` in exact rationals, r_0 = (0, 1).

    `weight_new` is the weight :math:`w` of the new batch; :math:`v_t` is the batch mean, or the biased or
    unbiased batch variance computed exactly from the float64 entries.
    """
    steps = len(batches)
    channels = batches[0].shape[1]
    mean = [Fraction(0)] * channels
    var = [Fraction(1) * (1 - weight_new) ** steps] * channels
    for t, batch in enumerate(batches, start=1):
        decay = weight_new * (1 - weight_new) ** (steps - t)
        rows = channel_major(exact_fraction(batch))
        for c in range(channels):
            n = len(rows[c])
            mu = sum(rows[c], Fraction(0)) / n
            ss = sum(((v - mu) ** 2 for v in rows[c]), Fraction(0))
            mean[c] += decay * mu
            var[c] += decay * ss / (n - 1 if unbiased else n)
    return [float(v) for v in mean], [float(v) for v in var]


def _running_error(ctx: Context, key: str, update, weight_new: Fraction, unbiased: bool) -> Outcome:
    rng = ctx.rng(key, shared=True)
    worst = 0.0
    for _ in range(2 if (ctx.size == "quick") else 4):
        batches = _batches(rng, (ctx.size == "quick"))
        channels = batches[0].shape[1]
        mean, var = asarray(np.zeros(channels), ctx.xp), asarray(np.ones(channels), ctx.xp)
        for batch in batches:
            mean, var = update(mean, var, asarray(batch, ctx.xp))
        ref_mean, ref_var = _exact_unrolled(batches, weight_new, unbiased)
        worst = max(worst, max_relative_error(to_numpy(mean), ref_mean), max_relative_error(to_numpy(var), ref_var))
    return at_most(worst, RTOL, "vs the unrolled closed form in exact rationals, 2-D and 4-D batches")


pytorch_running = register(
    "pytorch.running_stats",
    proof="libraries_running_stats.py",
    title="PyTorch running statistics: momentum weighs the new batch, stored variance unbiased",
    citation="PyTorch documentation, torch.nn.BatchNorm1d/BatchNorm2d (momentum, running_var)",
    tag="P",
    statement=(
        r"\hat r\leftarrow(1-p)\,\hat r+p\,v_{\mathcal B},\quad p=0.1,\quad"
        r"v_{\mathcal B}=\mu_{\mathcal B}\ \text{or}\ \frac{n}{n-1}\sigma^2_{\mathcal B};\quad"
        r"r_T=(1-p)^Tr_0+\sum_{t=1}^T p(1-p)^{T-t}v_t"
    ),
    assumptions=("running_mean starts at 0, running_var at 1", "n = values per channel (N*H*W for images)"),
    notes="Training normalizes with the biased variance; only the stored running_var is unbiased.",
)


def _pytorch_update(momentum: float):
    return lambda mean, var, x: transform.update_running_stats(mean, var, x, momentum=momentum)


@pytorch_running.numeric("update_running_stats vs the unrolled closed form (exact rationals)")
def _(ctx: Context) -> Outcome:
    return _running_error(ctx, "pytorch.running_stats", _pytorch_update(0.1), Fraction(0.1), unbiased=True)


@pytorch_running.numeric("update_running_stats vs torch BatchNorm1d/2d buffers, step by step", needs=("torch",))
def _(ctx: Context) -> Outcome:
    import torch

    rng = ctx.rng("pytorch.running_stats.torch", shared=True)
    worst = 0.0
    for shape, layer, momentum in [((8, 3), torch.nn.BatchNorm1d, 0.1), ((4, 3, 3, 3), torch.nn.BatchNorm2d, 0.3)]:
        bn = layer(shape[1], momentum=momentum).double().train()
        mean, var = asarray(np.zeros(shape[1]), ctx.xp), asarray(np.ones(shape[1]), ctx.xp)
        for _ in range(STEPS):
            x = rng.normal(rng.uniform(-1, 1), rng.uniform(0.5, 2), size=shape)
            with torch.no_grad():
                bn(torch.from_numpy(x))
            mean, var = transform.update_running_stats(mean, var, asarray(x, ctx.xp), momentum=momentum)
            worst = max(worst, max_relative_error(to_numpy(mean), bn.running_mean.numpy()),
                        max_relative_error(to_numpy(var), bn.running_var.numpy()))
    return at_most(worst, RTOL, f"{STEPS} steps each: BatchNorm1d momentum 0.1, BatchNorm2d momentum 0.3")


@pytorch_running.negative_control("store the biased batch variance in running_var (THEORY §1.6 control iv)")
def _(ctx: Context) -> Outcome:
    def biased(mean, var, x):
        n = values_per_channel(x)
        new_mean, new_var = transform.update_running_stats(mean, var, x, momentum=0.1)
        # undo the n/(n-1) correction on the batch's share of the update
        return new_mean, 0.9 * var + (new_var - 0.9 * var) * ((n - 1) / n)

    return _running_error(ctx, "pytorch.running_stats", biased, Fraction(0.1), unbiased=True)


keras_running = register(
    "keras.running_stats",
    proof="libraries_running_stats.py",
    title="Keras 3 moving statistics: momentum weighs the old value, stored variance biased",
    citation="Keras 3 documentation and source, keras.layers.BatchNormalization (moving_mean, moving_variance)",
    tag="P",
    statement=(
        r"\hat r\leftarrow q\,\hat r+(1-q)\,v_{\mathcal B},\quad q=0.99,\quad"
        r"v_{\mathcal B}=\mu_{\mathcal B}\ \text{or}\ \sigma^2_{\mathcal B}\ (\text{biased});\quad"
        r"r_T=q^Tr_0+\sum_{t=1}^T(1-q)q^{T-t}v_t"
    ),
    assumptions=("moving_mean starts at 0, moving_variance at 1", "Keras 3 semantics (not legacy fused tf.keras)"),
    notes=(
        "Checked against the documented formula, not by running Keras (THEORY.md §8). Legacy tf.keras fused "
        "kernels may store a Bessel-corrected variance [R]; nothing is claimed about them."
    ),
)


def _keras_update(momentum: float):
    return lambda mean, var, x: transform.update_running_stats(mean, var, x, momentum=momentum, convention="keras")


@keras_running.numeric("update_running_stats(convention='keras') vs the documented formula, exact rationals")
def _(ctx: Context) -> Outcome:
    return _running_error(ctx, "keras.running_stats", _keras_update(0.99), 1 - Fraction(0.99), unbiased=False)


@keras_running.negative_control("PyTorch's meaning of momentum with Keras's 0.99 (THEORY §1.6 control iii)")
def _(ctx: Context) -> Outcome:
    return _running_error(ctx, "keras.running_stats", _pytorch_update(0.99), 1 - Fraction(0.99), unbiased=False)
