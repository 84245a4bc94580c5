r"""SGD and GD with heavy-ball momentum and weight decay on scale-invariant parameters, batched over runs.

The iteration is PyTorch's ``torch.optim.SGD`` (dampening 0, no Nesterov), as in Wan et al. 2021 and
THEORY-2.md §10.4:

.. math::

    v_t = \alpha\,v_{t-1} + \nabla\ell(w_t;\xi_t) + \lambda\,w_t,\qquad w_{t+1} = w_t - \eta_t\,v_t ,

with :math:`v_{-1}=0` unless an initial buffer is given (the weight-decay-free equivalent of Li & Arora 2020
needs one), momentum :math:`\alpha`, weight decay :math:`\lambda` and any learning-rate schedule
:math:`\eta_t=\eta\,s_t` (:func:`exponential_schedule` gives Li & Arora's :math:`s_t=\alpha^{-2t-1}`). Plain
(S)GD is :math:`\alpha=0`.

Runs are batched along a leading axis (seeds x grid points): `w0` is ``(R, d)`` and the step size, momentum,
weight decay and schedule may differ per run. The loop stays on the array backend of `w0` (NumPy, PyTorch,
CuPy, array-api-strict): no array is copied to the host inside it. The samples :math:`\xi_t` come from
NumPy generators, one per run and seeded explicitly, and travel to the backend in chunks of steps, so a run's
trajectory depends on its seed alone (not on the batch it is in, nor on the backend).

Trace (:class:`SGDTrace`): :math:`\|w_t\|`, the angular update :math:`\Delta_t=\angle(w_t,w_{t+1})`, the
effective rate :math:`\eta_t/\|w_t\|^2` (THEORY-2.md §10.2), the unit-gradient norm
:math:`\|\tilde g_t\|^2=\|w_t\|^2\|g_t\|^2` and the integrand of Wan et al.'s :math:`L_t`.

References
----------
Z. Li and S. Arora, "An exponential learning rate schedule for deep learning", ICLR 2020, arXiv:1910.07454
(THEORY-2.md §10.4: the paper's theorem is [R]; the GD and heavy-ball forms used here are [D]).
R. Wan, Z. Zhu, X. Zhang and J. Sun, "Spherical motion dynamics: learning dynamics of normalized neural network
using SGD and weight decay", NeurIPS 2021, arXiv:2006.08419 (THEORY-2.md §10.6: Theorems 1-3 [P]).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from array_api_compat import array_namespace, device

from bntheory._validation import (
    NonFiniteError,
    check_bool,
    check_float_array,
    check_int,
    check_numbers,
    check_same_dtype,
)
from bntheory.backend import to_numpy

__all__ = [
    "ExponentialLR",
    "NoisyLinear",
    "SGDResult",
    "SGDTrace",
    "StochasticObjective",
    "angular_update",
    "equilibrium_norm",
    "exponential_lr_equivalent",
    "exponential_schedule",
    "sgd",
]

Array = Any


class StochasticObjective(Protocol):
    r"""What :func:`sgd` needs from a loss :math:`\ell(w;\xi)` of a batch of runs ``w`` of shape ``(R, d)``."""

    def draw(self, rngs: Sequence[np.random.Generator] | None, steps: int, runs: int) -> np.ndarray | None:
        r"""Host samples :math:`\xi_t` for `steps` steps of `runs` runs, shape ``(steps, runs, ...)``.

        ``rngs[r]`` is run r's generator (None when no seeds were given); None for a deterministic loss.
        """

    def gradient(self, w: Array, sample: Array | None) -> Array:
        r""":math:`\nabla_w\ell(w;\xi)` for every run, an array like `w`; `sample` is one step's ``draw`` row."""


