r"""The theorem registry: the records of the results that the CLI, the report, the notebooks and the tests read.

A results module (``bntheory/results/<paper><year>.py``, or a module of your own: see :mod:`bntheory.results`
for how modules are discovered) declares its paper once with :func:`paper` and states each result through that
handle, then attaches the checks with decorators::

    IOFFE2015 = paper("ioffe2015", citation="Ioffe & Szegedy 2015", arxiv="1502.03167")

    backprop = IOFFE2015.result(
        "backprop",  # the id becomes "ioffe2015.backprop"
        where="§3",  # the citation becomes "Ioffe & Szegedy 2015, §3, arXiv:1502.03167"
        title="Back-propagation through BN",
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
import types
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from bntheory.backend import BACKENDS
from bntheory.checks.compare import Outcome
from bntheory.context import Context

__all__ = [
    "ARRAY",
    "HOST",
    "TAGS",
    "Check",
    "Control",
    "Paper",
    "Result",
    "file_of",
    "module_of",
    "origin_of",
    "paper",
    "register",
    "registered",
    "select",
    "stated_in",
]

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
#: result id -> (name of the module that states it, where that module came from, its file for a module loaded
#: from a path), set by :func:`stated_in`.
_WHERE: dict[str, tuple[str, str, str | None]] = {}
_PAPERS: dict[str, Paper] = {}


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
        (``"bntheory.landscape.lipschitz.gradient_norm_bound"``). ``tests/test_power.py`` replaces each with one that
        returns NaN and requires the result to fail: a check that cannot see its function break tests nothing.
    """
    if not isinstance(id, str) or id.count(".") < 1 or not all(id.split(".")):
        raise ValueError(f"id: expected '<paper>.<name>', e.g. 'smith2026.thm1', got {id!r}")
    if id in _REGISTRY:
        raise ValueError(f"result id {id!r} is registered twice")
    if tag not in TAGS:
        raise ValueError(f"{id}: tag must be one of {sorted(TAGS)}, got {tag!r}")
    result = Result(id, title, citation, statement, tag, tuple(assumptions), notes, proof, tuple(under_test))
    _REGISTRY[id] = result
    return result


@dataclass(frozen=True)
class Paper:
    """The handle of one paper (or library documentation) whose results a module states.

    Attributes
    ----------
    key : str
        The ids' prefix, ``"<first author><year>"`` by convention (``"santurkar2018"``).
    citation : str
        Authors and year as cited (``"Santurkar et al. 2018"``).
    arxiv : str, optional
        arXiv identifier, appended to every citation as ``arXiv:<id>``.
    source : str, optional
        Where the text is, for a work without an arXiv id (a note, a URL, a library's documentation).
    """

    key: str
    citation: str
    arxiv: str | None = None
    source: str | None = None

    def cite(self, where: str) -> str:
        """The citation of one statement: ``"<citation>, <where>, arXiv:<arxiv>"`` (or ``<source>``)."""
        tail = f"arXiv:{self.arxiv}" if self.arxiv else self.source
        return ", ".join(part for part in (self.citation, where, tail) if part)

    def result(
        self,
        name: str,
        *,
        where: str,
        title: str,
        statement: str,
        tag: Tag,
        assumptions: Iterable[str] = (),
        notes: str = "",
        proof: str = "",
        under_test: Iterable[str] = (),
    ) -> Result:
        """State result ``<key>.<name>`` of this paper; `where` is the theorem, section or figure it is.

        The other parameters are those of :func:`register`.
        """
        if not isinstance(name, str) or not name or "." in name:
            raise ValueError(f"name: expected a word without dots (the id is '{self.key}.<name>'), got {name!r}")
        return register(
            f"{self.key}.{name}",
            title=title,
            citation=self.cite(where),
            statement=statement,
            tag=tag,
            assumptions=assumptions,
            notes=notes,
            proof=proof,
            under_test=under_test,
        )


def paper(key: str, *, citation: str, arxiv: str | None = None, source: str | None = None) -> Paper:
    """Declare a paper and return its handle (:class:`Paper`); declaring the same paper again returns it again.

    Raises
    ------
    ValueError
        If `key` is not an identifier-like word (``"smith2026"``), or `key` was declared before with another
        citation, arXiv id or source.
    """
    if not isinstance(key, str) or not key.replace("_", "").isalnum():
        raise ValueError(f"key: expected a word such as 'smith2026' (letters, digits, '_'), got {key!r}")
    if not isinstance(citation, str) or not citation.strip():
        raise ValueError(f"citation: expected the authors and year, e.g. 'Smith et al. 2026', got {citation!r}")
    handle = Paper(key, citation, arxiv, source)
    known = _PAPERS.setdefault(key, handle)
    if known != handle:
        raise ValueError(f"paper {key!r} is already declared as {known}; declare it once, or with the same fields")
    return known


def registered() -> list[Result]:
    """Every result registered in this process so far, in the order they were stated.

    Registering happens on import; :func:`bntheory.results.all_results` first imports every results module it
    discovers (the package's own, entry points, ``--with`` sources).
    """
    return list(_REGISTRY.values())


def select(results: Sequence[Result], ids: Iterable[str]) -> list[Result]:
    """The members of `results` selected by `ids`, in the order of `ids`, without repeats.

    A selector is a full id (``"santurkar2018.thm4_1"``), a paper prefix (``"santurkar2018"``), which
    selects every result whose id starts with that prefix and a dot, or the name of the results module that
    states them (``"libraries"``: every result of ``bntheory/results/libraries.py``, whatever its paper).

    Raises
    ------
    KeyError
        Naming every selector that matches nothing.
    """
    chosen: dict[str, Result] = {}
    unknown = []
    for key in ids:
        matches = [
            r for r in results if r.id == key or r.id.startswith(key + ".") or module_of(r).rpartition(".")[2] == key
        ]
        if not matches:
            unknown.append(key)
        chosen.update((r.id, r) for r in matches)
    if unknown:
        raise KeyError(f"unknown result id(s): {', '.join(unknown)}; `bntheory list` shows the ids")
    return list(chosen.values())


def stated_in(module: types.ModuleType, origin: str, *, file: str | None = None) -> list[Result]:
    """Record that `module` states the results it holds (bound to its globals), coming from `origin`.

    Called by discovery after importing a module. The results of a module share its memoized computations and
    travel together to a worker process, which re-imports the module by its name, or from `file` for a module
    loaded from a path (not importable by name). Returns the results found.
    """
    found = [v for v in vars(module).values() if isinstance(v, Result) and _REGISTRY.get(v.id) is v]
    for result in found:
        _WHERE.setdefault(result.id, (module.__name__, origin, file))
    return found


def module_of(result: Result) -> str:
    """The name of the module that stated `result`; its paper key when no discovered module holds it."""
    return _WHERE.get(result.id, (result.id.partition(".")[0], "", None))[0]


def origin_of(result: Result) -> str:
    """Where the module stating `result` came from.

    ``"bntheory"`` for the built-in results, ``"entry point <name> (<distribution>)"``, ``"--with <source>"``,
    or ``""`` for a result no discovered module holds.
    """
    return _WHERE.get(result.id, ("", "", None))[1]


def file_of(result: Result) -> str | None:
    """The file of the module that stated `result` when that module is not importable by name (``--with``)."""
    return _WHERE.get(result.id, ("", "", None))[2]
