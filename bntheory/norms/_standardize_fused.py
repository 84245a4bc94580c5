r"""Compiled (numba) LayerNorm and RMSNorm over trailing axes: the formulas of :mod:`bntheory.norms.standardize`.

For `x` viewed as ``(rows, m)`` (the leading axes flattened, the `m` normalized entries of a row contiguous),
the forward pass takes a row's statistics in float64 while the row is in the L1 cache (two-pass: the mean, then
:math:`\sum(x-\mu)^2`; RMSNorm: :math:`\sum x^2`) and writes :math:`\hat x` and :math:`y=\gamma\odot\hat x+\beta`
in one more sweep of it; the backward pass, with :math:`g=\gamma\odot\delta`, takes :math:`\overline{g\hat x}`
and :math:`\bar g` per row and writes

.. math:: \nabla_x\ell=\tfrac1s\big(g-\hat x\,\overline{g\hat x}-\bar g\,\mathbf 1\big)

(no :math:`\bar g` term for RMSNorm; THEORY-2.md §9.2 [D]), accumulating :math:`\sum_{\text{rows}}\delta\hat x`
and :math:`\sum_{\text{rows}}\delta` for the affine gradients in per-thread float64 partials. Rows are split
into one contiguous run per thread of the NumPy kernels' pool (the loops release the GIL). Selected by
:mod:`bntheory.norms.layer` and :mod:`bntheory.norms.standardize` through :mod:`bntheory.norms._compiled`.
"""

from __future__ import annotations

import numba
import numpy as np

from bntheory.norms._batch_fused import _map_rows

__all__ = ["backward", "forward"]


def forward(x: np.ndarray, gamma: np.ndarray | None, beta: np.ndarray | None, eps: float, center: bool, m: int):
    """``(y, x_hat, inv_std)`` of `x` normalized over its trailing `m` entries; `inv_std` of shape ``(rows,)``."""
    x2 = np.ascontiguousarray(x).reshape(-1, m)
    ones = np.ones(m, x.dtype)
    g = ones if gamma is None else np.ascontiguousarray(gamma).reshape(m)
    b = np.zeros(m, x.dtype) if beta is None else np.ascontiguousarray(beta).reshape(m)
    y, x_hat = np.empty_like(x2), np.empty_like(x2)
    inv_std = np.empty(x2.shape[0], x.dtype)
    _map_rows(x2.shape[0], lambda r0, r1: _forward_rows(x2, g, b, float(eps), center, y, x_hat, inv_std, r0, r1))
    return y.reshape(x.shape), x_hat.reshape(x.shape), inv_std


def backward(dy: np.ndarray, x_hat: np.ndarray, inv_std: np.ndarray, gamma: np.ndarray | None, center: bool, m: int):
    """``(dx, dgamma, dbeta)`` with `dgamma`, `dbeta` of shape ``(m,)`` in float64 (the caller casts them)."""
    dy2 = np.ascontiguousarray(dy).reshape(-1, m)
    xh2 = np.ascontiguousarray(x_hat).reshape(-1, m)
    r = np.ascontiguousarray(inv_std).reshape(-1)
    g = np.ones(m, dy.dtype) if gamma is None else np.ascontiguousarray(gamma).reshape(m)
    dx = np.empty_like(dy2)

    def run(r0, r1):
        dgamma, dbeta = np.zeros(m), np.zeros(m)
        _backward_rows(dy2, xh2, r, g, center, dx, dgamma, dbeta, r0, r1)
        return dgamma, dbeta

    parts = _map_rows(dy2.shape[0], run)
    return dx.reshape(dy.shape), np.sum([p[0] for p in parts], axis=0), np.sum([p[1] for p in parts], axis=0)


# Reassociation lets LLVM vectorize the row sums (true reductions); it changes only the order of the float64
# additions. No other fast-math flag: NaN and inf must propagate, and 1/0 is inf (NumPy's error model), which
# the caller reports as the reference does.
_jit = numba.njit(nogil=True, cache=True, fastmath={"reassoc"}, error_model="numpy")


@_jit
def _forward_rows(x, gamma, beta, eps, center, y, x_hat, inv_std, r0, r1):  # pragma: no cover - compiled
    m = x.shape[1]
    for i in range(r0, r1):
        mean = 0.0
        if center:
            s = 0.0
            for j in range(m):
                s += np.float64(x[i, j])
            mean = s / m
        q = 0.0
        for j in range(m):
            v = np.float64(x[i, j]) - mean
            q += v * v
        r = 1.0 / np.sqrt(q / m + eps)
        inv_std[i] = r
        for j in range(m):
            x_hat[i, j] = (np.float64(x[i, j]) - mean) * r
            # y from the stored (rounded) x_hat, in the input dtype, as the portable path computes it.
            y[i, j] = x_hat[i, j] * gamma[j] + beta[j]


@_jit
def _backward_rows(dy, x_hat, inv_std, gamma, center, dx, dgamma, dbeta, r0, r1):  # pragma: no cover - compiled
    m = dy.shape[1]
    for i in range(r0, r1):
        a = 0.0
        b = 0.0
        for j in range(m):
            g = np.float64(dy[i, j]) * gamma[j]
            a += g * x_hat[i, j]
            b += g
        a /= m
        b = b / m if center else 0.0
        r = np.float64(inv_std[i])
        for j in range(m):
            d = np.float64(dy[i, j])
            h = np.float64(x_hat[i, j])
            dx[i, j] = (d * gamma[j] - h * a - b) * r
            dgamma[j] += d * h
            dbeta[j] += d