@dataclass(frozen=True)
class NoisyLinear:
    r"""The noisy scale-invariant loss :math:`\ell(w;\xi)=-\xi^\top w/\|w\|` (THEORY-2.md §10.6).

    .. math::

        \nabla_w\ell(w;\xi)=-\frac{1}{\|w\|}\Big(I-\frac{ww^\top}{\|w\|^2}\Big)\xi,\qquad
        \xi\sim\mathcal N(m,\ \sigma^2I_d),

    exactly scale invariant (:math:`\ell(cw;\xi)=\ell(w;\xi)`, :math:`\nabla\ell(cw)=\nabla\ell(w)/c`, and the
    gradient is orthogonal to :math:`w`); the unit gradient :math:`\tilde g=\|w\|\nabla\ell` has
    :math:`\mathrm E\|\tilde g\|^2=(d-1)\sigma^2+\|m\|^2-(u^\top m)^2`, bounded away from 0 when :math:`\sigma>0`
    (Wan et al.'s assumption 4). :math:`\sigma=0` is the deterministic loss :math:`-m^\top w/\|w\|`.

    Attributes
    ----------
    mean : array-like, shape (d,) or (R, d)
        :math:`m`, one for all runs or one per run.
    scale : float or array-like, shape (R,)
        :math:`\sigma\ge0`, one for all runs or one per run.
    """

    mean: Any
    scale: Any = 1.0

    def __post_init__(self) -> None:
        mean = np.asarray(self.mean, dtype=np.float64)
        scale = np.asarray(self.scale, dtype=np.float64)
        if mean.ndim not in (1, 2) or mean.shape[-1] < 2 or not np.all(np.isfinite(mean)):
            raise ValueError(f"mean: expected a finite (d,) or (R, d) array with d >= 2, got shape {mean.shape}")
        if scale.ndim > 1 or not np.all(np.isfinite(scale)) or np.any(scale < 0):
            raise ValueError(f"scale: expected a noise level >= 0, one or one per run, got {self.scale!r}")
        object.__setattr__(self, "mean", mean)
        object.__setattr__(self, "scale", scale)

    @property
    def d(self) -> int:
        """The number of weights."""
        return int(self.mean.shape[-1])

    def draw(self, rngs: Sequence[np.random.Generator] | None, steps: int, runs: int) -> np.ndarray:
        r""":math:`\xi_t` for each run, shape ``(steps, runs, d)``: ``mean + scale * N(0, I)`` from ``rngs[r]``."""
        mean = np.broadcast_to(self.mean, (runs, self.d))
        scale = np.broadcast_to(self.scale, (runs,))
        if not np.any(scale):
            return np.broadcast_to(mean, (steps, runs, self.d))
        if rngs is None:
            raise ValueError("seeds: a noisy objective (scale > 0) needs one seed per run; pass seeds=[...]")
        noise = np.stack([rng.standard_normal((steps, self.d)) for rng in rngs], axis=1)
        return mean + scale[:, None] * noise

    def samples(self, seeds: Sequence[int] | None, steps: int) -> np.ndarray:
        r"""The samples :func:`sgd` draws for runs seeded with `seeds`, shape ``(steps, len(seeds), d)``.

        The generators are consumed in order, so drawing all steps at once gives what :func:`sgd` draws chunk by
        chunk: an oracle can replay a run's samples.
        """
        runs = 1 if seeds is None else len(seeds)
        return self.draw(None if seeds is None else [np.random.default_rng(int(s)) for s in seeds], steps, runs)

    def value(self, w: Array, sample: Array) -> Array:
        r""":math:`\ell(w;\xi)=-\xi^\top w/\|w\|` per run, shape ``(R,)``."""
        xp = array_namespace(w, sample)
        return -xp.vecdot(sample, w) / xp.sqrt(xp.vecdot(w, w))

    def gradient(self, w: Array, sample: Array) -> Array:
        r""":math:`-(\xi-(\xi^\top u)u)/\|w\|` per run, :math:`u=w/\|w\|`."""
        xp = array_namespace(w, sample)
        norm2 = xp.vecdot(w, w)[:, None]
        return (xp.vecdot(sample, w)[:, None] / norm2 * w - sample) / xp.sqrt(norm2)


