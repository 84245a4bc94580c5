"""Discovery of results: the package's own, those of installed packages, and those of files named on the command line.

A *results module* states results with :func:`bntheory.registry.paper` (or :func:`~bntheory.registry.register`)
and binds each to a module-level name. Three sources are imported, in this order:

1. the modules of this package (``bntheory/results/*.py``), origin ``bntheory``;
2. the modules named by installed distributions in the entry-point group ``bntheory.results``, origin
   ``entry point <name> (<distribution>)``. A package of claims declares, in its ``pyproject.toml``::

       [project.entry-points."bntheory.results"]
       smith2026 = "smith_claims.results"

3. the *sources* passed by the caller (``bntheory verify --with PATH``): a ``.py`` file, or the dotted name of
   an importable module, origin ``--with <source>``.

Results from every source appear in ``bntheory list``, ``verify``, ``report``, the JSON and the pytest plugin
alike; :func:`bntheory.registry.origin_of` says where each came from. Discovery sits above the registry, the
runner and the kit, beside the commands: no library module imports it or ``bntheory.results``. Its functions are
also importable from :mod:`bntheory.results` (``bntheory.results.all_results``), the name the tutorial uses.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import pkgutil
import sys
import types
from collections.abc import Iterable, Sequence
from importlib.metadata import entry_points
from pathlib import Path

from bntheory import registry
from bntheory.registry import Result

__all__ = ["BUILTIN", "ENTRY_POINT_GROUP", "DiscoveryError", "all_results", "assert_holds", "get", "import_source"]

#: The entry-point group through which installed packages contribute results modules.
ENTRY_POINT_GROUP = "bntheory.results"
#: The origin of the package's own results.
BUILTIN = "bntheory"
#: The package whose modules are the built-in results.
RESULTS_PACKAGE = "bntheory.results"
#: Prefix of the module names given to files imported by path.
_FILE_PREFIX = "bntheory_with_"


class DiscoveryError(ImportError):
    """A results module could not be found or imported; the message names the source and the cause."""


def all_results(sources: Iterable[str] = ()) -> list[Result]:
    """Every discovered result: by results module name, then in the order the module states them.

    Parameters
    ----------
    sources : iterable of str
        Extra results modules: paths of ``.py`` files or dotted module names (``verify --with``).

    Raises
    ------
    DiscoveryError
        If a source, or an entry point's module, cannot be imported.
    """
    found = {
        r.id
        for module, origin, file in _discover(tuple(sources))
        for r in registry.stated_in(module, origin, file=file)
    }
    index = {r.id: i for i, r in enumerate(registry.registered())}
    known = [r for r in registry.registered() if r.id in found]
    return sorted(known, key=lambda r: (registry.module_of(r), index[r.id]))


def get(ids: Iterable[str], sources: Iterable[str] = ()) -> list[Result]:
    """The discovered results selected by `ids` (full ids or paper prefixes), in the given order, without repeats.

    Raises
    ------
    KeyError
        Naming every selector that matches nothing.
    DiscoveryError
        As :func:`all_results`.
    """
    return registry.select(all_results(sources), ids)


def import_source(source: str) -> types.ModuleType:
    """Import one ``--with`` source: a ``.py`` file (by path) or a dotted module name.

    A file is imported as a module named after its resolved path (``bntheory_with_<stem>_<digest>``), once per
    process, so a worker process that imports it again gets the same name and the same results.

    Raises
    ------
    DiscoveryError
        If the file does not exist, the module cannot be found, or importing it raises.
    """
    if source.endswith(".py") or "/" in source or "\\" in source:
        path = Path(source).expanduser().resolve()
        if not path.is_file():
            raise DiscoveryError(f"--with {source}: no such file (give a .py file or an importable module name)")
        digest = hashlib.sha256(str(path).encode()).hexdigest()[:10]
        name = f"{_FILE_PREFIX}{path.stem.replace('-', '_')}_{digest}"
        if name in sys.modules:
            return sys.modules[name]
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except Exception as exc:
            del sys.modules[name]
            raise DiscoveryError(f"--with {source}: importing it raised {type(exc).__name__}: {exc}") from exc
        return module
    try:
        return importlib.import_module(source)
    except ModuleNotFoundError as exc:
        raise DiscoveryError(f"--with {source}: no module named {exc.name!r} (give a .py file or a module)") from exc
    except Exception as exc:
        raise DiscoveryError(f"--with {source}: importing it raised {type(exc).__name__}: {exc}") from exc


def assert_holds(*, proof: str, seed: int = 0, size: str = "quick") -> list:
    """Run the discovered results whose derivation is `proof`, print their table, fail if any fails.

    The last cell of every file in ``proofs/`` calls this, so a derivation ends in exactly the checks that
    ``bntheory verify`` runs for it, and executing its notebook is itself a test.

    Parameters
    ----------
    proof : str
        File name in ``proofs/`` (``"santurkar2018_bounds.py"``), as in the results' ``proof`` field.
    seed : int
        Base seed.
    size : {"quick", "default", "large"}
        Problem sizes, as ``bntheory verify --size``.

    Raises
    ------
    ValueError
        If no discovered result names `proof`, or `size` is unknown.
    AssertionError
        Naming every result whose status is ``failed``.
    """
    from bntheory import report
    from bntheory.context import Context
    from bntheory.runner import run_all

    ctx = Context.of("numpy", seed=seed, size=size)
    results = [r for r in all_results() if r.proof == proof]
    if not results:
        raise ValueError(f"proof: no registered result names {proof!r}; `bntheory list` shows the results")
    reports = run_all(results, ctx)
    print(report.format_table(reports))
    print(report.summary(reports))
    failed = [r.result.id for r in reports if r.status == "failed"]
    if failed:
        raise AssertionError(f"failed: {', '.join(failed)} (rerun `bntheory verify --only {' '.join(failed)}`)")
    return reports


def _discover(sources: Sequence[str]) -> list[tuple[types.ModuleType, str, str | None]]:
    """``(module, origin, file)`` of every results module; `file` only for a module loaded from a path."""
    package = importlib.import_module(RESULTS_PACKAGE)
    modules = [
        (importlib.import_module(f"{RESULTS_PACKAGE}.{info.name}"), BUILTIN, None)
        for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name)
    ]
    for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        dist = ep.dist.name if ep.dist is not None else "?"
        try:
            module = importlib.import_module(ep.module)
        except Exception as exc:
            raise DiscoveryError(
                f"entry point {ep.name} = {ep.value!r} ({ENTRY_POINT_GROUP}) of {dist}: importing it raised "
                f"{type(exc).__name__}: {exc}; fix or uninstall {dist}"
            ) from exc
        modules.append((module, f"entry point {ep.name} ({dist})", None))
    for source in sources:
        module = import_source(source)
        by_path = module.__name__.startswith(_FILE_PREFIX)
        modules.append((module, f"--with {source}", module.__file__ if by_path else None))
    return modules
