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
from array_api_compat import array_namespace, is_array_api_obj

from bntheory._validation import check_float_array, check_int, check_numbers, check_real, check_same_dtype
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
    TypeError
        If `H`, `u_star` are not real floating arrays of one backend and dtype, or `sigma2` is not a number.
    """
    check_float_array(H, "H", min_ndim=2, finite=True)
    check_float_array(u_star, "u_star", finite=True)
    check_same_dtype(u_star, "u_star", H)
    if H.ndim != 2 or H.shape[0] != H.shape[1] or u_star.shape != (H.shape[0],) or H.shape[0] == 0:
        raise ValueError(
            f"H, u_star: expected shapes (d, d) and (d,), d >= 1, got {tuple(H.shape)} and {tuple(u_star.shape)}; "
            "pass a square H and a matching u_star"
        )
    sigma2 = check_real(sigma2, "sigma2", low=0.0)
    g = H @ u_star
    return LeastSquares(H, g, float(to_numpy(u_star @ g)) + sigma2)


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


def _per_run(value: float | Array, batch: tuple[int, ...], name: str, *, positive: bool) -> np.ndarray:
    """`value` (a number or one per run) as a float64 host array of shape `batch`, finite (and positive)."""
    host = check_numbers(_host(value) if is_array_api_obj(value) else value, name)
    if host.ndim > 1 or (host.ndim == 1 and host.shape != batch):
        raise ValueError(f"{name}: expected a number or one per run (shape {batch}), got shape {host.shape}; pass that")
    if not np.all(np.isfinite(host)) or (positive and not np.all(host > 0)):
        what = "positive finite step sizes" if positive else "finite values"
        raise ValueError(f"{name}: expected {what}, got {value!r}; pass {what}")
    return np.broadcast_to(host, batch).copy()


def _check_runs(problem: LeastSquares, x0: Array, name: str, T: int) -> int:
    """Check the problem, the starting points `x0` (one row per run, finite, of the problem's dtype) and `T`."""
    if not isinstance(problem, LeastSquares):
        raise TypeError(f"problem: expected a LeastSquares, got {type(problem).__name__}; build it with least_squares")
    check_float_array(x0, name, min_ndim=2, finite=True)
    check_same_dtype(x0, name, problem.H)
    d = problem.g.shape[0]
    if x0.ndim != 2 or x0.shape[1] != d or x0.shape[0] == 0:
        raise ValueError(f"{name}: expected shape (B, {d}), one row per run, got {tuple(x0.shape)}; pass that")
    return check_int(T, "T", minimum=0)


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
        If `T` is negative, a step size is not positive and finite, `a0` is not finite, or `w0` has the wrong shape,
        non-finite entries or a row with :math:`\|w_0\|_H=0`.
    TypeError
        If `problem` is not a :class:`LeastSquares`, `w0` not a floating array of its dtype and backend, `T` not an
        int, or a step size or gain is not a number or array of numbers.
    """
    T = _check_runs(problem, w0, "w0", T)
    xp = array_namespace(w0)
    if not bool(xp.all(xp.vecdot(w0, w0 @ problem.H) > 0)):
        raise ValueError("w0: a run has ||w0||_H = 0, so its direction w/||w||_H is undefined; pass other starts")
    batch = tuple(w0.shape[:1])
    step_w = xp.asarray(_per_run(eps, batch, "eps", positive=True), dtype=w0.dtype)
    step_a = xp.asarray(_per_run(eps_a, batch, "eps_a", positive=True), dtype=w0.dtype)
    a = xp.asarray(_per_run(a0, batch, "a0", positive=False), dtype=w0.dtype)
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
    T = _check_runs(problem, u0, "u0", T)
    xp = array_namespace(u0)
    step = xp.asarray(_per_run(eps, tuple(u0.shape[:1]), "eps", positive=True)[:, None], dtype=u0.dtype)
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
