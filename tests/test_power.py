"""A check must be able to fail: poisoned library functions fail their results, and results modules only state and wire.

* Every registered result names the library functions it puts to the test (``under_test``); replacing each
  with one that returns NaN (everywhere that function is referenced) must make the result fail.
* Results modules define no function that does not take the Context, accumulate no worst case with the
  builtin ``max``/``min`` (which drop NaN), keep no hand-seeded generators or caches, and switch on the size only
  through ``ctx.by_size``.
* A check's declared backends are the ones it uses (checked in tests/test_registry.py on array-api-strict).
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import math
import pkgutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import bntheory.context
import bntheory.results
from bntheory.context import Context
from bntheory.run import run

RESULTS = bntheory.results.all_results()
IDS = [r.id for r in RESULTS]
RESULT_FILES = sorted(Path(bntheory.results.__file__).parent.glob("[!_]*.py"))


def _poisoned(value):
    """`value` with every float replaced by NaN: arrays of any backend, tuples, dataclasses, floats."""
    if isinstance(value, float | np.floating):
        return math.nan
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        kind = getattr(value.dtype, "kind", None) or str(value.dtype)
        return value * math.nan if kind in ("f", "c") or "float" in str(kind) else value
    if isinstance(value, tuple):
        return type(value)(*map(_poisoned, value)) if hasattr(value, "_fields") else tuple(map(_poisoned, value))
    if isinstance(value, list):
        return [_poisoned(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: _poisoned(getattr(value, f.name)) for f in dataclasses.fields(value) if f.init}
        return dataclasses.replace(value, **fields)
    return value


def _resolve(dotted: str):
    module_name, _, attr = dotted.rpartition(".")
    try:
        owner = importlib.import_module(module_name)
    except ModuleNotFoundError:  # a method: "module.Class.method"
        module_name, _, cls = module_name.rpartition(".")
        owner = getattr(importlib.import_module(module_name), cls)
    return owner, attr


@pytest.mark.parametrize("result", RESULTS, ids=IDS)
def test_a_poisoned_function_under_test_fails_the_result(result, monkeypatch):
    assert result.under_test, f"{result.id}: name the library functions its checks test (register(under_test=...))"
    for dotted in result.under_test:
        owner, attr = _resolve(dotted)
        original = getattr(owner, attr)

        def poisoned(*args, __original=original, **kwargs):
            return _poisoned(__original(*args, **kwargs))

        with monkeypatch.context() as patch:
            # A memo filled before (or during) the poisoned run must neither hide the poison nor outlive it.
            patch.setattr(bntheory.context, "_MEMO", {})
            patch.setattr(owner, attr, poisoned)
            # `from module import f` made copies of the reference: replace those too.
            for module in [m for name, m in sys.modules.items() if name.startswith("bntheory") and m is not None]:
                for name, value in list(vars(module).items()):
                    if value is original:
                        patch.setattr(module, name, poisoned)
            rep = run(result, Context(size="quick"))
        # Not only the claim: a "not reproduced" result already fails its claim, so the machinery must fail too.
        assert not rep.machinery_holds, f"{result.id} still holds with {dotted} returning NaN"


def _module_ast(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


@pytest.mark.parametrize("path", RESULT_FILES, ids=[p.stem for p in RESULT_FILES])
def test_results_modules_only_state_and_wire(path):
    tree = _module_ast(path)
    problems = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            args = node.args.posonlyargs + node.args.args
            if not args or args[0].arg != "ctx":
                problems.append(f"line {node.lineno}: {node.name}() does not take the Context first (library code?)")
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("max", "min"):
            problems.append(f"line {node.lineno}: builtin {node.func.id}() drops NaN; use checks.compare.worst/Worst")
        if isinstance(node, ast.Attribute) and node.attr in ("lru_cache", "cache", "default_rng"):
            problems.append(f"line {node.lineno}: {node.attr}: use ctx.memo / ctx.rng")
        if isinstance(node, ast.Compare) and isinstance(node.left, ast.Attribute) and node.left.attr == "size":
            problems.append(f"line {node.lineno}: switch on the size with ctx.by_size")
    assert not problems, "\n".join(problems)


#: Discovery and the commands: they find results for the user, so they sit above results/.
FRONT = {"cli.py", "discovery.py", "notebooks.py", "pytest_plugin.py"}


def test_the_library_is_below_the_results():
    """Nothing but the commands imports results/ (data flows one way), statically or at run time."""
    package = Path(bntheory.results.__file__).parent.parent
    offenders = []
    for path in package.rglob("*.py"):
        if "results" in path.parts or path.name in FRONT:
            continue
        for node in ast.walk(_module_ast(path)):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "import_module" and node.args:
                names = [getattr(node.args[0], "value", "")]
            if any(str(n).startswith("bntheory.results") for n in names):
                offenders.append(f"{path.relative_to(package)}:{node.lineno}")
    assert not offenders, offenders
    # At run time: the library, the registry, the runner and the report import without the results.
    names = [
        ".".join(("bntheory", *path.relative_to(package).with_suffix("").parts)).removesuffix(".__init__")
        for path in sorted(package.rglob("*.py"))
        if "results" not in path.parts and path.name not in FRONT and path.name != "__main__.py"
    ]
    code = (
        f"import importlib, sys; [importlib.import_module(n) for n in {names!r}]; "
        "print(sorted(m for m in sys.modules if m.startswith('bntheory.results')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", out


def test_every_results_module_is_discovered():
    found = {info.name for info in pkgutil.iter_modules(bntheory.results.__path__)}
    assert found == {p.stem for p in RESULT_FILES}
