r"""``torch.nn`` oracles for the normalized curvature networks (THEORY-2.md §9.4, row T4).

The library's :class:`bntheory.curvature.network.Model` with ``norm`` in {"batch", "layer", "group", "rms",
"weight"} and an optional ``output_norm`` (no affine) is rebuilt here from PyTorch's own modules, independent of its
code: ``Linear`` → ``BatchNorm1d`` (training mode) / ``LayerNorm(H)`` (elementwise affine) / ``GroupNorm(G, H)`` /
``RMSNorm(H)`` (gain only), or a first ``Linear`` under ``weight_norm`` → ``Tanh``/``ReLU`` → ``Linear`` →
optionally BN without affine (``F.layer_norm`` of the transposed batch, since ``BatchNorm1d`` refuses eps = 0 in
training) / ``LayerNorm(C, elementwise_affine=False)`` / ``RMSNorm(C, elementwise_affine=False)``. The flat
parameter vector ``W1, b1, gamma(, beta), W2, b2`` is the modules' parameter order, so ``vector_to_parameters``
fills them (weight normalization: ``v, b1, g, W2, b2``, reordered by :func:`parameters`).
First order only, by plain reverse mode (one backward pass per output), float64 on the CPU, NumPy results.

References
----------
THEORY-2.md §9.1 (the definitions, as PyTorch implements them) and §9.4 (T4: per-component = per-sample for
per-sample normalizations; the GGN's rank and the output-layer trap).
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from bntheory._torch_threads import single_threaded

__all__ = [
    "NormalizedSpec",
    "ggn",
    "jacobian",
    "parameters",
    "per_component_gradients",
    "per_sample_gradients",
    "torch_network",
]


class NormalizedSpec(Protocol):
    """What the oracles read of a network: widths, the normalizations, activation and epsilon."""

    inputs: int
    hidden: int
    classes: int
    bn: bool
    norm: str
    groups: int
    output_norm: str | None
    activation: str
    eps: float


def _torch():
    import torch

    return torch


def _hidden_module(spec: NormalizedSpec) -> Any:
    nn = _torch().nn
    H, eps = spec.hidden, spec.eps
    modules = {
        "batch": lambda: nn.BatchNorm1d(H, eps=eps, track_running_stats=False),
        "layer": lambda: nn.LayerNorm(H, eps=eps),
        "group": lambda: nn.GroupNorm(spec.groups, H, eps=eps),
        "rms": lambda: nn.RMSNorm(H, eps=eps),
    }
    if spec.norm not in modules:
        raise ValueError(f"norm: expected one of {tuple(modules)}, got {spec.norm!r}")
    return modules[spec.norm]()


def _batch_as_layer_norm(eps: float) -> Any:
    """Training-mode BN without affine as ``F.layer_norm`` of the transposed batch (per unit over the samples).

    ``BatchNorm1d`` refuses eps = 0 in training mode, and the trap needs it; this is BN's definition (THEORY-2.md
    §9.1: the group of one unit is all samples) through another PyTorch kernel.
    """
    torch = _torch()

    class BatchAsLayerNorm(torch.nn.Module):
        def forward(self, F):
            return torch.nn.functional.layer_norm(F.T, (F.shape[0],), eps=eps).T

    return BatchAsLayerNorm()


def _output_module(spec: NormalizedSpec) -> Any:
    nn = _torch().nn
    C, eps = spec.classes, spec.eps
    modules = {
        "batch": lambda: _batch_as_layer_norm(eps),
        "layer": lambda: nn.LayerNorm(C, eps=eps, elementwise_affine=False),
        "rms": lambda: nn.RMSNorm(C, eps=eps, elementwise_affine=False),
    }
    if spec.output_norm not in modules:
        raise ValueError(f"output_norm: expected one of {tuple(modules)}, got {spec.output_norm!r}")
    return modules[spec.output_norm]()


def torch_network(spec: NormalizedSpec, theta: np.ndarray) -> Any:
    """The ``torch.nn.Sequential`` network of `spec` in training mode, float64, with `theta` copied in.

    ``norm="weight"``: the first ``Linear`` under ``torch.nn.utils.parametrizations.weight_norm`` (``dim=0``: one
    gain per row), whose parameters PyTorch orders ``bias, g, v``; :func:`parameters` gives them in the flat
    order ``v, b1, g`` of the library's vector.
    """
    torch = _torch()
    nn = torch.nn
    if spec.activation not in ("tanh", "relu"):
        raise ValueError(f"activation: expected 'tanh' or 'relu', got {spec.activation!r}")
    first = nn.Linear(spec.inputs, spec.hidden)
    weight = spec.bn and spec.norm == "weight"
    if weight:
        first = nn.utils.parametrizations.weight_norm(first, dim=0)
    layers = [first]
    if spec.bn and not weight:
        layers.append(_hidden_module(spec))
    layers += [nn.Tanh() if spec.activation == "tanh" else nn.ReLU(), nn.Linear(spec.hidden, spec.classes)]
    if spec.output_norm is not None:
        layers.append(_output_module(spec))
    net = nn.Sequential(*layers).double().train()
    order = list(net.parameters())
    if weight:
        wn = first.parametrizations.weight
        order = [wn.original1, first.bias, wn.original0, *order[3:]]
    net.flat_order = order
    D = sum(p.numel() for p in order)
    if np.shape(theta) != (D,):
        raise ValueError(f"theta: expected a flat vector of {D} parameters, got shape {np.shape(theta)}")
    nn.utils.vector_to_parameters(torch.as_tensor(np.asarray(theta, dtype=np.float64)).clone(), order)
    return net


def parameters(net: Any) -> list:
    """The parameters of a :func:`torch_network` in the library's flat order."""
    return net.flat_order


