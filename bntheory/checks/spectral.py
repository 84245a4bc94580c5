r"""Checks of spectral estimates against a dense matrix the check built: SLQ moments and Lanczos interlacing.

Stochastic Lanczos quadrature (:func:`bntheory.curvature.spectrum.slq`) with :math:`k` steps per probe is a Gauss rule,
exact for polynomials of degree :math:`\le2k-1`: probe :math:`q` contributes
:math:`\sum_jw_j\theta_j^p=q^\top A^pq`. With Rademacher probes :math:`q=v/\sqrt D` this is Hutchinson's estimator
of :math:`\operatorname{tr}(A^p)/D`, unbiased, with the exact per-probe variance (Hutchinson 1990; Avron &
Toledo 2011)

.. math:: \operatorname{Var}(q^\top Bq)=\frac2{D^2}\Big(\|B\|_F^2-\sum_iB_{ii}^2\Big),\qquad B=A^p,

so the SLQ moments can be gated by a z-score whose error budget comes from the number of probes alone
(:func:`moment_scores`). Equal weights on the Ritz values get the moments wrong by far more than that budget.

Each probe's Ritz values are the eigenvalues of a compression :math:`Q^\top AQ` with orthonormal :math:`Q`, so
they interlace the eigenvalues of :math:`A` (Cauchy): :math:`\lambda_{i+D-k}\le\theta_i\le\lambda_i` in
decreasing order. Lanczos without re-orthogonalization loses :math:`Q`'s orthogonality once a Ritz value
converges and produces "ghost" copies of the extreme eigenvalues (Paige 1976), which break the interlacing
by a sizeable fraction of the spectral range (:func:`interlacing_violation`).

Run to exhaustion, Lanczos is exact: the Krylov space of :math:`q` is spanned by :math:`q`'s projections on the
eigenspaces of :math:`A`, so its dimension is the number of distinct eigenvalues :math:`q` sees (all of them for
a generic probe), the recurrence breaks down (:math:`\beta_k=0`) after exactly that many steps, and the Ritz
values are those eigenvalues (:func:`exhaustion_error`). A breakdown test that stops early or never stops
shows up as a wrong number of Ritz values.
"""

from __future__ import annotations

import numpy as np

from bntheory._torch_threads import one_blas_thread
from bntheory.checks.compare import Worst
from bntheory.checks.tolerances import SLQ_ROUNDING_FLOOR

__all__ = ["exhaustion_error", "interlacing_violation", "moment_scores", "numerical_rank"]


