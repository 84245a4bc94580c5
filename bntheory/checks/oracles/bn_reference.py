r"""References for the BN transform's results, written from the definitions (Ioffe & Szegedy 2015; THEORY.md §1).

* mpmath (50 digits): inference-mode BN entry by entry, and the gradients of :math:`\ell=\sum\delta\odot\mathrm{BN}(x)`
  by central differences of Algorithm 1;
* exact rationals: Algorithm 2's population statistics and the unrolled running-statistics recursions of PyTorch
  and Keras (every float64 input is a :class:`~fractions.Fraction` exactly, so these are the true values of the
  formulas at the check's inputs);
* PyTorch (optional, imported lazily): ``BatchNorm1d/2d`` in eval mode with given buffers.

None of them calls :mod:`bntheory.norms.batch`.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

import mpmath
import numpy as np

from bntheory.checks.instances.batches import channel_major
from bntheory.checks.oracles.exact import exact_fraction
from bntheory.checks.oracles.mp import mp_batch_norm, mp_central_gradient

__all__ = [
    "direct_conv2d",
    "exact_population_stats",
    "exact_running_stats",
    "flat",
    "mp_batch_norm_gradients",
    "mp_inference",
    "torch_eval_batch_norm",
]


def mp_inference(x: np.ndarray, gamma, beta, mean, var, eps: float) -> np.ndarray:
    r"""Inference-mode BN entry by entry in mpmath at 50 digits, rounded to float64.

    :math:`\gamma_c(x-\mathrm E_c)/\sqrt{\mathrm{Var}_c+\epsilon}+\beta_c` of an ``(m, C)`` or
    ``(N, C, *spatial)`` array.
    """
    out = np.empty(x.shape)
    with mpmath.workdps(50):
        for idx in np.ndindex(*x.shape):
            k = idx[1]
            s = mpmath.sqrt(mpmath.mpf(var[k]) + mpmath.mpf(eps))
            out[idx] = float(mpmath.mpf(gamma[k]) * (mpmath.mpf(x[idx]) - mpmath.mpf(mean[k])) / s + beta[k])
    return out


def mp_batch_norm_gradients(x, gamma, beta, dy, eps: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""Gradients of :math:`\ell=\sum\delta\odot\mathrm{BN}_{\gamma,\beta}(x)` by 50-digit central differences.

    Returns :math:`\partial\ell/\partial x`, :math:`\partial\ell/\partial\gamma`, :math:`\partial\ell/\partial\beta`.
    """
    x, gamma, beta, dy = (np.asarray(a, dtype=np.float64) for a in (x, gamma, beta, dy))
    shape, channels = x.shape, x.shape[1]
    dy_rows = channel_major(dy)
    n = x.size

    def loss(params):
        xs, gs, bs = params[:n], params[n : n + channels], params[n + channels :]
        rows = channel_major(np.array(xs, dtype=object).reshape(shape))
        return mpmath.fsum(
            mpmath.fsum(d * y for d, y in zip(dy_rows[c], mp_batch_norm(rows[c], gs[c], bs[c], eps), strict=True))
            for c in range(channels)
        )

    grad = mp_central_gradient(loss, [*x.ravel(), *gamma, *beta])
    return grad[:n].reshape(shape), grad[n : n + channels], grad[n + channels :]


def flat(arrays) -> np.ndarray:
    """Arrays (NumPy-convertible) as one float64 vector, so errors are judged on the scale of the whole.

    ``dl/dx`` is exactly 0 for m = 2 at eps = 0 (x_hat = +-1 whatever x is) and tiny for small eps; an error
    relative to ``dl/dx`` alone would then measure rounding against nothing (THEORY.md §8).
    """
    return np.concatenate([np.ravel(np.asarray(a, dtype=np.float64)) for a in arrays])


def exact_population_stats(batches: Sequence[np.ndarray]) -> tuple[list[Fraction], list[Fraction]]:
    r"""Algorithm 2 in exact rationals, per channel.

    :math:`\mathrm E[x]=\frac1K\sum_B\mu_B`,
    :math:`\mathrm{Var}[x]=\frac1K\sum_B\frac1{m-1}\sum_{i\in B}(x_i-\mu_B)^2`.
    The variance is written as the average of the per-batch *unbiased* variances, which equals
    :math:`\frac m{m-1}\mathrm E_B[\sigma^2_B]` (the form under test) algebraically but not operation by operation.
    `m` counts the values of a channel in one batch (all axes but axis 1).
    """
    if not batches:
        raise ValueError("batches: need at least one mini-batch")
    channels = batches[0].shape[1]
    mean = [Fraction(0)] * channels
    var = [Fraction(0)] * channels
    for batch in batches:
        rows = channel_major(exact_fraction(batch))
        for c in range(channels):
            m = len(rows[c])
            mu = sum(rows[c], Fraction(0)) / m
            mean[c] += mu
            var[c] += sum(((v - mu) ** 2 for v in rows[c]), Fraction(0)) / (m - 1)
    k = len(batches)
    return [v / k for v in mean], [v / k for v in var]


