r"""Compiled (numba) kernels for the training-mode BN forward and backward: two passes each, fused.

The NumPy kernels of :mod:`bntheory.norms._batch_kernels` stay the reference; these compute the same
formulas (Ioffe & Szegedy 2015, Algorithm 1 and §3) with the fewest passes over memory that the formulas
allow, each pass one compiled loop: the forward reads `x` for the statistics and reads it again to write
`y` (three array-sized transfers against a copy's two, hence at most 2/3 of a copy's bandwidth); the
backward reads `dy` and `x` for its two sums and again to write `dx`. Work is split into one contiguous run
of rows per thread of the NumPy kernels' pool; the loops release the GIL (``nogil``), so numba's own
threading layer is not used and concurrent callers are safe. Kernels are compiled on first use per dtype and
cached on disk (``cache=True``; numba's cache directory rules apply, ``NUMBA_CACHE_DIR`` overrides).

Statistics. Every sum is taken in the input dtype over blocks of :math:`b` = ``_INNER`` rows, and the blocks'
sums are added in float64 (error about :math:`b\,u + (m/b)\,u_{64}`, with :math:`u` the input's unit roundoff,
instead of :math:`m\,u`). The values are shifted by the first sample of each channel, :math:`K_c`, before
summing (the shifted-data one-pass variance), so

.. math:: \sigma^2 = \tfrac1m\textstyle\sum (x-K)^2 - (\mu-K)^2

loses about :math:`u\,(1+(\mu-K)^2/\sigma^2)` relative accuracy: the one-pass form is used where
:math:`(\mu-K)^2 \le \kappa\sigma^2` (the criterion of the NumPy kernels, which shift by 0), and the
centred two-pass form otherwise. The backward sum :math:`\sum\delta(x-\mu)` is taken the same way.

Outputs are new arrays, as NumPy's and PyTorch's are, unless the caller gives one (`out` of the forward, from
:func:`bntheory.norms.batch.forward`): the operating system zeroes the fresh pages of a new output, which costs the
out-of-cache forward a third of its speed (measured: 55-63% of a copy's bandwidth, 80-90% into a given output). A
pool of dead outputs would skip that behind the user's back, keeping up to its size of memory alive and relying on
reference counts, so it is not done.

Only the ``(m, C)`` layout (one feature per column, rows contiguous) is compiled here; it is selected by
:mod:`bntheory.norms.batch` for NumPy inputs (see its ``_kernels``). Image layouts ``(N, C, *spatial)`` stay on
the NumPy kernels: a first compiled version of their per-run reductions was slower than NumPy's.
"""

from __future__ import annotations

import numba
import numpy as np

from bntheory.norms import _batch_kernels as _ref

__all__ = ["backward", "backward_screened", "forward", "forward_screened"]

# Rows per block summed in the input dtype, by itemsize: short enough that a block's rounding error stays about
# that of the NumPy kernels' pairwise sums (a few units of the dtype's roundoff), long enough that adding the
# blocks' sums in float64 costs little. In float32 this halves the statistics pass's arithmetic (16 lanes, not
# 8); measured single-threaded on (4096, 1024): 1.9 ms against 3.2 ms with float64 sums, float64 unchanged.
_INNER = {4: 16, 8: 256}
# Largest (mu - K)^2 / sigma^2 at which the one-pass sums are used (as in the NumPy kernels).
_KAPPA = _ref._ONE_PASS_KAPPA


def forward(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float, out: np.ndarray | None = None):
    """Training-mode forward of an ``(m, C)`` batch; returns ``(y, mean, var, inv_std)``, statistics in float64.

    `y` is written into `out` when given (C-contiguous, shape and dtype of `x`).
    """
    x = np.ascontiguousarray(x)
    m = x.shape[0]
    shift = x[0].astype(np.float64)
    s1, s2 = _sums(_moments, x, x, shift)
    d = s1 / m  # mean - K
    mean = shift + d
    var = s2 / m - d * d
    if not _one_pass_is_safe(d, var):
        _, s2 = _sums(_moments, x, x, mean)
        var = s2 / m
    # A constant channel at eps = 0 gives inf here; transform.forward turns that into a ValueError.
    with np.errstate(divide="ignore", invalid="ignore"):
        inv_std = 1.0 / np.sqrt(var + eps)
        a = gamma * inv_std
        b = beta - mean * a
    y = np.empty(x.shape, x.dtype) if out is None else out
    coef = np.stack([a, b]).astype(x.dtype)
    _map_rows(m, lambda r0, r1: _affine(x, coef, y, r0, r1))
    return y, mean, var, inv_std


def backward(dy: np.ndarray, x: np.ndarray, mean: np.ndarray, var: np.ndarray, inv_std: np.ndarray, gamma: np.ndarray):
    """Closed-form backward of an ``(m, C)`` batch from the forward input; returns ``(dx, dgamma, dbeta)``."""
    dy, x = np.ascontiguousarray(dy), np.ascontiguousarray(x)
    m = x.shape[0]
    shift = x[0].astype(np.float64)
    d = mean - shift
    if not _one_pass_is_safe(d, var):
        shift, d = mean, np.zeros_like(mean)
    dbeta, s = _sums(_grad_sums, dy, x, shift)
    # sum_i dy_i x_hat_i = inv_std * sum_i dy_i (x_i - mean) = inv_std * (sum_i dy_i (x_i - K) - (mean - K) dbeta)
    dgamma = inv_std * (s - d * dbeta)
    k = gamma * inv_std / m
    # dx = k (m dy - dbeta - x_hat dgamma) = c2 x + c0 + c1 dy, with the mean folded into c0.
    c1, c2 = k * m, -k * dgamma * inv_std
    c0 = -k * dbeta - c2 * mean
    coef = np.stack([c2, c0, c1]).astype(x.dtype)
    dx = np.empty(dy.shape, dy.dtype)
    _map_rows(m, lambda r0, r1: _combine(dy, x, coef, dx, r0, r1))
    return dx, dgamma, dbeta


