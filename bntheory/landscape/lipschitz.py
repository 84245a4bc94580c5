r"""Santurkar et al.'s bounds on the gradient and curvature of a loss behind a BN layer.

Setting (Santurkar et al. 2018, §4; THEORY.md §2.3): unit :math:`j` of a linear layer has pre-BN
activations :math:`y\in\mathbb R^m` over a batch of :math:`m`; BN gives :math:`z=\gamma\hat y+\beta\mathbf 1`
with :math:`\hat y=(y-\mu\mathbf 1)/s`, :math:`s=\sqrt{\sigma^2+\epsilon}` (biased :math:`\sigma`). The loss
:math:`\hat{\mathcal L}` of the BN network depends on :math:`y` through :math:`z`;
:math:`g=\partial\hat{\mathcal L}/\partial z` and
:math:`H=\partial^2\hat{\mathcal L}/\partial z^2` are the gradient and Hessian at the BN output (the
quantities the paper writes :math:`\nabla_{y_j}\mathcal L` and :math:`H_{jj}`: "same downstream function, same
point"). The functions below give the *right-hand sides* of the paper's statements; the left-hand sides
are whatever autograd or finite differences say they are, which is how :mod:`bntheory.results.santurkar2018_bounds`
checks them.

Every function takes the batch along the first axis, as the transforms do: ``(m,)`` for one unit, ``(m, C)`` for C
units at once (trailing axes broadcast, a ``(C,)`` gamma included); the Hessian over one unit's batch entries is
``(m, m)``, ``(m, m, C)`` for C units.

The ``group_*`` functions and :func:`weight_norm_gradient_norm` transfer Theorems 4.1 and 4.2 to LayerNorm,
GroupNorm, InstanceNorm, RMSNorm and weight normalization (THEORY-2.md §9.4, T2): the batch of one unit becomes
one normalization group, taken along the *last* axis, and an elementwise gain sits inside the projector.

References
----------
Santurkar, Tsipras, Ilyas & Madry, "How does batch normalization help optimization?", NeurIPS 2018,
arXiv:1805.11604: Theorem 4.1, Theorem 4.2, Theorem 4.4, Lemma 4.5.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from array_api_compat import array_namespace, is_array_api_obj

from bntheory._validation import (
    NonFiniteError,
    check_bool,
    check_eps,
    check_float_array,
    check_real,
    check_same_dtype,
    check_statistics,
)
from bntheory.backend import asarray, to_numpy
from bntheory.norms.standardize import standardize

__all__ = [
    "gradient_norm_bound",
    "group_gradient_norm_bound",
    "group_hessian_form",
    "hessian_form_bound",
    "rescaling_distance_bound",
    "weight_gradient_bound",
    "weight_norm_gradient_norm",
]

Array = Any


def _normalized(y: Array, eps: Any) -> tuple[Array, Array]:
    xp = check_float_array(y, "y")
    if y.shape[0] < 2:
        raise ValueError(
            f"y: BN needs a batch of at least 2 along the first axis, got shape {tuple(y.shape)}; use a larger batch"
        )
    if 0 in tuple(y.shape):
        raise ValueError(f"y: is empty (shape {tuple(y.shape)}); pass at least one unit")
    with np.errstate(all="ignore"):  # NaN, inf and overflow show in s, checked below
        centered = y - xp.mean(y, axis=0, keepdims=True)
        s = xp.sqrt(xp.mean(centered * centered, axis=0) + eps)
    check_statistics(y, "y", (s,), xp=xp)
    if not bool(xp.all(s > 0)):
        raise ValueError("y: a unit is constant over the batch, so with eps=0 its y_hat is 0/0; use eps > 0")
    return centered / s, s


def _like_y(a: Array, name: str, y: Array, shape: tuple[int, ...] | None = None) -> None:
    """Check an array argument that lives with `y`: floating, finite, the backend, dtype and shape it must have."""
    check_float_array(a, name, finite=True)
    check_same_dtype(a, name, y)
    expected = tuple(y.shape) if shape is None else shape
    if tuple(a.shape) != expected:
        raise ValueError(f"{name}: expected shape {expected} (that of y), got {tuple(a.shape)}; pass matching arrays")


def _like_x(a: Array, name: str, x: Array, shape: tuple[int, ...] | None = None, *, name_of_x: str = "x") -> None:
    """Check an array argument that lives with the groups' input `x`: finite, of its backend, dtype and shape."""
    check_float_array(a, name, finite=True)
    check_same_dtype(a, name, x)
    expected = tuple(x.shape) if shape is None else shape
    if tuple(a.shape) != expected:
        raise ValueError(
            f"{name}: expected shape {expected} (from {name_of_x}'s {tuple(x.shape)}), got {tuple(a.shape)}; "
            "pass matching arrays"
        )


