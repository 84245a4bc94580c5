r"""curvlinops, BackPACK and PyHessian on a small BN network, run (THEORY-2.md §11.2, §11.3).

The network is THEORY-2.md §11.2's ``Linear(3, 4) → BatchNorm1d(4) → tanh → Linear(4, 2)``, built as ``torch.nn``
modules by :func:`bntheory.checks.oracles.networks.torch_network` from a :class:`bntheory.curvature.Model` and its
flat parameters, with the square loss ``MSELoss(reduction="sum")`` (:math:`\ell(f,y)=\|f-y\|^2`). Each function
returns what the library computes, as NumPy arrays in the flat parameter order ``W1, b1, gamma, beta, W2, b2``.
The references (training mode, eval mode with the module's buffers, frozen batch statistics) are
:mod:`bntheory.curvature` and :func:`eval_ggn_diagonal`.
"""

from __future__ import annotations

import warnings

import numpy as np

from bntheory._torch_threads import single_threaded
from bntheory.checks.oracles.networks import torch_network
from bntheory.curvature import Model

__all__ = [
    "backpack_batch_grad",
    "backpack_diag_ggn",
    "curvlinops_matrices",
    "curvlinops_running_stats",
    "eval_ggn_diagonal",
    "pyhessian_spectrum",
]


def _net(model: Model, theta, running: tuple | None, training: bool):
    """The ``torch.nn`` network; `running` = (mean, var) gives BN running buffers with those values."""
    import torch

    net = torch_network(model, theta, running_stats=running is not None)
    if running is not None:
        with torch.no_grad():
            net[1].running_mean.copy_(torch.as_tensor(np.asarray(running[0], dtype=np.float64)))
            net[1].running_var.copy_(torch.as_tensor(np.asarray(running[1], dtype=np.float64)))
    return net.train(training)


def _tensors(*arrays):
    import torch

    return [torch.as_tensor(np.asarray(a, dtype=np.float64)) for a in arrays]


@single_threaded
def curvlinops_matrices(model: Model, theta, X, Y) -> tuple[np.ndarray, np.ndarray]:
    r"""The GGN and Hessian operators of curvlinops on the training-mode net, as dense matrices.

    BN without running statistics (``track_running_stats=False``), ``check_deterministic=False``; each operator is
    applied to the identity. Its Hessian–vector product is ``jvp(jacrev)`` (THEORY-2.md §11.1 defect (2)).
    """
    import torch
    from curvlinops import GGNLinearOperator, HessianLinearOperator

    net = _net(model, theta, None, training=True)
    Xt, Yt = _tensors(X, Y)
    loss, params = torch.nn.MSELoss(reduction="sum"), list(net.parameters())
    eye = torch.eye(model.size, dtype=torch.float64)
    data = [(Xt, Yt)]
    G = GGNLinearOperator(net, loss, params, data, check_deterministic=False) @ eye
    H = HessianLinearOperator(net, loss, params, data, check_deterministic=False) @ eye
    return G.numpy(), H.numpy()


@single_threaded
def curvlinops_running_stats(model: Model, theta, X, Y) -> tuple[str, int]:
    r"""What constructing curvlinops' Hessian operator does to a training-mode BN net that tracks running statistics.

    With curvlinops' default ``check_deterministic=True``. Returns ``(error, updates)``: the exception raised
    (``""`` if none) and the module's ``num_batches_tracked`` afterwards (0 on entry: how many training-mode
    forward passes updated its buffers).
    """
    import torch
    from curvlinops import HessianLinearOperator

    net = _net(model, theta, (np.zeros(model.hidden), np.ones(model.hidden)), training=True)
    Xt, Yt = _tensors(X, Y)
    error = ""
    try:
        HessianLinearOperator(net, torch.nn.MSELoss(reduction="sum"), list(net.parameters()), [(Xt, Yt)])
    except Exception as exc:  # the library's own failure is the finding; keep its type and message
        error = f"{type(exc).__name__}: {str(exc).splitlines()[0][:160]}"
    return error, int(net[1].num_batches_tracked)


def _backpack_backward(model: Model, theta, X, Y, running, training: bool, extension: str):
    import torch
    from backpack import backpack, extend
    from backpack.extensions import BatchGrad, DiagGGNExact

    net = extend(_net(model, theta, running, training))
    loss = extend(torch.nn.MSELoss(reduction="sum"))
    Xt, Yt = _tensors(X, Y)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = loss(net(Xt), Yt)
        with backpack(BatchGrad() if extension == "batch_grad" else DiagGGNExact()):
            value.backward()
    return net, [str(w.message) for w in caught]


