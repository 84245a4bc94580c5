r"""Scale-invariant losses and plain gradient descent on them, with full traces (THEORY-2.md §10.1–§10.3).

A loss is *scale invariant* in a weight vector :math:`w` when :math:`L(cw)=L(w)` for every :math:`c>0`: the weights
of a unit followed by BN, of a layer followed by LayerNorm (with :math:`\epsilon=0`), or any :math:`f(w/\|w\|)`. Then,
with :math:`u=w/\|w\|` and the *unit gradient* :math:`\nabla L(u)` (THEORY-2.md §10.1, [D]; the first two also
Wan et al. 2021, Lemma 1),

.. math::

    \langle\nabla L(w),w\rangle=0,\quad \nabla L(cw)=\tfrac1c\nabla L(w),\quad H(w)\,w=-\nabla L(w),\quad
    H(cw)=\tfrac1{c^2}H(w),\quad \nabla L(w)=\frac{\nabla L(u)}{\|w\|},\quad
    \|w-\eta\nabla L(w)\|^2=\|w\|^2+\eta^2\|\nabla L(w)\|^2 .

So a gradient step never shrinks the norm, and it moves the direction like a step on the unit sphere with the
*effective* rate :math:`\eta/\|w\|^2` (§10.2): the norm grows until the effective rate is small enough, which is
the auto rate-tuning of Arora, Li & Lyu 2019 (§10.3).

Here:

* :class:`Loss`: value and gradient of a loss of one weight vector, batched over leading axes where the loss
  allows it; :func:`sin_sum` (:math:`f(w/\|w\|)` with a sum of sines plus a quadratic, and the same :math:`f`
  unnormalized), :func:`bn_unit` (one BN unit, Kohler et al.'s setting on a sample), :func:`normalized_mlp`
  (a deep tanh network with BN or LayerNorm after every hidden layer, in its first-layer weights, or in its readout
  weights, which are not scale invariant);
* :func:`gd`: :math:`w_{t+1}=w_t-\eta\nabla L(w_t)` for a batch of runs at once (seeds and step sizes on a leading
  axis), optionally projected back to the sphere after each step (a fixed effective rate), returning a
  :class:`GDTrace`. Its loop stays on the backend: the trace is stacked there and copied to the host once.

References
----------
S. Arora, Z. Li and K. Lyu, "Theoretical analysis of auto rate-tuning by batch normalization", ICLR 2019,
arXiv:1812.03981. T. van Laarhoven, "L2 regularization versus batch and weight normalization", arXiv:1706.05350.
E. Hoffer, R. Banner, I. Golan and D. Soudry, "Norm matters", arXiv:1803.01814. R. Wan, Z. Zhu, X. Zhang and
J. Sun, "Spherical motion dynamics", arXiv:2006.08419. THEORY-2.md §10.1–§10.3.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from array_api_compat import array_namespace, is_array_api_obj

from bntheory._validation import (
    check_bool,
    check_choice,
    check_float_array,
    check_int,
    check_nonnegative,
    check_numbers,
    check_real,
    check_same_dtype,
)
from bntheory.backend import to_numpy
from bntheory.norms import backward as norm_backward
from bntheory.norms import batch as _batch
from bntheory.norms import layer_norm

__all__ = ["GDTrace", "Loss", "bn_unit", "gd", "normalized_mlp", "sin_sum"]

Array = Any


@dataclass(frozen=True)
class Loss:
    r"""A loss :math:`L(w)` of one weight vector :math:`w\in\mathbb R^d`.

    Attributes
    ----------
    fn : callable
        ``fn(w)`` returns :math:`(L(w), \nabla L(w))` for `w` of shape ``(d,)``, or ``(..., d)`` when `batched`
        (values of shape ``(...)``); call it through :meth:`value_and_grad`.
    d : int
        The number of weights.
    name : str
        For traces and reports.
    scale_invariant : bool
        Whether :math:`L(cw)=L(w)` is claimed for :math:`c>0` (False for the controls).
    batched : bool
        Whether leading axes of `w` are independent points.
    info : dict
        The loss's parameters, for oracles that rebuild it.
    """

    fn: Callable[[Array], tuple[Array, Array]]
    d: int
    name: str
    scale_invariant: bool
    batched: bool = False
    info: dict = field(default_factory=dict)

    def value_and_grad(self, w: Array) -> tuple[Array, Array]:
        r""":math:`(L(w), \nabla L(w))`."""
        return self.fn(w)

    def value(self, w: Array) -> Array:
        r""":math:`L(w)`."""
        return self.value_and_grad(w)[0]

    def gradient(self, w: Array) -> Array:
        r""":math:`\nabla L(w)`."""
        return self.value_and_grad(w)[1]

    def unit_gradient(self, w: Array) -> Array:
        r"""The unit gradient :math:`\nabla L(u)` at :math:`u=w/\|w\|` (the gradient evaluated on the sphere)."""
        xp = array_namespace(w)
        return self.gradient(w / xp.linalg.vector_norm(w, axis=-1, keepdims=True))


def _real_matrix(a: Array, name: str, ndim: int, like: Array | None = None) -> Any:
    """Check a finite real floating array with `ndim` dims (of the backend and dtype of `like`); its namespace."""
    xp = check_float_array(a, name, min_ndim=ndim, finite=True)
    if a.ndim != ndim or 0 in tuple(a.shape):
        raise ValueError(f"{name}: expected a non-empty array with {ndim} dims, got shape {tuple(a.shape)}; reshape it")
    if like is not None:
        check_same_dtype(a, name, like)
    return xp


def sin_sum(a: Array, b: Array, c: Array, A: Array | None = None, *, normalized: bool = True) -> Loss:
    r"""The loss :math:`L(w)=f(w/\|w\|)` (or :math:`f(w)` itself) with a sum of sines plus a quadratic.

    .. math:: f(u)=\sum_{k=1}^K a_k\sin(b_k^\top u+c_k)+\tfrac12u^\top Au,\qquad
              \nabla f(u)=\sum_k a_k\cos(b_k^\top u+c_k)\,b_k+Au,

    and for the normalized loss (:math:`r=\|w\|`, :math:`u=w/r`)
    :math:`\nabla L(w)=\frac1r(I-uu^\top)\nabla f(u)`. THEORY-2.md §10.3's instance (without `A`); the quadratic
    makes the unnormalized :math:`f(w)` diverge under GD with :math:`\eta>2/\lambda_{\max}(A)`, the control of
    issue 17 ("the same loss without normalization").

    Parameters
    ----------
    a : array, shape (K,)
        Amplitudes :math:`a_k`.
    b : array, shape (K, d)
        Frequencies :math:`b_k` (rows).
    c : array, shape (K,)
        Phases :math:`c_k`.
    A : array, shape (d, d), optional
        Symmetric :math:`A` of the quadratic (None: no quadratic).
    normalized : bool
        :math:`L(w)=f(w/\|w\|)` (scale invariant) or :math:`L(w)=f(w)`.

    Returns
    -------
    Loss
        Batched over leading axes of `w`.
    """
    xp = _real_matrix(b, "b", 2)
    K, d = b.shape
    for name, v in (("a", a), ("c", c)):
        _real_matrix(v, name, 1, b)
        if v.shape != (K,):
            raise ValueError(f"{name}: expected shape ({K},) (one entry per row of b), got {tuple(v.shape)}; pass {K}")
    if A is not None:
        _real_matrix(A, "A", 2, b)
        if A.shape != (d, d):
            raise ValueError(f"A: expected shape ({d}, {d}), got {tuple(A.shape)}; pass a square matrix of b's width")
        # The gradient Au is that of u^T A u / 2 only for a symmetric A (rounding of Q diag Q^T allowed).
        if float(to_numpy(xp.max(xp.abs(A - xp.matrix_transpose(A))))) > 1e-10 * float(to_numpy(xp.max(xp.abs(A)))):
            raise ValueError("A: is not symmetric, and the gradient Au assumes it is; symmetrize it, (A + A^T) / 2")
    normalized = check_bool(normalized, "normalized")
    bT = xp.matrix_transpose(b)

    def f(u: Array) -> tuple[Array, Array]:
        z = u @ bT + c
        value = xp.sin(z) @ a
        grad = (a * xp.cos(z)) @ b
        if A is not None:
            Au = u @ A
            value, grad = value + 0.5 * xp.vecdot(u, Au), grad + Au
        return value, grad

    def value_and_grad(w: Array) -> tuple[Array, Array]:
        if not normalized:
            return f(w)
        r = xp.linalg.vector_norm(w, axis=-1, keepdims=True)
        u = w / r
        value, grad_f = f(u)
        return value, (grad_f - xp.vecdot(grad_f, u)[..., None] * u) / r

    name = "f(w/|w|), sum of sines" if normalized else "f(w), sum of sines (unnormalized)"
    if A is not None:
        name += " + quadratic"
    info = {"a": a, "b": b, "c": c, "A": A, "normalized": normalized}
    return Loss(value_and_grad, d, name, normalized, batched=True, info=info)


def bn_unit(X: Array, y: Array, gain: float = 1.0, *, eps: float = 0.0) -> Loss:
    r"""One BN unit on a batch: :math:`L(w)=\frac1{2m}\|\gamma\,\mathrm{BN}_\epsilon(Xw)-y\|^2`.

    .. math:: \hat z_i=\mathrm{BN}_\epsilon(z)_i=\frac{z_i-\bar z}{s},\quad s=\sqrt{\overline{(z-\bar z)^2}+\epsilon},
              \qquad \nabla L(w)=\frac1sX^\top\big(g-\bar g\mathbf 1-\hat z\,\overline{g\odot\hat z}\big),\quad
              g=\frac{\gamma}{m}(\gamma\hat z-y),

    with :math:`z=Xw` (the backward pass of :func:`bntheory.norms.batch.backward`). At :math:`\epsilon=0` this is
    Kohler et al.'s length-direction decoupling :math:`f(\gamma\,w/\|w\|_S)` on the empirical distribution
    (:math:`S` the centred sample covariance; THEORY.md §3.1), scale invariant in :math:`w`; at :math:`\epsilon>0`
    only approximately.

    Parameters
    ----------
    X : array, shape (m, d)
        The batch, samples in rows (m >= 2, not all :math:`Xw` equal).
    y : array, shape (m,)
        Targets.
    gain : float
        :math:`\gamma`.
    eps : float
        :math:`\epsilon\ge0`.
    """
    xp = _real_matrix(X, "X", 2)
    m, d = X.shape
    if m < 2:
        raise ValueError(f"X: BN needs a batch of at least 2 rows, got shape {tuple(X.shape)}; use a larger batch")
    _real_matrix(y, "y", 1, X)
    if y.shape != (m,):
        raise ValueError(f"y: expected shape ({m},) (one target per row of X), got {tuple(y.shape)}; pass {m}")
    gain = check_real(gain, "gain")
    eps = check_nonnegative(eps, "eps")
    one, zero = xp.ones(1, dtype=X.dtype), xp.zeros(1, dtype=X.dtype)
    gamma = gain * one

    def value_and_grad(w: Array) -> tuple[Array, Array]:
        z, cache = _batch.forward(xp.reshape(X @ w, (m, 1)), gamma, zero, eps=eps)
        residual = z - xp.reshape(y, (m, 1))
        dz, _, _ = _batch.backward(residual / m, cache)
        return 0.5 * xp.sum(residual**2) / m, xp.reshape(dz, (m,)) @ X

    return Loss(
        value_and_grad, d, f"BN unit (eps = {eps:g})", eps == 0, info={"X": X, "y": y, "gain": gain, "eps": eps}
    )


def normalized_mlp(
    X: Array,
    Y: Array,
    weights: Sequence[Array],
    *,
    norm: Literal["batch", "layer"] | None = "batch",
    eps: float = 0.0,
    wrt: Literal["first", "last"] = "first",
) -> Loss:
    r"""A deep tanh network with a normalization after every hidden layer, as a loss of one weight matrix.

    .. math::

        H_0=X,\quad H_l=\tanh\big(\mathrm{N}(H_{l-1}W_l^\top)\big)\ (l=1..L),\quad F=H_LW_{\rm out}^\top,\quad
        \mathcal L=\frac1{2N}\|F-Y\|_F^2,

    N = BN over the batch (:func:`bntheory.norms.batch.forward`, no affine) or LayerNorm over the features
    (:func:`bntheory.norms.layer_norm`), backward by their closed forms. With ``wrt="first"`` the loss is one of
    :math:`w=\mathrm{vec}(W_1)` (row-major), scale invariant at :math:`\epsilon=0` (BN even per row); with
    ``wrt="last"`` one of :math:`\mathrm{vec}(W_{\rm out})`, which is not (the control of THEORY-2.md §10.1).

    Parameters
    ----------
    X : array, shape (N, d_in)
    Y : array, shape (N, d_out)
    weights : sequence of arrays
        :math:`W_1` (h_1, d_in), ..., :math:`W_L` (h_L, h_{L-1}), :math:`W_{\rm out}` (d_out, h_L); the one the
        loss is a function of is replaced by its argument.
    norm : {"batch", "layer"} or None
        The normalization (None: none, the unnormalized network).
    eps : float
        :math:`\epsilon\ge0` of the normalization.
    wrt : {"first", "last"}
        Which weight matrix is the argument.
    """
    xp = _real_matrix(X, "X", 2)
    _real_matrix(Y, "Y", 2, X)
    if isinstance(weights, str) or not isinstance(weights, Sequence):
        raise TypeError(f"weights: expected a list of matrices, got {type(weights).__name__}; pass [W_1, ..., W_out]")
    weights = list(weights)
    if len(weights) < 2:
        raise ValueError("weights: expected at least a hidden layer and the readout; pass [W_1, ..., W_out]")
    for i, W in enumerate(weights):
        _real_matrix(W, f"weights[{i}]", 2, X)
    fan_in = X.shape[1]
    for i, W in enumerate(weights):
        if W.shape[1] != fan_in:
            raise ValueError(f"weights[{i}]: expected {fan_in} columns, got shape {tuple(W.shape)}; chain the shapes")
        fan_in = W.shape[0]
    if Y.shape != (X.shape[0], weights[-1].shape[0]):
        raise ValueError(
            f"Y: expected shape ({X.shape[0]}, {weights[-1].shape[0]}), got {tuple(Y.shape)}; pass one row per sample"
        )
    if norm is not None:
        check_choice(norm, "norm", ("batch", "layer"))
    if norm == "batch" and X.shape[0] < 2:
        raise ValueError(f"X: BN needs a batch of at least 2 rows, got shape {tuple(X.shape)}; use a larger batch")
    eps = check_nonnegative(eps, "eps")
    check_choice(wrt, "wrt", ("first", "last"))
    index = 0 if wrt == "first" else len(weights) - 1
    shape = tuple(weights[index].shape)
    N = X.shape[0]

    def normalize(Z: Array) -> tuple[Array, Callable[[Array], Array]]:
        if norm == "batch":
            h = Z.shape[1]
            out, cache = _batch.forward(Z, xp.ones(h, dtype=Z.dtype), xp.zeros(h, dtype=Z.dtype), eps=eps)
            return out, lambda dy: _batch.backward(dy, cache)[0]
        if norm == "layer":
            out, cache = layer_norm(Z, (Z.shape[1],), eps=eps)
            return out, lambda dy: norm_backward(dy, cache)[0]
        return Z, lambda dy: dy

    def value_and_grad(w: Array) -> tuple[Array, Array]:
        Ws = list(weights)
        Ws[index] = xp.reshape(w, shape)
        H, tape = X, []
        for W in Ws[:-1]:
            Z, back = normalize(H @ xp.matrix_transpose(W))
            A = xp.tanh(Z)
            tape.append((H, back, A))
            H = A
        residual = H @ xp.matrix_transpose(Ws[-1]) - Y
        value = 0.5 * xp.sum(residual**2) / N
        dF = residual / N
        if wrt == "last":
            return value, xp.reshape(xp.matrix_transpose(dF) @ H, (-1,))
        dH = dF @ Ws[-1]
        for layer in range(len(tape) - 1, -1, -1):
            H_in, back, A = tape[layer]
            dZ = back(dH * (1 - A**2))
            if layer == 0:
                return value, xp.reshape(xp.matrix_transpose(dZ) @ H_in, (-1,))
            dH = dZ @ Ws[layer]
        raise AssertionError("unreachable: the first layer returns")  # pragma: no cover

    depth = len(weights) - 1
    name = f"{depth}-layer tanh MLP, {norm or 'no'} norm (eps = {eps:g}), in W_{'1' if wrt == 'first' else 'out'}"
    invariant = norm is not None and eps == 0 and wrt == "first"
    info = {"X": X, "Y": Y, "weights": weights, "norm": norm, "eps": eps, "wrt": wrt}
    return Loss(value_and_grad, math.prod(shape), name, invariant, info=info)


def _host(a: float | Array) -> Any:
    """A step size (a number, a NumPy array or an array of the backend) as a NumPy value: an edge of the loop."""
    return a if isinstance(a, int | float | np.ndarray | np.generic) else to_numpy(a)


@dataclass(frozen=True)
class GDTrace:
    r"""Per-step record of :func:`gd` (NumPy arrays; row t is step t, columns the runs of the batch).

    Attributes
    ----------
    value : ndarray, shape (T + 1, ...)
        :math:`L(w_t)`.
    grad_sq : ndarray, shape (T + 1, ...)
        :math:`\|\nabla L(w_t)\|^2`.
    norm_sq : ndarray, shape (T + 1, ...)
        :math:`R_t^2=\|w_t\|^2`.
    w : array, shape (..., d)
        The last iterate :math:`w_T`, on the backend.
    eta : ndarray, shape (...)
        The step sizes.
    """

    value: np.ndarray
    grad_sq: np.ndarray
    norm_sq: np.ndarray
    w: Array
    eta: np.ndarray

    @property
    def unit_grad_sq(self) -> np.ndarray:
        r""":math:`G_t=\|\nabla L(u_t)\|^2=R_t^2\|\nabla L(w_t)\|^2` (§10.1; scale-invariant losses only)."""
        return self.norm_sq * self.grad_sq


def gd(loss: Loss, w0: Array, eta: float | Array, *, T: int, project: bool = False) -> GDTrace:
    r"""Gradient descent :math:`w_{t+1}=w_t-\eta\nabla L(w_t)` on a batch of runs, with its full trace.

    On a scale-invariant loss the norm grows by :math:`R_{t+1}^2=R_t^2+\eta^2G_t/R_t^2` and the direction moves
    with the effective rate :math:`\eta/R_t^2` (THEORY-2.md §10.1–§10.2): Arora, Li & Lyu 2019's auto rate-tuning.
    With `project`, :math:`w_{t+1}` is scaled back to :math:`\|w_{t+1}\|=\|w_0\|`, which removes the tuning (the
    effective rate stays :math:`\eta/\|w_0\|^2`; the control of §10.3).

    Parameters
    ----------
    loss : Loss
        The objective; a batch of runs needs a batched loss.
    w0 : array, shape (d,) or (B, d)
        Starting points, one row per run.
    eta : float or array of shape (B,)
        :math:`\eta>0`, one per run or shared.
    T : int, keyword-only
        Number of steps.
    project : bool
        Rescale every iterate to the starting norm.

    Returns
    -------
    GDTrace
        ``T + 1`` rows. The loop performs no host copy: the per-step values are stacked on the backend and
        copied to the host once at the end.

    Raises
    ------
    ValueError
        If `T` is negative, `eta` is not positive and finite, or `w0` has the wrong shape.
    """
    if not isinstance(loss, Loss):
        raise TypeError(f"loss: expected a Loss, got {type(loss).__name__}; build it with sin_sum, bn_unit, ...")
    T = check_int(T, "T", minimum=0)
    project = check_bool(project, "project")
    xp = check_float_array(w0, "w0", finite=True)
    for value in loss.info.values():  # the loss's arrays fix the backend and dtype its argument must have
        if hasattr(value, "dtype") and hasattr(value, "shape"):
            check_same_dtype(w0, "w0", value)
            break
    if w0.shape[-1:] != (loss.d,) or w0.ndim not in (1, 2) or (w0.ndim == 2 and not loss.batched):
        raise ValueError(
            f"w0: expected shape ({loss.d},) or (B, {loss.d}) for a batched loss, got {tuple(w0.shape)} ({loss.name}); "
            "pass one row per run"
        )
    if (loss.scale_invariant or project) and not bool(xp.all(xp.vecdot(w0, w0) > 0)):
        raise ValueError("w0: a run starts at 0, where the direction w/||w|| is undefined; pass non-zero starts")
    eta_host = check_numbers(_host(eta) if is_array_api_obj(eta) else eta, "eta")
    if eta_host.ndim > 1 or (eta_host.ndim == 1 and eta_host.shape != tuple(w0.shape[:-1])):
        raise ValueError(
            f"eta: expected a number or one per run (shape {tuple(w0.shape[:-1])}), got shape {eta_host.shape}; "
            "pass that"
        )
    eta_host = np.broadcast_to(eta_host, w0.shape[:-1]).copy()
    if not np.all(np.isfinite(eta_host)) or not np.all(eta_host > 0):
        raise ValueError(f"eta: expected positive finite step sizes, got {eta!r}; pass steps > 0")
    step = xp.asarray(eta_host[..., None], dtype=w0.dtype)
    w = w0
    radius = xp.linalg.vector_norm(w0, axis=-1, keepdims=True)
    values, grads, norms = [], [], []
    for t in range(T + 1):
        value, grad = loss.value_and_grad(w)
        values.append(value)
        grads.append(xp.vecdot(grad, grad))
        norms.append(xp.vecdot(w, w))
        if t == T:
            break
        w = w - step * grad
        if project:
            w = w * (radius / xp.linalg.vector_norm(w, axis=-1, keepdims=True))
    value, grad_sq, norm_sq = (to_numpy(xp.stack(rows)) for rows in (values, grads, norms))
    return GDTrace(value, grad_sq, norm_sq, w, eta_host)
