"""Mutation testing of the bntheory library against the registry's own checks (``bntheory verify``).

Every mutant is one small edit of one library module (an operator swapped, a constant nudged, a comparison
flipped, a loop emptied, ...). It is *killed* when ``bntheory verify --quick --jobs 1 --only <results>`` exits
non-zero, or runs past the timeout, on a copy of the tree that carries the mutant; it *survives* when every
selected result still passes. The kill rate is the share of mutants killed: a verification package is worth
its power to say "false" (issue 14). Survivors are printed as unified diffs with ``file:line``, the operator
and the results they were run against, so a person can classify each as equivalent or as a gap.

Why cosmic-ray (8.x) and not mutmut (3.x)
-----------------------------------------
The test for a mutant is the registry's checks, an arbitrary command and its exit code, not pytest. mutmut 3
runs pytest only: it rewrites every function of the package into a trampoline that picks the mutant from an
environment variable, collects per-test coverage through a pytest plugin, and has no custom test command
(the ``runner`` option of mutmut 2 is gone). Its trampolines would also change what ``bntheory verify`` runs
(pickled check functions, decorators, ``functools.cache``). cosmic-ray keeps the source a plain file and makes
one mutant at a time from a parso tree; its test is any command whose exit code decides, and its operators
(binary, comparison and unary operator replacement, boolean and ``and``/``or`` swaps, ``NumberReplacer``
(n -> n + 1, n - 1), ``ZeroIterationForLoop``, ``RemoveDecorator``, ``ExceptionReplacer``, ``AddNot``,
``break``/``continue``) are the single-line slips issue 14's audit made by hand. Its own executor, though,
mutates the module *in place* in one working directory and runs one mutant at a time. This script therefore
uses cosmic-ray as a library (its operators and ``mutate_code``) and drives the runs itself: on copies of the
tree, several at once, with a coverage-based choice of results per mutant, sampling and a resumable journal.

How a mutant is tested
----------------------
1. The tree (``--tree``, default: this checkout) is copied, package ``bntheory/`` only, into
   ``<state>/snapshot`` (every read uses it, so the tree may change meanwhile) and from there into one directory
   per job (``<state>/work-<i>``); ``PYTHONPATH`` points there. The tree itself is never written.
2. Mapping results to code (dynamic, per statement). Each result runs once, unmutated, in its
   own fresh interpreter (memos and ``functools.cache`` start empty) under coverage.py, with the dynamic
   context ``import`` while the registry imports and ``run`` while ``bntheory.cli.main(["verify", ...])``
   runs the result. A static import graph maps a module to whole results modules (``lipschitz.py`` to every
   ``santurkar2018`` result, ``checks/`` to every result); per-line coverage narrows each mutant to the results
   that execute its statement, which is what makes a run affordable on 2 cores, and it loses nothing (the checks
   are seeded, so a run is deterministic): a statement that no passing result executes cannot change their
   verdicts. For each mutant, the results are
   those whose ``run`` executed a line of the mutated statement's header (for ``def``/``class``: decorators and
   signature). A statement executed only at import time gets, for a ``def`` header (defaults, decorators), the
   results that executed any line of its module at run time (a function's defaults matter only when it runs);
   for anything else (module constants, class bodies) also the results that executed a module importing it,
   transitively by a static import graph (a constant is read by its importers, which executes no line of its
   own module). A mutant whose statement no passing result executes is reported as a survivor,
   ``not executed``, without running anything (``--run-unexecuted`` runs it anyway against the module's
   results). The map is cached per tree fingerprint; a journal record is reused only while the map still
   selects the same results for its mutant.
   A mutant that survives verify then meets the unit tests of its module (``--no-unit-tests`` turns this off):
   the test files under ``tests/`` that import the module (found from their ``import`` statements), and for the
   check kit (``bntheory/checks/``) also :data:`KIT_TESTS`. Two kinds of code need them. The kit: a mutation that
   only loosens a check cannot change a verdict on correct library code, so verify alone could never kill it,
   while the kit's tests run it on statements known to be true and known to be false. Argument validation
   (``if not step > 0: raise ValueError(...)``): verify feeds only valid input, so a guard is the unit tests'
   job. The report counts the mutants killed by verify and those killed only by the tests apart.
3. Results left out of every test: those that already fail unmutated (they would kill every mutant), listed in the
   report. Provisional ([R]) results are tests too: only their claim check, the test of the recalled statement,
   does not gate; their checks of the library code do.
4. The mutant is written into the job's copy (its ``.pyc`` removed, ``PYTHONDONTWRITEBYTECODE=1``), then
   ``python -m bntheory.cli verify --quick --jobs 1 --only <id>`` runs once per selected result, fastest
   first, stopping at the first non-zero exit (the same verdict as one call with all of them: ``verify``
   fails when any result fails; ``--one-call`` makes that single call instead). The original file is then put
   back. BLAS and PyTorch run single-threaded.

Not counted: mutants cosmic-ray cannot apply or whose code does not compile (``incompetent``); mutants inside
annotations of modules with ``from __future__ import annotations`` (never evaluated: equivalent by
construction); the bare ``*`` or ``/`` of a parameter list, which cosmic-ray takes for a binary operator;
lines marked ``# pragma: no mutate``. Operators that on float code can only raise a ``TypeError`` (bit shifts
and bitwise and/or/xor in place of arithmetic, ``~`` in place of ``-``, ``is`` in place of ``==`` or ``<``)
are excluded by default, as they would be killed for free and only inflate the rate (``--exclude-operators``
with no argument restores them; ``--operators`` narrows by glob). Survivors a person has judged equivalent go
in ``benchmarks/mutation/equivalent.toml`` (module, operator, the mutated line, the reason); the table then
gives the kill rate over the non-equivalent mutants too, issue 14's measure (at least 90%).

How to run it (from the repository root; 2 shared cores, so nice and one job)::

    pip install 'cosmic-ray==8.7.0' 'coverage>=7'       # or: pip install -e '.[mutation]'
    nice python benchmarks/mutation.py --modules bntheory/landscape/lipschitz.py bntheory/landscape/jacobian.py
    --sample 20
    nice python benchmarks/mutation.py --sample 200 --jobs 1 --json mutation.json
    nice python benchmarks/mutation.py --jobs 2 --json mutation.json          # every mutant: hours, see below

Interrupted runs (Ctrl-C) resume: each finished mutant is appended to ``<state>/journal.jsonl`` (``--state``;
default ``bntheory-mutation-<fingerprint>`` under the system temp dir), keyed by the tree's fingerprint, the
size and seed of verify, and a rerun with the same tree and arguments skips it. ``--json PATH`` writes the
summary, the map, the baseline, every mutant run and every survivor with its diff, atomically. Exit code 0
after a completed run whatever the kill rate (it is a benchmark, not a gate), 1 when the tree cannot be set up
(its registry does not load, a result cannot be traced), 2 on a usage error, 130 when interrupted.

Timings measured here (2 cores shared with five other sessions, load average 6 to 9, nice, ``--jobs 1``,
``--quick``, seed 0), on the tree of this script's commit. The one-off map (31 non-provisional results, each
in a fresh interpreter under coverage) takes 90 to 270 s depending on the load, and is cached in the state
directory. The validation sample ``--modules bntheory/landscape/lipschitz.py bntheory/landscape/jacobian.py --sample
20`` (20 of
466 mutants) took 414 s from an empty state: 268 s of map, then 146 s for the mutants, 7.3 s each (3.7 s each
in an earlier, less loaded run; one interpreter start is 2.3 s of it). A ``--sample 40`` over the default
modules, map cached, took 301 s: 10.5 s per mutant run (6 s per kill, 20 s per survivor, which runs every
selected result); 5 of the 40 were not executed, so free. The default modules have 5,599 mutants with the
default operators (8,488 with every operator), 970 of them not executed by any passing result, so a full run
is about 14 h at ``--jobs 1`` under that load, roughly 6 h at ``--jobs 2`` on idle cores; ``--sample 200`` is
about 35 min. ``--plan`` prints the map and the counts without running a mutant (seconds once the map is
cached), and every run prints its own estimate at the end.
"""

