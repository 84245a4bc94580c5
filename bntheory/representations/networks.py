r"""Deep random networks of decomposed BN layers at initialization, batched over seeds (``(S, d, n)``).

See :mod:`bntheory.representations` for the layout and the steps.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from array_api_compat import array_namespace

from bntheory import norms
from bntheory._validation import (
    check_bool,
    check_callable,
    check_choice,
    check_float_array,
    check_int,
    check_real,
    check_rng,
)
from bntheory.backend import asarray, to_numpy
from bntheory.representations.layers import PER_SAMPLE, apply_steps, check_steps, per_sample_norm
from bntheory.representations.measures import gram

__all__ = ["VARIANT_KEYS", "deep_network", "paired_networks"]

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
        :math:`WH\overset{d}{=}\sqrt{\sigma^2/d}\,G\,R^\top` for any factor :math:`RR^\top=H^\top H` (Cholesky's
        :math:`L`, or :math:`V\Lambda^{1/2}` from :math:`H^\top H=V\Lambda V^\top` where it is singular) and :math:`G`
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

    Raises
    ------
    ValueError, TypeError
        On a batch that is not a finite, non-empty real floating array of at least 2 dims (an integer batch
        included: it would make the weights integers), and on any other argument out of its range, each naming it.
    """
    check_float_array(H0, "H0", min_ndim=2, finite=True)
    if H0.shape[-1] == 0 or H0.shape[-2] == 0:
        raise ValueError(f"H0: expected at least one feature and one point, got shape {tuple(H0.shape)}; pass a batch")
    depth = check_int(depth, "depth", minimum=0)
    steps = check_steps(steps)
    check_rng(rng)
    variance = check_real(variance, "variance", low=0.0, open_low=True)
    check_choice(weights, "weights", ("gaussian", "uniform"))
    if residual_gamma is not None:
        residual_gamma = check_real(residual_gamma, "residual_gamma")
    check_choice(method, "method", ("weights", "gram"))
    normalize = check_bool(normalize, "normalize")
    if record is not None:
        check_callable(record, "record", "a function record(layer, H)")
    if method == "gram" and (weights != "gaussian" or residual_gamma is not None):
        raise ValueError("method: 'gram' sampling is exact only for plain Gaussian weights; use method='weights'")
    if per_sample is not None:
        check_choice(per_sample, "per_sample", PER_SAMPLE)
    groups = check_int(groups, "groups", minimum=1)
    weight_norm = check_bool(weight_norm, "weight_norm")
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
    # RC is linear in the batch: Z C_n = G (C_n R)^T for Z = G R^T, so on the gram route a leading "rc" centres the
    # n x n factor (its column means off every row) instead of the d x n pre-activations; the scale goes there too.
    fold = method == "gram" and steps[:1] == ("rc",)
    after = steps[1:] if fold else steps
    for layer in range(1, depth + 1):
        if method == "gram":
            root = _gram_root(gram(H, strict=False), xp) * scale
            if fold:
                root = root - xp.mean(root, axis=-2, keepdims=True)
            Z = draw("normal", (*lead, d, n)) @ xp.matrix_transpose(root)
        else:
            W = draw("normal" if weights == "gaussian" else "uniform", (*lead, d, d)) * scale
            if residual_gamma is not None:
                W = xp.eye(d, dtype=H0.dtype) + residual_gamma * W
            Z = (_unit_rows(W) if weight_norm else W) @ H
        H = _after_linear(Z, after, per_sample, groups, normalize)
        if record is not None:
            record(layer, H)
    return H


#: The keywords of :func:`deep_network` that a variant of :func:`paired_networks` may set.
VARIANT_KEYS = ("steps", "per_sample", "groups", "weight_norm")


