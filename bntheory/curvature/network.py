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
from typing import Literal, NamedTuple

import numpy as np
import scipy.sparse.linalg

from bntheory._torch_threads import single_threaded

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


def _torch():
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - the test environment has torch
        raise ImportError("bntheory.curvature.network needs PyTorch: pip install 'bntheory[oracle]'") from exc
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


@single_threaded
def loss_value(model: Model, theta, X, Y, *, loss: Loss = "mse", reduction: str = "mean") -> float:
    r""":math:`L=r\sum_n\ell(F_n,y_n)` in training mode."""
    t, Xt, Yt = _as_torch(theta, X, Y)
    return float(_reduction(len(X), reduction) * _sample_losses(model.forward(t, Xt), Yt, loss).sum())


@single_threaded
def full_gradient(model: Model, theta, X, Y, *, loss: Loss = "mse", reduction: str = "mean") -> np.ndarray:
    r""":math:`\nabla_\theta L` by autograd (training mode)."""
    torch = _torch()
    t, Xt, Yt = _as_torch(theta, X, Y)
    t.requires_grad_(True)
    L = _reduction(len(X), reduction) * _sample_losses(model.forward(t, Xt), Yt, loss).sum()
    return torch.autograd.grad(L, t)[0].numpy()


@single_threaded
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


@single_threaded
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


@single_threaded
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


def _linear_operator(products, D: int) -> scipy.sparse.linalg.LinearOperator:
    """A symmetric ``LinearOperator`` whose matvec and matmat call ``products(V)`` on (D, k) NumPy blocks."""

    def matvec(v):
        return products(np.asarray(v, dtype=np.float64).reshape(-1, 1))[:, 0]

    def matmat(V):
        return products(np.asarray(V, dtype=np.float64))

    return scipy.sparse.linalg.LinearOperator(
        (D, D), matvec=matvec, rmatvec=matvec, matmat=matmat, rmatmat=matmat, dtype=np.float64
    )


def _block(V, D: int):
    torch = _torch()
    V = torch.as_tensor(np.asarray(V, dtype=np.float64))
    if V.ndim != 2 or V.shape[0] != D:
        raise ValueError(f"V: expected a (D, k) block of vectors with D = {D}, got shape {tuple(V.shape)}")
    return V


@single_threaded
def ggn_vector_products(model: Model, theta, X, V, *, loss: Loss = "mse", reduction: str = "mean") -> np.ndarray:
    r""":math:`GV` for a (D, k) block `V`: :math:`v\mapsto r\,\mathrm J^\top SS^\top\mathrm Jv` (no dense :math:`G`).

    One Jacobian–vector and one vector–Jacobian product per column (batched with ``vmap``), through the whole
    training-mode batch; :math:`S_n` from :func:`loss_hessian_factors`.
    """
    torch = _torch()
    t, Xt = _as_torch(theta, X)
    V = _block(V, model.size)
    N = X.shape[0]
    F, vjp = torch.func.vjp(lambda p: model.forward(p, Xt), t)
    S = torch.as_tensor(loss_hessian_factors(F.detach().numpy(), loss))  # (N, C, C)
    r = _reduction(N, reduction)

    def matvec(v):
        _, Jv = torch.func.jvp(lambda p: model.forward(p, Xt), (t,), (v,))
        HJv = torch.einsum("nac,nbc,nb->na", S, S, Jv)  # S_n S_n^T (J v)_n
        return r * vjp(HJv)[0]

    return torch.func.vmap(matvec, in_dims=1, out_dims=1)(V).numpy()


def ggn_operator(model: Model, theta, X, *, loss: Loss = "mse", reduction: str = "mean"):
    r""":math:`G` as a ``scipy.sparse.linalg.LinearOperator`` (never dense), by :func:`ggn_vector_products`."""
    return _linear_operator(
        lambda V: ggn_vector_products(model, theta, X, V, loss=loss, reduction=reduction), model.size
    )


