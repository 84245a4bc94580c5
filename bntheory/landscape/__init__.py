"""The optimization landscape under BN (Santurkar et al. 2018): Jacobians, Lipschitz bounds, covariate shift.

* :mod:`~bntheory.landscape.jacobian`: the BN Jacobian and its spectrum (THEORY.md §2.3);
* :mod:`~bntheory.landscape.lipschitz`: the right sides of Theorems 4.1, 4.2, 4.4 and Lemma 4.5 (§2.4-§2.7);
* :mod:`~bntheory.landscape.covariate_shift`: internal covariate shift as Santurkar et al. measure it (§2.1);
* :mod:`~bntheory.landscape.deep_linear`: the deep linear network of their experiments (§2.8);
* :mod:`~bntheory.landscape.measures`: loss variation, gradient predictiveness, effective smoothness (§2.2),
  whose names are importable from here too.
"""

from bntheory.landscape.measures import (
    GradientProbe,
    probe_gradient_direction,
)

__all__ = [
    "GradientProbe",
    "probe_gradient_direction",
]
