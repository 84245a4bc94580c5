r"""BN in the libraries researchers use: what PyTorch, Keras 3, curvlinops, BackPACK and PyHessian compute.

Running-statistics conventions (THEORY.md §1.5): the two frameworks give *momentum* opposite meanings and store
different variances, a classic porting bug (THEORY.md §7 item 10). Conformance (THEORY-2.md §11): each result
runs the library on a minimal case and states, as claim checks, that it computes the quantity the theory
defines; the references are verified by their own checks, and the control applies the same comparison to a
deliberately wrong reference. A claim the library misses makes the result *not reproduced*: a finding about
that library version (listed apart as "BN in libraries", with its minimal reproducing case), not a failure of
the run. ``not reproduced`` rather than a status of its own: it already means "the stated claim did not hold
while the machinery that measured it did", and every consumer of a run knows it.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from bntheory.backend import to_numpy
from bntheory.checks.compare import Outcome, Worst, at_most, exact, max_relative_error
from bntheory.checks.instances.batches import drifting_batches
from bntheory.checks.oracles.bn_reference import exact_running_stats
from bntheory.checks.tolerances import (
    CENTRAL_DIFFERENCE,
    CLOSED_FORM,
    FLOAT32_ORACLE,
    FLOAT64_ORACLE,
    IDENTITY,
    POWER_ITERATION,
    SLQ_SCORE,
)
from bntheory.context import Context
from bntheory.libraries import declare
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


@pytorch_running.claim(
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
    return at_most(float(worst), float(FLOAT64_ORACLE), f"torch {torch.__version__}; {detail}")


declare(
    pytorch_running.id,
    library="PyTorch",
    distribution="torch",
    repro="""