from __future__ import annotations

import argparse
import ast
import compileall
import contextlib
import dataclasses
import difflib
import fnmatch
import hashlib
import importlib.util
import json
import os
import queue
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import ClassVar

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "bntheory"
#: The check kit's own tests: a mutant of the kit that only loosens a check cannot change a verdict on correct
#: library code (verify passes either way), so for modules under bntheory/checks/ these tests join the tests that
#: import the module (:func:`unit_tests`) as the second killer: they run the kit on known-true and known-false
#: statements.
KIT_TESTS = (
    "tests/test_check_kit.py",
    "tests/test_search_and_frequency.py",
    "tests/test_gdnp.py",  # holds the tests of checks/rates.py (fit_rate against linregress) and harness_optim
    "tests/test_bn_kit.py",
    "tests/test_instances_landscape.py",
    "tests/test_instances_networks.py",
)

#: Library modules under test (issue 14): the transforms and BN's kernels, the theory modules and the check kit.
DEFAULT_MODULES = (
    "bntheory/norms/*.py",
    "bntheory/landscape/jacobian.py",
    "bntheory/landscape/lipschitz.py",
    "bntheory/optim/*.py",
    "bntheory/representations/*.py",
    "bntheory/curvature/*.py",
    "bntheory/checks/*.py",
    "bntheory/checks/oracles/*.py",
    "bntheory/checks/instances/*.py",
)

_BITWISE = ("RShift", "LShift", "BitOr", "BitAnd", "BitXor")
#: Operators left out by default: on float code they can only raise TypeError (killed for free).
DEFAULT_EXCLUDE = (
    *(f"core/ReplaceBinaryOperator_*_{b}" for b in _BITWISE),
    *(f"core/ReplaceBinaryOperator_{b}_*" for b in _BITWISE),
    "core/ReplaceUnaryOperator_*_Invert",
    "core/ReplaceComparisonOperator_*_Is",
    "core/ReplaceComparisonOperator_*_IsNot",
    "core/ReplaceComparisonOperator_Is_*",
    "core/ReplaceComparisonOperator_IsNot_*",
)
#: ... except the swaps that are plausible slips on boolean masks and identity tests.
DEFAULT_KEEP = (
    "core/ReplaceBinaryOperator_BitOr_BitAnd",
    "core/ReplaceBinaryOperator_BitAnd_BitOr",
    "core/ReplaceComparisonOperator_Is_IsNot",
    "core/ReplaceComparisonOperator_IsNot_Is",
)

#: Why positions are left out before counting (see the module docstring).
LEFT_OUT = {
    "annotation": "in annotations of modules with `from __future__ import annotations` (never evaluated)",
    "signature": "a bare `*` or `/` of a parameter list, taken by cosmic-ray for a binary operator",
    "pragma": "on lines marked `# pragma: no mutate`",
}
_SIGNATURES = ("parameters", "lambdef", "typedargslist", "varargslist")
_BINARY = "core/ReplaceBinaryOperator_"

_THREADS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS")
#: Runs argv[2:] under an address-space limit of argv[1] bytes: a mutant that asks for absurd memory fails alone.
_LIMIT = (
    "import os, resource, sys; n = int(sys.argv[1]); "
    "resource.setrlimit(resource.RLIMIT_AS, (n, n)); os.execvp(sys.argv[2], sys.argv[2:])"
)
#: One interpreter start with bntheory's imports, added to each call's timeout.
_START_SECONDS = 30.0


# --------------------------------------------------------------------------------------------------------------
# Mutants


@dataclasses.dataclass(frozen=True)
class Mutant:
    """One mutation: `occurrence` of `operator` in `module` (a path relative to the tree)."""

    module: str
    operator: str
    occurrence: int
    line: int
    col: int
    end_line: int
    definition: str | None

    @property
    def id(self) -> str:
        return f"{self.module}:{self.operator}:{self.occurrence}"

    @property
    def where(self) -> str:
        return f"{self.module}:{self.line}"


def _operators(include: Sequence[str], exclude: Sequence[str]) -> list[tuple[str, object]]:
    import cosmic_ray.plugins

    chosen = []
    for name in cosmic_ray.plugins.operator_names():
        cls = cosmic_ray.plugins.get_operator(name)
        if cls.arguments():  # VariableReplacer/Inserter need per-variable configuration
            continue
        if not any(fnmatch.fnmatchcase(name, p) for p in include):
            continue
        if any(fnmatch.fnmatchcase(name, p) for p in exclude) and name not in DEFAULT_KEEP:
            continue
        chosen.append((name, cls()))
    return chosen


def _char_col(line: str, byte_col: int) -> int:
    return len(line.encode("utf-8")[:byte_col].decode("utf-8", errors="ignore"))


