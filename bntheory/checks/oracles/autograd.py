r"""PyTorch oracles (optional, imported lazily): ``F.batch_norm`` with autograd, and BN from primitives.

PyTorch's native training-mode ``batch_norm`` is a first-order oracle only: its double backward is wrong on four
autodiff paths (THEORY-2.md §11.1), so second-order oracles use :func:`torch_normalize`, BN written out from
``mean`` and ``sqrt``, which autograd differentiates to any order.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "as_tensor",
    "like",
    "torch_batch_norm",
    "torch_batch_norm_grads",
    "torch_bn_mlp_curvature",
    "torch_bn_mlp_grads",
    "torch_gradient",
    "torch_hessian_form",
    "torch_loss_gradient",
    "torch_normalize",
    "torch_normalize_vjp",
    "torch_weight_gradient",
]


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


def as_tensor(a):
    """A float64 torch tensor of `a`: NumPy (shared memory), torch, or any DLPack array (CuPy: on its device)."""
    import torch

    if isinstance(a, torch.Tensor):
        return a.to(torch.float64)
    if not hasattr(a, "__dlpack__") or isinstance(a, np.ndarray):
        return torch.from_numpy(np.asarray(a, dtype=np.float64))
    return torch.from_dlpack(a).to(torch.float64)


def like(t, a):
    """The detached tensor `t` as an array of `a`'s kind: NumPy for NumPy (or plain numbers), else via DLPack."""
    import torch

    t = t.detach()
    if isinstance(a, torch.Tensor):
        return t
    if not hasattr(a, "__dlpack__") or isinstance(a, np.ndarray):
        return t.cpu().numpy()
    from array_api_compat import array_namespace

    return array_namespace(a).from_dlpack(t)


def _per_instance(value, t):
    """A scalar, or one value per instance (shape ``t.shape[:-1]``) as a tensor broadcasting against `t`."""
    value = as_tensor(value).to(t.device)
    return value if value.ndim == 0 else value[..., None]


def torch_normalize(y, eps):
    r"""Training-mode normalization of a torch tensor along its last axis, from the definition.

    :math:`(y-\mu)/\sqrt{\sigma^2+\epsilon}` with the biased variance; `eps` a float, or a tensor with one value
    per batch along the leading axes (shape ``y.shape[:-1]``). Written out rather than calling
    ``torch.nn.functional.batch_norm``, which refuses :math:`\epsilon=0` (the setting of Santurkar et
    al.'s §4); autograd differentiates it, so it serves as the gradient and Hessian oracle there.
    """
    centered = y - y.mean(dim=-1, keepdim=True)
    if not isinstance(eps, float | int):
        eps = _per_instance(eps, y)
    return centered / ((centered * centered).mean(dim=-1, keepdim=True) + eps).sqrt()


def torch_normalize_vjp(y, g, gamma, eps):
    r""":math:`\nabla_y\langle g,\gamma\,\mathrm{BN}_\epsilon(y)\rangle` by autograd of :func:`torch_normalize`.

    The gradient of a loss behind one BN unit whose gradient at the BN output is `g` (Santurkar et al.'s
    :math:`\nabla_{y_j}\hat{\mathcal L}` for the downstream :math:`F(z)=g^\top z`). The batch entries run along the
    last axis; leading axes are independent instances, with `gamma` and `eps` scalars or one per instance. Returns
    an array of `y`'s kind (NumPy, torch, or via DLPack: CuPy on its device).
    """
    import torch

    t = as_tensor(y).detach().requires_grad_(True)
    z = _per_instance(gamma, t) * torch_normalize(t, eps if isinstance(eps, float | int) else as_tensor(eps))
    (grad,) = torch.autograd.grad((z * as_tensor(g).to(t.device)).sum(), t)
    return like(grad, y)


def _loss(y, gamma, eps, downstream):
    r""":math:`F(\gamma\,\mathrm{BN}_\epsilon(y))` summed over the instances (their gradients stay separate)."""
    eps = eps if isinstance(eps, float | int) else as_tensor(eps).to(y.device)
    return downstream(_per_instance(gamma, y) * torch_normalize(y, eps)).sum()


def torch_loss_gradient(y, gamma, eps, downstream):
    r""":math:`\nabla_y\hat{\mathcal L}` of :math:`\hat{\mathcal L}(y)=F(\gamma\,\mathrm{BN}_\epsilon(y))` by autograd.

    Parameters
    ----------
    y : array_like, shape (..., m)
        The pre-BN batch of one unit (leading axes: independent instances).
    gamma, eps : float or array of shape (...)
        BN scale and :math:`\epsilon\ge0` (BN from primitives, :func:`torch_normalize`, so :math:`\epsilon=0` works).
    downstream : callable
        :math:`F`, taking a float64 torch tensor ``(..., m)`` and returning one value per instance (e.g.
        :meth:`bntheory.checks.instances.landscape.Downstream.torch`).
    """
    import torch

    t = as_tensor(y).detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(_loss(t, gamma, eps, downstream), t)
    return like(grad, y)