import torch
bn = torch.nn.BatchNorm1d(3).double().train()
x = torch.randn(8, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
bn(x)
print(bn.running_var, 0.9 + 0.1 * x.var(0, unbiased=True))  # should agree
""",
)


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
        "Checked by running Keras 3 (the layer on the backend Keras was imported with, numpy by default: float32, "
        "T training calls against the exact unrolled recursion of the float32 data), and the library function "
        "against the documented formula (Keras 3 source; THEORY-2.md §12 item 9). Keras computes float64 layers "
        "in float32 and its numpy and torch backends use a one-pass variance (keras.float64_precision, "
        "keras.large_mean_variance). Legacy tf.keras fused kernels may store a Bessel-corrected variance [R]; "
        "nothing is claimed about them."
    ),
    under_test=("bntheory.norms.batch.update_running_stats",),
)


@keras_running.claim(
    "keras BatchNormalization(momentum=0.99), float32, T training calls vs the unrolled closed form",
    needs=("keras", "jax"),
)
def _(ctx: Context) -> Outcome:
    from bntheory.libraries import keras_bn

    rng = ctx.rng("keras.running_stats.keras", shared=True)
    worst = Worst()
    for run in range(ctx.by_size(quick=1, default=2)):
        # float32 data: the exact recursion is then that of the very values the float32 layer saw
        steps = ctx.by_size(quick=4, default=STEPS)
        batches = [
            rng.normal(rng.uniform(-1, 1), rng.uniform(0.5, 2), size=(6, 3)).astype(np.float32) for _ in range(steps)
        ]
        mean, var = keras_bn.moving_statistics(batches, momentum=0.99)
        ref_mean, ref_var = exact_running_stats([b.astype(np.float64) for b in batches], 1 - Fraction(0.99), False)
        worst.add(max_relative_error(mean, ref_mean), f"moving_mean, run {run}")
        worst.add(max_relative_error(var, ref_var), f"moving_variance, run {run}")
    k = keras_bn.keras()
    detail = f"keras {k.__version__} ({k.backend.backend()} backend), {len(batches)} calls; worst at {worst.where}"
    return at_most(float(worst), float(FLOAT32_ORACLE), detail)


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


declare(
    keras_running.id,
    library="Keras 3",
    distribution="keras",
    repro="""
import os; os.environ["KERAS_BACKEND"] = "numpy"
import keras, numpy as np
x = np.random.default_rng(0).normal(1.0, 2.0, size=(6, 3)).astype(np.float32)
bn = keras.layers.BatchNormalization(momentum=0.99); bn(x, training=True)
print(np.asarray(bn.moving_variance), 0.99 + 0.01 * x.var(0))  # should agree (biased variance)
""",
)


# --- PyTorch: second order through the native training-mode kernels (THEORY-2.md §11.1) -----------------------


def _bn_case(ctx: Context) -> dict:
    import torch

    from bntheory.libraries import torch_ad

    case = torch_ad.minimal_case()
    args = (case["x"], case["w"], case["gamma"], case["beta"], case["eps"])
    return {
        **case,
        "paths": torch_ad.native_bn_hessians(*args),
        "reference": torch_ad.primitive_bn_hessian(*args),
        "frozen": torch_ad.frozen_statistics_bn_hessian(*args),
        "torch": torch.__version__,
    }


def _path_error(ctx: Context, path: str, against: str = "reference") -> Outcome:
    case = ctx.memo("libraries.bn_hessian", _bn_case)
    H, ref = case["paths"][path], case[against]
    asym = max_relative_error(H.T, H)
    detail = (
        f"torch {case['torch']}; asymmetry {asym:.2g}, H_gx.t {H[-1, :-1] @ case['t']:+.6f} "
        f"(true {case['reference'][-1, :-1] @ case['t']:+.6f}), trace {np.trace(H):.6f} "
        f"(true {np.trace(case['reference']):.6f})"
    )
    return at_most(max_relative_error(H, ref), float(FLOAT64_ORACLE), detail)


pytorch_hessian = PYTORCH.result(
    "batch_norm_hessian",
    proof="libraries_conformance.py",
    title="PyTorch: the Hessian through native training-mode F.batch_norm on each torch.func path",
    where="torch.nn.functional.batch_norm(training=True) under torch.func (THEORY-2.md §11.1)",
    tag="P",
    statement=(
        r"f(x,\gamma)=\sum_iw_i\,\mathrm{BN}(x;\gamma,\beta)_i:\ \nabla^2_{(x,\gamma)}f\ \text{by every AD path}"
        r"=\text{the true Hessian};\quad \partial_x\partial_\gamma f=\tfrac1s\big(w-\bar w\mathbf 1"
        r"-\hat x\,\overline{w\odot\hat x}\big)"
    ),
    assumptions=(
        "§11.1's minimal case: m = 4, one channel, float64 CPU, x0, w, t = randn(4, 1) x3 from seed 0, "
        "gamma = 1.3, beta = 0.2, eps = 1e-5",
    ),
    notes=(
        "Measured on torch 2.13.0: hessian (= jacfwd(jacrev)), jacrev(jacrev), jvp(jacrev) and jacfwd(jacfwd) "
        "are wrong by 0.53 (asymmetric; jacfwd(jacfwd) also in the x-x block, pytorch/pytorch#196699); "
        "jacrev(grad), jacfwd(grad) and reverse-over-reverse are right. Never gate on torch.func.hessian of a "
        "native normalization kernel."
    ),
    under_test=(
        "bntheory.libraries.torch_ad.primitive_bn_hessian",
        "bntheory.libraries.torch_ad.central_difference_hessian",
    ),
)


@pytorch_hessian.numeric("closed-form gamma-x block (§11.1) vs central differences of the closed-form gradient")
def _(ctx: Context) -> Outcome:
    from bntheory.libraries import torch_ad

    rng = ctx.rng("case")
    worst = Worst()
    for m in ctx.by_size(quick=(4,), default=(4, 7)):
        x, w = rng.normal(size=(m, 1)), rng.normal(size=(m, 1))
        H = torch_ad.central_difference_hessian(x, w, 1.0, 0.2, 1e-5)
        worst.add(max_relative_error(torch_ad.gamma_x_block(x, w, 1e-5), H[-1, :-1]), f"m = {m}")
    return at_most(float(worst), float(CENTRAL_DIFFERENCE), f"NumPy only (no autodiff); worst at {worst.where}")


@pytorch_hessian.numeric(
    "reference (BN from primitive ops, reverse-over-reverse) vs central differences", needs=("torch",)
)
def _(ctx: Context) -> Outcome:
    from bntheory.libraries import torch_ad

    case = ctx.memo("libraries.bn_hessian", _bn_case)
    args = (case["x"], case["w"], case["gamma"], case["beta"], case["eps"])
    cd = torch_ad.central_difference_hessian(*args)
    return at_most(max_relative_error(case["reference"], cd), float(CENTRAL_DIFFERENCE), "§11.1's minimal case")


for _path in (
    "torch.func.hessian",
    "jacrev(jacrev)",
    "jvp(jacrev)",
    "jacfwd(jacfwd)",
    "jacrev(grad)",
    "jacfwd(grad)",
    "reverse-over-reverse",
):

    @pytorch_hessian.claim(f"{_path} through F.batch_norm vs the reference Hessian", needs=("torch",))
    def _(ctx: Context, _path=_path) -> Outcome:
        return _path_error(ctx, _path)


@pytorch_hessian.negative_control(
    "a right path (jacrev(grad)) vs the frozen-statistics Hessian (what eval-mode tools compute)", needs=("torch",)
)
def _(ctx: Context) -> Outcome:
    return _path_error(ctx, "jacrev(grad)", against="frozen")


declare(
    pytorch_hessian.id,
    library="PyTorch",
    distribution="torch",
    repro="""
import torch
from torch.func import hessian, jacrev, grad
g = torch.Generator().manual_seed(0)
x0, w, t = (torch.randn(4, 1, generator=g, dtype=torch.float64) for _ in range(3))
b = torch.tensor([0.2], dtype=torch.float64)
f = lambda z: (w * torch.nn.functional.batch_norm(z[:4].reshape(4, 1), None, None, z[4:], b, training=True)).sum()
z = torch.cat([x0.ravel(), torch.tensor([1.3], dtype=torch.float64)])
H, R = hessian(f)(z), jacrev(grad(f))(z)
print((H - R).abs().max() / R.abs().max(), (H - H.T).abs().max())  # 0.53, 0.51; expected ~1e-16
""",
)


def _row_case(ctx: Context) -> dict:
    import torch

    from bntheory.libraries import torch_ad

    g = torch.Generator().manual_seed(0)
    x, w = (torch.randn(2, 4, generator=g, dtype=torch.float64).numpy() for _ in range(2))
    paths = ("torch.func.hessian", "jacrev(jacrev)", "jacfwd(jacfwd)", "jacrev(grad)")
    out = {"torch": torch.__version__, "x": x, "w": w}
    for kernel in torch_ad.ROW_KERNELS:
        out[kernel] = torch_ad.native_row_norm_hessians(kernel, x, w, 1e-5, paths=paths)
        out[kernel + ".reference"] = torch_ad.primitive_row_norm_hessian(kernel, x, w, 1e-5)
    out["layer_norm.wrong_eps"] = torch_ad.primitive_row_norm_hessian("layer_norm", x, w, 1e-3)
    return out


def _row_error(ctx: Context, kernel: str, paths: tuple[str, ...], against: str = "reference") -> Outcome:
    case = ctx.memo("libraries.row_norms", _row_case)
    worst = Worst()
    for p in paths:
        worst.add(max_relative_error(case[kernel][p], case[f"{kernel}.{against}"]), p)
    errors = ", ".join(f"{p} {max_relative_error(case[kernel][p], case[kernel + '.reference']):.2g}" for p in paths)
    detail = f"torch {case['torch']}; worst at {worst.where}; each path: {errors}"
    return at_most(float(worst), float(FLOAT64_ORACLE), detail)


pytorch_row_norms = PYTORCH.result(
    "norm_kernel_hessians",
    proof="libraries_conformance.py",
    title="PyTorch: the Hessian through native F.layer_norm and F.instance_norm on the torch.func paths",
    where="torch.nn.functional.layer_norm / instance_norm under torch.func (THEORY-2.md §11.1, second table)",
    tag="P",
    statement=r"\nabla^2_{(x,g)}\textstyle\sum w\odot\mathrm N(x;g)\ \text{by every AD path}=\text{the true Hessian}",
    assumptions=(
        "x, w = randn(2, 4) x2 from seed 0, rows normalized, gain g = linspace(0.8, 1.3) (per element for LN, per "
        "channel for IN), eps = 1e-5, float64",
    ),
    notes=(
        "THEORY-2.md §11.1's table measured LN wrong on func.hessian, jacrev(jacrev), jacfwd(jacfwd) (0.93; "
        "pytorch/pytorch#196700) and IN on jacfwd(jacfwd) only (0.70); here the gain is differentiated too, and "
        "IN is wrong on the first three paths as well (measured 0.59, 0.59, 0.70; LN 0.97 on all three); without "
        "a gain only jacfwd(jacfwd) is wrong for both."
    ),
    under_test=("bntheory.libraries.torch_ad.primitive_row_norm_hessian",),
)


@pytorch_row_norms.numeric(
    "the reference (primitive ops, reverse-over-reverse) vs central differences of its gradient", needs=("torch",)
)
def _(ctx: Context) -> Outcome:
    import torch

    from bntheory.libraries import torch_ad

    case = ctx.memo("libraries.row_norms", _row_case)
    worst = Worst()
    h = 1e-5
    for kernel in ctx.by_size(quick=("layer_norm",), default=torch_ad.ROW_KERNELS):
        H = case[kernel + ".reference"]
        z0 = np.concatenate([case["x"].ravel(), np.linspace(0.8, 1.3, 4 if kernel == "layer_norm" else 2)])

        def gradient(z, kernel=kernel):
            # the first-order gradient of the native kernel (right at first order, §11.1), by plain reverse mode
            t = torch.tensor(z, requires_grad=True)
            a, g = t[:8].reshape(2, 4), t[8:]
            F = torch.nn.functional
            y = F.layer_norm(a, (4,), weight=g) if kernel == "layer_norm" else F.instance_norm(a[None], weight=g)[0]
            (grad,) = torch.autograd.grad((torch.from_numpy(case["w"]) * y).sum(), t)
            return grad.numpy()

        cd = np.stack([(gradient(z0 + h * e) - gradient(z0 - h * e)) / (2 * h) for e in np.eye(z0.size)], axis=1)
        worst.add(max_relative_error(H, (cd + cd.T) / 2), kernel)
    return at_most(float(worst), float(CENTRAL_DIFFERENCE), f"h = 1e-5; worst at {worst.where}")


for _kernel in ("layer_norm", "instance_norm"):

    @pytorch_row_norms.claim(f"F.{_kernel}: torch.func.hessian, jacrev(jacrev), jacfwd(jacfwd)", needs=("torch",))
    def _(ctx: Context, _kernel=_kernel) -> Outcome:
        return _row_error(ctx, _kernel, ("torch.func.hessian", "jacrev(jacrev)", "jacfwd(jacfwd)"))

    @pytorch_row_norms.claim(f"F.{_kernel}: jacrev(grad)", needs=("torch",))
    def _(ctx: Context, _kernel=_kernel) -> Outcome:
        return _row_error(ctx, _kernel, ("jacrev(grad)",))


@pytorch_row_norms.negative_control(
    "F.layer_norm, jacrev(grad), vs the reference at Keras's eps = 1e-3", needs=("torch",)
)
def _(ctx: Context) -> Outcome:
    return _row_error(ctx, "layer_norm", ("jacrev(grad)",), against="wrong_eps")


declare(
    pytorch_row_norms.id,
    library="PyTorch",
    distribution="torch",
    repro="""
import torch
from torch.func import hessian, jacrev, grad
g = torch.Generator().manual_seed(0)
x, w = (torch.randn(2, 4, generator=g, dtype=torch.float64) for _ in range(2))
f = lambda z: (w * torch.nn.functional.layer_norm(z[:8].reshape(2, 4), (4,), weight=z[8:])).sum()
z = torch.cat([x.ravel(), torch.linspace(0.8, 1.3, 4, dtype=torch.float64)])
H, R = hessian(f)(z), jacrev(grad(f))(z)
print((H - R).abs().max() / R.abs().max())  # 0.97; expected ~1e-16
""",
)


# --- Keras 3 BatchNormalization, run (THEORY-2.md §11.4) ---------------------------------------------------------

KERAS_NEEDS = ("keras", "jax")  # Keras 3.15's numpy backend imports jax for some ops


def _keras_version(ctx: Context) -> str:
    from bntheory.libraries import keras_bn

    k = keras_bn.keras()
    return f"keras {k.__version__}, {k.backend.backend()} backend"


keras_outputs = KERAS.result(
    "outputs",
    proof="libraries_conformance.py",
    title="Keras 3 BatchNormalization outputs: batch statistics in training, moving statistics in inference",
    where="keras.layers.BatchNormalization.call (training=True / False)",
    tag="P",
    statement=(
        r"y=\gamma\frac{x-\mu_{\mathcal B}}{\sqrt{\sigma^2_{\mathcal B}+\epsilon}}+\beta\ (\text{training}),\quad"
        r"y=\gamma\frac{x-\hat\mu}{\sqrt{\hat\sigma^2+\epsilon}}+\beta\ (\text{inference}),\quad\epsilon=10^{-3}"
    ),
    assumptions=("float32 layer, float32 inputs of small mean (THEORY-2.md §11.4: compare in float32)",),
    under_test=("bntheory.norms.batch.forward",),
)


def _keras_batches(ctx: Context) -> list:
    rng = ctx.rng("keras.batches", shared=True)
    return [rng.normal(rng.uniform(-1, 1), rng.uniform(0.5, 2), size=(8, 3)).astype(np.float32) for _ in range(3)]


@keras_outputs.numeric("the references: norms.batch.forward vs mpmath Algorithm 1 (50 digits), eps = 1e-3")
def _(ctx: Context) -> Outcome:
    from bntheory.checks.oracles.mp import mp_batch_norm

    x = _keras_batches(ctx)[-1].astype(np.float64)
    y, _ = transform.forward(x, np.ones(3), np.zeros(3), eps=1e-3)
    ref = np.array([[float(v) for v in mp_batch_norm(x[:, c], 1, 0, 1e-3)] for c in range(3)]).T
    return at_most(max_relative_error(y, ref), float(CLOSED_FORM), "one (8, 3) batch")


def _keras_output_error(ctx: Context, which: str, eps: float = 1e-3) -> Outcome:
    from bntheory.libraries import keras_bn

    batches = _keras_batches(ctx)
    x_test = ctx.rng("keras.test", shared=True).normal(size=(5, 3)).astype(np.float32)
    train, infer, _ = keras_bn.outputs(batches, x_test, momentum=0.9)
    if which == "training":
        ref, _ = transform.forward(batches[-1].astype(np.float64), np.ones(3), np.zeros(3), eps=eps)
        got = train
    else:
        mean, var = np.zeros(3), np.ones(3)
        for b in batches:
            mean, var = transform.update_running_stats(
                mean, var, b.astype(np.float64), momentum=0.9, convention="keras"
            )
        ref = transform.inference(x_test.astype(np.float64), np.ones(3), np.zeros(3), mean, var, eps=eps)
        got = infer
    detail = f"{_keras_version(ctx)}; 3 training calls (8, 3), momentum 0.9, reference eps {eps:g}"
    return at_most(max_relative_error(got, ref), float(FLOAT32_ORACLE), detail)


@keras_outputs.claim("training output vs norms.batch.forward (batch statistics, biased variance)", needs=KERAS_NEEDS)
def _(ctx: Context) -> Outcome:
    return _keras_output_error(ctx, "training")


@keras_outputs.claim("inference output vs norms.batch.inference (moving statistics)", needs=KERAS_NEEDS)
def _(ctx: Context) -> Outcome:
    return _keras_output_error(ctx, "inference")


@keras_outputs.negative_control("the training output vs a reference with PyTorch's eps = 1e-5", needs=KERAS_NEEDS)
def _(ctx: Context) -> Outcome:
    return _keras_output_error(ctx, "training", eps=1e-5)


declare(
    keras_outputs.id,
    library="Keras 3",
    distribution="keras",
    repro="""
import os; os.environ["KERAS_BACKEND"] = "numpy"
import keras, numpy as np
x = np.random.default_rng(0).normal(size=(8, 3)).astype(np.float32)
y = keras.layers.BatchNormalization()(x, training=True)
print(np.abs(np.asarray(y) - (x - x.mean(0)) / np.sqrt(x.var(0) + 1e-3)).max())  # ~1e-7
""",
)


keras_precision = KERAS.result(
    "float64_precision",
    proof="libraries_conformance.py",
    title="Keras 3: a float64 BatchNormalization layer computes in float64",
    where="keras.layers.BatchNormalization(dtype='float64'); keras.backend.result_type",
    tag="P",
    statement=r"\mathrm{BN}_{\mathrm{float64}}(x)=\mathrm{BN}(x)\ \text{to float64 accuracy }(\lesssim10^{-12})",
    assumptions=("float64 inputs, training mode, eps = 1e-3",),
    notes=(
        "Keras 3.15.1 promotes result_type('float64', 'float32') to float32 (keras-team/keras#23704 [S]): the "
        "layer returns float64 arrays of float32-representable values, 1e-7 from the float64 BN."
    ),
    under_test=("bntheory.norms.batch.forward",),
)


def _keras_f64(ctx: Context, eps: float = 1e-3) -> Outcome:
    from bntheory.libraries import keras_bn

    x = ctx.rng("keras.f64", shared=True).normal(size=(8, 3))
    y, dtype, promoted = keras_bn.precision(x)
    ref, _ = transform.forward(x, np.ones(3), np.zeros(3), eps=eps)
    representable = int(np.sum(y.astype(np.float32).astype(np.float64) == y))
    detail = (
        f"{_keras_version(ctx)}; output dtype {dtype}, result_type(float64, float32) = {promoted}, "
        f"{representable}/{y.size} values float32-representable; reference eps {eps:g}"
    )
    return at_most(max_relative_error(y, ref), float(FLOAT64_ORACLE), detail)


@keras_precision.numeric("the reference: norms.batch.forward vs mpmath Algorithm 1 (50 digits), float64")
def _(ctx: Context) -> Outcome:
    from bntheory.checks.oracles.mp import mp_batch_norm

    x = ctx.rng("keras.f64", shared=True).normal(size=(8, 3))
    y, _ = transform.forward(x, np.ones(3), np.zeros(3), eps=1e-3)
    ref = np.array([[float(v) for v in mp_batch_norm(x[:, c], 1, 0, 1e-3)] for c in range(3)]).T
    return at_most(max_relative_error(y, ref), float(CLOSED_FORM), "the check's (8, 3) float64 batch")


@keras_precision.claim("float64 layer output vs the float64 BN (norms.batch.forward)", needs=KERAS_NEEDS)
def _(ctx: Context) -> Outcome:
    return _keras_f64(ctx)


@keras_precision.negative_control("the same vs a reference with PyTorch's eps = 1e-5", needs=KERAS_NEEDS)
def _(ctx: Context) -> Outcome:
    return _keras_f64(ctx, eps=1e-5)


declare(
    keras_precision.id,
    library="Keras 3",
    distribution="keras",
    repro="""
import os; os.environ["KERAS_BACKEND"] = "numpy"
import keras, numpy as np
x = np.random.default_rng(0).normal(size=(8, 3))
y = np.asarray(keras.layers.BatchNormalization(dtype="float64")(x, training=True))
ref = (x - x.mean(0)) / np.sqrt(x.var(0) + 1e-3)
print(y.dtype, np.abs(y - ref).max(), keras.backend.result_type("float64", "float32"))  # float64 ~1e-7 float32
""",
)


keras_large_mean = KERAS.result(
    "large_mean_variance",
    proof="libraries_conformance.py",
    title="Keras 3: the batch variance (and the moving variance) stays accurate and nonnegative at large means",
    where="keras.layers.BatchNormalization; keras.src.backend.<numpy|torch|jax>.nn.moments",
    tag="P",
    statement=(
        r"\hat\sigma^2=\tfrac1m\textstyle\sum_i(x_i-\bar x)^2\ge0\ \text{to float32 accuracy, for }"
        r"\bar x=3\cdot10^3"
    ),
    assumptions=("float32 data, std 1, 256 x 4, momentum 0 (moving = batch variance)",),
    notes=(
        "The numpy and torch backends use the one-pass E[x^2]-E[x]^2 (keras-team/keras#18795 fixed TF and JAX "
        "only): at mean 3e3 the numpy layer stores a negative moving variance and outputs NaN; torch follows at "
        "~1e4; jax's two-pass variance is right. The layer runs on the backend Keras was imported with; the "
        "others' variance kernel (what the layer calls) is run directly."
    ),
    under_test=("bntheory.libraries.keras_bn.batch_variance",),
)


def _large_mean_case(ctx: Context, mean: float) -> np.ndarray:
    return (ctx.rng(f"keras.mean{mean:g}", shared=True).normal(size=(256, 4)) + mean).astype(np.float32)


def _variance_error(ctx: Context, backend: str, mean: float, unbiased: bool = False) -> Outcome:
    from bntheory.libraries import keras_bn

    x = _large_mean_case(ctx, mean)
    var, how = keras_bn.batch_variance(x, backend)
    ref = x.astype(np.float64).var(axis=0, ddof=1 if unbiased else 0)  # two-pass, float64: exact to 1e-16 here
    detail = f"{_keras_version(ctx)}; {how}; mean {mean:g}: min variance {np.min(var):.3g} (true {np.min(ref):.3g})"
    return at_most(max_relative_error(var, ref), float(FLOAT32_ORACLE), detail)


@keras_large_mean.numeric("the reference: float64 two-pass variance vs exact rationals of the float32 data")
def _(ctx: Context) -> Outcome:
    from bntheory.checks.oracles.bn_reference import exact_population_stats

    x = _large_mean_case(ctx, 3e3)
    _, unbiased = exact_population_stats([x.astype(np.float64)])  # one batch: its own unbiased variance
    m = Fraction(x.shape[0])
    exact_var = [float(v * (m - 1) / m) for v in unbiased]
    got = x.astype(np.float64).var(axis=0)
    return at_most(max_relative_error(got, exact_var), float(IDENTITY), "256 x 4 float32 values at mean 3e3")


for _backend in ("numpy", "torch", "jax"):
    for _mean in (0.0, 3e3):

        @keras_large_mean.claim(
            f"{_backend} backend: batch variance at mean {_mean:g} vs the exact variance",
            needs=(*KERAS_NEEDS, *(("torch",) if _backend == "torch" else ())),
        )
        def _(ctx: Context, _backend=_backend, _mean=_mean) -> Outcome:
            return _variance_error(ctx, _backend, _mean)


@keras_large_mean.negative_control("numpy backend at mean 0 vs the unbiased variance", needs=KERAS_NEEDS)
def _(ctx: Context) -> Outcome:
    return _variance_error(ctx, "numpy", 0.0, unbiased=True)


declare(
    keras_large_mean.id,
    library="Keras 3",
    distribution="keras",
    repro="""
import os; os.environ["KERAS_BACKEND"] = "numpy"
import keras, numpy as np
x = (np.random.default_rng(0).normal(size=(256, 4)) + 3e3).astype(np.float32)
bn = keras.layers.BatchNormalization(momentum=0.0); y = bn(x, training=True)
print(np.asarray(bn.moving_variance), x.astype(np.float64).var(0), np.isnan(np.asarray(y)).any())  # negative, NaN
""",
)


# --- curvlinops, BackPACK, PyHessian on THEORY-2.md §11.2's network -------------------------------------------

CURVLINOPS = paper("curvlinops", citation="curvlinops documentation", source="github.com/f-dangel/curvlinops")
BACKPACK = paper("backpack", citation="BackPACK documentation", source="docs.backpack.pt")
PYHESSIAN = paper("pyhessian", citation="PyHessian (Yao et al. 2020)", arxiv="1912.07145")


def _net_case(ctx: Context) -> dict:
    from bntheory.curvature import Model

    rng = ctx.rng("network")
    model = Model(inputs=3, hidden=4, classes=2)
    X = rng.normal(size=(6, 3)) * rng.uniform(0.5, 2, 3) + rng.normal(size=3)
    running = (0.3 * rng.normal(size=4), rng.uniform(0.5, 2, 4))  # BN buffers, unlike the batch's statistics
    return {"model": model, "theta": model.init(rng), "X": X, "Y": rng.normal(size=(6, 2)), "running": running}


def _exact_curvature(ctx: Context) -> dict:
    from bntheory import curvature

    c = ctx.memo("libraries.network", _net_case)
    D = c["model"].size
    args = (c["model"], c["theta"], c["X"])
    return {
        "ggn": curvature.ggn_dense(*args, reduction="sum"),
        "ggn_mean": curvature.ggn_dense(*args, reduction="mean"),
        "hessian": curvature.hessian_vector_products(*args, c["Y"], np.eye(D), reduction="sum"),
        "frozen": curvature.hessian_vector_products(*args, c["Y"], np.eye(D), reduction="sum", frozen=True),
    }


def _bntheory_vs_oracles(ctx: Context, which: tuple[str, ...]) -> Outcome:
    from bntheory.checks.oracles import networks

    c, exact = ctx.memo("libraries.network", _net_case), ctx.memo("libraries.exact", _exact_curvature)
    args = (c["model"], c["theta"], c["X"])
    worst = Worst()
    if "ggn" in which:
        worst.add(max_relative_error(exact["ggn"], networks.ggn(*args, reduction="sum")), "GGN")
    if "hessian" in which:
        worst.add(max_relative_error(exact["hessian"], networks.hessian(*args, c["Y"], reduction="sum")), "Hessian")
    detail = f"bntheory.curvature vs the kit's torch.nn / reverse-over-reverse oracles; worst: {worst.where}"
    return at_most(float(worst), float(FLOAT64_ORACLE), detail)


curvlinops_bn = CURVLINOPS.result(
    "bn_curvature",
    proof="libraries_conformance.py",
    title="curvlinops: GGN and Hessian operators of a training-mode BN network",
    where="GGNLinearOperator, HessianLinearOperator (THEORY-2.md §11.2)",
    tag="P",
    statement=(
        r"G=\mathrm J^\top\nabla^2_FL\,\mathrm J,\quad H=\nabla^2_\theta L\ \text{(training mode, batch statistics)};"
        r"\ \text{operators built on a module with running statistics leave it unchanged}"
    ),
    assumptions=("Linear(3,4) -> BatchNorm1d(4) training mode -> tanh -> Linear(4,2), N = 6, MSELoss(sum)",),
    notes=(
        "curvlinops 3.0.1: the GGN is right; the Hessian's product is jvp(jacrev), wrong through the native "
        "batch_norm kernel (THEORY-2.md §11.1 defect (2)); with track_running_stats=True its determinism check "
        "raises a functorch RuntimeError after updating the buffers twice."
    ),
    under_test=("bntheory.curvature.network.ggn_dense", "bntheory.curvature.network.hessian_vector_products"),
)


@curvlinops_bn.numeric(
    "the references: bntheory.curvature's exact GGN and Hessian vs the kit's oracles", needs=("torch",)
)
def _(ctx: Context) -> Outcome:
    return _bntheory_vs_oracles(ctx, ("ggn", "hessian"))


def _curvlinops(ctx: Context) -> tuple:
    from bntheory.libraries import toolkits

    c = ctx.memo("libraries.network", _net_case)
    return toolkits.curvlinops_matrices(c["model"], c["theta"], c["X"], c["Y"])


def _curvlinops_error(ctx: Context, which: str, against: str) -> Outcome:
    from bntheory.libraries import version

    G, H = ctx.memo("libraries.curvlinops", _curvlinops)
    got = G if which == "ggn" else H
    exact = ctx.memo("libraries.exact", _exact_curvature)
    detail = f"curvlinops {version('curvlinops-for-pytorch')}; asymmetry {max_relative_error(got.T, got):.2g}"
    return at_most(max_relative_error(got, exact[against]), float(FLOAT64_ORACLE), detail)


@curvlinops_bn.claim("GGNLinearOperator vs bntheory.curvature.ggn_dense", needs=("torch", "curvlinops"))
def _(ctx: Context) -> Outcome:
    return _curvlinops_error(ctx, "ggn", "ggn")


@curvlinops_bn.claim("HessianLinearOperator vs bntheory's training-mode Hessian", needs=("torch", "curvlinops"))
def _(ctx: Context) -> Outcome:
    return _curvlinops_error(ctx, "hessian", "hessian")


@curvlinops_bn.claim(
    "track_running_stats=True: the operator is built and the buffers untouched", needs=("torch", "curvlinops")
)
def _(ctx: Context) -> Outcome:
    from bntheory.libraries import toolkits

    c = ctx.memo("libraries.network", _net_case)
    error, updates = toolkits.curvlinops_running_stats(c["model"], c["theta"], c["X"], c["Y"])
    detail = f"num_batches_tracked {updates} after construction; {error or 'no exception'}"
    return exact(int(bool(error)) + updates, detail)


@curvlinops_bn.negative_control(
    "GGNLinearOperator vs the GGN of the mean loss (reduction factor 1/N)", needs=("torch", "curvlinops")
)
def _(ctx: Context) -> Outcome:
    return _curvlinops_error(ctx, "ggn", "ggn_mean")


declare(
    curvlinops_bn.id,
    library="curvlinops",
    distribution="curvlinops-for-pytorch",
    repro="""
import torch
from curvlinops import HessianLinearOperator
torch.manual_seed(0)
net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4, track_running_stats=False),
                          torch.nn.Tanh(), torch.nn.Linear(4, 2)).double()
