"""Declaring a study: problems x methods x measures, each with a parameter grid, and repetitions.

A :class:`Study` is checked whole when it is made (unknown names, parameters of the wrong type, empty grids: one
:class:`~bntheory.study.params.SpecError` naming the field, before anything runs) and expands into
:class:`Cell` objects (a point of a problem's grid and a point of a method's grid, for the methods that apply to
that problem) and :class:`Run` objects (a cell and a repetition), the unit of work, of the cache and of a task.

A spec file is TOML::

    [study]
    name = "least-squares"
    seed = 0
    repetitions = 3
    target = 1e-8          # iterations and time to e_t <= target * e_0

    [[problems]]
    name = "least_squares"
    d = [10, 50]
    kappa = [10.0, 100.0]

    [[methods]]
    name = "gdnp"
    T_d = 60

    [[measures]]
    name = "bound"
    exponent = [1.0, 1.1]  # the theorem's rate, and one 10% faster (a claim the verdicts must refute)
"""

from __future__ import annotations

import itertools
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bntheory.study.measures import MEASURES
from bntheory.study.methods import METHODS
from bntheory.study.params import Param, SpecError
from bntheory.study.problems import PROBLEMS
from bntheory.study.seeds import derive_seed, digest

__all__ = ["Cell", "Component", "Measure", "Run", "Study", "load_study"]

#: The measures a study records when its spec names none.
DEFAULT_MEASURES = ("objective_gap", "rho_gap", "grad_norm", "angle", "bound")


@dataclass(frozen=True)
class Component:
    """A problem, method or measure by name, with a grid: parameter -> one value or a list of values."""

    name: str
    grid: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Cell:
    """A point of a problem's grid and of a method's grid (every parameter given, defaults included)."""

    problem: str
    problem_params: tuple[tuple[str, object], ...]
    method: str
    method_params: tuple[tuple[str, object], ...]

    @property
    def id(self) -> str:
        """A short hash of the cell's parameters: its name in tables, caches and verdicts."""
        return digest(self.encoding())[:12]

    def encoding(self) -> dict:
        """The cell as plain data (what its seed and cache key are computed from)."""
        return {
            "problem": self.problem,
            "problem_params": dict(self.problem_params),
            "method": self.method,
            "method_params": dict(self.method_params),
        }


@dataclass(frozen=True)
class Run:
    """A cell and a repetition, with their seeds: one task, one cache entry.

    The problem's seed depends on the problem's parameters and the repetition only, so every method of a study
    meets the same instance and start (common random numbers); the method's seed (for stochastic methods) on the
    whole cell.
    """

    cell: Cell
    repetition: int
    problem_seed: int
    method_seed: int


@dataclass(frozen=True)
class Measure:
    """A measure with its parameters fixed: one column of the results table."""

    name: str
    params: tuple[tuple[str, object], ...]

    @property
    def column(self) -> str:
        """``name``, or ``name[k=v,...]`` for a measure with parameters."""
        if not self.params:
            return self.name
        return f"{self.name}[{','.join(f'{k}={_text(v)}' for k, v in self.params)}]"


def _text(value: object) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _points(field_name: str, params: dict[str, Param], grid: Mapping[str, object]) -> list[dict]:
    """Every point of `grid` (defaults filled in), its values checked against `params`."""
    if not isinstance(grid, Mapping):
        raise SpecError(f"{field_name}: expected a table of parameters, got {grid!r}")
    for key in grid:
        if key not in params:
            known = ", ".join(params) or "none"
            raise SpecError(f"{field_name}.{key}: unknown parameter (known: {known})")
    axes = {k: params[k].grid(f"{field_name}.{k}", v) for k, v in grid.items()}
    names = sorted(params)
    values = [axes.get(k, (params[k].default,)) for k in names]
    return [dict(zip(names, point, strict=True)) for point in itertools.product(*values)]


