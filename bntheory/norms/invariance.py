r"""The invariance table's setting: a bias-free linear (or 1×1 convolutional) layer, its normalizations, six maps.

Ba, Kiros & Hinton 2016 (arXiv:1607.06450), §5.1 and Table 1; THEORY-2.md §9.3. The layer is :math:`a=Wx`,
:math:`W\in\mathbb R^{C\times D}`, applied to each sample (fully connected, `X` of shape ``(N, D)``) or to each
of :math:`S` positions of each sample (a 1×1 convolution, `X` of shape ``(N, D, S)``); :func:`normalized_layer`
normalizes :math:`a` without affine parameters. The six transformations of the table:

(1) :func:`rescale_weights`, :math:`W\to\delta W`; (2) :func:`recentre_weights`, :math:`W\to W+\mathbf 1c^\top`
(one vector added to every row); (3) :func:`rescale_row`, :math:`w_i\to\delta w_i`; (4) :func:`rescale_data`,
:math:`x_n\to\delta x_n` for all :math:`n`; (5) :func:`recentre_data`, :math:`x_n\to x_n+c` for all :math:`n` (and
every position); (6) :func:`rescale_case`, :math:`x_n\to\delta x_n` for one :math:`n`. :func:`transformed` applies
one by its number. A normalization is *invariant* to a transformation when its output does not change; which
ones are is the table (THEORY-2.md §9.3: it removes a shift or a factor exactly when that is constant over each
of its groups). All functions are pure (no argument is modified) and written against the array API standard.

Examples
--------
>>> import numpy as np
>>> from bntheory.norms import invariance
>>> rng = np.random.default_rng(0)
>>> W, X = rng.normal(size=(4, 3)), rng.normal(size=(6, 3))
>>> y = invariance.normalized_layer(W, X, "layer")
>>> bool(np.allclose(invariance.normalized_layer(invariance.recentre_weights(W, np.ones(3)), X, "layer"), y))
True
>>> bool(np.allclose(invariance.normalized_layer(invariance.rescale_row(W, 0, 2.0), X, "layer"), y))
False
"""

from __future__ import annotations

from typing import Any

import numpy as np
from array_api_compat import array_namespace, device

from bntheory._validation import (
    NonFiniteError,
    check_choice,
    check_float_array,
    check_int,
    check_nonnegative,
    check_same_dtype,
)
from bntheory.norms import batch
from bntheory.norms.group import group_norm, instance_norm
from bntheory.norms.layer import layer_norm, rms_norm
from bntheory.norms.weight import weight_norm

__all__ = [
    "NORMALIZATIONS",
    "TRANSFORMATIONS",
    "normalized_layer",
    "recentre_data",
    "recentre_weights",
    "rescale_case",
    "rescale_data",
    "rescale_row",
    "rescale_weights",
    "transformed",
]

Array = Any

#: The normalizations :func:`normalized_layer` applies (THEORY-2.md §9.1): BN per unit over the batch and the
#: positions; LN over all units (and positions) of a sample; LN per position (the transformer's, over the units
#: at each position); GN per sample and group of units; IN per sample and unit over the positions; RMSNorm over
#: all units (and positions) of a sample; WN of each row of :math:`W`.
NORMALIZATIONS: tuple[str, ...] = ("batch", "layer", "position", "group", "instance", "rms", "weight")

#: The table's columns, numbered as in Ba et al.'s Table 1 and THEORY-2.md §9.3.
TRANSFORMATIONS: dict[int, str] = {
    1: "weight-matrix rescaling W -> delta W",
    2: "weight-matrix re-centring W -> W + 1 c^T",
    3: "rescaling one row w_i -> delta w_i",
    4: "data rescaling x_n -> delta x_n, all n",
    5: "data re-centring x_n -> x_n + c, all n",
    6: "rescaling one training case x_n -> delta x_n",
}