def exact_running_stats(batches: Sequence[np.ndarray], weight_new: Fraction, unbiased: bool) -> tuple[list, list]:
    r"""The closed form :math:`r_T=(1-w)^T r_0+\sum_{t=1}^T w(1-w)^{T-t}v_t` in exact rationals, :math:`r_0=(0,1)`.

    `weight_new` is the weight :math:`w` of the new batch (PyTorch's momentum :math:`p`, Keras's :math:`1-q`);
    :math:`v_t` is the batch mean, or the biased or unbiased batch variance, computed exactly from the float64
    entries. Returns the final mean and variance rounded to float64.
    """
    steps = len(batches)
    channels = batches[0].shape[1]
    mean = [Fraction(0)] * channels
    var = [Fraction(1) * (1 - weight_new) ** steps] * channels
    for t, batch in enumerate(batches, start=1):
        decay = weight_new * (1 - weight_new) ** (steps - t)
        rows = channel_major(exact_fraction(batch))
        for c in range(channels):
            n = len(rows[c])
            mu = sum(rows[c], Fraction(0)) / n
            ss = sum(((v - mu) ** 2 for v in rows[c]), Fraction(0))
            mean[c] += decay * mu
            var[c] += decay * ss / (n - 1 if unbiased else n)
    return [float(v) for v in mean], [float(v) for v in var]


def direct_conv2d(u: np.ndarray, K: np.ndarray, b, *, padding: int = 0, groups: int = 1) -> np.ndarray:
    r"""2-D cross-correlation (a convolution layer) by explicit sums, float64, zero padding, grouped channels.

    :math:`y_{n,o,h,w}=c_o+\sum_{c\in g(o)}\sum_{i,j}K_{o,c,i,j}\,u_{n,c,h+i,w+j}` for ``u`` of shape
    ``(N, C_in, H, W)`` and ``K`` of shape ``(C_out, C_in / groups, k_h, k_w)``; ``b=None`` means :math:`c=0`.
    """
    u, K = np.asarray(u, np.float64), np.asarray(K, np.float64)
    n, c_in, h, w = u.shape
    c_out, per_group, kh, kw = K.shape
    if c_in != per_group * groups or c_out % groups:
        raise ValueError(f"K: shape {K.shape} does not fit {c_in} input channels in {groups} groups")
    up = np.pad(u, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    ho, wo = h + 2 * padding - kh + 1, w + 2 * padding - kw + 1
    out = np.zeros((n, c_out, ho, wo))
    for o in range(c_out):
        g = o // (c_out // groups)
        channels = up[:, g * per_group : (g + 1) * per_group]
        for i in range(kh):
            for j in range(kw):
                out[:, o] += np.einsum("nchw,c->nhw", channels[:, :, i : i + ho, j : j + wo], K[o, :, i, j])
        out[:, o] += 0.0 if b is None else b[o]
    return out


def torch_eval_batch_norm(spatial_dims: int, gamma, beta, mean, var, eps: float = 1e-5):
    """``torch.nn.BatchNorm1d`` (``spatial_dims`` 0) or ``BatchNorm2d`` (2) in float64 eval mode with these buffers."""
    import torch

    layer = {0: torch.nn.BatchNorm1d, 1: torch.nn.BatchNorm1d, 2: torch.nn.BatchNorm2d, 3: torch.nn.BatchNorm3d}
    bn = layer[spatial_dims](len(gamma), eps=eps).double().eval()
    with torch.no_grad():
        bn.weight.copy_(torch.from_numpy(np.asarray(gamma, np.float64)))
        bn.bias.copy_(torch.from_numpy(np.asarray(beta, np.float64)))
        bn.running_mean.copy_(torch.from_numpy(np.asarray(mean, np.float64)))
        bn.running_var.copy_(torch.from_numpy(np.asarray(var, np.float64)))
    return bn
