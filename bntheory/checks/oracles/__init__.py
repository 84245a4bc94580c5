r"""Independent oracles: references written from the definitions, never from the formulas under test.

* :mod:`~bntheory.checks.oracles.mp`: mpmath at 50-60 digits (Algorithm 1 entry by entry, central differences);
* :mod:`~bntheory.checks.oracles.exact`: exact rationals;
* :mod:`~bntheory.checks.oracles.autograd`: PyTorch autograd (optional; imported lazily, so the package works
  without it and the checks that need it say so), with BN from primitives for every second-order quantity;
* :mod:`~bntheory.checks.oracles.bn_reference`: the BN transform's references (mpmath inference and gradients,
  exact population and running statistics, PyTorch eval-mode layers, a direct convolution);
* :mod:`~bntheory.checks.oracles.dln_reference`: the deep linear network and its measures rebuilt in PyTorch;
* :mod:`~bntheory.checks.oracles.networks`: the curvature networks rebuilt from ``torch.nn`` (first order) and
  from primitive operations (second order), independent of :class:`bntheory.curvature.network.Model`;
* :mod:`~bntheory.checks.oracles.optimize`: quantities defined as an optimum, by a generic SciPy optimiser.

PyTorch's native training-mode ``batch_norm`` is never a second-order oracle: its Hessians through
``torch.func`` are wrong (THEORY-2.md §11.1).
"""

from bntheory.checks.oracles.autograd import (
    torch_batch_norm,
    torch_batch_norm_grads,
    torch_normalize,
    torch_normalize_vjp,
)
from bntheory.checks.oracles.exact import exact_fraction
from bntheory.checks.oracles.mp import mp_batch_norm, mp_batch_norm_vjp, mp_central_gradient, mp_second_directional

__all__ = [
    "exact_fraction",
    "mp_batch_norm",
    "mp_batch_norm_vjp",
    "mp_central_gradient",
    "mp_second_directional",
    "torch_batch_norm",
    "torch_batch_norm_grads",
    "torch_normalize",
    "torch_normalize_vjp",
]
