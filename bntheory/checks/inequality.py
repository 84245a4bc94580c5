r"""Inequalities as specs over batches of instances, and one batched attack that tries to break them.

A statement :math:`\mathrm{lhs}(\theta)\le\mathrm{rhs}(\theta)` is written once as an :class:`Inequality`:

* its parameters :math:`\theta` as named blocks (:class:`Params`: a batch ``y``, a vector ``g``, a scale
  ``gamma``, an ``eps >= 0``), each mapping an unconstrained slice of a flat vector to an admissible value, so
  that an optimiser may roam :math:`\mathbb R^n` and every point is an instance of the statement;
* every side takes a *batch* of instances: a mapping from block name to an array with a leading batch axis,
  ``(N, *shape)``, in the array namespace of the run (:attr:`bntheory.context.Context.xp`; written against the
  array API, so on CuPy the batch lives on the device), and returns one value per instance, shape ``(N,)``;
* its left side from an *independent oracle* (PyTorch autograd in float64 on the whole batch during the search,
  and `lhs_exact`, mpmath or exact rationals, one instance at a time at the points that are reported);
* its right side from the *library function under test*, in float64 and on the backend of the run. The
  reported ratio always uses this right side, so a wrong library formula cannot hide behind a re-implementation
  in the check;
* optionally its *equality case*: instances where the bound is attained. Then the attack must also reach
  ratio 1 there (within `tight`), so an inflated bound (a constant too large, a term dropped) fails as surely
  as a violated one.

:func:`attack` evaluates, in batches of `chunk` instances:

1. `draws` random instances (a million per family at the default size, a tenth of that for a negative control:
   :data:`BUDGETS`, :func:`attack_family`), keeping the best;
2. the adversarial starts and the equality instances;
3. a *climb*: SciPy's differential evolution with ``vectorized=True``, its population seeded with the best
   distinct points found so far and bounded to a box around them, so that each generation is one batch;
4. a high-precision refinement: `lhs_exact` at the `refine_top` best distinct points and at every equality
   instance, against the library's right side there.

Why differential evolution: it is derivative-free, so the piecewise-smooth ratios of these statements (an
operator norm, an infimum over a ray, absolute values) are fine, as they were for the Nelder-Mead climbs it
replaces; its population is evaluated as one batch per generation (``vectorized=True``), which is what makes the
climb as cheap per instance as the random phase; and it is in SciPy, already a dependency. Gradient ascent would
need derivatives of the *library* right side, which is array-API code under test on NumPy or CuPy, not a
differentiable torch graph; CMA-ES would add the `cma` package for the same role. The population bookkeeping (a
few dozen points) stays on the host; every evaluation runs on the batch arrays of the run's namespace.

An instance that violates `valid` (a degenerate batch, a broken assumption) is skipped and counted; any other
non-finite left or right side is a failure, never a skipped point. A negative control is the same spec with one
wrong piece (``dataclasses.replace(spec, rhs=false_rhs)``) run through the same attack, with fewer random draws
(``attack_family(..., control=True)``): it is rejected when the ratio leaves the same interval, and its verdict
states by how much.

The ratio is :func:`normalized_ratio`: :math:`1+(\mathrm{lhs}-\mathrm{rhs})/s` with
:math:`s=|\mathrm{rhs}|` or a `scale` for sides that change sign, so :math:`r\le1` iff the inequality holds.
"""

from __future__ import annotations

import contextlib
import math
import sys
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import numpy as np
import scipy.optimize

from bntheory._torch_threads import thread_pools
from bntheory.backend import asarray, namespace, to_numpy
from bntheory.checks.compare import Outcome, at_most, within
from bntheory.checks.tolerances import RATIO
from bntheory.context import Context

__all__ = [
    "BUDGETS",
    "Attack",
    "Block",
    "Inequality",
    "Params",
    "attack",
    "attack_family",
    "batch",
    "matrix",
    "nonneg",
    "normalized_ratio",
    "scalar",
    "vector",
    "verdict",
]

