"""pytest plugin: a repository gates on its registered results (``pytest --bntheory=smith2026``).

Installing bntheory registers this plugin (entry point ``pytest11``); it does nothing unless asked. Each result
selected by ``--bntheory`` (a full id, a paper prefix, or ``all``) becomes one test item, ``bntheory::<id>``,
which runs the result exactly as ``bntheory verify --only <id>`` does (:func:`bntheory.run.run`):

* ``passed`` and ``provisional`` pass;
* ``failed`` fails, and the failure shows the result's check table and negative control;
* ``not reproduced`` (a published claim that did not hold while the machinery did) is reported as *xfailed* with
  the run's evidence: it does not gate, as in ``verify``.

Options (also settable in the ``[pytest]`` ini section as ``bntheory``, ``bntheory_with``, ``bntheory_seed``,
``bntheory_size`` and ``bntheory_backend``)::

    pytest --bntheory=smith2026 --bntheory-with=claims.py --bntheory-seed=3 --bntheory-size=quick

Results are discovered as in the command line (:mod:`bntheory.discovery`): the package's own, installed entry
points (``bntheory.results``) and the ``--bntheory-with`` sources.
"""

from __future__ import annotations

import pytest

from bntheory import registry, report
from bntheory.backend import BACKENDS, BackendUnavailableError
from bntheory.context import SIZES, Context
from bntheory.run import ResultReport, run

__all__ = ["ResultFailed", "ResultItem"]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("bntheory", "bntheory: registered results as test items")
    group.addoption(
        "--bntheory",
        action="append",
        default=[],
        metavar="ID",
        help="collect the results selected by ID (full id, paper prefix, or 'all'); repeatable",
    )
    group.addoption(
        "--bntheory-with",
        action="append",
        default=[],
        metavar="PATH",
        help="also discover the results stated in PATH (.py file or module); repeatable",
    )
    group.addoption("--bntheory-seed", type=int, metavar="N", help="base seed of the results' draws (default 0)")
    group.addoption("--bntheory-size", choices=SIZES, help="problem sizes, as verify --size (default: default)")
    group.addoption("--bntheory-backend", choices=BACKENDS, help="array backend (default: numpy)")
    parser.addini("bntheory", "results to collect (ids or paper prefixes)", type="args", default=[])
    parser.addini("bntheory_with", "extra results sources (.py files or modules)", type="args", default=[])
    parser.addini("bntheory_seed", "base seed of the results' draws", default="0")
    parser.addini("bntheory_size", "problem sizes (quick, default, large)", default="default")
    parser.addini("bntheory_backend", "array backend", default="numpy")


class ResultFailed(Exception):
    """A registered result failed; carries its report for the failure's text."""

    def __init__(self, rep: ResultReport):
        super().__init__(rep.result.id)
        self.report = rep


class ResultItem(pytest.Item):
    """One registered result as a test item."""

    def __init__(self, *, result: registry.Result, ctx: Context, **kwargs):
        super().__init__(**kwargs)
        self.result = result
        self.ctx = ctx

    def runtest(self) -> None:
        """Run the result as ``verify`` does; fail on ``failed``, xfail on ``not reproduced``."""
        rep = run(self.result, self.ctx)
        self.user_properties.append(("bntheory_status", rep.status))
        if rep.status == "failed":
            raise ResultFailed(rep)
        if rep.status == "not reproduced":
            pytest.xfail(f"not reproduced: {rep.evidence}")

    def repr_failure(self, excinfo, style=None):
        """The result's check table and summary for a failed result; pytest's own text otherwise."""
        if isinstance(excinfo.value, ResultFailed):
            rep = excinfo.value.report
            return f"{self.result.id}: {self.result.title}\n\n{report.format_table([rep])}\n\n{report.summary([rep])}"
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self):
        """Where the result comes from, its size and seed (shown with ``-v``)."""
        origin = registry.origin_of(self.result) or "bntheory"
        return self.path, None, f"bntheory {self.result.id} (from {origin}, {self.ctx.size}, seed {self.ctx.seed})"


class _Results(pytest.Collector):
    """The root of the collected results (node id ``bntheory``)."""

    def collect(self):  # pragma: no cover - items are made in pytest_collection_modifyitems
        return []


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    """Append the selected results; first, so ``-k`` and ``--deselect`` apply to them like to any test."""
    selectors = config.getoption("bntheory") or config.getini("bntheory")
    if not selectors:
        return
    from bntheory import discovery  # it imports every results module: only when asked

    sources = config.getoption("bntheory_with") or config.getini("bntheory_with")
    try:
        found = discovery.all_results(sources) if "all" in selectors else discovery.get(selectors, sources)
        ctx = Context.of(
            config.getoption("bntheory_backend") or config.getini("bntheory_backend"),
            seed=_int(config.getoption("bntheory_seed"), config.getini("bntheory_seed")),
            size=config.getoption("bntheory_size") or config.getini("bntheory_size"),
        )
    except (KeyError, ValueError, BackendUnavailableError, discovery.DiscoveryError) as exc:
        raise pytest.UsageError(f"bntheory: {exc.args[0] if isinstance(exc, KeyError) else exc}") from None
    root = _Results.from_parent(session, name="bntheory")
    items.extend(ResultItem.from_parent(root, name=r.id, result=r, ctx=ctx) for r in found)


def _int(option: int | None, ini: str) -> int:
    if option is not None:
        return option
    try:
        return int(ini)
    except ValueError:
        raise pytest.UsageError(f"bntheory_seed: expected an integer in the ini file, got {ini!r}") from None