def _annotation_spans(source: str) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """(start, end) positions (line, character column) of every annotation, if they are never evaluated."""
    tree = ast.parse(source)
    lazy = any(
        isinstance(node, ast.ImportFrom)
        and node.module == "__future__"
        and any(a.name == "annotations" for a in node.names)
        for node in tree.body
    )
    if not lazy:
        return []
    lines = source.splitlines()
    annotations = []
    for node in ast.walk(tree):
        if isinstance(node, ast.arg) and node.annotation is not None:
            annotations.append(node.annotation)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.returns is not None:
            annotations.append(node.returns)
        elif isinstance(node, ast.AnnAssign):
            annotations.append(node.annotation)
    return [
        (
            (a.lineno, _char_col(lines[a.lineno - 1], a.col_offset)),
            (a.end_lineno, _char_col(lines[a.end_lineno - 1], a.end_col_offset)),
        )
        for a in annotations
    ]


def enumerate_mutants(tree: Path, module: str, operators) -> tuple[list[Mutant], dict[str, int]]:
    """Every mutant of `module` for `operators`, and how many positions were left out and why."""
    from cosmic_ray.ast import ast_nodes, get_ast
    from cosmic_ray.ast.ast_query import ASTQuery

    source = (tree / module).read_text(encoding="utf-8")
    nodes = list(ast_nodes(get_ast(source)))
    spans = _annotation_spans(source)
    pragma = {i for i, text in enumerate(source.splitlines(), 1) if "pragma: no mutate" in text}
    skipped = dict.fromkeys(LEFT_OUT, 0)
    mutants = []
    for name, op in operators:
        occurrence = 0
        for node in nodes:
            for start, end in op.mutation_positions(node):
                if any(s <= tuple(start) < e for s, e in spans):
                    skipped["annotation"] += 1
                elif getattr(node.parent, "type", None) in _SIGNATURES and name.startswith(_BINARY):
                    skipped["signature"] += 1
                elif start[0] in pragma:
                    skipped["pragma"] += 1
                else:
                    mutants.append(
                        Mutant(
                            module, name, occurrence, start[0], start[1], end[0], ASTQuery(node).get_definition_name()
                        )
                    )
                occurrence += 1
    return mutants, skipped


def mutated_source(tree: Path, mutant: Mutant) -> tuple[str, str | None]:
    """The module's source and the mutant's (None when cosmic-ray cannot apply it)."""
    import cosmic_ray.plugins
    from cosmic_ray.mutating import mutate_code

    source = (tree / mutant.module).read_text(encoding="utf-8")
    op = cosmic_ray.plugins.get_operator(mutant.operator)()
    return source, mutate_code(source, op, mutant.occurrence)


def unified_diff(module: str, before: str, after: str) -> str:
    lines = difflib.unified_diff(
        before.splitlines(), after.splitlines(), f"a/{module}", f"b/{module}", n=2, lineterm=""
    )
    return "\n".join(lines)


def stratified_sample(mutants: dict[str, list[Mutant]], n: int, seed: int) -> dict[str, list[Mutant]]:
    """`n` mutants, allocated to modules in proportion to their counts (largest remainder, at least one each
    when `n` allows), drawn within each module by a generator seeded from `seed` and the module's path."""
    total = sum(len(v) for v in mutants.values())
    if n >= total:
        return mutants
    modules = [m for m in mutants if mutants[m]]
    quota = {m: n * len(mutants[m]) / total for m in modules}
    alloc = {m: int(q) for m, q in quota.items()}
    for m in sorted(modules, key=lambda m: quota[m] - alloc[m], reverse=True)[: n - sum(alloc.values())]:
        alloc[m] += 1
    if n >= len(modules):
        for m in modules:
            while alloc[m] == 0:
                donor = max(modules, key=lambda d: alloc[d])
                alloc[donor] -= 1
                alloc[m] += 1
    out = {}
    for m in mutants:
        rng = random.Random(f"{seed}:{m}")
        picked = rng.sample(range(len(mutants[m])), alloc.get(m, 0))
        out[m] = [mutants[m][i] for i in sorted(picked)]
    return out


# --------------------------------------------------------------------------------------------------------------
# Statements and coverage


class Statements:
    """For a position in a module: the lines whose execution shows that its statement ran, and its kind."""

    def __init__(self, source: str):
        tree = ast.parse(source)
        self._spans: list[tuple[int, int, tuple[int, ...], bool]] = []
        for node in ast.walk(tree):
            if not isinstance(node, (ast.stmt, ast.ExceptHandler)):
                continue
            start = node.lineno
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.decorator_list:
                start = min(start, *(d.lineno for d in node.decorator_list))
            body = getattr(node, "body", None)
            if body and isinstance(body, list) and isinstance(body[0], ast.AST):
                header_end = max(node.lineno, body[0].lineno - 1)
            else:
                header_end = node.end_lineno
            is_def = isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            self._spans.append((start, node.end_lineno, tuple(range(start, header_end + 1)), is_def))

    def header(self, line: int) -> tuple[tuple[int, ...], bool]:
        """The header lines of the innermost statement containing `line`, and whether it is a ``def``."""
        inside = [s for s in self._spans if s[0] <= line <= s[1]]
        if not inside:
            return (line,), False
        _, _, lines, is_def = min(inside, key=lambda s: s[1] - s[0])  # the shortest span containing the line
        return lines, is_def


def import_graph(base: Path) -> dict[str, set[str]]:
    """For every module of the package (a path relative to `base`): the modules that import it, transitively.

    Static, from every ``import`` statement (function-level ones included). Used for statements that run only at
    import time outside a ``def`` (constants, class bodies): a module constant is read by code in modules that
    import it, which executes no line of its own module.
    """
    paths = {p.relative_to(base).as_posix() for p in (base / PACKAGE).rglob("*.py")}
    names = {}
    for rel in paths:
        dotted = rel[: -len(".py")].replace("/", ".")
        names[dotted.removesuffix(".__init__")] = rel
    imports: dict[str, set[str]] = {rel: set() for rel in paths}
    for rel in paths:
        package = rel[: -len(".py")].replace("/", ".").rsplit(".", 1)[0]
        if rel.endswith("__init__.py"):
            package = rel[: -len("/__init__.py")].replace("/", ".")
        for node in ast.walk(ast.parse((base / rel).read_text(encoding="utf-8"))):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                origin = node.module or ""
                if node.level:
                    parent = package.split(".")
                    parent = parent[: len(parent) - (node.level - 1)]
                    origin = ".".join([*parent, origin] if origin else parent)
                targets = [origin, *(f"{origin}.{a.name}" for a in node.names)]
            for t in targets:
                parts = t.split(".")
                for k in range(1, len(parts) + 1):  # importing a.b.c runs a, a.b and a.b.c
                    if ".".join(parts[:k]) in names:
                        imports[rel].add(names[".".join(parts[:k])])
    importers: dict[str, set[str]] = {rel: set() for rel in paths}
    for rel, deps in imports.items():
        for d in deps:
            importers[d].add(rel)
    closure = {}
    for rel in paths:
        seen, todo = set(), [rel]
        while todo:
            for parent in importers[todo.pop()] - seen:
                seen.add(parent)
                todo.append(parent)
        closure[rel] = seen - {rel}
    return closure


