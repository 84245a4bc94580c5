"""A progress bar for a study: tqdm's when it is installed, a plain line per tenth of the runs otherwise."""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterator

__all__ = ["progress_bar"]


@contextlib.contextmanager
def progress_bar(total: int) -> Iterator[Callable[[int, int, dict], None]]:
    """A :data:`~bntheory.study.execute.Progress` callback drawing a bar on stderr over `total` runs."""
    try:
        from tqdm import tqdm
    except ImportError:
        tqdm = None
    if tqdm is not None:
        with tqdm(total=total, unit="run", file=sys.stderr, dynamic_ncols=True) as bar:

            def update(done: int, _total: int, record: dict) -> None:
                bar.update(done - bar.n)

            yield update
        return
    start, shown = time.perf_counter(), [0]

    def line(done: int, _total: int, record: dict) -> None:
        if done == total or done * 10 // max(total, 1) > shown[0]:
            shown[0] = done * 10 // max(total, 1)
            rate = done / max(time.perf_counter() - start, 1e-9)
            print(f"[{done}/{total}] {100 * done // max(total, 1)}% ({rate:.1f} runs/s)", file=sys.stderr, flush=True)

    yield line
