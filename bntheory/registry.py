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

    @backprop.numeric("closed form vs PyTorch autograd", needs=("torch",), backends=ARRAY)
    def _(ctx): ...

    @backprop.negative_control("drop the dl/dmu term from dl/dx")
    def _(ctx): ...

Every check function takes a :class:`~bntheory.context.Context` and returns a
:class:`~bntheory.checks.compare.Outcome`, whose verdict follows from its numbers (NaN and inf never pass). A
negative control returns the outcome of the *same* comparison applied to a wrong formula, a false constant or a
violated assumption; the control is *rejected* (as it must be) when that outcome is finite and fails. A numeric
check declares the backends it exercises (``backends=ARRAY``: every array backend; the default is the host
alone), and the run records where each check actually ran (:mod:`bntheory.run`).

Status of a result after a run (:func:`bntheory.run.run`):

``passed``
    every check that ran passed and the negative control was rejected;
``failed``
    a check failed, raised, or the negative control was not rejected;
``provisional``
    the statement is tagged [R] (recalled, not confirmed from the paper) and every check passed: its claim check
    (the test of the recalled statement) does not gate ``bntheory verify``; its other checks, which test the
    library code rather than the statement, do: a failure there makes the result ``failed``;
``not reproduced``
    a check registered with :meth:`Result.claim` measured the published claim under its stated assumptions and
    the claim did not hold, while every other check passed and the control was rejected; the evidence is that
    run's figures. It is listed apart and does not count as a failure.
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from bntheory.backend import BACKENDS
from bntheory.checks.compare import Outcome
from bntheory.context import Context

__all__ = ["ARRAY", "HOST", "TAGS", "Check", "Control", "Result", "all_results", "get", "module_of", "register"]

Tag = Literal["P", "S", "D", "R"]
Kind = Literal["symbolic", "numeric"]
CheckFn = Callable[[Context], Outcome]

#: A check that computes on the host whatever the backend of the run.
HOST: tuple[str, ...] = ("host",)
#: A check that runs its library calls on every array backend.
ARRAY: tuple[str, ...] = BACKENDS

#: Meaning of the THEORY.md tags, carried into every record.
TAGS: dict[str, str] = {
    "P": "confirmed against the paper's text or the library's documentation/source",
    "S": "confirmed only against secondary sources",
    "D": "derived from first principles and verified; match with the paper's printed form not confirmed",
    "R": "recalled/reconstructed, not confirmed from the paper text (provisional)",
}

_REGISTRY: dict[str, Result] = {}
_MODULE: dict[str, str] = {}


@dataclass(frozen=True)
class Check:
    """One symbolic or numeric check of a result.

    Attributes
    ----------
    kind : {"symbolic", "numeric"}
    name : str
        What is compared with what (shown in the table).
    fn : callable
        ``fn(ctx) -> Outcome``.
    needs : tuple of str
        Optional packages it imports; the check is skipped, with the fix, where one is missing.
    backends : tuple of str
        The array backends it exercises, or ``("host",)`` for a check that computes on the host whatever the
        backend (:data:`ARRAY` for all). The run records where it actually ran.
    claim : bool
        Whether it measures the published claim itself (:meth:`Result.claim`).
    """

    kind: Kind
    name: str
    fn: CheckFn
    needs: tuple[str, ...] = ()
    backends: tuple[str, ...] = HOST
    claim: bool = False


@dataclass(frozen=True)
class Control:
    """A negative control: the same comparison applied to something false, which must be rejected."""

    description: str
    fn: CheckFn
    needs: tuple[str, ...] = ()
    backends: tuple[str, ...] = HOST


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
    proof: str = ""
    under_test: tuple[str, ...] = ()
    checks: list[Check] = field(default_factory=list)
    control: Control | None = None
    figures: dict[str, Callable[[Context], object]] = field(default_factory=dict)

    @property
    def provisional(self) -> bool:
        """Statements tagged [R] are reported but do not gate a run."""
        return self.tag == "R"

    def symbolic(self, name: str, *, needs: Sequence[str] = ()) -> Callable[[CheckFn], CheckFn]:
        """Decorator attaching a symbolic (SymPy / exact) check; symbolic checks run on the host."""
        return self._attach(Check("symbolic", name, _unset, tuple(needs)))

    def numeric(
        self, name: str, *, needs: Sequence[str] = (), backends: Sequence[str] = HOST
    ) -> Callable[[CheckFn], CheckFn]:
        """Decorator attaching a numeric check against an independent oracle (`backends` as in :class:`Check`)."""
        return self._attach(Check("numeric", name, _unset, tuple(needs), _backends(backends)))

    def claim(
        self, name: str, *, needs: Sequence[str] = (), backends: Sequence[str] = HOST
    ) -> Callable[[CheckFn], CheckFn]:
        """Decorator attaching the check that measures the published claim under its stated assumptions.

        When it fails while every other check passes and the control is rejected, the result is *not
        reproduced* (listed apart, with this run's figures as the evidence) rather than failed.
        """
        return self._attach(Check("numeric", name, _unset, tuple(needs), _backends(backends), claim=True))

    def negative_control(
        self, description: str, *, needs: Sequence[str] = (), backends: Sequence[str] = HOST
    ) -> Callable[[CheckFn], CheckFn]:
        """Decorator attaching the negative control (one per result)."""

        def decorate(fn: CheckFn) -> CheckFn:
            if self.control is not None:
                raise ValueError(f"{self.id}: a negative control is already registered")
            self.control = Control(description, fn, tuple(needs), _backends(backends))
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

    def _attach(self, check: Check) -> Callable[[CheckFn], CheckFn]:
        def decorate(fn: CheckFn) -> CheckFn:
            self.checks.append(dataclasses.replace(check, fn=fn))
            return fn

        return decorate


def _unset(ctx: Context) -> Outcome:
    raise AssertionError("a check's function is set by the decorator")  # pragma: no cover


def _backends(names: Sequence[str]) -> tuple[str, ...]:
    names = tuple(names)
    unknown = [n for n in names if n not in (*ARRAY, "host")]
    if not names or unknown:
        raise ValueError(f"backends: expected names from {(*ARRAY, 'host')}, got {names!r}")
    return names


def register(
    id: str,
    *,
    title: str,
    citation: str,
    statement: str,
    tag: Tag,
    assumptions: Iterable[str] = (),
    notes: str = "",
    proof: str = "",
    under_test: Iterable[str] = (),
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
    proof : str
        File name under ``proofs/`` of the runnable derivation (jupytext percent format) of this result.
    under_test : iterable of str
        Dotted names of the library functions whose formulas the checks put to the test
        (``"bntheory.lipschitz.gradient_norm_bound"``). ``tests/test_power.py`` replaces each with one that
        returns NaN and requires the result to fail: a check that cannot see its function break tests nothing.
    """
    if id in _REGISTRY:
        raise ValueError(f"result id {id!r} is registered twice")
    if tag not in TAGS:
        raise ValueError(f"{id}: tag must be one of {sorted(TAGS)}, got {tag!r}")
    result = Result(id, title, citation, statement, tag, tuple(assumptions), notes, proof, tuple(under_test))
    _REGISTRY[id] = result
    # Where it was stated, so the order of results does not depend on which module was imported first.
    _MODULE[id] = sys._getframe(1).f_globals.get("__name__", "")
    return result


def module_of(result: Result) -> str:
    """The name of the module that stated `result` (results sharing a module share its memoized computations)."""
    return _MODULE.get(result.id, "")


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


def _load_results() -> None:
    package = importlib.import_module("bntheory.results")
    for info in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{package.__name__}.{info.name}")
