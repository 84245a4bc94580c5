r"""Instances for the checks of Santurkar et al.'s §4 statements: batches, directions, downstream functions, networks.

The statements of §4 see the loss behind one BN unit only through :math:`g=\partial\hat{\mathcal L}/\partial z` and
:math:`H=\partial^2\hat{\mathcal L}/\partial z^2` at the BN output (THEORY.md §2.3), so a check may range over a
generic smooth *downstream* function :math:`F(z)=a^\top z+\tfrac12z^\top Qz+\sum_ic_i\sin z_i`
(:class:`Downstream`), whose gradient and Hessian at any point are arbitrary, and add real networks
(:class:`BNMLP`). What a check builds here, it builds before it compares: the right sides under test receive
these values, the independent oracles (:mod:`bntheory.checks.oracles`) differentiate the same function.

References
----------
Santurkar, Tsipras, Ilyas & Madry 2018, "How does batch normalization help optimization?", NeurIPS,
arXiv:1805.11604, §4 (THEORY.md §2.3-§2.8).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import mpmath
import numpy as np
from array_api_compat import array_namespace, is_array_api_obj

__all__ = [
    "BNMLP",
    "Downstream",
    "aligned_batch",
    "dot",
    "dot2",
    "draw_batch",
    "first",
    "normalized",
    "orthogonal_to_1_and",
    "per_batch",
    "random_bn_mlp",
    "variance",
]


def draw_batch(rng: np.random.Generator, m: int) -> np.ndarray:
    """A batch of `m` reals: Gaussian with a mean uniform in [-2, 2] and a scale uniform in [0.3, 3].

    Raises
    ------
    ValueError
        If `m` < 2 (BN needs two samples).
    """
    if m < 2:
        raise ValueError(f"m: a BN batch needs at least 2 samples, got {m}")
    return rng.normal(rng.uniform(-2, 2), rng.uniform(0.3, 3), m)


def normalized(y: Any, eps: Any = 0.0) -> tuple[Any, Any]:
    r""":math:`\hat y=(y-\mu\mathbf 1)/s` and :math:`s=\sqrt{\sigma^2+\epsilon}` (biased :math:`\sigma`).

    `y` has its batch entries along the last axis, ``(..., m)``, in any array namespace (leading axes are
    independent instances); `eps` is a scalar or one value per instance, shape ``(...)``. Returns :math:`\hat y`
    of `y`'s shape and :math:`s` of shape ``(...)`` (a float for one NumPy instance and a scalar `eps`).

    Raises
    ------
    ValueError
        If `y` has fewer than 2 entries along its last axis, or an `eps` < 0.
    """
    if not is_array_api_obj(y):
        y = np.asarray(y, dtype=np.float64)
    xp = array_namespace(y)
    if y.ndim < 1 or y.shape[-1] < 2:
        raise ValueError(f"y: expected batches of at least 2 entries along the last axis, got shape {tuple(y.shape)}")
    if not bool(xp.all(xp.asarray(eps) >= 0)):
        raise ValueError(f"eps: must be >= 0, got {eps}")
    centered = y - xp.mean(y, axis=-1, keepdims=True)
    s = xp.sqrt(xp.mean(centered * centered, axis=-1) + eps)
    if y.ndim == 1 and isinstance(y, np.ndarray) and np.ndim(eps) == 0:
        s = float(s)
    return centered / (s if y.ndim == 1 else s[..., None]), s


def orthogonal_to_1_and(v: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    r"""A random vector orthogonal to :math:`\mathbf 1` and to `v` (projected, so `v` need not be centred).

    Parameters
    ----------
    v : ndarray, shape (m,)
        A non-constant vector (for example a centred batch or :math:`\hat y`).
    rng : numpy.random.Generator

    Raises
    ------
    ValueError
        If `v` is constant (then :math:`\{\mathbf 1,v\}` spans one dimension only).
    """
    v = np.asarray(v, dtype=np.float64)
    centred = v - v.mean()
    if not centred @ centred > 0:
        raise ValueError("v: must not be constant (its centred part spans the second direction)")
    w = rng.normal(size=v.size)
    w -= w.mean()
    return w - (w @ centred) / (centred @ centred) * centred


@dataclass(frozen=True)
class Downstream:
    r"""The downstream function :math:`F(z)=a^\top z+\tfrac12z^\top Qz+\sum_ic_i\sin z_i` of a BN unit's output.

    Its gradient :math:`a+Qz+c\odot\cos z` and Hessian :math:`Q-\operatorname{diag}(c\odot\sin z)` are the
    :math:`g` and :math:`H` of Santurkar et al.'s statements; :meth:`torch` and :meth:`mp` evaluate :math:`F` for
    the autograd and mpmath oracles, which differentiate it themselves. Array-API code: the coefficients may carry
    leading batch axes (one function per instance, in any namespace); :meth:`mp` takes one instance on the host.

    Attributes
    ----------
    a, c : array, shape (..., m)
    Q : array, shape (..., m, m), or None
        Symmetrised on construction (only the symmetric part enters :math:`F`); None for no quadratic part
        (:meth:`linear_sine`, which then costs nothing).
    """

    a: Any
    Q: Any
    c: Any

    def __post_init__(self) -> None:
        a, c = (v if is_array_api_obj(v) else np.asarray(v, np.float64) for v in (self.a, self.c))
        Q = self.Q if self.Q is None or is_array_api_obj(self.Q) else np.asarray(self.Q, np.float64)
        if a.ndim < 1 or c.shape != a.shape or (Q is not None and Q.shape != (*a.shape, a.shape[-1])):
            shape = None if Q is None else Q.shape
            raise ValueError(
                f"a, Q, c: expected shapes (..., m), (..., m, m), (..., m), got {a.shape}, {shape}, {c.shape}"
            )
        object.__setattr__(self, "a", a)
        object.__setattr__(self, "c", c)
        object.__setattr__(self, "Q", None if Q is None else (Q + array_namespace(Q).matrix_transpose(Q)) / 2)

    @classmethod
    def linear_sine(cls, a: Any, c: Any) -> Downstream:
        r""":math:`F(z)=a^\top z+\sum_ic_i\sin z_i` (no quadratic part)."""
        return cls(a, None, c)

    def grad(self, z: Any) -> Any:
        r""":math:`\nabla F(z)=a+Qz+c\odot\cos z`, shape (..., m)."""
        xp = array_namespace(z)
        out = self.a + self.c * xp.cos(z)
        # A broadcast product and a sum rather than a batched matmul: faster on small matrices in any layout.
        return out if self.Q is None else out + xp.sum(self.Q * z[..., None, :], axis=-1)

    def hess(self, z: Any) -> Any:
        r""":math:`\nabla^2F(z)=Q-\operatorname{diag}(c\odot\sin z)`, shape (..., m, m)."""
        xp = array_namespace(z)
        diagonal = (self.c * xp.sin(z))[..., None] * xp.eye(z.shape[-1], dtype=z.dtype)
        return -diagonal if self.Q is None else self.Q - diagonal

    def torch(self, z):
        """:math:`F(z)` for a float64 torch tensor `z` (..., m), one value per instance (any order of derivatives)."""
        import torch

        from bntheory.checks.oracles.autograd import as_tensor

        a, c = (as_tensor(v).to(z.device) for v in (self.a, self.c))
        out = (z * a).sum(-1) + (c * torch.sin(z)).sum(-1)
        if self.Q is None:
            return out
        Q = as_tensor(self.Q).to(z.device)
        return out + 0.5 * (z * (Q * z[..., None, :]).sum(-1)).sum(-1)

    def mp(self, z: Sequence) -> Any:
        """:math:`F(z)` in mpmath at the working precision, for one instance (`z` a sequence of mpf)."""
        m = len(z)
        a, c = np.asarray(self.a), np.asarray(self.c)
        linear = mpmath.fsum(ai * zi for ai, zi in zip(a, z, strict=True))
        sine = mpmath.fsum(ci * mpmath.sin(zi) for ci, zi in zip(c, z, strict=True))
        if self.Q is None:
            return linear + sine
        Q = np.asarray(self.Q)
        quadratic = mpmath.fsum(Q[i, j] * z[i] * z[j] for i in range(m) for j in range(m) if Q[i, j])
        return linear + quadratic / 2 + sine


def aligned_batch(y: np.ndarray, direction: np.ndarray, d: int) -> np.ndarray:
    r"""The :math:`(m,d)` input batch :math:`X=[y,\ 2\|y\|\,u/\|u\|,\ 0,\dots]` of Theorem 4.4's equality case.

    With weights :math:`W_j=e_1` the unit sees :math:`y=XW_j`. When `direction` :math:`u` is
    :math:`\nabla_y\hat{\mathcal L}` at :math:`\epsilon=0`, it is orthogonal to :math:`\mathbf 1` and :math:`\hat y`,
    hence to :math:`y`; then :math:`X^\top X=\operatorname{diag}(\|y\|^2,4\|y\|^2,0,\dots)`, the top left singular
    vector of :math:`X` is :math:`u/\|u\|` with :math:`\|X\|_2=2\|y\|=\lambda`, and
    :math:`\|X^\top u\|^2=\lambda^2\|u\|^2`: the operator-norm step of Theorem 4.4 holds with equality
    (THEORY.md §2.7).

    Raises
    ------
    ValueError
        If `d` < 2, the shapes differ, or `direction` is 0.
    """
    y, u = np.asarray(y, dtype=np.float64), np.asarray(direction, dtype=np.float64)
    if d < 2:
        raise ValueError(f"d: the aligned batch needs at least 2 input dimensions, got {d}")
    if y.shape != u.shape or y.ndim != 1:
        raise ValueError(f"y, direction: expected two vectors of one length, got {y.shape} and {u.shape}")
    norm = np.linalg.norm(u)
    if not norm > 0:
        raise ValueError("direction: must be non-zero")
    X = np.zeros((y.size, d))
    X[:, 0], X[:, 1] = y, 2 * np.linalg.norm(y) * u / norm
    return X


def dot(a: Any, b: Any) -> Any:
    """The inner product along the last axis, one per instance of the leading axes (any array namespace)."""
    return array_namespace(a, b).sum(a * b, axis=-1)


def dot2(a: Any) -> Any:
    """The squared norm along the last axis, one per instance (any array namespace)."""
    return dot(a, a)


def variance(y: Any) -> Any:
    r"""The biased variance along the last axis (a BN batch's :math:`\sigma^2`), one per instance."""
    return array_namespace(y).var(y, axis=-1)


def first(fn: Callable[[Mapping[str, Any]], Any], instance: Mapping[str, np.ndarray]) -> Any:
    """``fn(batch)[0]`` for a function of a batch, at one host instance (a NumPy batch of one).

    How a high-precision left side, which works on one instance, reuses what a spec computes for a batch (the
    downstream function, the direction of a quadratic form).
    """
    out = fn({k: np.asarray(x)[None, ...] for k, x in instance.items()})
    if isinstance(out, Mapping):
        return {k: v[0] if hasattr(v, "shape") and getattr(v, "ndim", 0) else v for k, v in out.items()}
    return out[0]


def per_batch(fn: Callable[[Mapping[str, Any]], Any]) -> Callable[[Mapping[str, Any]], Any]:
    """Wrap ``fn(values)`` so that consecutive calls on the same batch (the same mapping object) compute once.

    An :class:`~bntheory.checks.inequality.Inequality` evaluates its left side, right side and scale one after
    the other on one batch of instances (one mapping); what they share (an autograd pass, the downstream
    gradient) is then computed once. Only the last batch is kept; it is recognised by identity, which costs
    nothing for a million instances (hashing their bytes would not).
    """
    last: dict[str, Any] = {}

    def wrapped(values: Mapping[str, Any]) -> Any:
        if last.get("values") is not values:
            last["values"], last["value"] = values, fn(values)
        return last["value"]

    return wrapped


@dataclass(frozen=True)
class BNMLP:
    r"""A small network :math:`X\to W\to\mathrm{BN}_\epsilon(\gamma,\beta)\to\tanh\to V\to` MSE, samples in rows.

    Attributes
    ----------
    X : ndarray, shape (m, d)
        Input batch.
    W : ndarray, shape (d, k)
        Weights of the linear layer before BN (unit :math:`j` sees :math:`y_j=XW_{:,j}`).
    gamma, beta : ndarray, shape (k,)
        BN scale and shift.
    V : ndarray, shape (k, o)
        Output layer.
    target : ndarray, shape (m, o)
        Regression target of the mean squared error.
    """

    X: np.ndarray
    W: np.ndarray
    gamma: np.ndarray
    beta: np.ndarray
    V: np.ndarray
    target: np.ndarray


def random_bn_mlp(rng: np.random.Generator, m: int, d: int, k: int, outputs: int = 3) -> BNMLP:
    """A random :class:`BNMLP` with batch `m`, `d` inputs, `k` BN units and `outputs` outputs.

    Raises
    ------
    ValueError
        If `m` < 2 or a dimension is below 1.
    """
    if m < 2 or min(d, k, outputs) < 1:
        raise ValueError(f"m, d, k, outputs: need m >= 2 and positive dimensions, got {m}, {d}, {k}, {outputs}")
    return BNMLP(
        X=rng.normal(size=(m, d)) * rng.uniform(0.5, 2),
        W=rng.normal(size=(d, k)),
        gamma=rng.uniform(0.5, 2, k) * rng.choice([-1, 1], k),
        beta=rng.normal(size=k),
        V=rng.normal(size=(k, outputs)),
        target=rng.normal(size=(m, outputs)),
    )
