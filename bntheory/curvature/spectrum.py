r"""Spectra of symmetric linear operators from matrix-vector products: Lanczos and stochastic Lanczos quadrature.

For an operator :math:`A` (a ``scipy.sparse.linalg.LinearOperator``, e.g. the training-mode Hessian of
:func:`bntheory.curvature.network.hessian_operator`), `m` Lanczos steps from a random unit vector :math:`v` give a
tridiagonal :math:`T_m=Q\Theta Q^\top`; the Gauss quadrature rule with nodes :math:`\theta_j` and weights
:math:`(Q_{1j})^2` approximates :math:`v^\top f(A)v`. Averaging over random vectors gives the spectral density
:math:`\frac1D\sum_i\delta(\lambda-\lambda_i)` (stochastic Lanczos quadrature, as in Ghorbani, Krishnan & Xiao 2019,
arXiv:1901.10159, and PyHessian). Top eigenvalues come from ``scipy.sparse.linalg.eigsh`` (implicitly restarted
Lanczos); nothing here forms the matrix.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse.linalg

from bntheory._torch_threads import one_blas_thread
from bntheory.curvature._checks import as_array, check_rng, positive_int, real_number

__all__ = ["SpectralMeasure", "eigenvalues", "lanczos", "lanczos_block", "outlier_ratio", "slq", "wasserstein1"]


@dataclass(frozen=True)
class SpectralMeasure:
    """A discrete measure on the real line: `nodes` with non-negative `weights` (summing to 1 for SLQ's measures).

    `probe` (SLQ only) holds, for each node, the index of the random probe whose Lanczos run produced it.
    """

    nodes: np.ndarray
    weights: np.ndarray
    probe: np.ndarray | None = None

    def __post_init__(self) -> None:
        nodes = as_array(self.nodes, "nodes", "a 1-D array of points")
        weights = as_array(self.weights, "weights", "a 1-D array of non-negative weights")
        if nodes.ndim != 1 or nodes.size == 0 or weights.shape != nodes.shape:
            raise ValueError(
                f"nodes, weights: expected 1-D arrays of one positive length, got {nodes.shape}, {weights.shape}"
            )
        if np.any(weights < 0):
            raise ValueError(f"weights: expected non-negative weights, got a minimum of {weights.min()}")
        object.__setattr__(self, "nodes", nodes)
        object.__setattr__(self, "weights", weights)
        if self.probe is not None:
            probe = np.asarray(self.probe)
            if probe.shape != nodes.shape or not np.issubdtype(probe.dtype, np.integer):
                raise ValueError(f"probe: expected one integer index per node, shape {nodes.shape}, got {probe.shape}")
            object.__setattr__(self, "probe", probe)

    def density(self, grid: np.ndarray, width: float) -> np.ndarray:
        """The measure smoothed by a Gaussian of standard deviation `width`, on `grid` (1-D)."""
        grid = as_array(grid, "grid", "a 1-D array of points")
        if grid.ndim != 1:
            raise ValueError(f"grid: expected a 1-D array of points, got shape {grid.shape}")
        if not real_number(width, "width") > 0:
            raise ValueError(f"width: expected a positive standard deviation, got {width}")
        with np.errstate(over="ignore"):  # far from every node z * z overflows to inf and the density is 0
            z = (grid[:, None] - self.nodes[None, :]) / width
            return (np.exp(-0.5 * z * z) / (width * np.sqrt(2 * np.pi))) @ self.weights


def _operator(op: Any) -> scipy.sparse.linalg.LinearOperator:
    """`op` as a square ``LinearOperator`` (a matrix is accepted), or a ``TypeError``/``ValueError`` naming it."""
    if isinstance(op, list | tuple):
        op = as_array(op, "op", "a LinearOperator or a square matrix")
    try:
        op = scipy.sparse.linalg.aslinearoperator(op)
    except TypeError as exc:
        raise TypeError(f"op: expected a LinearOperator or a square matrix, got {type(op).__name__}") from exc
    if len(op.shape) != 2 or op.shape[0] != op.shape[1] or op.shape[0] == 0:
        raise ValueError(f"op: expected a square, non-empty operator, got shape {op.shape}")
    if np.issubdtype(op.dtype, np.complexfloating):
        raise TypeError(f"op: expected a real symmetric operator, got dtype {op.dtype}")
    return op


def lanczos(op, v0: np.ndarray, steps: int) -> tuple[np.ndarray, np.ndarray]:
    r"""`steps` Lanczos iterations with full re-orthogonalization; returns :math:`T`'s diagonal and off-diagonal.

    Stops early (shorter outputs) when the Krylov space is exhausted.
    """
    op = _operator(op)
    D = op.shape[0]
    steps = positive_int(steps, "steps")
    v0 = as_array(v0, "v0", f"a start vector of length {D}")
    if v0.shape != (D,):
        raise ValueError(f"v0: expected a start vector of shape ({D},), got {v0.shape}")
    scale = np.abs(v0).max()  # Lanczos depends on v0's direction only; scaling first keeps huge entries finite
    if scale == 0:
        raise ValueError("v0: expected a non-zero start vector, got zeros")
    return _lanczos_rows(op, (v0 / scale)[None, :], steps)[0]


def lanczos_block(op, V0: np.ndarray, steps: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """:func:`lanczos` from each row of `V0` (K, D), the K recurrences side by side: one ``matmat`` per step.

    Each row's recurrence is its own (its coefficients, its re-orthogonalization against its own basis, its own
    breakdown); they only share the operator's products, so K probes cost `steps` block products, not K·steps
    vector products and K·steps Python iterations. Returns one (diagonal, off-diagonal) pair per row.
    """
    op = _operator(op)
    D = op.shape[0]
    steps = positive_int(steps, "steps")
    V0 = as_array(V0, "V0", f"a (K, {D}) block of start vectors")
    if V0.ndim != 2 or V0.shape[1] != D or V0.shape[0] == 0:
        raise ValueError(f"V0: expected a (K, {D}) block of start vectors with K >= 1, got shape {V0.shape}")
    scale = np.abs(V0).max(axis=1, keepdims=True)  # Lanczos depends on a row's direction only (see lanczos)
    if np.any(scale == 0):
        raise ValueError(f"V0: expected non-zero start vectors, got zero rows {np.flatnonzero(scale[:, 0] == 0)}")
    return _lanczos_rows(op, V0 / scale, steps)


def _lanczos_rows(op, V0: np.ndarray, steps: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """:func:`lanczos_block` on checked arguments."""
    K, D = V0.shape
    m = min(steps, D)
    Q = np.zeros((m, K, D))  # Q[k, i]: probe i's k-th Lanczos vector
    alpha, beta = np.zeros((m, K)), np.zeros((m, K))
    length = np.full(K, m)  # number of Lanczos steps each probe ran
    live = np.arange(K)
    q = V0 / np.linalg.norm(V0, axis=1, keepdims=True)
    for k in range(m):
        Q[k, live] = q
        W = np.asarray(op.matmat(q.T)).T
        a = np.einsum("id,id->i", q, W)
        W = W - a[:, None] * q - (beta[k - 1, live, None] * Q[k - 1, live] if k else 0.0)
        basis = Q[: k + 1, live]
        for _ in range(2):  # full re-orthogonalization (twice is enough)
            W -= np.einsum("jid,ji->id", basis, np.einsum("jid,id->ji", basis, W))
        alpha[k, live] = a
        b = np.linalg.norm(W, axis=1)
        done = (b < 1e-12 * np.maximum(np.abs(a), 1.0)) | (k == m - 1)
        length[live[done]] = k + 1
        beta[k, live] = b
        live, q = live[~done], W[~done] / b[~done, None]
        if live.size == 0:
            break
    return [(alpha[:n, i].copy(), beta[: n - 1, i].copy()) for i, n in enumerate(length)]


def slq(op, rng: np.random.Generator, *, steps: int = 80, vectors: int = 10) -> SpectralMeasure:
    r"""Stochastic Lanczos quadrature: the spectral measure of `op` from `vectors` random Rademacher probes.

    For each probe :math:`q=v/\|v\|`, :math:`v\in\{\pm1\}^D`, `steps` Lanczos steps give
    :math:`T=Q\Theta Q^\top`; the probe contributes nodes :math:`\theta_j` with weights :math:`(Q_{1j})^2/K`
    (:math:`K` = `vectors`). The rule is exact for polynomials of degree :math:`\le 2\,\text{steps}-1`:
    :math:`\sum_jQ_{1j}^2\theta_j^p=q^\top A^pq`, whose mean over probes is :math:`\operatorname{tr}(A^p)/D`.
    The probes' recurrences run side by side (one block product per step).
    """
    op = _operator(op)
    check_rng(rng)
    steps = positive_int(steps, "steps")
    vectors = positive_int(vectors, "vectors")
    V = np.stack([rng.choice([-1.0, 1.0], size=op.shape[0]) for _ in range(vectors)])
    runs = lanczos_block(op, V, steps)
    nodes, weights = [np.empty(0)] * vectors, [np.empty(0)] * vectors
    lengths = np.array([a.size for a, _ in runs])
    for n in np.unique(lengths):  # the probes whose recurrence ran n steps: one batched eigh of their T (n x n)
        ks = np.flatnonzero(lengths == n)
        T = np.zeros((ks.size, n, n))
        i = np.arange(n)
        T[:, i, i] = [runs[k][0] for k in ks]
        T[:, i[1:], i[:-1]] = T[:, i[:-1], i[1:]] = [runs[k][1] for k in ks]
        theta, Q = np.linalg.eigh(T)
        for k, t, w in zip(ks, theta, Q[:, 0, :] ** 2 / vectors, strict=True):
            nodes[k], weights[k] = t, w
    probe = np.repeat(np.arange(vectors), lengths)
    return SpectralMeasure(np.concatenate(nodes), np.concatenate(weights), probe)


def wasserstein1(a: SpectralMeasure, b: SpectralMeasure) -> float:
    """Earth mover's distance between two discrete measures on the line: the L1 distance of their CDFs."""
    for name, m in (("a", a), ("b", b)):
        if not isinstance(m, SpectralMeasure):
            raise TypeError(f"{name}: expected a SpectralMeasure, got {type(m).__name__}")
    grid = np.sort(np.concatenate([a.nodes, b.nodes]))
    cdf = [np.array([w[n <= x].sum() for x in grid]) for n, w in ((a.nodes, a.weights), (b.nodes, b.weights))]
    return float(np.sum(np.abs(cdf[0] - cdf[1])[:-1] * np.diff(grid)))


