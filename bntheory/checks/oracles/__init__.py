r"""Independent oracles: references written from the definitions, never from the formulas under test.

* :mod:`~bntheory.checks.oracles.mp`: mpmath at 50-60 digits (Algorithm 1 entry by entry, central differences);
* :mod:`~bntheory.checks.oracles.exact`: exact rationals;
* :mod:`~bntheory.checks.oracles.autograd`: PyTorch autograd (optional; imported lazily, so the package works
  without it and the checks that need it say so).
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
