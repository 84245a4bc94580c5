r"""Network oracles for the curvature checks, independent of :class:`bntheory.curvature.network.Model`.

The library's model (:mod:`bntheory.curvature.network`) is a one-hidden-layer MLP
:math:`F(X,\theta)=W_2\,\phi(\mathrm{BN}(W_1X+b_1))+b_2` with training-mode BN, on one flat parameter vector
:math:`\theta=(W_1,b_1,\gamma,\beta,W_2,b_2)` (THEORY.md §6). The oracles here rebuild that network without
its code, in two ways (issue 14; THEORY-2.md §11.1):

* **first order** from ``torch.nn`` modules: ``Linear`` → ``BatchNorm1d`` (training mode, batch statistics,
  ``track_running_stats=False``) → activation → ``Linear``, the same weights copied in with
  ``torch.nn.utils.vector_to_parameters``; gradients, per-component gradients and Jacobians by plain reverse
  mode (``torch.autograd.grad``, one backward pass per output, no ``vmap``). PyTorch's native training-mode
  ``batch_norm`` is right at first order and WRONG at second order through ``torch.func`` (THEORY-2.md §11.1),
  so it is never differentiated twice here;
* **second order** from primitive operations: BN written out as
  :math:`\gamma\,(a-\bar a)\,/\sqrt{\overline{(a-\bar a)^2}+\epsilon}+\beta` (``mean``, ``rsqrt``), differentiated
  twice in reverse mode (``torch.autograd.functional.hessian``). Its gradient agrees with the ``torch.nn``
  network's (tests/test_curvature.py, and :func:`gradient` vs :func:`primitive_gradient` in the checks), and its
  Hessian with central differences of that verified gradient (tests/test_curvature.py).

Losses are PyTorch's own: the square loss :math:`\ell(f,y)=\|f-y\|^2` as ``mse_loss(reduction="sum")`` and
softmax cross-entropy as ``cross_entropy``, with the reduction :math:`L=r\sum_n\ell(F_n,y_n)` (:math:`r=1/N`,
``"mean"``; :math:`r=1`, ``"sum"``). Everything float64 on the CPU, returned as NumPy arrays.

References
----------
F. Dangel, "Structural implications of batch normalization" (note, 2021), THEORY.md §6; THEORY-2.md §11.1.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from bntheory._torch_threads import single_threaded

__all__ = [
    "NetworkSpec",
    "ggn",
    "gradient",
    "hessian",
    "jacobian",
    "loss_hessian",
    "objective",
    "outputs",
    "per_component_gradients",
    "per_sample_gradients",
    "primitive_gradient",
    "sgd",
    "torch_network",
]


class NetworkSpec(Protocol):
    """What the oracles read of a network: its widths, whether it has BN, its activation and BN's epsilon."""

    inputs: int
    hidden: int
    classes: int
    bn: bool
    activation: str
    eps: float


def _torch():
    import torch

    return torch


def _check(spec: NetworkSpec, theta: np.ndarray, X: np.ndarray) -> None:
    D = spec.hidden * spec.inputs + spec.hidden + (2 * spec.hidden if spec.bn else 0)
    D += spec.classes * spec.hidden + spec.classes
    if np.shape(theta) != (D,):
        raise ValueError(f"theta: expected a flat vector of {D} parameters, got shape {np.shape(theta)}")
    if np.ndim(X) != 2 or np.shape(X)[1] != spec.inputs:
        raise ValueError(f"X: expected shape (N, {spec.inputs}), got {np.shape(X)}")
    if spec.activation not in ("tanh", "relu"):
        raise ValueError(f"activation: expected 'tanh' or 'relu', got {spec.activation!r}")


def torch_network(spec: NetworkSpec, theta: np.ndarray, *, running_stats: bool = False) -> Any:
    """``torch.nn.Sequential(Linear, BatchNorm1d, activation, Linear)`` in training mode with `theta` copied in.

    `theta` is laid out as ``W1, b1, gamma, beta, W2, b2`` (without ``gamma, beta`` when ``spec.bn`` is false),
    which is the order of the modules' parameters, so ``vector_to_parameters`` fills them. `running_stats` gives
    the BN layer running statistics (PyTorch's defaults: mean 0, variance 1, momentum 0.1), for eval mode.
    """
    torch = _torch()
    nn = torch.nn
    layers = [nn.Linear(spec.inputs, spec.hidden)]
    if spec.bn:
        layers.append(nn.BatchNorm1d(spec.hidden, eps=spec.eps, track_running_stats=running_stats))
    layers += [nn.Tanh() if spec.activation == "tanh" else nn.ReLU(), nn.Linear(spec.hidden, spec.classes)]
    net = nn.Sequential(*layers).double().train()
    nn.utils.vector_to_parameters(torch.as_tensor(np.asarray(theta, dtype=np.float64)).clone(), net.parameters())
    return net


