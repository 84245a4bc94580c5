"""The channel layout shared by every BN computation: (m, C) or (N, C, *spatial), channel axis 1."""

from __future__ import annotations

import math
from typing import Any

__all__ = ["channel_shape", "reduction_axes", "values_per_channel"]


def reduction_axes(ndim: int) -> tuple[int, ...]:
    """Axes a channel's statistics are taken over: every axis but the channel axis 1."""
    return (0, *range(2, ndim))


def channel_shape(ndim: int, channels: int) -> tuple[int, ...]:
    """Shape that broadcasts a per-channel vector against an array of rank `ndim`."""
    return (1, channels) + (1,) * (ndim - 2)


def values_per_channel(x: Any) -> int:
    """Number of values a channel's statistics are taken over (m, or N*H*W for images)."""
    return math.prod(x.shape) // x.shape[1] if x.shape[1] else 0
