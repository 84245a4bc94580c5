r"""PyTorch references for the deep-linear-network measures of Santurkar et al. 2018 (THEORY.md §2.1–§2.2).

The network is rebuilt from ``torch`` primitives (BN from :func:`~bntheory.checks.oracles.autograd.torch_normalize`,
not :mod:`bntheory.norms.batch`) and differentiated by autograd, so these references share no code with
:mod:`bntheory.landscape.deep_linear`, :mod:`bntheory.landscape.covariate_shift` or
:mod:`bntheory.landscape.measures`. PyTorch is imported
lazily.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from bntheory._torch_threads import one_thread
from bntheory.checks.oracles.autograd import torch_normalize

__all__ = ["torch_dln_loss_and_grads", "torch_ics"]


def torch_dln_loss_and_grads(
    weights: Sequence[np.ndarray], X: np.ndarray, Y: np.ndarray, *, bn: bool, eps: float
) -> tuple[float, list[np.ndarray]]:
    r"""Loss :math:`\frac1{2n}\|H_{k-1}W_k-Y\|_F^2` of the DLN and its weight gradients, by autograd (float64).

    Hidden layers :math:`H_\ell=\phi(H_{\ell-1}W_\ell)` with :math:`\phi` the identity, or training-mode BN
    (:math:`\gamma=1,\beta=0`, statistics over the rows) when `bn`.

    Weights with leading axes, ``(..., fan-in, fan-out)`` per layer, are that many independent networks on the same
    data, differentiated in one pass: the loss is then their sum, and each network's gradient is its own.
    """
    import torch

    with one_thread():
        ts = [torch.tensor(np.asarray(w, np.float64), requires_grad=True) for w in weights]
        H = torch.from_numpy(np.asarray(X, np.float64))
        for w in ts[:-1]:
            H = H @ w
            if bn:  # statistics over the samples (the rows), per network
                H = torch_normalize(H.transpose(-1, -2), eps).transpose(-1, -2)
        loss = 0.5 * ((H @ ts[-1] - torch.from_numpy(np.asarray(Y, np.float64))) ** 2).sum() / X.shape[0]
        grads = torch.autograd.grad(loss, ts)
    return float(loss.detach()), [g.numpy() for g in grads]


def torch_ics(
    weights, X, Y, lr: float, shift_through: int, eps: float, *, bn: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    r"""ICS of every layer of a DLN (BN unless `bn` is False) by direct recomputation of :math:`G'`.

    Layers :math:`<i+` `shift_through` take one gradient step of size `lr`, then layer i's gradient is recomputed.

    ``shift_through=0`` is Definition 2.1 (layers before i step); ``1`` also steps layer i itself (a wrong
    :math:`G'`, for the negative control). Returns the per-layer :math:`\ell_2` distance and cosine. The k moved
    networks (one per layer i) are differentiated in one autograd pass, stacked along a leading axis.
    """
    _, G = torch_dln_loss_and_grads(weights, X, Y, bn=bn, eps=eps)
    k = len(weights)
    # Network i has layers < min(i + shift_through, k) stepped; layer l of the stack holds every network's layer l.
    moved = [
        np.stack([w - lr * g if layer < min(i + shift_through, k) else w for i in range(k)])
        for layer, (w, g) in enumerate(zip(weights, G, strict=True))
    ]
    stacked = torch_dln_loss_and_grads(moved, X, Y, bn=bn, eps=eps)[1]
    l2, cos = [], []
    for i in range(k):
        Gp = stacked[i][i]  # network i's gradient of its layer i
        l2.append(np.linalg.norm(G[i] - Gp))
        cos.append(np.sum(G[i] * Gp) / (np.linalg.norm(G[i]) * np.linalg.norm(Gp)))
    return np.array(l2), np.array(cos)