def _scale_parameter(value: Any, name: str, y: Array, *, low: float | None = None) -> Any:
    """A per-unit parameter (gamma, lam): a finite real number, or a finite array of one value per unit."""
    if isinstance(value, np.generic) or not is_array_api_obj(value):
        return check_real(value, name, low=low)
    check_float_array(value, name, min_ndim=0, finite=True)
    check_same_dtype(value, name, y)
    if tuple(value.shape) not in ((), (1,), tuple(y.shape[1:])):
        raise ValueError(
            f"{name}: expected a number or shape {tuple(y.shape[1:])} (one per unit), got {tuple(value.shape)}; "
            "pass one value per unit"
        )
    if low is not None and not bool(array_namespace(value).all(value >= low)):
        raise ValueError(f"{name}: expected values >= {low:g}; pass non-negative values")
    return value


def _dot(a: Array, b: Array) -> Array:
    return array_namespace(a, b).sum(a * b, axis=0)


def gradient_norm_bound(g: Array, y: Array, gamma: Any, *, eps: float | Array = 0.0) -> Array:
    r"""Right side of Theorem 4.1 (Lipschitzness of the loss), Santurkar et al. 2018.

    .. math::

        \|\nabla_{y}\hat{\mathcal L}\|^2\le\frac{\gamma^2}{s^2}\Big(\|g\|^2-\frac1m\langle\mathbf 1,g\rangle^2
            -\frac1m\langle g,\hat y\rangle^2\Big)

    An equality when :math:`\epsilon=0` (Pythagoras for the projector of
    :func:`bntheory.landscape.jacobian.bn_jacobian`);
    for :math:`\epsilon>0` the :math:`\epsilon`-normalized :math:`\hat y` is used throughout (THEORY.md §8) and
    the inequality is strict unless :math:`\langle g,\hat y\rangle=0`. The coefficient of the last term is
    :math:`1/m`; a :math:`1/\sqrt m` rendering that circulates is false for :math:`m>2`.

    Parameters
    ----------
    g : array, shape (m, ...)
        Gradient of the loss at the BN output.
    y : array, shape (m, ...)
        Pre-BN activations of the unit over the batch.
    gamma : float or array broadcastable to (...)
        BN scale (one per unit).
    eps : float or array broadcastable to (...)
        The :math:`\epsilon` of BN, ``>= 0`` (one per unit, as `gamma`, when an array).
    """
    eps = check_eps(eps, "unit")
    y_hat, s = _normalized(y, eps)
    _like_y(g, "g", y)
    gamma = _scale_parameter(gamma, "gamma", y)
    m = y.shape[0]
    # ||g||^2 - (1^T g)^2 / m as ||g - mean(g) 1||^2, and <g, y_hat> = <g - mean(g) 1, y_hat> (y_hat sums to 0): the
    # same value without the cancellation of the first form when g has a large mean (a million-instance attack
    # reached 1 - 6e-9 at an equality instance through it, seed 9).
    c = g - array_namespace(g).mean(g, axis=0, keepdims=True)
    return gamma**2 / s**2 * (_dot(c, c) - _dot(c, y_hat) ** 2 / m)


