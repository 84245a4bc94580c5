r"""Rank and geometry of a batch of representations: numerical, stable and soft rank, Gram, cosines, d_max, gap.

The measures of Nachum et al. 2024 and Daneshmand et al. 2020/2021, for :math:`H\in\mathbb R^{d\times n}` (batch in
columns) or a stack ``(S, d, n)`` of them, on any array-API backend.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from array_api_compat import array_namespace

__all__ = ["cosine", "d_max", "gram", "numerical_rank", "orthogonality_gap", "soft_rank", "stable_rank"]

Array = Any


def _svdvals(H: Array) -> Array:
    return array_namespace(H).linalg.svdvals(H)


def numerical_rank(H: Array, tol: float | None = None) -> tuple[Array, Array]:
    r"""Number of singular values above a tolerance, and the tolerance used (per matrix of the stack).

    The default tolerance is NumPy's: :math:`\sigma_{\max}\cdot\max(d,n)\cdot\varepsilon` of the dtype, so a
    float32 run reports a smaller rank than float64 on the same matrix (THEORY.md §5.1): always report
    the tolerance with the rank.
    """
    xp = array_namespace(H)
    s = _svdvals(H)
    if tol is None:
        eps = float(xp.finfo(H.dtype).eps)
        tol_arr = s[..., 0] * max(H.shape[-2], H.shape[-1]) * eps
    else:
        tol_arr = xp.full(s.shape[:-1], float(tol), dtype=s.dtype)
    return xp.sum(xp.astype(s > tol_arr[..., None], xp.int64), axis=-1), tol_arr


def stable_rank(H: Array) -> Array:
    r"""Stable rank :math:`\|H\|_F^2/\|H\|_2^2`."""
    s = _svdvals(H)
    return array_namespace(H).sum(s * s, axis=-1) / s[..., 0] ** 2


def soft_rank(H: Array) -> Array:
    r"""Soft rank of Daneshmand et al. 2020.

    .. math:: r(H)=\operatorname{tr}(HH^\top)^2/\|HH^\top\|_F^2=\Big(\sum_i\sigma_i^2\Big)^2\Big/\sum_i\sigma_i^4
    """
    xp = array_namespace(H)
    s2 = _svdvals(H) ** 2
    return xp.sum(s2, axis=-1) ** 2 / xp.sum(s2 * s2, axis=-1)


def gram(H: Array) -> Array:
    r"""Batch Gram matrix :math:`H^\top H` (n × n: inner products of the batch points)."""
    xp = array_namespace(H)
    return xp.matrix_transpose(H) @ H


def cosine(H: Array) -> Array:
    r"""Cosine matrix of the batch points: :math:`G_{ij}/\sqrt{G_{ii}G_{jj}}`; an all-zero point gives NaN entries."""
    xp = array_namespace(H)
    G = gram(H)
    norms = xp.sqrt(xp.linalg.diagonal(G))
    return G / (norms[..., :, None] * norms[..., None, :])


def d_max(H: Array) -> tuple[Array, Array]:
    r"""Distance to the ideal "one cluster plus one orthogonal outlier" cosine matrix, and the best outlier.

    .. math:: d_{\max}=\min_k\max_{i,j}\big|\cos_{ij}-I^{(k)}_{ij}\big|,\qquad I^{(k)}_{ij}=\begin{cases}0&
        \text{exactly one of }i,j\text{ is }k\\1&\text{otherwise}\end{cases}

    (THEORY.md §4.5). Returns NumPy arrays over the stack: the distance and the minimizing index :math:`k`; the
    distance is NaN where a cosine is (an all-zero point).
    """
    from bntheory.backend import to_numpy

    C = np.asarray(to_numpy(cosine(H)), dtype=np.float64)
    n = C.shape[-1]
    dists = []
    for k in range(n):
        ideal = np.ones((n, n))
        ideal[k, :] = 0.0
        ideal[:, k] = 0.0
        ideal[k, k] = 1.0
        dists.append(np.max(np.abs(C - ideal), axis=(-2, -1)))
    # NaN (a zero point, or a broken input) propagates: it is never a small distance.
    stacked = np.stack(dists, axis=-1)
    return np.min(stacked, axis=-1), np.argmin(stacked, axis=-1)


def orthogonality_gap(H: Array) -> Array:
    r"""Orthogonality gap :math:`V(H)=\big\|H^\top H/\|H\|_F^2-I_n/n\big\|_F` (Daneshmand et al. 2021; form [R])."""
    xp = array_namespace(H)
    G = gram(H)
    n = H.shape[-1]
    trace = xp.sum(xp.linalg.diagonal(G), axis=-1)
    diff = G / trace[..., None, None] - xp.eye(n, dtype=H.dtype) / n
    return xp.sqrt(xp.sum(diff * diff, axis=(-2, -1)))
