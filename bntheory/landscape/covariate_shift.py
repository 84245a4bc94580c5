r"""Internal covariate shift as Santurkar et al. measure it.

ICS is how much a layer's gradient moves when the layers before it take their step.

For a network with layers :math:`W_1,\dots,W_k` at step :math:`t` and one batch,

.. math::

    G_{t,i}=\nabla_{W_i}\mathcal L(W_1^{(t)},\dots,W_k^{(t)}),\qquad
    G'_{t,i}=\nabla_{W_i}\mathcal L(W_1^{(t+1)},\dots,W_{i-1}^{(t+1)},W_i^{(t)},\dots,W_k^{(t)}),

.. math::

    \mathrm{ICS}_{\ell_2}(t,i)=\|G_{t,i}-G'_{t,i}\|_2,\qquad
    \mathrm{ICS}_{\cos}(t,i)=\frac{\langle G_{t,i},G'_{t,i}\rangle}{\|G_{t,i}\|_2\|G'_{t,i}\|_2},

where the earlier layers move by one gradient-descent step computed on the same batch. The first layer
has no predecessors, so :math:`\ell_2=0` and :math:`\cos=1` there by construction.

References
----------
Santurkar, Tsipras, Ilyas & Madry 2018, arXiv:1805.11604, Definition 2.1 (numbering and wording
recalled, not confirmed: THEORY.md §2.1, [R]).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from array_api_compat import array_namespace, is_array_api_obj

from bntheory._validation import check_callable, check_float_array, check_real, check_same_dtype
from bntheory.backend import scalar

__all__ = ["CovariateShift", "internal_covariate_shift"]

Array = Any
Gradients = Callable[[Sequence[Array]], Sequence[Array]]
ShiftedGradient = Callable[[Sequence[Array], int], Array]


@dataclass(frozen=True)
class CovariateShift:
    """Per-layer ICS at one step: `l2[i]` and `cosine[i]` for layer i (NumPy arrays)."""

    l2: np.ndarray
    cosine: np.ndarray


def internal_covariate_shift(
    gradients: Gradients, params: Sequence[Array], lr: float, *, shifted_gradient: ShiftedGradient | None = None
) -> CovariateShift:
    """ICS of every layer at `params` under a gradient-descent step of size `lr`.

    Parameters
    ----------
    gradients : callable
        ``gradients(params) -> grads``, one gradient per layer, on a fixed batch (and, for a noisy
        network, fixed noise: both evaluations must see the same data).
    params : sequence of arrays
        The layers' parameters at step t.
    lr : float
        Learning rate of the step the preceding layers take, ``>= 0``.
    shifted_gradient : callable, optional
        ``shifted_gradient(stepped, i)`` returns :math:`G'_{t,i}`, the gradient of layer i alone at
        ``stepped[:i] + params[i:]`` (`stepped` is every layer after its step), for models that can compute it
        more cheaply than a full gradient (:func:`bntheory.landscape.deep_linear.shifted_layer_gradient`). By default
        ``gradients(stepped[:i] + params[i:])[i]``.

    Returns
    -------
    CovariateShift
        Cosine is ``nan`` for a layer whose gradient vanishes (no direction to compare).

    Notes
    -----
    Costs one gradient evaluation per layer after the first, plus one.
    """
    check_callable(gradients, "gradients", "a function params -> grads")
    if shifted_gradient is not None:
        check_callable(shifted_gradient, "shifted_gradient", "a function (stepped, i) -> gradient")
    lr = check_real(lr, "lr", low=0.0)
    if is_array_api_obj(params) or isinstance(params, str) or not isinstance(params, Sequence):
        raise TypeError(
            f"params: expected a sequence of arrays (one per layer), got {type(params).__name__}; wrap it in a list"
        )
    params = list(params)
    if not params:
        raise ValueError("params: need at least one layer; pass one array per layer")
    for i, p in enumerate(params):
        check_float_array(p, f"params[{i}]", min_ndim=0, finite=True)
        check_same_dtype(p, f"params[{i}]", params[0])
    xp = array_namespace(*params)
    grads = list(gradients(params))
    if len(grads) != len(params):
        raise ValueError(
            f"gradients: returned {len(grads)} gradients for {len(params)} layers; return one per layer"
        )
    stepped = [w - lr * g for w, g in zip(params, grads, strict=True)]
    l2, cosine = np.zeros(len(params)), np.ones(len(params))
    for i in range(1, len(params)):
        if shifted_gradient is None:
            g_shifted = gradients(stepped[:i] + params[i:])[i]
        else:
            g_shifted = shifted_gradient(stepped, i)
        g, gs = grads[i], g_shifted
        l2[i] = scalar(xp.linalg.vector_norm(xp.reshape(g - gs, (-1,))))
        norms = scalar(xp.linalg.vector_norm(xp.reshape(g, (-1,))))
        norms *= scalar(xp.linalg.vector_norm(xp.reshape(gs, (-1,))))
        cosine[i] = scalar(xp.sum(g * gs)) / norms if norms > 0 else np.nan
    return CovariateShift(l2, cosine)