def forward_screened(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float, out: np.ndarray | None = None):
    """:func:`forward` with the statistics in the dtype of `x` and the NumPy kernels' finiteness screen.

    Returns ``(y, mean, var, inv_std, finite)`` as :func:`bntheory.norms._batch_kernels.forward_screened`.
    """
    with np.errstate(all="ignore"):  # NaN and inf show in the screen; the caller raises
        y, mean, var, inv_std = forward(x, gamma, beta, eps, out)
        return y, *_ref._stats(x.dtype, True, mean, var, inv_std, gamma, beta)


def backward_screened(dy: np.ndarray, x: np.ndarray, mean: np.ndarray, var: np.ndarray, inv_std: np.ndarray,
                      gamma: np.ndarray):
    """:func:`backward` with the sums in the dtype of `dy`, screened: ``(dx, dgamma, dbeta, finite)``."""
    with np.errstate(all="ignore"):
        dx, dgamma, dbeta = backward(dy, x, mean, var, inv_std, gamma)
        return dx, *_ref._sums(dy.dtype, True, dgamma, dbeta)


def _one_pass_is_safe(d: np.ndarray, var: np.ndarray) -> bool:
    return bool(np.all(d * d <= _KAPPA * var))


def _sums(kernel, a: np.ndarray, b: np.ndarray, shift: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The two per-channel float64 sums of `kernel` over all rows, one run of rows per thread."""

    def run(r0, r1):
        s1, s2 = np.zeros(a.shape[1]), np.zeros(a.shape[1])
        kernel(a, b, shift, r0, r1, s1, s2, _INNER[a.dtype.itemsize])
        return s1, s2

    parts = _map_rows(a.shape[0], run)
    return np.sum([p[0] for p in parts], axis=0), np.sum([p[1] for p in parts], axis=0)


def _map_rows(rows: int, fn) -> list:
    """Call ``fn(r0, r1)`` on one contiguous run of rows per thread of the NumPy kernels' pool."""
    workers = min(_ref._workers(), rows)
    if workers == 1:
        return [fn(0, rows)]
    bounds = [rows * i // workers for i in range(workers + 1)]
    return list(_ref._pool().map(lambda i: fn(bounds[i], bounds[i + 1]), range(workers)))


_jit = numba.njit(nogil=True, cache=True)


@_jit
def _moments(x, _unused, shift, r0, r1, s1, s2, inner):  # pragma: no cover - compiled
    # s1 += sum (x - K), s2 += sum (x - K)^2 over rows r0..r1, per channel: in the input dtype over blocks of
    # `inner` rows (as the NumPy kernels sum a block), the blocks' sums added in float64.
    channels = x.shape[1]
    k = shift.astype(x.dtype)
    t1, t2 = np.zeros(channels, x.dtype), np.zeros(channels, x.dtype)
    for start in range(r0, r1, inner):
        t1[:] = 0.0
        t2[:] = 0.0
        for i in range(start, min(start + inner, r1)):
            for c in range(channels):
                v = x[i, c] - k[c]
                t1[c] += v
                t2[c] += v * v
        for c in range(channels):
            s1[c] += t1[c]
            s2[c] += t2[c]


@_jit
def _grad_sums(dy, x, shift, r0, r1, s1, s2, inner):  # pragma: no cover - compiled
    # s1 += sum dy, s2 += sum dy (x - K) over rows r0..r1, per channel, blocked as in _moments.
    channels = x.shape[1]
    k = shift.astype(x.dtype)
    t1, t2 = np.zeros(channels, x.dtype), np.zeros(channels, x.dtype)
    for start in range(r0, r1, inner):
        t1[:] = 0.0
        t2[:] = 0.0
        for i in range(start, min(start + inner, r1)):
            for c in range(channels):
                g = dy[i, c]
                t1[c] += g
                t2[c] += g * (x[i, c] - k[c])
        for c in range(channels):
            s1[c] += t1[c]
            s2[c] += t2[c]


@_jit
def _affine(x, coef, y, r0, r1):  # pragma: no cover - compiled
    # y = x * a + b in the input dtype, rounded twice as the NumPy kernel does (no fused multiply-add).
    a, b = coef[0], coef[1]
    for i in range(r0, r1):
        for c in range(x.shape[1]):
            y[i, c] = x[i, c] * a[c] + b[c]


@_jit
def _combine(dy, x, coef, dx, r0, r1):  # pragma: no cover - compiled
    # dx = (x * c2 + c0) + dy * c1, in the NumPy kernel's order of operations.
    c2, c0, c1 = coef[0], coef[1], coef[2]
    for i in range(r0, r1):
        for c in range(x.shape[1]):
            dx[i, c] = (x[i, c] * c2[c] + c0[c]) + dy[i, c] * c1[c]