def hessian_form_bound(v: Array, hessian: Array, g: Array, y: Array, gamma: Any, *, eps: float | Array = 0.0) -> Array:
    r"""Right side of Theorem 4.2 (effect on smoothness), Santurkar et al. 2018.

    .. math::

        v^\top\frac{\partial^2\hat{\mathcal L}}{\partial y\,\partial y}v\le
        \frac{\gamma^2}{s^2}v^\top H v-\frac{\gamma}{ms^2}\langle g,\hat y\rangle\|v\|^2,
        \qquad v=\nabla_y\hat{\mathcal L},

    with :math:`s=\sqrt{\sigma^2+\epsilon}` and the :math:`\epsilon`-normalized :math:`\hat y` (:math:`s=\sigma` at the
    paper's :math:`\epsilon=0`). For every :math:`\epsilon\ge0` this is an *identity* for every direction
    :math:`v\perp\{\mathbf 1,\hat y\}`: along :math:`y+tv` the mean is constant and
    :math:`s(t)^2=s^2+t^2\|v\|^2/m`, so :math:`\dot{\hat y}=v/s` and :math:`\ddot{\hat y}=-\hat y\|v\|^2/(ms^2)`
    (THEORY.md §2.5, THEORY-2.md §12.6, [D]). At :math:`\epsilon=0` the gradient :math:`v=\nabla_y\hat{\mathcal L}`
    is such a direction, which is the theorem with equality. At :math:`\epsilon>0` it is not
    (:math:`\hat y^\top\nabla_y\hat{\mathcal L}=\gamma\epsilon\langle g,\hat y\rangle/s^3`), and the statement
    along the gradient is then neither an identity nor a bound. The paper's second, conditional form is
    informal and is not provided.

    Parameters
    ----------
    v : array, shape (m, ...)
        Direction; the theorem takes the gradient :math:`\nabla_y\hat{\mathcal L}`.
    hessian : array, shape (m, m, ...)
        Hessian of the loss at the BN output.
    g : array, shape (m, ...)
        Gradient of the loss at the BN output.
    y : array, shape (m, ...)
        Pre-BN activations.
    gamma : float or array broadcastable to (...)
        BN scale.
    eps : float or array broadcastable to (...)
        The :math:`\epsilon` of BN, ``>= 0`` (one per unit, as `gamma`, when an array).
    """
    eps = check_eps(eps, "unit")
    y_hat, s = _normalized(y, eps)
    _like_y(v, "v", y)
    _like_y(g, "g", y)
    _like_y(hessian, "hessian", y, (y.shape[0], *y.shape))
    gamma = _scale_parameter(gamma, "gamma", y)
    xp = array_namespace(v, hessian)
    m = y.shape[0]
    vhv = _dot(v, xp.sum(hessian * v[None, ...], axis=1))  # sum_ij v_i H_ij v_j per unit
    return gamma**2 / s**2 * vhv - gamma / (m * s**2) * _dot(g, y_hat) * _dot(v, v)


def weight_gradient_bound(g: Array, y: Array, gamma: Any, lam: Any, *, eps: float | Array = 0.0) -> Array:
    r"""Right side of Theorem 4.4 (weight-space Lipschitzness), Santurkar et al. 2018, checkable form.

    For unit :math:`j` with weights :math:`W_j` and batch :math:`X\in\mathbb R^{m\times d}` (:math:`y=XW_j`),
    :math:`\nabla_{W_j}\hat{\mathcal L}=X^\top\nabla_y\hat{\mathcal L}`, so for :math:`\|X\|_2\le\lambda`

    .. math::

        \|\nabla_{W_j}\hat{\mathcal L}\|^2\le\lambda^2\frac{\gamma^2}{s^2}\Big(\|g\|^2-m\mu_g^2
            -\frac1m\langle g,\hat y\rangle^2\Big).

    The printed minimax form (:math:`g_j^2` of an already squared norm, :math:`\lambda^2` on one term only)
    is dimensionally inconsistent and is not what this computes (THEORY.md §2.7).

    Parameters
    ----------
    g, y, gamma, eps
        As in :func:`gradient_norm_bound`.
    lam : float or array broadcastable to (...)
        Bound on the operator norm :math:`\|X\|_2` of the input batch.
    """
    bound = gradient_norm_bound(g, y, gamma, eps=eps)
    return _scale_parameter(lam, "lam", y, low=0.0) ** 2 * bound