X, Y = torch.randn(6, 3, dtype=torch.float64), torch.randn(6, 2, dtype=torch.float64)
loss, ps = torch.nn.MSELoss(reduction="sum"), list(net.parameters())
H = HessianLinearOperator(net, loss, ps, [(X, Y)], check_deterministic=False) @ torch.eye(34, dtype=torch.float64)
print((H - H.T).abs().max() / H.abs().max())  # 0.021: not symmetric, as a Hessian is; expected ~1e-16
""",
)


backpack_bn = BACKPACK.result(
    "bn",
    proof="libraries_conformance.py",
    title="BackPACK: BatchGrad and DiagGGNExact through BatchNorm1d (eval mode; training mode refused)",
    where="backpack.extensions.BatchGrad, DiagGGNExact (THEORY-2.md §11.3)",
    tag="P",
    statement=(
        r"\text{eval: }g_n=\nabla_\theta\ell(F(x_n;\hat\mu,\hat\sigma^2),y_n),\ "
        r"\mathrm{diag}\,G=\mathrm{diag}(2\mathrm J^\top\mathrm J);\ \text{training: refused, or one of the four "
        r"per-sample definitions}"
    ),
    assumptions=("§11.2's network; eval mode uses the BN buffers (not the batch's statistics)",),
    notes=(
        "BackPACK 1.7.1: eval mode right; training mode: DiagGGNExact raises NotImplementedError, BatchGrad only "
        "warns and returns rows that sum to .grad but are none of the four per-sample definitions."
    ),
    under_test=("bntheory.curvature.network.per_sample_gradients",),
)


@backpack_bn.numeric(
    "the reference: bntheory's per-sample gradients (eval, buffers) vs the kit's oracle", needs=("torch",)
)
def _(ctx: Context) -> Outcome:
    from bntheory import curvature
    from bntheory.checks.oracles import networks

    c = ctx.memo("libraries.network", _net_case)
    args = (c["model"], c["theta"], c["X"], c["Y"])
    ours = curvature.per_sample_gradients(*args, definition="running", running=c["running"])
    theirs = networks.per_sample_gradients(*args, definition="running", running=c["running"])
    return at_most(max_relative_error(ours, theirs), float(FLOAT64_ORACLE), "eval mode with the BN buffers")


def _backpack_rows(ctx: Context, training: bool, definition: str = "running") -> Outcome:
    from bntheory import curvature
    from bntheory.libraries import toolkits, version

    c = ctx.memo("libraries.network", _net_case)
    args = (c["model"], c["theta"], c["X"], c["Y"])
    rows, grad, warning = toolkits.backpack_batch_grad(*args, running=c["running"], training=training)
    definitions = ("running", "batch_of_one", "per_component", "frozen_statistics") if training else (definition,)
    errors = np.array(
        [
            max_relative_error(rows, curvature.per_sample_gradients(*args, definition=d, running=c["running"]))
            for d in definitions
        ]
    )
    nearest = definitions[int(np.argmin(errors))]
    detail = (
        f"backpack {version('backpack-for-pytorch')}; nearest definition {nearest}; rows sum to .grad to "
        f"{max_relative_error(rows.sum(axis=0), grad):.2g}; warning: {warning[:60] or 'none'}"
    )
    return at_most(float(np.min(errors)), float(FLOAT64_ORACLE), detail)


@backpack_bn.claim("eval mode: BatchGrad vs the per-sample gradients with the buffers", needs=("torch", "backpack"))
def _(ctx: Context) -> Outcome:
    return _backpack_rows(ctx, training=False)


@backpack_bn.claim("eval mode: DiagGGNExact vs diag(2 J^T J) of the eval-mode network", needs=("torch", "backpack"))
def _(ctx: Context) -> Outcome:
    from bntheory.libraries import toolkits

    c = ctx.memo("libraries.network", _net_case)
    diag, error = toolkits.backpack_diag_ggn(
        c["model"], c["theta"], c["X"], c["Y"], running=c["running"], training=False
    )
    if diag is None:
        return at_most(float("inf"), float(FLOAT64_ORACLE), error)
    ref = toolkits.eval_ggn_diagonal(c["model"], c["theta"], c["X"], c["running"])
    return at_most(max_relative_error(diag, ref), float(FLOAT64_ORACLE), "eval mode with the BN buffers")


@backpack_bn.claim(
    "training mode: DiagGGNExact refuses (raises) rather than return a wrong GGN", needs=("torch", "backpack")
)
def _(ctx: Context) -> Outcome:
    from bntheory.libraries import toolkits

    c = ctx.memo("libraries.network", _net_case)
    diag, error = toolkits.backpack_diag_ggn(
        c["model"], c["theta"], c["X"], c["Y"], running=c["running"], training=True
    )
    return exact(int(diag is not None), error or "returned a diagonal")


@backpack_bn.claim(
    "training mode: BatchGrad vs the nearest of the four per-sample definitions", needs=("torch", "backpack")
)
def _(ctx: Context) -> Outcome:
    return _backpack_rows(ctx, training=True)


@backpack_bn.negative_control(
    "eval-mode BatchGrad vs the frozen-batch-statistics per-sample gradients", needs=("torch", "backpack")
)
def _(ctx: Context) -> Outcome:
    return _backpack_rows(ctx, training=False, definition="frozen_statistics")


declare(
    backpack_bn.id,
    library="BackPACK",
    distribution="backpack-for-pytorch",
    repro="""