@single_threaded
def hessian_vector_products(
    model: Model, theta, X, Y, V, *, loss: Loss = "mse", reduction: str = "mean", frozen: bool = False
) -> np.ndarray:
    r""":math:`\nabla^2_\theta L\,V` for a (D, k) block `V`, training mode, by forward-over-reverse differentiation.

    ``frozen=True`` holds the batch statistics constant (eval mode with the batch's own statistics, as
    PyHessian-style tools do): a different matrix, for comparisons only. The model's BN is written from primitive
    operations, so ``torch.func``'s second-order paths are right here (THEORY-2.md §11.1 concerns the native kernel).
    """
    torch = _torch()
    t, Xt, Yt = _as_torch(theta, X, Y)
    V = _block(V, model.size)
    r = _reduction(X.shape[0], reduction)
    stats = model.batch_statistics(t, Xt) if (frozen and model.bn) else None

    def L(p):
        return r * _sample_losses(model.forward(p, Xt, statistics=stats), Yt, loss).sum()

    def matvec(v):
        return torch.func.jvp(torch.func.grad(L), (t,), (v,))[1]

    return torch.func.vmap(matvec, in_dims=1, out_dims=1)(V).numpy()


def hessian_operator(model: Model, theta, X, Y, *, loss: Loss = "mse", reduction: str = "mean"):
    r"""The loss Hessian :math:`\nabla^2_\theta L` (training mode) as a ``LinearOperator``.

    Its products are :func:`hessian_vector_products`.
    """
    return _linear_operator(
        lambda V: hessian_vector_products(model, theta, X, Y, V, loss=loss, reduction=reduction), model.size
    )


class Problem(NamedTuple):
    """A network, its parameters and one batch: inputs `X`, square-loss targets `Y`, class `labels`."""

    model: Model
    theta: np.ndarray
    X: np.ndarray
    Y: np.ndarray
    labels: np.ndarray

    def targets(self, loss: Loss) -> np.ndarray:
        """`Y` for the square loss, `labels` for cross-entropy."""
        return self.Y if loss == "mse" else self.labels


def random_problem(
    rng: np.random.Generator, *, inputs: int = 4, hidden: int = 6, classes: int = 3, samples: int = 8, bn: bool = True
) -> Problem:
    r"""A tanh MLP with random parameters (:meth:`Model.init`) and a batch of anisotropic, offset Gaussian inputs.

    :math:`x_n=s\odot z_n+o`, :math:`z_n\sim\mathcal N(0,I)`, scales :math:`s_i\sim U(0.5,2)`, offset
    :math:`o\sim\mathcal N(0,I)` (so BN's centring and scaling both matter), Gaussian targets and uniform labels.
    """
    if min(inputs, hidden, classes) < 1 or samples < 2:
        raise ValueError(
            f"inputs, hidden, classes, samples: need positive widths and samples >= 2, got "
            f"{inputs}, {hidden}, {classes}, {samples}"
        )
    model = Model(inputs=inputs, hidden=hidden, classes=classes, bn=bn)
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
    if min(classes, samples, inputs) < 1:
        raise ValueError(f"classes, samples, inputs: must be positive, got {classes}, {samples}, {inputs}")
    y = rng.integers(0, classes, samples)
    X = (rng.normal(size=(classes, inputs)) * separation)[y] + rng.normal(size=(samples, inputs))
    return X - X.mean(axis=0), y


@single_threaded
def gradient_descent(
    model: Model, thetas, Xs, Ys, *, steps: int, lr: float, loss: Loss = "cross_entropy", reduction: str = "mean"
) -> np.ndarray:
    r"""`steps` full-batch gradient-descent steps :math:`\theta\leftarrow\theta-\eta\nabla_\theta L` (training mode).

    Batched over independent problems: `thetas` (S, D), `Xs` (S, N, I), `Ys` (S, N) or (S, N, C); the S problems
    run side by side (``vmap``), each with its own batch statistics. Returns the final parameters, (S, D).
    """
    torch = _torch()
    if steps < 0 or not lr > 0:
        raise ValueError(f"steps, lr: need steps >= 0 and lr > 0, got {steps}, {lr}")
    t, Xt = _as_torch(thetas, Xs)
    Yt = torch.as_tensor(np.asarray(Ys))
    if t.ndim != 2 or t.shape[1] != model.size or Xt.shape[0] != t.shape[0]:
        raise ValueError(
            f"thetas, Xs: expected (S, {model.size}) and (S, N, I), got {tuple(t.shape)}, {tuple(Xt.shape)}"
        )

    def L(p, X, Y):
        return _reduction(X.shape[0], reduction) * _sample_losses(model.forward(p, X), Y, loss).sum()

    grad = torch.func.vmap(torch.func.grad(L))
    for _ in range(steps):
        t = t - lr * grad(t, Xt, Yt)
    return t.numpy()


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
    if draws < 1:
        raise ValueError(f"draws: need at least one draw, got {draws}")
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
    """The dense matrix of a small operator, :math:`A I` by its ``matmat`` (for checks)."""
    return np.asarray(op.matmat(np.eye(op.shape[1])))
