r"""The theorem registry: the one list of results that the CLI, the report, the notebooks and the tests read.

A results module (``bntheory/results/<paper><year>.py``) states a result with :func:`register` and attaches
its checks with decorators::

    backprop = register(
        "ioffe2015.backprop",
        title="Back-propagation through BN",
        citation="Ioffe & Szegedy 2015, §3, arXiv:1502.03167",
        tag="P",
        statement=r"\frac{\partial\ell}{\partial x_i} = ...",
        assumptions=("m >= 2",),
    )

    @backprop.symbolic("SymPy: d/dx of the forward equals the closed forms, m = 2..5")
    def _(ctx): ...

    @backprop.numeric("closed form vs mpmath central differences, 50 digits")
    def _(ctx): ...

    @backprop.negative_control("drop the dl/dmu term from dl/dx")
    def _(ctx): ...

Every check function takes a :class:`Context` and returns a :class:`~bntheory.checks.compare.Outcome`.
A negative control returns the outcome of the *same* comparison applied to a wrong formula, a false
constant or a violated assumption; the control is *rejected* (as it must be) when that outcome fails.

Status of a result after a run (:func:`run`):

``passed``
    every check that ran passed and the negative control was rejected;
``failed``
    a check failed, raised, or the negative control was not rejected;
``provisional``
    the statement is tagged [R] (recalled, not confirmed from the paper): it is run and reported, but
    does not gate ``bntheory verify``;
``not reproduced``
    the record declares, with its evidence, that the claim did not hold under its stated assumptions
    after an honest attempt; it is run and listed apart, and does not count as a failure.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
import sys
import time
import traceback
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Literal

import numpy as np

from bntheory import backend
from bntheory.checks.compare import Outcome

__all__ = [
    "SIZES",
    "CheckReport",
    "Context",
    "ControlReport",
    "Result",
    "ResultReport",
    "all_results",
    "get",
    "register",
    "run",
]

Tag = Literal["P", "S", "D", "R"]
Kind = Literal["symbolic", "numeric"]
CheckFn = Callable[["Context"], Outcome]

#: Meaning of the THEORY.md tags, carried into every record.
TAGS: dict[str, str] = {
    "P": "confirmed against the paper's text or the library's documentation/source",
    "S": "confirmed only against secondary sources",
    "D": "derived from first principles and verified; match with the paper's printed form not confirmed",
    "R": "recalled/reconstructed, not confirmed from the paper text (provisional)",
}

_REGISTRY: dict[str, Result] = {}
_MODULE: dict[str, str] = {}

#: The problem sizes of a run (``bntheory verify --size``).
SIZES: tuple[str, ...] = ("quick", "default", "large")


@dataclass(frozen=True)
class Context:
    """What a check receives: the array namespace, the seed and the size setting.

    Attributes
    ----------
    xp : module
        Array namespace of the backend under test (see :mod:`bntheory.backend`).
    backend : str
        Its name.
    seed : int
        Base seed; :meth:`rng` derives an independent stream per check from it.
    quick : bool
        Smaller sizes and fewer draws (``bntheory verify --size quick``).
    large : bool
        The reference sizes of THEORY.md's tables (``bntheory verify --size large``), slower.
    """

    xp: ModuleType
    backend: str = "numpy"
    seed: int = 0
    quick: bool = False
    large: bool = False

    @classmethod
    def of(cls, backend_name: str, *, seed: int = 0, size: str = "default") -> Context:
        """The context of a run named as on the command line: a backend name and ``--size``.

        Raises
        ------
        ValueError
            If `size` is not ``"quick"``, ``"default"`` or ``"large"`` (or the backend name is unknown).
        bntheory.backend.BackendUnavailableError
            If the backend cannot be used on this machine.
        """
        if size not in SIZES:
            raise ValueError(f"size: expected one of {', '.join(SIZES)}, got {size!r}")
        return cls(
            xp=backend.namespace(backend_name),
            backend=backend_name,
            seed=seed,
            quick=size == "quick",
            large=size == "large",
        )

    @property
    def size(self) -> str:
        """``"quick"``, ``"default"`` or ``"large"``: what :meth:`of` was given."""
        return "quick" if self.quick else "large" if self.large else "default"

    def rng(self, key: str) -> np.random.Generator:
        """A generator seeded by ``(seed, key)``: reproducible and independent of the order of checks."""
        return np.random.default_rng([self.seed, zlib.crc32(key.encode())])


@dataclass(frozen=True)
class Check:
    """One symbolic or numeric check of a result; `needs` names optional packages it imports."""

    kind: Kind
    name: str
    fn: CheckFn
    needs: tuple[str, ...] = ()


@dataclass(frozen=True)
class Control:
    """A negative control: the same comparison applied to something false, which must be rejected."""

    description: str
    fn: CheckFn
    needs: tuple[str, ...] = ()


@dataclass
class Result:
    """One registered result: its statement, provenance, checks and negative control."""

    id: str
    title: str
    citation: str
    statement: str
    tag: Tag
    assumptions: tuple[str, ...] = ()
    notes: str = ""
    not_reproduced: str = ""
    proof: str = ""
    checks: list[Check] = field(default_factory=list)
    control: Control | None = None
    figures: dict[str, Callable[[Context], object]] = field(default_factory=dict)

    @property
    def provisional(self) -> bool:
        """Statements tagged [R] are reported but do not gate a run."""
        return self.tag == "R"

    def symbolic(self, name: str, *, needs: Sequence[str] = ()) -> Callable[[CheckFn], CheckFn]:
        """Decorator attaching a symbolic (SymPy / exact) check."""
        return self._attach("symbolic", name, needs)

    def numeric(self, name: str, *, needs: Sequence[str] = ()) -> Callable[[CheckFn], CheckFn]:
        """Decorator attaching a numeric check against an independent oracle."""
        return self._attach("numeric", name, needs)

    def negative_control(self, description: str, *, needs: Sequence[str] = ()) -> Callable[[CheckFn], CheckFn]:
        """Decorator attaching the negative control (one per result)."""

        def decorate(fn: CheckFn) -> CheckFn:
            if self.control is not None:
                raise ValueError(f"{self.id}: a negative control is already registered")
            self.control = Control(description, fn, tuple(needs))
            return fn

        return decorate

    def figure(self, name: str) -> Callable[[Callable[[Context], object]], Callable[[Context], object]]:
        """Decorator attaching a figure: ``fn(ctx) -> matplotlib.figure.Figure``, saved by ``verify --figures``."""

        def decorate(fn: Callable[[Context], object]) -> Callable[[Context], object]:
            if name in self.figures:
                raise ValueError(f"{self.id}: a figure named {name!r} is already registered")
            self.figures[name] = fn
            return fn

        return decorate

    def _attach(self, kind: Kind, name: str, needs: Sequence[str]) -> Callable[[CheckFn], CheckFn]:
        def decorate(fn: CheckFn) -> CheckFn:
            self.checks.append(Check(kind, name, fn, tuple(needs)))
            return fn

        return decorate


def register(
    id: str,
    *,
    title: str,
    citation: str,
    statement: str,
    tag: Tag,
    assumptions: Iterable[str] = (),
    notes: str = "",
    not_reproduced: str = "",
    proof: str = "",
) -> Result:
    """Create and register a result record; attach checks to the returned object with its decorators.

    Parameters
    ----------
    id : str
        Stable identifier ``"<paper><year>.<name>"``, e.g. ``"ioffe2015.backprop"``.
    title, citation : str
        Human title; paper, theorem/algorithm number and arXiv id (or the library documentation).
    statement : str
        The statement in LaTeX.
    tag : {"P", "S", "D", "R"}
        Provenance tag from THEORY.md (see :data:`TAGS`); never upgraded silently.
    assumptions : iterable of str
        The assumptions under which the statement is claimed.
    notes : str
        What is unconfirmed, discrepancies between sources, choices made.
    not_reproduced : str
        Non-empty when the claim did not hold under its assumptions after an honest attempt: the
        evidence and what was tried. Such a result is listed apart and does not count as a failure.
    proof : str
        File name under ``proofs/`` of the runnable derivation (jupytext percent format) of this result.
    """
    if id in _REGISTRY:
        raise ValueError(f"result id {id!r} is registered twice")
    if tag not in TAGS:
        raise ValueError(f"{id}: tag must be one of {sorted(TAGS)}, got {tag!r}")
    result = Result(id, title, citation, statement, tag, tuple(assumptions), notes, not_reproduced, proof)
    _REGISTRY[id] = result
    # Where it was stated, so the order of results does not depend on which module was imported first.
    _MODULE[id] = sys._getframe(1).f_globals.get("__name__", "")
    return result


def all_results() -> list[Result]:
    """Every registered result: by results module name, then in the order the module states them."""
    _load_results()
    index = {rid: i for i, rid in enumerate(_REGISTRY)}
    return sorted(_REGISTRY.values(), key=lambda r: (_MODULE[r.id], index[r.id]))


def get(ids: Iterable[str]) -> list[Result]:
    """The results selected by `ids`, in the given order, without repeats.

    A selector is a full id (``"santurkar2018.thm4_1"``) or a paper prefix (``"santurkar2018"``), which
    selects every result whose id starts with that prefix and a dot.

    Raises
    ------
    KeyError
        Naming every selector that matches nothing.
    """
    _load_results()
    chosen: dict[str, Result] = {}
    unknown = []
    for key in ids:
        matches = [r for r in all_results() if r.id == key or r.id.startswith(key + ".")]
        if not matches:
            unknown.append(key)
        chosen.update((r.id, r) for r in matches)
    if unknown:
        raise KeyError(f"unknown result id(s): {', '.join(unknown)}; `bntheory list` shows the ids")
    return list(chosen.values())


@dataclass(frozen=True)
class CheckReport:
    """The outcome of one check in a run."""

    kind: Kind
    name: str
    status: Literal["passed", "failed", "skipped"]
    outcome: Outcome | None
    seconds: float
    detail: str = ""

    @property
    def passed(self) -> bool:
        """Whether the check ran and passed."""
        return self.status == "passed"


@dataclass(frozen=True)
class ControlReport:
    """The outcome of a negative control: `rejected` is what a correct check must produce."""

    description: str
    rejected: bool
    outcome: Outcome | None
    seconds: float
    detail: str = ""
    skipped: bool = False


@dataclass(frozen=True)
class ResultReport:
    """A result and what its checks and control gave."""

    result: Result
    checks: tuple[CheckReport, ...]
    control: ControlReport | None

    @property
    def status(self) -> Literal["passed", "failed", "provisional", "not reproduced"]:
        """The result's status in this run (see the module docstring)."""
        if self.result.not_reproduced:
            return "not reproduced"
        if self.result.provisional:
            return "provisional"
        return "passed" if self.holds else "failed"

    @property
    def holds(self) -> bool:
        """All checks that ran passed, at least one ran, and the control (if it ran) was rejected."""
        ran = [c for c in self.checks if c.status != "skipped"]
        control_ok = self.control is None or self.control.skipped or self.control.rejected
        return bool(ran) and all(c.passed for c in ran) and control_ok

    @property
    def gates(self) -> bool:
        """Whether this result counts towards the exit code of a run."""
        return self.status in ("passed", "failed")


