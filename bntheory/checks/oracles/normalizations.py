r"""Oracles for LayerNorm, RMSNorm, GroupNorm, InstanceNorm and WeightNorm, independent of :mod:`bntheory.norms`.

Two kinds. In mpmath, from the definitions (THEORY-2.md §9.1), entry by entry: a normalization is a map from
each entry's index to its group and to its affine parameters; the groups' statistics are plain sums over Python
lists, and every gradient is a 50-digit central difference (:func:`~bntheory.checks.oracles.mp.mp_central_gradient`),
so no reshape, broadcast or closed form of the library is shared. In PyTorch: the native kernels
(``F.layer_norm``, ``F.rms_norm``, ``F.group_norm``, ``F.instance_norm``, ``torch._weight_norm``) with first-order
reverse autograd, which THEORY-2.md §9.2 measured to agree with the closed forms to 3e-16.
"""

from __future__ import annotations

from collections.abc import Callable

import mpmath
import numpy as np

from bntheory.checks.oracles.mp import mp_central_gradient

__all__ = [
    "Layout",
    "layout",
    "mp_normalization",
    "mp_normalization_jacobian",
    "mp_weight_norm",
    "mp_weight_norm_jacobian",
    "torch_group_hessian_form",
    "torch_normalization",
    "torch_normalization_grads",
    "torch_weight_norm",
]

Index = tuple[int, ...]


class Layout:
    """Which group each entry belongs to and which affine parameter it uses: a normalization, entry by entry.

    Attributes
    ----------
    kind : {"layer", "rms", "group", "instance"}
    group_of : callable
        ``group_of(index) -> hashable``: the entries with equal keys are standardized together.
    param_of : callable
        ``param_of(index) -> index into gamma and beta``.
    center : bool
        False for RMSNorm.
    """

    def __init__(
        self, kind: str, group_of: Callable[[Index], object], param_of: Callable[[Index], Index], center: bool
    ):
        self.kind, self.group_of, self.param_of, self.center = kind, group_of, param_of, center


