r"""NumPy kernels for the training-mode BN forward and backward: the same formulas, fewer memory passes.

The portable array-API path in :mod:`bntheory.norms.batch` makes one full-size temporary per operation,
so a large batch crosses main memory about ten times. Here the batch is cut into row blocks small
enough to stay in the L2 cache, every pass reads a block once and does its arithmetic in place, and
blocks are split between threads (NumPy releases the GIL inside ufuncs and reductions).

Statistics (where the one-pass form is safe, and where it is not). Per block, the sums
:math:`\sum x` and :math:`\sum x^2` are taken in the input dtype over a few dozen rows and accumulated in
float64 across blocks. The one-pass variance :math:`\frac1m\sum x^2-\mu^2` then has a relative error of
about :math:`u\,(1+\mu^2/\sigma^2)` with :math:`u` the unit roundoff, so it is used only where
:math:`\mu^2\le\kappa\,\sigma^2` for every channel (:data:`_ONE_PASS_KAPPA`). Otherwise the kernel falls
back to the centred two-pass form (mean first, then :math:`\sum (x-\mu)^2`), which has no cancellation.
The backward pass uses the same criterion for :math:`\sum_i\delta_i(x_i-\mu)`.

Outputs are the same as the portable path's, to rounding (checked in ``tests/test_transform.py``).

Floating-point warnings are silenced inside the kernels (once per call, and once per worker thread): a NaN, inf or
overflow in the input shows in the per-channel statistics, which :mod:`bntheory.norms.batch` screens
(:func:`forward_screened`, :func:`backward_screened`) and turns into one ValueError naming the argument.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from functools import cache

import numpy as np

__all__ = [
    "backward",
    "backward_screened",
    "backward_stacked",
    "forward",
    "forward_screened",
    "forward_stacked",
    "one_pass_is_safe",
]

# Elements per block: 2**18 (1 MiB in float32). Measured on 2-core EPYC: 2**16 to 2**19 are within 10%,
# smaller blocks lose to per-call overhead, larger ones fall out of L2.
_BLOCK_ELEMENTS = 1 << 18
# Below this size thread hand-off costs more than it saves.
_THREADED_ELEMENTS = 1 << 19
# At most this many elements: one direct pass per statistic (measured: 3x faster than blocking at 64 x 10).
_SMALL_ELEMENTS = 1 << 14
# Largest mu^2 / sigma^2 at which the one-pass sums keep about 4 * (1 + kappa) * u relative accuracy.
_ONE_PASS_KAPPA = 16.0


def forward(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float):
    """Training-mode forward; returns ``(y, mean, var, inv_std)``, statistics in float64."""
    return _forward(x, gamma, beta, eps, False)


def forward_screened(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float, out: np.ndarray | None = None):
    """:func:`forward` with the statistics in the dtype of `x`, and a screen: ``(y, mean, var, inv_std, finite)``.

    `y` is written into `out` when given (C-contiguous, shape and dtype of `x`, checked by the caller).

    `finite` is True when the statistics (in the dtype of `x`: float64 ones may overflow a float32), `gamma` and
    `beta` are all finite; False means that one of them is not, or that a product in the screen overflowed (the
    caller then checks entry by entry). See :func:`_screen`.
    """
    return _forward(x, gamma, beta, eps, True, out)


def _stats(dtype, screen: bool, mean, var, inv_std, gamma, beta) -> tuple:
    """The statistics to return: float64, or (screened) in `dtype`. Called inside an errstate block."""
    if not screen:
        return mean, var, inv_std
    if dtype != np.float64:
        mean, var, inv_std = mean.astype(dtype), var.astype(dtype), inv_std.astype(dtype)
    return mean, var, inv_std, _screen(mean, var, gamma, beta)


def _forward(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float, screen: bool, out=None):
    x = np.ascontiguousarray(x)
    x3 = _as_ncl(x)
    m = x3.shape[0] * x3.shape[2]
    if x.size <= _SMALL_ELEMENTS:
        y, *stats = _forward_small(x, x3, m, gamma, beta, eps, screen)
        if out is not None:  # small: the copy costs less than threading `out` through the unblocked forms
            np.copyto(out, y)
            y = out
        return y, *stats
    # A constant channel at eps = 0 gives inf here, a NaN in x NaN; transform.forward turns both into a ValueError.
    with np.errstate(all="ignore"):
        partials = _map_blocks(lambda sl: _raw_sums(x3[sl]), x3.shape)
        mean = _total(partials, 0) / m
        var = _total(partials, 1) / m - mean * mean
        if not one_pass_is_safe(mean, var):
            mean_c = _col(mean, x3, x.dtype)
            var = _total(_map_blocks(lambda sl: _centred_sumsq(x3[sl], mean_c), x3.shape), 0) / m
        inv_std = 1.0 / np.sqrt(var + eps)
        a = gamma * inv_std
        shift = beta - mean * a
        stats = _stats(x.dtype, screen, mean, var, inv_std, gamma, beta)
    a_c, b_c = _col(a, x3, x.dtype), _col(shift, x3, x.dtype)
    y = np.empty(x.shape, x.dtype) if out is None else out
    y3 = _as_ncl(y)

    def affine(sl):
        out = y3[sl]
        np.multiply(x3[sl], a_c, out=out)
        out += b_c

    with np.errstate(all="ignore"):
        _map_blocks(affine, x3.shape)
    return y, *stats


def backward(dy: np.ndarray, x: np.ndarray, mean: np.ndarray, var: np.ndarray, inv_std: np.ndarray,
             gamma: np.ndarray):
    """Closed-form backward from the forward input; returns ``(dx, dgamma, dbeta)``."""
    return _backward(dy, x, mean, var, inv_std, gamma, False)


def backward_screened(dy: np.ndarray, x: np.ndarray, mean: np.ndarray, var: np.ndarray, inv_std: np.ndarray,
                      gamma: np.ndarray):
    """:func:`backward` with the sums in the dtype of `dy`, screened: ``(dx, dgamma, dbeta, finite)``.

    See :func:`_screen`.
    """
    return _backward(dy, x, mean, var, inv_std, gamma, True)


def _sums(dtype, screen: bool, dgamma, dbeta) -> tuple:
    """The per-channel sums to return: float64, or (screened) in `dtype`. Called inside an errstate block."""
    if not screen:
        return dgamma, dbeta
    if dtype != np.float64:
        dgamma, dbeta = dgamma.astype(dtype), dbeta.astype(dtype)
    return dgamma, dbeta, _screen(dgamma, dbeta)


def _backward(dy, x, mean, var, inv_std, gamma, screen: bool):
    dy, x = np.ascontiguousarray(dy), np.ascontiguousarray(x)
    dy3, x3 = _as_ncl(dy), _as_ncl(x)
    m = dy3.shape[0] * dy3.shape[2]
    if x.size <= _SMALL_ELEMENTS:
        with np.errstate(all="ignore"):
            return _backward_small(dy, dy3, x3, m, mean, inv_std, gamma, screen)
    safe = one_pass_is_safe(mean, var)
    mean_c = _col(mean, x3, x.dtype)
    with np.errstate(all="ignore"):
        partials = _map_blocks(lambda sl: _grad_sums(dy3[sl], x3[sl], None if safe else mean_c), x3.shape)
        dbeta = _total(partials, 0)
        # sum_i dy_i x_hat_i = inv_std * sum_i dy_i (x_i - mean)
        dgamma = inv_std * (_total(partials, 1) - (mean * dbeta if safe else 0.0))
        k = gamma * inv_std / m
        # dx = k (m dy - dbeta - x_hat dgamma) = c1 dy + c2 (x - mean) + c0, the last two folded when safe.
        c1, c2 = k * m, -k * dgamma * inv_std
        c0 = -k * dbeta - (c2 * mean if safe else 0.0)
        sums = _sums(dy.dtype, screen, dgamma, dbeta)
    c1_c, c2_c, c0_c = (_col(v, x3, x.dtype) for v in (c1, c2, c0))
    dx = np.empty(dy.shape, dy.dtype)
    dx3 = _as_ncl(dx)

    def combine(sl):
        out = dx3[sl]
        if safe:
            np.multiply(x3[sl], c2_c, out=out)
        else:
            np.subtract(x3[sl], mean_c, out=out)
            out *= c2_c
        out += c0_c
        out += dy3[sl] * c1_c

    with np.errstate(all="ignore"):
        _map_blocks(combine, x3.shape)
    return dx, *sums


def _forward_small(x, x3, m, gamma, beta, eps, screen):
    # Small batches (deep narrow networks, symbolic-size checks): blocking and threads only cost call overhead
    # here, so the centred two-pass form is computed directly (no cancellation to guard against).
    if x.ndim == 2:
        return _forward_rows(x, m, gamma, beta, eps, screen)
    with np.errstate(all="ignore"):
        mean = x3.sum(axis=(0, 2), dtype=np.float64) / m
        centred = x3 - _col(mean, x3, x.dtype)
        var = np.einsum("ncl,ncl->c", centred, centred, dtype=np.float64) / m
        inv_std = 1.0 / np.sqrt(var + eps)
        y = centred * _col(gamma * inv_std, x3, x.dtype) + _col(beta, x3, x.dtype)
        return y.reshape(x.shape), *_stats(x.dtype, screen, mean, var, inv_std, gamma, beta)


def _forward_rows(x, m, gamma, beta, eps, screen):
    # (m, C) batches: per-channel vectors broadcast along rows, no reshapes (the deep-network hot path).
    with np.errstate(all="ignore"):
        mean = x.sum(axis=0, dtype=np.float64) / m
        centred = x - mean.astype(x.dtype, copy=False)
        var = np.einsum("nc,nc->c", centred, centred, dtype=np.float64) / m
        inv_std = 1.0 / np.sqrt(var + eps)
        centred *= (gamma * inv_std).astype(x.dtype, copy=False)
        centred += beta
        return centred, *_stats(x.dtype, screen, mean, var, inv_std, gamma, beta)


def _backward_rows(dy, x, m, mean, inv_std, gamma, screen):
    x_hat = (x - mean.astype(x.dtype, copy=False)) * inv_std.astype(x.dtype, copy=False)
    dbeta = dy.sum(axis=0, dtype=np.float64)
    dgamma = np.einsum("nc,nc->c", dy, x_hat, dtype=np.float64)
    k = gamma * inv_std / m
    x_hat *= (k * dgamma).astype(dy.dtype, copy=False)
    dx = dy * (k * m).astype(dy.dtype, copy=False)
    dx -= (k * dbeta).astype(dy.dtype, copy=False)
    dx -= x_hat
    return dx, *_sums(dy.dtype, screen, dgamma, dbeta)


def forward_stacked(x: np.ndarray, eps: float):
    r"""Training-mode BN with :math:`\gamma=1,\beta=0` of `B` independent batches stacked as ``(B, m, C)``, unchecked.

    Returns ``(x_hat, inv_std, var)``: :math:`\hat x_b=(x_b-\mu_b)/\sqrt{\sigma^2_b+\epsilon}`, and per batch and
    channel (shape ``(B, C)``) :math:`1/\sqrt{\sigma^2_b+\epsilon}` and the biased variance, taken over axis 1 only
    (Ioffe & Szegedy 2015, Algorithm 1), all in the dtype of `x`. The arithmetic of :func:`forward_screened` on
    ``(m, C)`` batches (the centred two-pass form, sums in float64) in the same order, so ``x_hat[b]`` and the
    statistics are what :func:`bntheory.norms.batch.forward` gives for ``x[b]`` with gamma = 1, beta = 0, whatever B
    (the sums over axis 1 run row by row).

    For callers that validate once at their public entry and then make many small BN calls in an inner loop (the
    deep linear networks of :mod:`bntheory.landscape.deep_linear`, whose per-call validation and dispatch would cost
    more than the arithmetic). A NaN, inf or overflow in ``x[b]`` shows as a non-finite ``var[b]``, which the caller
    screens (what :func:`forward_screened` screens); call it inside ``np.errstate(all="ignore")``.
    """
    m = x.shape[1]
    mean = x.sum(axis=1, dtype=np.float64) / m
    centred = x - mean.astype(x.dtype, copy=False)[:, None, :]
    var = np.einsum("bnc,bnc->bc", centred, centred, dtype=np.float64) / m
    inv_std = 1.0 / np.sqrt(var + eps)
    inv_std = inv_std.astype(x.dtype, copy=False)
    centred *= inv_std[:, None, :]
    return centred, inv_std, var.astype(x.dtype, copy=False)


def backward_stacked(dy: np.ndarray, x_hat: np.ndarray, inv_std: np.ndarray):
    r"""The backward pass through :func:`forward_stacked`, unchecked: ``(dx, dgamma, dbeta)``, sums of shape ``(B, C)``.

    :math:`\nabla_x\ell=\frac{1}{s}(\delta-\frac1m\sum_i\delta_i-\frac{\hat x}{m}\sum_i\delta_i\hat x_i)` per
    batch and channel (Ioffe & Szegedy 2015, §3, with :math:`\gamma=1`), in the order of :func:`backward_screened`
    (sums in float64, returned in the dtype of `dy`); a non-finite `dy` shows in the sums `dgamma`, `dbeta`, which the
    caller screens. Call it inside ``np.errstate(all="ignore")``.
    """
    m = dy.shape[1]
    dbeta = dy.sum(axis=1, dtype=np.float64)
    dgamma = np.einsum("bnc,bnc->bc", dy, x_hat, dtype=np.float64)
    k = inv_std / m
    dx = dy * (k * m).astype(dy.dtype, copy=False)[:, None, :]
    dx -= (k * dbeta).astype(dy.dtype, copy=False)[:, None, :]
    dx -= x_hat * (k * dgamma).astype(dy.dtype, copy=False)[:, None, :]
    return dx, dgamma.astype(dy.dtype, copy=False), dbeta.astype(dy.dtype, copy=False)


def _backward_small(dy, dy3, x3, m, mean, inv_std, gamma, screen):
    if dy.ndim == 2:
        return _backward_rows(dy, x3.reshape(dy.shape), m, mean, inv_std, gamma, screen)
    x_hat = (x3 - _col(mean, x3, x3.dtype)) * _col(inv_std, x3, x3.dtype)
    dbeta = dy3.sum(axis=(0, 2), dtype=np.float64)
    dgamma = np.einsum("ncl,ncl->c", dy3, x_hat, dtype=np.float64)
    k = gamma * inv_std / m
    dx = _col(k * m, x3, dy.dtype) * dy3 - _col(k * dbeta, x3, dy.dtype) - x_hat * _col(k * dgamma, x3, dy.dtype)
    return dx.reshape(dy.shape), *_sums(dy.dtype, screen, dgamma, dbeta)


def _screen(*vectors: np.ndarray) -> bool:
    """Whether every entry of the vectors (taken in pairs) is finite, or a product overflowed: one dot per pair.

    A NaN or inf entry of `a` or `b` makes ``a @ b`` NaN or infinite (inf * 0 is NaN, inf - inf is NaN), so a dot
    product screens two vectors, cheaper than ``isfinite(v).all()`` per vector. Called inside the kernels' errstate
    blocks (a product of huge finite values may overflow: the caller then checks the entries one by one).
    """
    total = 0.0
    for a, b in zip(vectors[::2], vectors[1::2], strict=True):
        total += np.dot(a, b)
    return math.isfinite(total)


def one_pass_is_safe(mean: np.ndarray, var: np.ndarray) -> bool:
    """Whether ``mean**2 <= kappa * var`` for every channel, so one-pass sums lose no accuracy."""
    return bool(np.all(mean * mean <= _ONE_PASS_KAPPA * var))


def _raw_sums(blk: np.ndarray):
    if blk.shape[2] == 1:
        b2 = blk[:, :, 0]
        return b2.sum(axis=0), np.einsum("nc,nc->c", b2, b2)
    return blk.sum(axis=(0, 2)), np.einsum("ncl,ncl->c", blk, blk)


def _centred_sumsq(blk: np.ndarray, mean_c: np.ndarray):
    d = blk - mean_c
    return (np.einsum("ncl,ncl->c", d, d),)


def _grad_sums(dy_blk: np.ndarray, x_blk: np.ndarray, mean_c: np.ndarray | None):
    xs = x_blk if mean_c is None else x_blk - mean_c
    if dy_blk.shape[2] == 1:
        d2 = dy_blk[:, :, 0]
        return d2.sum(axis=0), np.einsum("nc,nc->c", d2, xs[:, :, 0])
    return dy_blk.sum(axis=(0, 2)), np.einsum("ncl,ncl->c", dy_blk, xs)


def _total(partials: list, index: int) -> np.ndarray:
    """Sum the block partials of one kind in float64."""
    return np.sum([np.asarray(p[index], dtype=np.float64) for p in partials], axis=0)


def _as_ncl(x: np.ndarray) -> np.ndarray:
    """View a C-contiguous (m, C) or (N, C, *spatial) array as (N, C, L) without copying."""
    return x.reshape(x.shape[0], x.shape[1], -1)


def _col(v: np.ndarray, x3: np.ndarray, dtype) -> np.ndarray:
    return np.asarray(v, dtype=dtype).reshape(1, x3.shape[1], 1)


def _map_blocks(fn, shape: tuple[int, int, int]) -> list:
    """Call ``fn(row_slice)`` for every row block (threaded for large arrays); results in block order."""
    rows, per_row = shape[0], shape[1] * shape[2]
    step = max(1, _BLOCK_ELEMENTS // max(per_row, 1))
    slices = [slice(i, min(i + step, rows)) for i in range(0, rows, step)]
    workers = _workers()
    if workers == 1 or rows * per_row < _THREADED_ELEMENTS or len(slices) == 1:
        return [fn(sl) for sl in slices]
    # One contiguous run of blocks per thread keeps each thread's memory traffic sequential.
    runs = [run for run in np.array_split(np.arange(len(slices)), workers) if len(run)]

    def quiet(run):
        # errstate is per thread (a context variable): the callers' silence is set again in the worker.
        with np.errstate(all="ignore"):
            return [fn(slices[i]) for i in run]

    results = _pool().map(quiet, runs)
    return [r for run in results for r in run]


@cache
def _workers() -> int:
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


@cache
def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=_workers(), thread_name_prefix="bntheory")
