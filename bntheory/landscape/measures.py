r"""Loss-landscape measures along the gradient direction (Santurkar et al. 2018, §3.1 experiments).

At parameters :math:`\theta` with gradient :math:`g=\nabla\mathcal L(\theta)` and step sizes
:math:`\eta_1,\dots,\eta_k`:

* loss variation ("Lipschitzness of the loss"):
  :math:`\max_\eta\mathcal L(\theta-\eta g)-\min_\eta\mathcal L(\theta-\eta g)`;
* gradient predictiveness: :math:`\|\nabla\mathcal L(\theta)-\nabla\mathcal L(\theta-\eta g)\|_2` per :math:`\eta`
  (small means the gradient at :math:`\theta` predicts the gradient after the step);
* effective :math:`\beta`-smoothness:
  :math:`\max_\eta\|\nabla\mathcal L(\theta)-\nabla\mathcal L(\theta-\eta g)\|_2/\|\eta g\|_2`.

The definitions are recalled, not confirmed from the paper's text, and the paper's range of
:math:`\eta` is not confirmed either (THEORY.md §2.2, [R]); callers choose the step sizes.

Parameters are one flat vector here; :func:`bntheory.landscape.deep_linear.flatten` adapts layered models.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from array_api_compat import is_array_api_obj

from bntheory._validation import check_callable, check_float_array
from bntheory.backend import to_numpy

__all__ = ["GradientProbe", "probe_gradient_direction"]

Array = Any
LossAndGrad = Callable[[Array], tuple[float, Array]]


@dataclass(frozen=True)
class GradientProbe:
    r"""The loss and gradient sampled along :math:`\theta-\eta g` (NumPy arrays, one entry per step size)."""

    etas: np.ndarray
    losses: np.ndarray
    gradient_changes: np.ndarray
    step_lengths: np.ndarray

    @property
    def loss_variation(self) -> float:
        r"""Spread of the loss over the steps, :math:`\max_\eta\mathcal L-\min_\eta\mathcal L`."""
        return float(np.max(self.losses) - np.min(self.losses))

    @property
    def gradient_predictiveness(self) -> float:
        r"""Largest gradient change :math:`\max_\eta\|\nabla\mathcal L(\theta)-\nabla\mathcal L(\theta-\eta g)\|`."""
        return float(np.max(self.gradient_changes))

    @property
    def effective_smoothness(self) -> float:
        r"""Effective :math:`\beta`: largest gradient change per unit distance moved along the gradient."""
        return float(np.max(self.gradient_changes / self.step_lengths))


def probe_gradient_direction(
    loss_and_grad: LossAndGrad, theta: Array, etas: Sequence[float], *, vectorized: bool = False
) -> GradientProbe:
    r"""Evaluate the loss and gradient at :math:`\theta-\eta\nabla\mathcal L(\theta)` for each step size.

    Parameters
    ----------
    loss_and_grad : callable
        ``loss_and_grad(theta) -> (loss, gradient)`` with the gradient shaped like `theta`.
    theta : array, shape (p,)
        The point (any array-API namespace).
    etas : sequence of float
        Positive step sizes.
    vectorized : bool, keyword-only
        If True, the step sizes' points are passed to `loss_and_grad` in one call, stacked with shape ``(k, p)``,
        and it returns ``(losses, gradients)`` of shapes ``(k,)`` and ``(k, p)`` (one call instead of k for a model
        that evaluates a stack at once); the first call, at `theta`, is as without it. The same numbers.

    Returns
    -------
    GradientProbe
        With :attr:`~GradientProbe.loss_variation`, :attr:`~GradientProbe.gradient_predictiveness` and
        :attr:`~GradientProbe.effective_smoothness`.

    Raises
    ------
    ValueError
        If `etas` is empty or has a non-positive entry, or the gradient at `theta` is zero (there is no
        direction to probe).
    """
    check_callable(loss_and_grad, "loss_and_grad", "a function theta -> (loss, gradient)")
    if isinstance(etas, str) or not (isinstance(etas, Sequence) or is_array_api_obj(etas)):
        raise TypeError(f"etas: expected a sequence of step sizes, got {type(etas).__name__}; pass e.g. (0.5, 1.0)")
    try:
        etas = np.asarray(etas, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"etas: expected numbers ({exc}); pass a sequence of positive floats") from exc
    if etas.ndim != 1 or etas.size == 0 or not np.all((etas > 0) & np.isfinite(etas)):
        raise ValueError(
            f"etas: need a non-empty sequence of positive, finite step sizes, got {etas.tolist()}; pass e.g. (0.5, 1.0)"
        )
    xp = check_float_array(theta, "theta", finite=True)
    if theta.ndim != 1 or theta.shape[0] == 0:
        raise ValueError(f"theta: expected a non-empty vector (p,), got shape {tuple(theta.shape)}; flatten it")
    first = loss_and_grad(theta)
    if not (isinstance(first, tuple) and len(first) == 2 and tuple(getattr(first[1], "shape", ())) == theta.shape):
        raise TypeError(
            f"loss_and_grad: expected it to return (loss, gradient shaped like theta {tuple(theta.shape)}); "
            "return a pair"
        )
    _, g = first
    g_norm = float(to_numpy(xp.linalg.vector_norm(g)))
    if g_norm == 0.0:
        raise ValueError(
            "theta: the gradient is zero there, so there is no gradient direction to probe; start elsewhere"
        )
    points = [theta - float(eta) * g for eta in etas]
    if vectorized:
        stacked_losses, stacked = loss_and_grad(xp.stack(points))
        if tuple(getattr(stacked, "shape", ())) != (len(points), *theta.shape):
            raise TypeError(
                f"loss_and_grad: with vectorized=True expected gradients of shape {(len(points), *theta.shape)} for "
                f"the stacked points, got {tuple(getattr(stacked, 'shape', ()))}; return one gradient per row"
            )
        stacked_losses = to_numpy(stacked_losses)
        evaluated = [(stacked_losses[i], stacked[i, ...]) for i in range(len(points))]
    else:
        evaluated = [loss_and_grad(point) for point in points]
    losses = [float(loss) for loss, _ in evaluated]
    changes = [float(to_numpy(xp.linalg.vector_norm(g - g_eta))) for _, g_eta in evaluated]
    return GradientProbe(etas, np.array(losses), np.array(changes), etas * g_norm)
