r"""Normalizations other than BN, written once against the array API: training forward and closed-form backward.

* :func:`layer_norm`: statistics over each sample's trailing `normalized_shape`; elementwise affine there.
* :func:`rms_norm`: as LayerNorm without centring; elementwise gain only.
* :func:`group_norm`: statistics over each (sample, group of C/G channels); per-channel affine.
* :func:`instance_norm`: statistics over each (sample, channel); per-channel affine.
* :func:`weight_norm`: the weight itself, per slice along `dim`; one gain per slice.

Each forward returns ``(output, cache)``; :func:`backward` takes the cache of any of the first four and
:func:`weight_norm_backward` WeightNorm's. Definitions: THEORY-2.md §9.1; backward passes: §9.2 (the gain inside
the projector for elementwise γ). BN itself is :mod:`bntheory.norms.batch`; the bias-free layer of the invariance
table, normalized by any of them, and the table's six transformations are :mod:`bntheory.norms.invariance` (§9.3).
"""

from bntheory.norms.group import group_norm, instance_norm
from bntheory.norms.layer import layer_norm, rms_norm
from bntheory.norms.standardize import Cache, backward
from bntheory.norms.weight import WeightCache, weight_norm, weight_norm_backward

__all__ = [
    "Cache",
    "WeightCache",
    "backward",
    "group_norm",
    "instance_norm",
    "layer_norm",
    "rms_norm",
    "weight_norm",
    "weight_norm_backward",
]
