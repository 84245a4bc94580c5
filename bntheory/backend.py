"""Array backends: choosing a namespace, moving arrays to it and back.

Array code in bntheory is written once against the Python array API standard and receives its
namespace from :func:`array_api_compat.array_namespace`. This module is the single place that maps a
backend *name* (what a user types on the command line) to a namespace, and that moves arrays across
the host/device edge. Checks create their inputs with NumPy's seeded generator, move them to the
backend with :func:`asarray`, and bring results back with :func:`to_numpy` only at the end.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

import numpy as np

__all__ = ["BACKENDS", "BackendUnavailableError", "asarray", "available", "namespace", "scalar", "to_numpy"]

#: Backend names accepted by :func:`namespace`, in the order the CLI lists them.
BACKENDS: tuple[str, ...] = ("numpy", "torch", "cupy", "array_api_strict")


class BackendUnavailableError(RuntimeError):
    """The requested backend cannot be used on this machine (not installed, or no device)."""


def namespace(name: str) -> ModuleType:
    """Return the array-API namespace of the backend called `name`.

    Parameters
    ----------
    name : {"numpy", "torch", "cupy", "array_api_strict"}
        Backend name. ``torch`` runs on the CPU; ``cupy`` needs a CUDA device.

    Returns
    -------
    module
        An array-API compatible namespace (the ``array_api_compat`` wrapper for NumPy, PyTorch and
        CuPy; ``array_api_strict`` itself).

    Raises
    ------
    ValueError
        If `name` is not one of :data:`BACKENDS`.
    BackendUnavailableError
        If the backend's package is not installed or, for CuPy, no GPU is visible.
    """
    if name not in BACKENDS:
        raise ValueError(f"backend: unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")
    if name == "array_api_strict":
        return _import(name, "pip install array-api-strict")
    if name == "torch":
        _import("torch", "pip install 'bntheory[oracle]'")
    if name == "cupy":
        cupy = _import("cupy", "pip install 'bntheory[gpu]' on a machine with a CUDA GPU")
        try:
            n_devices = cupy.cuda.runtime.getDeviceCount()
        except Exception as exc:  # CuPy raises its own CUDARuntimeError subclasses here
            raise BackendUnavailableError(f"backend 'cupy': no usable CUDA device ({exc})") from exc
        if n_devices == 0:
            raise BackendUnavailableError("backend 'cupy': no CUDA device is visible")
    return importlib.import_module(f"array_api_compat.{name}")


def available() -> tuple[str, ...]:
    """Names of the backends that :func:`namespace` can return on this machine."""
    names = []
    for name in BACKENDS:
        try:
            namespace(name)
        except BackendUnavailableError:
            continue
        names.append(name)
    return tuple(names)


def asarray(a: Any, xp: ModuleType, *, dtype: Any = None) -> Any:
    """Move a NumPy array (or nested sequence) to the namespace `xp`, on its default device.

    `dtype` is a NumPy dtype, a dtype of `xp` itself (such as ``x.dtype`` of an array of that backend), or
    None to keep the input's.
    """
    xp_dtype = None
    if dtype is not None:
        try:
            dtype = np.dtype(dtype)
        except TypeError:  # a dtype object of the target namespace: convert there
            xp_dtype, dtype = dtype, None
    a = np.asarray(a, dtype=dtype)
    out = xp.asarray(a) if xp.__name__ == "array_api_strict" else xp.asarray(a, dtype=getattr(xp, a.dtype.name))
    return out if xp_dtype is None else xp.astype(out, xp_dtype)


def to_numpy(x: Any) -> np.ndarray:
    """Copy an array of any supported backend to a NumPy array on the host."""
    if isinstance(x, np.ndarray | np.generic):
        return np.asarray(x)
    module = type(x).__module__.split(".")[0]
    if module == "torch":
        return x.detach().cpu().numpy()
    if module == "cupy":
        return x.get()
    return np.from_dlpack(x)


def _import(module: str, fix: str) -> ModuleType:
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise BackendUnavailableError(f"backend {module!r} is not installed; {fix}") from exc


def scalar(a: Any) -> float:
    """A 0-d array of any backend as a Python float, without a host copy of an array (a tensor is detached first).

    ``float()`` of the 0-d array itself: the one number that crosses to the host (a device sync on a GPU), where
    :func:`to_numpy` would copy; a PyTorch tensor that requires grad is detached, as ``float()`` warns on it.
    """
    detach = getattr(a, "detach", None)
    return float(detach() if callable(detach) else a)
