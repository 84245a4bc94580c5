r"""Gradients and curvature of a small BN network in training mode.

Per-component gradients, the four candidate "per-sample" gradients, the generalized Gauss–Newton matrix,
and the GGN and Hessian as linear operators.

The model is a one-hidden-layer MLP, :math:`F(X,\theta)=W_2\,\phi(\mathrm{BN}(W_1X+b_1))+b_2` with BN in training mode
(batch statistics over the N samples, learnable :math:`\gamma,\beta`), or without BN;
:math:`\theta\in\mathbb R^D` is one
flat float64 vector. Under BN every output :math:`F_n` depends on the whole batch, while the loss keeps the
"one term per sample, then a reduction" structure :math:`L=r\sum_n\ell(F_n,y_n)` (:math:`r=1` for sum, :math:`1/N` for
mean), which is what the GGN factorization needs (Dangel 2021; THEORY.md §6).

Everything here uses PyTorch (float64, ``torch.func``) and needs the ``oracle`` extra; the curvature toolkits
users know either refuse training-mode BN or switch to eval mode, which is why this module exists.

References
----------
F. Dangel, "Structural implications of batch normalization" (note, 2021); BackPACK issue 160 (the candidate
definitions of a per-sample gradient under BN).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import scipy.sparse.linalg

__all__ = [
    "Loss",
    "Model",
    "full_gradient",
    "ggn_dense",
    "ggn_diagonal",
    "ggn_operator",
    "hessian_operator",
    "loss_hessian_factors",
    "loss_value",
    "per_component_gradients",
    "per_sample_gradients",
    "to_dense",
]

Loss = Literal["mse", "cross_entropy"]
PerSample = Literal["running", "batch_of_one", "per_component", "frozen_statistics"]


def _torch():
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - the test environment has torch
        raise ImportError("bntheory.curvature needs PyTorch: pip install 'bntheory[oracle]'") from exc
    return torch


@dataclass(frozen=True)
class Model:
    """A one-hidden-layer MLP with or without BN after the hidden linear layer.

    Attributes
    ----------
    inputs, hidden, classes : int
        Layer widths I, H, C.
    bn : bool
        Training-mode BN (batch statistics, learnable gamma and beta) after the hidden linear layer.
    activation : {"tanh", "relu"}
    eps : float
        BN's epsilon.
    """

    inputs: int
    hidden: int
    classes: int
    bn: bool = True
    activation: str = "tanh"
    eps: float = 1e-5

    @property
    def shapes(self) -> list[tuple[int, ...]]:
        """Shapes of W1, b1, (gamma, beta,) W2, b2 in the order of the flat parameter vector."""
        s = [(self.hidden, self.inputs), (self.hidden,)]
        if self.bn:
            s += [(self.hidden,), (self.hidden,)]
        return [*s, (self.classes, self.hidden), (self.classes,)]

    @property
    def size(self) -> int:
        """D, the number of parameters."""
        return int(sum(np.prod(s) for s in self.shapes))

    def init(self, rng: np.random.Generator) -> np.ndarray:
        """Random parameters (Gaussian weights with variance 1/fan-in, gamma near 1, small biases)."""
        parts = [rng.normal(size=(self.hidden, self.inputs)) / np.sqrt(self.inputs), 0.1 * rng.normal(size=self.hidden)]
        if self.bn:
            parts += [1 + 0.1 * rng.normal(size=self.hidden), 0.1 * rng.normal(size=self.hidden)]
        parts += [
            rng.normal(size=(self.classes, self.hidden)) / np.sqrt(self.hidden),
            0.1 * rng.normal(size=self.classes),
        ]
        return np.concatenate([p.ravel() for p in parts])

    def _params(self, theta) -> list:
        params, start = [], 0
        for shape in self.shapes:
            size = int(np.prod(shape))
            params.append(theta[start : start + size].reshape(shape))
            start += size
        return params

    def batch_statistics(self, theta, X) -> tuple:
        """The BN layer's batch mean and biased variance at `theta` on `X`, as constants (no gradient)."""
        torch = _torch()
        W1, b1 = self._params(theta)[:2]
        with torch.no_grad():
            A = X @ W1.T + b1
            return A.mean(dim=0), A.var(dim=0, unbiased=False)

    def forward(self, theta, X, *, statistics=None):
        r"""Outputs :math:`F` of shape (N, C) for inputs `X` of shape (N, I), as torch tensors.

        `statistics` = ``(mean, var)`` replaces the batch statistics by constants (eval mode with those
        statistics); ``None`` is training mode.
        """
        torch = _torch()
        params = self._params(theta)
        if self.bn:
            W1, b1, gamma, beta, W2, b2 = params
        else:
            W1, b1, W2, b2 = params
        A = X @ W1.T + b1
        if self.bn:
            if statistics is None:
                mean, var = A.mean(dim=0), A.var(dim=0, unbiased=False)
            else:
                mean, var = statistics
            A = gamma * (A - mean) / torch.sqrt(var + self.eps) + beta
        Z = torch.tanh(A) if self.activation == "tanh" else torch.relu(A)
        return Z @ W2.T + b2


