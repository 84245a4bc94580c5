r"""Inequalities as specs, and one attack that tries to break them.

A statement :math:`\mathrm{lhs}(\theta)\le\mathrm{rhs}(\theta)` is written once as an :class:`Inequality`:

* its parameters :math:`\theta` as named blocks (:class:`Params`: a batch ``y``, a vector ``g``, a scale
  ``gamma``, an ``eps >= 0``), each mapping an unconstrained slice of a flat vector to an admissible value, so
  that an optimiser may roam :math:`\mathbb R^n` and every point is an instance of the statement;
* its left side from an *independent oracle* (PyTorch autograd in float64 during the search, and `lhs_exact`,
  mpmath or exact rationals, at the points that are reported);
* its right side from the *library function under test*, in float64 and on the backend of the run. The
  reported ratio always uses this right side, so a wrong library formula cannot hide behind a re-implementation
  in the check;
* optionally its *equality case*: instances where the bound is attained. Then the attack must also reach
  ratio 1 there (within `tight`), so an inflated bound (a constant too large, a term dropped) fails as surely
  as a violated one.

:func:`attack` draws random instances, evaluates the adversarial starts and the equality instances, climbs from
the best with Nelder-Mead (derivative-free, so piecewise-smooth ratios are fine), re-evaluates the best points
with `lhs_exact` and returns an :class:`~bntheory.checks.compare.Outcome`. An instance that violates
`valid` (a degenerate batch, a broken assumption) is skipped and counted; any other non-finite left or right
side is a failure, never a skipped point. A negative control is the same spec with one wrong piece
(``dataclasses.replace(spec, rhs=false_rhs)``) run through the same attack: it is rejected when the ratio
exceeds the same threshold.

The ratio is :func:`normalized_ratio`: :math:`1+(\mathrm{lhs}-\mathrm{rhs})/s` with
:math:`s=|\mathrm{rhs}|` or a `scale` for sides that change sign, so :math:`r\le1` iff the inequality holds.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import scipy.optimize

from bntheory.checks.compare import Outcome, at_most, within
from bntheory.checks.tolerances import RATIO
from bntheory.context import Context

__all__ = [
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

Values = dict[str, np.ndarray]


def normalized_ratio(lhs: float, rhs: float, scale: float | None = None) -> float:
    r"""The left/right ratio of :math:`\mathrm{lhs}\le\mathrm{rhs}`, defined for sides of any sign.

    .. math:: r = 1+\frac{\mathrm{lhs}-\mathrm{rhs}}{s},\qquad s = |\mathrm{rhs}|\ \text{by default}.

    For positive sides this is exactly :math:`\mathrm{lhs}/\mathrm{rhs}`. For sides that change sign (a
    Hessian quadratic form) pass as `scale` the sum of the absolute values of the terms, so that
    :math:`r-1` is the violation relative to the size of what is being compared. :math:`r\le1` if and
    only if the inequality holds; :math:`r=1` at equality. ``nan`` when the scale is not positive (0: no
    information; negative: not a size).
    """
    s = abs(rhs) if scale is None else scale
    if not s > 0:
        return float("nan")
    return 1.0 + (lhs - rhs) / s


@dataclass(frozen=True)
class Block:
    """A named parameter block: its shape, the map from unconstrained reals to admissible values, and its draw.

    Attributes
    ----------
    name : str
        The symbol (``"y"``, ``"gamma"``).
    shape : tuple of int
        Shape of the value (``()`` for a scalar).
    draw : callable
        ``draw(rng) -> value``: one random admissible value, of `shape`.
    to_value, from_value : callable
        Unconstrained flat slice -> value, and its inverse (identity for a real block, ``p**2`` for a
        non-negative one, ``exp`` for a positive one).
    """

    name: str
    shape: tuple[int, ...]
    draw: Callable[[np.random.Generator], np.ndarray]
    to_value: Callable[[np.ndarray], np.ndarray] = np.asarray
    from_value: Callable[[np.ndarray], np.ndarray] = np.asarray

    @property
    def size(self) -> int:
        """Length of the block's slice of the flat vector."""
        return math.prod(self.shape)


