"""PyTorch (and NumPy's BLAS) on one thread for small computations, with the caller's setting restored afterwards.

The networks of the curvature checks and the oracles are tiny (at most a few hundred parameters); on a loaded
machine PyTorch's thread pool costs far more than it saves (a 6-unit BN network's backward pass: 50 ms with two
threads under load, 0.1 ms with one; a 25-layer deep-linear-network gradient: 2.3 s against 3 ms).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from typing import TypeVar

__all__ = ["one_blas_thread", "one_thread", "single_threaded"]

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
    instead of 0.05 s. The libraries are looked up once per process (:func:`_blas`), not per block.
    """
    with _blas().limit(limits=1, user_api="blas"):
        yield


@functools.cache
def _blas():
    """The ``threadpoolctl`` controller of this process, found at the first call.

    A fresh ``threadpool_limits`` scans every loaded shared library again: 6 ms a call in a run with matplotlib
    and SciPy loaded, longer than the 276 x 276 ``eigvalsh`` it guards. NumPy's BLAS, the one NumPy's ``linalg``
    calls, is loaded with NumPy, so before any caller, and the controller holds it.
    """
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def single_threaded(fn: F) -> F:
    """Decorator: run `fn` inside :func:`one_thread`."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with one_thread():
            return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