def rescale_weights(W: Array, delta: float) -> Array:
    r"""Transformation (1), :math:`W\to\delta W` (THEORY-2.md §9.3).

    Parameters
    ----------
    W : array, shape (C, D)
        The weight matrix, rows :math:`w_i^\top`.
    delta : float
        :math:`\delta>0`.

    Raises
    ------
    ValueError
        If `delta` is not a positive finite number (a negative one flips every sign, which no centred
        normalization ignores).
    TypeError
        If `W` is not a floating matrix.
    """
    _check_matrix(W, "W")
    return _finite(_positive(delta, "delta"), W, "W", lambda d, a: d * a)


def recentre_weights(W: Array, c: Array) -> Array:
    r"""Transformation (2), :math:`W\to W+\mathbf 1c^\top`: the same vector `c` added to every row (§9.3).

    It shifts every unit of a sample by the same :math:`c^\top x`, which a normalization removes exactly when
    that shift is constant over each of its groups (THEORY-2.md §9.3, trap (i)).

    Parameters
    ----------
    W : array, shape (C, D)
    c : array, shape (D,), dtype of `W`

    Raises
    ------
    ValueError, TypeError
        If `c` is not a vector of length D with the dtype of `W`.
    """
    xp = _check_matrix(W, "W")
    _check_vector(c, "c", W.shape[1], W)
    return _finite(xp.reshape(c, (1, W.shape[1])), W, "W, c", lambda c, a: a + c)


def rescale_row(W: Array, row: int, delta: float) -> Array:
    r"""Transformation (3), :math:`w_i\to\delta w_i` for the one row :math:`i=` `row` (§9.3).

    Raises
    ------
    ValueError
        If `row` is not an index of a row of `W` or `delta` is not positive.
    """
    xp = _check_matrix(W, "W")
    rows = xp.arange(W.shape[0], device=device(W))
    mask = xp.reshape(rows == _index(row, W.shape[0], "row"), (W.shape[0], 1))
    return _finite(_positive(delta, "delta"), W, "W", lambda d, a: xp.where(mask, d * a, a))


def rescale_data(X: Array, delta: float) -> Array:
    r"""Transformation (4), :math:`x_n\to\delta x_n` for every sample (§9.3).

    Parameters
    ----------
    X : array, shape (N, D) or (N, D, S)
        The inputs, samples first, features on axis 1 (positions last for a 1×1 convolution).
    delta : float
        :math:`\delta>0`.
    """
    _check_data(X)
    return _finite(_positive(delta, "delta"), X, "X", lambda d, a: d * a)


def recentre_data(X: Array, c: Array) -> Array:
    r"""Transformation (5), :math:`x_n\to x_n+c` for every sample and every position (§9.3).

    Parameters
    ----------
    X : array, shape (N, D) or (N, D, S)
    c : array, shape (D,), dtype of `X`
    """
    xp = _check_data(X)
    _check_vector(c, "c", X.shape[1], X)
    return _finite(xp.reshape(c, (1, X.shape[1]) + (1,) * (X.ndim - 2)), X, "X, c", lambda c, a: a + c)


def rescale_case(X: Array, case: int, delta: float) -> Array:
    r"""Transformation (6), :math:`x_n\to\delta x_n` for the one sample :math:`n=` `case` (§9.3).

    Raises
    ------
    ValueError
        If `case` is not an index of a sample of `X` or `delta` is not positive.
    """
    xp = _check_data(X)
    n = X.shape[0]
    cases = xp.arange(n, device=device(X))
    mask = xp.reshape(cases == _index(case, n, "case"), (n,) + (1,) * (X.ndim - 1))
    return _finite(_positive(delta, "delta"), X, "X", lambda d, a: xp.where(mask, d * a, a))