@dataclass(frozen=True)
class SGDTrace:
    r"""Per-step record of a batch of runs (NumPy arrays; axis 0 is the step t, axis 1 the run).

    Attributes
    ----------
    norm : shape (T + 1, R)
        :math:`\|w_t\|`, t = 0..T.
    angular_update : shape (T, R)
        :math:`\Delta_t=\angle(w_t,w_{t+1})` in radians, by Kahan's triangle formula from :math:`\|w_t\|`,
        :math:`\|w_{t+1}\|` and :math:`\|w_{t+1}-w_t\|=\eta_t\|v_t\|` (accurate to a few ulp at any angle).
    effective_rate : shape (T, R)
        :math:`\eta_t/\|w_t\|^2`, the step of the equivalent motion on the unit sphere (THEORY-2.md §10.2).
    unit_grad_sq : shape (T, R)
        :math:`\|\tilde g_t\|^2=\|w_t\|^2\|\nabla\ell(w_t;\xi_t)\|^2`.
    momentum_term : shape (T, R)
        :math:`(\|g_t\|^2+2\alpha\langle v_{t-1},g_t\rangle)\|w_t\|^2`, whose mean is :math:`L_t` of Wan et al.'s
        Theorem 2 (:math:`\|\tilde g_t\|^2` for :math:`\alpha=0`, Theorem 1).
    lr : shape (T, R)
        :math:`\eta_t`.
    """

    norm: np.ndarray
    angular_update: np.ndarray
    effective_rate: np.ndarray
    unit_grad_sq: np.ndarray
    momentum_term: np.ndarray
    lr: np.ndarray


@dataclass(frozen=True)
class SGDResult:
    r"""The final iterates and buffers (on the backend), the trace, and the path when it was kept.

    Attributes
    ----------
    w, buffer : array, shape (R, d)
        :math:`w_T` and :math:`v_{T-1}` (the initial buffer when T = 0).
    trace : SGDTrace
    path : array of shape (T + 1, R, d), or None
        :math:`w_0,\dots,w_T` on the backend (``keep_path=True``).
    """

    w: Array
    buffer: Array
    trace: SGDTrace
    path: Array | None


def _rate(name: str, value: Any, *, low: float, high: float = math.inf, open_low: bool, open_high: bool = True):
    """`value` as a float64 array (any shape), every entry finite and in the stated interval."""
    arr = check_numbers(value, name)
    above = arr > low if open_low else arr >= low
    below = arr < high if open_high else arr <= high
    if not np.all(np.isfinite(arr) & above & below):
        interval = f"{'(' if open_low else '['}{low:g}, {high:g}{')' if open_high else ']'}"
        raise ValueError(f"{name}: every value must lie in {interval}, got {value!r}; pass values in {interval}")
    return arr


def _together(**arrays: np.ndarray) -> None:
    """Refuse per-run values whose shapes do not broadcast (one per run each, the same runs)."""
    try:
        np.broadcast_shapes(*(a.shape for a in arrays.values()))
    except ValueError:
        shapes = ", ".join(f"{k} {a.shape}" for k, a in arrays.items())
        raise ValueError(
            f"{', '.join(arrays)}: shapes {shapes} do not broadcast; pass one value per run each"
        ) from None


def _per_run(name: str, value: Any, runs: int, *, low: float, high: float = math.inf, open_low: bool) -> np.ndarray:
    """`value` as a float64 array of shape (runs,), each entry finite and in the stated range."""
    arr = check_numbers(value, name)
    if arr.ndim > 1 or (arr.ndim == 1 and arr.shape != (runs,)):
        raise ValueError(
            f"{name}: expected a number or one per run (shape ({runs},)), got shape {arr.shape}; pass {runs} values"
        )
    return np.broadcast_to(_rate(name, arr, low=low, high=high, open_low=open_low), (runs,))


