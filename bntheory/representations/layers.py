r"""The decomposed BN layer of Nachum et al. 2024: recentering, rescaling and ReLU as separate steps.

A batch is :math:`H\in\mathbb R^{d\times n}` with the **batch in columns**; a layer is :math:`Z=WH` followed by
any subset of the steps of :data:`STEPS` (see :mod:`bntheory.representations`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from array_api_compat import array_namespace

from bntheory import norms

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
    if n < 2:
        raise ValueError(f"n: the configuration needs a batch of at least 2, got {n}")
    return n * n / (n * n - 2 * n + 2)


def apply_steps(Z: Array, steps: Sequence[str], *, eps: float = 0.0) -> Array:
    """Apply the decomposed BN steps and the non-linearity to pre-activations ``Z`` of shape (..., d, n)."""
    xp = array_namespace(Z)
    for step in steps:
        if step == "rc":
            Z = Z - xp.mean(Z, axis=-1, keepdims=True)
        elif step == "rc_sample":
            Z = Z - xp.mean(Z, axis=-2, keepdims=True)
        elif step == "rs":
            Z = Z / xp.sqrt(xp.mean((Z - xp.mean(Z, axis=-1, keepdims=True)) ** 2, axis=-1, keepdims=True) + eps)
        elif step == "rms":
            Z = Z / xp.sqrt(xp.mean(Z * Z, axis=-1, keepdims=True) + eps)
        elif step == "relu":
            Z = xp.maximum(Z, xp.zeros_like(Z))
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
        If `kind` is not one of :data:`PER_SAMPLE`, or the transform refuses its input (a constant column at
        ``eps=0``, `groups` not dividing :math:`d`).
    """
    if kind not in PER_SAMPLE:
        raise ValueError(f"kind: expected one of {', '.join(PER_SAMPLE)}, got {kind!r}")
    xp = array_namespace(Z)
    shape = tuple(Z.shape)
    d = shape[-2]
    X = xp.reshape(xp.matrix_transpose(Z), (-1, d))  # one row per batch point
    if kind == "layer":
        Y, _ = norms.layer_norm(X, d, eps=eps)
    elif kind == "rms":
        Y, _ = norms.rms_norm(X, d, eps=eps)
    else:
        Y, _ = norms.group_norm(X, groups, eps=eps)
    return xp.matrix_transpose(xp.reshape(Y, (*shape[:-2], shape[-1], d)))