def moment_scores(nodes, weights, matrix, *, powers, probes: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""z-scores of a measure's moments against :math:`\operatorname{tr}(A^p)/D` of the dense symmetric `matrix`.

    The moments are taken of :math:`A/\rho` (:math:`\rho` the spectral radius, so that high powers stay of
    order one); the score of power :math:`p` is the error over the standard error
    :math:`\sqrt{\operatorname{Var}(q^\top B q)/K}`, :math:`B=(A/\rho)^p`, :math:`K` = `probes`.

    Returns
    -------
    scores, estimated, exact : ndarray
        Per power in `powers`.

    Raises
    ------
    ValueError
        If `matrix` is not square or `probes` < 1.
    """
    A = np.asarray(matrix, dtype=np.float64)
    if A.ndim != 2 or A.shape[0] != A.shape[1]:
        raise ValueError(f"matrix: expected a square matrix, got shape {A.shape}")
    if probes < 1:
        raise ValueError(f"probes: need at least one probe, got {probes}")
    with one_blas_thread():  # next to PyTorch's OpenMP pool, multi-threaded BLAS crawls (spectrum.eigenvalues)
        lam, U = np.linalg.eigh((A + A.T) / 2)
    rho = float(np.abs(lam).max())
    D = A.shape[0]
    nodes = np.asarray(nodes, dtype=np.float64) / rho
    weights = np.asarray(weights, dtype=np.float64)
    scores, est, exact = [], [], []
    for p in powers:
        B = (U * (lam / rho) ** p) @ U.T
        var = 2.0 * (np.sum(B * B) - np.sum(np.diag(B) ** 2)) / D**2
        estimate, truth = float(weights @ nodes**p), float(np.trace(B) / D)
        # Floor: moments of A / rho are O(1) and the Gauss rule rounds at ~1e-15 per step, so a zero-variance
        # case (a diagonal matrix) is judged on rounding instead of dividing by 0.
        standard_error = np.maximum(np.sqrt(np.maximum(var, 0.0) / probes), SLQ_ROUNDING_FLOOR.value)
        scores.append(abs(estimate - truth) / standard_error)
        est.append(estimate)
        exact.append(truth)
    return np.array(scores), np.array(est), np.array(exact)


def interlacing_violation(nodes, probe, eigenvalues) -> float:
    r"""Largest breach of Cauchy interlacing by any probe's Ritz values, relative to the spectral range.

    For a probe with :math:`k` Ritz values :math:`\theta_1\ge\dots\ge\theta_k` and eigenvalues
    :math:`\lambda_1\ge\dots\ge\lambda_D`: :math:`\max_i\max(\theta_i-\lambda_i,\ \lambda_{i+D-k}-\theta_i)`,
    over :math:`\lambda_1-\lambda_D`. NaN anywhere gives NaN.
    """
    lam = np.sort(np.asarray(eigenvalues, dtype=np.float64))[::-1]
    nodes, probe = np.asarray(nodes, dtype=np.float64), np.asarray(probe)
    if nodes.shape != probe.shape:
        raise ValueError(f"probe: expected one index per node, got shapes {probe.shape} and {nodes.shape}")
    D, span = lam.size, lam[0] - lam[-1]
    acc = Worst()
    for k in np.unique(probe):
        theta = np.sort(nodes[probe == k])[::-1]
        if theta.size > D:
            acc.add(np.inf, f"probe {k}: {theta.size} Ritz values for {D} eigenvalues")
            continue
        acc.add(np.concatenate([theta - lam[: theta.size], lam[D - theta.size :] - theta]) / span, f"probe {k}")
    return float(acc)


def exhaustion_error(nodes, probe, eigenvalues, *, resolution: float) -> tuple[float, int]:
    r"""How far Lanczos runs to exhaustion are from exact, relative to the spectral range.

    The distinct eigenvalues are those of `eigenvalues` after merging neighbours closer than `resolution` times
    the range :math:`\lambda_{\max}-\lambda_{\min}` (a null space computed in float64 is a cluster at
    ~1e-16). Each probe must have exactly one Ritz value per distinct eigenvalue (a generic probe sees every
    eigenspace), each within the returned error of an eigenvalue.

    Returns
    -------
    error : float
        The largest distance of a Ritz value to the nearest eigenvalue, over the range; inf when a probe has
        another number of Ritz values than there are distinct eigenvalues; NaN anywhere gives NaN.
    distinct : int
        The number of distinct eigenvalues (the dimension of a generic probe's Krylov space).
    """
    lam = np.sort(np.asarray(eigenvalues, dtype=np.float64))
    nodes, probe = np.asarray(nodes, dtype=np.float64), np.asarray(probe)
    if nodes.shape != probe.shape:
        raise ValueError(f"probe: expected one index per node, got shapes {probe.shape} and {nodes.shape}")
    span = lam[-1] - lam[0]
    distinct = 1 + int(np.sum(np.diff(lam) > resolution * span))
    acc = Worst()
    for k in np.unique(probe):
        theta = nodes[probe == k]
        if theta.size != distinct:
            acc.add(np.inf, f"probe {k}: {theta.size} Ritz values for {distinct} distinct eigenvalues")
            continue
        acc.add(np.min(np.abs(theta[:, None] - lam[None, :]), axis=1) / span, f"probe {k}")
    return float(acc), distinct


def numerical_rank(a: np.ndarray, rel_tol: float) -> int:
    """The number of singular values of `a` above `rel_tol` times the largest (0 for a zero matrix)."""
    s = np.linalg.svd(np.asarray(a, dtype=np.float64), compute_uv=False)
    return int(np.sum(s > rel_tol * s[0])) if s.size and s[0] > 0 else 0
