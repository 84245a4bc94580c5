"""The study's results as one long table: a row per cell, repetition and iteration, with the environment.

Columns: the cell (``cell`` id, ``problem``, ``problem_params`` and ``method_params`` as canonical JSON),
``repetition``, its seeds, ``iteration``, ``time_s``, one column per measure, the theorem's own error series and
bound factor (``error``, ``error_measure``, ``theorem``, ``q``, ``scale``, ``adversarial``: what the verdicts are
computed from, so a table read back or merged gives the same verdicts), and the environment (versions, backend,
device, git revision, code version). Rows are sorted by cell, repetition and iteration whatever order the runs
finished in, so the same study gives the same table on one core, many, or a cluster.

Written as Parquet when ``pyarrow`` is installed, as CSV otherwise (floats as their shortest round-trip repr:
both read back exactly). :func:`merge` joins partial tables (studies run in pieces, on several machines).
"""

from __future__ import annotations

import csv
import io
import math
import platform
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import bntheory
from bntheory._io import write_bytes_atomic, write_text_atomic
from bntheory.study.measures import MEASURES
from bntheory.study.seeds import canonical
from bntheory.study.spec import Measure

__all__ = ["ENVIRONMENT", "Table", "environment", "merge", "read_table", "results_table"]

_CELL = {
    "study": "str",
    "cell": "str",
    "problem": "str",
    "problem_params": "str",
    "method": "str",
    "method_params": "str",
    "repetition": "int",
    "problem_seed": "int",
    "method_seed": "int",
    "iteration": "int",
    "time_s": "float",
}
_VERDICT = {
    "error": "float",
    "error_measure": "str",
    "theorem": "str",
    "q": "float",
    "scale": "float",
    "adversarial": "bool",
    "error_message": "str",
}
#: The environment columns: the same on every row of a run.
ENVIRONMENT = (
    "bntheory_version",
    "code_version",
    "python",
    "numpy",
    "scipy",
    "backend",
    "device",
    "git_revision",
    "machine",
)
#: Columns that differ between two runs of the same study on different machines or days, not in their numbers.
VARYING = ("time_s", "python", "numpy", "scipy", "git_revision", "machine")
_ORDER = ("study", "problem", "problem_params", "method", "method_params", "repetition", "iteration")