@dataclass(frozen=True)
class Study:
    """A convergence study: a grid of problems x methods, measures, repetitions and a seed.

    Parameters
    ----------
    name : str
        For the table and the files.
    problems, methods : sequence of Component
        Names from :data:`~bntheory.study.problems.PROBLEMS` and :data:`~bntheory.study.methods.METHODS`;
        a method is run on the problems it applies to (the other pairs are counted as skipped).
    measures : sequence of Component, optional
        Names from :data:`~bntheory.study.measures.MEASURES` (default: all of them, ``bound`` at exponent 1).
    repetitions : int
        Independent draws of each problem (instance and start).
    seed : int
        The study seed, from which every run's seeds are derived (:mod:`bntheory.study.seeds`).
    target : float
        Relative target of the verdicts' iterations and time to target: the first t with e_t <= target * e_0.

    Raises
    ------
    SpecError
        For an unknown name or parameter, a value of the wrong type or out of range, or an empty grid.
    """

    name: str
    problems: Sequence[Component]
    methods: Sequence[Component]
    measures: Sequence[Component] = tuple(Component(m) for m in DEFAULT_MEASURES)
    repetitions: int = 1
    seed: int = 0
    target: float = 1e-6

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise SpecError(f"study.name: expected a non-empty string, got {self.name!r}")
        Param("int", 1, "independent draws per cell", minimum=1).coerce("study.repetitions", self.repetitions)
        Param("int", 0, "the study seed", minimum=0).coerce("study.seed", self.seed)
        target = Param("float", 1e-6, "the relative target", minimum=0.0).coerce("study.target", self.target)
        if not target < 1:
            raise SpecError(f"study.target: expected a relative target in [0, 1), got {self.target!r}")
        # Every check runs here, once: expanding the grids raises the first error, naming its field.
        self._expand()

    def _expand(self) -> tuple[list[Cell], int, list[Measure]]:
        problems = self._component_points("problems", self.problems, PROBLEMS)
        methods = self._component_points("methods", self.methods, METHODS)
        cells, skipped = [], 0
        for (pname, ppoint), (mname, mpoint) in itertools.product(problems, methods):
            if pname not in METHODS[mname].problems:
                skipped += 1
                continue
            cells.append(Cell(pname, tuple(ppoint.items()), mname, tuple(mpoint.items())))
        measures = [
            Measure(name, tuple(point.items()))
            for name, point in self._component_points("measures", self.measures, MEASURES)
        ]
        ids = [c.id for c in cells]
        if len(set(ids)) != len(ids):
            raise SpecError("problems, methods: two entries declare the same cell; merge their grids")
        columns = [m.column for m in measures]
        if len(set(columns)) != len(columns):
            raise SpecError("measures: two entries declare the same measure; merge their grids")
        if not cells:
            raise SpecError("problems, methods: no method applies to any problem; the study has no cell")
        return cells, skipped, measures

    @staticmethod
    def _component_points(what: str, components: Sequence[Component], catalog: Mapping) -> list[tuple[str, dict]]:
        if isinstance(components, str | Component) or not isinstance(components, Sequence) or not components:
            raise SpecError(f"{what}: expected a non-empty list of entries, got {components!r}")
        out = []
        for i, comp in enumerate(components):
            where = f"{what}[{i}]"
            if not isinstance(comp, Component):
                raise SpecError(f"{where}: expected a Component, got {comp!r}")
            if comp.name not in catalog:
                raise SpecError(f"{where}.name: unknown {what[:-1]} {comp.name!r} (known: {', '.join(catalog)})")
            for point in _points(where, catalog[comp.name].params, comp.grid):
                problem = getattr(catalog[comp.name], "check", lambda p: None)(point)
                if problem is not None:
                    raise SpecError(f"{where}: {problem}")
                out.append((comp.name, point))
        return out

    def cells(self) -> list[Cell]:
        """The cells, problems outermost (their order changes no number: see :class:`Run`)."""
        return self._expand()[0]

    def skipped(self) -> int:
        """Pairs of a problem point and a method point where the method does not apply."""
        return self._expand()[1]

    def measure_columns(self) -> list[Measure]:
        """The measures, one per column of the results table."""
        return self._expand()[2]

    def runs(self) -> list[Run]:
        """Every cell times every repetition, with the seeds derived from the study seed."""
        out = []
        for cell in self.cells():
            enc = cell.encoding()
            for r in range(self.repetitions):
                problem = {"problem": enc["problem"], "params": enc["problem_params"], "repetition": r}
                out.append(Run(cell, r, derive_seed(self.seed, problem), derive_seed(self.seed, {**enc, "rep": r})))
        return out

    def smoke(self) -> Study:
        """The same study at smoke size: each grid's first point, every parameter the catalog shrinks, shrunk.

        Every problem x method pair of the study still runs, once (one repetition), in a fraction of a second.
        """

        def small(components: Sequence[Component], catalog: Mapping) -> tuple[Component, ...]:
            out = []
            for comp in components:
                first = {
                    k: v[0] if isinstance(v, Sequence) and not isinstance(v, str) else v for k, v in comp.grid.items()
                }
                out.append(Component(comp.name, {**first, **catalog[comp.name].smoke}))
            return tuple(out)

        return Study(
            f"{self.name}-smoke",
            small(self.problems, PROBLEMS),
            small(self.methods, METHODS),
            self.measures,
            repetitions=1,
            seed=self.seed,
            target=self.target,
        )

    @classmethod
    def from_mapping(cls, doc: Mapping) -> Study:
        """A study from a parsed spec (the layout of the module docstring)."""
        unknown = set(doc) - {"study", "problems", "methods", "measures"}
        if unknown:
            raise SpecError(f"{sorted(unknown)[0]}: unknown table (expected study, problems, methods, measures)")
        head = doc.get("study", {})
        if not isinstance(head, Mapping):
            raise SpecError("study: expected a table")
        extra = set(head) - {"name", "seed", "repetitions", "target"}
        if extra:
            raise SpecError(f"study.{sorted(extra)[0]}: unknown field (expected name, seed, repetitions, target)")

        def components(key: str) -> list[Component]:
            entries = doc.get(key, [])
            if not isinstance(entries, list):
                raise SpecError(f"{key}: expected an array of tables ([[{key}]])")
            out = []
            for i, entry in enumerate(entries):
                if not isinstance(entry, Mapping) or "name" not in entry:
                    raise SpecError(f"{key}[{i}].name: missing (each [[{key}]] entry names what it declares)")
                out.append(Component(entry["name"], {k: v for k, v in entry.items() if k != "name"}))
            return out

        measures = components("measures") or [Component(m) for m in DEFAULT_MEASURES]
        return cls(
            head.get("name", "study"),
            components("problems"),
            components("methods"),
            measures,
            repetitions=head.get("repetitions", 1),
            seed=head.get("seed", 0),
            target=head.get("target", 1e-6),
        )


def load_study(path: str | Path) -> Study:
    """Read and check a TOML spec.

    Raises
    ------
    SpecError
        If the file is not valid TOML or its declaration is not (the field named).
    OSError
        If it cannot be read.
    """
    text = Path(path).read_text(encoding="utf-8")
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{path}: not valid TOML ({exc})") from None
    return Study.from_mapping(doc)