def _loss(F, Y, loss: str, reduction: str):
    torch = _torch()
    if reduction not in ("mean", "sum"):
        raise ValueError(f"reduction: expected 'mean' or 'sum', got {reduction!r}")
    r = 1.0 / F.shape[0] if reduction == "mean" else 1.0
    if loss == "mse":
        return r * torch.nn.functional.mse_loss(F, Y, reduction="sum")
    if loss == "cross_entropy":
        return r * torch.nn.functional.cross_entropy(F, Y.long(), reduction="sum")
    raise ValueError(f"loss: expected 'mse' or 'cross_entropy', got {loss!r}")


def _targets(Y, loss: str):
    torch = _torch()
    return torch.as_tensor(np.asarray(Y), dtype=torch.int64 if loss == "cross_entropy" else torch.float64)


@single_threaded
def outputs(spec: NetworkSpec, theta: np.ndarray, X: np.ndarray) -> np.ndarray:
    r""":math:`F(X,\theta)`, shape (N, C), by the ``torch.nn`` network in training mode."""
    _check(spec, theta, X)
    torch = _torch()
    with torch.no_grad():
        return torch_network(spec, theta)(torch.as_tensor(np.asarray(X, dtype=np.float64))).numpy()


@single_threaded
def gradient(spec: NetworkSpec, theta, X, Y, *, loss: str = "mse", reduction: str = "mean") -> np.ndarray:
    r""":math:`\nabla_\theta L` by one backward pass through the ``torch.nn`` network (training mode)."""
    _check(spec, theta, X)
    torch = _torch()
    net = torch_network(spec, theta)
    L = _loss(net(torch.as_tensor(np.asarray(X, dtype=np.float64))), _targets(Y, loss), loss, reduction)
    grads = torch.autograd.grad(L, list(net.parameters()))
    return torch.nn.utils.parameters_to_vector(grads).numpy()


@single_threaded
def objective(spec: NetworkSpec, theta, X, Y, *, loss: str = "mse", reduction: str = "mean") -> float:
    r"""The loss :math:`L=r\sum_n\ell(F_n,y_n)` of the ``torch.nn`` network in training mode."""
    _check(spec, theta, X)
    torch = _torch()
    with torch.no_grad():
        F = torch_network(spec, theta)(torch.as_tensor(np.asarray(X, dtype=np.float64)))
        return float(_loss(F, _targets(Y, loss), loss, reduction))


@single_threaded
def per_sample_gradients(
    spec: NetworkSpec, theta, X, Y, *, definition: str, loss: str = "mse", running=None
) -> np.ndarray:
    r"""Three candidate per-sample gradients under BN (BackPACK issue 160), shape (N, D), one backward pass each.

    :math:`\nabla_\theta\ell(F(x_n),y_n)` of each sample alone, through

    ``"running"``
        ``BatchNorm1d`` in eval mode with running statistics: those of a fresh module (mean 0, variance 1,
        momentum 0.1) after one training-mode forward pass of the batch (PyTorch updates them with the
        unbiased variance), or ``running = (mean, var)`` copied into its buffers;
    ``"frozen_statistics"``
        ``BatchNorm1d`` in eval mode with the batch's mean and biased variance in its buffers (computed here in
        NumPy from the ``Linear`` module's :math:`XW_1^\top+b_1`);
    ``"batch_of_one"``
        BN from primitive operations on the batch :math:`\{x_n\}` alone (``BatchNorm1d`` refuses a training
        batch of one); its normalized pre-activation is 0.
    """
    _check(spec, theta, X)
    torch = _torch()
    X = np.asarray(X, dtype=np.float64)
    if definition == "batch_of_one":
        return np.stack(
            [
                primitive_gradient(spec, theta, X[n : n + 1], np.asarray(Y)[n : n + 1], loss=loss, reduction="sum")
                for n in range(X.shape[0])
            ]
        )
    if definition not in ("running", "frozen_statistics"):
        raise ValueError(f"definition: expected 'running', 'frozen_statistics' or 'batch_of_one', got {definition!r}")
    net = torch_network(spec, theta, running_stats=True)
    Xt = torch.as_tensor(X)
    if spec.bn:
        bn = net[1]
        with torch.no_grad():
            if definition == "running" and running is None:
                net(Xt)  # training mode: the one update of the running statistics
            else:
                A = net[0](Xt).numpy()  # the pre-activations X W1^T + b1 of the Linear module
                mean, var = (A.mean(axis=0), A.var(axis=0)) if definition == "frozen_statistics" else running
                bn.running_mean.copy_(torch.as_tensor(np.asarray(mean, dtype=np.float64)))
                bn.running_var.copy_(torch.as_tensor(np.asarray(var, dtype=np.float64)))
    net.eval()
    params, T = list(net.parameters()), _targets(Y, loss)
    rows = []
    for n in range(X.shape[0]):
        g = torch.autograd.grad(_loss(net(Xt[n : n + 1]), T[n : n + 1], loss, "sum"), params)
        rows.append(torch.nn.utils.parameters_to_vector(g))
    return torch.stack(rows).numpy()