def rescaling_distance_bound(w0: Array, w_star: Array) -> Array:
    r"""Right side of Lemma 4.5 (BN leads to a favourable initialization), Santurkar et al. 2018.

    .. math::

        \|W_0-\hat W^*\|^2\le\|W_0-W^*\|^2-\frac{1}{\|W^*\|^2}\big(\|W^*\|^2-\langle W^*,W_0\rangle\big)^2
        =\|W_0\|^2-\frac{\langle W^*,W_0\rangle^2}{\|W^*\|^2},

    where :math:`\hat W^*` is the optimum of the BN network closest to :math:`W_0` on the ray
    :math:`\{cW^*:c>0\}` of optima that BN's invariance to positive rescaling creates. Needs
    :math:`\langle W_0,W^*\rangle>0`; otherwise the closest admissible point is the limit :math:`c\to0^+`
    and the bound is false.

    Parameters
    ----------
    w0, w_star : array, shape (d, ...)
        Initialization and optimum of the network without BN: the weights flattened along the first axis, as every
        function here takes its vectors (trailing axes: independent pairs).

    Raises
    ------
    ValueError
        On NaN or inf, a shape mismatch or a zero :math:`W^*` (its ray is a point).

    Notes
    -----
    The bound is homogeneous of degree 2, so both vectors are first scaled by one power of two (exact) that brings
    their largest entry near 1: weights near 1e200 do not overflow the squares.
    """
    xp = check_float_array(w0, "w0", finite=True)
    check_float_array(w_star, "w_star", finite=True)
    check_same_dtype(w_star, "w_star", w0)
    if tuple(w0.shape) != tuple(w_star.shape) or 0 in tuple(w0.shape):
        raise ValueError(
            f"w0, w_star: expected one non-empty shape, got {tuple(w0.shape)} and {tuple(w_star.shape)}; "
            "pass matching weights"
        )
    if bool(xp.any(xp.all(w_star == 0, axis=0))):
        raise ValueError("w_star: is zero, so the ray {c W*} of optima is a point; pass a non-zero optimum")
    largest = float(to_numpy(xp.max(xp.maximum(xp.abs(w0), xp.abs(w_star)))))
    scale = float(np.ldexp(1.0, -np.frexp(largest)[1]))
    a, b = w0 * asarray(scale, xp, dtype=w0.dtype), w_star * asarray(scale, xp, dtype=w0.dtype)
    diff = a - b
    # ||W*||^2 - <W*, W0> = -<W*, W0 - W*>, computed from the difference: the left form cancels when W0 is near W*
    # (the million-instance attack measured 1.5e-12 of the size of the two terms at |W0 - W*| ~ 1e-4 |W*|).
    # Back to the input's scale by 2**e twice (2**(2e) itself may not be representable).
    return (_dot(diff, diff) - _dot(b, diff) ** 2 / _dot(b, b)) / scale / scale


# --- the transfer of Theorems 4.1 and 4.2 to per-group normalizations (THEORY-2.md §9.4, T2) ---------------