def _as_torch(*arrays):
    torch = _torch()
    return [torch.as_tensor(np.asarray(a), dtype=torch.float64) for a in arrays]


def _sample_losses(F, Y, loss: Loss):
    """Per-sample losses l(F_n, y_n): square loss ||f - y||^2 or softmax cross-entropy (Y integer labels)."""
    torch = _torch()
    if loss == "mse":
        return ((F - Y) ** 2).sum(dim=1)
    if loss == "cross_entropy":
        return torch.nn.functional.cross_entropy(F, Y.long(), reduction="none")
    raise ValueError(f"loss: expected 'mse' or 'cross_entropy', got {loss!r}")


def _reduction(N: int, reduction: str) -> float:
    if reduction not in ("sum", "mean"):
        raise ValueError(f"reduction: expected 'sum' or 'mean', got {reduction!r}")
    return 1.0 if reduction == "sum" else 1.0 / N


def loss_value(model: Model, theta, X, Y, *, loss: Loss = "mse", reduction: str = "mean") -> float:
    r""":math:`L=r\sum_n\ell(F_n,y_n)` in training mode."""
    t, Xt, Yt = _as_torch(theta, X, Y)
    return float(_reduction(len(X), reduction) * _sample_losses(model.forward(t, Xt), Yt, loss).sum())


def full_gradient(model: Model, theta, X, Y, *, loss: Loss = "mse", reduction: str = "mean") -> np.ndarray:
    r""":math:`\nabla_\theta L` by autograd (training mode)."""
    torch = _torch()
    t, Xt, Yt = _as_torch(theta, X, Y)
    t.requires_grad_(True)
    L = _reduction(len(X), reduction) * _sample_losses(model.forward(t, Xt), Yt, loss).sum()
    return torch.autograd.grad(L, t)[0].numpy()


