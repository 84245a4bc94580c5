r"""The decomposed BN layer of Nachum et al. 2024: recentering, rescaling and ReLU as separate steps.

A batch is :math:`H\in\mathbb R^{d\times n}` with the **batch in columns**; a layer is :math:`Z=WH` followed by
any subset of the steps of :data:`STEPS` (see :mod:`bntheory.representations`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from array_api_compat import array_namespace, device

from bntheory import norms
from bntheory._validation import NonFiniteError, check_choice, check_float_array, check_int, check_nonnegative

__all__ = ["PER_SAMPLE", "STEPS", "alpha", "apply_steps", "per_sample_norm"]

Array = Any
STEPS: tuple[str, ...] = ("rc", "rc_sample", "rs", "rms", "relu")
#: The per-sample normalizations of :func:`per_sample_norm` (THEORY-2.md §9.1), by their :mod:`bntheory.norms` name.
PER_SAMPLE: tuple[str, ...] = ("layer", "rms", "group")


def alpha(n: int) -> float:
    r""":math:`\alpha=n^2/(n^2-2n+2)`, the factor on He's variance :math:`2/d` of Nachum et al. 2024.

    It preserves the Gram matrix of the cluster-plus-outlier configuration in expectation (THEORY.md §4.4,
    Definition 12, [S]).
    """
    n = check_int(n, "n")
    if n < 2:
        raise ValueError(f"n: the configuration needs a batch of at least 2, got {n}; pass n >= 2")
    return n * n / (n * n - 2 * n + 2)


def check_steps(steps: Any) -> tuple[str, ...]:
    """`steps` as a tuple of names of :data:`STEPS` (a bare string is refused: it would read as its letters)."""
    if isinstance(steps, str) or not isinstance(steps, Sequence):
        raise TypeError(f"steps: expected a sequence of step names, got {steps!r}; wrap one step in a tuple: ('rc',)")
    for step in steps:
        if step not in STEPS:
            raise ValueError(f"steps: unknown step {step!r}; choose from {', '.join(STEPS)}")
    return tuple(steps)


def apply_steps(Z: Array, steps: Sequence[str], *, eps: float = 0.0, strict: bool = True) -> Array:
    """Apply the decomposed BN steps and the non-linearity to pre-activations ``Z`` of shape (..., d, n).

    Parameters
    ----------
    Z : array, shape (..., d, n)
    steps : sequence of str
        Names from :data:`STEPS`, applied in order.
    eps : float, keyword-only
        Added to the rescaling steps' statistic.
    strict : bool, keyword-only
        Check the values (the default). ``False`` skips that, for callers that watch for NaN themselves (a deep
        network in which a dead feature's 0/0 is allowed to propagate, :func:`~bntheory.representations.deep_network`).

    Raises
    ------
    ValueError
        On an unknown step; with `strict`, on NaN or inf in `Z`, or a rescaling step (``"rs"``, ``"rms"``) whose
        per-feature statistic is 0 at ``eps=0`` (a constant feature: 0/0) or overflows (rescale `Z`: both steps are
        scale invariant).
    TypeError
        If `Z` is not a real floating array of at least 2 dims, or `steps` is not a sequence of names.
    """
    if strict:
        check_float_array(Z, "Z", min_ndim=2, finite=True)
        if Z.shape[-1] == 0 or Z.shape[-2] == 0:
            raise ValueError(
                f"Z: expected at least one feature and one point, got shape {tuple(Z.shape)}; pass a batch"
            )
        steps = check_steps(steps)
        eps = check_nonnegative(eps, "eps")
    xp = array_namespace(Z)
    for step in steps:
        if step == "rc":
            Z = Z - xp.mean(Z, axis=-1, keepdims=True)
        elif step == "rc_sample":
            Z = Z - xp.mean(Z, axis=-2, keepdims=True)
        elif step in ("rs", "rms"):
            with np.errstate(over="ignore"):
                centred = Z - xp.mean(Z, axis=-1, keepdims=True) if step == "rs" else Z
                power = xp.mean(centred * centred, axis=-1, keepdims=True) + eps
            if strict:
                _check_power(power, step)
            Z = Z / xp.sqrt(power)
        elif step == "relu":
            # A 0-d zero broadcasts: maximum against a full array of zeros (zeros_like) is ~20x slower on NumPy.
            Z = xp.maximum(Z, xp.zeros((), dtype=Z.dtype, device=device(Z)))
        else:
            raise ValueError(f"steps: unknown step {step!r}; choose from {', '.join(STEPS)}")
    return Z


def per_sample_norm(Z: Array, kind: str, *, groups: int = 1, eps: float = 0.0) -> Array:
    r"""Normalize each batch point (column) of ``Z`` (shape (..., d, n)) by a per-sample normalization, no affine.

    The transforms of :mod:`bntheory.norms` applied to the columns: ``"layer"`` standardizes each column over its
    :math:`d` features (LayerNorm), ``"rms"`` divides it by its root mean square (RMSNorm), ``"group"`` standardizes
    each of `groups` blocks of :math:`d/G` consecutive features separately (GroupNorm; :math:`G=1` is LayerNorm).
    Unlike the steps of :func:`apply_steps`, no statistic is taken across the batch: every column is mapped on its
    own (THEORY-2.md §9.4, T5 and T6).

    Raises
    ------
    ValueError
        If `kind` is not one of :data:`PER_SAMPLE`, `Z` is empty or holds NaN or inf, a normalization group has
        fewer than 2 entries (centred) or is constant (zero, ``"rms"``) at ``eps=0``, its statistics overflow, or
        `groups` does not divide :math:`d`.
    TypeError
        If `Z` is not a real floating array of at least 2 dims, or `groups`, `eps` are not an int and a number.
    """
    check_float_array(Z, "Z", min_ndim=2)
    kind = check_choice(kind, "kind", PER_SAMPLE)
    groups = check_int(groups, "groups", minimum=1)
    eps = check_nonnegative(eps, "eps")
    shape = tuple(Z.shape)
    d = shape[-2]
    if 0 in shape:
        raise ValueError(f"Z: expected at least one feature and one point, got shape {shape}; pass a batch")
    if kind == "group" and d % groups:
        raise ValueError(f"groups: {groups} does not divide the {d} features of Z; pass a divisor of {d}")
    least = 1 if kind == "rms" else 2
    if d // (groups if kind == "group" else 1) < least:
        raise ValueError(
            f"Z: a column's normalization group holds {d // (groups if kind == 'group' else 1)} feature(s) "
            f"(shape {shape}); centring needs at least {least}: use fewer groups or more features"
        )
    xp = array_namespace(Z)
    X = xp.reshape(xp.matrix_transpose(Z), (-1, d))  # one row per batch point
    try:
        if kind == "layer":
            Y, _ = norms.layer_norm(X, d, eps=eps)
        elif kind == "rms":
            Y, _ = norms.rms_norm(X, d, eps=eps)
        else:
            Y, _ = norms.group_norm(X, groups, eps=eps)
    except ValueError as error:  # the transforms' checks of their input (NaN, inf, 0/0) name it x: here it is Z
        message = str(error)
        if not message.startswith("x: "):
            raise
        raise type(error)("Z: " + message[3:]) from None
    return xp.matrix_transpose(xp.reshape(Y, (*shape[:-2], shape[-1], d)))


def _check_power(power: Array, step: str) -> None:
    xp = array_namespace(power)
    if not bool(xp.all(xp.isfinite(power))):
        raise NonFiniteError(
            f"Z: the per-feature statistic of {step!r} overflows; rescale Z (the step is scale invariant)"
        )
    if not bool(xp.all(power > 0)):
        what = "constant" if step == "rs" else "zero"
        raise ValueError(f"Z: a feature is {what}, so {step!r} divides by 0; use eps > 0")