def _kahan_angle(a: Array, b: Array, c: Array, xp: Any) -> Array:
    r"""The angle opposite side `c` of the triangle with sides `a`, `b`, `c`, accurate to a few ulp.

    Kahan, "Miscalculating area and angles of a needle-like triangle" (2014), §12: also for needle-like
    triangles, where :math:`\arccos((a^2+b^2-c^2)/2ab)` loses half the digits.
    """
    big, small = xp.maximum(a, b), xp.minimum(a, b)
    mu = xp.where(small >= c, c - (big - small), small - (big - c))
    num = ((big - small) + c) * mu
    den = (big + (small + c)) * ((big - c) + small)
    return 2 * xp.atan(xp.sqrt(xp.clip(num, 0, None) / den))


def sgd(
    objective: StochasticObjective,
    w0: Array,
    *,
    lr: float | Sequence[float] | np.ndarray,
    steps: int,
    momentum: float | Sequence[float] | np.ndarray = 0.0,
    weight_decay: float | Sequence[float] | np.ndarray = 0.0,
    schedule: Sequence[float] | np.ndarray | None = None,
    buffer0: Array | None = None,
    seeds: Sequence[int] | None = None,
    keep_path: bool = False,
    chunk: int = 1024,
) -> SGDResult:
    r"""Run heavy-ball SGD with weight decay (PyTorch convention) on a batch of runs; see the module docstring.

    .. math:: v_t=\alpha v_{t-1}+\nabla\ell(w_t;\xi_t)+\lambda w_t,\qquad w_{t+1}=w_t-\eta\,s_t\,v_t

    Parameters
    ----------
    objective : StochasticObjective
        The loss (e.g. :class:`NoisyLinear`); scale invariance is the objective's property, not assumed here.
    w0 : array, shape (R, d) or (d,)
        Starting points, one row per run, on the backend the loop runs on; a (d,) vector is one run.
    lr : float or array-like, shape (R,)
        :math:`\eta>0`.
    steps : int
        :math:`T\ge0`.
    momentum : float or array-like, shape (R,)
        :math:`\alpha\in[0,1)`.
    weight_decay : float or array-like, shape (R,)
        :math:`\lambda\ge0`.
    schedule : array-like, shape (T,) or (T, R), optional
        Positive multipliers :math:`s_t` of the step (:func:`exponential_schedule`); None: :math:`s_t=1`.
    buffer0 : array, shape (R, d), optional
        :math:`v_{-1}` (default 0: PyTorch's first step).
    seeds : sequence of int, optional
        One seed per run for the objective's samples (``numpy.random.default_rng(seed)``); needed when the
        objective is noisy.
    keep_path : bool
        Keep every iterate (:attr:`SGDResult.path`; memory T R d).
    chunk : int
        Steps of samples drawn and moved to the backend at a time (host-to-device, never device-to-host).

    Returns
    -------
    SGDResult

    Raises
    ------
    ValueError
        If a parameter is out of range or of the wrong shape, `w0` has a zero or non-finite row (the direction
        of a scale-invariant parameter is undefined at 0), or a noisy objective gets no seeds.

    Examples
    --------
    >>> import numpy as np
    >>> loss = NoisyLinear(np.r_[2.0, np.zeros(7)], scale=1.0)
    >>> run = sgd(loss, np.eye(8)[:2], lr=0.1, weight_decay=0.05, momentum=[0.0, 0.5], steps=3000, seeds=[0, 1])
    >>> rms = np.sqrt(np.mean(run.trace.angular_update[1500:] ** 2, axis=0))
    >>> np.round(rms / angular_update(0.1, 0.05, np.array([0.0, 0.5])), 2)
    array([1., 1.])
    """
    if not (callable(getattr(objective, "draw", None)) and callable(getattr(objective, "gradient", None))):
        raise TypeError(
            f"objective: expected a StochasticObjective (draw and gradient methods), got {type(objective).__name__}; "
            "pass for example NoisyLinear(mean, scale)"
        )
    xp = check_float_array(w0, "w0", finite=True)
    shape0 = tuple(w0.shape)
    if w0.ndim == 1:
        w0 = xp.reshape(w0, (1, w0.shape[0]))
    if w0.ndim != 2 or 0 in tuple(w0.shape):
        raise ValueError(f"w0: expected shape (R, d) or (d,), non-empty, got {shape0}; pass one row per run")
    d = getattr(objective, "d", None)
    if d is not None and w0.shape[1] != d:
        raise ValueError(f"w0: the objective has d = {d} weights, got shape {shape0}; pass rows of {d} entries")
    if not bool(xp.all(xp.vecdot(w0, w0) > 0)):
        raise ValueError("w0: a run starts at 0, where the direction w/||w|| is undefined; pass non-zero starts")
    runs = int(w0.shape[0])
    steps = check_int(steps, "steps", minimum=0)
    chunk = check_int(chunk, "chunk", minimum=1)
    keep_path = check_bool(keep_path, "keep_path")
    eta = _per_run("lr", lr, runs, low=0.0, open_low=True)
    alpha = _per_run("momentum", momentum, runs, low=0.0, high=1.0, open_low=False)
    lam = _per_run("weight_decay", weight_decay, runs, low=0.0, open_low=False)
    factors = np.ones((steps, runs))
    if schedule is not None:
        s = check_numbers(schedule, "schedule")
        if s.shape not in ((steps,), (steps, runs)) or not np.all(np.isfinite(s) & (s > 0)):
            raise ValueError(
                f"schedule: expected positive finite multipliers of shape ({steps},) or ({steps}, {runs}), got shape "
                f"{s.shape}; pass one per step (exponential_schedule)"
            )
        factors = np.broadcast_to(s.reshape(steps, -1), (steps, runs))
    if seeds is not None:
        if isinstance(seeds, str) or not isinstance(seeds, Sequence | np.ndarray):
            raise TypeError(f"seeds: expected a sequence of ints, got {type(seeds).__name__}; pass a list of ints")
        if len(seeds) != runs:
            raise ValueError(f"seeds: expected one seed per run ({runs}), got {len(seeds)}; pass {runs} seeds")
        seeds = [check_int(seed, f"seeds[{i}]", minimum=0) for i, seed in enumerate(seeds)]
    rngs = None if seeds is None else [np.random.default_rng(seed) for seed in seeds]

    def on_backend(a: np.ndarray) -> Array:
        # Contiguous and writable (broadcast views are read-only, which PyTorch warns about): copied only if needed.
        return xp.asarray(np.require(a, requirements=["C", "W"]), dtype=w0.dtype, device=device(w0))

    lr_steps = eta * factors
    # Everything the loop reads is on the backend before it starts: per-run constants as (R, 1) columns.
    lr_dev, alpha_dev, lam_dev = on_backend(lr_steps[:, :, None]), on_backend(alpha[:, None]), on_backend(lam[:, None])
    if buffer0 is None:
        v = xp.zeros_like(w0)
    else:
        check_float_array(buffer0, "buffer0", finite=True)
        check_same_dtype(buffer0, "buffer0", w0)
        if tuple(buffer0.shape) != shape0:
            raise ValueError(
                f"buffer0: expected the shape of w0, {shape0}, got {tuple(buffer0.shape)}; pass one row per run"
            )
        v = xp.reshape(buffer0, tuple(w0.shape))
    w = w0
    norm2, grad2, cross, step2, path = [], [], [], [], [w0]
    samples = None
    for t in range(steps):
        if t % chunk == 0:
            drawn = objective.draw(rngs, min(chunk, steps - t), runs)
            samples = None if drawn is None else on_backend(drawn)
        g = objective.gradient(w, None if samples is None else samples[t % chunk, ...])
        norm2.append(xp.vecdot(w, w))
        grad2.append(xp.vecdot(g, g))
        cross.append(xp.vecdot(v, g))
        v = alpha_dev * v + g + lam_dev * w
        step2.append(xp.vecdot(v, v))
        w = w - lr_dev[t, ...] * v
        if keep_path:
            path.append(w)
    norm2.append(xp.vecdot(w, w))
    norms = xp.sqrt(xp.stack(norm2))
    if steps:
        g2, vg = xp.stack(grad2), xp.stack(cross)
        lr_col = lr_dev[..., 0]
        # ||w_{t+1} - w_t|| = eta_t ||v_t||: the side opposite the angle, without forming the difference.
        angle = _kahan_angle(norms[:-1, ...], norms[1:, ...], lr_col * xp.sqrt(xp.stack(step2)), xp)
        n2 = norms[:-1, ...] ** 2
        rows = (angle, lr_col / n2, g2 * n2, (g2 + 2 * alpha_dev[:, 0] * vg) * n2)
        angle, rate, unit, term = (to_numpy(r) for r in rows)
    else:
        angle = rate = unit = term = np.zeros((0, runs))
    trace = SGDTrace(to_numpy(norms), angle, rate, unit, term, np.array(lr_steps))
    return SGDResult(w, v, trace, xp.stack(path) if keep_path else None)


