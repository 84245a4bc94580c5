r"""Instances for the checks of the BN transform, its statistics and the landscape measures.

Each generator draws from a :class:`numpy.random.Generator` handed in by the check (``ctx.rng``), so the
instances of a check and its negative control are the same draws when both use a shared stream.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from bntheory import backend
from bntheory.context import Context

__all__ = [
    "array_paths",
    "bn_batch",
    "channel_major",
    "drifting_batches",
    "gaussian_batches",
    "narrow_batch",
    "quadratic",
    "running_statistics",
]


def array_paths(ctx: Context) -> list[tuple[str, Callable[[np.ndarray], Any]]]:
    """Where a check evaluates the transform: the run's backend, and array_api_strict too on a NumPy run.

    Returns ``(label, asarray)`` pairs. On NumPy arrays :mod:`bntheory.norms.batch` runs its fused kernel
    (:mod:`bntheory.norms._batch_kernels`) and bypasses its portable array-API path, the one every other backend
    runs; the
    second entry, present when ``array_api_strict`` is installed, keeps that path checked in a NumPy run too.
    """
    paths: list[tuple[str, Callable[[np.ndarray], Any]]] = [(ctx.backend, ctx.asarray)]
    if ctx.backend == "numpy":
        try:
            strict = backend.namespace("array_api_strict")
        except backend.BackendUnavailableError:
            return paths
        paths.append(("array_api_strict", lambda a: backend.asarray(a, strict)))
    return paths


def bn_batch(rng: np.random.Generator, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""A batch ``x`` of `shape` with a random offset and scale, and per-channel :math:`\gamma,\beta`.

    The offset :math:`\sim\mathcal U(-3,3)` and scale :math:`\sim\mathcal U(0.5,3)` keep the batch statistics
    away from 0 and 1 (so a formula that forgets to centre or to scale is visible); :math:`|\gamma|\in[0.5,2]`
    with a random sign, :math:`\beta\sim\mathcal N(0,1)`.

    Raises
    ------
    ValueError
        If `shape` has fewer than 2 axes (the channel axis is axis 1).
    """
    if len(shape) < 2:
        raise ValueError(f"shape: need (m, C) or (N, C, *spatial), got {shape}")
    channels = shape[1]
    x = rng.normal(rng.uniform(-3, 3), rng.uniform(0.5, 3), size=shape)
    gamma = rng.uniform(0.5, 2.0, channels) * rng.choice([-1.0, 1.0], channels)
    beta = rng.normal(size=channels)
    return x, gamma, beta


def narrow_batch(
    rng: np.random.Generator, shape: tuple[int, ...], spread: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r""":func:`bn_batch` with `x` mapped affinely to mean 1 and standard deviation `spread` (all channels alike).

    Every channel then has :math:`\mu^2/\sigma^2\approx1/\mathrm{spread}^2` with a variance far from 1: one-pass
    sums :math:`\frac1m\sum x^2-\mu^2` lose about :math:`\log_{10}(\mu^2/\sigma^2)` digits there, the regime where
    the NumPy kernel must take its centred two-pass path (:mod:`bntheory.norms._batch_kernels`). Every value lies in
    :math:`[1/2, 2]`, so ``x - 1`` is exact in floating point (Sterbenz): an oracle evaluated at the centred batch
    ``x - 1`` computes BN and its gradients at `x` (they are invariant under a shift of a channel) without the
    cancellation.

    Raises
    ------
    ValueError
        If `spread` is not in (0, 0.05] (wider batches would leave [1/2, 2]).
    """
    if not 0 < spread <= 0.05:
        raise ValueError(f"spread: need a standard deviation in (0, 0.05], got {spread}")
    x, gamma, beta = bn_batch(rng, shape)
    # Clipped at 10 standard deviations (never reached by a Gaussian draw of this size), so x stays in [1/2, 2].
    return 1.0 + spread * np.clip((x - x.mean()) / x.std(), -10, 10), gamma, beta


def running_statistics(rng: np.random.Generator, channels: int) -> tuple[np.ndarray, np.ndarray]:
    r"""Fixed (running or population) statistics, one per channel.

    Mean :math:`\sim\mathcal N(0,1)`, variance :math:`\sim\mathcal U(0.1,4)`. Returns ``(mean, var)``, each of
    shape ``(channels,)``.
    """
    return rng.normal(size=channels), rng.uniform(0.1, 4, channels)


def drifting_batches(rng: np.random.Generator, steps: int) -> list[np.ndarray]:
    r"""`steps` training batches of one shape, ``(6, 3)`` or ``(3, 3, 2, 2)`` at random, with drifting statistics.

    Each batch has its own offset :math:`\sim\mathcal U(-1,1)` and scale :math:`\sim\mathcal U(0.5,2)`, as
    the activations of a layer drift during training.
    """
    if steps < 1:
        raise ValueError(f"steps: need at least one batch, got {steps}")
    shape = (6, 3) if rng.integers(2) else (3, 3, 2, 2)
    return [rng.normal(rng.uniform(-1, 1), rng.uniform(0.5, 2), size=shape) for _ in range(steps)]


def gaussian_batches(
    rng: np.random.Generator, batches: int, shape: tuple[int, ...]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""`batches` i.i.d. mini-batches of `shape` from :math:`\mathcal N(\mu_c,\tau_c^2)` per channel c.

    Returns the data, shape ``(batches, *shape)``, and the true :math:`\mu` and :math:`\tau`
    (:math:`\mu_c\sim\mathcal U(-2,2)`, :math:`\tau_c\sim\mathcal U(0.5,2)`).
    """
    if batches < 1 or len(shape) < 2:
        raise ValueError(f"batches, shape: need >= 1 batch of (m, C) or (N, C, *spatial), got {batches}, {shape}")
    channels = shape[1]
    mu, tau = rng.uniform(-2, 2, channels), rng.uniform(0.5, 2, channels)
    per_channel = (1, channels) + (1,) * (len(shape) - 2)
    data = mu.reshape(per_channel) + tau.reshape(per_channel) * rng.normal(size=(batches, *shape))
    return data, mu, tau


def quadratic(rng: np.random.Generator, p: int) -> tuple[np.ndarray, np.ndarray]:
    r"""A positive definite :math:`Q=BB^\top/p+\mathrm{diag}(u)` and a point :math:`\theta\sim\mathcal N(0,I_p)`.

    :math:`B` has i.i.d. standard normal entries and :math:`u\sim\mathcal U(0,3)^p`.
    """
    B = rng.normal(size=(p, p))
    Q = B @ B.T / p + np.diag(rng.uniform(0, 3, p))
    return Q, rng.normal(size=p)


def channel_major(x: np.ndarray) -> np.ndarray:
    """Rearrange an (m, C) or (N, C, *spatial) array to (C, values): one row per channel."""
    return np.moveaxis(np.asarray(x), 1, 0).reshape(x.shape[1], -1)