def vector(name: str, n: int, *, spread: tuple[float, float] = (1.0, 1.0)) -> Block:
    """A real vector of length `n`, drawn Gaussian with a scale uniform in `spread` (wide scales find more)."""
    return Block(name, (n,), lambda rng: rng.normal(size=n) * rng.uniform(*spread))


def batch(name: str, m: int) -> Block:
    """A batch of `m` reals: Gaussian with a mean uniform in [-2, 2] and a scale uniform in [0.3, 3]."""
    return Block(name, (m,), lambda rng: rng.normal(rng.uniform(-2, 2), rng.uniform(0.3, 3), m))


def matrix(name: str, rows: int, cols: int, *, spread: tuple[float, float] = (0.3, 3.0)) -> Block:
    """A real (rows, cols) matrix, Gaussian with a scale uniform in `spread`."""
    return Block(name, (rows, cols), lambda rng: rng.normal(size=(rows, cols)) * rng.uniform(*spread))


def scalar(name: str, *, spread: float = 2.0, sign: bool = True) -> Block:
    """A real scalar: Gaussian with standard deviation `spread` (``sign=False``: a magnitude in [0.3, 3])."""
    if sign:
        return Block(name, (), lambda rng: np.asarray(rng.normal() * spread))
    return Block(name, (), lambda rng: np.asarray(rng.uniform(0.3, 3.0)))


def nonneg(name: str, *, high: float = 1.5, zero: float = 0.5) -> Block:
    r"""A scalar :math:`\ge0`, as :math:`p^2`: exactly 0 with probability `zero` (often an equality case)."""

    def draw(rng: np.random.Generator) -> np.ndarray:
        return np.asarray(0.0 if rng.random() < zero else rng.uniform(0, high))

    return Block(name, (), draw, to_value=lambda p: np.asarray(p) ** 2, from_value=lambda v: np.sqrt(np.asarray(v)))


@dataclass(frozen=True)
class Params:
    """Named parameter blocks packed into one flat vector (the optimiser's view)."""

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

    def unpack(self, p: np.ndarray) -> Values:
        """The admissible values of the flat vector `p`, by block name."""
        p = np.asarray(p, dtype=np.float64)
        if p.shape != (self.size,):
            raise ValueError(f"p: expected a flat vector of length {self.size}, got shape {p.shape}")
        out, k = {}, 0
        for b in self.blocks:
            out[b.name] = np.asarray(b.to_value(p[k : k + b.size].reshape(b.shape)), dtype=np.float64)
            k += b.size
        return out

    def pack(self, values: Mapping[str, np.ndarray]) -> np.ndarray:
        """The flat vector of `values` (every block named); the inverse of :meth:`unpack`."""
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

    def sample(self, rng: np.random.Generator) -> np.ndarray:
        """One random instance, as a flat vector."""
        return self.pack({b.name: b.draw(rng) for b in self.blocks})


Side = Callable[[Values], float]