def exponential_schedule(base: float | np.ndarray, steps: int) -> np.ndarray:
    r"""Li & Arora's multipliers :math:`s_t=\text{base}^{-2t-1}`, t = 0..steps-1, shape (steps,) or (steps, R).

    With base :math:`1-\eta\lambda` (GD) or the root :math:`\alpha` of :func:`exponential_lr_equivalent`
    (heavy ball), the weight-decay-free run with step :math:`\eta s_t` follows the run with weight decay
    (THEORY-2.md §10.4). Computed as ``exp(-(2t+1) log base)`` in float64.
    """
    b = _rate("base", base, low=0.0, open_low=True)
    if b.ndim > 1:
        raise ValueError(f"base: expected a number or one per run, got shape {b.shape}; pass a vector")
    steps = check_int(steps, "steps", minimum=0)
    t = np.arange(steps, dtype=np.float64).reshape((steps,) + (1,) * b.ndim)
    with np.errstate(over="ignore"):
        multipliers = np.exp(-(2 * t + 1) * np.log(b))
    if not np.all(np.isfinite(multipliers)):
        raise NonFiniteError(
            f"base, steps: base^-(2t+1) overflows float64 within {steps} steps; shorten steps or take base nearer 1"
        )
    return multipliers


@dataclass(frozen=True)
class ExponentialLR:
    r"""The weight-decay-free equivalent of a run with weight decay (Li & Arora 2020; THEORY-2.md §10.4 [D]).

    Attributes
    ----------
    alpha : float or ndarray
        The root :math:`\alpha` of :math:`z^2-(1+\gamma-\lambda\eta)z+\gamma=0` (:math:`1-\eta\lambda` for GD):
        :math:`\tilde w_t=\alpha^{-t}w_t`.
    schedule : ndarray, shape (T,) or (T, R)
        :math:`\alpha^{-2t-1}`, the multipliers of the step :math:`\eta`.
    buffer_factor : float or ndarray
        :math:`(\alpha-1)/(\eta\alpha)`: the WD-free run starts with buffer :math:`\tilde b_0=` ``buffer_factor``
        :math:`\cdot\,w_0` (not 0).
    """

    alpha: float | np.ndarray
    schedule: np.ndarray
    buffer_factor: float | np.ndarray


