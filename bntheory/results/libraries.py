r"""Running-statistics conventions of PyTorch and Keras 3 (THEORY.md §1.5).

The two libraries give *momentum* opposite meanings and store different variances; mixing them up is a
classic porting bug (THEORY.md §7 item 10). Sources: the PyTorch documentation of
``torch.nn.BatchNorm1d`` and the Keras 3 documentation and source of ``keras.layers.BatchNormalization``.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from bntheory.backend import to_numpy
from bntheory.checks.compare import Outcome, Worst, at_most, max_relative_error
from bntheory.checks.instances.batches import drifting_batches
from bntheory.checks.oracles.bn_reference import exact_running_stats
from bntheory.checks.tolerances import FLOAT64_ORACLE, IDENTITY
from bntheory.context import Context
from bntheory.norms import batch as transform
from bntheory.norms._layout import values_per_channel
from bntheory.registry import ARRAY, paper

#: Steps of a recursion (T): T float64 updates of O(1) rounding each stay far below the IDENTITY tolerance.
STEPS = 10


def _running_error(ctx: Context, update, weight_new: Fraction, unbiased: bool) -> Outcome:
    """Largest relative error of `update` iterated over drifting batches, against the exact unrolled closed form."""
    rng = ctx.rng(ctx.scope.split("/", 1)[0], shared=True)  # keyed by the result id: the check and control share it
    worst = Worst()
    for run in range(ctx.by_size(quick=2, default=4)):
        batches = drifting_batches(rng, ctx.by_size(quick=5, default=STEPS))
        channels = batches[0].shape[1]
        mean, var = ctx.asarray(np.zeros(channels)), ctx.asarray(np.ones(channels))
        for batch in batches:
            mean, var = update(mean, var, ctx.asarray(batch))
        ref_mean, ref_var = exact_running_stats(batches, weight_new, unbiased)
        worst.add(max_relative_error(to_numpy(mean), ref_mean), f"mean, run {run} ({batches[0].ndim}-D)")
        worst.add(max_relative_error(to_numpy(var), ref_var), f"var, run {run} ({batches[0].ndim}-D)")
    detail = f"vs the unrolled closed form in exact rationals, 2-D and 4-D batches; worst at {worst.where}"
    return at_most(float(worst), float(IDENTITY), detail)


PYTORCH = paper("pytorch", citation="PyTorch documentation")
KERAS = paper("keras", citation="Keras 3 documentation and source")

pytorch_running = PYTORCH.result(
    "running_stats",
    proof="libraries_running_stats.py",
    title="PyTorch running statistics: momentum weighs the new batch, stored variance unbiased",
    where="torch.nn.BatchNorm1d/BatchNorm2d (momentum, running_var)",
    tag="P",
    statement=(
        r"\hat r\leftarrow(1-p)\,\hat r+p\,v_{\mathcal B},\quad p=0.1,\quad"
        r"v_{\mathcal B}=\mu_{\mathcal B}\ \text{or}\ \frac{n}{n-1}\sigma^2_{\mathcal B};\quad"
        r"r_T=(1-p)^Tr_0+\sum_{t=1}^T p(1-p)^{T-t}v_t"
    ),
    assumptions=("running_mean starts at 0, running_var at 1", "n = values per channel (N*H*W for images)"),
    notes="Training normalizes with the biased variance; only the stored running_var is unbiased.",
    under_test=("bntheory.norms.batch.update_running_stats",),
)


@pytorch_running.numeric("update_running_stats vs the unrolled closed form (exact rationals)", backends=ARRAY)
def _(ctx: Context) -> Outcome:
    def update(mean, var, x):
        return transform.update_running_stats(mean, var, x, momentum=0.1)

    return _running_error(ctx, update, Fraction(0.1), unbiased=True)


@pytorch_running.numeric(
    "update_running_stats vs torch BatchNorm1d/2d buffers, step by step", needs=("torch",), backends=ARRAY
)
def _(ctx: Context) -> Outcome:
    import torch

    rng = ctx.rng("pytorch.running_stats.torch", shared=True)
    worst = Worst()
    for shape, layer, momentum in [((8, 3), torch.nn.BatchNorm1d, 0.1), ((4, 3, 3, 3), torch.nn.BatchNorm2d, 0.3)]:
        bn = layer(shape[1], momentum=momentum).double().train()
        mean, var = ctx.asarray(np.zeros(shape[1])), ctx.asarray(np.ones(shape[1]))
        for step in range(STEPS):
            x = rng.normal(rng.uniform(-1, 1), rng.uniform(0.5, 2), size=shape)
            with torch.no_grad():
                bn(torch.from_numpy(x))
            mean, var = transform.update_running_stats(mean, var, ctx.asarray(x), momentum=momentum)
            worst.add(max_relative_error(to_numpy(mean), bn.running_mean.numpy()), f"mean, {shape}, step {step}")
            worst.add(max_relative_error(to_numpy(var), bn.running_var.numpy()), f"var, {shape}, step {step}")
    detail = f"{STEPS} steps each: BatchNorm1d momentum 0.1, BatchNorm2d momentum 0.3; worst at {worst.where}"
    return at_most(float(worst), float(FLOAT64_ORACLE), detail)


@pytorch_running.negative_control(
    "store the biased batch variance in running_var (THEORY §1.6 control iv)", backends=ARRAY
)
def _(ctx: Context) -> Outcome:
    def biased(mean, var, x):
        n = values_per_channel(x)
        new_mean, new_var = transform.update_running_stats(mean, var, x, momentum=0.1)
        # undo the n/(n-1) correction on the batch's share of the update
        return new_mean, 0.9 * var + (new_var - 0.9 * var) * ((n - 1) / n)

    return _running_error(ctx, biased, Fraction(0.1), unbiased=True)


keras_running = KERAS.result(
    "running_stats",
    proof="libraries_running_stats.py",
    title="Keras 3 moving statistics: momentum weighs the old value, stored variance biased",
    where="keras.layers.BatchNormalization (moving_mean, moving_variance)",
    tag="P",
    statement=(
        r"\hat r\leftarrow q\,\hat r+(1-q)\,v_{\mathcal B},\quad q=0.99,\quad"
        r"v_{\mathcal B}=\mu_{\mathcal B}\ \text{or}\ \sigma^2_{\mathcal B}\ (\text{biased});\quad"
        r"r_T=q^Tr_0+\sum_{t=1}^T(1-q)q^{T-t}v_t"
    ),
    assumptions=("moving_mean starts at 0, moving_variance at 1", "Keras 3 semantics (not legacy fused tf.keras)"),
    notes=(
        "Checked against the documented formula (Keras 3 source), which running Keras 3.15.1 on its numpy, jax and "
        "torch backends confirms (THEORY-2.md §12 item 9; Keras computes float64 layers in float32 and its numpy and "
        "torch backends use a one-pass variance, §11.4). Legacy tf.keras fused kernels may store a "
        "Bessel-corrected variance [R]; nothing is claimed about them."
    ),
    under_test=("bntheory.norms.batch.update_running_stats",),
)


@keras_running.numeric(
    "update_running_stats(convention='keras') vs the documented formula, exact rationals", backends=ARRAY
)
def _(ctx: Context) -> Outcome:
    def update(mean, var, x):
        return transform.update_running_stats(mean, var, x, momentum=0.99, convention="keras")

    return _running_error(ctx, update, 1 - Fraction(0.99), unbiased=False)


@keras_running.negative_control(
    "PyTorch's meaning of momentum with Keras's 0.99 (THEORY §1.6 control iii)", backends=ARRAY
)
def _(ctx: Context) -> Outcome:
    def update(mean, var, x):
        return transform.update_running_stats(mean, var, x, momentum=0.99)

    return _running_error(ctx, update, 1 - Fraction(0.99), unbiased=False)
