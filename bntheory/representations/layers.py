r"""The decomposed BN layer of Nachum et al. 2024: recentering, rescaling and ReLU as separate steps.

A batch is :math:`H\in\mathbb R^{d\times n}` with the **batch in columns**; a layer is :math:`Z=WH` followed by
any subset of the steps of :data:`STEPS` (see :mod:`bntheory.representations`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from array_api_compat import array_namespace

__all__ = ["STEPS", "alpha", "apply_steps"]

Array = Any
STEPS: tuple[str, ...] = ("rc", "rc_sample", "rs", "rms", "relu")


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