def exponential_lr_equivalent(
    lr: float | np.ndarray,
    weight_decay: float | np.ndarray,
    momentum: float | np.ndarray = 0.0,
    *,
    steps: int,
    root: str = "larger",
) -> ExponentialLR:
    r"""Li & Arora's exponential schedule equivalent to weight decay (THEORY-2.md §10.4, [D]; the paper's theorem [R]).

    With :math:`L` scale invariant, the run :math:`b_{t+1}=\gamma b_t+\nabla L(w_t)+\lambda w_t`,
    :math:`w_{t+1}=w_t-\eta b_{t+1}` (:math:`b_0=0`) and the WD-free run
    :math:`\tilde b_{t+1}=\gamma\tilde b_t+\nabla L(\tilde w_t)`,
    :math:`\tilde w_{t+1}=\tilde w_t-\eta\alpha^{-2t-1}\tilde b_{t+1}`, :math:`\tilde w_0=w_0`,
    :math:`\tilde b_0=\frac{\alpha-1}{\eta\alpha}w_0`, satisfy :math:`\tilde w_t=\alpha^{-t}w_t` for every t, where
    :math:`\alpha` is a root of

    .. math:: z^2-(1+\gamma-\lambda\eta)\,z+\gamma=0 .

    For :math:`\gamma=0` (GD) the non-zero root is :math:`1-\eta\lambda` and the schedule
    :math:`(1-\eta\lambda)^{-2t-1}`.

    Parameters
    ----------
    lr, weight_decay, momentum : float or ndarray of shape (R,)
        :math:`\eta>0`, :math:`\lambda\ge0`, :math:`\gamma\in[0,1)`.
    steps : int
        Length of the schedule.
    root : {"larger", "smaller"}
        Which root; both are exact, the smaller one grows the step faster (by :math:`\alpha_+^2/\alpha_-^2` per
        step more) and is of no practical use. For :math:`\gamma=0` only "larger" exists.

    Raises
    ------
    ValueError
        If the roots are complex, :math:`\eta\lambda>(1-\sqrt\gamma)^2` (THEORY-2.md §10.4 trap; Wan et al.'s
        assumption 5): no real exponential schedule is equivalent; or if the root is not positive
        (:math:`\eta\lambda\ge1`).
    """
    eta = _rate("lr", lr, low=0.0, open_low=True)
    lam = _rate("weight_decay", weight_decay, low=0.0, open_low=False)
    gamma = _rate("momentum", momentum, low=0.0, high=1.0, open_low=False)
    _together(lr=eta, weight_decay=lam, momentum=gamma)
    steps = check_int(steps, "steps", minimum=0)
    if root not in ("larger", "smaller") or (root == "smaller" and np.any(gamma == 0)):
        raise ValueError(
            f"root: expected 'larger' or 'smaller' (the latter needs momentum > 0), got {root!r}; choose one of them"
        )
    limit = (1 - np.sqrt(gamma)) ** 2
    if np.any((gamma > 0) & (eta * lam > limit)):
        raise ValueError(
            f"lr * weight_decay = {np.max(eta * lam):.3g} exceeds (1 - sqrt(momentum))^2 = {np.min(limit):.3g}: "
            "the roots "
            "of z^2 - (1 + momentum - weight_decay lr) z + momentum are complex and no real exponential schedule "
            "is equivalent; lower lr * weight_decay or the momentum"
        )
    b = 1 + gamma - lam * eta
    disc = np.sqrt(np.maximum(b * b - 4 * gamma, 0.0))
    alpha = (b + disc) / 2 if root == "larger" else 2 * gamma / (b + disc)  # the product of the roots is gamma
    if not np.all(alpha > 0):
        raise ValueError(
            f"lr * weight_decay = {np.max(eta * lam):.3g}: the root is not positive; lower lr * weight_decay below 1"
        )
    alpha_out = float(alpha) if alpha.ndim == 0 else alpha
    factor = (alpha - 1) / (eta * alpha)
    return ExponentialLR(alpha_out, exponential_schedule(alpha, steps), float(factor) if factor.ndim == 0 else factor)


