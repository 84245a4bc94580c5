r"""Keras 3 ``BatchNormalization``, run (THEORY-2.md §11.4).

Keras picks its backend once, at import, from ``KERAS_BACKEND``; where Keras is not imported yet this module
selects ``numpy`` (the backend that needs no accelerator stack; it imports jax for some ops). The layer itself
runs on that backend. The variance kernel of the other backends (``keras.src.backend.<name>.nn.moments``, what
the layer's ``call`` uses for the batch statistics) is called directly (:func:`batch_variance`).

Keras's conventions: :math:`\hat r\leftarrow q\,\hat r+(1-q)\,v_{\mathcal B}` (momentum :math:`q` weighs the old
value), the biased batch variance stored, :math:`\epsilon=10^{-3}` by default.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import numpy as np

__all__ = ["BACKENDS", "batch_variance", "keras", "moving_statistics", "outputs", "precision"]

#: The backends whose variance kernel :func:`batch_variance` can run (jax where installed).
BACKENDS: tuple[str, ...] = ("numpy", "torch", "jax")


def keras() -> Any:
    """The ``keras`` module, imported with the numpy backend unless the process chose one already."""
    if "keras" not in sys.modules:
        os.environ.setdefault("KERAS_BACKEND", "numpy")
    try:
        import keras as module
    except ImportError as exc:
        raise ImportError(f"this needs Keras 3: pip install 'bntheory[libraries]' ({exc})") from exc
    return module


def _numpy(value) -> np.ndarray:
    """A Keras tensor or variable as a float64 NumPy array.

    A variable's ``__array__`` predates NumPy 2's ``copy`` keyword (a DeprecationWarning, an error under
    ``-W error``), so its backend value is read instead.
    """
    value = getattr(value, "value", value)
    return np.array(keras().ops.convert_to_numpy(value), dtype=np.float64)


def _layer(dtype: str, momentum: float, channels: int):
    k = keras()
    layer = k.layers.BatchNormalization(momentum=momentum, dtype=dtype)
    layer.build((None, channels))
    return layer


def moving_statistics(batches, *, momentum: float = 0.99) -> tuple[np.ndarray, np.ndarray]:
    r"""``moving_mean`` and ``moving_variance`` of a float32 layer after one training call per batch.

    ``layer(x, training=True)`` is what a training step does to the layer's statistics. `batches`: (m, C) arrays
    (cast to float32). Starts from Keras's initial values, mean 0 and variance 1.
    """
    batches = [np.asarray(b, dtype=np.float32) for b in batches]
    if not batches or any(b.ndim != 2 or b.shape[1] != batches[0].shape[1] for b in batches):
        raise ValueError("batches: expected a non-empty list of (m, C) arrays with one C")
    layer = _layer("float32", momentum, batches[0].shape[1])
    for b in batches:
        layer(b, training=True)
    return _numpy(layer.moving_mean), _numpy(layer.moving_variance)


def outputs(batches, x_test, *, momentum: float = 0.99) -> tuple[np.ndarray, np.ndarray, tuple]:
    r"""The float32 layer's training output on the last batch and its inference output on `x_test`.

    After one training call per batch. Returns ``(train_output, inference_output, (moving_mean,
    moving_variance))``, as float64 arrays of the float32 values; :math:`\gamma=1`, :math:`\beta=0` (initial).
    """
    batches = [np.asarray(b, dtype=np.float32) for b in batches]
    layer = _layer("float32", momentum, batches[0].shape[1])
    for b in batches:
        train = layer(b, training=True)
    infer = layer(np.asarray(x_test, dtype=np.float32), training=False)
    stats = (_numpy(layer.moving_mean), _numpy(layer.moving_variance))
    return _numpy(train), _numpy(infer), stats


def precision(x) -> tuple[np.ndarray, str, str]:
    r"""A ``dtype="float64"`` layer's training output on float64 `x`, its dtype, and Keras's float64+float32 type.

    Keras 3.15 promotes ``result_type("float64", "float32")`` to float32 (keras-team/keras#23704), so the layer
    computes in float32 and returns float32-representable values in a float64 array.
    """
    k = keras()
    x = np.asarray(x, dtype=np.float64)
    layer = _layer("float64", 0.99, x.shape[1])
    y = np.asarray(layer(x, training=True))
    return y.astype(np.float64), str(y.dtype), str(k.backend.result_type("float64", "float32"))


def batch_variance(x, backend: str) -> tuple[np.ndarray, str]:
    r"""The batch variance Keras computes on `backend` for float32 `x` (m, C), and how it was obtained.

    On the backend Keras runs on: ``moving_variance`` of a layer with momentum 0 after one training call (moving =
    batch statistics). On another: that backend's ``nn.moments(x, axes=[0])``, the kernel the layer calls. The
    numpy and torch kernels use the one-pass :math:`\mathrm E[x^2]-\mathrm E[x]^2` (catastrophic cancellation at
    large means, THEORY-2.md §11.4); jax a two-pass variance.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend: expected one of {BACKENDS}, got {backend!r}")
    k = keras()
    x = np.asarray(x, dtype=np.float32)
    if backend == k.backend.backend():
        layer = _layer("float32", 0.0, x.shape[1])
        with np.errstate(invalid="ignore"):  # sqrt of a negative variance: the NaN output is part of the finding
            y = _numpy(layer(x, training=True))
        nan = "NaN in the output" if np.isnan(y).any() else "finite output"
        return _numpy(layer.moving_variance), f"layer (keras {backend} backend, {nan})"
    if backend == "torch":
        import torch
        from keras.src.backend.torch import nn

        var = nn.moments(torch.from_numpy(x), axes=[0])[1].numpy()
    elif backend == "jax":
        from keras.src.backend.jax import nn

        var = nn.moments(x, axes=[0])[1]
    else:
        from keras.src.backend.numpy import nn

        var = nn.moments(x, axes=[0])[1]
    return np.asarray(var, dtype=np.float64), f"keras.src.backend.{backend}.nn.moments"