@single_threaded
def sgd(spec: NetworkSpec, theta, X, Y, *, steps: int, lr: float, loss: str, reduction: str = "mean") -> np.ndarray:
    r"""`steps` full-batch ``torch.optim.SGD`` steps (no momentum) on the ``torch.nn`` network; the final parameters.

    Each step is one training-mode forward pass of the whole batch, ``backward`` and ``optimizer.step()``.
    """
    _check(spec, theta, X)
    torch = _torch()
    net = torch_network(spec, theta)
    optimizer = torch.optim.SGD(net.parameters(), lr=lr)
    Xt, T = torch.as_tensor(np.asarray(X, dtype=np.float64)), _targets(Y, loss)
    for _ in range(steps):
        optimizer.zero_grad()
        _loss(net(Xt), T, loss, reduction).backward()
        optimizer.step()
    return torch.nn.utils.parameters_to_vector(net.parameters()).detach().numpy()


@single_threaded
def per_component_gradients(spec: NetworkSpec, theta, X, Y, *, loss: str = "mse") -> np.ndarray:
    r""":math:`\mathbf g_n=(\mathrm J_\theta F_n)^\top\nabla_{F_n}\ell(F_n,y_n)`, shape (N, D), one backward pass each.

    :math:`\nabla_{F_n}\ell` is taken by autograd of the per-sample loss at the detached outputs; then
    ``torch.autograd.grad(F[n], parameters, grad_outputs=that)`` through the whole training-mode batch.
    """
    _check(spec, theta, X)
    torch = _torch()
    net = torch_network(spec, theta)
    params = list(net.parameters())
    F = net(torch.as_tensor(np.asarray(X, dtype=np.float64)))
    Fd = F.detach().requires_grad_(True)
    (dF,) = torch.autograd.grad(_loss(Fd, _targets(Y, loss), loss, "sum"), Fd)  # row n: grad of l(F_n, y_n)
    rows = []
    for n in range(F.shape[0]):
        g = torch.autograd.grad(F[n], params, grad_outputs=dF[n], retain_graph=True)
        rows.append(torch.nn.utils.parameters_to_vector(g))
    return torch.stack(rows).numpy()


@single_threaded
def jacobian(spec: NetworkSpec, theta, X) -> np.ndarray:
    r""":math:`\mathrm J_\theta F`, shape (N, C, D), one backward pass per output entry (training mode)."""
    _check(spec, theta, X)
    torch = _torch()
    net = torch_network(spec, theta)
    params = list(net.parameters())
    F = net(torch.as_tensor(np.asarray(X, dtype=np.float64)))
    N, C = F.shape
    J = np.empty((N, C, sum(p.numel() for p in params)))
    for n in range(N):
        for c in range(C):
            g = torch.autograd.grad(F[n, c], params, retain_graph=True)
            J[n, c] = torch.nn.utils.parameters_to_vector(g).numpy()
    return J


