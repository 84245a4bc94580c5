r"""Independent oracles: references written from the definitions, never from the formulas under test.

* mpmath at high precision: Algorithm 1 of Ioffe & Szegedy evaluated entry by entry, and central finite
  differences of any scalar function (step :math:`h = 10^{-\lfloor dps/3\rfloor}`, so truncation
  :math:`O(h^2)` and rounding :math:`O(10^{-dps}/h)` both sit far below float64 resolution);
* exact rationals (:class:`fractions.Fraction`), which represent every float64 input exactly;
* PyTorch (optional): ``torch.nn.functional.batch_norm`` with autograd, and ``torch.nn`` layers in
  eval mode. Imported lazily, so the package works without it and the checks that need it say so.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from fractions import Fraction

import mpmath
import numpy as np

__all__ = [
    "channel_major",
    "exact_fraction",
    "mp_batch_norm",
    "mp_central_gradient",
    "mp_second_directional",
    "torch_batch_norm",
    "torch_batch_norm_grads",
    "torch_normalize",
]


def channel_major(x: np.ndarray) -> np.ndarray:
    """Rearrange an (m, C) or (N, C, *spatial) array to (C, values): one row per channel."""
    return np.moveaxis(np.asarray(x), 1, 0).reshape(x.shape[1], -1)


def mp_batch_norm(values: Sequence, gamma, beta, eps) -> list:
    r"""Algorithm 1 of Ioffe & Szegedy 2015 for one channel, in mpmath at the current precision.

    Written from the definition: :math:`\mu=\frac1m\sum x_i`, :math:`\sigma^2=\frac1m\sum(x_i-\mu)^2`,
    :math:`y_i=\gamma(x_i-\mu)/\sqrt{\sigma^2+\epsilon}+\beta`. Inputs may be floats or mpf.
    """
    x = [mpmath.mpf(v) for v in values]
    m = len(x)
    mu = mpmath.fsum(x) / m
    var = mpmath.fsum((xi - mu) ** 2 for xi in x) / m
    s = mpmath.sqrt(var + mpmath.mpf(eps))
    return [mpmath.mpf(gamma) * (xi - mu) / s + mpmath.mpf(beta) for xi in x]


def mp_central_gradient(f: Callable[[list], object], x: Sequence, *, dps: int = 50) -> np.ndarray:
    r"""Gradient of a scalar function by central differences in mpmath at `dps` digits.

    .. math:: \partial_i f(x) \approx \frac{f(x+h e_i)-f(x-h e_i)}{2h},\qquad h=10^{-\lfloor dps/3\rfloor}.

    Parameters
    ----------
    f : callable
        Takes a list of mpf and returns an mpf; must be written so that it is evaluated at the working
        precision (plain arithmetic on mpf does this).
    x : sequence of float
        The point.
    dps : int
        Decimal digits of working precision.

    Returns
    -------
    ndarray of float64
        The gradient, rounded to float64 at the end.
    """
    with mpmath.workdps(dps):
        h = mpmath.mpf(10) ** (-(dps // 3))
        point = [mpmath.mpf(v) for v in x]
        grad = []
        for i in range(len(point)):
            up, down = list(point), list(point)
            up[i] += h
            down[i] -= h
            grad.append((f(up) - f(down)) / (2 * h))
        return np.array([float(g) for g in grad])


def mp_second_directional(f: Callable[[list], object], x: Sequence, v: Sequence, *, dps: int = 60):
    r"""Second derivative of :math:`t\mapsto f(x+tv)` at 0 by a central difference in mpmath.

    .. math:: \frac{f(x+hv)-2f(x)+f(x-hv)}{h^2},\qquad h=10^{-\lfloor dps/3\rfloor},

    so truncation (:math:`O(h^2)`) and rounding (:math:`O(10^{-dps}/h^2)`) are both far below float64
    resolution. Returns an mpf (the caller decides when to round).
    """
    with mpmath.workdps(dps):
        h = mpmath.mpf(10) ** (-(dps // 3))
        point = [mpmath.mpf(a) for a in x]
        direction = [mpmath.mpf(a) for a in v]
        up = [p + h * d for p, d in zip(point, direction, strict=True)]
        down = [p - h * d for p, d in zip(point, direction, strict=True)]
        return (f(up) - 2 * f(point) + f(down)) / h**2


def exact_fraction(a) -> np.ndarray:
    """An object array of :class:`~fractions.Fraction`, exactly equal to the float64 entries of `a`."""
    a = np.asarray(a, dtype=np.float64)
    return np.array([Fraction(float(v)) for v in a.ravel()], dtype=object).reshape(a.shape)


def torch_batch_norm(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float) -> np.ndarray:
    """``torch.nn.functional.batch_norm`` in training mode, float64, on the CPU."""
    import torch

    t = torch.from_numpy(np.asarray(x, dtype=np.float64))
    g, b = torch.from_numpy(np.asarray(gamma, np.float64)), torch.from_numpy(np.asarray(beta, np.float64))
    return torch.nn.functional.batch_norm(t, None, None, g, b, training=True, eps=eps).numpy()


def torch_batch_norm_grads(x, gamma, beta, dy, eps: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of ``sum(dy * batch_norm(x))`` w.r.t. x, gamma, beta by PyTorch autograd (float64)."""
    import torch

    tensors = [torch.tensor(np.asarray(a, np.float64), requires_grad=True) for a in (x, gamma, beta)]
    y = torch.nn.functional.batch_norm(tensors[0], None, None, tensors[1], tensors[2], training=True, eps=eps)
    grads = torch.autograd.grad(y, tensors, torch.from_numpy(np.asarray(dy, np.float64)))
    return tuple(g.numpy() for g in grads)


def torch_normalize(y, eps: float):
    r"""Training-mode normalization of a torch tensor along its last axis, from the definition.

    :math:`(y-\mu)/\sqrt{\sigma^2+\epsilon}` with the biased variance. Written out rather than calling
    ``torch.nn.functional.batch_norm``, which refuses :math:`\epsilon=0` (the setting of Santurkar et
    al.'s §4); autograd differentiates it, so it serves as the gradient and Hessian oracle there.
    """
    centered = y - y.mean(dim=-1, keepdim=True)
    return centered / ((centered * centered).mean(dim=-1, keepdim=True) + eps).sqrt()