def per_component_gradients(model: Model, theta, X, Y, *, loss: Loss = "mse") -> np.ndarray:
    r"""Per-component gradients :math:`\mathbf g_n=(\mathrm J_\theta F_n)^\top\nabla_{F_n}\ell(F_n,y_n)`, shape (N, D).

    Each is one vector–Jacobian product through the **whole** batch (training mode), so
    :math:`\nabla_\theta L=r\sum_n\mathbf g_n` exactly, but :math:`\mathbf g_n` depends on every :math:`x_k`
    (Dangel 2021, §6.1).
    """
    torch = _torch()
    t, Xt, Yt = _as_torch(theta, X, Y)
    F, vjp = torch.func.vjp(lambda p: model.forward(p, Xt), t)
    Fd = F.detach().requires_grad_(True)
    dF = torch.autograd.grad(_sample_losses(Fd, Yt, loss).sum(), Fd)[0]  # row n = grad of l(F_n, y_n)
    N = X.shape[0]
    cotangents = torch.zeros((N, *F.shape), dtype=torch.float64)
    cotangents[torch.arange(N), torch.arange(N)] = dF
    return torch.vmap(lambda v: vjp(v)[0])(cotangents).numpy()


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
        training step on this batch, momentum 0.1): independent of the rest of the batch, does not sum to
        the gradient.
    ``"batch_of_one"``
        (b) each sample alone through training-mode BN (degenerate: the normalized pre-activation is 0, so
        only :math:`\beta` and the output layer get gradient); independent of the rest of the batch.
    ``"per_component"``
        (c) :func:`per_component_gradients`: with the reduction factor they sum to the gradient, but each
        depends on the whole batch.
    ``"frozen_statistics"``
        (d) batch statistics held constant (the terms through :math:`\mu,\sigma` dropped): depends on the batch
        through the statistics, does not sum to the gradient.
    Without BN all four coincide with the ordinary per-sample gradient.
    """
    torch = _torch()
    if definition == "per_component":
        return per_component_gradients(model, theta, X, Y, loss=loss)
    t, Xt, Yt = _as_torch(theta, X, Y)
    statistics = None
    if model.bn and definition in ("running", "frozen_statistics"):
        mean, var = model.batch_statistics(t, Xt)
        if definition == "running":
            if running is None:
                n = Xt.shape[0]
                mean, var = 0.1 * mean, 0.9 + 0.1 * var * n / (n - 1)
            else:
                mean, var = _as_torch(*running)
        statistics = (mean, var)
    elif definition not in ("running", "frozen_statistics", "batch_of_one"):
        raise ValueError(
            "definition: expected 'running', 'batch_of_one', 'per_component' or 'frozen_statistics', "
            f"got {definition!r}"
        )

    def one(p, x, y):
        if definition == "batch_of_one":
            F = model.forward(p, x[None, :])
        else:
            F = model.forward(p, x[None, :], statistics=statistics)
        return _sample_losses(F, y[None, ...], loss).sum()

    return np.stack([torch.func.grad(one)(t, Xt[i], Yt[i]).numpy() for i in range(len(X))])


def loss_hessian_factors(F: np.ndarray, loss: Loss) -> np.ndarray:
    r"""Symmetric factors :math:`S_n` with :math:`\nabla^2_{F_n}\ell=S_nS_n^\top`, shape (N, C, C).

    The columns of :math:`S_n` are the :math:`\mathbf s_{nc}`.

    Square loss :math:`\|f-y\|^2`: :math:`S_n=\sqrt2\,I`. Cross-entropy: :math:`\mathbf s_{nc}=\sqrt{p_c}(e_c-p)`,
    :math:`p=\mathrm{softmax}(F_n)` (THEORY.md §6.3).
    """
    F = np.asarray(F, dtype=np.float64)
    N, C = F.shape
    if loss == "mse":
        return np.broadcast_to(np.sqrt(2.0) * np.eye(C), (N, C, C)).copy()
    if loss == "cross_entropy":
        p = np.exp(F - F.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        eye = np.eye(C)
        # column c of S_n is sqrt(p_c) (e_c - p)
        return (eye[None, :, :] - p[:, :, None]) * np.sqrt(p)[:, None, :]
    raise ValueError(f"loss: expected 'mse' or 'cross_entropy', got {loss!r}")


def ggn_diagonal(model: Model, theta, X, *, loss: Loss = "mse", reduction: str = "mean") -> np.ndarray:
    r"""The GGN's diagonal by back-propagating the N·C loss-Hessian factors.

    .. math:: \mathrm{diag}\,G=r\sum_{n,c}\big((\mathrm J_\theta F_n)^\top\mathbf s_{nc}\big)^{\odot2}


    One batched vector–Jacobian product through the whole training-mode network; never forms :math:`G`
    (memory :math:`O(NCD)` for the batch of products, not :math:`O(D^2)`).
    """
    torch = _torch()
    t, Xt = _as_torch(theta, X)
    F, vjp = torch.func.vjp(lambda p: model.forward(p, Xt), t)
    S = torch.as_tensor(loss_hessian_factors(F.detach().numpy(), loss))
    N, C = F.shape
    V = torch.zeros((N, C, N, C), dtype=torch.float64)
    V[torch.arange(N), :, torch.arange(N), :] = S.transpose(1, 2)  # V[n, c] has s_nc in row n
    products = torch.vmap(lambda v: vjp(v)[0])(V.reshape(N * C, N, C))
    return _reduction(N, reduction) * (products**2).sum(dim=0).numpy()


def ggn_dense(model: Model, theta, X, *, loss: Loss = "mse", reduction: str = "mean") -> np.ndarray:
    r"""The full :math:`G=\mathrm J^\top(\nabla^2_FL)\mathrm J`, the independent oracle (:math:`O(D^2)` memory).

    Built from the full Jacobian (``torch.func.jacrev``) and the exact Hessian of the loss in :math:`F`
    (``torch.func.hessian``).
    """
    torch = _torch()
    t, Xt = _as_torch(theta, X)
    N = X.shape[0]
    J = torch.func.jacrev(lambda p: model.forward(p, Xt))(t)  # (N, C, D)
    F = model.forward(t, Xt).detach()
    Y_dummy = torch.zeros(N, dtype=torch.float64) if loss == "cross_entropy" else F.clone()
    # The GGN's loss Hessian does not depend on y for these losses (square loss: 2I; CE: diag p - pp^T).
    H = torch.func.hessian(lambda f: _sample_losses(f, Y_dummy, loss).sum())(F)  # (N, C, N, C)
    Jm = J.reshape(N * F.shape[1], -1)
    return (_reduction(N, reduction) * Jm.T @ H.reshape(Jm.shape[0], Jm.shape[0]) @ Jm).numpy()


def _operator(matvec_torch, D: int) -> scipy.sparse.linalg.LinearOperator:
    torch = _torch()
    # Many columns at once by vmap: one traced call instead of one per column (to_dense, block methods).
    batched = torch.func.vmap(matvec_torch, in_dims=1, out_dims=1)

    def matvec(v):
        return matvec_torch(torch.as_tensor(np.asarray(v, dtype=np.float64).ravel())).numpy()

    def matmat(V):
        return batched(torch.as_tensor(np.asarray(V, dtype=np.float64))).numpy()

    return scipy.sparse.linalg.LinearOperator(
        (D, D), matvec=matvec, rmatvec=matvec, matmat=matmat, rmatmat=matmat, dtype=np.float64
    )


def ggn_operator(model: Model, theta, X, *, loss: Loss = "mse", reduction: str = "mean"):
    r""":math:`G` as a ``scipy.sparse.linalg.LinearOperator`` (never the dense matrix).

    :math:`v\mapsto\mathrm J^\top\nabla^2_FL\,\mathrm Jv` by one Jacobian–vector and one vector–Jacobian product.
    """
    torch = _torch()
    t, Xt = _as_torch(theta, X)
    N = X.shape[0]
    F, vjp = torch.func.vjp(lambda p: model.forward(p, Xt), t)
    S = torch.as_tensor(loss_hessian_factors(F.detach().numpy(), loss))  # (N, C, C)
    r = _reduction(N, reduction)

    def matvec(v):
        _, Jv = torch.func.jvp(lambda p: model.forward(p, Xt), (t,), (v,))
        HJv = torch.einsum("nac,nbc,nb->na", S, S, Jv)  # S_n S_n^T (J v)_n
        return r * vjp(HJv)[0]

    return _operator(matvec, model.size)


def hessian_operator(model: Model, theta, X, Y, *, loss: Loss = "mse", reduction: str = "mean"):
    r"""The loss Hessian :math:`\nabla^2_\theta L` (training mode) as a ``LinearOperator``.

    Matrix-vector products by forward-over-reverse differentiation.
    """
    torch = _torch()
    t, Xt, Yt = _as_torch(theta, X, Y)
    r = _reduction(X.shape[0], reduction)

    def L(p):
        return r * _sample_losses(model.forward(p, Xt), Yt, loss).sum()

    def matvec(v):
        return torch.func.jvp(torch.func.grad(L), (t,), (v,))[1]

    return _operator(matvec, model.size)


def to_dense(op: scipy.sparse.linalg.LinearOperator) -> np.ndarray:
    """The dense matrix of a small operator, :math:`A I` by its ``matmat`` (for checks)."""
    return np.asarray(op.matmat(np.eye(op.shape[1])))
