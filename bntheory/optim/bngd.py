r"""BNGD: gradient descent with batch normalization on population least squares (Cai, Li & Shen 2019).

Population ordinary least squares (THEORY-2.md §10.5): :math:`x\sim\mathcal N(0,H)`, :math:`H\succ0`,
:math:`y=x^\top u^*+\text{noise}` of variance :math:`\sigma^2`, :math:`g:=\mathrm E[xy]=Hu^*`. The BN model
:math:`\hat y=a\,w^\top x/\|w\|_H` (:math:`\|w\|_H=\sqrt{w^\top Hw}`, a gain :math:`a` and a direction :math:`w`) has

.. math:: J(a,w)=\tfrac12\Big(\mathrm Ey^2-2a\frac{w^\top g}{\|w\|_H}+a^2\Big),\qquad J^*=\tfrac12\sigma^2,

and BNGD takes a step :math:`\varepsilon_a` on the gain and :math:`\varepsilon` on the weights:

.. math::

    a_{k+1}=a_k-\varepsilon_a\Big(a_k-\frac{w_k^\top g}{\|w_k\|_H}\Big),\qquad
    w_{k+1}=w_k+\varepsilon\frac{a_k}{\|w_k\|_H}\Big(g-\frac{w_k^\top g}{\|w_k\|_H^2}Hw_k\Big).

The :math:`w`-step is orthogonal to :math:`w`, so :math:`\|w_k\|` grows until the effective step
:math:`\varepsilon/\|w_k\|^2` is small (THEORY-2.md §10.1–§10.2); the predictor is :math:`a_kw_k/\|w_k\|_H`. Plain
gradient descent on the predictor, :math:`u_{k+1}=u_k-\varepsilon(Hu_k-g)`, is the baseline (:func:`gd`), stable only
for :math:`\varepsilon<2/\lambda_{\max}(H)`.

Both iterations run a batch of runs at once (step sizes and starts on a leading axis) against the array API; the
loops make no host copy (the trace is stacked on the backend and copied once).

References
----------
Y. Cai, Q. Li and Z. Shen, "A quantitative analysis of the effect of batch normalization on gradient descent",
ICML 2019, arXiv:1810.00122 (the iteration and :math:`J` as THEORY-2.md §10.5 states them; the paper's exact
theorems [R]).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from array_api_compat import array_namespace

from bntheory.backend import to_numpy

__all__ = ["BNGDTrace", "LeastSquares", "bngd", "gd", "least_squares"]

Array = Any


@dataclass(frozen=True)
class LeastSquares:
    r"""Population least squares: :math:`H=\mathrm E[xx^\top]`, :math:`g=\mathrm E[xy]` and :math:`\mathrm Ey^2`.

    Build it with :func:`least_squares`.
    """

    H: Array
    g: Array
    y2: float

    def objective(self, a: Array, w: Array) -> Array:
        r""":math:`J(a,w)`, batched over leading axes (`a` of shape ``(...)``, `w` of ``(..., d)``)."""
        xp = array_namespace(w)
        norm = xp.sqrt(xp.vecdot(w, w @ self.H))
        return 0.5 * (self.y2 - 2 * a * (w @ self.g) / norm + a**2)


def least_squares(H: Array, u_star: Array, sigma2: float) -> LeastSquares:
    r"""The problem with :math:`y=x^\top u^*+\text{noise}`: :math:`g=Hu^*`, :math:`\mathrm Ey^2=u^{*\top}Hu^*+\sigma^2`.

    Raises
    ------
    ValueError
        If `H` is not a finite square matrix matching `u_star`, or `sigma2` is negative.
    """
    xp = array_namespace(H, u_star)
    if H.ndim != 2 or H.shape[0] != H.shape[1] or u_star.shape != (H.shape[0],):
        raise ValueError(f"H, u_star: expected shapes (d, d) and (d,), got {tuple(H.shape)} and {tuple(u_star.shape)}")
    if not bool(xp.all(xp.isfinite(H))) or not bool(xp.all(xp.isfinite(u_star))):
        raise ValueError("H, u_star: have NaN or inf entries")
    if not sigma2 >= 0:
        raise ValueError(f"sigma2: the noise variance must be >= 0, got {sigma2}")
    g = H @ u_star
    return LeastSquares(H, g, float(u_star @ g) + float(sigma2))


@dataclass(frozen=True)
class BNGDTrace:
    r"""Per-step record of :func:`bngd` or :func:`gd` (NumPy; row k is step k, then the runs of the batch).

    Attributes
    ----------
    predictor : ndarray, shape (T + 1, B, d)
        :math:`a_kw_k/\|w_k\|_H` (BNGD) or :math:`u_k` (GD).
    objective : ndarray, shape (T + 1, B)
        :math:`J` at step k.
    gain : ndarray, shape (T + 1, B)
        :math:`a_k` (NaN for GD).
    norm_sq : ndarray, shape (T + 1, B)
        :math:`\|w_k\|^2` (NaN for GD).
    direction : ndarray, shape (T + 1, B, d)
        :math:`w_k/\|w_k\|` (NaN for GD).
    """

    predictor: np.ndarray
    objective: np.ndarray
    gain: np.ndarray
    norm_sq: np.ndarray
    direction: np.ndarray


def _host(a: float | Array) -> Any:
    """A number, a NumPy array or an array of the backend as a NumPy value (an edge of the loop)."""
    return a if isinstance(a, int | float | np.ndarray | np.generic) else to_numpy(a)


def _steps(eps: float | Array, batch: tuple[int, ...], name: str) -> np.ndarray:
    host = np.broadcast_to(np.asarray(_host(eps), dtype=np.float64), batch)
    if not np.all(np.isfinite(host)) or not np.all(host > 0):
        raise ValueError(f"{name}: expected positive finite step sizes, got {host}")
    return host.copy()


def _check_runs(problem: LeastSquares, x0: Array, name: str) -> None:
    d = problem.g.shape[0]
    if x0.ndim != 2 or x0.shape[1] != d:
        raise ValueError(f"{name}: expected shape (B, {d}), one row per run, got {tuple(x0.shape)}")


def bngd(
    problem: LeastSquares, a0: float | Array, w0: Array, eps: float | Array, eps_a: float | Array, *, T: int
) -> BNGDTrace:
    r"""Run BNGD (module docstring; Cai, Li & Shen 2019, THEORY-2.md §10.5) on a batch of runs.

    Parameters
    ----------
    problem : LeastSquares
    a0 : float or array of shape (B,)
        Starting gains :math:`a_0`.
    w0 : array, shape (B, d)
        Starting weights, one row per run (:math:`w_0\ne0`).
    eps, eps_a : float or array of shape (B,)
        The weight step :math:`\varepsilon>0` and the gain step :math:`\varepsilon_a>0` of each run.
    T : int, keyword-only
        Number of steps.

    Returns
    -------
    BNGDTrace
        ``T + 1`` rows.

    Raises
    ------
    ValueError
        If `T` is negative, a step size is not positive and finite, or `w0` has the wrong shape.
    """
    if isinstance(T, bool) or not isinstance(T, int) or T < 0:
        raise ValueError(f"T: expected a non-negative number of steps, got {T!r}")
    _check_runs(problem, w0, "w0")
    xp = array_namespace(w0)
    batch = tuple(w0.shape[:1])
    step_w = xp.asarray(_steps(eps, batch, "eps"), dtype=w0.dtype)
    step_a = xp.asarray(_steps(eps_a, batch, "eps_a"), dtype=w0.dtype)
    a0_host = np.asarray(_host(a0), dtype=np.float64)
    if not np.all(np.isfinite(a0_host)):
        raise ValueError(f"a0: expected finite starting gains, got {a0_host}")
    a = xp.asarray(np.broadcast_to(a0_host, batch).copy(), dtype=w0.dtype)
    H, g = problem.H, problem.g
    w, ws, gains = w0, [], []
    for k in range(T + 1):
        ws.append(w)
        gains.append(a)
        if k == T:
            break
        Hw = w @ H
        norm = xp.sqrt(xp.vecdot(w, Hw))
        wg = w @ g
        # Both updates read the iterate k (a Jacobi step, as the paper writes it).
        w = w + (step_w * a / norm)[:, None] * (g - (wg / norm**2)[:, None] * Hw)
        a = a - step_a * (a - wg / norm)
    # Everything else follows from (a_k, w_k), computed for all steps at once after the loop.
    W, A = xp.stack(ws), xp.stack(gains)
    norm = xp.sqrt(xp.vecdot(W, W @ H))
    norm_sq = xp.vecdot(W, W)
    return BNGDTrace(
        predictor=to_numpy((A / norm)[..., None] * W),
        objective=to_numpy(0.5 * (problem.y2 - 2 * A * (W @ g) / norm + A**2)),
        gain=to_numpy(A),
        norm_sq=to_numpy(norm_sq),
        direction=to_numpy(W / xp.sqrt(norm_sq)[..., None]),
    )


def gd(problem: LeastSquares, u0: Array, eps: float | Array, *, T: int) -> BNGDTrace:
    r"""Plain gradient descent on the predictor, :math:`u_{k+1}=u_k-\varepsilon(Hu_k-g)`, on a batch of runs.

    :math:`J(u)=\tfrac12(\mathrm Ey^2-2u^\top g+u^\top Hu)`; stable iff :math:`\varepsilon<2/\lambda_{\max}(H)`.

    Parameters
    ----------
    problem : LeastSquares
    u0 : array, shape (B, d)
    eps : float or array of shape (B,)
    T : int, keyword-only

    Returns
    -------
    BNGDTrace
        With ``gain``, ``norm_sq`` and ``direction`` NaN.
    """
    if isinstance(T, bool) or not isinstance(T, int) or T < 0:
        raise ValueError(f"T: expected a non-negative number of steps, got {T!r}")
    _check_runs(problem, u0, "u0")
    xp = array_namespace(u0)
    step = xp.asarray(_steps(eps, tuple(u0.shape[:1]), "eps")[:, None], dtype=u0.dtype)
    H, g = problem.H, problem.g
    u, us = u0, []
    for k in range(T + 1):
        us.append(u)
        if k == T:
            break
        u = u - step * (u @ H - g)
    U = xp.stack(us)
    P, J = to_numpy(U), to_numpy(0.5 * (problem.y2 - 2 * (U @ g) + xp.vecdot(U, U @ H)))
    nan = np.full(J.shape, np.nan)
    return BNGDTrace(P, J, nan, nan, np.full(P.shape, np.nan))
