r"""References for heavy-ball SGD with weight decay on the noisy scale-invariant loss, independent of optim.sgd.

The loss is :math:`\ell(w;\xi)=-\xi^\top w/\|w\|` (THEORY-2.md §10.6); its samples :math:`\xi_t` are given, so
every reference replays the run it is compared with.

* :func:`mp_heavy_ball`: the recursion :math:`v_t=\gamma v_{t-1}+\nabla\ell(w_t;\xi_t)+\lambda w_t`,
  :math:`w_{t+1}=w_t-\eta_tv_t` in mpmath at `dps` digits, with the gradient written out from the definition,
  :math:`-\xi/\|w\|+(\xi^\top w)\,w/\|w\|^3`, and the steps either given or as the exponential schedule
  :math:`\eta\,\alpha^{-2t-1}` with :math:`\alpha` computed at `dps` digits (:func:`mp_exponential_root`).
* :func:`torch_sgd_path`: ``torch.optim.SGD`` (momentum, weight decay, dampening 0) driven by autograd of the
  loss, the schedule by ``torch.optim.lr_scheduler.LambdaLR``, the initial buffer set in the optimizer's state.
"""

from __future__ import annotations

from collections.abc import Callable

import mpmath
import numpy as np

__all__ = ["mp_equivalence_gaps", "mp_exponential_root", "mp_heavy_ball", "mp_relative_gap", "torch_sgd_path"]


def mp_exponential_root(lr, weight_decay, momentum, *, dps: int = 40, larger: bool = True) -> mpmath.mpf:
    r"""A root of :math:`z^2-(1+\gamma-\lambda\eta)z+\gamma=0` at `dps` digits.

    The larger one (:math:`1-\eta\lambda` for :math:`\gamma=0`) unless `larger` is false.
    """
    with mpmath.workdps(dps):
        eta, lam, gamma = (mpmath.mpf(float(v)) for v in (lr, weight_decay, momentum))
        b = 1 + gamma - lam * eta
        disc = mpmath.sqrt(b * b - 4 * gamma)
        return +((b + disc) / 2 if larger else (b - disc) / 2)


def _grad(w: list, xi: list) -> list:
    norm2 = mpmath.fsum(x * x for x in w)
    norm = mpmath.sqrt(norm2)
    dot = mpmath.fsum(a * b for a, b in zip(xi, w, strict=True))
    return [-a / norm + dot * b / (norm2 * norm) for a, b in zip(xi, w, strict=True)]


def mp_heavy_ball(
    w0: np.ndarray,
    samples: np.ndarray,
    *,
    lr: float,
    momentum: float = 0.0,
    weight_decay: float = 0.0,
    schedule_base=None,
    buffer_factor=None,
    dps: int = 40,
) -> list[list]:
    r"""The iterates :math:`w_0..w_T` (lists of mpf) of heavy ball with weight decay on :math:`-\xi^\top w/\|w\|`.

    Parameters
    ----------
    w0 : ndarray, shape (d,)
        The start (taken exactly).
    samples : ndarray, shape (T, d)
        :math:`\xi_t` (taken exactly).
    lr, momentum, weight_decay : float
        :math:`\eta`, :math:`\gamma`, :math:`\lambda`.
    schedule_base : mpf, optional
        :math:`\alpha`: steps :math:`\eta\alpha^{-2t-1}` (at `dps` digits) instead of :math:`\eta`.
    buffer_factor : mpf or "exponential", optional
        :math:`v_{-1}=c\,w_0`; ``"exponential"`` takes :math:`c=(\alpha-1)/(\eta\alpha)` with :math:`\alpha` =
        `schedule_base`. Default :math:`v_{-1}=0`.
    """
    with mpmath.workdps(dps):
        eta, gamma, lam = (mpmath.mpf(float(v)) for v in (lr, momentum, weight_decay))
        w = [mpmath.mpf(float(v)) for v in w0]
        if buffer_factor == "exponential":
            buffer_factor = (schedule_base - 1) / (eta * schedule_base)
        v = [mpmath.mpf(0)] * len(w) if buffer_factor is None else [buffer_factor * a for a in w]
        path = [w]
        for t, row in enumerate(samples):
            g = _grad(w, [mpmath.mpf(float(x)) for x in row])
            v = [gamma * a + b + lam * c for a, b, c in zip(v, g, w, strict=True)]
            step = eta if schedule_base is None else eta * schedule_base ** (-2 * t - 1)
            w = [a - step * b for a, b in zip(w, v, strict=True)]
            path.append(w)
        return path


def mp_relative_gap(a: list, b: list, *, dps: int = 40) -> float:
    r""":math:`\|a-b\|/\|b\|` at `dps` digits (entries float or mpf), returned as a float."""
    with mpmath.workdps(dps):
        b = [mpmath.mpf(y) for y in b]
        num = mpmath.sqrt(mpmath.fsum((mpmath.mpf(x) - y) ** 2 for x, y in zip(a, b, strict=True)))
        return float(num / mpmath.sqrt(mpmath.fsum(y * y for y in b)))


def mp_equivalence_gaps(free: list[list], wd: list[list], alpha, *, dps: int = 40) -> list[float]:
    r""":math:`\|\tilde w_t-\alpha^{-t}w_t\|/\|\alpha^{-t}w_t\|` for every t, at `dps` digits.

    `free` and `wd` are two :func:`mp_heavy_ball` paths of the same length.
    """
    with mpmath.workdps(dps):
        return [
            mp_relative_gap(f, [alpha ** (-t) * x for x in w], dps=dps)
            for t, (f, w) in enumerate(zip(free, wd, strict=True))
        ]


def torch_sgd_path(
    w0: np.ndarray,
    samples: np.ndarray,
    *,
    lr: float,
    momentum: float = 0.0,
    weight_decay: float = 0.0,
    lr_lambda: Callable[[int], float] | None = None,
    buffer0: np.ndarray | None = None,
) -> np.ndarray:
    r"""The path :math:`w_0..w_T`, shape (T + 1, R, d), of ``torch.optim.SGD`` on :math:`\sum_r-\xi_r^\top w_r/\|w_r\|`.

    Float64 throughout. `w0` is (R, d), `samples` (T, R, d); the rows are independent runs with common
    hyperparameters. `lr_lambda` is the multiplier of ``LambdaLR`` (step t uses ``lr * lr_lambda(t)``);
    `buffer0` (R, d) is put in the optimizer's momentum buffer before the first step, where PyTorch would
    otherwise start from the first gradient (:math:`v_{-1}=0`).
    """
    import torch

    from bntheory._torch_threads import one_thread

    with one_thread():
        return _torch_sgd_path(torch, w0, samples, lr, momentum, weight_decay, lr_lambda, buffer0)


def _torch_sgd_path(torch, w0, samples, lr, momentum, weight_decay, lr_lambda, buffer0) -> np.ndarray:
    w = torch.tensor(np.asarray(w0, dtype=np.float64), requires_grad=True)
    opt = torch.optim.SGD([w], lr=lr, momentum=momentum, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda) if lr_lambda is not None else None
    if buffer0 is not None:
        opt.state[w]["momentum_buffer"] = torch.tensor(np.asarray(buffer0, dtype=np.float64))
    path = [w.detach().clone()]
    for row in np.asarray(samples, dtype=np.float64):
        xi = torch.tensor(row)
        opt.zero_grad()
        loss = -((xi * w).sum(dim=1) / torch.linalg.vector_norm(w, dim=1)).sum()
        loss.backward()
        opt.step()
        if sched is not None:
            sched.step()
        path.append(w.detach().clone())
    return torch.stack(path).numpy()