Array = Any
#: A batch of instances: block name -> array of shape ``(N, *block.shape)``.
Values = dict[str, Array]
#: One instance on the host: block name -> NumPy array of shape ``block.shape``.
Instance = dict[str, np.ndarray]

#: How many random ratios an :class:`Attack` keeps for the report's histogram (the first ones drawn).
HISTOGRAM = 4096


def normalized_ratio(lhs: Any, rhs: Any, scale: Any = None) -> Any:
    r"""The left/right ratio of :math:`\mathrm{lhs}\le\mathrm{rhs}`, defined for sides of any sign.

    .. math:: r = 1+\frac{\mathrm{lhs}-\mathrm{rhs}}{s},\qquad s = |\mathrm{rhs}|\ \text{by default}.

    For positive sides this is exactly :math:`\mathrm{lhs}/\mathrm{rhs}`. For sides that change sign (a
    Hessian quadratic form) pass as `scale` the sum of the absolute values of the terms, so that
    :math:`r-1` is the violation relative to the size of what is being compared. :math:`r\le1` if and
    only if the inequality holds; :math:`r=1` at equality. ``nan`` when the scale is not positive (0: no
    information; negative: not a size).

    Scalars (floats, or an mpmath `lhs`, whose digits are kept through the difference) give a scalar; NumPy
    arrays give an array, elementwise.
    """
    if any(isinstance(a, np.ndarray) and a.ndim for a in (lhs, rhs, scale)):
        lhs, rhs = np.asarray(lhs, dtype=np.float64), np.asarray(rhs, dtype=np.float64)
        s = np.abs(rhs) if scale is None else np.asarray(scale, dtype=np.float64)
        positive = s > 0
        with np.errstate(invalid="ignore", over="ignore"):
            return np.where(positive, 1.0 + (lhs - rhs) / np.where(positive, s, 1.0), np.nan)
    s = abs(rhs) if scale is None else scale
    if not s > 0:
        return float("nan")
    return 1.0 + (lhs - rhs) / s


def _identity(p: Array) -> Array:
    return p


@dataclass(frozen=True)
class Block:
    """A named parameter block: its shape, the map from unconstrained reals to admissible values, and its draw.

    Attributes
    ----------
    name : str
        The symbol (``"y"``, ``"gamma"``).
    shape : tuple of int
        Shape of one value (``()`` for a scalar).
    draw : callable
        ``draw(rng, n) -> ndarray of shape (n, *shape)``: `n` random admissible values (NumPy, on the host).
    to_value, from_value : callable
        Unconstrained values -> admissible values, elementwise on an array of any namespace (identity for a
        real block, ``p**2`` for a non-negative one); and its inverse, on NumPy.
    """

    name: str
    shape: tuple[int, ...]
    draw: Callable[[np.random.Generator, int], np.ndarray]
    to_value: Callable[[Array], Array] = _identity
    from_value: Callable[[np.ndarray], np.ndarray] = _identity

    @property
    def size(self) -> int:
        """Length of the block's slice of the flat vector."""
        return math.prod(self.shape)


def vector(name: str, n: int, *, spread: tuple[float, float] = (1.0, 1.0)) -> Block:
    """A real vector of length `n`, drawn Gaussian with a scale uniform in `spread` (wide scales find more)."""
    return Block(name, (n,), lambda rng, k: rng.normal(size=(n, k)).T * rng.uniform(*spread, size=(k, 1)))


def batch(name: str, m: int) -> Block:
    """A batch of `m` reals: Gaussian with a mean uniform in [-2, 2] and a scale uniform in [0.3, 3]."""
    return Block(name, (m,), lambda rng, k: rng.normal(rng.uniform(-2, 2, k), rng.uniform(0.3, 3, k), (m, k)).T)