def paired_networks(
    H0: Array,
    depth: int,
    variants: Mapping[str, Mapping[str, Any]],
    rng: np.random.Generator,
    *,
    variance: float = 1.0,
    weights: str = "gaussian",
    normalize: bool = False,
    record: Callable[[int, str, Array], None] | None = None,
) -> tuple[Array, ...]:
    r"""Several deep networks on the *same* weights: one draw of :math:`W_\ell` per layer, each variant's layer on it.

    Each variant is a mapping of :func:`deep_network`'s keywords among :data:`VARIANT_KEYS` (``steps``,
    ``per_sample``, ``groups``, ``weight_norm``); every variant starts from `H0` and sees the same
    :math:`W_1,\dots,W_L`. Common random numbers: differences between the variants (the normalizations of
    THEORY-2.md §9.4, T5) are not differences of draws, and the draws, most of a deep chain's cost, are made once.
    Each variant on its own has the law of :func:`deep_network` with the same keywords.

    Parameters
    ----------
    H0, depth, rng, variance, weights, normalize
        As in :func:`deep_network` (explicit weights only).
    variants : mapping of str to mapping
        The networks, by name.
    record : callable, optional
        ``record(layer, name, H)`` after every layer of every variant (layer 0 is the input).

    Returns
    -------
    tuple of array
        The final batch of each variant, in the order of `variants`, each of the shape of `H0`.

    Raises
    ------
    ValueError, TypeError
        As :func:`deep_network` for `H0` and the common arguments; on `variants` that is not a non-empty mapping of
        names to mappings, or a variant with an unknown keyword, step or per-sample normalization, a `groups` that
        does not divide the features, or a `weight_norm` that is not a bool, each naming the variant.
    """
    check_float_array(H0, "H0", min_ndim=2, finite=True)
    if H0.shape[-1] == 0 or H0.shape[-2] == 0:
        raise ValueError(f"H0: expected at least one feature and one point, got shape {tuple(H0.shape)}; pass a batch")
    depth = check_int(depth, "depth", minimum=0)
    variants = _check_variants(variants, H0.shape[-2])
    check_rng(rng)
    variance = check_real(variance, "variance", low=0.0, open_low=True)
    check_choice(weights, "weights", ("gaussian", "uniform"))
    normalize = check_bool(normalize, "normalize")
    if record is not None:
        check_callable(record, "record", "a function record(layer, name, H)")
    xp = array_namespace(H0)
    d = H0.shape[-2]
    scale = float(np.sqrt(variance / d))
    draw = _drawer(xp, rng, H0.dtype)
    H = dict.fromkeys(variants, H0)
    if record is not None:
        for name in variants:
            record(0, name, H0)
    for layer in range(1, depth + 1):
        W = draw("normal" if weights == "gaussian" else "uniform", (*H0.shape[:-2], d, d)) * scale
        unit = None
        for name, v in variants.items():
            if v["weight_norm"]:
                unit = _unit_rows(W) if unit is None else unit
            Z = (unit if v["weight_norm"] else W) @ H[name]
            H[name] = _after_linear(Z, v["steps"], v["per_sample"], v["groups"], normalize)
            if record is not None:
                record(layer, name, H[name])
    return tuple(H.values())


def _check_variants(variants: Any, d: int) -> dict[str, dict[str, Any]]:
    """`variants` checked (names to keywords of :data:`VARIANT_KEYS`), each variant's keywords with their defaults."""
    if not isinstance(variants, Mapping) or not variants:
        raise TypeError(
            f"variants: expected a non-empty mapping of names to keyword mappings, got {variants!r}; "
            "pass for example {'bn': {'steps': ('rc', 'rs')}}"
        )
    checked = {}
    for name, v in variants.items():
        where = f"variants[{name!r}]"
        if not isinstance(name, str):
            raise TypeError(f"variants: the name {name!r} is not a str; use strings as the variants' names")
        if not isinstance(v, Mapping):
            raise TypeError(f"{where}: expected a mapping of keywords, got {type(v).__name__}; pass a dict")
        unknown = sorted(map(str, set(v) - set(VARIANT_KEYS)))
        if unknown:
            raise ValueError(f"{where}: unknown keyword(s) {unknown}; choose from {', '.join(VARIANT_KEYS)}")
        try:
            steps = check_steps(v.get("steps", ()))
        except (TypeError, ValueError) as error:  # check_steps names the argument steps: here it is a variant's
            raise type(error)(f"{where}: {error}") from None
        per_sample = v.get("per_sample")
        if per_sample is not None:
            check_choice(per_sample, f"{where}['per_sample']", PER_SAMPLE)
        groups = check_int(v.get("groups", 1), f"{where}['groups']", minimum=1)
        if per_sample == "group" and d % groups:
            raise ValueError(f"{where}['groups']: {groups} does not divide the {d} features; pass a divisor of {d}")
        weight_norm = check_bool(v.get("weight_norm", False), f"{where}['weight_norm']")
        checked[name] = {"steps": steps, "per_sample": per_sample, "groups": groups, "weight_norm": weight_norm}
    return checked


