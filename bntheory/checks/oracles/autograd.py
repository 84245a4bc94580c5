r"""PyTorch oracles (optional, imported lazily): ``F.batch_norm`` with autograd, and BN from primitives.

PyTorch's native training-mode ``batch_norm`` is a first-order oracle only: its double backward is wrong on four
autodiff paths (THEORY-2.md §11.1), so second-order oracles use :func:`torch_normalize`, BN written out from
``mean`` and ``sqrt``, which autograd differentiates to any order.
"""

from __future__ import annotations

import numpy as np

__all__ = ["torch_batch_norm", "torch_batch_norm_grads", "torch_normalize", "torch_normalize_vjp"]


def torch_batch_norm(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float) -> np.ndarray:
    """``torch.nn.functional.batch_norm`` in training mode, float64, on the CPU."""
    import torch

    t = torch.from_numpy(np.asarray(x, dtype=np.float64))
    g, b = torch.from_numpy(np.asarray(gamma, np.float64)), torch.from_numpy(np.asarray(beta, np.float64))
    return torch.nn.functional.batch_norm(t, None, None, g, b, training=True, eps=eps).numpy()


def torch_batch_norm_grads(x, gamma, beta, dy, eps: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of ``sum(dy * batch_norm(x))`` w.r.t. x, gamma, beta by PyTorch autograd (float64)."""
    import torch

    tensors = [torch.tensor(np.asarray(a, np.float64), requires_grad=True) for a in (x, gamma, beta)]
    y = torch.nn.functional.batch_norm(tensors[0], None, None, tensors[1], tensors[2], training=True, eps=eps)
    grads = torch.autograd.grad(y, tensors, torch.from_numpy(np.asarray(dy, np.float64)))
    return tuple(g.numpy() for g in grads)


def torch_normalize(y, eps: float):
    r"""Training-mode normalization of a torch tensor along its last axis, from the definition.

    :math:`(y-\mu)/\sqrt{\sigma^2+\epsilon}` with the biased variance. Written out rather than calling
    ``torch.nn.functional.batch_norm``, which refuses :math:`\epsilon=0` (the setting of Santurkar et
    al.'s §4); autograd differentiates it, so it serves as the gradient and Hessian oracle there.
    """
    centered = y - y.mean(dim=-1, keepdim=True)
    return centered / ((centered * centered).mean(dim=-1, keepdim=True) + eps).sqrt()


def torch_normalize_vjp(y, g, gamma: float, eps: float) -> np.ndarray:
    r""":math:`\nabla_y\langle g,\gamma\,\mathrm{BN}_\epsilon(y)\rangle` by autograd of :func:`torch_normalize`.

    The gradient of a loss behind one BN unit whose gradient at the BN output is `g` (Santurkar et al.'s
    :math:`\nabla_{y_j}\hat{\mathcal L}` for the downstream :math:`F(z)=g^\top z`). Batches along the last axis.
    """
    import torch

    t = torch.tensor(np.asarray(y, np.float64), requires_grad=True)
    z = float(gamma) * torch_normalize(t, float(eps))
    (grad,) = torch.autograd.grad((z * torch.from_numpy(np.asarray(g, np.float64))).sum(), t)
    return grad.numpy()