@single_threaded
def loss_hessian(F: np.ndarray, *, loss: str = "mse", reduction: str = "mean") -> np.ndarray:
    r""":math:`\nabla^2_FL` of PyTorch's loss at the outputs `F` (N, C), shape (NC, NC), in the :math:`(n,c)` order.

    Reverse-over-reverse (``torch.autograd.functional.hessian``) of ``mse_loss``/``cross_entropy``; no BN is
    involved. The GGN needs no targets: the square loss's Hessian is :math:`2rI`, cross-entropy's
    :math:`r(\mathrm{diag}\,p-pp^\top)` per block, neither depending on :math:`y`; zeros are used.
    """
    torch = _torch()
    Ft = torch.as_tensor(np.asarray(F, dtype=np.float64))
    N, C = Ft.shape
    Y = torch.zeros(N, dtype=torch.int64) if loss == "cross_entropy" else torch.zeros(N, C, dtype=torch.float64)
    H = torch.autograd.functional.hessian(lambda f: _loss(f.reshape(N, C), Y, loss, reduction), Ft.reshape(-1))
    return H.numpy()


@single_threaded
def ggn(spec: NetworkSpec, theta, X, *, loss: str = "mse", reduction: str = "mean") -> np.ndarray:
    r""":math:`G=\mathrm J^\top(\nabla^2_FL)\mathrm J` from :func:`jacobian` and :func:`loss_hessian`, shape (D, D)."""
    J = jacobian(spec, theta, X)
    N, C, D = J.shape
    Jm = J.reshape(N * C, D)
    return Jm.T @ loss_hessian(outputs(spec, theta, X), loss=loss, reduction=reduction) @ Jm


def _primitive_forward(spec: NetworkSpec, theta, X, frozen: bool):
    """F(X, theta) with BN from mean and rsqrt (any order of autograd is right); `frozen` detaches the statistics."""
    torch = _torch()
    In, Hd, C = spec.inputs, spec.hidden, spec.classes
    sizes = [Hd * In, Hd] + ([Hd, Hd] if spec.bn else []) + [C * Hd, C]
    parts = torch.split(theta, sizes)
    W1, b1 = parts[0].reshape(Hd, In), parts[1]
    W2, b2 = parts[-2].reshape(C, Hd), parts[-1]
    A = torch.nn.functional.linear(X, W1, b1)
    if spec.bn:
        gamma, beta = parts[2], parts[3]
        mean = A.mean(dim=0, keepdim=True)
        var = ((A - mean) ** 2).mean(dim=0, keepdim=True)
        if frozen:
            mean, var = mean.detach(), var.detach()
        A = gamma * (A - mean) * torch.rsqrt(var + spec.eps) + beta
    Z = torch.tanh(A) if spec.activation == "tanh" else torch.relu(A)
    return torch.nn.functional.linear(Z, W2, b2)


def _primitive_loss(spec, X, Y, loss, reduction, frozen):
    torch = _torch()
    Xt, Yt = torch.as_tensor(np.asarray(X, dtype=np.float64)), _targets(Y, loss)
    return lambda p: _loss(_primitive_forward(spec, p, Xt, frozen), Yt, loss, reduction)


@single_threaded
def primitive_gradient(
    spec: NetworkSpec, theta, X, Y, *, loss: str = "mse", reduction: str = "mean", frozen: bool = False
) -> np.ndarray:
    r""":math:`\nabla_\theta L` of the primitive-operation network (to verify it against :func:`gradient`)."""
    _check(spec, theta, X)
    torch = _torch()
    t = torch.as_tensor(np.asarray(theta, dtype=np.float64)).clone().requires_grad_(True)
    return torch.autograd.grad(_primitive_loss(spec, X, Y, loss, reduction, frozen)(t), t)[0].numpy()


@single_threaded
def hessian(
    spec: NetworkSpec, theta, X, Y, *, loss: str = "mse", reduction: str = "mean", frozen: bool = False
) -> np.ndarray:
    r""":math:`\nabla^2_\theta L` in training mode, shape (D, D), from the primitive-operation network.

    Reverse-over-reverse (``torch.autograd.functional.hessian``), never ``torch.func`` through a native
    normalization kernel (THEORY-2.md §11.1). ``frozen=True`` holds the batch statistics constant (eval mode
    with the batch's own statistics: the Hessian PyHessian-style tools report, not the training-mode one).
    """
    _check(spec, theta, X)
    torch = _torch()
    t = torch.as_tensor(np.asarray(theta, dtype=np.float64))
    return torch.autograd.functional.hessian(_primitive_loss(spec, X, Y, loss, reduction, frozen), t).numpy()