def run(result: Result, ctx: Context) -> ResultReport:
    """Run every check of `result` and its negative control in `ctx`; exceptions become failures."""
    checks = tuple(_run_check(c.kind, c.name, c.fn, c.needs, ctx) for c in result.checks)
    control = None
    if result.control is not None:
        c = _run_check("numeric", result.control.description, result.control.fn, result.control.needs, ctx)
        control = ControlReport(
            description=c.name,
            # A control that raised has not shown that the check rejects anything.
            rejected=c.outcome is not None and not c.outcome.passed,
            outcome=c.outcome,
            seconds=c.seconds,
            detail=c.detail,
            skipped=c.status == "skipped",
        )
    return ResultReport(result, checks, control)


def _run_check(kind: Kind, name: str, fn: CheckFn, needs: tuple[str, ...], ctx: Context) -> CheckReport:
    missing = [n for n in needs if importlib.util.find_spec(n) is None]
    if missing:
        fix = "pip install 'bntheory[oracle]'" if "torch" in missing else "install it"
        return CheckReport(kind, name, "skipped", None, 0.0, f"needs {', '.join(missing)} ({fix})")
    start = time.perf_counter()
    try:
        outcome = fn(ctx)
    except Exception as exc:  # a crashing check is a failed check, reported with its cause
        tb = traceback.extract_tb(exc.__traceback__)[-1]
        detail = f"{type(exc).__name__}: {exc} (at {tb.filename.rsplit('/', 1)[-1]}:{tb.lineno})"
        return CheckReport(kind, name, "failed", None, time.perf_counter() - start, detail)
    seconds = time.perf_counter() - start
    return CheckReport(kind, name, "passed" if outcome.passed else "failed", outcome, seconds, outcome.detail)


def _load_results() -> None:
    package = importlib.import_module("bntheory.results")
    for info in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{package.__name__}.{info.name}")