def matrix(name: str, rows: int, cols: int, *, spread: tuple[float, float] = (0.3, 3.0)) -> Block:
    """A real (rows, cols) matrix, Gaussian with a scale uniform in `spread`."""
    return Block(
        name,
        (rows, cols),
        lambda rng, k: np.moveaxis(rng.normal(size=(rows, cols, k)), -1, 0) * rng.uniform(*spread, size=(k, 1, 1)),
    )


def scalar(name: str, *, spread: float = 2.0, sign: bool = True) -> Block:
    """A real scalar: Gaussian with standard deviation `spread` (``sign=False``: a magnitude in [0.3, 3])."""
    if sign:
        return Block(name, (), lambda rng, k: rng.normal(size=k) * spread)
    return Block(name, (), lambda rng, k: rng.uniform(0.3, 3.0, k))


def nonneg(name: str, *, high: float = 1.5, zero: float = 0.5) -> Block:
    r"""A scalar :math:`\ge0`, as :math:`p^2`: exactly 0 with probability `zero` (often an equality case)."""

    def draw(rng: np.random.Generator, k: int) -> np.ndarray:
        return np.where(rng.random(k) < zero, 0.0, rng.uniform(0, high, k))

    return Block(name, (), draw, to_value=lambda p: p**2, from_value=np.sqrt)


@dataclass(frozen=True)
class Params:
    """Named parameter blocks packed into one flat vector per instance (the optimiser's view)."""

    blocks: tuple[Block, ...]

    def __init__(self, *blocks: Block) -> None:
        names = [b.name for b in blocks]
        if len(set(names)) != len(names):
            raise ValueError(f"blocks: names must be distinct, got {names}")
        object.__setattr__(self, "blocks", tuple(blocks))

    @property
    def size(self) -> int:
        """Length of the flat vector."""
        return sum(b.size for b in self.blocks)

    def unpack(self, points: Array) -> Values:
        """The admissible values of the flat vectors `points`, shape ``(N, size)`` (NumPy, or any array namespace).

        Returns arrays of shape ``(N, *block.shape)`` in the namespace of `points`. They are views of one copy of
        `points` laid out *batch-minor* (the batch axis is the fastest in memory): a reduction over a block's short
        axes then runs along long contiguous rows, which NumPy does 10-30x faster than over a short last axis of a
        row-major batch (measured: a sum over the 6 entries of 32768 instances, 50 us against 1.5 ms), and the
        library functions under test, which take the instances trailing, receive contiguous arrays.
        """
        if points.ndim != 2 or points.shape[1] != self.size:
            raise ValueError(f"points: expected shape (N, {self.size}), got {tuple(points.shape)}")
        xp = _namespace_of(points)
        if isinstance(points, np.ndarray):  # no copy when `points` is batch-minor already (:meth:`sample`)
            columns = np.ascontiguousarray(points.T)
        else:
            columns = xp.asarray(xp.matrix_transpose(points), copy=True)
        n, out, k = points.shape[0], {}, 0
        for b in self.blocks:
            block = xp.reshape(columns[k : k + b.size, :], (*b.shape, n))
            out[b.name] = b.to_value(xp.permute_dims(block, (len(b.shape), *range(len(b.shape)))))
            k += b.size
        return out

    def instance(self, p: np.ndarray) -> Instance:
        """One instance on the host: the values of the flat vector `p`, shape ``(size,)``."""
        p = np.asarray(p, dtype=np.float64)
        if p.shape != (self.size,):
            raise ValueError(f"p: expected a flat vector of length {self.size}, got shape {p.shape}")
        return {k: np.asarray(v[0]) for k, v in self.unpack(p[None, :]).items()}

    def pack(self, values: Mapping[str, np.ndarray]) -> np.ndarray:
        """The flat vector of one instance `values` (every block named); the inverse of :meth:`instance`."""
        missing = [b.name for b in self.blocks if b.name not in values]
        if missing:
            raise ValueError(f"values: missing block(s) {missing}")
        parts = []
        for b in self.blocks:
            v = np.asarray(values[b.name], dtype=np.float64)
            if v.shape != b.shape:
                raise ValueError(f"values[{b.name!r}]: expected shape {b.shape}, got {v.shape}")
            parts.append(np.ravel(b.from_value(v)))
        return np.concatenate(parts) if parts else np.zeros(0)

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """`n` random instances as flat vectors, shape ``(n, size)`` (NumPy, batch-minor as :meth:`unpack` uses it).

        The blocks draw batch-minor too (the batch axis fastest), so this is one copy.
        """
        columns = [
            np.moveaxis(np.asarray(b.draw(rng, n), dtype=np.float64), 0, -1).reshape(b.size, n) for b in self.blocks
        ]
        return np.concatenate(columns, axis=0).T