@dataclasses.dataclass
class Trace:
    """One unmutated result: its status, seconds, and the lines it executed (per module, per context)."""

    id: str
    status: str
    seconds: float
    lines: dict[str, dict[str, list[int]]]

    @property
    def passes(self) -> bool:
        # Provisional ([R]) results are tests too: their checks of the library code gate verify (point 3 above).
        return self.status in ("passed", "provisional", "not reproduced")


def _trace_child(argv: Sequence[str]) -> int:
    """``mutation.py _trace OUT RESULT_ID SIZE SEED``: run one result under coverage (inside a job's copy)."""
    out, result_id, size, seed = argv
    import coverage

    root = os.getcwd()
    cov = coverage.Coverage(data_file=None, include=[os.path.join(root, PACKAGE, "*")], config_file=False)
    cov.start()
    cov.switch_context("import")
    from bntheory import cli, results

    results.all_results()
    cov.switch_context("run")
    verify_json = out + ".verify.json"
    start = time.perf_counter()
    try:
        code = cli.main(
            ["verify", *_size_args(size), "--seed", seed, "--jobs", "1", "--only", result_id, "--json", verify_json]
        )
    except BaseException as exc:  # a result that cannot run at all fails its baseline
        print(f"raised {type(exc).__name__}: {exc}", file=sys.stderr)
        code = -1
    seconds = time.perf_counter() - start
    cov.stop()
    status = "failed"
    with contextlib.suppress(OSError, ValueError, KeyError):
        statuses = [r["status"] for r in json.loads(Path(verify_json).read_text())["results"]]
        status = "failed" if code != 0 or "failed" in statuses else statuses[0]
    data = cov.get_data()
    lines: dict[str, dict[str, list[int]]] = {}
    for path in data.measured_files():
        rel = Path(path).resolve().relative_to(Path(root).resolve()).as_posix()
        by_context: dict[str, set[int]] = {"import": set(), "run": set()}
        for lineno, contexts in data.contexts_by_lineno(path).items():
            for c in contexts:
                if c in by_context:
                    by_context[c].add(lineno)
        lines[rel] = {k: sorted(v) for k, v in by_context.items()}
    _write_atomic(Path(out), json.dumps({"id": result_id, "status": status, "seconds": seconds, "lines": lines}))
    return 0


def _size_args(size: str) -> list[str]:
    return ["--quick"] if size == "quick" else ["--size", size]


# --------------------------------------------------------------------------------------------------------------
# Jobs: copies of the tree and the processes run in them