def transformed(
    number: int, W: Array, X: Array, *, delta: float, c_weights: Array, c_data: Array, row: int, case: int
) -> tuple[Array, Array]:
    r"""``(W, X)`` after transformation `number` of :data:`TRANSFORMATIONS` (the other argument unchanged).

    Parameters
    ----------
    number : int
        1 to 6, the column of THEORY-2.md §9.3's table.
    W : array, shape (C, D)
    X : array, shape (N, D) or (N, D, S)
    delta : float
        The factor of (1), (3), (4) and (6).
    c_weights, c_data : array, shape (D,)
        The vectors of (2) and (5).
    row, case : int
        The row of (3) and the sample of (6).

    Raises
    ------
    ValueError, TypeError
        If `number` is not an int 1 to 6, or any argument is refused as the transformations refuse it (all are
        checked, also those the transformation does not use).
    """
    number = check_int(number, "number")
    if not 1 <= number <= 6:
        raise ValueError(f"number: expected a transformation 1 to 6 (THEORY-2.md §9.3), got {number}; pass 1 to 6")
    # Every argument is checked, not only the one the transformation uses: the other is returned as it came.
    _check_matrix(W, "W")
    _check_data(X)
    check_same_dtype(X, "X", W)
    _check_vector(c_weights, "c_weights", W.shape[1], W)
    _check_vector(c_data, "c_data", X.shape[1], X)
    _positive(delta, "delta")
    _index(row, W.shape[0], "row")
    _index(case, X.shape[0], "case")
    if number == 1:
        return rescale_weights(W, delta), X
    if number == 2:
        return recentre_weights(W, c_weights), X
    if number == 3:
        return rescale_row(W, row, delta), X
    if number == 4:
        return W, rescale_data(X, delta)
    if number == 5:
        return W, recentre_data(X, c_data)
    return W, rescale_case(X, case, delta)


def normalized_layer(W: Array, X: Array, norm: str, *, groups: int | None = None, eps: float = 0.0) -> Array:
    r"""The normalized pre-activation of a bias-free linear or 1×1 convolutional layer, without affine.

    .. math::

        a_{n,c,s}=\sum_d W_{c,d}\,X_{n,d,s},\qquad y=\mathrm{norm}(a)

    (fully connected: no position index). `norm` names the groups the statistics are taken over (THEORY-2.md
    §9.1): ``"batch"`` (BN: unit :math:`c` over all :math:`n,s`), ``"layer"`` (LN: sample :math:`n` over all
    :math:`c,s`, Ba et al.'s "all the hidden units in a layer"), ``"position"`` (the transformer's LN: each
    :math:`(n,s)` over :math:`c`; the same as ``"layer"`` without positions), ``"group"`` (GN: each :math:`n` and
    group of :math:`C/G` consecutive units over those units and :math:`s`), ``"instance"`` (IN: each :math:`(n,c)`
    over :math:`s`), ``"rms"`` (RMSNorm over all :math:`c,s` of a sample, no centring) and ``"weight"`` (WN,
    :math:`a_c=w_c^\top x/\|w_c\|`, Ba et al. §5.1's :math:`\mu=0,\ \sigma=\|w\|`).

    Parameters
    ----------
    W : array, shape (C, D)
    X : array, shape (N, D) or (N, D, S), dtype of `W`
    norm : str
        One of :data:`NORMALIZATIONS`.
    groups : int, optional, keyword-only
        :math:`G` of ``"group"`` (required there, refused elsewhere).
    eps : float, keyword-only
        :math:`\epsilon\ge0` of the activation normalizations (§9.3's table is at 0); WN has none and refuses
        ``eps != 0``.

    Returns
    -------
    y : array, shape (N, C) or (N, C, S)

    Raises
    ------
    ValueError
        On an unknown `norm`, a `groups` given or missing as above, mismatched shapes, or whatever the
        normalization refuses (IN of a fully connected layer: a group of one value; a constant group at
        ``eps=0``).
    TypeError
        On non-floating arrays or mismatched dtypes.
    """
    xp = _check_matrix(W, "W")
    _check_data(X)
    check_same_dtype(X, "X", W)
    if X.shape[1] != W.shape[1]:
        raise ValueError(
            f"X: expected {W.shape[1]} features on axis 1 (the columns of W), got shape {tuple(X.shape)}; "
            "pass matching W and X"
        )
    check_choice(norm, "norm", NORMALIZATIONS)
    if (groups is None) == (norm == "group"):
        raise ValueError(
            f"groups: GroupNorm needs the number of groups, the other normalizations take none; got {groups!r}; "
            "pass groups= with norm='group' only"
        )
    if groups is not None:
        groups = check_int(groups, "groups", minimum=1)
    eps = check_nonnegative(eps, "eps")
    try:
        return _normalized(W, X, norm, groups, eps, xp)
    except ValueError as error:  # the transforms name their input x (WN: v): here X W^T (WN: W)
        message = str(error)
        renamed = {"x: ": "X W^T (the pre-activation): ", "v: ": "W: "}.get(message[:3])
        if renamed is None:
            raise
        raise type(error)(renamed + message[3:]) from None