def eigenvalues(matrix) -> np.ndarray:
    r"""Eigenvalues of the symmetric part :math:`(A+A^\top)/2` of a dense matrix, ascending (LAPACK ``syevd``).

    Runs with one BLAS thread: next to PyTorch's OpenMP pool, a two-thread OpenBLAS ``eigvalsh`` of a 412 x 412
    matrix was measured at 3-5 s instead of 0.05 s.
    """
    A = as_array(matrix, "matrix", "a real square matrix")
    if A.ndim != 2 or A.shape[0] != A.shape[1] or A.size == 0:
        raise ValueError(f"matrix: expected a non-empty square matrix, got shape {A.shape}")
    with one_blas_thread():
        return np.linalg.eigvalsh((A + A.T) / 2)


def outlier_ratio(eigenvalues, *, bulk_quantile: float = 0.95) -> float:
    r"""How far the top eigenvalue stands out of the bulk: :math:`\lambda_{\max}/q_{0.95}(|\lambda_i|)`.

    The bulk's scale is the `bulk_quantile` quantile of the absolute eigenvalues (a choice made for
    :mod:`ghorbani2019`'s check; Ghorbani, Krishnan & Xiao 2019 call the few eigenvalues far above the bulk
    "outliers").
    """
    ev = as_array(eigenvalues, "eigenvalues", "a 1-D array of at least 2 real values")
    if ev.ndim != 1 or ev.size < 2:
        raise ValueError(f"eigenvalues: expected a 1-D array of at least 2 values, got shape {ev.shape}")
    if not 0 < real_number(bulk_quantile, "bulk_quantile") < 1:
        raise ValueError(f"bulk_quantile: must lie strictly between 0 and 1, got {bulk_quantile}")
    bulk = np.quantile(np.abs(ev), bulk_quantile)
    if not bulk > 0:
        raise ValueError(
            f"eigenvalues: the bulk's scale (the {bulk_quantile} quantile of |lambda|) is 0: the ratio is undefined; "
            "pass a spectrum with a non-zero bulk or a higher bulk_quantile"
        )
    return float(ev.max() / bulk)
