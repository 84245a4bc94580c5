r"""Running one registered result in a :class:`~bntheory.context.Context`, and the reports a run produces.

Each check receives the run's context scoped to ``"<result id>/<check name>"`` (so its random streams are its
own) with a fresh usage record; afterwards the report says where the check actually ran: the backend of the
run if the check used its namespace, ``"host"`` otherwise. A check that declared a device backend but never
touched it is reported as a host check, never as a pass on that backend.

A negative control is *rejected* only by a valid (finite) outcome that fails its comparison: a control that
raised or measured NaN has shown nothing about the check's power to say "false".
"""

from __future__ import annotations

import importlib.util
import time
import traceback
from dataclasses import dataclass
from typing import Literal

from bntheory.checks.compare import Outcome
from bntheory.context import Context
from bntheory.registry import Check, CheckFn, Kind, Result

__all__ = ["CheckReport", "ControlReport", "ResultReport", "run"]

Status = Literal["passed", "failed", "provisional", "not reproduced"]

#: The import names the ``libraries`` extra installs (the third-party libraries whose BN the conformance results run).
LIBRARIES = frozenset({"keras", "jax", "curvlinops", "backpack", "pyhessian"})


@dataclass(frozen=True)
class CheckReport:
    """The outcome of one check in a run.

    Attributes
    ----------
    ran_on : str
        ``"host"``, or the run's backend when the check used its namespace.
    claim : bool
        Whether the check measures the published claim (:meth:`bntheory.registry.Result.claim`).
    """

    kind: Kind
    name: str
    status: Literal["passed", "failed", "skipped"]
    outcome: Outcome | None
    seconds: float
    detail: str = ""
    ran_on: str = "host"
    claim: bool = False

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
    ran_on: str = "host"


@dataclass(frozen=True)
class ResultReport:
    """A result and what its checks and control gave."""

    result: Result
    checks: tuple[CheckReport, ...]
    control: ControlReport | None

    @property
    def status(self) -> Status:
        """The result's status in this run (see :mod:`bntheory.registry`)."""
        if self.machinery_holds and any(c.claim and c.status == "failed" for c in self.checks):
            return "not reproduced"
        if not self.machinery_holds:
            # Even for a recalled ([R]) statement: its checks of the library code are not tests of the statement.
            return "failed"
        return "provisional" if self.result.provisional else "passed"

    @property
    def machinery_holds(self) -> bool:
        """Every check but the claim passed, at least one ran, no claim check crashed, the control was rejected.

        Skipped checks do not count. A claim check that raised measured nothing: its exception is a failure of
        the machinery (bntheory's code, or a library behaving unlike anything the check handles), never evidence
        that the claim is false.
        """
        ran = [c for c in self.checks if c.status != "skipped"]
        control_ok = self.control is None or self.control.skipped or self.control.rejected
        crashed = any(c.claim and c.outcome is None for c in ran)
        return bool(ran) and all(c.passed for c in ran if not c.claim) and not crashed and control_ok

    @property
    def holds(self) -> bool:
        """All checks that ran passed, at least one ran, and the control (if it ran) was rejected."""
        return self.machinery_holds and all(c.status != "failed" for c in self.checks)

    @property
    def evidence(self) -> str:
        """For a result not reproduced: what its claim check measured in this run, else ``""``."""
        if self.status != "not reproduced":
            return ""
        failed = [c for c in self.checks if c.claim and c.status == "failed"]
        parts = []
        for c in failed:  # each has an outcome: a claim check that raised fails the machinery instead
            o = c.outcome
            parts.append(f"{c.name}: measured {o.measured:.6g}, required {o.bound_text} ({c.detail})")
        return "; ".join(parts) + f". Rerun: `bntheory verify --only {self.result.id}`."

    @property
    def gates(self) -> bool:
        """Whether this result counts towards the exit code of a run."""
        return self.status in ("passed", "failed")


def run(result: Result, ctx: Context) -> ResultReport:
    """Run every check of `result` and its negative control in `ctx`; exceptions become failures."""
    checks = tuple(_run_check(c, ctx.scoped(f"{result.id}/{c.name}")) for c in result.checks)
    control = None
    if result.control is not None:
        k = result.control
        c = _run_check(Check("numeric", k.description, k.fn, k.needs, k.backends), ctx.scoped(f"{result.id}/control"))
        control = ControlReport(
            description=c.name,
            rejected=c.outcome is not None and c.outcome.valid and not c.outcome.passed,
            outcome=c.outcome,
            seconds=c.seconds,
            detail=c.detail,
            skipped=c.status == "skipped",
            ran_on=c.ran_on,
        )
    return ResultReport(result, checks, control)


def _run_check(check: Check, ctx: Context) -> CheckReport:
    kind, name, fn = check.kind, check.name, check.fn
    missing = [n for n in check.needs if importlib.util.find_spec(n) is None]
    if missing:
        fix = "pip install 'bntheory[oracle]'" if "torch" in missing else "install it"
        if set(missing) & LIBRARIES:
            fix = "pip install 'bntheory[libraries]'"
        return CheckReport(kind, name, "skipped", None, 0.0, f"needs {', '.join(missing)} ({fix})", claim=check.claim)
    start = time.perf_counter()
    outcome, detail = _call(fn, ctx)
    seconds = time.perf_counter() - start
    ran_on = ctx.backend if ctx.touched else "host"
    status = "passed" if outcome is not None and outcome.passed else "failed"
    return CheckReport(kind, name, status, outcome, seconds, detail, ran_on, check.claim)


def _call(fn: CheckFn, ctx: Context) -> tuple[Outcome | None, str]:
    try:
        outcome = fn(ctx)
    except Exception as exc:  # a crashing check is a failed check, reported with its cause
        tb = traceback.extract_tb(exc.__traceback__)[-1]
        return None, f"{type(exc).__name__}: {exc} (at {tb.filename.rsplit('/', 1)[-1]}:{tb.lineno})"
    if not isinstance(outcome, Outcome):
        return None, f"the check returned {type(outcome).__name__}, not an Outcome"
    return outcome, outcome.detail
