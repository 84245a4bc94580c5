"""PyTorch on one intra-op thread for small computations, with the caller's setting restored afterwards.

The networks of the curvature checks and the oracles are tiny (at most a few hundred parameters); on a loaded
machine PyTorch's thread pool costs far more than it saves (a 6-unit BN network's backward pass: 50 ms with two
threads under load, 0.1 ms with one; a 25-layer deep-linear-network gradient: 2.3 s against 3 ms).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from typing import TypeVar

__all__ = ["one_thread", "single_threaded"]

F = TypeVar("F", bound=Callable)


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Hold PyTorch to one intra-op thread inside the block (imports PyTorch)."""
    try:
        import torch
    except ImportError as exc:
        raise ImportError("this needs PyTorch: pip install 'bntheory[oracle]'") from exc

    threads = torch.get_num_threads()
    if threads == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def single_threaded(fn: F) -> F:
    """Decorator: run `fn` inside :func:`one_thread`."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with one_thread():
            return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
