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

Full BN + ReLU is ``("rc", "rs", "relu")``. Everything is written against the array API, so the same
network runs on NumPy, PyTorch or CuPy arrays.

References
----------
L. Nachum, G. Bondaschi, M. Gastpar, A. Khina, "Batch Normalization Decomposed", arXiv:2412.02843 (2024);
H. Daneshmand, J. Kohler, F. Bach, T. Hofmann, A. Lucchi, "Batch normalization provably avoids rank collapse
for randomly initialised deep networks", NeurIPS 2020, arXiv:2003.01652; H. Daneshmand, A. Joudaki, F. Bach,
"Batch normalization orthogonalizes representations in deep random networks", NeurIPS 2021, arXiv:2106.03970.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from array_api_compat import array_namespace

from bntheory.backend import asarray

__all__ = [
    "STEPS",
    "alpha",
    "apply_steps",
    "cosine",
    "d_max",
    "deep_network",
    "gram",
    "numerical_rank",
    "orthogonality_gap",
    "soft_rank",
    "stable_rank",
]

Array = Any
STEPS: tuple[str, ...] = ("rc", "rc_sample", "rs", "rms", "relu")


def alpha(n: int) -> float:
    r""":math:`\alpha=n^2/(n^2-2n+2)`, the factor on He's variance :math:`2/d` of Nachum et al. 2024.

    It preserves the Gram matrix of the cluster-plus-outlier configuration in expectation (THEORY.md §4.4,
    Definition 12, [S]).
    """
    if n < 2:
        raise ValueError(f"n: the configuration needs a batch of at least 2, got {n}")
    return n * n / (n * n - 2 * n + 2)


def apply_steps(Z: Array, steps: Sequence[str], *, eps: float = 0.0) -> Array:
    """Apply the decomposed BN steps and the non-linearity to pre-activations ``Z`` of shape (..., d, n)."""
    xp = array_namespace(Z)
    for step in steps:
        if step == "rc":
            Z = Z - xp.mean(Z, axis=-1, keepdims=True)
        elif step == "rc_sample":
            Z = Z - xp.mean(Z, axis=-2, keepdims=True)
        elif step == "rs":
            Z = Z / xp.sqrt(xp.mean((Z - xp.mean(Z, axis=-1, keepdims=True)) ** 2, axis=-1, keepdims=True) + eps)
        elif step == "rms":
            Z = Z / xp.sqrt(xp.mean(Z * Z, axis=-1, keepdims=True) + eps)
        elif step == "relu":
            Z = xp.maximum(Z, xp.zeros_like(Z))
        else:
            raise ValueError(f"steps: unknown step {step!r}; choose from {', '.join(STEPS)}")
    return Z


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
            Z = W @ H
        H = apply_steps(Z, steps)
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


def _svdvals(H: Array) -> Array:
    return array_namespace(H).linalg.svdvals(H)


def numerical_rank(H: Array, tol: float | None = None) -> tuple[Array, Array]:
    r"""Number of singular values above a tolerance, and the tolerance used (per matrix of the stack).

    The default tolerance is NumPy's: :math:`\sigma_{\max}\cdot\max(d,n)\cdot\varepsilon` of the dtype, so a
    float32 run reports a smaller rank than float64 on the same matrix (THEORY.md §5.1): always report
    the tolerance with the rank.
    """
    xp = array_namespace(H)
    s = _svdvals(H)
    if tol is None:
        eps = float(xp.finfo(H.dtype).eps)
        tol_arr = s[..., 0] * max(H.shape[-2], H.shape[-1]) * eps
    else:
        tol_arr = xp.full(s.shape[:-1], float(tol), dtype=s.dtype)
    return xp.sum(xp.astype(s > tol_arr[..., None], xp.int64), axis=-1), tol_arr


def stable_rank(H: Array) -> Array:
    r"""Stable rank :math:`\|H\|_F^2/\|H\|_2^2`."""
    s = _svdvals(H)
    return array_namespace(H).sum(s * s, axis=-1) / s[..., 0] ** 2


def soft_rank(H: Array) -> Array:
    r"""Soft rank of Daneshmand et al. 2020.

    .. math:: r(H)=\operatorname{tr}(HH^\top)^2/\|HH^\top\|_F^2=\Big(\sum_i\sigma_i^2\Big)^2\Big/\sum_i\sigma_i^4
    """
    xp = array_namespace(H)
    s2 = _svdvals(H) ** 2
    return xp.sum(s2, axis=-1) ** 2 / xp.sum(s2 * s2, axis=-1)


def gram(H: Array) -> Array:
    r"""Batch Gram matrix :math:`H^\top H` (n × n: inner products of the batch points)."""
    xp = array_namespace(H)
    return xp.matrix_transpose(H) @ H


def cosine(H: Array) -> Array:
    r"""Cosine matrix of the batch points: :math:`G_{ij}/\sqrt{G_{ii}G_{jj}}`; an all-zero point gives NaN entries."""
    xp = array_namespace(H)
    G = gram(H)
    norms = xp.sqrt(xp.linalg.diagonal(G))
    return G / (norms[..., :, None] * norms[..., None, :])


def d_max(H: Array) -> tuple[Array, Array]:
    r"""Distance to the ideal "one cluster plus one orthogonal outlier" cosine matrix, and the best outlier.

    .. math:: d_{\max}=\min_k\max_{i,j}\big|\cos_{ij}-I^{(k)}_{ij}\big|,\qquad I^{(k)}_{ij}=\begin{cases}0&
        \text{exactly one of }i,j\text{ is }k\\1&\text{otherwise}\end{cases}

    (THEORY.md §4.5). Returns NumPy arrays over the stack: the distance and the minimizing index :math:`k`; the
    distance is NaN where a cosine is (an all-zero point).
    """
    from bntheory.backend import to_numpy

    C = np.asarray(to_numpy(cosine(H)), dtype=np.float64)
    n = C.shape[-1]
    dists = []
    for k in range(n):
        ideal = np.ones((n, n))
        ideal[k, :] = 0.0
        ideal[:, k] = 0.0
        ideal[k, k] = 1.0
        dists.append(np.max(np.abs(C - ideal), axis=(-2, -1)))
    # NaN (a zero point, or a broken input) propagates: it is never a small distance.
    stacked = np.stack(dists, axis=-1)
    return np.min(stacked, axis=-1), np.argmin(stacked, axis=-1)


def orthogonality_gap(H: Array) -> Array:
    r"""Orthogonality gap :math:`V(H)=\big\|H^\top H/\|H\|_F^2-I_n/n\big\|_F` (Daneshmand et al. 2021; form [R])."""
    xp = array_namespace(H)
    G = gram(H)
    n = H.shape[-1]
    trace = xp.sum(xp.linalg.diagonal(G), axis=-1)
    diff = G / trace[..., None, None] - xp.eye(n, dtype=H.dtype) / n
    return xp.sqrt(xp.sum(diff * diff, axis=(-2, -1)))
