"""PyTorch (and NumPy's BLAS) on one thread for small computations, with the caller's setting restored afterwards.

The networks of the curvature checks and the oracles are tiny (at most a few hundred parameters); on a loaded
machine PyTorch's thread pool costs far more than it saves (a 6-unit BN network's backward pass: 50 ms with two
threads under load, 0.1 ms with one; a 25-layer deep-linear-network gradient: 2.3 s against 3 ms).
"""

from __future__ import annotations

import contextlib
import functools
import sys
from collections.abc import Callable, Iterator
from typing import TypeVar

__all__ = ["one_blas_thread", "one_thread", "single_threaded", "thread_pools"]

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


@contextlib.contextmanager
def one_blas_thread() -> Iterator[None]:
    """Hold NumPy's BLAS to one thread inside the block (``threadpoolctl``), for its dense eigensolvers.

    Next to PyTorch's OpenMP pool a two-thread OpenBLAS ``eigvalsh`` of a 412 x 412 matrix was measured at 3-5 s
    instead of 0.05 s. The libraries are looked up once per process (:func:`thread_pools`), not per block.
    """
    with thread_pools().limit(limits=1, user_api="blas"):
        yield


def thread_pools():
    """The ``threadpoolctl`` controller of the BLAS and OpenMP pools loaded in this process, found once.

    A fresh ``threadpool_limits`` scans every loaded shared library again: 2.5-6 ms a call in a run with
    matplotlib and SciPy loaded, longer than many of the computations it guards. NumPy's BLAS is loaded with NumPy,
    before any caller; the pools are found again once PyTorch has loaded (its own OpenMP), the one library a check
    may load later.
    """
    return _controller("torch" in sys.modules)


@functools.cache
def _controller(torch_loaded: bool):
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def single_threaded(fn: F) -> F:
    """Decorator: run `fn` inside :func:`one_thread`."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with one_thread():
            return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
