r"""Rank and geometry of a batch of representations: numerical, stable and soft rank, Gram, cosines, d_max, gap.

The measures of Nachum et al. 2024 and Daneshmand et al. 2020/2021, for :math:`H\in\mathbb R^{d\times n}` (batch in
columns) or a stack ``(S, d, n)`` of them, on any array-API backend.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from array_api_compat import array_namespace

from bntheory._validation import check_float_array, check_real

__all__ = ["cosine", "d_max", "gram", "numerical_rank", "orthogonality_gap", "soft_rank", "stable_rank"]

Array = Any


def _svdvals(H: Array) -> Array:
    return array_namespace(H).linalg.svdvals(H)


def _check(H: Array, *, svd: bool = False) -> Any:
    """Validate a batch (or stack of batches) H: real floating, at least 2-D, non-empty, finite."""
    xp = check_float_array(H, "H", min_ndim=2, finite=True)
    if H.shape[-1] == 0 or H.shape[-2] == 0:
        raise ValueError(f"H: expected at least one feature and one point, got shape {tuple(H.shape)}; pass a batch")
    if svd and H.dtype == getattr(xp, "float16", None):
        raise TypeError("H: the SVD is not implemented for float16; cast H to float32")
    return xp


def _unit_scale(H: Array, xp: Any) -> Array:
    r"""`H` with each matrix of the stack multiplied by a power of two that brings its largest entry into [1/2, 1).

    For the scale-invariant measures: products such as :math:`\sigma_i^4` or :math:`H^\top H` of an `H` near 1e200
    overflow, of one near 1e-200 underflow. A power of two scales exactly (no rounding), so for inputs that did not
    overflow the measures are bit for bit what they were without it.
    """
    from bntheory.backend import asarray, to_numpy

    largest = np.asarray(to_numpy(xp.max(xp.abs(H), axis=(-2, -1), keepdims=True)), dtype=np.float64)
    _, exponent = np.frexp(largest)
    # The scale itself must be representable in H's dtype (2**-1000 is not a float32).
    limit = int(np.log2(float(xp.finfo(H.dtype).max))) - 1
    scale = np.ldexp(1.0, np.clip(-exponent, -limit, limit))
    scale[largest == 0] = 1.0
    return H * asarray(scale, xp, dtype=H.dtype)


def numerical_rank(H: Array, tol: float | None = None) -> tuple[Array, Array]:
    r"""Number of singular values above a tolerance, and the tolerance used (per matrix of the stack).

    The default tolerance is NumPy's: :math:`\sigma_{\max}\cdot\max(d,n)\cdot\varepsilon` of the dtype, so a
    float32 run reports a smaller rank than float64 on the same matrix (THEORY.md §5.1): always report
    the tolerance with the rank.
    """
    xp = _check(H, svd=True)
    if tol is not None:
        tol = check_real(tol, "tol", low=0.0)
    s = _svdvals(H)
    if tol is None:
        eps = float(xp.finfo(H.dtype).eps)
        tol_arr = s[..., 0] * max(H.shape[-2], H.shape[-1]) * eps
    else:
        tol_arr = xp.full(s.shape[:-1], float(tol), dtype=s.dtype)
    return xp.sum(xp.astype(s > tol_arr[..., None], xp.int64), axis=-1), tol_arr


def stable_rank(H: Array) -> Array:
    r"""Stable rank :math:`\|H\|_F^2/\|H\|_2^2` (scale invariant: computed from `H` scaled to unit size)."""
    xp = _check(H, svd=True)
    s = _svdvals(_unit_scale(H, xp))
    return xp.sum(s * s, axis=-1) / s[..., 0] ** 2


def soft_rank(H: Array) -> Array:
    r"""Soft rank of Daneshmand et al. 2020.

    .. math:: r(H)=\operatorname{tr}(HH^\top)^2/\|HH^\top\|_F^2=\Big(\sum_i\sigma_i^2\Big)^2\Big/\sum_i\sigma_i^4

    Scale invariant, so computed from `H` scaled to unit size (:math:`\sigma^4` of an `H` near 1e100 overflows).
    """
    xp = _check(H, svd=True)
    s2 = _svdvals(_unit_scale(H, xp)) ** 2
    return xp.sum(s2, axis=-1) ** 2 / xp.sum(s2 * s2, axis=-1)


def gram(H: Array, *, strict: bool = True) -> Array:
    r"""Batch Gram matrix :math:`H^\top H` (n × n: inner products of the batch points).

    `strict` checks the values (the default); ``False`` skips that, for callers that watch for NaN themselves.

    Raises
    ------
    ValueError
        With `strict`, if `H` has NaN or inf entries, or :math:`H^\top H` overflows (entries near 1e154 in float64).
    """
    if not strict:
        return _gram(H, array_namespace(H))
    xp = _check(H)
    G = _gram(H, xp)
    if not bool(xp.all(xp.isfinite(G))):
        raise ValueError("H: its Gram matrix H^T H overflows; rescale H (divide it by a constant)")
    return G


def _gram(H: Array, xp: Any) -> Array:
    with np.errstate(over="ignore"):
        return xp.matrix_transpose(H) @ H


def cosine(H: Array) -> Array:
    r"""Cosine matrix of the batch points: :math:`G_{ij}/\sqrt{G_{ii}G_{jj}}`; an all-zero point gives NaN entries.

    Scale invariant, so computed from `H` scaled to unit size.
    """
    xp = _check(H)
    G = gram(_unit_scale(H, xp), strict=False)
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
    r"""Orthogonality gap :math:`V(H)=\big\|H^\top H/\|H\|_F^2-I_n/n\big\|_F` (Daneshmand et al. 2021; form [R]).

    Scale invariant, so computed from `H` scaled to unit size.
    """
    xp = _check(H)
    if bool(xp.any(xp.all(H == 0, axis=(-2, -1)))):
        raise ValueError("H: a batch is zero, so H^T H / ||H||_F^2 is 0/0; pass a non-zero batch")
    G = gram(_unit_scale(H, xp), strict=False)
    n = H.shape[-1]
    trace = xp.sum(xp.linalg.diagonal(G), axis=-1)
    diff = G / trace[..., None, None] - xp.eye(n, dtype=H.dtype) / n
    return xp.sqrt(xp.sum(diff * diff, axis=(-2, -1)))