@dataclass(frozen=True)
class Inequality:
    r"""A statement :math:`\mathrm{lhs}\le\mathrm{rhs}` over the instances of `params`.

    Attributes
    ----------
    params : Params
        The parameter blocks.
    lhs : callable
        ``lhs(values) -> float``: the independent float64 oracle used during the search.
    rhs : callable
        ``rhs(values) -> float``: the right side from the library function under test.
    lhs_exact : callable, optional
        ``lhs_exact(values) -> number``: the left side at high precision (mpmath, exact rationals), used at the
        reported points. Without it the reported ratio is the float64 one.
    scale : callable, optional
        ``scale(values) -> float``: the size of what is compared when the sides change sign (the sum of the
        absolute values of the right side's terms); by default :math:`|\mathrm{rhs}|`.
    valid : callable, optional
        ``valid(values) -> bool``: the statement's assumptions and non-degeneracy; a False instance is skipped
        (and counted), everything else must give finite sides.
    allowance : callable, optional
        ``allowance(values) -> float`` added to the right side in the float64 search only, so the climber does not
        chase rounding noise of a cancellation; the reported ratios never include it.
    starts : callable, optional
        ``starts(rng) -> list of values``: adversarial instances (edge cases) evaluated before the climbs.
    equality : callable, optional
        ``equality(rng) -> list of values``: instances where the statement holds with equality. When given, the
        attack passes only if the worst ratio also reaches ``1 - tight``.
    tight : float
        How close to 1 the equality instances must come (:mod:`bntheory.checks.tolerances`).
    what : str
        The ratio's name in the report (``"||grad_y L||^2 / rhs"``).
    """

    params: Params
    lhs: Side
    rhs: Side
    lhs_exact: Callable[[Values], object] | None = None
    scale: Side | None = None
    valid: Callable[[Values], bool] | None = None
    allowance: Side | None = None
    starts: Callable[[np.random.Generator], Sequence[Mapping[str, np.ndarray]]] | None = None
    equality: Callable[[np.random.Generator], Sequence[Mapping[str, np.ndarray]]] | None = None
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
        The instance where it was found.
    float_ratio : float
        Largest float64 ratio of the search.
    evaluations, skipped : int
        Instances evaluated, and those skipped as invalid (assumptions violated).
    draws : ndarray
        The ratios at the random draws (NaN where skipped).
    equality_ratio : float or None
        The smallest reported ratio over the declared equality instances (each must reach 1).
    nonfinite : str
        Where a valid instance gave a non-finite side, if anywhere.
    """

    ratio: float
    point: Values
    float_ratio: float
    evaluations: int
    skipped: int
    draws: np.ndarray
    equality_ratio: float | None = None
    nonfinite: str = ""


@dataclass
class _Search:
    spec: Inequality
    seen: list[tuple[float, np.ndarray]] = field(default_factory=list)
    skipped: int = 0
    evaluations: int = 0
    nonfinite: str = ""

    def ratio(self, p: np.ndarray, *, search: bool = True) -> float:
        spec = self.spec
        values = spec.params.unpack(p)
        self.evaluations += 1
        if spec.valid is not None and not spec.valid(values):
            self.skipped += 1
            return math.nan
        lhs, rhs = float(spec.lhs(values)), float(spec.rhs(values))
        scale = None if spec.scale is None else float(spec.scale(values))
        if not all(map(math.isfinite, (lhs, rhs, *(() if scale is None else (scale,))))):
            self.nonfinite = self.nonfinite or _describe(values)
            return math.nan
        if search and spec.allowance is not None:
            rhs += float(spec.allowance(values))
        r = normalized_ratio(lhs, rhs, scale)
        if not math.isfinite(r):  # a zero scale: no information at this instance
            self.skipped += 1
            return math.nan
        self.seen.append((r, np.array(p, dtype=np.float64)))
        return r

    def refined(self, p: np.ndarray) -> float:
        spec = self.spec
        values = spec.params.unpack(p)
        if spec.lhs_exact is None:
            return self.ratio(p, search=False)
        lhs, rhs = spec.lhs_exact(values), float(spec.rhs(values))
        scale = None if spec.scale is None else float(spec.scale(values))
        if not math.isfinite(float(lhs)) or not math.isfinite(rhs):
            self.nonfinite = self.nonfinite or _describe(values)
            return math.nan
        return float(normalized_ratio(lhs, rhs, scale))


def _describe(values: Values) -> str:
    return ", ".join(f"{k} = {np.array2string(np.asarray(v), precision=4, threshold=8)}" for k, v in values.items())


def attack(
    spec: Inequality,
    rng: np.random.Generator,
    *,
    draws: int = 60,
    climbs: int = 2,
    max_evaluations: int = 150,
    refine_top: int = 3,
) -> Attack:
    """Search for the instance of `spec` with the largest ratio (see the module docstring).

    Parameters
    ----------
    spec : Inequality
    rng : numpy.random.Generator
        Source of every random draw (from :meth:`bntheory.context.Context.rng`).
    draws : int
        Random instances.
    climbs : int
        Nelder-Mead climbs, each from one of the best distinct points so far.
    max_evaluations : int
        Ratio evaluations per climb.
    refine_top : int
        Best points re-evaluated with `lhs_exact` (the equality instances always are).

    Returns
    -------
    Attack

    Raises
    ------
    ValueError
        If `draws` < 1, or no instance at all was valid (the parametrisation never meets the assumptions).
    """
    if draws < 1:
        raise ValueError(f"draws: need at least one random draw, got {draws}")
    s = _Search(spec)
    params = spec.params
    random_ratios = np.array([s.ratio(params.sample(rng)) for _ in range(draws)])
    for values in spec.starts(rng) if spec.starts is not None else ():
        s.ratio(params.pack(values))
    equal_points = [params.pack(v) for v in (spec.equality(rng) if spec.equality is not None else ())]
    for p in equal_points:
        s.ratio(p)
    if not s.seen and not s.nonfinite:
        raise ValueError("spec: no valid instance among the draws and starts; check the parametrisation")
    for p0 in _best_distinct(s.seen, climbs):
        scipy.optimize.minimize(
            lambda p: -r if math.isfinite(r := s.ratio(p)) else math.inf,
            p0,
            method="Nelder-Mead",
            options={"maxfev": max_evaluations, "xatol": 1e-10, "fatol": 1e-15, "adaptive": p0.size > 5},
        )
    float_best = max((r for r, _ in s.seen), default=math.nan)
    candidates = _best_distinct(s.seen, refine_top) + equal_points
    refined = [(s.refined(p), p) for p in candidates]
    # Every equality instance must reach 1: the weakest one decides (a bound inflated only at eps > 0 shows there).
    equality_ratio = min((r for r, _ in refined[len(refined) - len(equal_points) :]), default=None)
    if s.nonfinite or any(not math.isfinite(r) for r, _ in refined):
        worst, point = math.nan, refined[0][1] if refined else np.zeros(params.size)
    else:
        worst, point = max(refined, key=lambda t: t[0])
    return Attack(
        worst,
        params.unpack(point),
        float_best,
        s.evaluations,
        s.skipped,
        random_ratios,
        equality_ratio,
        s.nonfinite,
    )


def _best_distinct(seen: list[tuple[float, np.ndarray]], k: int) -> list[np.ndarray]:
    """The `k` points with the largest ratios, skipping near-duplicates (a climb's own trail)."""
    chosen: list[np.ndarray] = []
    for _, p in sorted(seen, key=lambda t: -t[0]):
        if len(chosen) >= k:  # checked first: k = 0 (no climbs) chooses nothing
            break
        if all(np.linalg.norm(p - q) > 1e-6 * (1 + np.linalg.norm(q)) for q in chosen):
            chosen.append(p)
    return chosen


def verdict(found: Mapping[str, Attack], specs: Mapping[str, Inequality], *, tol: float = RATIO.slack) -> Outcome:
    """One outcome for a family of attacks (one per size, by label): the worst ratio and the equality reached.

    Passes when every ratio is at most ``1 + tol`` and, where a spec declares an equality case, its equality
    instances reach at least ``1 - tight`` (the largest `tight` of the family). The measured value is the worst
    ratio, or, when that is within the bound, the lowest ratio reached at the equality instances, so that an
    inflated bound shows up as a number below the interval. NaN anywhere fails, naming where.
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
        return at_most(worst.ratio, 1 + tol, detail, samples=samples)
    low = 1 - max(specs[k].tight for k in reached)
    lowest = min(reached.values())
    detail += "; equality instances reach " + ", ".join(f"{k}: {r:.15g}" for k, r in reached.items())
    return within(worst.ratio if worst.ratio > 1 + tol else lowest, low, 1 + tol, detail, samples=samples)


#: Attack budgets by run size: random draws, Nelder-Mead climbs, evaluations per climb.
BUDGETS: dict[str, dict[str, int]] = {
    "quick": {"draws": 30, "climbs": 1, "max_evaluations": 80},
    "default": {"draws": 60, "climbs": 2, "max_evaluations": 150},
    "large": {"draws": 400, "climbs": 6, "max_evaluations": 600},
}


def attack_family(specs: Mapping[str, Inequality], ctx: Context, **budget: int) -> Outcome:
    """Attack each spec of a family (one per size, by label) and return their :func:`verdict`.

    Each label draws from its own stream, shared between a check and its control
    (``ctx.rng("attack/<label>", shared=True)``), so a control attacks the same random instances and differs only
    in its one wrong piece. `budget` overrides :data:`BUDGETS` for the run's size.
    """
    settings = {**BUDGETS[ctx.size], **budget}
    found = {label: attack(spec, ctx.rng(f"attack/{label}", shared=True), **settings) for label, spec in specs.items()}
    return verdict(found, specs)