def layout(kind: str, ndim: int, *, trailing: int = 1, groups: int = 1, channels: int = 1) -> Layout:
    """The :class:`Layout` of a normalization of an array of rank `ndim`, written from THEORY-2.md §9.1's table.

    `trailing` is the number of normalized trailing dims (LayerNorm, RMSNorm); `groups` and `channels` are those
    of GroupNorm (InstanceNorm: one channel per group).
    """
    if kind in ("layer", "rms"):
        k = ndim - trailing
        return Layout(kind, lambda i: i[:k], lambda i: i[k:], center=kind == "layer")
    if kind in ("group", "instance"):
        size = 1 if kind == "instance" else channels // groups
        return Layout(kind, lambda i: (i[0], i[1] // size), lambda i: (i[1],), center=True)
    raise ValueError(f"kind: expected 'layer', 'rms', 'group' or 'instance', got {kind!r}")


def mp_normalization(x, dy, how: Layout, gamma=None, beta=None, *, eps: float, dps: int = 50):
    r"""Output and gradients of :math:`\ell=\sum\delta\odot y` for the normalization `how`, in mpmath.

    Returns ``(y, dx, dgamma, dbeta)`` as float64 arrays (None for an absent parameter); the gradients are
    central differences at `dps` digits of the loss written from the definition.
    """
    x, dy = np.asarray(x, np.float64), np.asarray(dy, np.float64)
    forward, point, (n, p, pshape, has) = _mp_forward(x, how, gamma, beta, eps)
    weights = [mpmath.mpf(float(d)) for d in dy.ravel()]
    grad = mp_central_gradient(
        lambda v: mpmath.fsum(w * t for w, t in zip(weights, forward(v), strict=True)), point, dps=dps
    )
    with mpmath.workdps(dps):
        y = np.array([float(t) for t in forward([mpmath.mpf(float(t)) for t in point])]).reshape(x.shape)
    dgamma = grad[n : n + p].reshape(pshape) if has[0] else None
    dbeta = grad[n + p * has[0] :].reshape(pshape) if has[1] else None
    return y, grad[:n].reshape(x.shape), dgamma, dbeta


def mp_normalization_jacobian(x, how: Layout, gamma=None, *, eps: float, dps: int = 50) -> np.ndarray:
    r"""The full Jacobian :math:`\partial y/\partial x` (shape (x.size, x.size), C order) by central differences.

    Column :math:`j` is :math:`(y(x+he_j)-y(x-he_j))/2h` at `dps` digits of the definition written entry by entry
    (:math:`h=10^{-\lfloor dps/3\rfloor}`), so no block structure is assumed: entries of other groups come out 0.
    """
    x = np.asarray(x, np.float64)
    forward, point, (n, *_) = _mp_forward(x, how, gamma, None, eps)
    with mpmath.workdps(dps):
        h = mpmath.mpf(10) ** (-(dps // 3))
        base = [mpmath.mpf(float(t)) for t in point]
        columns = []
        for j in range(n):
            up, down = list(base), list(base)
            up[j] += h
            down[j] -= h
            columns.append([float((a - b) / (2 * h)) for a, b in zip(forward(up), forward(down), strict=True)])
    return np.array(columns).T


def _mp_forward(x: np.ndarray, how: Layout, gamma, beta, eps: float):
    """The forward map of `how` on a flat list ``[*x, *gamma, *beta]`` of mpf, the point, and the sizes."""
    shapes = [np.shape(p) for p in (gamma, beta) if p is not None]
    pshape = shapes[0] if shapes else ()
    entries = list(np.ndindex(x.shape))
    members: dict[object, list[int]] = {}
    for k, index in enumerate(entries):
        members.setdefault(how.group_of(index), []).append(k)
    params = [int(np.ravel_multi_index(how.param_of(i), pshape)) if pshape else 0 for i in entries]
    n, p = x.size, int(np.prod(pshape)) if pshape else 0
    has = (gamma is not None, beta is not None)

    def forward(v: list) -> list:
        xs, gs, bs = v[:n], v[n : n + p] if has[0] else None, v[n + p * has[0] :] if has[1] else None
        y = [None] * n
        for ks in members.values():
            vals = [xs[k] for k in ks]
            mu = mpmath.fsum(vals) / len(vals) if how.center else 0
            s = mpmath.sqrt(mpmath.fsum((t - mu) ** 2 for t in vals) / len(vals) + mpmath.mpf(eps))
            for k, t in zip(ks, vals, strict=True):
                out = (t - mu) / s
                if gs is not None:
                    out = gs[params[k]] * out
                if bs is not None:
                    out = out + bs[params[k]]
                y[k] = out
        return y

    point = [*x.ravel()] + ([*np.ravel(gamma)] if has[0] else []) + ([*np.ravel(beta)] if has[1] else [])
    return forward, point, (n, p, pshape, has)


def mp_weight_norm(v, g, dw, *, dim: int, dps: int = 50):
    r""":math:`w=g\,v/\|v\|` (norm over every axis but `dim`) and the gradients of :math:`\sum\nabla_wL\odot w`.

    Returns ``(w, dv, dg)`` as float64 arrays, by central differences at `dps` digits.
    """
    v, g, dw = (np.asarray(a, np.float64) for a in (v, g, dw))
    forward = _mp_weight_forward(v, dim)
    n = v.size
    weights = [mpmath.mpf(float(d)) for d in dw.ravel()]
    point = [*v.ravel(), *g]
    grad = mp_central_gradient(
        lambda p: mpmath.fsum(w * t for w, t in zip(weights, forward(p), strict=True)), point, dps=dps
    )
    with mpmath.workdps(dps):
        w = np.array([float(t) for t in forward([mpmath.mpf(float(t)) for t in point])]).reshape(v.shape)
    return w, grad[:n].reshape(v.shape), grad[n:]


def mp_weight_norm_jacobian(v, g, *, dim: int, dps: int = 50) -> np.ndarray:
    r"""The full Jacobian :math:`\partial w/\partial v` (shape (v.size, v.size), C order) by central differences."""
    v, g = np.asarray(v, np.float64), np.asarray(g, np.float64)
    forward = _mp_weight_forward(v, dim)
    with mpmath.workdps(dps):
        h = mpmath.mpf(10) ** (-(dps // 3))
        base = [mpmath.mpf(float(t)) for t in (*v.ravel(), *g)]
        columns = []
        for j in range(v.size):
            up, down = list(base), list(base)
            up[j] += h
            down[j] -= h
            columns.append([float((a - b) / (2 * h)) for a, b in zip(forward(up), forward(down), strict=True)])
    return np.array(columns).T


def _mp_weight_forward(v: np.ndarray, dim: int):
    """WeightNorm's map on a flat list ``[*v, *g]`` of mpf, written from the definition entry by entry."""
    entries = list(np.ndindex(v.shape))
    n = v.size

    def forward(params: list) -> list:
        vs, gs = params[:n], params[n:]
        norms = {}
        for k, index in enumerate(entries):
            norms.setdefault(index[dim], []).append(vs[k] ** 2)
        norms = {key: mpmath.sqrt(mpmath.fsum(sq)) for key, sq in norms.items()}
        return [gs[index[dim]] * vs[k] / norms[index[dim]] for k, index in enumerate(entries)]

    return forward


def torch_normalization(kind: str, x, dy, gamma=None, beta=None, *, eps, trailing: int, groups: int):
    """``(y, dx, dgamma, dbeta)`` from PyTorch's native kernel of `kind` and reverse autograd, in the dtype of `x`.

    `trailing` (LayerNorm, RMSNorm: the normalized trailing dims) and `groups` (GroupNorm) have no defaults, so a
    check says which normalization it compares with.
    """
    import torch

    F = torch.nn.functional
    tx = torch.tensor(np.asarray(x), requires_grad=True)
    tg = None if gamma is None else torch.tensor(np.asarray(gamma), requires_grad=True)
    tb = None if beta is None else torch.tensor(np.asarray(beta), requires_grad=True)
    if kind == "layer":
        y = F.layer_norm(tx, tuple(x.shape[x.ndim - trailing :]), tg, tb, eps=eps)
    elif kind == "rms":
        y = F.rms_norm(tx, tuple(x.shape[x.ndim - trailing :]), tg, eps=eps)
    elif kind == "group":
        y = F.group_norm(tx, groups, tg, tb, eps=eps)
    elif kind == "instance":
        y = F.instance_norm(tx, weight=tg, bias=tb, eps=eps)
    else:
        raise ValueError(f"kind: expected 'layer', 'rms', 'group' or 'instance', got {kind!r}")
    y.backward(torch.tensor(np.asarray(dy)))
    grads = [None if t is None else t.grad.numpy() for t in (tg, tb)]
    return y.detach().numpy(), tx.grad.numpy(), *grads


def torch_normalization_grads(kind: str, x, dy, gain, eps, *, groups: int):
    r""":math:`\nabla_x\langle\delta,\gamma\odot N_\epsilon(x)\rangle` for a *batch* of samples, each with its own eps.

    The native kernel of `kind` (``F.layer_norm``, ``F.rms_norm``: over every axis after the first; ``F.group_norm``
    with `groups` groups; ``F.instance_norm``) without affine parameters, times the gain, and reverse autograd, in
    float64. The kernels take one :math:`\epsilon` for the whole batch; a sample with its own :math:`\epsilon_i>0`
    is handed to the kernel at :math:`\epsilon=1` as :math:`x_i/\sqrt{\epsilon_i}`, since every one of these
    normalizations satisfies :math:`N_{c^2\epsilon}(cx)=N_\epsilon(x)` (:math:`c>0`; the statistics scale by
    :math:`c` and :math:`c^2`), and autograd differentiates through the scaling. Samples with :math:`\epsilon_i=0`
    run at :math:`\epsilon=0` as they are. (An :math:`\epsilon_i` below about :math:`10^{-308}` of the group's
    power would overflow the scaled input; it shows up as a non-finite gradient, never as a finite wrong one.)

    Parameters
    ----------
    kind : {"layer", "rms", "group", "instance"}
    x, dy, gain : array, shape (N, ...)
        The samples (the batch along the first axis: ``(N, m)`` for LayerNorm and RMSNorm, ``(N, C, S)`` for
        GroupNorm and InstanceNorm), the upstream gradients :math:`\delta` at the output, and the gain of every entry.
        NumPy, torch, or any DLPack array (CuPy: on its device).
    eps : float or array, shape (N,)
        :math:`\epsilon_i\ge0` of each sample.
    groups : int
        GroupNorm's number of groups (ignored otherwise).

    Returns
    -------
    array, shape of `x`
        :math:`\nabla_x`, of `x`'s kind.

    Raises
    ------
    ValueError
        If `kind` is unknown or an `eps` is negative or NaN.
    """
    import torch

    from bntheory.checks.oracles.autograd import as_tensor, like

    F = torch.nn.functional
    kernels = {
        "layer": lambda u, e: F.layer_norm(u, tuple(u.shape[1:]), eps=e),
        "rms": lambda u, e: F.rms_norm(u, tuple(u.shape[1:]), eps=e),
        "group": lambda u, e: F.group_norm(u, groups, eps=e),
        "instance": lambda u, e: F.instance_norm(u, eps=e),
    }
    if kind not in kernels:
        raise ValueError(f"kind: expected 'layer', 'rms', 'group' or 'instance', got {kind!r}")
    t = as_tensor(x).detach()
    weights = as_tensor(gain).to(t.device) * as_tensor(dy).to(t.device)
    eps = torch.broadcast_to(as_tensor(eps).to(t.device), t.shape[:1])
    if not bool((eps >= 0).all()):  # NaN compares False too
        raise ValueError("eps: expected values >= 0, one per sample")
    grad = torch.empty_like(t)
    for at_zero in (True, False):
        mask = eps == 0 if at_zero else eps > 0
        if not bool(mask.any()):
            continue
        u = t[mask].requires_grad_(True)
        scale = 1.0 if at_zero else eps[mask].rsqrt().reshape(-1, *(1,) * (t.ndim - 1))
        y = kernels[kind](u * scale, 0.0 if at_zero else 1.0)
        (grad[mask],) = torch.autograd.grad((y * weights[mask]).sum(), u)
    return like(grad, x)


def torch_weight_norm(v, g, dw, *, dim: int):
    """``(w, dv, dg)`` from ``torch._weight_norm`` (the kernel behind ``parametrizations.weight_norm``) and autograd."""
    import torch

    tv, tg = torch.tensor(np.asarray(v), requires_grad=True), torch.tensor(np.asarray(g), requires_grad=True)
    w = torch._weight_norm(tv, tg.reshape([-1 if a == dim else 1 for a in range(v.ndim)]), dim)
    w.backward(torch.tensor(np.asarray(dw)))
    return w.detach().numpy(), tv.grad.numpy(), tg.grad.numpy()


def torch_group_hessian_form(x, gamma, eps: float, downstream, v, *, center: bool = True) -> float:
    r""":math:`v^\top\nabla_x^2\hat L\,v` of :math:`\hat L(x)=F(\gamma\odot\hat x)` for one group, by double backward.

    The group's normalization is written from primitives (mean, square root: centred, or RMSNorm's
    :math:`x/\sqrt{\overline{x^2}+\epsilon}`), which autograd differentiates to any order; `gamma` is elementwise
    (an array of the group's length, or a float); `downstream` takes and returns float64 torch tensors
    (:meth:`bntheory.checks.instances.landscape.Downstream.torch`). THEORY-2.md §9.4 (T2) measured this oracle
    against the closed form to 1e-13.
    """
    import torch

    t = torch.tensor(np.asarray(x, np.float64), requires_grad=True)
    z = t - t.mean() if center else t
    x_hat = z / ((z * z).mean() + float(eps)).sqrt()
    g = torch.as_tensor(np.asarray(gamma, np.float64))
    (grad,) = torch.autograd.grad(downstream(g * x_hat), t, create_graph=True)
    direction = torch.from_numpy(np.asarray(v, np.float64))
    (hv,) = torch.autograd.grad(grad @ direction, t)
    return float(hv @ direction)
