"""Curvature of BN networks in training mode, and spectra of curvature operators.

:mod:`~bntheory.curvature.network` holds the small normalized network (BN, LayerNorm, GroupNorm, RMSNorm or weight
normalization after the hidden layer, optionally a normalization at the output) and its gradients, per-component
and per-sample gradients, the GGN and the Hessian as operators (Dangel 2021; THEORY-2.md §9.4);
:mod:`~bntheory.curvature.spectrum` holds Lanczos, stochastic Lanczos quadrature and the outlier ratio (Ghorbani et
al. 2019). The names of
:mod:`~bntheory.curvature.network` are importable from here too (``bntheory.curvature.ggn_dense``).
"""

from bntheory.curvature.network import (
    Loss,
    Model,
    Problem,
    full_gradient,
    gaussian_mixture,
    ggn_dense,
    ggn_diagonal,
    ggn_operator,
    ggn_vector_products,
    gradient_descent,
    hessian_dense,
    hessian_operator,
    hessian_vector_products,
    loss_hessian_factors,
    loss_value,
    outlier_experiment,
    per_component_gradients,
    per_sample_gradients,
    random_problem,
    to_dense,
)

__all__ = [
    "Loss",
    "Model",
    "Problem",
    "full_gradient",
    "gaussian_mixture",
    "ggn_dense",
    "ggn_diagonal",
    "ggn_operator",
    "ggn_vector_products",
    "gradient_descent",
    "hessian_dense",
    "hessian_operator",
    "hessian_vector_products",
    "loss_hessian_factors",
    "loss_value",
    "outlier_experiment",
    "per_component_gradients",
    "per_sample_gradients",
    "random_problem",
    "to_dense",
]