def _namespace_of(a: Array) -> ModuleType:
    from array_api_compat import array_namespace

    return array_namespace(a)


Side = Callable[[Values], Array]
Instances = Callable[[np.random.Generator], Sequence[Mapping[str, np.ndarray]]]


@dataclass(frozen=True)
class Inequality:
    r"""A statement :math:`\mathrm{lhs}\le\mathrm{rhs}` over the instances of `params`, evaluated in batches.

    Every side receives a batch ``values`` (block name -> array ``(N, *shape)`` in the run's namespace) and
    returns an array of shape ``(N,)`` in that namespace (or NumPy).

    Attributes
    ----------
    params : Params
        The parameter blocks.
    lhs : callable
        ``lhs(values)``: the independent float64 oracle used during the search.
    rhs : callable
        ``rhs(values)``: the right side from the library function under test.
    lhs_exact : callable, optional
        ``lhs_exact(instance) -> number``: the left side of *one* host instance at high precision (mpmath, exact
        rationals), used at the reported points. Without it the reported ratio is the float64 one.
    scale : callable, optional
        ``scale(values)``: the size of what is compared when the sides change sign (the sum of the absolute
        values of the right side's terms); by default :math:`|\mathrm{rhs}|`.
    valid : callable, optional
        ``valid(values) -> bool array (N,)``: the statement's assumptions and non-degeneracy; a False instance is
        skipped (and counted), the others are evaluated (only they reach the sides) and must give finite sides.
    allowance : callable, optional
        ``allowance(values)`` added to the right side in the float64 search only, so the climber does not
        chase rounding noise of a cancellation; the reported ratios never include it.
    starts : callable, optional
        ``starts(rng) -> list of instances``: adversarial instances (edge cases) evaluated before the climb.
    equality : callable, optional
        ``equality(rng) -> list of instances``: instances where the statement holds with equality. When given,
        the attack passes only if the worst ratio also reaches ``1 - tight``.
    tight : float
        How close to 1 the equality instances must come (:mod:`bntheory.checks.tolerances`).
    what : str
        The ratio's name in the report (``"||grad_y L||^2 / rhs"``).
    """

    params: Params
    lhs: Side
    rhs: Side
    lhs_exact: Callable[[Instance], object] | None = None
    scale: Side | None = None
    valid: Side | None = None
    allowance: Side | None = None
    starts: Instances | None = None
    equality: Instances | None = None
    tight: float = RATIO.tight
    what: str = "lhs / rhs"


@dataclass(frozen=True)
class Attack:
    """What one attack on one instance family found.

    Attributes
    ----------
    ratio : float
        Largest reported ratio (refined where `lhs_exact` is given); NaN if a valid instance gave a non-finite side.
    point : dict
        The instance where it was found (host arrays).
    float_ratio : float
        Largest float64 ratio of the search.
    evaluations, skipped : int
        Instances evaluated, and those skipped as invalid (assumptions violated).
    draws : ndarray
        The ratios at the first :data:`HISTOGRAM` random draws (NaN where skipped), for the report's histogram.
    equality_ratio : float or None
        The smallest reported ratio over the declared equality instances (each must reach 1).
    nonfinite : str
        Where a valid instance gave a non-finite side, if anywhere.
    """

    ratio: float
    point: Instance
    float_ratio: float
    evaluations: int
    skipped: int
    draws: np.ndarray
    equality_ratio: float | None = None
    nonfinite: str = ""