@single_threaded
def backpack_batch_grad(model: Model, theta, X, Y, *, running, training: bool) -> tuple[np.ndarray, np.ndarray, str]:
    r"""BackPACK's ``BatchGrad`` (N, D), the gradient ``.grad`` (D,), and its BN warning (``""`` if none).

    `running` = (mean, var): the BN buffers (used in eval mode, ``training=False``).
    """
    import torch

    net, caught = _backpack_backward(model, theta, X, Y, running, training, "batch_grad")
    params = list(net.parameters())
    rows = torch.cat([p.grad_batch.reshape(p.grad_batch.shape[0], -1) for p in params], dim=1)
    grad = torch.cat([p.grad.reshape(-1) for p in params])
    warning = next((w.splitlines()[0] for w in caught if "BatchNorm" in w), "")
    return rows.detach().numpy(), grad.detach().numpy(), warning


@single_threaded
def backpack_diag_ggn(model: Model, theta, X, Y, *, running, training: bool) -> tuple[np.ndarray | None, str]:
    r"""BackPACK's ``DiagGGNExact`` (D,), or None with the exception it raised (training-mode BN is refused)."""
    import torch

    try:
        net, _ = _backpack_backward(model, theta, X, Y, running, training, "diag_ggn")
    except NotImplementedError as exc:
        return None, f"NotImplementedError: {str(exc).splitlines()[0][:120]}"
    return torch.cat([p.diag_ggn_exact.reshape(-1) for p in net.parameters()]).detach().numpy(), ""


@single_threaded
def eval_ggn_diagonal(model: Model, theta, X, running) -> np.ndarray:
    r"""The diagonal of :math:`G=2\,\mathrm J^\top\mathrm J` of the eval-mode net (BN with the fixed `running` buffers).

    :math:`\mathrm J=\partial F/\partial\theta` (N·C × D) of :meth:`bntheory.curvature.Model.forward` with
    ``statistics=running`` (BN from primitive ops), by ``torch.func.jacrev``; the square loss summed has
    :math:`\nabla^2_F L=2I`.
    """
    import torch

    t, Xt, mean, var = _tensors(theta, X, *running)
    stats = torch.cat([mean, var])  # Model.batch_statistics' flat layout: the means, then the variances
    J = torch.func.jacrev(lambda p: model.forward(p, Xt, statistics=stats))(t).reshape(-1, model.size)
    return (2 * (J**2).sum(dim=0)).numpy()


@single_threaded
def pyhessian_spectrum(model: Model, theta, X, Y, *, running, seed: int, probes: int) -> dict:
    r"""PyHessian 0.1's ``hessian(...)`` on the training-mode net: mode after construction, top eigenvalue, trace.

    Power iteration (``eigenvalues(top_n=1)``: at most 100 steps, tolerance 1e-3) and Hutchinson with `probes`
    Rademacher vectors (``trace(maxIter=probes, tol=0)``); its random vectors come from ``torch``'s global stream,
    seeded with `seed` inside a ``fork_rng`` block. Returns ``training`` (the module's mode afterwards),
    ``top``, ``samples`` (the Hutchinson terms :math:`v^\top Hv`) and ``matrix``: PyHessian's own Hessian–vector
    product (``pyhessian.utils.hessian_vector_product``) on the basis, the matrix whose spectrum it estimates.
    """
    import torch
    from pyhessian import hessian
    from pyhessian.utils import hessian_vector_product

    net = _net(model, theta, running, training=True)
    Xt, Yt = _tensors(X, Y)
    with torch.random.fork_rng(), warnings.catch_warnings():
        # PyHessian calls backward(create_graph=True), on which PyTorch warns of a reference cycle: not ours
        warnings.simplefilter("ignore", UserWarning)
        torch.manual_seed(seed)
        h = hessian(net, torch.nn.MSELoss(reduction="sum"), data=(Xt, Yt), cuda=False)
        training = net.training
        top = h.eigenvalues(top_n=1)[0][0]
        samples = h.trace(maxIter=probes, tol=0.0)
        columns = []
        for e in torch.eye(model.size, dtype=torch.float64):
            v = list(torch.split(e, [p.numel() for p in h.params]))
            hv = hessian_vector_product(
                h.gradsH, h.params, [a.reshape(p.shape) for a, p in zip(v, h.params, strict=True)]
            )
            columns.append(torch.cat([a.reshape(-1) for a in hv]))
    return {
        "training": bool(training),
        "top": float(top),
        "samples": np.asarray(samples, dtype=np.float64),
        "matrix": torch.stack(columns, dim=1).detach().numpy(),
    }
