r"""High-precision oracles in mpmath: Algorithm 1 entry by entry, and central differences of any scalar function.

Finite differences at :math:`h=10^{-\lfloor dps/3\rfloor}` have truncation error :math:`O(h^2)` and rounding error
:math:`O(10^{-dps}/h)`, both far below float64 resolution, so a float64 quantity compared with them is judged on its
own error alone. Written from the definitions, never from the formulas under test.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import mpmath
import numpy as np

__all__ = [
    "mp_batch_norm",
    "mp_batch_norm_vjp",
    "mp_central_gradient",
    "mp_jacobian",
    "mp_jacobian_difference",
    "mp_ray_distance",
    "mp_second_directional",
    "mp_to_numpy",
]


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


def mp_batch_norm_vjp(y: Sequence, g: Sequence, gamma, eps, *, dps: int = 50) -> list:
    r""":math:`\nabla_y\langle g,\mathrm{BN}_{\gamma,\epsilon}(y)\rangle`: central differences, `dps` digits.

    Returns a list of mpf at that precision (round with ``float`` where wanted).
    """
    with mpmath.workdps(dps):
        gm = [mpmath.mpf(v) for v in g]
        h = mpmath.mpf(10) ** (-(dps // 3))
        point = [mpmath.mpf(v) for v in y]

        def f(v):
            return mpmath.fsum(a * b for a, b in zip(gm, mp_batch_norm(v, gamma, 0, eps), strict=True))

        out = []
        for i in range(len(point)):
            up, down = list(point), list(point)
            up[i] += h
            down[i] -= h
            out.append((f(up) - f(down)) / (2 * h))
        return out


def mp_jacobian(x: Sequence, gamma, eps, *, dps: int = 50) -> mpmath.matrix:
    r""":math:`\partial y_i/\partial x_j` of Algorithm 1 for one channel, by central differences at `dps` digits.

    Column :math:`j` is :math:`(\mathrm{BN}(x+he_j)-\mathrm{BN}(x-he_j))/2h` with :func:`mp_batch_norm`
    (:math:`h=10^{-\lfloor dps/3\rfloor}`), so truncation and rounding are far below float64 resolution. Returns an
    mpmath matrix at that precision, so that differences of two Jacobians can be taken before rounding
    (:func:`mp_to_numpy` rounds).

    Raises
    ------
    ValueError
        If `x` has fewer than 2 entries.
    """
    if len(x) < 2:
        raise ValueError(f"x: the BN Jacobian needs a batch of at least 2, got {len(x)}")
    with mpmath.workdps(dps):
        h = mpmath.mpf(10) ** (-(dps // 3))
        point = [mpmath.mpf(v) for v in x]
        m = len(point)
        J = mpmath.matrix(m, m)
        for j in range(m):
            up, down = list(point), list(point)
            up[j] += h
            down[j] -= h
            hi, lo = mp_batch_norm(up, gamma, 0, eps), mp_batch_norm(down, gamma, 0, eps)
            for i in range(m):
                J[i, j] = (hi[i] - lo[i]) / (2 * h)
        return J


def mp_to_numpy(a: mpmath.matrix) -> np.ndarray:
    """An mpmath matrix rounded to a float64 array."""
    return np.array(a.tolist(), dtype=np.float64)


def mp_ray_distance(w0: Sequence, w_star: Sequence, c0: float, *, dps: int = 50):
    r""":math:`\inf_{c>0}\|w_0-cw^*\|^2` at `dps` digits: Newton on the derivative from `c0`, clipped at :math:`c=0`.

    The function of :math:`c` is a convex quadratic, so Newton on :math:`f'` (by :func:`mpmath.diff`) from a
    float64 minimiser converges in a step or two; when the stationary point is not positive the infimum over
    :math:`c>0` is the limit :math:`f(0)=\|w_0\|^2`. Returns an mpf. Written from the definition of the distance
    to the ray (Santurkar et al. 2018, Lemma 4.5), not from the lemma's right side.
    """
    with mpmath.workdps(dps):
        a, b = [mpmath.mpf(v) for v in w0], [mpmath.mpf(v) for v in w_star]

        def f(c):
            return mpmath.fsum((ai - c * bi) ** 2 for ai, bi in zip(a, b, strict=True))

        c = mpmath.findroot(lambda t: mpmath.diff(f, t), mpmath.mpf(c0))
        return f(c) if c > 0 else f(0)


def mp_jacobian_difference(x: Sequence, gamma, eps_a, eps_b, *, dps: int = 50) -> np.ndarray:
    r""":math:`J_{\epsilon_a}-J_{\epsilon_b}` of Algorithm 1 (:func:`mp_jacobian`), subtracted at `dps` digits.

    The two Jacobians agree to about :math:`|\epsilon_a-\epsilon_b|/\sigma^2`; taking the difference before rounding
    keeps every digit of it (a float64 difference would keep only :math:`10^{-16}\sigma^2/|\epsilon_a-\epsilon_b|`).
    """
    with mpmath.workdps(dps):
        return mp_to_numpy(mp_jacobian(x, gamma, eps_a, dps=dps) - mp_jacobian(x, gamma, eps_b, dps=dps))