def _group_inputs(x: Array, eps: Any, center: Any) -> tuple[Any, bool]:
    """Check the groups' inputs `x` (the group along the last axis), `eps` and `center`; return eps and center."""
    check_float_array(x, "x")
    eps = check_eps(eps, "unit")
    center = check_bool(center, "center")
    least = 2 if center else 1
    if x.shape[-1] < least or 0 in tuple(x.shape):
        raise ValueError(
            f"x: a normalization group along the last axis needs at least {least} entries, got shape "
            f"{tuple(x.shape)}; pass non-empty groups of at least {least} entries"
        )
    return eps, center


def _gain(gamma: Any, name: str, like: Array, shape: tuple[int, ...], what: str) -> Any:
    """`gamma` checked: a finite real number, or a finite array of the dtype of `like` broadcasting to `shape`."""
    if isinstance(gamma, np.generic) or not is_array_api_obj(gamma):
        return check_real(gamma, name)
    check_float_array(gamma, name, min_ndim=0, finite=True)
    check_same_dtype(gamma, name, like)
    try:
        fits = np.broadcast_shapes(tuple(gamma.shape), shape) == shape
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(f"{name}: shape {tuple(gamma.shape)} does not broadcast to {shape}; pass a number or {what}")
    return gamma


def _finite_result(value: Array, names: str, what: str) -> Array:
    """`value` if every entry is finite; the inputs were checked finite, so anything else is an overflow."""
    xp = array_namespace(value)
    if not bool(xp.all(xp.isfinite(value))):
        raise NonFiniteError(f"{names}: {what} overflows {value.dtype}; rescale them by a constant")
    return value


def group_gradient_norm_bound(
    delta: Array, x: Array, gamma: Any = 1.0, *, eps: float | Array = 0.0, center: bool = True
) -> Array:
    r"""Right side of Theorem 4.1 for one normalization group of LN, GN, IN (`center`) or RMSNorm (not `center`).

    With :math:`g=\gamma\odot\delta` (the gain *inside*: elementwise :math:`\gamma`, THEORY-2.md §9.2),

    .. math::

        \|\nabla_x\ell\|^2\le\frac1{s^2}\Big(\|g\|^2-\tfrac1m(\mathbf 1^\top g)^2-\tfrac1m(\hat x^\top g)^2\Big)
        \ (\text{LN/GN/IN}),\qquad
        \|\nabla_x\ell\|^2\le\frac1{r^2}\Big(\|g\|^2-\tfrac1m(\hat x^\top g)^2\Big)\ (\text{RMSNorm}),

    :math:`s=\sqrt{\sigma^2+\epsilon}` (RMS: :math:`r=\sqrt{\overline{x^2}+\epsilon}`), :math:`\hat x` the
    :math:`\epsilon`-normalized group. An equality at :math:`\epsilon=0`, and at :math:`\epsilon>0` exactly when
    :math:`\hat x^\top g=0` (the exact value has :math:`(2-\|\hat x\|^2/m)` on the last term, and
    :math:`\|\hat x\|^2=m\sigma^2/s^2\le m`). THEORY-2.md §9.4 (T1/T2) [D]; Santurkar et al. 2018, Theorem 4.1, with
    the batch replaced by the group. :func:`gradient_norm_bound` is the BN case (scalar :math:`\gamma`).

    Parameters
    ----------
    delta : array, shape (..., m)
        Upstream gradient :math:`\partial\ell/\partial y` of each group, the group along the last axis.
    x : array, shape (..., m)
        The groups' inputs.
    gamma : float or array broadcastable to (..., m)
        The gain of each entry (LN, RMSNorm: elementwise; GN: one per channel, repeated over its entries).
    eps : float or array broadcastable to (...)
        :math:`\epsilon\ge0` (one per group when an array: a batch of independent instances, each with its own).
    center : bool
        False for RMSNorm (no :math:`\mathbf 1` term).

    Returns
    -------
    array, shape (...)
        One bound per group.

    Raises
    ------
    ValueError
        If a group has fewer than 2 entries (centred; 1 for RMSNorm) or `eps` < 0, a group is constant (zero) at
        ``eps=0``, an argument holds NaN or inf, `delta` does not have the shape of `x`, `gamma` does not broadcast to
        it, or the bound overflows (rescale `delta`).
    TypeError
        If an array is not a real floating array of the backend and dtype of `x`, or `eps`, `center` are not a number
        and a bool.
    """
    eps, center = _group_inputs(x, eps, center)
    _like_x(delta, "delta", x)
    gamma = _gain(gamma, "gamma", x, tuple(x.shape), "one gain per entry of a group (shape (m,) or that of x)")
    xp = array_namespace(x)
    if not isinstance(eps, float):  # one per group: against the statistics, which keep the group axis
        eps = eps[..., None]
    x_hat, inv_std = standardize(x, tuple(x.shape), (x.ndim - 1,), eps, center, xp=xp)
    m = x.shape[-1]
    with np.errstate(over="ignore", invalid="ignore"):  # an overflow shows in the result, checked below
        g = gamma * delta
        if center:  # ||g||^2 - (1^T g)^2 / m as ||g - mean(g)||^2, without the cancellation (gradient_norm_bound)
            g = g - xp.mean(g, axis=-1, keepdims=True)
        total = xp.sum(g * g, axis=-1) - xp.sum(g * x_hat, axis=-1) ** 2 / m
        bound = inv_std[..., 0] ** 2 * total
    return _finite_result(bound, "delta, gamma", "the bound (quadratic in gamma * delta)")