class Job:
    """A private copy of the package in which mutants are written and verify runs."""

    _active: ClassVar[set[subprocess.Popen]] = set()
    _lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, tree: Path, root: Path, memory_gib: float = 0.0):
        self.tree, self.root = tree, root
        self.memory = int(memory_gib * 2**30)
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
        shutil.copytree(tree / PACKAGE, root / PACKAGE, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        compileall.compile_dir(root / PACKAGE, quiet=2)
        self.env = {
            **os.environ,
            **dict.fromkeys(_THREADS, "1"),
            "PYTHONPATH": str(root),
            "PYTHONDONTWRITEBYTECODE": "1",
            "MPLBACKEND": "Agg",
        }

    def call(self, argv: Sequence[str], timeout: float) -> tuple[int | None, str, float]:
        """Run `argv` in the copy: (exit code or None on timeout, output tail, seconds)."""
        start = time.perf_counter()
        if self.memory:  # the limit is set in the child, then it becomes `argv` (no preexec_fn in a threaded parent)
            argv = [sys.executable, "-c", _LIMIT, str(self.memory), *argv]
        proc = subprocess.Popen(
            argv,
            cwd=self.root,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        with Job._lock:
            Job._active.add(proc)
        try:
            out, _ = proc.communicate(timeout=timeout)
            code = proc.returncode
        except subprocess.TimeoutExpired:
            _kill(proc)
            out, _ = proc.communicate()
            code = None
        finally:
            with Job._lock:
                Job._active.discard(proc)
        tail = "\n".join(out.decode("utf-8", errors="replace").splitlines()[-15:])
        return code, tail, time.perf_counter() - start

    @contextlib.contextmanager
    def mutated(self, module: str, text: str):
        path = self.root / module
        cached = Path(importlib.util.cache_from_source(str(path)))
        cached.unlink(missing_ok=True)
        path.write_text(text, encoding="utf-8")
        try:
            yield
        finally:
            shutil.copy2(self.tree / module, path)  # the original, with its mtime (so its .pyc is valid again)
            compileall.compile_file(path, quiet=2)

    @classmethod
    def kill_all(cls) -> None:
        with cls._lock:
            for proc in list(cls._active):
                _kill(proc)


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        with contextlib.suppress(OSError):
            proc.kill()


def _verify(ids: Sequence[str], size: str, seed: int) -> list[str]:
    args = ["verify", *_size_args(size), "--seed", str(seed), "--jobs", "1", "--only", *ids]
    return [sys.executable, "-m", "bntheory.cli", *args]


# --------------------------------------------------------------------------------------------------------------
# Orchestration


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def fingerprint(tree: Path) -> str:
    h = hashlib.sha256()
    for path in sorted((tree / PACKAGE).rglob("*.py")):
        h.update(path.relative_to(tree).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def resolve_modules(tree: Path, patterns: Sequence[str], strict: bool = True) -> list[str]:
    """Module paths relative to `tree` for `patterns` (paths or globs); unmatched ones are an error if `strict`."""
    found: list[str] = []
    for pattern in patterns:
        p = Path(pattern)
        if p.is_absolute():
            with contextlib.suppress(ValueError):
                pattern = p.resolve().relative_to(tree).as_posix()
        matches = sorted(Path(m).relative_to(tree).as_posix() for m in tree.glob(pattern) if Path(m).is_file())
        if not matches and strict:
            raise SystemExit(f"mutation.py: error: --modules: nothing matches {pattern!r} under {tree}")
        found.extend(m for m in matches if m not in found and m.endswith(".py"))
    return found


def list_results(job: Job) -> list[tuple[str, bool]]:
    """(id, provisional) of every registered result of the tree."""
    code = (
        "import json; from bntheory import results; "
        "print(json.dumps([(r.id, r.tag == 'R') for r in results.all_results()]))"
    )
    rc, out, _ = job.call([sys.executable, "-c", code], timeout=300)
    if rc != 0:
        raise SystemExit(f"mutation.py: error: cannot list the registry of the tree:\n{out}")
    return [tuple(x) for x in json.loads(out.strip().splitlines()[-1])]


def trace_all(jobs: list[Job], ids: Sequence[str], cache: Path, size: str, seed: int) -> dict[str, Trace]:
    cache.mkdir(parents=True, exist_ok=True)
    traces: dict[str, Trace] = {}
    todo = []
    for rid in ids:
        path = cache / f"{rid}.json"
        if path.exists():
            traces[rid] = Trace(**json.loads(path.read_text()))
        else:
            todo.append(rid)
    if todo:
        print(f"mapping: tracing {len(todo)} result(s) unmutated under coverage ...", file=sys.stderr, flush=True)
    pool: queue.Queue[Job] = queue.Queue()
    for j in jobs:
        pool.put(j)
    start = time.perf_counter()

    def one(rid: str) -> None:
        job = pool.get()
        try:
            out = cache / f"{rid}.json"
            rc, tail, seconds = job.call([sys.executable, __file__, "_trace", str(out), rid, size, str(seed)], 3600)
            if rc != 0 or not out.exists():
                raise SystemExit(f"mutation.py: error: tracing {rid} failed (exit {rc}):\n{tail}")
            traces[rid] = Trace(**json.loads(out.read_text()))
            print(f"  {rid}: {traces[rid].status} ({seconds:.1f} s)", file=sys.stderr, flush=True)
        finally:
            pool.put(job)

    with ThreadPoolExecutor(len(jobs)) as ex:
        list(ex.map(one, todo))
    if todo:
        print(f"mapping took {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
    return traces


class Selector:
    """Which passing results a mutant must be run against, from the traces."""

    def __init__(self, tree: Path, traces: dict[str, Trace]):
        self.traces = {k: v for k, v in traces.items() if v.passes}
        self.tree = tree
        self._statements: dict[str, Statements] = {}
        self.importers = import_graph(tree)

    def statements(self, module: str) -> Statements:
        if module not in self._statements:
            self._statements[module] = Statements((self.tree / module).read_text(encoding="utf-8"))
        return self._statements[module]

    def touching(self, *modules: str) -> list[str]:
        """Results that execute any line of any of `modules` at run time."""
        return self._fastest(r for r, t in self.traces.items() if any(t.lines.get(m, {}).get("run") for m in modules))

    def select(self, mutant: Mutant, run_unexecuted: bool) -> tuple[list[str], str]:
        """The results (fastest first) and why: ``executed`` (they run the statement), ``import`` (it runs at
        import time: for a ``def`` header, the results that run the module; otherwise also those that run a
        module importing it), or ``not executed``."""
        lines, is_def = self.statements(mutant.module).header(mutant.line)
        header = set(lines)
        hit = [r for r, t in self.traces.items() if header & set(t.lines.get(mutant.module, {}).get("run", ()))]
        if hit:
            return self._fastest(hit), "executed"
        at_import = any(header & set(t.lines.get(mutant.module, {}).get("import", ())) for t in self.traces.values())
        if at_import:
            users = self.touching(mutant.module, *(() if is_def else self.importers.get(mutant.module, ())))
            # Nothing uses it at run time: it can only break the import, which any one result shows.
            return (users or self._fastest(self.traces)[:1]), "import"
        return (self.touching(mutant.module) if run_unexecuted else []), "not executed"

    def _fastest(self, ids: Iterable[str]) -> list[str]:
        return sorted(ids, key=lambda r: (self.traces[r].seconds, r))


def test_mutant(job: Job, mutant: Mutant, ids: list[str], how: str, args, traces: dict[str, Trace]) -> dict:
    """Apply `mutant` in `job`, run verify against `ids`, and return the journal record."""
    before, after = mutated_source(job.tree, mutant)
    record = {"id": mutant.id, **dataclasses.asdict(mutant), "results": ids, "selected_by": how, "seconds": 0.0}
    if after is None or after == before:
        return {**record, "outcome": "incompetent", "detail": "cosmic-ray could not apply the mutation"}
    record["diff"] = unified_diff(mutant.module, before, after)
    try:
        compile(after, mutant.module, "exec")
    except SyntaxError as exc:
        return {**record, "outcome": "incompetent", "detail": f"does not compile: {exc}"}
    tests = unit_tests(Path(args.tree), mutant.module) if args.unit_tests else []
    if not ids and not tests:
        return {**record, "outcome": "survived", "detail": "not executed by any passing result"}
    calls = [ids] if args.one_call else [[r] for r in ids]
    total = 0.0
    with job.mutated(mutant.module, after):
        for call in calls:
            budget = args.timeout or (_START_SECONDS + 4 * sum(traces[r].seconds for r in call))
            rc, tail, seconds = job.call(_verify(call, args.size, args.verify_seed), budget)
            total += seconds
            if rc is None:
                return {**record, "outcome": "timeout", "by": call, "seconds": total, "detail": f"over {budget:.0f} s"}
            if rc != 0:
                detail = "" if rc == 1 else tail  # 1: a result failed; anything else: a crash, with its output
                return {**record, "outcome": "killed", "by": call, "rc": rc, "seconds": total, "detail": detail}
        if tests:
            argv = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *map(str, tests)]
            rc, tail, seconds = job.call(argv, args.timeout or 600.0)
            total += seconds
            by = [f"unit tests ({', '.join(t.name for t in tests)})"]
            if rc is None:
                return {**record, "outcome": "timeout", "by": by, "tests": True, "seconds": total, "detail": "tests"}
            if rc != 0:
                return {
                    **record,
                    "outcome": "killed",
                    "by": by,
                    "tests": True,
                    "rc": rc,
                    "seconds": total,
                    "detail": "",
                }
    detail = "" if ids else "not executed by any passing result; its unit tests pass"
    return {**record, "outcome": "survived", "seconds": total, "detail": detail}


def unit_tests(tree: Path, module: str) -> list[Path]:
    """The test files of `tree` that import `module` (a path such as ``bntheory/optim/gdnp.py``), plus :data:`KIT_TESTS`
    for the check kit: the second killer of a mutant that survives verify.

    A file counts when one of its ``import`` statements names the module, as ``import bntheory.optim.gdnp``,
    ``from bntheory import gdnp`` or ``from bntheory.optim.gdnp import ...`` (a package's ``__init__`` counts as the
    package). Mentioning the module in a string (a dotted name in a table) does not.
    """
    dotted = module.removesuffix(".py").removesuffix("/__init__").replace("/", ".")
    # The module itself, or a package above it (below bntheory): importing bntheory.norms imports norms.group.
    parts = dotted.split(".")
    owners = {".".join(parts[:k]) for k in range(2, len(parts) + 1)}
    found = []
    for path in sorted((tree / "tests").glob("test_*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                hit = any(a.name in owners or a.name.startswith(dotted + ".") for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                hit = node.module in owners or any(f"{node.module}.{a.name}" in owners for a in node.names)
            else:
                continue
            if hit:
                found.append(path)
                break
    if module.startswith(f"{PACKAGE}/checks/"):
        found += [tree / t for t in KIT_TESTS if (tree / t).exists() and tree / t not in found]
    return found


def load_equivalents(path: Path | None) -> list[dict]:
    """Mutants a person judged equivalent: TOML ``[[equivalent]]`` tables with module, operator, line, reason.

    ``line`` is the original source line of the mutant, stripped (stable when code elsewhere moves).
    """
    if path is None or not path.exists():
        return []
    import tomllib

    entries = tomllib.loads(path.read_text(encoding="utf-8")).get("equivalent", [])
    for e in entries:
        missing = {"module", "operator", "line", "reason"} - set(e)
        if missing:
            raise SystemExit(f"mutation.py: error: {path}: an [[equivalent]] entry lacks {', '.join(sorted(missing))}")
    return entries


def equivalence(rec: dict, source_line: str, entries: list[dict]) -> str | None:
    for e in entries:
        if e["module"] == rec["module"] and e["operator"] == rec["operator"] and e["line"].strip() == source_line:
            return e["reason"]
    return None


_KEYS = (
    "total",
    "run",
    "killed",
    "by_tests",
    "timeout",
    "survived",
    "not_executed",
    "equivalent",
    "incompetent",
    "pending",
)


def summarize(selected: dict[str, list[Mutant]], totals: dict[str, int], done: dict[str, dict]) -> dict:
    """Counts per module and overall; ``kill_rate`` over every mutant run, ``kill_rate_non_equivalent`` over
    those not judged equivalent (issue 14's measure), ``verify_kill_rate_non_equivalent`` the same without the
    kills of the unit tests (``by_tests``, a part of ``killed`` and ``timeout``)."""
    rows = {}
    for module, mutants in [*selected.items(), ("overall", [m for v in selected.values() for m in v])]:
        row = dict.fromkeys(_KEYS, 0)
        row["total"] = sum(totals.values()) if module == "overall" else totals[module]
        for m in mutants:
            rec = done.get(m.id)
            if rec is None:
                row["pending"] += 1
                continue
            outcome = rec["outcome"]
            if outcome == "incompetent":
                row["incompetent"] += 1
                continue
            row["run"] += 1
            row[outcome] += 1
            if outcome in ("killed", "timeout") and rec.get("tests"):
                row["by_tests"] += 1
            if outcome == "survived" and not rec.get("results"):
                row["not_executed"] += 1
            if outcome == "survived" and rec.get("equivalent"):
                row["equivalent"] += 1
        kills = row["killed"] + row["timeout"]
        row["kill_rate"] = kills / row["run"] if row["run"] else None
        judged = row["run"] - row["equivalent"]
        row["kill_rate_non_equivalent"] = kills / judged if judged else None
        row["verify_kill_rate_non_equivalent"] = (kills - row["by_tests"]) / judged if judged else None
        rows[module] = row
    return rows


def format_table(rows: dict[str, dict]) -> str:
    width = max(len(m) for m in rows)
    cols = [("total", 6), ("run", 5), ("killed", 6), ("by_tests", 8), ("timeout", 7), ("survived", 8)]
    cols += [("not_executed", 9), ("equivalent", 6), ("incompetent", 7), ("pending", 7)]
    names = {"by_tests": "by tests", "not_executed": "not exec", "equivalent": "equiv", "incompetent": "incomp"}
    head = f"{'module':<{width}} " + " ".join(f"{names.get(k, k):>{w}}" for k, w in cols)
    head += "  kill rate  (non-equiv.)  (verify only)"
    out = [head, "-" * len(head)]

    def pct(x):
        return "-" if x is None else f"{100 * x:.1f}%"

    for module, r in rows.items():
        if module == "overall":
            out.append("-" * len(head))
        cells = " ".join(f"{r[k]:>{w}}" for k, w in cols)
        rates = f"{pct(r['kill_rate']):>9}  {pct(r['kill_rate_non_equivalent']):>12}"
        out.append(f"{module:<{width}} {cells}  {rates}  {pct(r['verify_kill_rate_non_equivalent']):>13}")
    return "\n".join(out)


def format_survivor(i: int, rec: dict) -> str:
    where = f"{rec['module']}:{rec['line']}"
    in_def = f" in {rec['definition']}()" if rec.get("definition") else ""
    if rec.get("results"):
        ran = f"ran against: {', '.join(rec['results'])} (statement {rec['selected_by']})"
    else:
        ran = "not executed by any passing result: nothing ran"
    head = f"[{i}] {where}{in_def}  {rec['operator']}  (occurrence {rec['occurrence']})"
    judged = f"\n    equivalent (listed): {rec['equivalent']}" if rec.get("equivalent") else ""
    return f"{head}\n    {ran}{judged}\n{rec.get('diff', '')}"


def format_plan(selected, totals, plan, traces, selector, modules) -> str:
    """What a run would do: per module, its mutants by how their results were chosen, and the verify work."""
    out = ["Module -> passing results that execute it at run time (fastest first):"]
    out += [f"  {m}: {', '.join(selector.touching(m)) or '(none)'}" for m in modules]
    head = f"{'module':<36} {'total':>6} {'chosen':>6} {'executed':>8} {'import':>6} {'not exec':>8}  worst-case verify"
    out += ["", head, "-" * len(head)]
    grand = 0.0
    for module, mutants in selected.items():
        counts = {"executed": 0, "import": 0, "not executed": 0}
        work = 0.0
        for m in mutants:
            ids, how = plan[m.id]
            counts[how] += 1
            work += sum(_START_SECONDS / 10 + traces[r].seconds for r in ids)  # a survivor runs every result
        grand += work
        out.append(
            f"{module:<36} {totals[module]:>6} {len(mutants):>6} {counts['executed']:>8} {counts['import']:>6}"
            f" {counts['not executed']:>8}  {work / 60:.0f} min"
        )
    out.append(
        f"\nIf every chosen mutant survived: about {grand / 3600:.1f} h of verify at --jobs 1 (kills stop early)."
    )
    return "\n".join(out)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="mutation.py",
        description="Mutation testing of bntheory's library modules against `bntheory verify` (cosmic-ray operators).",
    )
    p.add_argument("--tree", default=str(ROOT), help="repository root to test (copied; never written). Default: here")
    p.add_argument("--modules", nargs="+", default=list(DEFAULT_MODULES), metavar="PATH", help="modules or globs")
    p.add_argument("--operators", nargs="+", default=["core/*"], metavar="GLOB", help="cosmic-ray operators to use")
    p.add_argument(
        "--exclude-operators",
        nargs="*",
        default=list(DEFAULT_EXCLUDE),
        metavar="GLOB",
        help="operators left out (default: those that only raise TypeError on floats; give none to keep all)",
    )
    p.add_argument("--sample", type=int, metavar="N", help="test N mutants, stratified by module (default: all)")
    p.add_argument("--seed", type=int, default=0, help="seed of the sample (default 0)")
    p.add_argument("--size", default="quick", choices=("quick", "default"), help="verify's size (default quick)")
    p.add_argument("--verify-seed", type=int, default=0, help="verify's --seed (default 0)")
    p.add_argument("--timeout", type=float, metavar="S", help="per verify call (default 30 s + 4 x its baseline)")
    p.add_argument("--jobs", type=int, default=1, help="mutants tested at once, each in its own copy (default 1)")
    p.add_argument(
        "--memory-limit", type=float, default=4.0, metavar="GIB", help="address space per verify (default 4; 0: none)"
    )
    p.add_argument("--one-call", action="store_true", help="one verify call with all of a mutant's results")
    p.add_argument("--run-unexecuted", action="store_true", help="also run mutants no passing result executes")
    p.add_argument(
        "--no-unit-tests",
        dest="unit_tests",
        action="store_false",
        help="do not run a module's unit tests on its mutants that survive verify",
    )
    p.add_argument("--state", metavar="DIR", help="journal, coverage maps and copies (default: under the temp dir)")
    p.add_argument("--json", metavar="PATH", help="write the summary, every mutant and every survivor (atomically)")
    p.add_argument(
        "--equivalent",
        default=str(Path(__file__).resolve().parent / "mutation" / "equivalent.toml"),
        metavar="TOML",
        help="survivors judged equivalent, with reasons (default: benchmarks/mutation/equivalent.toml)",
    )
    p.add_argument("--plan", action="store_true", help="map and count only: print what a run would do, run nothing")
    p.add_argument("--no-map", action="store_true", help="do not print the module -> results map")
    return p


def snapshot(tree: Path, state: Path, fp: str) -> Path:
    """A private copy of the tree's package that every job copies and every read uses (the tree may move on)."""
    base = state / "snapshot"
    shutil.rmtree(base, ignore_errors=True)
    base.mkdir(parents=True)
    shutil.copytree(tree / PACKAGE, base / PACKAGE, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    if fingerprint(base) != fp:
        raise SystemExit(f"mutation.py: error: {tree} changed while it was being copied; run again")
    return base


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["_trace"]:
        return _trace_child(argv[1:])
    parser = _parser()
    args = parser.parse_args(argv)
    if args.jobs < 1 or (args.sample is not None and args.sample < 1):
        parser.error("--jobs and --sample must be positive")
    tree = Path(args.tree).resolve()
    if not (tree / PACKAGE / "__init__.py").is_file():
        parser.error(f"--tree: no {PACKAGE}/ package in {tree}")
    wall = time.perf_counter()
    # The default list names modules other sessions may split or remove: there, a missing one is skipped.
    modules = resolve_modules(tree, args.modules, strict=args.modules != list(DEFAULT_MODULES))
    fp = fingerprint(tree)
    state = Path(args.state) if args.state else Path(tempfile.gettempdir()) / f"bntheory-mutation-{fp[:12]}"
    state.mkdir(parents=True, exist_ok=True)
    settings = f"{args.size}-s{args.verify_seed}"
    base = snapshot(tree, state, fp)
    equivalents = load_equivalents(Path(args.equivalent) if args.equivalent else None)

    operators = _operators(args.operators, args.exclude_operators)
    everything: dict[str, list[Mutant]] = {}
    left_out = dict.fromkeys(LEFT_OUT, 0)
    for module in modules:
        everything[module], skipped = enumerate_mutants(base, module, operators)
        for k, v in skipped.items():
            left_out[k] += v
    totals = {m: len(v) for m, v in everything.items()}
    selected = stratified_sample(everything, args.sample, args.seed) if args.sample else everything
    n_selected = sum(len(v) for v in selected.values())

    jobs = [Job(base, state / f"work-{i}", args.memory_limit) for i in range(args.jobs)]
    results = list_results(jobs[0])
    # Every result can change the exit code: a provisional one fails when its checks of the library code fail
    # (only its claim check, the test of the recalled statement, does not gate).
    gating = [rid for rid, _ in results]
    traces = trace_all(jobs, gating, state / f"traces-{fp[:16]}-{settings}", args.size, args.verify_seed)
    selector = Selector(base, traces)
    failing = sorted(r for r, t in traces.items() if not t.passes)

    journal = state / "journal.jsonl"
    done: dict[str, dict] = {}
    # The unit tests are killers too: a change in them must not reuse records made against the old tests.
    kit_fp = _tests_fingerprint(Path(args.tree)) if args.unit_tests else "off"
    key = f"{fp}:{settings}:{args.one_call}:{args.run_unexecuted}:{kit_fp}"
    if journal.exists():
        for text in journal.read_text(encoding="utf-8").splitlines():
            with contextlib.suppress(ValueError, KeyError, TypeError):
                rec = json.loads(text)
                if rec["key"] == key:
                    done[rec["id"]] = rec
    plan = {m.id: selector.select(m, args.run_unexecuted) for v in selected.values() for m in v}
    # A journal record counts only if it was tested against the results this tree's map selects now.
    pending = [m for v in selected.values() for m in v if done.get(m.id, {}).get("results") != plan[m.id][0]]
    for m in pending:
        done.pop(m.id, None)
    if args.plan:
        print(format_plan(selected, totals, plan, traces, selector, modules))
        return 0
    print(
        f"mutation: {tree} (fingerprint {fp[:12]}), {n_selected} of {sum(totals.values())} mutants"
        + (f" (--sample {args.sample}, seed {args.seed})" if args.sample else "")
        + f", {len(pending)} to run, {args.jobs} job(s); state {state}",
        file=sys.stderr,
        flush=True,
    )

    pool: queue.Queue[Job] = queue.Queue()
    for j in jobs:
        pool.put(j)
    lock = threading.Lock()
    counter = [n_selected - len(pending)]
    stopping = threading.Event()  # set on Ctrl-C: runs cut short then are not recorded

    def one(mutant: Mutant) -> None:
        ids, how = plan[mutant.id]
        job = pool.get()
        try:
            rec = test_mutant(job, mutant, ids, how, args, traces)
        finally:
            pool.put(job)
        rec["key"] = key
        with lock:
            if stopping.is_set():
                return
            done[mutant.id] = rec
            with journal.open("a", encoding="utf-8") as f:
                f.write(json.dumps(rec) + "\n")
                f.flush()
                os.fsync(f.fileno())
            counter[0] += 1
            by = f" by {rec['by'][0]}" + (" ..." if len(rec["by"]) > 1 else "") if rec.get("by") else ""
            print(
                f"[{counter[0]}/{n_selected}] {mutant.where} {mutant.operator.split('/')[-1]}: "
                f"{rec['outcome']}{by} ({rec['seconds']:.1f} s, {len(ids)} result(s))",
                file=sys.stderr,
                flush=True,
            )

    ex = ThreadPoolExecutor(args.jobs)
    try:
        for future in [ex.submit(one, m) for m in pending]:
            future.result()
    except KeyboardInterrupt:
        stopping.set()
        ex.shutdown(wait=False, cancel_futures=True)
        Job.kill_all()
        print("\ninterrupted: rerun the same command to resume", file=sys.stderr)
        return 130
    ex.shutdown()

    # Equivalence is a person's judgement, read afresh on every run (not part of the journal).
    source_lines = {m: (base / m).read_text(encoding="utf-8").splitlines() for m in modules}
    chosen = []
    stale = []
    for m in (m for v in selected.values() for m in v if m.id in done):
        rec = dict(done[m.id])
        rec.pop("key", None)
        reason = equivalence(rec, source_lines[m.module][m.line - 1].strip(), equivalents)
        if reason and rec["outcome"] == "survived":
            rec["equivalent"] = reason
        elif reason and rec["outcome"] in ("killed", "timeout"):
            stale.append(rec)
        chosen.append(rec)
    rows = summarize(selected, totals, {r["id"]: r for r in chosen})
    survivors = [r for r in chosen if r["outcome"] == "survived"]
    ran = [r for r in chosen if r["outcome"] in ("killed", "timeout", "survived") and r.get("results")]
    per_mutant = sum(r["seconds"] for r in ran) / len(ran) if ran else 0.0
    share_run = len(ran) / len(chosen) if chosen else 1.0
    estimate = sum(totals.values()) * share_run * per_mutant / args.jobs

    lines = [
        f"Mutation testing of {tree} (fingerprint {fp[:12]}): `bntheory verify {' '.join(_size_args(args.size))}"
        f" --seed {args.verify_seed} --jobs 1 --only <results>` per mutant; cosmic-ray "
        f"{_cosmic_ray_version()}, {len(operators)} operators"
        + (f"; a sample of {n_selected} (seed {args.seed})" if args.sample else "; every mutant"),
        "Left out before counting: " + "; ".join(f"{left_out[k]} {why}" for k, why in LEFT_OUT.items()) + ".",
        f"Provisional results (their claim checks do not gate; their other checks do) ({sum(p for _, p in results)}): "
        + ", ".join(r for r, p in results if p),
        "Results failing unmutated (left out: they would kill everything): " + (", ".join(failing) or "none"),
    ]
    if not args.no_map:
        lines.append("\nModule -> passing results that execute it at run time (fastest first):")
        for module in modules:
            users = selector.touching(module)
            lines.append(f"  {module}: {', '.join(users) if users else '(none)'}")
    lines += ["", format_table(rows), ""]
    lines.append(f"Surviving mutants ({len(survivors)}):" if survivors else "No surviving mutants.")
    lines += [format_survivor(i, r) for i, r in enumerate(survivors, 1)]
    for rec in stale:
        lines.append(f"note: {rec['module']}:{rec['line']} {rec['operator']} is listed as equivalent but was killed")
    elapsed = time.perf_counter() - wall
    lines.append(
        f"\nThis run: {elapsed:.0f} s wall, {len(pending)} mutant(s) tested now, {per_mutant:.1f} s per mutant run. "
        f"At that rate all {sum(totals.values())} mutants take about {estimate / 3600:.1f} h with --jobs {args.jobs}."
    )
    print("\n".join(lines))

    if args.json:
        doc = {
            "tree": str(tree),
            "fingerprint": fp,
            "cosmic_ray": _cosmic_ray_version(),
            "command": ["bntheory", *_verify(["<results>"], args.size, args.verify_seed)[3:]],
            "settings": {k: v for k, v in vars(args).items() if k != "json"},
            "operators": [name for name, _ in operators],
            "left_out": left_out,
            "provisional": [r for r, p in results if p],
            "failing_unmutated": failing,
            "baseline": {r: {"status": t.status, "seconds": round(t.seconds, 3)} for r, t in traces.items()},
            "map": {m: selector.touching(m) for m in modules},
            "summary": rows,
            "survivors": survivors,
            "mutants": chosen,
            "seconds": elapsed,
            "estimate_full_run_seconds": estimate,
        }
        _write_atomic(Path(args.json), json.dumps(doc, indent=1) + "\n")
        print(f"wrote {args.json}")
    return 0


def _tests_fingerprint(tree: Path) -> str:
    """SHA-256 of the unit tests' sources (``tests/*.py``), first 16 hex digits."""
    digest = hashlib.sha256()
    for path in sorted((tree / "tests").glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def _cosmic_ray_version() -> str:
    from importlib.metadata import version

    return version("cosmic-ray")


if __name__ == "__main__":
    sys.exit(main())
