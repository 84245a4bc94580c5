r"""Instances for the transfer matrix (THEORY-2.md §9.4): one sample's groups, their gains, and their directions.

LayerNorm, GroupNorm, InstanceNorm and RMSNorm normalize *groups* of entries of one sample (§9.1). A check of a
transferred statement builds one sample of a given layout (:class:`SampleLayout`), views it as its groups (one
group per row) for the library's right sides, and hands the sample in its own shape to PyTorch's native kernel for
the independent left side. What the groups are is written here from §9.1's table, not read from
:mod:`bntheory.norms`.

:func:`linear_chain` is the oracle of T5's mechanism: the *linear* chain that a per-sample normalization's chain
equals column by column, up to one positive scale per column.

References
----------
THEORY-2.md §9.1 (groups), §9.2 (closed-form backward), §9.4 (the transfer matrix, T1/T2, T5).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from array_api_compat import array_namespace, is_array_api_obj

__all__ = ["SampleLayout", "linear_chain", "orthogonal_in_group", "sample_layout"]


@dataclass(frozen=True)
class SampleLayout:
    r"""One sample of a per-sample normalization and the groups its statistics are taken over.

    Attributes
    ----------
    kind : {"layer", "rms", "group", "instance"}
    shape : tuple of int
        The sample as PyTorch's kernel sees it: ``(1, m)`` (LayerNorm, RMSNorm over the features) or
        ``(1, C, S)`` (GroupNorm with `groups` groups of consecutive channels, InstanceNorm).
    gains : int
        Number of gain parameters: ``m`` (elementwise) or ``C`` (per channel).
    groups : int
        Number of normalization groups in the sample.
    """

    kind: str
    shape: tuple[int, ...]
    gains: int
    groups: int

    @property
    def size(self) -> int:
        """Entries of the sample."""
        return int(np.prod(self.shape))

    @property
    def m(self) -> int:
        """Entries of one group."""
        return self.size // self.groups

    @property
    def center(self) -> bool:
        """False for RMSNorm."""
        return self.kind != "rms"

    def grouped(self, a: Any) -> Any:
        """The sample's entries as ``(groups, m)``: consecutive channels form a group (§9.1).

        `a` is one flat sample ``(size,)``, or a batch of them ``(..., size)`` in any array namespace (the attack's
        batches), which gives ``(..., groups, m)``.
        """
        a = _array(a)
        return array_namespace(a).reshape(a, (*a.shape[:-1], self.groups, self.m))

    def gain(self, gamma: Any) -> Any:
        """The gain of every entry, ``(..., groups, m)``: elementwise, or each channel's repeated over its positions.

        `gamma` has :attr:`gains` entries along its last axis (leading axes: a batch of samples, as in :meth:`grouped`).
        """
        gamma = _array(gamma)
        if self.gains != self.size:
            xp, per = array_namespace(gamma), self.size // self.gains
            gamma = xp.reshape(xp.broadcast_to(gamma[..., None], (*gamma.shape, per)), (*gamma.shape[:-1], self.size))
        return self.grouped(gamma)

    def torch_args(self) -> dict[str, int]:
        """`trailing` and `groups` for :func:`~bntheory.checks.oracles.normalizations.torch_normalization`."""
        return {"trailing": 1, "groups": self.groups if self.kind == "group" else 1}


def _array(a: Any) -> Any:
    """`a` itself if it is an array of some namespace (NumPy, CuPy, torch), else a float64 NumPy array of it."""
    return a if is_array_api_obj(a) and not isinstance(a, np.ndarray) else np.asarray(a, np.float64)


def sample_layout(kind: str, m: int, channels: int = 2) -> SampleLayout:
    """The :class:`SampleLayout` of `kind` with groups of `m` entries (`channels` per group for GroupNorm).

    GroupNorm: two groups of `channels` channels each, ``m / channels`` positions; InstanceNorm: two channels of
    `m` positions each (one group per channel); LayerNorm and RMSNorm: one group of `m` features.

    Raises
    ------
    ValueError
        If `kind` is unknown, or GroupNorm's `m` is not a multiple of `channels`.
    """
    if kind in ("layer", "rms"):
        return SampleLayout(kind, (1, m), m, 1)
    if kind == "group":
        if m % channels:
            raise ValueError(f"m: GroupNorm's group of {channels} channels needs m divisible by it, got {m}")
        return SampleLayout(kind, (1, 2 * channels, m // channels), 2 * channels, 2)
    if kind == "instance":
        return SampleLayout(kind, (1, 2, m), 2, 2)
    raise ValueError(f"kind: expected 'layer', 'rms', 'group' or 'instance', got {kind!r}")


def orthogonal_in_group(x: np.ndarray, rng: np.random.Generator, *, center: bool) -> np.ndarray:
    r"""A random direction in each group (row) orthogonal to :math:`\mathbf 1` and :math:`x` (RMSNorm: to :math:`x`).

    Along such a direction a centred group keeps its mean and :math:`s(t)^2=s^2+t^2\|v\|^2/m` (Theorem 4.2's
    setting, THEORY-2.md §9.4 T2); orthogonality to :math:`x-\mu\mathbf 1` is orthogonality to :math:`\hat x`.
    """
    x = np.asarray(x, np.float64)
    w = rng.normal(size=x.shape)
    if center:
        w = w - w.mean(axis=-1, keepdims=True)
        x = x - x.mean(axis=-1, keepdims=True)
    return w - np.sum(w * x, axis=-1, keepdims=True) / np.sum(x * x, axis=-1, keepdims=True) * x


def linear_chain(rng: np.random.Generator, H0: np.ndarray, depth: int, kind: str) -> np.ndarray:
    r"""The linear chain that the chain of per-sample `kind` follows column by column (THEORY-2.md §9.4, T5) [D].

    A per-sample normalization maps each column on its own by an affine map common to all columns and a
    per-column scale: LayerNorm :math:`z\mapsto C_dz/s(z)` (:math:`C_d=I-\mathbf 1\mathbf 1^\top/d`), RMSNorm
    :math:`z\mapsto z/r(z)`; weight normalization rescales the rows of :math:`W` by factors independent of the
    batch. So the columns' directions follow the linear chain :math:`\prod_\ell M_\ell H_0` with
    :math:`M_\ell=C_dW_\ell`, :math:`W_\ell`, or :math:`D_\ell W_\ell` (unit rows), and collapse as the plain chain
    does. The weights are drawn from `rng` as :func:`bntheory.representations.deep_network` draws them with
    ``weights="uniform"`` (one :math:`d\times d` matrix of :math:`U[-\sqrt3,\sqrt3]/\sqrt d` per layer), so a
    generator in the same state gives the same matrices. Returns the final batch, each column of unit norm.

    Raises
    ------
    ValueError
        If `kind` is not ``"layer"``, ``"rms"`` or ``"weight"``.
    """
    if kind not in ("layer", "rms", "weight"):
        raise ValueError(f"kind: expected 'layer', 'rms' or 'weight', got {kind!r}")
    H = np.asarray(H0, np.float64)
    d = H.shape[-2]
    center = np.eye(d) - np.full((d, d), 1 / d)
    for _ in range(depth):
        W = rng.uniform(-np.sqrt(3.0), np.sqrt(3.0), (d, d)) * np.sqrt(1 / d)
        if kind == "layer":
            W = center @ W
        elif kind == "weight":
            W = W / np.linalg.norm(W, axis=1, keepdims=True)
        H = W @ H
        H = H / np.linalg.norm(H, axis=0, keepdims=True)  # directions only: the per-column scales drop out
    return H
