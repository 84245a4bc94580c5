"""``proofs/*.py`` (jupytext percent format) to executed ``notebooks/*.ipynb``.

The proofs are the single source: a notebook is their conversion plus outputs, never edited by hand. A
notebook is *stale* when its cells' sources differ from its proof's; outputs are not compared. Execution
uses nbclient with a per-cell timeout; a failing cell raises :class:`NotebookError` naming the notebook and
the cell, and the previous notebook file is left untouched (files are written atomically). Needs the
``notebooks`` extra (jupytext, nbclient, nbformat, ipykernel).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable
from pathlib import Path

from bntheory._io import write_text_atomic

__all__ = ["NotebookError", "build", "is_stale", "proof_files"]


_SETUP = """\
import io
import matplotlib.figure

def _png(fig):
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return buffer.getvalue()

get_ipython().display_formatter.formatters["image/png"].for_type(matplotlib.figure.Figure, _png)
"""


class NotebookError(RuntimeError):
    """A proof's notebook failed to execute; the message names the notebook, the cell and the error."""


def proof_files(proofs_dir: str | Path, only: Iterable[str] = (), *, sources: Iterable[str] = ()) -> list[Path]:
    """The proof files, all of them or those named by result ids / paper prefixes / file stems in `only`.

    Result ids are looked up among the discovered results, including those of `sources` (``--with``).
    """
    proofs_dir = Path(proofs_dir)
    files = sorted(proofs_dir.glob("*.py"))
    only = list(only)
    if not only:
        return files
    from bntheory import discovery

    wanted: set[str] = set()
    unknown = []
    for key in only:
        stems = {f.stem for f in files if f.stem == key or f.stem.startswith(key + "_")}
        try:
            stems |= {Path(r.proof).stem for r in discovery.get([key], sources) if r.proof}
        except KeyError:
            pass
        if not stems:
            unknown.append(key)
        wanted |= stems
    if unknown:
        raise KeyError(f"no proof for: {', '.join(unknown)}; `ls {proofs_dir}` shows the proofs")
    return [f for f in files if f.stem in wanted]


def _read(proof: Path):
    import jupytext

    nb = jupytext.read(proof)
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    return nb


def is_stale(proof: str | Path, notebook: str | Path) -> bool:
    """Whether `notebook` is missing or its cells differ from `proof`'s (types and sources; outputs ignored)."""
    import nbformat

    notebook = Path(notebook)
    if not notebook.exists():
        return True
    have = nbformat.read(notebook, as_version=4).cells
    want = _read(Path(proof)).cells
    return [(c.cell_type, c.source) for c in have] != [(c.cell_type, c.source) for c in want]


def build(proof: str | Path, out_dir: str | Path, *, timeout: int = 600, progress: bool = True) -> Path:
    """Convert `proof` to a notebook, execute it in a fresh kernel, and write it to `out_dir` atomically.

    Parameters
    ----------
    proof : path
        A ``proofs/*.py`` file in the jupytext percent format.
    out_dir : path
        Where ``<stem>.ipynb`` is written.
    timeout : int
        Per-cell timeout in seconds.
    progress : bool
        Print a dot per executed cell and the time taken to stderr.

    Raises
    ------
    NotebookError
        If a cell raises or times out; the existing notebook, if any, is kept.
    """
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError

    proof = Path(proof)
    nb = _read(proof)
    # A setup cell, executed first and removed before writing: it makes matplotlib Figure objects (the proofs
    # build them without pyplot) display as PNG. The written notebook's cells are exactly the proof's.
    nb.cells.insert(0, nbformat.v4.new_code_cell(_SETUP))
    client = NotebookClient(
        nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(proof.parent.parent)}}
    )
    if progress:
        client.on_cell_executed = lambda **_: print(".", end="", file=sys.stderr, flush=True)
    start = time.perf_counter()
    try:
        client.execute()
    except (CellExecutionError, CellTimeoutError) as exc:
        index = next(
            (
                i - 1
                for i, c in enumerate(nb.cells)
                if any(o.get("output_type") == "error" for o in c.get("outputs", []))
            ),
            None,
        )
        where = f"cell {index}" if index is not None else "a cell"
        first_line = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise NotebookError(f"{proof.stem}.ipynb: {where} failed: {first_line}") from None
    del nb.cells[0]
    if progress:
        print(f" {time.perf_counter() - start:.1f} s", file=sys.stderr, flush=True)
    return write_text_atomic(Path(out_dir) / f"{proof.stem}.ipynb", nbformat.writes(nb))
