r"""Gradients and curvature of a small normalized network in training mode.

Per-component gradients, the four candidate "per-sample" gradients, the generalized Gauss–Newton matrix,
the GGN and Hessian as linear operators, and the dense Hessian from the network's block structure.

The model is a one-hidden-layer MLP, :math:`F(X,\theta)=W_2\,\phi(\mathrm{N}(W_1X+b_1))+b_2`, where N is BN in
training mode (batch statistics over the N samples, learnable :math:`\gamma,\beta`), a per-sample normalization
(LayerNorm, GroupNorm, RMSNorm; THEORY-2.md §9.1), weight normalization of :math:`W_1`, or nothing; optionally a
normalization without affine after the output layer (the trap of THEORY-2.md §9.4). :math:`\theta\in\mathbb R^D` is
one flat float64 vector. Under BN every output :math:`F_n` depends on the whole batch, while the loss keeps the
"one term per sample, then a reduction" structure :math:`L=r\sum_n\ell(F_n,y_n)` (:math:`r=1` for sum, :math:`1/N` for
mean), which is what the GGN factorization needs (Dangel 2021; THEORY.md §6).

How the batch coupling is differentiated. The only cross-sample dependence is through BN's batch statistics
:math:`s(\theta)` (mean and variance of each BN layer), so each output is :math:`F_n=f(x_n,\theta,s(\theta))` with
:math:`f` per sample, and a per-component vector–Jacobian product splits exactly by the chain rule:

.. math:: (\mathrm J_\theta F_n)^\top u_n=\partial_\theta f(x_n,\theta,s)^\top u_n
          +\big(\partial_\theta s\big)^\top\partial_s f(x_n,\theta,s)^\top u_n .

The first two factors are taken for all N samples at once with one copy of :math:`\theta` per sample (one backward
pass, memory :math:`O(ND)`), :math:`\partial_\theta s` (a few rows) with one copy per statistic. So per-component
gradients, the GGN's diagonal and the Jacobian cost memory linear in N, where a ``vmap`` over N one-hot cotangents
needs :math:`O(N^2)` (issue 21).

Everything here uses PyTorch (float64, plain ``torch.autograd``; ``torch.func`` would import ``torch._dynamo``,
about 1 s per process) and needs the ``oracle`` extra; the curvature toolkits users know either refuse
training-mode BN or switch to eval mode, which is why this module exists.

References
----------
F. Dangel, "Structural implications of batch normalization" (note, 2021); BackPACK issue 160 (the candidate
definitions of a per-sample gradient under BN); THEORY-2.md §9.1 (the other normalizations), §9.4 row T4.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import numpy as np
import scipy.sparse.linalg

from bntheory._torch_threads import single_threaded
from bntheory.curvature._checks import as_array, check_rng, positive_int, real_number

__all__ = [
    "Loss",
    "Model",
    "Problem",
    "full_gradient",
    "gaussian_mixture",
    "ggn_dense",
    "ggn_diagonal",
    "ggn_operator",
    "ggn_vector_products",
    "gradient_descent",
    "hessian_dense",
    "hessian_operator",
    "hessian_vector_products",
    "loss_hessian_factors",
    "loss_value",
    "outlier_experiment",
    "per_component_gradients",
    "per_sample_gradients",
    "random_problem",
    "to_dense",
]

Loss = Literal["mse", "cross_entropy"]
PerSample = Literal["running", "batch_of_one", "per_component", "frozen_statistics"]
#: Normalizations after the hidden linear layer (``Model.norm``), with their affine parameters.
NORMS = {"batch": ("gamma", "beta"), "layer": ("gamma", "beta"), "group": ("gamma", "beta"), "rms": ("gamma",)}
#: Normalizations of the output (``Model.output_norm``), without affine parameters.
OUTPUT_NORMS = ("batch", "layer", "rms")
ACTIVATIONS = ("tanh", "relu")
LOSSES = ("mse", "cross_entropy")


def _torch():
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - the test environment has torch
        raise ImportError("bntheory.curvature.network needs PyTorch: pip install 'bntheory[oracle]'") from exc
    return torch


@dataclass(frozen=True)
class Model:
    r"""A one-hidden-layer MLP, a normalization after the hidden linear layer (or none), optionally one at the output.

    Attributes
    ----------
    inputs, hidden, classes : int
        Layer widths I, H, C.
    bn : bool
        Whether a normalization follows the hidden linear layer (the name is historic: with the default
        ``norm="batch"`` it is training-mode BN, batch statistics, learnable gamma and beta).
    activation : {"tanh", "relu"}
    eps : float
        The normalizations' epsilon (all layers).
    norm : {"batch", "layer", "group", "rms", "weight"}
        Which normalization (THEORY-2.md §9.1): BN over the batch per unit; LayerNorm over each sample's H units
        with an elementwise gamma, beta (``F.layer_norm``); GroupNorm over each sample's `groups` groups of H/G
        units, per-unit gamma, beta; RMSNorm over each sample's units, gain only (``F.rms_norm``); weight
        normalization of W1's rows, :math:`w_i=g_i v_i/\|v_i\|` (parameters v, b1, g instead of W1, b1,
        gamma, beta).
    groups : int
        GroupNorm's number of groups; must divide `hidden`.
    output_norm : {None, "batch", "layer", "rms"}
        A normalization without affine after the output layer, :math:`F=\mathrm N(W_2 z+b_2)`: it removes
        output directions from the GGN (THEORY-2.md §9.4, T4's trap). BN there is in training mode too.
    """

    inputs: int
    hidden: int
    classes: int
    bn: bool = True
    activation: str = "tanh"
    eps: float = 1e-5
    norm: str = "batch"
    groups: int = 2
    output_norm: str | None = None

    def __post_init__(self) -> None:
        for name in ("inputs", "hidden", "classes", "groups"):
            positive_int(getattr(self, name), name)
        if not isinstance(self.bn, bool | np.bool_):
            raise TypeError(f"bn: expected True or False, got {type(self.bn).__name__} {self.bn!r}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation: expected 'tanh' or 'relu', got {self.activation!r}")
        if isinstance(self.eps, bool | np.bool_) or not isinstance(self.eps, numbers.Real):
            raise TypeError(f"eps: expected a real number >= 0, got {type(self.eps).__name__}")
        if not math.isfinite(self.eps) or self.eps < 0:
            raise ValueError(f"eps: expected a finite value >= 0, got {self.eps}")
        if self.norm not in (*NORMS, "weight"):
            raise ValueError(f"norm: expected one of {(*NORMS, 'weight')}, got {self.norm!r}")
        if self.bn and self.norm == "group" and self.hidden % self.groups:
            raise ValueError(f"groups: must divide hidden = {self.hidden}, got {self.groups}")
        if self.output_norm is not None and self.output_norm not in OUTPUT_NORMS:
            raise ValueError(f"output_norm: expected None or one of {OUTPUT_NORMS}, got {self.output_norm!r}")

    @property
    def hidden_norm(self) -> str | None:
        """The normalization after the hidden linear layer, ``None`` without one."""
        return self.norm if self.bn else None

    def _layout(self) -> list[tuple[str, tuple[int, ...]]]:
        H = self.hidden
        first = "v" if self.hidden_norm == "weight" else "W1"
        s = [(first, (H, self.inputs)), ("b1", (H,))]
        if self.hidden_norm == "weight":
            s.append(("g", (H,)))
        elif self.hidden_norm is not None:
            s += [(name, (H,)) for name in NORMS[self.hidden_norm]]
        return [*s, ("W2", (self.classes, H)), ("b2", (self.classes,))]

    @property
    def shapes(self) -> list[tuple[int, ...]]:
        """Shapes of W1 (or v), b1, the normalization's parameters, W2, b2 in the order of the flat vector."""
        return [shape for _, shape in self._layout()]

    @property
    def size(self) -> int:
        """D, the number of parameters."""
        return sum(math.prod(s) for s in self.shapes)

    @property
    def coupled(self) -> bool:
        """Whether outputs depend on other samples (a training-mode BN layer anywhere)."""
        return self.hidden_norm == "batch" or self.output_norm == "batch"

    def init(self, rng: np.random.Generator) -> np.ndarray:
        """Random parameters (Gaussian weights with variance 1/fan-in, gains near 1, small biases)."""
        check_rng(rng)
        H = self.hidden
        parts = [rng.normal(size=(H, self.inputs)) / np.sqrt(self.inputs), 0.1 * rng.normal(size=H)]
        for name, shape in self._layout()[2:-2]:
            parts.append((1.0 if name in ("gamma", "g") else 0.0) + 0.1 * rng.normal(size=shape))
        parts += [rng.normal(size=(self.classes, H)) / np.sqrt(H), 0.1 * rng.normal(size=self.classes)]
        return np.concatenate([p.ravel() for p in parts])

    def _params(self, theta) -> list:
        """The parameters as views of `theta` (..., D), each with `theta`'s leading dims."""
        params, start = [], 0
        for shape in self.shapes:
            size = math.prod(shape)
            params.append(theta[..., start : start + size].reshape(*theta.shape[:-1], *shape))
            start += size
        return params

    @property
    def statistics_size(self) -> int:
        """K, the length of the flat vector of batch statistics (mean and variance of each BN layer)."""
        return 2 * self.hidden * (self.hidden_norm == "batch") + 2 * self.classes * (self.output_norm == "batch")

    def batch_statistics(self, theta, X):
        """The BN layers' batch means and biased variances at `theta` on `X`, flat: shape (..., K).

        Order: hidden mean, hidden variance, then output mean, output variance (for each BN layer present).
        Differentiable in `theta` (detach them for constants); `theta` (..., D), `X` (..., N, I).
        """
        torch = _torch()
        if not (isinstance(theta, torch.Tensor) and isinstance(X, torch.Tensor)):
            raise TypeError(f"theta, X: expected torch tensors, got {type(theta).__name__}, {type(X).__name__}")
        stats: list = []
        self._forward(theta, X, None, stats)
        return torch.cat(stats, dim=-1) if stats else theta[..., :0]

    def forward(self, theta, X, *, statistics=None):
        r"""Outputs :math:`F` of shape (..., N, C) for inputs `X` of shape (..., N, I), as torch tensors.

        `theta` has shape (..., D): leading dims are independent networks (broadcast against `X`'s). `statistics`
        (the flat vector of :meth:`batch_statistics`, shape (..., K)) replaces the BN layers' batch statistics by
        these constants (eval mode with them); ``None`` is training mode.
        """
        torch = _torch()
        if not (isinstance(theta, torch.Tensor) and isinstance(X, torch.Tensor)):
            raise TypeError(
                f"theta, X: expected torch tensors, got {type(theta).__name__}, {type(X).__name__}; "
                "convert with torch.as_tensor(..., dtype=torch.float64) (the functions of this module take arrays)"
            )
        return self._forward(theta, X, statistics, None)

    def _forward(self, theta, X, statistics, record):
        p = dict(zip((name for name, _ in self._layout()), self._params(theta), strict=True))
        given = None if statistics is None else self._split(statistics)
        F = self._hidden(p, X, given, record) @ p["W2"].mT + p["b2"][..., None, :]
        if self.output_norm is not None:
            F = self._normalize(self.output_norm, F, given, record)
        return F

    def _hidden(self, p: dict, X, given, record):
        """The hidden activations Z (..., N, H) from the parameters `p` (by name), as in :meth:`_forward`."""
        torch = _torch()
        kind = self.hidden_norm
        if kind == "weight":  # w_i = g_i v_i / ||v_i|| (THEORY-2.md §9.1, WN row)
            W1 = p["g"][..., None] * p["v"] / torch.linalg.vector_norm(p["v"], dim=-1, keepdim=True)
        else:
            W1 = p["W1"]
        A = X @ W1.mT + p["b1"][..., None, :]
        if kind not in (None, "weight"):
            A = self._normalize(kind, A, given, record)
            A = p["gamma"][..., None, :] * A + (p["beta"][..., None, :] if "beta" in p else 0.0)
        return torch.tanh(A) if self.activation == "tanh" else torch.relu(A)

    def _split(self, statistics) -> list:
        """The flat statistics as [mean, var, ...] per BN layer, each (..., 1, width) to broadcast over samples."""
        widths = [self.hidden] * 2 * (self.hidden_norm == "batch") + [self.classes] * 2 * (self.output_norm == "batch")
        out, start = [], 0
        for w in widths:
            out.append(statistics[..., None, start : start + w])
            start += w
        return out

    def _normalize(self, kind: str, A, given, record):
        r"""THEORY-2.md §9.1 along `A` (..., N, W), no affine: :math:`(a-\mu)/\sqrt{\sigma^2+\epsilon}` per group."""
        torch = _torch()
        if kind == "batch":  # per unit over the batch (axis -2); given statistics replace the batch's
            if given is None:
                mean, var = A.mean(dim=-2, keepdim=True), A.var(dim=-2, unbiased=False, keepdim=True)
                if record is not None:
                    record += [mean[..., 0, :], var[..., 0, :]]
            else:
                mean, var = given.pop(0), given.pop(0)
            return (A - mean) / torch.sqrt(var + self.eps)
        if kind == "rms":  # no centring: a / sqrt(mean(a^2) + eps) per sample
            return A / torch.sqrt((A * A).mean(dim=-1, keepdim=True) + self.eps)
        shape = A.shape
        if kind == "group":  # per sample and group of H/G consecutive units
            A = A.reshape(*shape[:-1], self.groups, shape[-1] // self.groups)
        mean, var = A.mean(dim=-1, keepdim=True), A.var(dim=-1, unbiased=False, keepdim=True)
        return ((A - mean) / torch.sqrt(var + self.eps)).reshape(shape)


# --- argument checks: each error names the argument and the fix ----------------------------------------------


def _check_model(model: Any) -> Model:
    if not isinstance(model, Model):
        raise TypeError(f"model: expected a curvature.Model, got {type(model).__name__}")
    return model


def _check_inputs(model: Model, theta: Any, X: Any) -> tuple[np.ndarray, np.ndarray]:
    """`theta` (D,) and `X` (N, I), N >= 1, as float64 arrays."""
    _check_model(model)
    t = as_array(theta, "theta", f"a flat vector of D = {model.size} parameters")
    if t.shape != (model.size,):
        raise ValueError(
            f"theta: expected a flat vector of D = {model.size} parameters (model.size), got shape {t.shape}"
        )
    x = as_array(X, "X", f"an (N, {model.inputs}) batch")
    if x.ndim != 2 or x.shape[1] != model.inputs or x.shape[0] < 1:
        raise ValueError(f"X: expected an (N, {model.inputs}) batch with N >= 1, got shape {x.shape}")
    if model.coupled and model.eps == 0 and x.shape[0] == 1:
        raise ValueError("X: a batch of one through BN with eps = 0 normalizes 0 / 0; pass N >= 2 or eps > 0")
    return t, x


def _check_loss(loss: Any) -> str:
    if not isinstance(loss, str) or loss not in LOSSES:
        raise ValueError(f"loss: expected 'mse' or 'cross_entropy', got {loss!r}")
    return loss


def _check_targets(model: Model, Y: Any, N: int, loss: str, name: str = "Y") -> np.ndarray:
    """Square-loss targets (N, C) as float64, or cross-entropy labels (N,) in [0, C) as int64."""
    if _check_loss(loss) == "mse":
        y = as_array(Y, name, f"square-loss targets of shape ({N}, {model.classes})")
        if y.shape != (N, model.classes):  # no broadcasting: an (N, 1) target would silently mean another loss
            raise ValueError(f"{name}: expected square-loss targets of shape ({N}, {model.classes}), got {y.shape}")
        return y
    y = as_array(Y, name, f"{N} integer class labels in [0, {model.classes})")
    if y.shape != (N,):
        raise ValueError(f"{name}: expected {N} class labels, shape ({N},), got {y.shape}")
    if np.any(y != np.round(y)) or np.any(y < 0) or np.any(y >= model.classes):
        raise ValueError(
            f"{name}: cross-entropy labels must be integers in [0, {model.classes}); got values {np.unique(y)}"
        )
    return y.astype(np.int64)


def _reduction(N: int, reduction: Any) -> float:
    if not isinstance(reduction, str) or reduction not in ("sum", "mean"):
        raise ValueError(f"reduction: expected 'sum' or 'mean', got {reduction!r}")
    return 1.0 if reduction == "sum" else 1.0 / N


def _finite(result: np.ndarray, what: str, names: str = "X, theta") -> np.ndarray:
    """Refuse a non-finite result instead of returning NaN (overflow of huge inputs, or 0 / 0 at eps = 0)."""
    if not np.all(np.isfinite(result)):
        raise ValueError(
            f"{names}: {what} is not finite (an overflow from huge values, or a zero variance with eps = 0); "
            f"rescale {names}, or use eps > 0"
        )
    return result


def _tensors(*arrays):
    torch = _torch()
    return [torch.as_tensor(a) for a in arrays]


def _sample_losses(F, Y, loss: str):
    """Per-sample losses l(F_n, y_n), shape (..., N): square loss ||f - y||^2 or softmax cross-entropy."""
    torch = _torch()
    if loss == "mse":
        return ((F - Y) ** 2).sum(dim=-1)
    labels = Y.expand(F.shape[:-1]).reshape(-1)  # labels broadcast over leading dims (copies of the network)
    return torch.nn.functional.cross_entropy(F.reshape(-1, F.shape[-1]), labels, reduction="none").reshape(F.shape[:-1])


# --- gradients ---------------------------------------------------------------------------------------------


@single_threaded
def loss_value(model: Model, theta, X, Y, *, loss: Loss = "mse", reduction: str = "mean") -> float:
    r""":math:`L=r\sum_n\ell(F_n,y_n)` in training mode.

    `Y`: square-loss targets of shape (N, C), or cross-entropy labels (N,) (integers in [0, C)).
    """
    t, x = _check_inputs(model, theta, X)
    y = _check_targets(model, Y, len(x), loss)
    r = _reduction(len(x), reduction)
    t, x, y = _tensors(t, x, y)
    return float(_finite(np.asarray(r * _sample_losses(model.forward(t, x), y, loss).sum()), "the loss", "X, theta, Y"))


@single_threaded
def full_gradient(model: Model, theta, X, Y, *, loss: Loss = "mse", reduction: str = "mean") -> np.ndarray:
    r""":math:`\nabla_\theta L` by autograd (training mode)."""
    torch = _torch()
    t, x = _check_inputs(model, theta, X)
    y = _check_targets(model, Y, len(x), loss)
    r = _reduction(len(x), reduction)
    t, x, y = _tensors(t, x, y)
    t.requires_grad_(True)
    L = r * _sample_losses(model.forward(t, x), y, loss).sum()
    return _finite(torch.autograd.grad(L, t)[0].numpy(), "the gradient", "X, theta, Y")


def _component_vjps(model: Model, t, x, U) -> Iterator:
    r"""Rows :math:`(\mathrm J_\theta F_n)^\top u_n` (N, D) for each cotangent block `U[k]` (N, C), in turn.

    One forward pass with one copy of :math:`\theta` per sample (each sample alone, the batch statistics passed
    in as constants that require grad), then one backward pass per block; the statistics' Jacobian (K, D), by
    one backward pass over K copies, carries the batch coupling (see the module docstring). Memory O(ND + KNH).
    """
    torch = _torch()
    N, D = x.shape[0], t.shape[-1]
    rows = t.detach().expand(N, D).clone().requires_grad_(True)
    inputs, J_stats = [rows], None
    statistics = None
    if model.coupled:
        s = model.batch_statistics(t.detach(), x)
        K = s.shape[-1]
        copies = t.detach().expand(K, D).clone().requires_grad_(True)
        # statistic k of copy k: its gradient in copy k is row k of the Jacobian ds/dtheta
        own = model.batch_statistics(copies, x.expand(K, *x.shape)).diagonal().sum()
        J_stats = torch.autograd.grad(own, copies)[0]
        statistics = s.detach().expand(N, K).clone().requires_grad_(True)
        inputs.append(statistics)
    F = model.forward(rows, x[:, None, :], statistics=statistics)[:, 0, :]
    for k in range(U.shape[0]):
        grads = torch.autograd.grad(F, inputs, grad_outputs=U[k], retain_graph=k < U.shape[0] - 1)
        yield grads[0] if J_stats is None else grads[0] + grads[1] @ J_stats


def _output_gradients(model: Model, t, x, y, loss: str):
    """Row n: the gradient of l(F_n, y_n) in F_n, (N, C), at the training-mode outputs."""
    torch = _torch()
    with torch.no_grad():
        F = model.forward(t, x)
    F.requires_grad_(True)
    return torch.autograd.grad(_sample_losses(F, y, loss).sum(), F)[0]


@single_threaded
def per_component_gradients(model: Model, theta, X, Y, *, loss: Loss = "mse") -> np.ndarray:
    r"""Per-component gradients :math:`\mathbf g_n=(\mathrm J_\theta F_n)^\top\nabla_{F_n}\ell(F_n,y_n)`, shape (N, D).

    Each is the vector–Jacobian product of one sample's loss through the **whole** batch (training mode), so
    :math:`\nabla_\theta L=r\sum_n\mathbf g_n` exactly, but under BN :math:`\mathbf g_n` depends on every
    :math:`x_k` (Dangel 2021, §6.1). With a per-sample normalization (LN, GN, RMSNorm, WN) it is the gradient of
    :math:`\ell(F(x_n),y_n)` on :math:`x_n` alone (THEORY-2.md §9.4, T4). Memory :math:`O(ND)`: the batch
    statistics' Jacobian carries the coupling (module docstring).
    """
    t, x = _check_inputs(model, theta, X)
    y = _check_targets(model, Y, len(x), loss)
    t, x, y = _tensors(t, x, y)
    dF = _output_gradients(model, t, x, y, loss)
    return _finite(next(_component_vjps(model, t, x, dF[None])).numpy(), "a per-component gradient", "X, theta, Y")


def _running(model: Model, t, x, running) -> Any:
    """The statistics of the ``"running"`` definition, flat as :meth:`Model.batch_statistics`."""
    torch = _torch()
    if running is None:  # a fresh PyTorch BN (mean 0, variance 1, momentum 0.1) after one step on this batch
        s = model.batch_statistics(t, x).detach()
        n, parts = x.shape[0], model._split(s)
        if n < 2:
            raise ValueError("X: the default running statistics need the unbiased variance, so N >= 2")
        return torch.cat([p[0] * 0.1 if i % 2 == 0 else 0.9 + 0.1 * p[0] * n / (n - 1) for i, p in enumerate(parts)])
    if model.output_norm == "batch":
        raise ValueError("running: given statistics are for the hidden BN only; pass None with an output BN")
    if not isinstance(running, tuple | list) or len(running) != 2:
        raise TypeError("running: expected a (mean, var) pair of (H,) arrays, or None")
    H = model.hidden
    mean = as_array(running[0], "running mean", f"({H},) values")
    var = as_array(running[1], "running var", f"({H},) positive values")
    if mean.shape != (H,) or var.shape != (H,):
        raise ValueError(f"running: expected mean and var of shape ({H},), got {mean.shape}, {var.shape}")
    if np.any(var + model.eps <= 0):
        raise ValueError("running var: need var + eps > 0; pass non-negative variances")
    return torch.as_tensor(np.concatenate([mean, var]))


@single_threaded
def per_sample_gradients(
    model: Model,
    theta,
    X,
    Y,
    *,
    definition: PerSample,
    loss: Loss = "mse",
    running: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    r"""The four candidate per-sample gradients under BN (BackPACK issue 160), shape (N, D).

    ``"running"``
        (a) eval mode with running statistics (default: those of a freshly initialised PyTorch BN after one
        training step on this batch, momentum 0.1; or ``running = (mean, var)``): independent of the rest of
        the batch, does not sum to the gradient.
    ``"batch_of_one"``
        (b) each sample alone through training-mode BN (degenerate: the normalized pre-activation is 0, so
        only :math:`\beta` and the output layer get gradient); independent of the rest of the batch.
    ``"per_component"``
        (c) :func:`per_component_gradients`: with the reduction factor they sum to the gradient, but each
        depends on the whole batch.
    ``"frozen_statistics"``
        (d) batch statistics held constant (the terms through :math:`\mu,\sigma` dropped): depends on the batch
        through the statistics, does not sum to the gradient.

    Without BN (no normalization, or a per-sample one) all four coincide with the ordinary per-sample gradient.
    All N at once, by one backward pass through one copy of :math:`\theta` per sample (memory :math:`O(ND)`).
    """
    torch = _torch()
    if definition not in ("running", "batch_of_one", "per_component", "frozen_statistics"):
        raise ValueError(
            "definition: expected 'running', 'batch_of_one', 'per_component' or 'frozen_statistics', "
            f"got {definition!r}"
        )
    if definition == "per_component":
        return per_component_gradients(model, theta, X, Y, loss=loss)
    t, x = _check_inputs(model, theta, X)
    y = _check_targets(model, Y, len(x), loss)
    t, x, y = _tensors(t, x, y)
    statistics = None
    if model.coupled and definition == "frozen_statistics":
        statistics = model.batch_statistics(t, x).detach()
    elif model.coupled and definition == "running":
        statistics = _running(model, t, x, running)
    N = x.shape[0]
    rows = t.expand(N, t.shape[0]).clone().requires_grad_(True)
    F = model.forward(rows, x[:, None, :], statistics=statistics)  # (N, 1, C): each sample alone
    g = torch.autograd.grad(_sample_losses(F, y[:, None, ...], loss).sum(), rows)[0]
    return _finite(g.numpy(), "a per-sample gradient", "X, theta, Y")


# --- the GGN -------------------------------------------------------------------------------------------------


def loss_hessian_factors(F: np.ndarray, loss: Loss) -> np.ndarray:
    r"""Symmetric factors :math:`S_n` with :math:`\nabla^2_{F_n}\ell=S_nS_n^\top`, shape (N, C, C).

    The columns of :math:`S_n` are the :math:`\mathbf s_{nc}`.

    Square loss :math:`\|f-y\|^2`: :math:`S_n=\sqrt2\,I`. Cross-entropy: :math:`\mathbf s_{nc}=\sqrt{p_c}(e_c-p)`,
    :math:`p=\mathrm{softmax}(F_n)` (THEORY.md §6.3).
    """
    _check_loss(loss)
    F = as_array(F, "F", "network outputs of shape (N, C)")
    if F.ndim != 2 or 0 in F.shape:
        raise ValueError(f"F: expected network outputs of shape (N, C) with N, C >= 1, got {F.shape}")
    N, C = F.shape
    if loss == "mse":
        return np.broadcast_to(np.sqrt(2.0) * np.eye(C), (N, C, C)).copy()
    p = np.exp(F - F.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    # column c of S_n is sqrt(p_c) (e_c - p)
    return (np.eye(C)[None, :, :] - p[:, :, None]) * np.sqrt(p)[:, None, :]


def _factors(model: Model, t, x, loss: str):
    torch = _torch()
    with torch.no_grad():
        F = model.forward(t, x)
    return torch.as_tensor(loss_hessian_factors(_finite(F.numpy(), "the network output"), loss))


@single_threaded
def ggn_diagonal(model: Model, theta, X, *, loss: Loss = "mse", reduction: str = "mean") -> np.ndarray:
    r"""The GGN's diagonal by back-propagating the N·C loss-Hessian factors.

    .. math:: \mathrm{diag}\,G=r\sum_{n,c}\big((\mathrm J_\theta F_n)^\top\mathbf s_{nc}\big)^{\odot2}

    For each c, the N products with the :math:`\mathbf s_{nc}` are one backward pass through the whole
    training-mode network (the split of the module docstring); never forms :math:`G`. Memory :math:`O(ND)` (one
    block of N products at a time), linear in N, not :math:`O(D^2)`.
    """
    t, x = _check_inputs(model, theta, X)
    _check_loss(loss)
    r = _reduction(len(x), reduction)
    t, x = _tensors(t, x)
    S = _factors(model, t, x, loss)  # (N, C, C); column c of S_n is s_nc
    diag = sum((rows**2).sum(dim=0) for rows in _component_vjps(model, t, x, S.permute(2, 0, 1)))
    return _finite(r * diag.numpy(), "the GGN diagonal")


def _jacobian(model: Model, t, x):
    r""":math:`\mathrm J_\theta F`, (N, C, D), by C blocks of per-component products with one-hot cotangents."""
    torch = _torch()
    N, C = x.shape[0], model.classes
    eye = torch.eye(C, dtype=torch.float64)[:, None, :].expand(C, N, C)
    return torch.stack(list(_component_vjps(model, t, x, eye)), dim=1)


@single_threaded
def ggn_dense(model: Model, theta, X, *, loss: Loss = "mse", reduction: str = "mean") -> np.ndarray:
    r"""The full :math:`G=\mathrm J^\top(\nabla^2_FL)\mathrm J` (:math:`O(D^2)` memory), for checks of the operators.

    Built from the full Jacobian and the exact Hessian of the loss in :math:`F`, by double back-propagation
    of PyTorch's losses (block diagonal: :math:`\ell(F_n,y_n)` depends on :math:`F_n` only), not from the factors.
    """
    torch = _torch()
    t, x = _check_inputs(model, theta, X)
    _check_loss(loss)
    r = _reduction(len(x), reduction)
    t, x = _tensors(t, x)
    J = _jacobian(model, t, x)  # (N, C, D)
    with torch.no_grad():
        F = model.forward(t, x)
    F.requires_grad_(True)
    N, C = F.shape
    # The GGN does not depend on y for these losses (square loss: 2I; CE: diag p - pp^T).
    Y = torch.zeros(N, dtype=torch.int64) if loss == "cross_entropy" else F.detach().clone()
    g = torch.autograd.grad(_sample_losses(F, Y, loss).sum(), F, create_graph=True)[0]
    H = torch.stack([torch.autograd.grad(g[:, c].sum(), F, retain_graph=True)[0] for c in range(C)], dim=1)
    return _finite((r * torch.einsum("nad,nab,nbe->de", J, H, J)).numpy(), "the GGN")


class _SymmetricOperator(scipy.sparse.linalg.LinearOperator):
    """A symmetric ``LinearOperator`` whose products call ``products(V)`` on (D, k) NumPy blocks.

    ``matvec`` and ``matmat`` check their argument's length first, so a wrong one is named (`v`, `V`).
    """

    def __init__(self, products, D: int) -> None:
        super().__init__(np.float64, (D, D))
        self._products = products

    def matvec(self, v):
        v = as_array(v, "v", f"a vector of length D = {self.shape[1]}")
        if v.shape not in ((self.shape[1],), (self.shape[1], 1)):
            raise ValueError(f"v: expected a vector of length D = {self.shape[1]}, got shape {v.shape}")
        return super().matvec(v)

    def matmat(self, V):
        V = as_array(V, "V", f"a (D, k) block with D = {self.shape[1]}")
        if V.ndim != 2 or V.shape[0] != self.shape[1]:
            raise ValueError(f"V: expected a (D, k) block of vectors with D = {self.shape[1]}, got shape {V.shape}")
        return super().matmat(V)

    def _matvec(self, v):
        return self._products(np.asarray(v, dtype=np.float64).reshape(-1, 1))[:, 0]

    def _matmat(self, V):
        return self._products(np.asarray(V, dtype=np.float64))

    _rmatvec, _rmatmat = _matvec, _matmat

    def _adjoint(self):
        return self


def _linear_operator(products, D: int) -> scipy.sparse.linalg.LinearOperator:
    """A symmetric ``LinearOperator`` of size D whose products are ``products(V)`` on (D, k) blocks."""
    return _SymmetricOperator(products, D)


def _block(V, D: int):
    torch = _torch()
    V = as_array(V, "V", f"a (D, k) block of vectors with D = {D}")
    if V.ndim != 2 or V.shape[0] != D:
        raise ValueError(f"V: expected a (D, k) block of vectors with D = {D}, got shape {tuple(V.shape)}")
    return torch.as_tensor(V)


@single_threaded
def ggn_vector_products(model: Model, theta, X, V, *, loss: Loss = "mse", reduction: str = "mean") -> np.ndarray:
    r""":math:`GV` for a (D, k) block `V`: :math:`v\mapsto r\,\mathrm J^\top SS^\top\mathrm Jv` (no dense :math:`G`).

    :math:`\mathrm J` (N, C, D) by C blocks of per-component products through the whole training-mode batch
    (memory :math:`O(NCD)`, never :math:`O(D^2)`); :math:`S_n` from :func:`loss_hessian_factors`.
    """
    torch = _torch()
    t, x = _check_inputs(model, theta, X)
    _check_loss(loss)
    r = _reduction(len(x), reduction)
    V = _block(V, model.size)
    t, x = _tensors(t, x)
    S = _factors(model, t, x, loss)  # (N, C, C)
    J = _jacobian(model, t, x)
    HJV = torch.einsum("nac,nbc,nbd,dk->nak", S, S, J, V)  # S_n S_n^T (J V)_n
    return _finite((r * torch.einsum("nad,nak->dk", J, HJV)).numpy(), "G V", "X, theta, V")


def ggn_operator(model: Model, theta, X, *, loss: Loss = "mse", reduction: str = "mean"):
    r""":math:`G` as a ``scipy.sparse.linalg.LinearOperator`` (never dense), by :func:`ggn_vector_products`."""
    _check_inputs(model, theta, X)
    _check_loss(loss)
    _reduction(1, reduction)
    return _linear_operator(
        lambda V: ggn_vector_products(model, theta, X, V, loss=loss, reduction=reduction), model.size
    )


# --- the Hessian ---------------------------------------------------------------------------------------------


@single_threaded
def hessian_vector_products(
    model: Model, theta, X, Y, V, *, loss: Loss = "mse", reduction: str = "mean", frozen: bool = False
) -> np.ndarray:
    r""":math:`\nabla^2_\theta L\,V` for a (D, k) block `V`, training mode, by double back-propagation.

    :math:`\nabla_\theta L` with its graph, then one backward pass of :math:`\langle\nabla_\theta L,v\rangle` per
    column, batched as one copy of the network per column. ``frozen=True`` holds the batch statistics constant
    (eval mode with the batch's own statistics, as PyHessian-style tools do): a different matrix, for comparisons
    only. The model's normalizations are written from primitive operations, so second-order autograd is right
    here (THEORY-2.md
    §11.1 concerns the native kernel).
    """
    t, x = _check_inputs(model, theta, X)
    y = _check_targets(model, Y, len(x), loss)
    r = _reduction(len(x), reduction)
    V = _block(V, model.size)
    return _hessian_products(model, *_tensors(t, x, y), V, r, loss, frozen)


def _hessian_products(model: Model, t, x, y, V, r: float, loss: str, frozen: bool) -> np.ndarray:
    """:func:`hessian_vector_products` on checked tensors (`r` the reduction factor)."""
    torch = _torch()
    stats = model.batch_statistics(t, x).detach() if (frozen and model.coupled) else None
    # One copy of theta per column: the gradient of the sum of the copies' losses is each copy's own gradient,
    # and back-propagating <grad_k, v_k> gives row k = H v_k (plain double backward, no vmap).
    if V.shape[1] == 0:
        return np.zeros((model.size, 0))
    copies = t.expand(V.shape[1], t.shape[0]).clone().requires_grad_(True)
    L = r * _sample_losses(model.forward(copies, x, statistics=stats), y, loss).sum()
    g = torch.autograd.grad(L, copies, create_graph=True)[0]
    HV = torch.autograd.grad((g * V.T).sum(), copies)[0]
    return _finite(HV.T.numpy(), "H V", "X, theta, Y, V")


def hessian_operator(model: Model, theta, X, Y, *, loss: Loss = "mse", reduction: str = "mean"):
    r"""The loss Hessian :math:`\nabla^2_\theta L` (training mode) as a ``LinearOperator``.

    Its products are :func:`hessian_vector_products`'s, with the arguments checked once here, not per product. A
    single vector (ARPACK's and Lanczos' products) takes one backward pass through the gradient's graph, built at
    the first such product and kept: half the work of a forward and two backward passes per product.
    """
    torch = _torch()
    t, x = _check_inputs(model, theta, X)
    y = _check_targets(model, Y, len(x), loss)
    r = _reduction(len(x), reduction)
    t, x, y = _tensors(t, x, y)
    D = model.size
    graph: list = []  # [(theta as a leaf, the gradient with its graph)] once a single vector came

    @single_threaded
    def products(V):
        V = _block(V, D)
        if V.shape[1] != 1:
            return _hessian_products(model, t, x, y, V, r, loss, False)
        if not graph:
            leaf = t.clone().requires_grad_(True)
            L = r * _sample_losses(model.forward(leaf, x), y, loss).sum()
            graph.append((leaf, torch.autograd.grad(L, leaf, create_graph=True)[0]))
        leaf, g = graph[0]
        Hv = torch.autograd.grad(g, leaf, grad_outputs=V[:, 0], retain_graph=True)[0]
        return _finite(Hv[:, None].numpy(), "H V", "X, theta, Y, V")

    return _linear_operator(products, D)


def _unit_columns(model: Model) -> np.ndarray:
    """(H, q): entry [h, j] is the index in theta of hidden unit h's j-th first-layer parameter (W1 or v row, b1, ...).

    Every parameter before W2 belongs to one hidden unit: a row of W1 (or v), or one entry of b1, gamma, beta, g.
    """
    H, blocks, start = model.hidden, [], 0
    for _, shape in model._layout()[:-2]:
        size = math.prod(shape)
        blocks.append(start + np.arange(size).reshape(H, size // H))
        start += size
    return np.concatenate(blocks, axis=1)


@single_threaded
def hessian_dense(
    model: Model, theta, X, Y, *, loss: Loss = "mse", reduction: str = "mean", frozen: bool = False
) -> np.ndarray:
    r"""The dense :math:`\nabla^2_\theta L` (D, D) in training mode, from the network's block structure.

    With :math:`Z(\theta_1)` the hidden activations (everything before :math:`W_2`), :math:`F_n=W_2z_n+b_2`,
    :math:`\mathbf g_n=\nabla_{F_n}\ell`, :math:`\Lambda_n=\nabla^2_{F_n}\ell` and
    :math:`\mathrm J_F=\partial F/\partial\theta` (its :math:`W_2, b_2` columns are :math:`z_n` and ones):

    .. math:: \nabla^2_\theta L=r\sum_n\mathrm J_{F_n}^\top\Lambda_n\mathrm J_{F_n}
              +r\sum_{n,c,h}g_{nc}\big(e_{W_2[c,h]}\,\partial_{\theta_1}Z_{nh}^\top+\text{transpose}\big)
              +\nabla^2_{\theta_1}\sum_{n,h}c_{nh}Z_{nh},\qquad c=r\,\mathbf g W_2

    (the GGN, the cross terms of the bilinear :math:`W_2z_n`, the curvature of the hidden layer; Dangel 2021,
    THEORY.md §6). A hidden unit's activations depend only on its own first-layer parameters (BN, WN or none)
    or on those of its group (GroupNorm; LayerNorm and RMSNorm: one group of all H), so :math:`\partial Z/\partial
    \theta_1` and the last term are found from q·s structurally orthogonal directions (q parameters per unit,
    s units per group) by one double backward pass over q·s copies of the hidden layer, not D copies of the
    network; the rest is float64 matrix products. Same matrix as :func:`hessian_vector_products` with the
    identity (which it falls back to under an output normalization, where F is not linear in :math:`W_2`);
    ``frozen=True`` holds the batch statistics constant as there.
    """
    torch = _torch()
    t, x = _check_inputs(model, theta, X)
    y = _check_targets(model, Y, len(x), loss)
    r = _reduction(len(x), reduction)
    if model.output_norm is not None:
        eye = np.eye(model.size)
        return hessian_vector_products(model, t, x, y, eye, loss=loss, reduction=reduction, frozen=frozen)
    t, x, y = _tensors(t, x, y)
    N, H, C, D = x.shape[0], model.hidden, model.classes, model.size
    s = {None: 1, "batch": 1, "weight": 1, "group": H // model.groups}.get(model.hidden_norm, H)  # units per group
    unit = _unit_columns(model)  # (H, q)
    q, D1 = unit.shape[1], unit.size
    unit_of, param_of = np.empty(D1, dtype=np.int64), np.empty(D1, dtype=np.int64)
    unit_of[unit], param_of[unit] = np.arange(H)[:, None], np.arange(q)[None, :]
    color = (unit_of % s) * q + param_of  # column d's direction: one parameter of one unit in every group
    group = unit_of // s
    colors = torch.zeros(s * q, D, dtype=torch.float64)
    colors[torch.as_tensor(color), torch.arange(D1)] = 1.0
    stats = model.batch_statistics(t, x).detach() if (frozen and model.coupled) else None
    p = dict(zip((name for name, _ in model._layout()), model._params(t), strict=True))
    W2, b2 = p["W2"], p["b2"]
    with torch.no_grad():
        Z = model._hidden(p, x, None if stats is None else model._split(stats), None)
    F = (Z @ W2.T + b2).requires_grad_(True)
    g = torch.autograd.grad(_sample_losses(F, y, loss).sum(), F, create_graph=True)[0]  # (N, C)
    Lam = torch.stack([torch.autograd.grad(g[:, c].sum(), F, retain_graph=True)[0] for c in range(C)], dim=1)
    g = g.detach()
    # One double backward over the colored copies: d/du gives dZ/dtheta_1 along each direction (a JVP by the
    # double-vjp trick, u = 0), d/dtheta the last term's Hessian along it.
    copies = t.expand(s * q, D).clone().requires_grad_(True)
    u = torch.zeros(s * q, N, H, dtype=torch.float64, requires_grad=True)
    pc = dict(zip((name for name, _ in model._layout()), model._params(copies), strict=True))
    Zc = model._hidden(pc, x, None if stats is None else model._split(stats), None)
    grad = torch.autograd.grad(((r * g @ W2 + u) * Zc).sum(), copies, create_graph=True)[0]
    RV, Zdot = torch.autograd.grad((grad * colors).sum(), (copies, u))
    # Column d of dZ/dtheta_1 lives on the s units of its group: Zg[d, u, n] = dZ[n, units[d, u]] / dtheta_d, read
    # off its color's product (the color's other columns belong to other groups).
    units = torch.as_tensor(group[:, None] * s + np.arange(s))  # (D1, s)
    Zg = Zdot[torch.as_tensor(color)[:, None], :, units]  # (D1, s, N)
    JF = torch.zeros(D, N, C, dtype=torch.float64)  # dF_nc / dtheta_d
    JF[:D1] = Zg.transpose(1, 2) @ W2.T[units]
    for c in range(C):  # F_nc = sum_h W2[c, h] Z_nh + b2[c]
        JF[D1 + c * H : D1 + (c + 1) * H, :, c] = Z.T
        JF[D1 + C * H + c, :, c] = 1.0
    LJ = torch.bmm(Lam, JF.permute(1, 2, 0)).permute(2, 0, 1)  # Lambda_n (dF_n / dtheta_d)
    Hess = r * (JF.reshape(D, N * C) @ LJ.reshape(D, N * C).T)
    # r sum_n g_nc dZ_nh / dtheta_d at row d, column W2[c, h], for the units h of column d's group
    cross = r * (Zg @ g)  # (D1, s, C)
    rows = torch.arange(D1)[:, None, None].expand(D1, s, C)
    cols = D1 + torch.arange(C)[None, None, :] * H + units[:, :, None]
    Hess.index_put_((rows, cols), cross, accumulate=True)
    Hess.index_put_((cols, rows), cross, accumulate=True)
    Hess[:D1, :D1] += (RV[color, :D1] * torch.as_tensor(group[:, None] == group[None, :])).T
    return _finite(Hess.numpy(), "the Hessian", "X, theta, Y")


class Problem(NamedTuple):
    """A network, its parameters and one batch: inputs `X`, square-loss targets `Y`, class `labels`."""

    model: Model
    theta: np.ndarray
    X: np.ndarray
    Y: np.ndarray
    labels: np.ndarray

    def targets(self, loss: Loss) -> np.ndarray:
        """`Y` for the square loss, `labels` for cross-entropy."""
        return self.Y if _check_loss(loss) == "mse" else self.labels


def random_problem(
    rng: np.random.Generator,
    *,
    inputs: int = 4,
    hidden: int = 6,
    classes: int = 3,
    samples: int = 8,
    bn: bool = True,
    norm: str = "batch",
) -> Problem:
    r"""A tanh MLP with random parameters (:meth:`Model.init`) and a batch of anisotropic, offset Gaussian inputs.

    :math:`x_n=s\odot z_n+o`, :math:`z_n\sim\mathcal N(0,I)`, scales :math:`s_i\sim U(0.5,2)`, offset
    :math:`o\sim\mathcal N(0,I)` (so BN's centring and scaling both matter), Gaussian targets and uniform labels.
    """
    check_rng(rng)
    for name, value in (("inputs", inputs), ("hidden", hidden), ("classes", classes), ("samples", samples)):
        if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Integral):
            raise TypeError(f"{name}: expected an int, got {type(value).__name__} {value!r}")
    if min(inputs, hidden, classes) < 1 or samples < 2:
        raise ValueError(
            f"inputs, hidden, classes, samples: need positive widths and samples >= 2, got "
            f"{inputs}, {hidden}, {classes}, {samples}"
        )
    model = Model(inputs=inputs, hidden=hidden, classes=classes, bn=bn, norm=norm)
    theta = model.init(rng)
    X = rng.normal(size=(samples, inputs)) * rng.uniform(0.5, 2, inputs) + rng.normal(size=inputs)
    return Problem(model, theta, X, rng.normal(size=(samples, classes)), rng.integers(0, classes, samples))


def gaussian_mixture(
    rng: np.random.Generator, *, classes: int, samples: int, inputs: int, separation: float = 2.0
) -> tuple[np.ndarray, np.ndarray]:
    r"""Centred Gaussian-mixture data :math:`x_n=\mu_{y_n}+z_n`.

    :math:`\mu_c\sim\mathcal N(0,s^2I)` with :math:`s` = `separation`, :math:`z_n\sim\mathcal N(0,I)`.

    Labels uniform over `classes`; the inputs are centred over the sample (so no outlier comes from an input
    offset). Returns ``(X, y)`` of shapes (samples, inputs) and (samples,).
    """
    check_rng(rng)
    for name, value in (("classes", classes), ("samples", samples), ("inputs", inputs)):
        if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Integral):
            raise TypeError(f"{name}: expected an int, got {type(value).__name__} {value!r}")
    if min(classes, samples, inputs) < 1:
        raise ValueError(f"classes, samples, inputs: must be positive, got {classes}, {samples}, {inputs}")
    separation = real_number(separation, "separation")
    y = rng.integers(0, classes, samples)
    X = (rng.normal(size=(classes, inputs)) * separation)[y] + rng.normal(size=(samples, inputs))
    return X - X.mean(axis=0), y


@single_threaded
def gradient_descent(
    model: Model, thetas, Xs, Ys, *, steps: int, lr: float, loss: Loss = "cross_entropy", reduction: str = "mean"
) -> np.ndarray:
    r"""`steps` full-batch gradient-descent steps :math:`\theta\leftarrow\theta-\eta\nabla_\theta L` (training mode).

    Batched over independent problems: `thetas` (S, D), `Xs` (S, N, I), `Ys` (S, N) labels or (S, N, C) targets;
    the S problems run side by side (the model's leading batch dims), each with its own batch statistics: the
    gradient of the sum of the S losses in the (S, D) parameters is each problem's own. Returns the final
    parameters, (S, D).
    """
    torch = _torch()
    _check_model(model)
    for name, value in (("steps", steps), ("lr", lr)):
        if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
            raise TypeError(f"steps, lr: expected numbers, got {name} = {value!r}")
    if steps < 0 or steps != int(steps) or not lr > 0 or not math.isfinite(lr):
        raise ValueError(f"steps, lr: need an integer steps >= 0 and a finite lr > 0, got {steps}, {lr}")
    t = as_array(thetas, "thetas", f"an (S, {model.size}) stack of parameter vectors")
    X = as_array(Xs, "Xs", f"an (S, N, {model.inputs}) stack of batches")
    if t.ndim != 2 or t.shape[1] != model.size or X.ndim != 3 or X.shape[0] != t.shape[0] or X.shape[2] != model.inputs:
        raise ValueError(f"thetas, Xs: expected (S, {model.size}) and (S, N, {model.inputs}), got {t.shape}, {X.shape}")
    S, N = X.shape[:2]
    if N < 1 or (model.coupled and model.eps == 0 and N == 1):
        raise ValueError(f"Xs: need N >= 1 samples per problem (N >= 2 through BN at eps = 0), got shape {X.shape}")
    want = (S, N) if _check_loss(loss) == "cross_entropy" else (S, N, model.classes)
    Y = as_array(Ys, "Ys", f"labels of shape {(S, N)} or targets of shape {(S, N, model.classes)}")
    if Y.shape != want:
        raise ValueError(f"Ys: expected shape {want} for loss {loss!r}, got {Y.shape}")
    y = _check_targets(model, Y.reshape(S * N, *want[2:]), S * N, loss, "Ys").reshape(want)
    r = _reduction(N, reduction)
    t, X, y = _tensors(t, X, y)
    for _ in range(int(steps)):
        t.requires_grad_(True)
        L = r * _sample_losses(model.forward(t, X), y, loss).sum()
        t = (t - lr * torch.autograd.grad(L, t)[0]).detach()
    return _finite(t.numpy(), "the trained parameters", "thetas, Xs, Ys, lr")


def outlier_experiment(
    rng: np.random.Generator,
    *,
    draws: int,
    hidden: int,
    steps: int,
    lr: float = 0.1,
    classes: int = 4,
    samples: int = 96,
    inputs: int = 10,
) -> dict:
    r"""Train a ReLU MLP with and without BN on `draws` Gaussian-mixture problems (Ghorbani et al. 2019's setting).

    Each draw: data from :func:`gaussian_mixture`, one initialisation per network (:meth:`Model.init`), then
    `steps` full-batch gradient-descent steps on cross-entropy (:func:`gradient_descent`, training mode).

    Returns
    -------
    dict
        ``"models"``: ``{"plain": Model, "bn": Model}``; ``"X"``, ``"y"``: the draws' data; ``"plain"``, ``"bn"``:
        the trained parameters, arrays of shape (draws, D).
    """
    check_rng(rng)
    positive_int(draws, "draws")
    models = {
        "plain": Model(inputs=inputs, hidden=hidden, classes=classes, bn=False, activation="relu"),
        "bn": Model(inputs=inputs, hidden=hidden, classes=classes, bn=True, activation="relu"),
    }
    data = [gaussian_mixture(rng, classes=classes, samples=samples, inputs=inputs) for _ in range(draws)]
    Xs, ys = np.stack([d[0] for d in data]), np.stack([d[1] for d in data])
    out: dict = {"models": models, "X": list(Xs), "y": list(ys)}
    for name, model in models.items():
        thetas = np.stack([model.init(rng) for _ in range(draws)])
        out[name] = gradient_descent(model, thetas, Xs, ys, steps=steps, lr=lr, loss="cross_entropy")
    return out


def to_dense(op: scipy.sparse.linalg.LinearOperator) -> np.ndarray:
    """The dense matrix of a small operator, :math:`A I` by its ``matmat`` (for checks).

    Anything ``scipy.sparse.linalg.aslinearoperator`` takes (a matrix too) is an operator here.
    """
    try:
        op = scipy.sparse.linalg.aslinearoperator(op)
    except TypeError as exc:
        raise TypeError(f"op: expected a LinearOperator or a matrix, got {type(op).__name__}") from exc
    return np.asarray(op.matmat(np.eye(op.shape[1])))