def _normalized(W: Array, X: Array, norm: str, groups: int | None, eps: float, xp: Any) -> Array:
    if norm == "weight":
        if eps != 0:
            raise ValueError(f"eps: WeightNorm divides by ||w_i|| and has no eps, got {eps!r}; use eps=0")
        W, _ = weight_norm(W, xp.ones((W.shape[0],), dtype=W.dtype, device=device(W)))
    # (C, D) @ (N, D, S) -> (N, C, S); fully connected: (N, D) @ (D, C) -> (N, C).
    with np.errstate(over="ignore", invalid="ignore"):
        a = xp.matmul(X, xp.matrix_transpose(W)) if X.ndim == 2 else xp.matmul(W, X)
    if not bool(xp.all(xp.isfinite(a))):
        raise NonFiniteError(f"X, W: the pre-activation X W^T overflows {a.dtype}; rescale X or W by a constant")
    units = tuple(a.shape[1:])
    if norm == "weight":
        return a
    if norm == "batch":
        channels = a.shape[1]
        where = {"dtype": a.dtype, "device": device(a)}
        one, zero = xp.ones((channels,), **where), xp.zeros((channels,), **where)
        return batch.forward(a, one, zero, eps=eps)[0]
    if norm == "layer" or (norm == "position" and a.ndim == 2):  # without positions the two LNs coincide
        return layer_norm(a, units, eps=eps)[0]
    if norm == "rms":
        return rms_norm(a, units, eps=eps)[0]
    if norm == "group":
        return group_norm(a, groups, eps=eps)[0]
    if norm == "instance":
        return instance_norm(a, eps=eps)[0]
    per_position = layer_norm(xp.permute_dims(a, (0, 2, 1)), units[:1], eps=eps)[0]
    return xp.permute_dims(per_position, (0, 2, 1))


# --- argument checks -------------------------------------------------------------------------------------


def _check_matrix(W: Array, name: str) -> Any:
    xp = check_float_array(W, name, min_ndim=2, finite=True)
    if W.ndim != 2:
        raise ValueError(f"{name}: expected a (C, D) weight matrix, got shape {tuple(W.shape)}; pass a matrix")
    return xp


def _check_data(X: Array) -> Any:
    xp = check_float_array(X, "X", min_ndim=2, finite=True)
    if X.ndim > 3:
        raise ValueError(f"X: expected (N, D) or (N, D, S) (flatten the positions to S), got shape {tuple(X.shape)}")
    return xp


def _check_vector(c: Array, name: str, length: int, like: Array) -> None:
    check_float_array(c, name, finite=True)
    check_same_dtype(c, name, like)
    if tuple(c.shape) != (length,):
        raise ValueError(
            f"{name}: expected shape ({length},) (one entry per input feature), got {tuple(c.shape)}; "
            f"give it {length} entries"
        )


def _positive(delta: float, name: str) -> float:
    value = check_nonnegative(delta, name)
    if value == 0:
        raise ValueError(f"{name}: expected a positive factor, got {delta!r}; pass a factor > 0")
    return value


def _index(i: int, n: int, name: str) -> int:
    i = check_int(i, name)
    if not 0 <= i < n:
        raise ValueError(f"{name}: expected an index 0 to {n - 1}, got {i}; pass an index in that range")
    return i


def _finite(parameter: Any, a: Array, names: str, apply: Any) -> Array:
    """``apply(parameter, a)``, refused when it overflows (the inputs are finite, so only an overflow is not)."""
    with np.errstate(over="ignore", invalid="ignore"):
        out = apply(parameter, a)
    xp = array_namespace(out)
    if not bool(xp.all(xp.isfinite(out))):
        raise NonFiniteError(f"{names}: the transformed array overflows {out.dtype}; rescale {names} by a constant")
    return out