def torch_hessian_form(y, gamma, eps, downstream, v=None, *, project=None):
    r""":math:`v^\top\nabla^2_y\hat{\mathcal L}\,v` by double backward through :func:`torch_normalize`.

    :math:`\hat{\mathcal L}(y)=F(\gamma\,\mathrm{BN}_\epsilon(y))`, with `y`, `gamma`, `eps` and `downstream` as in
    :func:`torch_loss_gradient`; without `v` the direction is the gradient :math:`v=\nabla_y\hat{\mathcal L}`
    (Santurkar et al.'s Theorem 4.2), or ``project(gradient)`` when `project` is given (a map of float64 torch
    tensors, such as the projection onto the complement of a plane; it is applied after the gradient is detached,
    so the same pass gives both). Returns ``(v, form)``: the direction, shape (..., m), and the form, shape (...),
    both of `y`'s kind.
    """
    import torch

    t = as_tensor(y).detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(_loss(t, gamma, eps, downstream), t, create_graph=True)
    if v is None:
        direction = grad.detach() if project is None else project(grad.detach())
    else:
        direction = as_tensor(v).to(t.device)
    (hv,) = torch.autograd.grad((grad * direction).sum(), t)
    return like(direction.clone(), y), like((hv * direction).sum(dim=-1), y)


def torch_weight_gradient(X, w, gamma, eps, downstream):
    r""":math:`\nabla_w\hat{\mathcal L}` of :math:`\hat{\mathcal L}(w)=F(\gamma\,\mathrm{BN}_\epsilon(Xw))` by autograd.

    `X` is the (..., m, d) batch in rows, `w` the (..., d) weights of one unit (Santurkar et al.'s Theorem 4.4);
    `gamma`, `eps` and `downstream` as in :func:`torch_loss_gradient`. Returns an array of `w`'s kind.
    """
    import torch

    W = as_tensor(w).detach().requires_grad_(True)
    y = (as_tensor(X).to(W.device) * W[..., None, :]).sum(-1)
    (grad,) = torch.autograd.grad(_loss(y, gamma, eps, downstream), W)
    return like(grad, w)


def torch_bn_mlp_grads(net, eps: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    r"""Pre-BN activations and three gradients of a :class:`~bntheory.checks.instances.landscape.BNMLP`, by autograd.

    Returns ``(y, g, dy, dW)``, each with samples in rows and units in columns: :math:`y=XW`,
    :math:`g=\partial\hat{\mathcal L}/\partial z` at the BN output, :math:`\partial\hat{\mathcal L}/\partial y` and
    :math:`\partial\hat{\mathcal L}/\partial W`, for the MSE loss of the network with BN from primitives at `eps`.
    """
    import torch

    X, W, gamma, beta, V, target = (
        torch.from_numpy(np.asarray(a, np.float64)) for a in (net.X, net.W, net.gamma, net.beta, net.V, net.target)
    )
    W = W.clone().requires_grad_(True)
    y = X @ W
    y.retain_grad()
    z = gamma * torch_normalize(y.T, float(eps)).T + beta
    z.retain_grad()
    loss = ((torch.tanh(z) @ V - target) ** 2).mean()
    loss.backward()
    return y.detach().numpy(), z.grad.numpy(), y.grad.numpy(), W.grad.numpy()


def torch_bn_mlp_curvature(net) -> list[dict[str, np.ndarray | float]]:
    r"""Theorem 4.2's inputs per BN unit of a :class:`~bntheory.checks.instances.landscape.BNMLP` (eps = 0).

    For unit :math:`j`: :math:`v=\nabla_{y_j}\hat{\mathcal L}`, the form
    :math:`v^\top\nabla^2_{y_jy_j}\hat{\mathcal L}\,v` (double backward with the other units fixed),
    :math:`g_j=\partial\hat{\mathcal L}/\partial z_j` and :math:`H_{jj}=\partial^2\hat{\mathcal L}/\partial z_j^2`
    (autograd Hessian of the downstream network in :math:`z_j`), and :math:`y_j`.
    Returns one dict per unit with keys ``v, form, g, H, y``.
    """
    import torch

    X, W, gamma, beta, V, target = (
        torch.from_numpy(np.asarray(a, np.float64)) for a in (net.X, net.W, net.gamma, net.beta, net.V, net.target)
    )

    def downstream(z):
        return ((torch.tanh(z) @ V - target) ** 2).mean()

    y = (X @ W).requires_grad_(True)
    z = gamma * torch_normalize(y.T, 0.0).T + beta
    (grad_y,) = torch.autograd.grad(downstream(z), y, create_graph=True)
    z0 = z.detach()
    g = torch.autograd.grad(downstream(z0.requires_grad_(True)), z0)[0].numpy()
    out = []
    for j in range(y.shape[1]):
        mask = torch.zeros_like(y)
        mask[:, j] = grad_y[:, j].detach()
        (hv,) = torch.autograd.grad((grad_y * mask).sum(), y, retain_graph=True)

        def unit(zj, j=j):
            return downstream(torch.cat([z0[:, :j], zj[:, None], z0[:, j + 1 :]], dim=1))

        H = torch.autograd.functional.hessian(unit, z0[:, j].clone()).numpy()
        v = mask[:, j].numpy().copy()
        form = float((hv * mask).sum())
        out.append({"v": v, "form": form, "g": g[:, j].copy(), "H": H, "y": y.detach().numpy()[:, j].copy()})
    return out


def torch_gradient(loss, *arrays) -> tuple[np.ndarray, ...]:
    r"""The gradients of ``loss(*tensors)`` at float64 copies of `arrays`, by PyTorch's reverse-mode autograd.

    `loss` receives one float64 CPU tensor per array (requiring grad) and returns a scalar tensor; it may be
    library code run on torch tensors (array-API code accepts them), so the gradient of the library's *forward*
    comes from autograd, independently of any closed-form backward pass. One float64 ndarray per array.
    """
    import torch

    tensors = [torch.tensor(np.asarray(a, np.float64), requires_grad=True) for a in arrays]
    return tuple(g.numpy() for g in torch.autograd.grad(loss(*tensors), tensors))