def angular_update(lr: float | np.ndarray, weight_decay: float | np.ndarray, momentum: float | np.ndarray = 0.0):
    r"""The equilibrium angular update :math:`\sqrt{2\eta\lambda/(1+\alpha)}` (Wan et al. 2021, Theorem 3).

    THEORY-2.md §10.6.

    The leading order in :math:`\eta\lambda` of the angle :math:`\Delta_t=\angle(w_t,w_{t+1})` at which SGD
    (:math:`\alpha=0`) or heavy ball with weight decay settles on a scale-invariant parameter, once
    :math:`t\gg(1-\alpha)/(\eta\lambda)`; for SGD the exact stationary value is :math:`\arccos(1-\eta\lambda)`
    (THEORY-2.md §10.6, [D]).

    Raises
    ------
    ValueError
        If :math:`\eta\lambda\ge1`, or for momentum :math:`\eta\lambda\ge(1-\sqrt\alpha)^2` (Theorem 2's
        assumption; THEORY-2.md §10.4 trap).
    """
    eta = _rate("lr", lr, low=0.0, open_low=True)
    lam = _rate("weight_decay", weight_decay, low=0.0, open_low=True)
    alpha = _rate("momentum", momentum, low=0.0, high=1.0, open_low=False)
    _together(lr=eta, weight_decay=lam, momentum=alpha)
    limit = np.where(alpha > 0, (1 - np.sqrt(alpha)) ** 2, 1.0)
    if np.any(eta * lam >= limit):
        raise ValueError(
            f"lr * weight_decay = {np.max(eta * lam):.3g}: Theorems 1-3 need lr * weight_decay < 1 and, with momentum, "
            f"< (1 - sqrt(momentum))^2 = {np.min(limit):.3g}; lower lr or weight_decay"
        )
    return np.sqrt(2 * eta * lam / (1 + alpha))


