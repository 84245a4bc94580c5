r"""PyTorch oracles for the scale-invariance results: the losses of :mod:`bntheory.optim.scale_invariant` rebuilt.

Each loss is rebuilt from its parameters (the ``info`` of a :class:`~bntheory.optim.scale_invariant.Loss`) out of
primitive operations — BN and LayerNorm written as :math:`(z-\bar z)/\sqrt{\overline{(z-\bar z)^2}+\epsilon}`
with ``mean`` and ``sqrt``, over the batch or over the features — and differentiated by autograd in float64 on the
CPU: the gradient by one reverse pass, the Hessian by ``torch.autograd.functional.hessian`` (its reverse passes
batched by ``vectorize=True``). PyTorch's native ``batch_norm`` is not used: it refuses :math:`\epsilon=0` and its
second derivatives are wrong (THEORY-2.md §11.1).
Nothing here calls :mod:`bntheory.norms` or :mod:`bntheory.optim`.
"""

from __future__ import annotations

import numpy as np

from bntheory._torch_threads import single_threaded
from bntheory.backend import to_numpy

__all__ = ["torch_loss"]


def _tensor(a):
    import torch

    return torch.from_numpy(np.array(to_numpy(a), dtype=np.float64))


def _normalize(z, axis: int, eps: float):
    centred = z - z.mean(dim=axis, keepdim=True)
    return centred / ((centred * centred).mean(dim=axis, keepdim=True) + eps).sqrt()


def _builder(kind: str, info: dict):
    """The loss as a function of a torch vector, from the parameters alone."""
    import torch

    if kind == "sin_sum":
        a, b, c = (_tensor(info[k]) for k in ("a", "b", "c"))
        A = None if info["A"] is None else _tensor(info["A"])

        def f(u):
            value = (a * torch.sin(b @ u + c)).sum()
            return value if A is None else value + 0.5 * u @ (A @ u)

        normalized = info.get("normalized", True)
        return (lambda w: f(w / torch.linalg.vector_norm(w))) if normalized else f
    if kind == "bn_unit":
        X, y = _tensor(info["X"]), _tensor(info["y"])
        gain, eps = float(info["gain"]), float(info["eps"])
        return lambda w: 0.5 * ((gain * _normalize(X @ w, 0, eps) - y) ** 2).mean()
    if kind == "mlp":
        X, Y = _tensor(info["X"]), _tensor(info["Y"])
        weights = [_tensor(W) for W in info["weights"]]
        axis = {"batch": 0, "layer": 1, None: None}[info["norm"]]
        index = 0 if info["wrt"] == "first" else len(weights) - 1
        eps = float(info["eps"])

        def loss(w):
            Ws = list(weights)
            Ws[index] = w.reshape(weights[index].shape)
            H = X
            for W in Ws[:-1]:
                Z = H @ W.T
                H = torch.tanh(Z if axis is None else _normalize(Z, axis, eps))
            return 0.5 * ((H @ Ws[-1].T - Y) ** 2).sum() / X.shape[0]

        return loss
    raise ValueError(f"kind: expected 'sin_sum', 'bn_unit' or 'mlp', got {kind!r}")


@single_threaded
def torch_loss(kind: str, info: dict, w, *, hessian: bool = False) -> tuple[float, np.ndarray, np.ndarray | None]:
    r"""``(L(w), grad L(w), H(w) or None)`` of a rebuilt loss, by PyTorch autograd in float64.

    Parameters
    ----------
    kind : {"sin_sum", "bn_unit", "mlp"}
        Which family (:func:`~bntheory.optim.scale_invariant.sin_sum`, ``bn_unit``, ``normalized_mlp``).
    info : dict
        Its parameters (arrays of any backend); a sum of sines also reads ``info["normalized"]`` (default True).
    w : array, shape (d,)
        The point.
    hessian : bool
        Also return the dense Hessian.
    """
    import torch

    build = _builder(kind, info)
    x = _tensor(w).requires_grad_(True)
    value = build(x)
    (grad,) = torch.autograd.grad(value, x)
    # vectorize: the d reverse passes of the Hessian's rows as one batched pass (vmap), the same derivatives in a
    # sixth of the time of d separate passes.
    H = torch.autograd.functional.hessian(build, x.detach(), vectorize=True).numpy() if hessian else None
    return float(value.detach()), grad.numpy(), H