import torch
from backpack import backpack, extend
from backpack.extensions import BatchGrad
torch.manual_seed(0)
net = extend(torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4), torch.nn.Tanh(),
                                 torch.nn.Linear(4, 2)).double().train())
X, Y = torch.randn(6, 3, dtype=torch.float64), torch.randn(6, 2, dtype=torch.float64)
loss = extend(torch.nn.MSELoss(reduction="sum"))(net(X), Y)
with backpack(BatchGrad()):
    loss.backward()  # only a warning
F, W = net(X), net[0].weight  # per-component gradients (c): the definition whose rows sum to .grad
c = torch.stack([torch.autograd.grad(((F[n] - Y[n]) ** 2).sum(), W, retain_graph=True)[0] for n in range(6)])
print((W.grad_batch.sum(0) - W.grad).abs().max(), (W.grad_batch - c).abs().max() / c.abs().max())  # 9e-16, 0.18
""",
)


pyhessian_bn = PYHESSIAN.result(
    "bn",
    proof="libraries_conformance.py",
    title="PyHessian: the top eigenvalue and trace of a BN network's Hessian in the mode it was given",
    where="pyhessian.hessian (THEORY-2.md §11.3)",
    tag="P",
    statement=(
        r"\lambda_{\max}(\nabla^2_\theta L),\ \mathrm{tr}\,\nabla^2_\theta L\ \text{of the training-mode network"
        r" (batch statistics) when given one in training mode}"
    ),
    assumptions=("§11.2's network in training mode, with BN buffers unlike the batch's statistics",),
    notes=(
        "PyHessian 0.1's constructor calls model.eval(): its spectra are those of the network with the running "
        "buffers (right, to the power iteration's and Hutchinson's accuracy), never the training-mode Hessian."
    ),
    under_test=("bntheory.curvature.network.hessian_vector_products",),
)


@pyhessian_bn.numeric("the reference: bntheory's training-mode Hessian vs the kit's oracle", needs=("torch",))
def _(ctx: Context) -> Outcome:
    return _bntheory_vs_oracles(ctx, ("hessian",))


def _pyhessian(ctx: Context) -> dict:
    from bntheory.libraries import toolkits

    c = ctx.memo("libraries.network", _net_case)
    seed = int(ctx.rng("pyhessian").integers(2**31))
    probes = ctx.by_size(quick=20, default=50)
    return toolkits.pyhessian_spectrum(
        c["model"], c["theta"], c["X"], c["Y"], running=c["running"], seed=seed, probes=probes
    )


def _eval_hessian(ctx: Context) -> np.ndarray:
    import torch

    c = ctx.memo("libraries.network", _net_case)
    t, X, Y = (torch.as_tensor(np.asarray(a, dtype=np.float64)) for a in (c["theta"], c["X"], c["Y"]))
    stats = torch.cat([torch.as_tensor(a) for a in c["running"]])  # Model.batch_statistics' flat layout
    return torch.func.hessian(lambda p: ((c["model"].forward(p, X, statistics=stats) - Y) ** 2).sum())(t).numpy()


def _top(ctx: Context, against: str) -> Outcome:
    from bntheory.libraries import version

    got = ctx.memo("libraries.pyhessian", _pyhessian)
    H = _mode_hessian(ctx, against)
    top = float(np.linalg.eigvalsh((H + H.T) / 2)[-1])
    detail = f"pyhessian {version('pyhessian')}: top {got['top']:.6g}, {against}-mode top {top:.6g}"
    return at_most(abs(got["top"] - top) / abs(top), float(POWER_ITERATION), detail)


def _mode_hessian(ctx: Context, against: str) -> np.ndarray:
    if against == "eval":
        return ctx.memo("libraries.eval_hessian", _eval_hessian)
    return ctx.memo("libraries.exact", _exact_curvature)[against]


def _trace(ctx: Context, against: str) -> Outcome:
    from bntheory.libraries import version

    got = ctx.memo("libraries.pyhessian", _pyhessian)
    H = _mode_hessian(ctx, against)
    detail = (
        f"pyhessian {version('pyhessian')}: trace of its Hessian-vector product on the basis "
        f"{np.trace(got['matrix']):.6g}, {against}-mode trace {np.trace(H):.6g}"
    )
    return at_most(abs(np.trace(got["matrix"]) - np.trace(H)) / abs(np.trace(H)), float(FLOAT64_ORACLE), detail)


def _hutchinson(ctx: Context) -> Outcome:
    got = ctx.memo("libraries.pyhessian", _pyhessian)
    H = (got["matrix"] + got["matrix"].T) / 2
    K = got["samples"].size
    # Rademacher probes: Var(v^T H v) = 2 (||H||_F^2 - sum_i H_ii^2), exactly
    se = float(np.sqrt(2 * (np.sum(H**2) - np.sum(np.diag(H) ** 2)) / K))
    mean = float(np.mean(got["samples"]))
    detail = f"trace() mean {mean:.5g} of {K} probes vs the trace {np.trace(H):.5g} of its own operator"
    return at_most(abs(mean - float(np.trace(H))) / se, float(SLQ_SCORE), detail + " (in standard errors)")


@pyhessian_bn.claim("the module stays in training mode after hessian(...)", needs=("torch", "pyhessian"))
def _(ctx: Context) -> Outcome:
    got = ctx.memo("libraries.pyhessian", _pyhessian)
    return exact(int(not got["training"]), f"module.training = {got['training']} after the constructor")


@pyhessian_bn.claim("top eigenvalue vs the training-mode Hessian's", needs=("torch", "pyhessian"))
def _(ctx: Context) -> Outcome:
    return _top(ctx, "hessian")


@pyhessian_bn.claim("trace of its Hessian operator vs the training-mode Hessian's", needs=("torch", "pyhessian"))
def _(ctx: Context) -> Outcome:
    return _trace(ctx, "hessian")


@pyhessian_bn.claim(
    "top eigenvalue vs the eval-mode Hessian's (BN buffers): what it computes", needs=("torch", "pyhessian")
)
def _(ctx: Context) -> Outcome:
    return _top(ctx, "eval")


@pyhessian_bn.claim(
    "trace of its Hessian operator vs the eval-mode Hessian's (BN buffers)", needs=("torch", "pyhessian")
)
def _(ctx: Context) -> Outcome:
    return _trace(ctx, "eval")


@pyhessian_bn.claim("trace(): Hutchinson mean vs the trace of its own operator", needs=("torch", "pyhessian"))
def _(ctx: Context) -> Outcome:
    return _hutchinson(ctx)


@pyhessian_bn.negative_control(
    "top eigenvalue vs the frozen-batch-statistics Hessian's (the other eval reading)", needs=("torch", "pyhessian")
)
def _(ctx: Context) -> Outcome:
    return _top(ctx, "frozen")


declare(
    pyhessian_bn.id,
    library="PyHessian",
    distribution="pyhessian",
    repro="""
import torch
from pyhessian import hessian
net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4), torch.nn.Tanh(), torch.nn.Linear(4, 2))
net.train()
h = hessian(net, torch.nn.MSELoss(), data=(torch.randn(6, 3), torch.randn(6, 2)), cuda=False)
print(net.training)  # False: the spectra are of the eval-mode network (running buffers)
""",
)
