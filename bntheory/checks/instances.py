"""Instance generators and layouts shared by checks: what a check builds before it compares."""

from __future__ import annotations

import numpy as np

__all__ = ["channel_major"]


def channel_major(x: np.ndarray) -> np.ndarray:
    """Rearrange an (m, C) or (N, C, *spatial) array to (C, values): one row per channel."""
    return np.moveaxis(np.asarray(x), 1, 0).reshape(x.shape[1], -1)