def _gram_root(G: Array, xp: Any) -> Array:
    r"""A factor :math:`R` with :math:`RR^\top=G` of each Gram matrix of the stack: Cholesky, else from eigh.

    For :math:`G=H^\top H` any such factor gives :math:`\Gamma R^\top` (:math:`\Gamma` a standard Gaussian d × n
    matrix) the law of :math:`WH`; the choice depends on :math:`H` only, never on :math:`\Gamma`. Cholesky costs a
    few percent of an eigendecomposition at n = 32 (which was most of a deep chain's time besides the draws); it
    breaks down on a singular :math:`G` (repeated points, a collapsed chain), where :math:`V\Lambda^{1/2}` from
    :math:`G=V\Lambda V^\top`, its eigenvalues clipped at 0, serves. A completed Cholesky is backward stable,
    :math:`LL^\top=G+E` with :math:`\|E\|` of the order of :math:`n^2\varepsilon\max_i G_{ii}`, as the
    eigendecomposition is.
    """
    from array_api_compat import is_cupy_namespace

    try:
        if is_cupy_namespace(xp):
            import cupyx

            with cupyx.errstate(linalg="raise"):  # by default CuPy returns a failed factorization without a word
                L = xp.linalg.cholesky(G)
        else:
            L = xp.linalg.cholesky(G)
    except (ValueError, RuntimeError):  # NumPy's (and CuPy's) LinAlgError is a ValueError, PyTorch's a RuntimeError
        L = None
    # A factor is used only with a positive diagonal (LAPACK leaves a failed pivot, <= 0 or NaN, there).
    if L is not None and bool(xp.all(xp.linalg.diagonal(L) > 0)):
        return L
    lam, V = xp.linalg.eigh(G)
    return V * xp.sqrt(xp.clip(lam, 0.0, None))[..., None, :]


def _unit_rows(W: Array) -> Array:
    """Every row of `W` divided by its norm: :func:`bntheory.norms.weight_norm` with unit gains."""
    xp = array_namespace(W)
    rows = xp.reshape(W, (-1, W.shape[-1]))
    return xp.reshape(norms.weight_norm(rows, xp.ones((rows.shape[0],), dtype=W.dtype))[0], W.shape)


def _after_linear(Z: Array, steps: tuple[str, ...], per_sample: str | None, groups: int, normalize: bool) -> Array:
    """The steps, the per-sample normalization, and the optional Frobenius normalization of one layer."""
    # Not strict: a dead feature's 0/0 propagates as NaN, which the measures report (d_max: NaN, never small).
    H = apply_steps(Z, steps, strict=False)
    if per_sample is not None:
        H = per_sample_norm(H, per_sample, groups=groups)
    return _normalized(H, array_namespace(H)) if normalize else H


def _normalized(H: Array, xp: Any) -> Array:
    """Each batch of the stack divided by its Frobenius norm; a norm that overflows is taken after exact scaling."""
    with np.errstate(over="ignore"):
        norm = xp.sqrt(xp.sum(H * H, axis=(-2, -1), keepdims=True))
    if bool(xp.all(xp.isfinite(norm) & (norm > 0))):
        return H / norm
    # Rare (a batch near 1e154 or 1e-154): scale each batch by a power of two first, which is exact.
    largest = np.asarray(to_numpy(xp.max(xp.abs(H), axis=(-2, -1), keepdims=True)), dtype=np.float64)
    finite = np.isfinite(largest) & (largest > 0)
    exponent = np.frexp(np.where(finite, largest, 1.0))[1]
    H = H * asarray(np.ldexp(1.0, -exponent), xp, dtype=H.dtype)
    return H / xp.sqrt(xp.sum(H * H, axis=(-2, -1), keepdims=True))


def _device_seed(rng: np.random.Generator) -> int:
    r"""A seed for a device-side generator, drawn from `rng`: uniform on :math:`\{0,\dots,2^{63}-1\}`.

    The whole non-negative int64 range, so that the device streams of distinct host streams (one per check
    and seed) differ except with probability about :math:`k^2/2^{64}` over :math:`k` of them.
    """
    return int(rng.integers(2**63))


def _drawer(xp, rng: np.random.Generator, dtype) -> Callable[[str, tuple[int, ...]], Array]:
    """``draw(kind, shape)``: standard normal or unit-variance uniform numbers in `xp`, on its device."""
    from array_api_compat import is_cupy_namespace, is_numpy_namespace

    if is_cupy_namespace(xp):
        import cupy

        gen = cupy.random.default_rng(_device_seed(rng))

        def draw_cupy(kind: str, shape: tuple[int, ...]) -> Array:
            if kind == "normal":
                return xp.astype(gen.standard_normal(shape), dtype)
            return xp.astype(gen.uniform(-np.sqrt(3.0), np.sqrt(3.0), shape), dtype)

        return draw_cupy

    if is_numpy_namespace(xp):
        # NumPy's draws are already arrays of xp: only a dtype other than float64 needs a cast (asarray's path
        # costs more than a small layer's draw).
        host_dtype = np.dtype(dtype)

        def draw_numpy(kind: str, shape: tuple[int, ...]) -> Array:
            a = rng.standard_normal(shape) if kind == "normal" else rng.uniform(-np.sqrt(3.0), np.sqrt(3.0), shape)
            return a if a.dtype == host_dtype else a.astype(host_dtype)

        return draw_numpy

    def draw_host(kind: str, shape: tuple[int, ...]) -> Array:
        a = rng.standard_normal(shape) if kind == "normal" else rng.uniform(-np.sqrt(3.0), np.sqrt(3.0), shape)
        return asarray(a, xp, dtype=dtype)

    return draw_host
