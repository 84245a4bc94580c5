r"""Hessians through PyTorch's native normalization kernels on each autodiff path, and references (THEORY-2.md §11.1).

The function is :math:`f(x,\gamma)=\sum_iw_i\,\mathrm{BN}(x;\gamma,\beta,\epsilon)_i` of one channel of :math:`m`
values through ``torch.nn.functional.batch_norm(training=True)``, differentiated twice in
:math:`z=(x_1,\dots,x_m,\gamma)`. PyTorch 2.13 gets it wrong on four ``torch.func`` paths (forward-over-forward in
the :math:`x`–:math:`x` block, pytorch/pytorch#196699; differentiation of a VJP vmapped over cotangents in the
:math:`\gamma`–:math:`x` block); the references here never differentiate the native kernel twice:

* :func:`primitive_bn_hessian`: BN written from ``mean`` and ``sqrt``, reverse-over-reverse
  (``torch.autograd.functional.hessian``);
* :func:`central_difference_hessian`: central differences of the closed-form gradient of
  :mod:`bntheory.norms.batch` (Ioffe & Szegedy 2015 §3; NumPy, no autodiff);
* :func:`gamma_x_block`: the closed form :math:`\partial_x(\partial f/\partial\gamma)=\tfrac1s(w-\bar w\mathbf 1-
  \hat x\,\overline{w\odot\hat x})` (§9.2 with :math:`\delta=w`, :math:`\gamma=1`).

The same for ``F.layer_norm`` and ``F.instance_norm`` (with a gain) on a :math:`2\times4` input normalized along
its rows (:func:`native_row_norm_hessians`, :func:`primitive_row_norm_hessian`).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from bntheory._torch_threads import single_threaded
from bntheory.norms import batch as _batch

__all__ = [
    "PATHS",
    "ROW_KERNELS",
    "WRONG_PATHS",
    "central_difference_hessian",
    "frozen_statistics_bn_hessian",
    "gamma_x_block",
    "minimal_case",
    "native_bn_hessians",
    "native_row_norm_hessians",
    "primitive_bn_hessian",
    "primitive_row_norm_hessian",
]

#: The autodiff paths, as THEORY-2.md §11.1 names them.
PATHS: tuple[str, ...] = (
    "torch.func.hessian",
    "jacrev(jacrev)",
    "jvp(jacrev)",
    "jacfwd(jacfwd)",
    "jacrev(grad)",
    "jacfwd(grad)",
    "reverse-over-reverse",
)
#: The paths §11.1 measured wrong through the native batch_norm kernel (0.53 relative).
WRONG_PATHS: tuple[str, ...] = PATHS[:4]
#: Kernels of §11.1's second table that normalize each row of a (2, 4) input.
ROW_KERNELS: tuple[str, ...] = ("layer_norm", "instance_norm")


def minimal_case() -> dict[str, np.ndarray | float]:
    r"""§11.1's minimal case: one channel, :math:`m=4`, float64; ``x0, w, t = randn(4, 1)`` x3 from seed 0.

    Returns ``x`` (4, 1), ``w`` (4, 1), ``t`` (4,) (the direction of :math:`H_{\gamma,x}t`), ``gamma`` = 1.3,
    ``beta`` = 0.2, ``eps`` = 1e-5. Fixed (a bug report's case), not drawn from a check's stream.
    """
    import torch

    g = torch.Generator().manual_seed(0)
    x, w, t = (torch.randn(4, 1, generator=g, dtype=torch.float64).numpy() for _ in range(3))
    return {"x": x, "w": w, "t": t.ravel(), "gamma": 1.3, "beta": 0.2, "eps": 1e-5}


def _check_case(x, w) -> tuple[np.ndarray, np.ndarray]:
    x, w = np.asarray(x, dtype=np.float64), np.asarray(w, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != 1 or x.shape[0] < 2 or w.shape != x.shape:
        raise ValueError(f"x, w: expected two (m, 1) arrays with m >= 2, got shapes {x.shape}, {w.shape}")
    return x, w


@single_threaded
def native_bn_hessians(
    x, w, gamma: float, beta: float, eps: float, *, paths: tuple[str, ...] = PATHS
) -> dict[str, np.ndarray]:
    r"""The Hessian of :math:`f(z)=\sum_iw_i\,\mathrm{BN}(x;\gamma)_i` in :math:`z=(x,\gamma)` on each of `paths`.

    Through the native ``F.batch_norm(training=True)`` kernel; each is :math:`(m+1)\times(m+1)` with entry
    :math:`(i,j)=\partial(\nabla f)_i/\partial z_j` as the path computes it (``jvp(jacrev)`` column by column along
    the basis, as curvlinops' Hessian–vector product does).
    """
    import torch
    from torch.func import grad, hessian, jacfwd, jacrev, jvp

    x, w = _check_case(x, w)
    unknown = [p for p in paths if p not in PATHS]
    if unknown:
        raise ValueError(f"paths: unknown {unknown}; choose from {PATHS}")
    m = x.shape[0]
    wt, b = torch.from_numpy(w), torch.tensor([float(beta)], dtype=torch.float64)
    z = torch.cat([torch.from_numpy(x).ravel(), torch.tensor([float(gamma)], dtype=torch.float64)])

    def f(z):
        y = torch.nn.functional.batch_norm(z[:m].reshape(m, 1), None, None, z[m:], b, training=True, eps=eps)
        return (wt * y).sum()

    def along_basis(z):
        # column j: the forward derivative of jacrev's gradient along z_j
        return torch.stack([jvp(jacrev(f), (z,), (e,))[1] for e in torch.eye(m + 1, dtype=torch.float64)], dim=1)

    def reverse_over_reverse(z):
        return torch.autograd.functional.hessian(f, z)

    make = {
        "torch.func.hessian": hessian(f),
        "jacrev(jacrev)": jacrev(jacrev(f)),
        "jvp(jacrev)": along_basis,
        "jacfwd(jacfwd)": jacfwd(jacfwd(f)),
        "jacrev(grad)": jacrev(grad(f)),
        "jacfwd(grad)": jacfwd(grad(f)),
        "reverse-over-reverse": reverse_over_reverse,
    }
    return {p: make[p](z).detach().numpy() for p in paths}


def _primitive_f(x, w, beta: float, eps: float, frozen: bool):
    import torch

    m = x.shape[0]
    wt = torch.from_numpy(w)

    def f(z):
        xs, g = z[:m].reshape(m, 1), z[m]
        mean = xs.mean(dim=0)
        var = ((xs - mean) ** 2).mean(dim=0)
        if frozen:
            mean, var = mean.detach(), var.detach()
        return (wt * (g * (xs - mean) / torch.sqrt(var + eps) + beta)).sum()

    return f


@single_threaded
def primitive_bn_hessian(x, w, gamma: float, beta: float, eps: float) -> np.ndarray:
    r"""The reference Hessian of :func:`native_bn_hessians`' :math:`f`: BN from primitive ops, reverse-over-reverse.

    :math:`\gamma(x-\bar x)/\sqrt{\overline{(x-\bar x)^2}+\epsilon}+\beta` with ``mean`` and ``sqrt``; any autodiff
    path is right through these (THEORY-2.md §11.1 (a): 2.6e-16 from reverse-over-reverse on the native kernel).
    """
    import torch

    x, w = _check_case(x, w)
    z = torch.cat([torch.from_numpy(x).ravel(), torch.tensor([float(gamma)], dtype=torch.float64)])
    return torch.autograd.functional.hessian(_primitive_f(x, w, beta, eps, frozen=False), z).numpy()


@single_threaded
def frozen_statistics_bn_hessian(x, w, gamma: float, beta: float, eps: float) -> np.ndarray:
    r"""The Hessian of :math:`f` with the batch mean and variance held constant (what eval-mode tools compute).

    Not the training-mode Hessian: the nearest plausible false reference (it drops every term through
    :math:`\mu_{\mathcal B},\sigma_{\mathcal B}`; here :math:`H_{xx}=0` and :math:`H_{\gamma x}=w/s`).
    """
    import torch

    x, w = _check_case(x, w)
    z = torch.cat([torch.from_numpy(x).ravel(), torch.tensor([float(gamma)], dtype=torch.float64)])
    return torch.autograd.functional.hessian(_primitive_f(x, w, beta, eps, frozen=True), z).numpy()


def _closed_form_gradient(z: np.ndarray, w: np.ndarray, beta: float, eps: float) -> np.ndarray:
    m = w.shape[0]
    _, cache = _batch.forward(z[:m].reshape(m, 1), z[m:], np.array([beta]), eps=eps)
    dx, dgamma, _ = _batch.backward(w, cache)
    return np.concatenate([dx.ravel(), dgamma])


def central_difference_hessian(x, w, gamma: float, beta: float, eps: float, *, h: float = 1e-5) -> np.ndarray:
    r"""Central differences of the closed-form gradient :math:`\nabla_zf` (``bntheory.norms.batch.backward``).

    :math:`H_{:,i}\approx(\nabla f(z+he_i)-\nabla f(z-he_i))/2h`, symmetrized; truncation :math:`O(h^2)` and
    rounding :math:`O(\epsilon_{\text{mach}}/h)`, about 1e-11 relative at :math:`h=10^{-5}` (§11.1 (b): 2.5e-11).
    """
    x, w = _check_case(x, w)
    if not h > 0:
        raise ValueError(f"h: expected a positive step, got {h!r}")
    z = np.concatenate([x.ravel(), [float(gamma)]])
    cols = []
    for i in range(z.size):
        e = np.zeros_like(z)
        e[i] = h
        cols.append((_closed_form_gradient(z + e, w, beta, eps) - _closed_form_gradient(z - e, w, beta, eps)) / (2 * h))
    H = np.stack(cols, axis=1)
    return (H + H.T) / 2


def gamma_x_block(x, w, eps: float) -> np.ndarray:
    r"""The :math:`\gamma`–:math:`x` block :math:`\tfrac1s\big(w-\bar w\mathbf 1-\hat x\,\overline{w\odot\hat x}\big)`.

    :math:`\partial^2f/\partial\gamma\,\partial x` in the closed form of THEORY-2.md §11.1 (§9.2's backward pass
    with :math:`\delta=w` and :math:`\gamma=1`), with
    :math:`s=\sqrt{\sigma^2_{\mathcal B}+\epsilon}` and bars the means over the batch; shape (m,).
    """
    x, w = _check_case(x, w)
    x, w = x.ravel(), w.ravel()
    s = np.sqrt(x.var() + eps)
    x_hat = (x - x.mean()) / s
    return (w - w.mean() - x_hat * (w * x_hat).mean()) / s


RowKernel = Literal["layer_norm", "instance_norm"]


def _row_gain(kernel: str, shape: tuple[int, ...]) -> np.ndarray:
    """The gain: per element of a row for LayerNorm (``(n,)``), per row (channel) for InstanceNorm (``(r,)``)."""
    return np.linspace(0.8, 1.3, shape[1] if kernel == "layer_norm" else shape[0])


def _check_rows(kernel: str, x, w) -> tuple[np.ndarray, np.ndarray]:
    if kernel not in ROW_KERNELS:
        raise ValueError(f"kernel: expected one of {ROW_KERNELS}, got {kernel!r}")
    x, w = np.asarray(x, dtype=np.float64), np.asarray(w, dtype=np.float64)
    if x.ndim != 2 or w.shape != x.shape:
        raise ValueError(f"x, w: expected two arrays of one (rows, n) shape, got {x.shape}, {w.shape}")
    return x, w


@single_threaded
def native_row_norm_hessians(kernel: RowKernel, x, w, eps: float, *, paths: tuple[str, ...]) -> dict[str, np.ndarray]:
    r"""Hessians in :math:`z=(x,g)` of :math:`\sum w\odot\mathrm{N}(x;g)` for a native kernel normalizing rows of `x`.

    ``"layer_norm"``: ``F.layer_norm(x, (n,), weight=g)`` on :math:`x\in\mathbb R^{r\times n}`, :math:`g` per
    element of a row; ``"instance_norm"``: ``F.instance_norm(x[None], weight=g)`` (one sample, :math:`r` channels
    of :math:`n` values), :math:`g` per channel. Gains ``linspace(0.8, 1.3)``, no bias. `paths` from
    ``torch.func.hessian``, ``jacrev(jacrev)``, ``jacfwd(jacfwd)``, ``jacrev(grad)``.
    """
    import torch
    from torch.func import grad, hessian, jacfwd, jacrev

    x, w = _check_rows(kernel, x, w)
    shape, wt, F = x.shape, torch.from_numpy(w), torch.nn.functional
    size = x.size

    def f(z):
        a, g = z[:size].reshape(shape), z[size:]
        if kernel == "layer_norm":
            y = F.layer_norm(a, (shape[1],), weight=g, eps=eps)
        else:
            y = F.instance_norm(a[None], weight=g, eps=eps)[0]
        return (wt * y).sum()

    make = {
        "torch.func.hessian": hessian(f),
        "jacrev(jacrev)": jacrev(jacrev(f)),
        "jacfwd(jacfwd)": jacfwd(jacfwd(f)),
        "jacrev(grad)": jacrev(grad(f)),
    }
    unknown = [p for p in paths if p not in make]
    if unknown:
        raise ValueError(f"paths: unknown {unknown}; choose from {tuple(make)}")
    z = torch.from_numpy(np.concatenate([x.ravel(), _row_gain(kernel, shape)]))
    return {p: make[p](z).detach().numpy() for p in paths}


@single_threaded
def primitive_row_norm_hessian(kernel: RowKernel, x, w, eps: float) -> np.ndarray:
    r"""The reference for :func:`native_row_norm_hessians`: the same function from primitive ops, reverse-over-reverse.

    :math:`g\odot(x-\bar x)/\sqrt{\overline{(x-\bar x)^2}+\epsilon}` along each row (the biased variance).
    """
    import torch

    x, w = _check_rows(kernel, x, w)
    shape, wt, size = x.shape, torch.from_numpy(w), x.size

    def f(z):
        a, g = z[:size].reshape(shape), z[size:]
        c = a - a.mean(dim=1, keepdim=True)
        y = c / torch.sqrt((c * c).mean(dim=1, keepdim=True) + eps)
        return (wt * (y * g if kernel == "layer_norm" else y * g[:, None])).sum()

    z = torch.from_numpy(np.concatenate([x.ravel(), _row_gain(kernel, shape)]))
    return torch.autograd.functional.hessian(f, z).numpy()