def environment() -> dict[str, str]:
    """Versions, backend, device and git revision of this process (``"unknown"`` where git cannot tell)."""
    import scipy

    from bntheory.study.runs import code_version

    try:
        revision = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(bntheory.__file__).parent,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        revision = "unknown"
    return {
        "bntheory_version": bntheory.__version__,
        "code_version": code_version(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "backend": "numpy",
        "device": "cpu",
        "git_revision": revision or "unknown",
        "machine": platform.machine(),
    }


@dataclass(frozen=True)
class Table:
    """Columns of equal length, by name, with their types (``"str"``, ``"int"``, ``"float"``, ``"bool"``)."""

    columns: dict[str, list]
    types: dict[str, str]

    def __len__(self) -> int:
        return len(next(iter(self.columns.values()))) if self.columns else 0

    def rows(self) -> list[dict]:
        """The rows as dicts."""
        names = list(self.columns)
        return [dict(zip(names, values, strict=True)) for values in zip(*self.columns.values(), strict=True)]

    def same_numbers(self, other: Table, *, ignore: Sequence[str] = VARYING) -> bool:
        """Equal columns and values, NaN equal to NaN, except the `ignore` columns (times and the machine)."""
        if list(self.columns) != list(other.columns) or len(self) != len(other):
            return False
        for name, values in self.columns.items():
            if name in ignore:
                continue
            if self.types[name] == "float":
                if not np.array_equal(np.array(values, float), np.array(other.columns[name], float), equal_nan=True):
                    return False
            elif values != other.columns[name]:
                return False
        return True

    def write(self, path: str | Path, *, fmt: str | None = None) -> Path:
        """Write to `path` (its suffix replaced by ``.parquet`` or ``.csv``), atomically; return the path.

        `fmt` is ``"parquet"`` (needs pyarrow), ``"csv"``, or None: Parquet when pyarrow is installed.
        """
        if fmt is None:
            fmt = "parquet" if _pyarrow() is not None else "csv"
        if fmt not in ("parquet", "csv"):
            raise ValueError(f"fmt: expected 'parquet' or 'csv', got {fmt!r}")
        path = Path(path).with_suffix(f".{fmt}")
        if fmt == "csv":
            buffer = io.StringIO()
            writer = csv.writer(buffer, lineterminator="\n")
            writer.writerow([f"{n}:{self.types[n]}" for n in self.columns])
            writer.writerows(zip(*self.columns.values(), strict=True))
            return write_text_atomic(path, buffer.getvalue())
        pa = _pyarrow()
        if pa is None:
            raise ImportError("fmt='parquet' needs pyarrow: pip install 'bntheory[study]', or write fmt='csv'")
        import pyarrow.parquet as pq

        kinds = {"str": pa.string(), "int": pa.int64(), "float": pa.float64(), "bool": pa.bool_()}
        schema = pa.schema([(n, kinds[self.types[n]]) for n in self.columns])
        sink = pa.BufferOutputStream()
        pq.write_table(pa.table(self.columns, schema=schema), sink)
        return write_bytes_atomic(path, sink.getvalue().to_pybytes())


def _pyarrow():
    try:
        import pyarrow
    except ImportError:
        return None
    return pyarrow


def read_table(path: str | Path) -> Table:
    """Read a table written by :meth:`Table.write` (Parquet or CSV, by suffix)."""
    path = Path(path)
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        data = pq.read_table(path)
        back = {"string": "str", "int64": "int", "double": "float", "bool": "bool"}
        types = {f.name: back[str(f.type)] for f in data.schema}
        return Table({n: data.column(n).to_pylist() for n in data.column_names}, types)
    if path.suffix != ".csv":
        raise ValueError(f"path: expected a .parquet or .csv results table, got {path}")
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        names, types = zip(*(h.rsplit(":", 1) for h in header), strict=True)
        parse = {"str": str, "int": int, "float": float, "bool": lambda s: s == "True"}
        columns: dict[str, list] = {n: [] for n in names}
        for row in reader:
            for n, t, v in zip(names, types, row, strict=True):
                columns[n].append(parse[t](v))
    return Table(columns, dict(zip(names, types, strict=True)))


def _sorted(columns: dict[str, list], types: dict[str, str]) -> Table:
    order = sorted(range(len(columns["cell"])), key=lambda i: tuple(columns[k][i] for k in _ORDER))
    return Table({n: [v[i] for i in order] for n, v in columns.items()}, types)


def results_table(
    study_name: str, records: Sequence[dict], measures: Sequence[Measure], env: dict[str, str] | None = None
) -> Table:
    """The long table of `records` (from :func:`~bntheory.study.execute.execute`), sorted; see the module docstring.

    A run that failed gives one row (iteration 0, NaN measures) carrying its ``error_message``.
    """
    env = environment() if env is None else env
    types = {**_CELL, **{m.column: "float" for m in measures}, **_VERDICT, **dict.fromkeys(ENVIRONMENT, "str")}
    columns: dict[str, list] = {n: [] for n in types}
    for rec in records:
        rows = max(len(rec["error"]), 1)
        values = {m.column: MEASURES[m.name].compute(rec, dict(m.params)) for m in measures}
        cell = rec["cell"]
        fixed = {
            "study": study_name,
            "cell": rec["cell_id"],
            "problem": cell["problem"],
            "problem_params": canonical(cell["problem_params"]),
            "method": cell["method"],
            "method_params": canonical(cell["method_params"]),
            "repetition": rec["repetition"],
            "problem_seed": rec["problem_seed"],
            "method_seed": rec["method_seed"],
            "error_measure": rec["error_measure"],
            "theorem": rec["theorem"] or "",
            "q": rec["q"],
            "scale": rec["scale"],
            "adversarial": rec["adversarial"],
            "error_message": rec["error_message"] or "",
            **env,
            "code_version": rec["code_version"],
        }
        for t in range(rows):
            for name, value in fixed.items():
                columns[name].append(value)
            columns["iteration"].append(t)
            columns["time_s"].append(_at(rec["time_s"], t))
            columns["error"].append(_at(rec["error"], t))
            for name, series in values.items():
                columns[name].append(_at(series, t))
    return _sorted(columns, types)


def _at(series, t: int) -> float:
    return float(series[t]) if t < len(series) else math.nan


def merge(tables: Sequence[Table]) -> Table:
    """One table from partial ones (each a part of the same study): rows of a run given twice must agree.

    Raises
    ------
    ValueError
        If the tables have different columns, or two disagree on a row of the same cell, repetition and iteration
        (other than in its times and machine: a study computed twice with different code).
    """
    if not tables:
        raise ValueError("tables: need at least one table to merge")
    first = tables[0]
    for i, t in enumerate(tables[1:], 1):
        if t.types != first.types:
            raise ValueError(f"tables[{i}]: its columns differ from tables[0]'s; merge parts of one study only")
    kept: dict[tuple, dict] = {}
    for i, t in enumerate(tables):
        for row in t.rows():
            where = (row["cell"], row["repetition"], row["iteration"])
            if where not in kept:
                kept[where] = row
                continue
            other = kept[where]
            for name, value in row.items():
                if name not in VARYING and not _same(value, other[name]):
                    raise ValueError(
                        f"tables[{i}]: cell {where[0]}, repetition {where[1]}, iteration {where[2]} has {name} = "
                        f"{value!r}, another table {other[name]!r}; they were computed by different code"
                    )
    columns = {n: [row[n] for row in kept.values()] for n in first.types}
    return _sorted(columns, dict(first.types))


def _same(a: object, b: object) -> bool:
    return a == b or (isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b))