def _loss(F, Y, loss: str):
    """The per-sample losses summed: ``mse_loss(reduction="sum")`` (||f - y||^2) or ``cross_entropy``."""
    torch = _torch()
    if loss == "mse":
        return torch.nn.functional.mse_loss(F, Y, reduction="sum")
    if loss == "cross_entropy":
        return torch.nn.functional.cross_entropy(F, Y, reduction="sum")
    raise ValueError(f"loss: expected 'mse' or 'cross_entropy', got {loss!r}")


def _targets(Y, loss: str):
    torch = _torch()
    return torch.as_tensor(np.asarray(Y), dtype=torch.int64 if loss == "cross_entropy" else torch.float64)


@single_threaded
def per_sample_gradients(spec: NormalizedSpec, theta, X, Y, *, loss: str = "mse") -> np.ndarray:
    r""":math:`\nabla_\theta\ell(F(x_n),y_n)` of each sample **alone** (a batch of one), shape (N, D)."""
    torch = _torch()
    net = torch_network(spec, theta)
    params, Xt, T = parameters(net), torch.as_tensor(np.asarray(X, dtype=np.float64)), _targets(Y, loss)
    rows = [torch.autograd.grad(_loss(net(Xt[n : n + 1]), T[n : n + 1], loss), params) for n in range(len(Xt))]
    return torch.stack([torch.nn.utils.parameters_to_vector(g) for g in rows]).numpy()


@single_threaded
def per_component_gradients(spec: NormalizedSpec, theta, X, Y, *, loss: str = "mse") -> np.ndarray:
    r""":math:`(\mathrm J_\theta F_n)^\top\nabla_{F_n}\ell` through the **whole** batch, one backward pass each."""
    torch = _torch()
    net = torch_network(spec, theta)
    params = parameters(net)
    F = net(torch.as_tensor(np.asarray(X, dtype=np.float64)))
    Fd = F.detach().requires_grad_(True)
    (dF,) = torch.autograd.grad(_loss(Fd, _targets(Y, loss), loss), Fd)
    rows = [torch.autograd.grad(F[n], params, grad_outputs=dF[n], retain_graph=True) for n in range(F.shape[0])]
    return torch.stack([torch.nn.utils.parameters_to_vector(g) for g in rows]).numpy()


@single_threaded
def jacobian(spec: NormalizedSpec, theta, X) -> np.ndarray:
    r""":math:`\mathrm J_\theta F`, shape (N, C, D), one backward pass per output entry (training mode)."""
    torch = _torch()
    net = torch_network(spec, theta)
    params = parameters(net)
    F = net(torch.as_tensor(np.asarray(X, dtype=np.float64)))
    N, C = F.shape
    rows = [torch.autograd.grad(F[n, c], params, retain_graph=True) for n in range(N) for c in range(C)]
    return torch.stack([torch.nn.utils.parameters_to_vector(g) for g in rows]).reshape(N, C, -1).numpy()


@single_threaded
def ggn(spec: NormalizedSpec, theta, X, *, loss: str = "mse") -> np.ndarray:
    r""":math:`G=\mathrm J^\top(\nabla^2_FL)\mathrm J` (sum reduction), the loss Hessian by PyTorch's own loss."""
    from bntheory.checks.oracles.networks import loss_hessian

    torch = _torch()
    J = jacobian(spec, theta, X)
    N, C, D = J.shape
    with torch.no_grad():
        F = torch_network(spec, theta)(torch.as_tensor(np.asarray(X, dtype=np.float64))).numpy()
    Jm = J.reshape(N * C, D)
    return Jm.T @ loss_hessian(F, loss=loss, reduction="sum") @ Jm
