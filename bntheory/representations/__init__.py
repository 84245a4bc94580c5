r"""Representations of a batch at initialization: BN decomposed, deep random networks, rank and geometry.

The measures are those of Nachum et al. 2024 and Daneshmand et al. 2020/2021.

Layout: a batch is :math:`H\in\mathbb R^{d\times n}` with the **batch in columns** (THEORY.md §0 for §4–§5),
and any leading axes are a stack of independent networks (one per seed), so ``(S, d, n)`` runs S seeds in
one batched matrix product. A layer is :math:`Z=WH`, followed by any subset of

* ``"rc"`` — recentering: :math:`Z\leftarrow ZC_n`, each feature centred across the batch
  (``"rc_sample"`` centres each sample across its features instead, the contrast of §4.5);
* ``"rs"`` — rescaling: :math:`Z\leftarrow D^{-1}Z`, each feature divided by its (biased) standard deviation
  across the batch (``"rms"`` divides by the root mean square instead: BN without mean subtraction, the
  setting of Daneshmand et al. 2021);
* ``"relu"`` — the non-linearity.

:func:`per_sample_norm` normalizes each batch point on its own instead (LayerNorm, RMSNorm, GroupNorm over the
features, from :mod:`bntheory.norms`); :func:`deep_network` applies it after the steps (``per_sample=``) and can
weight-normalize its layer matrices (``weight_norm=True``): the chains of THEORY-2.md §9.4's transfer matrix (T5).
:func:`paired_networks` runs several such chains on the same weights.

Full BN + ReLU is ``("rc", "rs", "relu")``. Everything is written against the array API, so the same
network runs on NumPy, PyTorch or CuPy arrays.

References
----------
L. Nachum, G. Bondaschi, M. Gastpar, A. Khina, "Batch Normalization Decomposed", arXiv:2412.02843 (2024);
H. Daneshmand, J. Kohler, F. Bach, T. Hofmann, A. Lucchi, "Batch normalization provably avoids rank collapse
for randomly initialised deep networks", NeurIPS 2020, arXiv:2003.01652; H. Daneshmand, A. Joudaki, F. Bach,
"Batch normalization orthogonalizes representations in deep random networks", NeurIPS 2021, arXiv:2106.03970.
"""

from bntheory.representations.layers import PER_SAMPLE, STEPS, alpha, apply_steps, per_sample_norm
from bntheory.representations.measures import (
    cosine,
    d_max,
    gram,
    numerical_rank,
    orthogonality_gap,
    soft_rank,
    stable_rank,
)
from bntheory.representations.networks import VARIANT_KEYS, deep_network, paired_networks

__all__ = [
    "PER_SAMPLE",
    "STEPS",
    "VARIANT_KEYS",
    "alpha",
    "apply_steps",
    "cosine",
    "d_max",
    "deep_network",
    "gram",
    "numerical_rank",
    "orthogonality_gap",
    "paired_networks",
    "per_sample_norm",
    "soft_rank",
    "stable_rank",
]