@dataclass
class _Search:
    """The state of one attack: the best points so far (host), and the counts."""

    spec: Inequality
    xp: ModuleType
    threads: _OneThread
    keep: int
    best_ratios: np.ndarray = field(default_factory=lambda: np.zeros(0))
    best_points: np.ndarray | None = None
    skipped: int = 0
    evaluations: int = 0
    nonfinite: str = ""

    def sides(self, points: np.ndarray, *, search: bool) -> tuple[np.ndarray, tuple]:
        """Valid mask (host) and the host sides (lhs, rhs, scale) of the valid instances among `points`."""
        spec = self.spec
        values = spec.params.unpack(asarray(points, self.xp))
        if spec.valid is None:
            mask = np.ones(points.shape[0], dtype=bool)
        else:
            mask = to_numpy(spec.valid(values)).astype(bool).reshape(points.shape[0])
            if not mask.all():  # unpacked again rather than indexed: a boolean index would undo the layout
                values = spec.params.unpack(asarray(points[mask], self.xp))
        if not mask.any():
            return mask, ()
        lhs = to_numpy(spec.lhs(values)).astype(np.float64).reshape(-1)
        self.threads.hold()  # the oracle may just have imported PyTorch
        rhs = to_numpy(spec.rhs(values)).astype(np.float64).reshape(-1)
        scale = None if spec.scale is None else to_numpy(spec.scale(values)).astype(np.float64).reshape(-1)
        if search and spec.allowance is not None:
            allowance = to_numpy(spec.allowance(values)).astype(np.float64).reshape(-1)
            return mask, (lhs, rhs, scale, allowance)
        return mask, (lhs, rhs, scale, None)

    def ratios(self, points: np.ndarray, *, search: bool = True) -> np.ndarray:
        """The float64 ratios of a batch of flat vectors (NaN where skipped or non-finite); keeps the best."""
        n = points.shape[0]
        self.evaluations += n
        out = np.full(n, np.nan)
        mask, sides = self.sides(points, search=search)
        self.skipped += int(n - mask.sum())
        if not sides:
            return out
        lhs, rhs, scale, allowance = sides
        finite = np.isfinite(lhs) & np.isfinite(rhs) & (True if scale is None else np.isfinite(scale))
        if not finite.all() and not self.nonfinite:
            self.nonfinite = _describe(self.spec.params.instance(points[mask][~finite][0]))
        r = normalized_ratio(lhs, rhs if allowance is None else rhs + allowance, scale)
        r = np.where(finite, r, np.nan)
        self.skipped += int(np.sum(finite & ~np.isfinite(r)))  # a zero scale: no information at this instance
        out[mask] = r
        self._keep(out, points)
        return out

    def _keep(self, r: np.ndarray, points: np.ndarray) -> None:
        """Merge the finite ratios of a batch into the `keep` best (host copies of their points only)."""
        ok = np.flatnonzero(np.isfinite(r))
        if ok.size > self.keep:
            ok = ok[np.argpartition(-r[ok], self.keep - 1)[: self.keep]]
        ratios = np.concatenate([self.best_ratios, r[ok]])
        pts = points[ok] if self.best_points is None else np.concatenate([self.best_points, points[ok]])
        order = np.argsort(-ratios, kind="stable")[: self.keep]
        self.best_ratios, self.best_points = ratios[order], pts[order]

    def refined(self, points: np.ndarray) -> np.ndarray:
        """The reported ratios at `points`: `lhs_exact` (one at a time) against the library's batched right side."""
        spec = self.spec
        if spec.lhs_exact is None or not len(points):
            return self.ratios(points, search=False) if len(points) else np.zeros(0)
        values = spec.params.unpack(asarray(points, self.xp))
        rhs = to_numpy(spec.rhs(values)).astype(np.float64).reshape(-1)
        scale = None if spec.scale is None else to_numpy(spec.scale(values)).astype(np.float64).reshape(-1)
        out = np.empty(len(points))
        for i, p in enumerate(points):
            lhs = spec.lhs_exact(spec.params.instance(p))
            if not math.isfinite(float(lhs)) or not math.isfinite(rhs[i]):
                self.nonfinite = self.nonfinite or _describe(spec.params.instance(p))
                out[i] = math.nan
            else:
                out[i] = float(normalized_ratio(lhs, float(rhs[i]), None if scale is None else float(scale[i])))
        return out