def equilibrium_norm(
    L: float | np.ndarray, lr: float | np.ndarray, weight_decay: float | np.ndarray, momentum: float | np.ndarray = 0.0
):
    r"""The equilibrium norm :math:`w^*` of Wan et al. 2021, Theorems 1 and 2 (THEORY-2.md §10.6).

    .. math::

        w^*=\Big(\frac{L\eta}{2\lambda}\Big)^{1/4}\ (\alpha=0),\qquad
        w^*=\Big(\frac{L\eta}{\lambda(1-\alpha)(2-\lambda\eta/(1+\alpha))}\Big)^{1/4}\ (\alpha>0),

    with :math:`L=\mathrm E\|\tilde g_t\|^2` (Theorem 1) or
    :math:`\mathrm E[(\|g_t\|^2+2\alpha\langle v_{t-1},g_t\rangle)\|w_t\|^2]` (Theorem 2), the mean of
    :attr:`SGDTrace.momentum_term`.
    """
    L = _rate("L", L, low=0.0, open_low=True)
    eta = _rate("lr", lr, low=0.0, open_low=True)
    lam = _rate("weight_decay", weight_decay, low=0.0, open_low=True)
    alpha = _rate("momentum", momentum, low=0.0, high=1.0, open_low=False)
    _together(L=L, lr=eta, weight_decay=lam, momentum=alpha)
    if np.any((alpha > 0) & (lam * eta >= 2 * (1 + alpha))):
        raise ValueError(
            f"lr, weight_decay: lr * weight_decay = {np.max(lam * eta):.3g} makes Theorem 2's 2 - lr weight_decay / "
            "(1 + momentum) non-positive; lower lr or weight_decay"
        )
    theorem2 = L * eta / (lam * (1 - alpha) * (2 - lam * eta / (1 + alpha)))
    return np.where(alpha > 0, theorem2, L * eta / (2 * lam)) ** 0.25