def group_hessian_form(
    v: Array, hessian: Array, grad: Array, x: Array, gamma: Any = 1.0, *, eps: float = 0.0, center: bool = True
):
    r"""Theorem 4.2 for one group: :math:`v^\top\nabla_x^2\hat L\,v`, :math:`v\perp\mathbf 1,\hat x`.

    For :math:`\hat L(x)=F(z)`, :math:`z=\gamma\odot\hat x+\beta`, :math:`\hat g=\nabla_zF`, :math:`H=\nabla_z^2F`:

    .. math::

        v^\top\nabla_x^2\hat L\,v=\frac1{s^2}(\gamma\odot v)^\top H(\gamma\odot v)
        -\frac{\|v\|^2}{m\,s^2}\,\langle\gamma\odot\hat g,\hat x\rangle,

    exact for every :math:`\epsilon\ge0` (:math:`s=\sqrt{\sigma^2+\epsilon}`; RMSNorm: :math:`s\to r`, and
    :math:`v\perp x` suffices) because along :math:`x+tv` the mean is constant and
    :math:`s(t)^2=s^2+t^2\|v\|^2/m`. With constant :math:`\gamma` it is :func:`hessian_form_bound` (BN,
    Santurkar et al. 2018, Theorem 4.2). THEORY-2.md §9.4 (T2) [D].

    Parameters
    ----------
    v, grad, x : array, shape (..., m)
        Direction (orthogonal to :math:`\mathbf 1` and :math:`\hat x` in each group; not checked), :math:`\hat g`,
        and the groups' inputs, the group along the last axis.
    hessian : array, shape (..., m, m)
        :math:`H=\nabla_z^2F` per group.
    gamma : float or array broadcastable to (..., m)
        The gain of each entry.
    eps : float
        :math:`\epsilon\ge0`.
    center : bool
        False for RMSNorm.

    Returns
    -------
    array, shape (...)

    Raises
    ------
    ValueError, TypeError
        As :func:`group_gradient_norm_bound`; `hessian` must have shape ``(*x.shape, m)``.
    """
    eps, center = _group_inputs(x, eps, center)
    _like_x(v, "v", x)
    _like_x(grad, "grad", x)
    _like_x(hessian, "hessian", x, (*x.shape, x.shape[-1]))
    gamma = _gain(gamma, "gamma", x, tuple(x.shape), "one gain per entry of a group (shape (m,) or that of x)")
    xp = array_namespace(x)
    x_hat, inv_std = standardize(x, tuple(x.shape), (x.ndim - 1,), eps, center, xp=xp)
    m = x.shape[-1]
    with np.errstate(over="ignore", invalid="ignore"):  # an overflow shows in the result, checked below
        gv = gamma * v
        curvature = xp.sum(gv * xp.sum(hessian * gv[..., None, :], axis=-1), axis=-1)
        inv2 = inv_std[..., 0] ** 2
        form = inv2 * curvature - inv2 / m * xp.sum(v * v, axis=-1) * xp.sum(gamma * grad * x_hat, axis=-1)
    return _finite_result(form, "v, hessian, grad, gamma", "the form (quadratic in gamma * v)")


