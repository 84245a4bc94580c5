r"""Instances and measurement harnesses for the deep-random-network results (Nachum 2024, Daneshmand 2020/2021).

What a check of :mod:`bntheory.results.nachum2024` or :mod:`bntheory.results.daneshmand2020` builds before it
compares: exact integer batches, batches of separated directions, the cluster-plus-outlier configuration, draws of
:math:`WH` from its Gaussian law (built here from the check's own matrix, independently of
:func:`bntheory.representations.deep_network`), and seeded stacks of deep networks measured at given depths.

The harnesses call the library under test through the module attribute (``rep.soft_rank``, ...), so a replaced
library function (``tests/test_power.py``) is the one they measure. Every random number comes from the generator
passed in (a check's :meth:`~bntheory.context.Context.rng` or a memo's stream).

References
----------
L. Nachum, G. Bondaschi, M. Gastpar, A. Khina, arXiv:2412.02843 (2024) (THEORY.md §4); H. Daneshmand et al.,
arXiv:2003.01652 (2020) and arXiv:2106.03970 (2021) (THEORY.md §5, THEORY-2.md §12.1–12.2).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from types import ModuleType
from typing import Any, TypeVar

import numpy as np
import scipy.linalg
import sympy as sp

from bntheory import representations as rep
from bntheory.backend import asarray, to_numpy
from bntheory.context import Context

T = TypeVar("T")

__all__ = [
    "centering",
    "chain_snapshots",
    "cluster_outlier",
    "emergence_run",
    "exact_rank",
    "gap_by_singular_values",
    "gap_from_correlated_input",
    "gap_plateaus",
    "gaussian_law",
    "gaussian_law_draws",
    "integer_batches",
    "loglog_slope",
    "memoized",
    "numpy_rank_tolerance",
    "ones_in_row_space",
    "paired_snapshots",
    "representation_traces",
    "separated_directions",
    "soft_rank_by_traces",
    "stationary_soft_ranks",
]


def memoized(ctx: Context, name: str, parts: Sequence[object], compute: Callable[[np.random.Generator, Any], T]) -> T:
    """``compute(rng, xp)`` once per process (:meth:`~bntheory.context.Context.memo`), keyed by what it runs.

    The random stream derives from `name` and `parts` alone (reproducible from the seed), while the memo key also
    holds the identities of :mod:`bntheory.representations`' functions, so a value computed with one version of a
    function is never served to a run with another (``tests/test_power.py`` replaces them).

    Raises
    ------
    ValueError
        If `name` contains ``"/"`` (it names the stream's scope).
    """
    if "/" in name:
        raise ValueError(f"name: must not contain '/', got {name!r}")
    stable = "/".join(map(str, parts))
    code = ",".join(f"{f}:{id(getattr(rep, f)):x}" for f in rep.__all__ if callable(getattr(rep, f)))
    return ctx.memo(f"{name}/{stable}/{code}", lambda m: compute(m.rng(stable, shared=True), m.xp))


def centering(n: int) -> sp.Matrix:
    r"""The exact centering projector :math:`C_n=I_n-\mathbf 1\mathbf 1^\top/n` (SymPy rationals).

    Raises
    ------
    ValueError
        If `n` < 1.
    """
    if n < 1:
        raise ValueError(f"n: the batch needs at least one point, got {n}")
    return sp.eye(n) - sp.ones(n, n) / n


def exact_rank(M: sp.Matrix) -> int:
    """The exact rank of a matrix of rationals, by elimination over the integers or rationals (SymPy's DomainMatrix).

    ``Matrix.rank`` computes the same number through SymPy expressions, at several times the cost.
    """
    return int(M.to_DM().rank())


def ones_in_row_space(H: sp.Matrix) -> bool:
    r"""Whether :math:`\mathbf 1^\top` lies in the row space of `H` (exact: rank test in rationals)."""
    return exact_rank(H.T) == exact_rank(H.T.row_join(sp.ones(H.cols, 1)))


def integer_batches(
    rng: np.random.Generator, shapes: Sequence[tuple[int, int]], *, low: int = -5, high: int = 5
) -> list[sp.Matrix]:
    r"""Integer batches :math:`H\in\mathbb Z^{d\times n}` for each shape, and the same batches with centred rows.

    The second half are :math:`nHC_n` (integer rows summing to 0), whose row space excludes :math:`\mathbf 1^\top`:
    the case of THEORY.md §4.2 where recentering does not drop the rank.

    Raises
    ------
    ValueError
        If a shape is not positive.
    """
    generic = []
    for d, n in shapes:
        if d < 1 or n < 1:
            raise ValueError(f"shapes: need positive (d, n), got {(d, n)}")
        generic.append(sp.Matrix(rng.integers(low, high + 1, size=(d, n)).tolist()))
    return generic + [H * centering(H.cols) * H.cols for H in generic]


def numpy_rank_tolerance(H: np.ndarray) -> np.ndarray:
    r"""NumPy's default rank tolerance :math:`\sigma_{\max}\max(d,n)\varepsilon` (``numpy.linalg.matrix_rank``).

    Computed with :func:`scipy.linalg.svdvals` per matrix of the stack, on the host.
    """
    H = np.asarray(H, dtype=np.float64)
    flat = H.reshape(-1, *H.shape[-2:])
    top = np.array([scipy.linalg.svdvals(M)[0] for M in flat]).reshape(H.shape[:-2])
    return top * max(H.shape[-2:]) * np.finfo(np.float64).eps


def separated_directions(
    rng: np.random.Generator, n: int, draws: int, *, jitter: float = 0.25, parallel_pair: bool = False
) -> np.ndarray:
    r"""Stacks of rank-2 batches :math:`H\in\mathbb R^{2\times n}` whose directions are pairwise separated.

    Column :math:`j` points at angle :math:`\pi j/n+\pi u_j/n+\pi s_j` with :math:`u_j\sim U[-j_0,j_0]`
    (`jitter` :math:`=j_0<1/2`) and a random sign :math:`s_j\in\{0,1\}`, with length :math:`U[1/2,2]`: the lines
    through the columns differ pairwise by at least :math:`(1-2j_0)\pi/n` (modulo :math:`\pi`), so no two columns
    are parallel or antiparallel to within that angle. With `parallel_pair` the second column is replaced by
    twice the first (the control: parallel columns stay parallel under ReLU, THEORY.md §4.3).

    Returns
    -------
    ndarray, shape (draws, 2, n)

    Raises
    ------
    ValueError
        If `n` < 2, `draws` < 1 or `jitter` is outside [0, 1/2).
    """
    if n < 2 or draws < 1:
        raise ValueError(f"n, draws: need n >= 2 and draws >= 1, got n = {n}, draws = {draws}")
    if not 0 <= jitter < 0.5:
        raise ValueError(f"jitter: must lie in [0, 1/2) for a positive separation, got {jitter}")
    base = np.pi * np.arange(n) / n
    angles = base + np.pi / n * rng.uniform(-jitter, jitter, (draws, n)) + np.pi * rng.integers(0, 2, (draws, n))
    H = np.stack([np.cos(angles), np.sin(angles)], axis=-2) * rng.uniform(0.5, 2.0, (draws, 1, n))
    if parallel_pair:
        H[..., 1] = 2 * H[..., 0]
    return H


def cluster_outlier(rng: np.random.Generator, d: int, n: int, outlier_ratio: float) -> np.ndarray:
    r"""The configuration of THEORY.md §4.4: :math:`n-1` identical columns :math:`a`, one column :math:`b\perp a`.

    :math:`\|b\|=` `outlier_ratio` :math:`\cdot\|a\|` (the invariant configuration has ratio :math:`n-1`).

    Raises
    ------
    ValueError
        If `n` < 2, `d` < 2 or `outlier_ratio` <= 0.
    """
    if n < 2 or d < 2 or not outlier_ratio > 0:
        raise ValueError(f"n, d, outlier_ratio: need n, d >= 2 and a positive ratio, got {n}, {d}, {outlier_ratio}")
    a = rng.standard_normal(d)
    b = rng.standard_normal(d)
    b -= (a @ b) / (a @ a) * a
    b *= outlier_ratio * np.linalg.norm(a) / np.linalg.norm(b)
    return np.column_stack([np.tile(a[:, None], (1, n - 1)), b])


def gaussian_law_draws(rng: np.random.Generator, H: np.ndarray, draws: int, variance: float) -> np.ndarray:
    r"""Draws of :math:`Z=WH` with :math:`W_{kl}\sim\mathcal N(0,\sigma^2/d)` from the law of its rows.

    The rows of :math:`WH` are i.i.d. :math:`\mathcal N(0,\frac{\sigma^2}{d}H^\top H)`; with
    :math:`H^\top H=V\Lambda V^\top` (:func:`scipy.linalg.eigh`, computed here from `H`),
    :math:`Z=\sqrt{\sigma^2/d}\,G\Lambda^{1/2}V^\top` for a standard Gaussian :math:`G\in\mathbb R^{d\times n}`.
    Independent of :func:`bntheory.representations.deep_network`'s sampler. :func:`gaussian_law` does the same
    from given :math:`G`.

    Returns
    -------
    ndarray, shape (draws, d, n)

    Raises
    ------
    ValueError
        If `H` is not a matrix, `draws` < 1 or `variance` <= 0.
    """
    H = np.asarray(H, dtype=np.float64)
    if H.ndim != 2 or draws < 1 or not variance > 0:
        raise ValueError(f"H, draws, variance: need a matrix, draws >= 1, variance > 0; got {H.shape}, {draws}")
    return gaussian_law(rng.standard_normal((draws, *H.shape)), H, variance)


def gaussian_law(G: np.ndarray, H: np.ndarray, variance: float) -> np.ndarray:
    r""":func:`gaussian_law_draws` from given standard Gaussians `G` of shape (draws, d, n): the same :math:`Z`.

    For a check and its control that share one set of draws at two variances.

    Raises
    ------
    ValueError
        If `H` is not a matrix, `G` is not a stack of matrices of its shape, or `variance` <= 0.
    """
    H, G = np.asarray(H, dtype=np.float64), np.asarray(G, dtype=np.float64)
    if H.ndim != 2 or G.ndim != 3 or G.shape[1:] != H.shape or not variance > 0:
        raise ValueError(
            f"G, H, variance: need a matrix H, G of shape (draws, *H.shape), variance > 0; got {G.shape}, {H.shape}"
        )
    lam, V = scipy.linalg.eigh(H.T @ H)
    root = (V * np.sqrt(np.clip(lam, 0.0, None))).T
    return np.sqrt(variance / H.shape[0]) * G @ root


def soft_rank_by_traces(H: np.ndarray) -> np.ndarray:
    r"""Soft rank from traces, without singular values: :math:`\operatorname{tr}(HH^\top)^2/\|HH^\top\|_F^2`."""
    H = np.asarray(H, dtype=np.float64)
    G = H @ np.swapaxes(H, -1, -2)
    return np.trace(G, axis1=-2, axis2=-1) ** 2 / np.sum(G * G, axis=(-2, -1))


def gap_by_singular_values(H: np.ndarray) -> np.ndarray:
    r"""Orthogonality gap from singular values: :math:`V^2=\sum_i\lambda_i^2-1/n`, :math:`\lambda_i=\sigma_i^2/\|H\|^2`.

    For the :math:`n` eigenvalues :math:`\lambda_i` of :math:`H^\top H/\|H\|_F^2` (zeros included when
    :math:`d<n`): :math:`\|H^\top H/\|H\|_F^2-I_n/n\|_F^2=\sum_i(\lambda_i-1/n)^2=\sum\lambda_i^2-1/n`
    (THEORY-2.md §12.1).
    """
    H = np.asarray(H, dtype=np.float64)
    flat = H.reshape(-1, *H.shape[-2:])
    s2 = np.array([scipy.linalg.svdvals(M) ** 2 for M in flat])
    lam = s2 / s2.sum(axis=-1, keepdims=True)
    n = H.shape[-1]
    return np.sqrt(np.clip(np.sum(lam * lam, axis=-1) - 1.0 / n, 0.0, None)).reshape(H.shape[:-2])


def loglog_slope(x: Sequence[float], y: Sequence[float]) -> float:
    r"""Least-squares slope of :math:`\log y` against :math:`\log x` (NaN if any value is not positive)."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if not (np.all(x > 0) and np.all(y > 0)):
        return float("nan")
    return float(np.polyfit(np.log(x), np.log(y), 1)[0])


def emergence_run(
    rng: np.random.Generator, xp: ModuleType, *, n: int, d: int, depth: int, seeds: int, steps: Sequence[str]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""`seeds` independent networks of `depth` layers from Gaussian batches; their distance to the configuration.

    Layers are sampled through the law of :math:`WH` (``deep_network(method="gram")``, He variance), normalized
    after every layer (every step and measure is scale invariant; this only keeps the batch away from
    subnormal numbers, where deep chains of RC + ReLU otherwise drift and slow down).

    Returns
    -------
    dist : ndarray, shape (seeds,)
        :func:`bntheory.representations.d_max` of each network's output.
    cluster : ndarray, shape (seeds,)
        Median cosine within the cluster (the points other than the best outlier).
    outlier : ndarray, shape (seeds,)
        Largest :math:`|\cos|` between the outlier and a cluster point.
    """
    H0 = asarray(rng.standard_normal((seeds, d, n)), xp)
    H = rep.deep_network(H0, depth, tuple(steps), rng, variance=2.0, method="gram", normalize=True)
    dist, k = rep.d_max(H)
    C = to_numpy(rep.cosine(H))
    cluster, outlier = np.empty(seeds), np.empty(seeds)
    for s in range(seeds):
        keep = np.delete(np.arange(n), k[s])
        block = C[s][np.ix_(keep, keep)]
        cluster[s] = np.median(block[np.triu_indices(n - 1, 1)])
        outlier[s] = np.max(np.abs(C[s][k[s], keep]))
    return np.asarray(dist, dtype=np.float64), cluster, outlier


def chain_snapshots(
    rng: np.random.Generator,
    xp: ModuleType,
    *,
    steps: Sequence[str],
    depths: Sequence[int],
    width: int,
    seeds: int,
    weights: str = "gaussian",
    **options: Any,
) -> dict[int, np.ndarray]:
    r"""Batches (seeds, width, width) of a linear chain with the given steps, kept at each of `depths` (host copies).

    The chain of Daneshmand et al. 2020's reference table (THEORY.md §5.1): unit-variance weights fresh per layer,
    :math:`N=d`; normalized after every layer (scale-invariant measures; keeps the unnormalized chain finite).
    `options` go to :func:`bntheory.representations.deep_network` (``per_sample=``, ``groups=``, ``weight_norm=``:
    the other normalizations of THEORY-2.md §9.4, T5).
    """
    kept: dict[int, np.ndarray] = {}
    wanted, last = set(depths), max(depths)

    def record(layer, H):
        if layer in wanted and layer != last:
            kept[layer] = np.array(to_numpy(H), dtype=np.float64)

    H0 = asarray(rng.standard_normal((seeds, width, width)), xp)
    out = rep.deep_network(
        H0, last, tuple(steps), rng, variance=1.0, weights=weights, normalize=True, record=record, **options
    )
    kept[last] = np.array(to_numpy(out), dtype=np.float64)  # the returned batch: what deep_network itself says
    return dict(sorted(kept.items()))


def paired_snapshots(
    rng: np.random.Generator,
    xp: ModuleType,
    *,
    variants: Mapping[str, Mapping[str, Any]],
    depths: Sequence[int],
    width: int,
    seeds: int,
    weights: str = "gaussian",
) -> dict[str, dict[int, np.ndarray]]:
    r"""Batches (seeds, width, width) of several chains on the same weights, kept at `depths`, by variant (host copies).

    :func:`chain_snapshots` for :func:`bntheory.representations.paired_networks`: unit-variance weights, :math:`N=d`,
    normalized after every layer; the variants (THEORY-2.md §9.4, T5) share every draw.
    """
    kept: dict[str, dict[int, np.ndarray]] = {name: {} for name in variants}
    wanted, last = set(depths), max(depths)

    def record(layer, name, H):
        if layer in wanted and layer != last:
            kept[name][layer] = np.array(to_numpy(H), dtype=np.float64)

    H0 = asarray(rng.standard_normal((seeds, width, width)), xp)
    out = rep.paired_networks(H0, last, variants, rng, weights=weights, normalize=True, record=record)
    for name, H in zip(variants, out, strict=True):  # the returned batches: what paired_networks itself says
        kept[name][last] = np.array(to_numpy(H), dtype=np.float64)
    return {name: dict(sorted(k.items())) for name, k in kept.items()}


def stationary_soft_ranks(
    rng: np.random.Generator,
    xp: ModuleType,
    *,
    widths: Sequence[int],
    depth: int,
    steps: Sequence[str],
    seeds: int = 3,
    weights: str = "gaussian",
    every: int = 1,
    **options: Any,
) -> list[float]:
    r"""Median over `seeds` networks and the last half of `depth` layers of the soft rank, per width (:math:`N=d`).

    `every` takes every k-th layer of the last half (and the last one): the chain is stationary there, so a
    thinned sample estimates the same median for a fraction of the SVDs, which cost half the run.
    `weights` and `options` as in :func:`chain_snapshots`.
    """
    medians = []
    for d in widths:
        kept: list[Any] = []

        def record(layer, H, kept=kept):
            if depth // 2 < layer < depth and layer % every == 0:
                kept.append(H)

        H0 = asarray(rng.standard_normal((seeds, d, d)), xp)
        out = rep.deep_network(H0, depth, tuple(steps), rng, weights=weights, normalize=True, record=record, **options)
        kept.append(out)  # the last layer, as returned
        # One call on the stack of the kept layers: the soft rank is per matrix, so the same values as layer by layer.
        values = np.asarray(to_numpy(rep.soft_rank(xp.concat(kept, axis=0))), dtype=np.float64)
        medians.append(float(np.median(values)))
    return medians


def gap_plateaus(
    rng: np.random.Generator,
    xp: ModuleType,
    *,
    widths: Sequence[int],
    seeds: int,
    steps: Sequence[str],
    n: int = 8,
    depth: int = 100,
    start: int = 60,
) -> tuple[list[float], list[float]]:
    r"""Plateaus of the orthogonality gap: means over seeds and layers ``start..depth`` of :math:`V` and :math:`V^2`.

    Linear chains with Gaussian weights sampled through the law of :math:`WH` (``method="gram"``), batch `n`.
    """
    plateau, squared = [], []
    for d in widths:
        kept: list[Any] = []

        def record(layer, H, kept=kept):
            if start <= layer < depth:
                kept.append(H)

        H0 = asarray(rng.standard_normal((seeds, d, n)), xp)
        out = rep.deep_network(H0, depth, tuple(steps), rng, method="gram", normalize=True, record=record)
        kept.append(out)  # the last layer, as returned
        v = _gaps(kept, xp)
        plateau.append(float(np.mean(v)))
        squared.append(float(np.mean(v * v)))
    return plateau, squared


#: The decompositions of the representation figure (Nachum et al. 2024, THEORY.md §4.5).
DECOMPOSITIONS: dict[str, tuple[str, ...]] = {
    "linear": (),
    "RC": ("rc",),
    "RS": ("rs",),
    "RC + ReLU": ("rc", "relu"),
    "BN + ReLU": ("rc", "rs", "relu"),
}


def representation_traces(
    rng: np.random.Generator, xp: ModuleType, *, depth: int, n: int = 32, d: int = 128, seeds: int = 4, every: int = 20
) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, np.ndarray]]:
    r"""Median rank, soft rank and :math:`d_{\max}` every `every` layers for each of :data:`DECOMPOSITIONS`.

    Returns the traces per decomposition (``depth``, ``rank``, ``soft_rank``, ``d_max`` arrays) and cosine heatmaps
    of the first RC + ReLU network at depths 0, 100 and `depth` (figure data of ``nachum2024.emergence``).
    """
    traces, heatmaps = {}, {}
    for label, steps in DECOMPOSITIONS.items():
        rows: list[tuple[float, ...]] = []

        def record(layer, H, rows=rows, label=label):
            if layer % every == 0:
                rank, _ = rep.numerical_rank(H)
                rows.append(
                    (
                        layer,
                        np.median(to_numpy(rank)),
                        np.median(to_numpy(rep.soft_rank(H))),
                        np.median(rep.d_max(H)[0]),
                    )
                )
                if label == "RC + ReLU" and layer in (0, 100, depth):
                    heatmaps[f"RC + ReLU, depth {layer}"] = to_numpy(rep.cosine(H))[0]

        H0 = asarray(rng.standard_normal((seeds, d, n)), xp)
        rep.deep_network(H0, depth, steps, rng, variance=2.0, method="gram", normalize=True, record=record)
        cols = np.array(rows).T
        traces[label] = {"depth": cols[0], "rank": cols[1], "soft_rank": cols[2], "d_max": cols[3]}
    return traces, heatmaps


def gap_from_correlated_input(
    rng: np.random.Generator,
    xp: ModuleType,
    *,
    d: int,
    seeds: int,
    steps: Sequence[str],
    n: int = 8,
    depth: int = 100,
    start: int = 60,
    spread: float = 1e-2,
) -> tuple[float, float]:
    r"""Mean gap :math:`V` of a nearly rank-one input (columns :math:`c+\text{spread}\cdot g_j`) and its later plateau.

    Returns (mean :math:`V` at layer 0, mean :math:`V` over layers ``start..depth``), over `seeds` networks.
    """
    H0 = rng.standard_normal((seeds, d, 1)) + spread * rng.standard_normal((seeds, d, n))
    first = float(np.mean(to_numpy(rep.orthogonality_gap(asarray(H0, xp)))))
    kept: list[Any] = []

    def record(layer, H):
        if start <= layer < depth:
            kept.append(H)

    out = rep.deep_network(asarray(H0, xp), depth, tuple(steps), rng, method="gram", normalize=True, record=record)
    kept.append(out)
    return first, float(np.mean(_gaps(kept, xp)))


def _gaps(batches: list[Any], xp: ModuleType) -> np.ndarray:
    """The library's orthogonality gap of the stacks `batches`, in order, from one call on their concatenation.

    The gap is per matrix, so the values are those of one call per stack (the record of a deep chain), for one
    call's overhead.
    """
    return np.asarray(to_numpy(rep.orthogonality_gap(xp.concat(batches, axis=0))), dtype=np.float64)
