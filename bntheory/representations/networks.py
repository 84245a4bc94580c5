r"""Deep random networks of decomposed BN layers at initialization, batched over seeds (``(S, d, n)``).

See :mod:`bntheory.representations` for the layout and the steps.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from array_api_compat import array_namespace

from bntheory import norms
from bntheory.backend import asarray
from bntheory.representations.layers import PER_SAMPLE, STEPS, apply_steps, per_sample_norm
from bntheory.representations.measures import gram

__all__ = ["deep_network"]

Array = Any


def deep_network(
    H0: Array,
    depth: int,
    steps: Sequence[str],
    rng: np.random.Generator,
    *,
    variance: float = 1.0,
    weights: str = "gaussian",
    residual_gamma: float | None = None,
    method: str = "weights",
    normalize: bool = False,
    per_sample: str | None = None,
    groups: int = 1,
    weight_norm: bool = False,
    record: Callable[[int, Array], None] | None = None,
) -> Array:
    r"""Propagate a batch through `depth` random layers :math:`H\leftarrow\text{steps}(WH)` with fresh weights.

    Parameters
    ----------
    H0 : array, shape (..., d, n)
        Input batch (columns are the batch points); leading axes are independent networks.
    depth : int
        Number of layers.
    steps : sequence of str
        Subset of :data:`STEPS` applied after each linear map, in order.
    rng : numpy.random.Generator
        Source of the weights. On NumPy and PyTorch they are drawn by `rng` itself; on CuPy a
        ``cupy.random.Generator`` seeded from `rng` draws them on the GPU (moving a fresh d × d matrix from
        the host every layer would cost far more than the layer), so a CuPy run is reproducible from the
        seed but does not repeat NumPy's numbers.
    variance : float
        Entries of :math:`W` have variance ``variance / d``: 1 for the linear chains of Daneshmand et al.,
        2 for He, ``2 * alpha(n)`` for the invariant configuration of Nachum et al.
    weights : {"gaussian", "uniform"}
        Gaussian, or uniform on :math:`[-\sqrt3,\sqrt3]` (unit variance) scaled the same way.
    residual_gamma : float, optional
        If given, the layer matrix is :math:`I+\gamma W` (the setting of Daneshmand et al. 2020's theorem).
    method : {"weights", "gram"}
        ``"weights"`` draws :math:`W` (d × d) explicitly. ``"gram"`` (Gaussian weights only) samples
        :math:`WH` directly from its law: its rows are i.i.d. :math:`\mathcal N(0,\frac{\sigma^2}{d}H^\top H)`, so
        :math:`WH\overset{d}{=}\sqrt{\sigma^2/d}\,G\,\Lambda^{1/2}V^\top` with :math:`H^\top H=V\Lambda V^\top`
        and :math:`G`
        a d × n standard Gaussian matrix — n/d of the random numbers, the same distribution of every layer.
    normalize : bool
        Divide each network's batch by its Frobenius norm after every layer. Every step is positively
        homogeneous (or, for ``"rs"``/``"rms"``, scale invariant) and every measure here is scale invariant,
        so this changes nothing but keeps deep linear chains from overflowing.
    per_sample : {"layer", "rms", "group"}, optional
        A per-sample normalization applied after the steps (:func:`per_sample_norm`, with `groups` for
        ``"group"``): the chains of THEORY-2.md §9.4 (T5), where LayerNorm and RMSNorm collapse like the plain chain.
    groups : int
        GroupNorm's number of groups (``per_sample="group"`` only).
    weight_norm : bool
        Replace each row :math:`w_i` of the layer matrix by :math:`w_i/\|w_i\|`
        (:func:`bntheory.norms.weight_norm` with unit gains; Salimans & Kingma 2016): a diagonal rescaling of a
        random matrix, independent of the batch, so the chain stays linear (THEORY-2.md §9.4, T5).
    record : callable, optional
        ``record(layer, H)`` is called after every layer (layer 0 is the input): measures per depth.

    Returns
    -------
    array, shape of `H0`
    """
    if depth < 0:
        raise ValueError(f"depth: must be >= 0, got {depth}")
    if weights not in ("gaussian", "uniform"):
        raise ValueError(f"weights: expected 'gaussian' or 'uniform', got {weights!r}")
    if method not in ("weights", "gram"):
        raise ValueError(f"method: expected 'weights' or 'gram', got {method!r}")
    if method == "gram" and (weights != "gaussian" or residual_gamma is not None):
        raise ValueError("method: 'gram' sampling is exact only for plain Gaussian weights; use method='weights'")
    for step in steps:
        if step not in STEPS:
            raise ValueError(f"steps: unknown step {step!r}; choose from {', '.join(STEPS)}")
    if per_sample is not None and per_sample not in PER_SAMPLE:
        raise ValueError(f"per_sample: expected None or one of {', '.join(PER_SAMPLE)}, got {per_sample!r}")
    if weight_norm and method == "gram":
        raise ValueError("weight_norm: needs the explicit weights; use method='weights'")
    xp = array_namespace(H0)
    d = H0.shape[-2]
    lead = tuple(H0.shape[:-2])
    scale = float(np.sqrt(variance / d))
    draw = _drawer(xp, rng, H0.dtype)
    H = H0
    if record is not None:
        record(0, H)
    n = H0.shape[-1]
    for layer in range(1, depth + 1):
        if method == "gram":
            lam, V = xp.linalg.eigh(gram(H))
            root = V * xp.sqrt(xp.clip(lam, 0.0, None))[..., None, :]
            Z = (draw("normal", (*lead, d, n)) * scale) @ xp.matrix_transpose(root)
        else:
            W = draw("normal" if weights == "gaussian" else "uniform", (*lead, d, d)) * scale
            if residual_gamma is not None:
                W = xp.eye(d, dtype=H0.dtype) + residual_gamma * W
            if weight_norm:
                rows = xp.reshape(W, (-1, d))
                W = xp.reshape(norms.weight_norm(rows, xp.ones((rows.shape[0],), dtype=H0.dtype))[0], W.shape)
            Z = W @ H
        H = apply_steps(Z, steps)
        if per_sample is not None:
            H = per_sample_norm(H, per_sample, groups=groups)
        if normalize:
            H = H / xp.sqrt(xp.sum(H * H, axis=(-2, -1), keepdims=True))
        if record is not None:
            record(layer, H)
    return H


def _device_seed(rng: np.random.Generator) -> int:
    r"""A seed for a device-side generator, drawn from `rng`: uniform on :math:`\{0,\dots,2^{63}-1\}`.

    The whole non-negative int64 range, so that the device streams of distinct host streams (one per check
    and seed) differ except with probability about :math:`k^2/2^{64}` over :math:`k` of them.
    """
    return int(rng.integers(2**63))


def _drawer(xp, rng: np.random.Generator, dtype) -> Callable[[str, tuple[int, ...]], Array]:
    """``draw(kind, shape)``: standard normal or unit-variance uniform numbers in `xp`, on its device."""
    from array_api_compat import is_cupy_namespace

    if is_cupy_namespace(xp):
        import cupy

        gen = cupy.random.default_rng(_device_seed(rng))

        def draw_cupy(kind: str, shape: tuple[int, ...]) -> Array:
            if kind == "normal":
                return xp.astype(gen.standard_normal(shape), dtype)
            return xp.astype(gen.uniform(-np.sqrt(3.0), np.sqrt(3.0), shape), dtype)

        return draw_cupy

    def draw_host(kind: str, shape: tuple[int, ...]) -> Array:
        a = rng.standard_normal(shape) if kind == "normal" else rng.uniform(-np.sqrt(3.0), np.sqrt(3.0), shape)
        return asarray(a, xp, dtype=dtype)

    return draw_host