def weight_norm_gradient_norm(dw: Array, v: Array, g: Any) -> Array:
    r"""Theorem 4.1's analogue for weight normalization, per row :math:`w=g\,v/\|v\|` (THEORY-2.md §9.4, T2) [D].

    .. math:: \|\nabla_vL\|^2=\frac{g^2}{\|v\|^2}\Big(\|\nabla_wL\|^2-(\hat w^\top\nabla_wL)^2\Big),
        \qquad\hat w=v/\|v\|,

    an identity (no :math:`\epsilon`): :math:`\nabla_vL` is the projection of :math:`\tfrac g{\|v\|}\nabla_wL`
    orthogonal to :math:`v`. Note the unit :math:`\hat w`: with BN's :math:`\hat x` (norm :math:`\sqrt m`) the same
    term reads :math:`\tfrac1m(\hat x^\top g)^2`.

    Parameters
    ----------
    dw, v : array, shape (..., d)
        :math:`\nabla_wL` and the direction parameter, one row per output unit.
    g : float or array broadcastable to (...)
        The rows' lengths.

    Returns
    -------
    array, shape (...)

    Raises
    ------
    ValueError
        On NaN or inf, an empty or zero row of `v`, `dw` not of the shape of `v`, `g` not broadcasting to
        ``v.shape[:-1]``, or a result that overflows.
    TypeError
        If an array is not a real floating array of the backend and dtype of `v`, or `g` is not a number or array.

    Notes
    -----
    Each row of `v` is first scaled by a power of two (exact): rows near 1e200 or 1e-200 do not overflow
    :math:`\|v\|^2`.
    """
    xp = check_float_array(v, "v", finite=True)
    if 0 in tuple(v.shape):
        raise ValueError(f"v: is empty (shape {tuple(v.shape)}); pass at least one non-empty row")
    _like_x(dw, "dw", v, name_of_x="v")
    g = _gain(g, "g", v, tuple(v.shape[:-1]), "one length per row (shape v.shape[:-1])")
    # Each row of v is scaled by a power of two that brings its largest entry into [1/2, 1): exact, so the numbers
    # are those of the unscaled formula, while ||v||^2 of rows near 1e200 (or 1e-200) neither overflows nor vanishes.
    largest = np.asarray(to_numpy(xp.max(xp.abs(v), axis=-1)), dtype=np.float64)
    if not np.all(largest > 0):
        raise ValueError("v: a row is zero, so its direction v/||v|| is undefined; pass non-zero rows")
    scale = asarray(np.ldexp(1.0, -np.frexp(largest)[1]), xp, dtype=v.dtype)
    with np.errstate(over="ignore", invalid="ignore"):  # an overflow shows in the result, checked below
        v = v * scale[..., None]
        norm2 = xp.sum(v * v, axis=-1)
        along = xp.sum(dw * v, axis=-1) ** 2 / norm2
        value = g**2 / norm2 * (xp.sum(dw * dw, axis=-1) - along) * scale * scale
    return _finite_result(value, "dw, g, v", "||grad_v L||^2 = g^2 ||P dw||^2 / ||v||^2")
