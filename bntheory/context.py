r"""The context a check runs in: backend, seed and size, and what follows from them.

A :class:`Context` travels: it holds names and numbers only (the backend by name, resolved to its array
namespace where it is used), so it pickles into worker processes and compares by value. From it a check
takes

* its array namespace, :attr:`Context.xp` (every access is recorded, so the run can report where a check
  actually ran: :attr:`Context.touched`);
* its problem sizes, :meth:`Context.by_size`, instead of inline switches on the size;
* its random numbers, :meth:`Context.rng`: a stream derived from the seed, the result id, the check's name and
  a key, by SHA-256, so no two checks draw the same stream by accident and none depends on the order of checks;
* shared expensive computations, :meth:`Context.memo`, computed once per process and identical for every
  check that asks (their randomness derives from the memo key, not from who asked first).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Literal, TypeVar

import numpy as np

from bntheory import backend as _backend

__all__ = ["SIZES", "Context", "Size"]

Size = Literal["quick", "default", "large"]
#: The problem sizes of a run (``bntheory verify --size``).
SIZES: tuple[str, ...] = ("quick", "default", "large")

T = TypeVar("T")
_MISSING: Any = object()
_MEMO: dict[tuple, Any] = {}


class _Usage:
    """Whether a check touched its backend's namespace (mutable, shared by a check's copies of its context)."""

    __slots__ = ("touched",)

    def __init__(self) -> None:
        self.touched = False

    def __getstate__(self) -> bool:
        return self.touched

    def __setstate__(self, state: bool) -> None:
        self.touched = state


@functools.cache
def _namespace(name: str) -> ModuleType:
    return _backend.namespace(name)


@dataclass(frozen=True)
class Context:
    """Backend, seed and size of a run, and the scope (result, check) that a check's streams derive from.

    Parameters
    ----------
    backend : {"numpy", "torch", "cupy", "array_api_strict"}
        The array backend under test, by name.
    seed : int
        Base seed, a non-negative integer.
    size : {"quick", "default", "large"}
        Problem sizes (``bntheory verify --size``).
    scope : str
        Set by the runner for each check: ``"<result id>"`` or ``"<result id>/<check name>"``.

    Raises
    ------
    ValueError
        If the backend or size is unknown or the seed is not a non-negative integer.
    """

    backend: str = "numpy"
    seed: int = 0
    size: Size = "default"
    scope: str = ""
    _usage: _Usage = field(default_factory=_Usage, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.backend not in _backend.BACKENDS:
            raise ValueError(f"backend: unknown backend {self.backend!r}; choose one of {', '.join(_backend.BACKENDS)}")
        if self.size not in SIZES:
            raise ValueError(f"size: expected one of {', '.join(SIZES)}, got {self.size!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int | np.integer) or self.seed < 0:
            raise ValueError(f"seed: expected a non-negative integer, got {self.seed!r}")

    @classmethod
    def of(cls, backend_name: str, *, seed: int = 0, size: str = "default") -> Context:
        """The context of a run named as on the command line, with the backend checked to be usable here.

        Raises
        ------
        ValueError
            If the size or backend name is unknown.
        bntheory.backend.BackendUnavailableError
            If the backend cannot be used on this machine.
        """
        ctx = cls(backend=backend_name, seed=seed, size=size)  # type: ignore[arg-type]
        _namespace(backend_name)
        return ctx

    @property
    def xp(self) -> ModuleType:
        """The array namespace of the backend under test; using it marks the check as run on that backend."""
        self._usage.touched = True
        return _namespace(self.backend)

    @property
    def touched(self) -> bool:
        """Whether this check used :attr:`xp` (or :meth:`asarray`) so far."""
        return self._usage.touched

    def asarray(self, a: Any, *, dtype: Any = None) -> Any:
        """`a` (NumPy or nested sequences) on the backend under test (:func:`bntheory.backend.asarray`)."""
        return _backend.asarray(a, self.xp, dtype=dtype)

    def scoped(self, scope: str) -> Context:
        """The same run with another scope and a fresh usage record (what the runner hands each check)."""
        return dataclasses.replace(self, scope=scope, _usage=_Usage())

    def by_size(self, *, quick: T = _MISSING, default: T, large: T = _MISSING) -> T:
        """The value for this run's size; `quick` and `large` default to `default`.

        >>> Context(size="quick").by_size(quick=(3, 5), default=(3, 4, 6, 9))
        (3, 5)
        """
        chosen = {"quick": quick, "default": default, "large": large}[self.size]
        return default if chosen is _MISSING else chosen

    def rng(self, key: str = "", *, shared: bool = False) -> np.random.Generator:
        """A generator for this check: seeded by SHA-256 of (seed, result id, check name, `key`).

        Parameters
        ----------
        key : str
            Distinguishes several streams of one check.
        shared : bool
            Derive the stream from the result id and `key` only, so that a check and its negative control
            draw the same instances (the control then differs in its one wrong piece alone).
        """
        scope = self.scope.split("/", 1)[0] if shared else self.scope
        digest = hashlib.sha256(f"{scope}\x1f{key}".encode()).digest()
        return np.random.default_rng([int(self.seed), *np.frombuffer(digest[:16], dtype=np.uint32).tolist()])

    def memo(self, key: str, compute: Callable[[Context], T]) -> T:
        """``compute(ctx)`` once per process for this backend, seed, size and `key`; later calls reuse it.

        `compute` receives a context scoped to ``"memo:<key>"``, so its random streams depend on `key` alone
        and every check that shares the value sees the same one, whichever asked first.
        """
        slot = (self.backend, int(self.seed), self.size, key)
        if slot not in _MEMO:
            inner = self.scoped(f"memo:{key}")
            _MEMO[slot] = (compute(inner), inner.touched)
        value, touched = _MEMO[slot]
        # A check that reuses work done on the backend has run on it too.
        self._usage.touched |= touched
        return value