def _describe(values: Instance) -> str:
    return ", ".join(f"{k} = {np.array2string(np.asarray(v), precision=4, threshold=8)}" for k, v in values.items())


def _best_distinct(ratios: np.ndarray, points: np.ndarray | None, k: int) -> np.ndarray:
    """The `k` points with the largest ratios, skipping near-duplicates (a climb's own trail); shape (<= k, size)."""
    chosen: list[np.ndarray] = []
    if points is not None:
        for i in np.argsort(-ratios, kind="stable"):
            if len(chosen) >= k:  # checked first: k = 0 chooses nothing
                break
            p = points[i]
            if all(np.linalg.norm(p - q) > 1e-6 * (1 + np.linalg.norm(q)) for q in chosen):
                chosen.append(p)
    width = 0 if points is None else points.shape[1]
    return np.stack(chosen) if chosen else np.zeros((0, width))


def _search_box(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper corners of the climb's box around `points` (n, size).

    The points' bounding box, padded on each side by half its width plus ``1e-3 (1 + max |x|)`` per coordinate:
    the climb may leave the population, and a coordinate where the points agree still moves.
    """
    low, high = points.min(axis=0), points.max(axis=0)
    pad = 0.5 * (high - low) + 1e-3 * (1 + np.abs(points).max(axis=0))
    return low - pad, high + pad


def _climb(s: _Search, rng: np.random.Generator, population: int, generations: int) -> None:
    """Differential evolution from the best distinct points, one batch per generation (see the module docstring)."""
    init = _best_distinct(s.best_ratios, s.best_points, population)
    if generations < 1 or len(init) < 5:  # SciPy needs a population of at least 5
        return
    bounds = scipy.optimize.Bounds(*_search_box(init))

    def energy(x: np.ndarray) -> np.ndarray:
        r = s.ratios(np.ascontiguousarray(x.T))
        return np.where(np.isfinite(r), -r, np.inf)

    with warnings.catch_warnings():
        # Infinite energies (invalid instances) make SciPy's convergence statistic warn; they are skipped points.
        warnings.simplefilter("ignore", RuntimeWarning)
        scipy.optimize.differential_evolution(
            energy,
            bounds,
            init=init,
            maxiter=generations,
            vectorized=True,
            updating="deferred",
            polish=False,
            tol=0.0,
            atol=0.0,
            mutation=(0.5, 1.0),
            recombination=0.9,
            rng=rng,
        )


class _OneThread:
    """BLAS and PyTorch held to one thread while an attack evaluates its batches (restored afterwards).

    The instances are small (m <= 20) and the work runs along the batch axis, which thread pools do not split
    well: on 2 shared cores PyTorch's default 2 threads were measured 20x slower than one on a batch of 32768
    Hessian forms (1385 ms against 68 ms). PyTorch is held as soon as a side has imported it (the oracles import
    it lazily), so a spec without it never imports it.
    """

    def __init__(self) -> None:
        self.saved: int | None = None

    def hold(self) -> None:
        torch = sys.modules.get("torch")
        if torch is not None and self.saved is None:
            self.saved = torch.get_num_threads()
            torch.set_num_threads(1)

    @contextlib.contextmanager
    def held(self):
        with thread_pools().limit(limits=1):
            try:
                self.hold()
                yield self
            finally:
                if self.saved is not None:
                    sys.modules["torch"].set_num_threads(self.saved)


def attack(
    spec: Inequality,
    rng: np.random.Generator,
    *,
    xp: ModuleType | None = None,
    draws: int = 10_000,
    population: int = 32,
    generations: int = 40,
    refine_top: int = 3,
    chunk: int = 1 << 15,
) -> Attack:
    """Search for the instance of `spec` with the largest ratio (see the module docstring).

    Parameters
    ----------
    spec : Inequality
    rng : numpy.random.Generator
        Source of every random draw (from :meth:`bntheory.context.Context.rng`).
    xp : array namespace, optional
        Where the batches are evaluated (:attr:`bntheory.context.Context.xp`); NumPy by default.
    draws : int
        Random instances.
    population : int
        Differential-evolution population: the best distinct points so far (0 or < 5 points: no climb).
    generations : int
        Differential-evolution generations, each one batch of `population` instances.
    refine_top : int
        Best distinct points re-evaluated with `lhs_exact` (the equality instances always are).
    chunk : int
        Instances per batch of the random phase (bounds the memory of one evaluation).

    Returns
    -------
    Attack

    Raises
    ------
    ValueError
        If `draws` or `chunk` < 1, or no instance at all was valid (the parametrisation never meets the assumptions).
    """
    if draws < 1:
        raise ValueError(f"draws: need at least one random draw, got {draws}")
    if chunk < 1:
        raise ValueError(f"chunk: need a positive batch size, got {chunk}")
    with _OneThread().held() as threads:
        s = _Search(
            spec, namespace("numpy") if xp is None else xp, threads, keep=max(4 * population, 4 * refine_top, 16)
        )
        return _attack(s, rng, draws, population, generations, refine_top, chunk)


def _attack(s: _Search, rng: np.random.Generator, draws, population, generations, refine_top, chunk) -> Attack:
    spec = s.spec
    params = spec.params
    histogram, done = [], 0
    while done < draws:
        n = min(chunk, draws - done)
        r = s.ratios(params.sample(rng, n))
        if done < HISTOGRAM:
            histogram.append(r[: HISTOGRAM - done])
        done += n
    starts = [params.pack(v) for v in (spec.starts(rng) if spec.starts is not None else ())]
    equal_points = np.array([params.pack(v) for v in (spec.equality(rng) if spec.equality is not None else ())])
    extra = starts + list(equal_points)
    if extra:
        s.ratios(np.stack(extra))
    if not len(s.best_ratios) and not s.nonfinite:
        raise ValueError("spec: no valid instance among the draws and starts; check the parametrisation")
    _climb(s, rng, population, generations)
    float_best = float(s.best_ratios[0]) if len(s.best_ratios) else math.nan
    best = _best_distinct(s.best_ratios, s.best_points, refine_top)
    candidates = np.concatenate([best, equal_points.reshape(-1, params.size)])
    refined = s.refined(candidates)
    # Every equality instance must reach 1: the weakest one decides (a bound inflated only at eps > 0 shows there).
    equality_ratio = float(np.min(refined[len(best) :])) if len(equal_points) else None
    if s.nonfinite or not np.all(np.isfinite(refined)):
        worst, point = math.nan, candidates[0] if len(candidates) else np.zeros(params.size)
    else:
        i = int(np.argmax(refined))
        worst, point = float(refined[i]), candidates[i]
    return Attack(
        worst,
        params.instance(point),
        float_best,
        s.evaluations,
        s.skipped,
        np.concatenate(histogram),
        equality_ratio,
        s.nonfinite,
    )


def verdict(
    found: Mapping[str, Attack], specs: Mapping[str, Inequality], *, tol: float = RATIO.slack, control: bool = False
) -> Outcome:
    """One outcome for a family of attacks (one per size, by label): the worst ratio and the equality reached.

    Passes when every ratio is at most ``1 + tol`` and, where a spec declares an equality case, its equality
    instances reach at least ``1 - tight`` (the largest `tight` of the family). The measured value is the worst
    ratio, or, when that is within the bound, the lowest ratio reached at the equality instances, so that an
    inflated bound shows up as a number below the interval. NaN anywhere fails, naming where. For a negative
    `control` the detail also states its rejection margin: how far the measured value lies outside the interval.
    """
    nan = [k for k, a in found.items() if math.isnan(a.ratio)]
    label, worst = max(((k, a) for k, a in found.items() if k not in nan), key=lambda t: t[1].ratio, default=("", None))
    what = next(iter(specs.values())).what
    samples = np.concatenate([a.draws[np.isfinite(a.draws)] for a in found.values()])
    evaluations = sum(a.evaluations for a in found.values())
    skipped = sum(a.skipped for a in found.values())
    summary = f"{evaluations} evaluations over {', '.join(found)}, {skipped} invalid instances skipped"
    if nan or worst is None:
        where = "; ".join(f"{k}: {found[k].nonfinite or 'at refinement'}" for k in nan)
        return at_most(math.nan, 1 + tol, f"non-finite side at a valid instance ({where}); {summary}")
    detail = f"max {what} {worst.ratio:.15g} at {label} (float64 search max {worst.float_ratio:.6g}; {summary})"
    reached = {k: a.equality_ratio for k, a in found.items() if a.equality_ratio is not None}
    if not reached:
        detail += _margin(control, worst.ratio, -math.inf, 1 + tol)
        return at_most(worst.ratio, 1 + tol, detail, samples=samples)
    low = 1 - max(specs[k].tight for k in reached)
    lowest = min(reached.values())
    detail += "; equality instances reach " + ", ".join(f"{k}: {r:.15g}" for k, r in reached.items())
    measured = worst.ratio if worst.ratio > 1 + tol else lowest
    return within(measured, low, 1 + tol, detail + _margin(control, measured, low, 1 + tol), samples=samples)


def _margin(control: bool, measured: float, low: float, high: float) -> str:
    """A control's rejection margin (how far `measured` lies outside [low, high]; <= 0: not rejected), or ''."""
    if not control:
        return ""
    return f"; control rejected by a margin of {max(measured - high, low - measured):.3g} outside the interval"


#: Attack budgets by run size: random instances per family (split between its labels), the random instances of a
#: negative control's family (``controls``, see :func:`attack_family`), and the climb's differential-evolution
#: population and generations per label.
BUDGETS: dict[str, dict[str, int]] = {
    "quick": {"instances": 10_000, "controls": 10_000, "population": 16, "generations": 15},
    "default": {"instances": 1_000_000, "controls": 100_000, "population": 32, "generations": 20},
    "large": {"instances": 10_000_000, "controls": 1_000_000, "population": 64, "generations": 200},
}


def attack_family(specs: Mapping[str, Inequality], ctx: Context, *, control: bool = False, **budget: int) -> Outcome:
    """Attack each spec of a family (one per size, by label) on ``ctx.xp`` and return their :func:`verdict`.

    The family's random instances (:data:`BUDGETS`, ``instances``) are split evenly between its labels. Each
    label draws from its own stream, shared between a check and its control
    (``ctx.rng("attack/<label>", shared=True)``), so a control attacks the same random instances and differs only
    in its one wrong piece. `budget` overrides :data:`BUDGETS` for the run's size.

    A negative control (``control=True``) draws ``controls`` random instances (a tenth of the check's at the
    default and large sizes), never more than ``instances``, and keeps the rest of the attack (starts, equality
    instances, climb, refinement). The rule: a check must search hard, because one instance breaking it is the
    whole point; a control's job is only to be rejected through the same comparison, and the sharp controls of
    this kit are rejected by large margins at 10^4 instances already. Its verdict states that margin, so a control
    that only barely fails shows it.
    """
    settings = {**BUDGETS[ctx.size], **budget}
    instances, controls = settings.pop("instances"), settings.pop("controls")
    draws = -(-(min(instances, controls) if control else instances) // len(specs))
    found = {
        label: attack(spec, ctx.rng(f"attack/{label}", shared=True), xp=ctx.xp, draws=draws, **settings)
        for label, spec in specs.items()
    }
    return verdict(found, specs, control=control)
