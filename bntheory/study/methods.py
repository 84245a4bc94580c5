r"""The methods a study can sweep: GDNP, plain GD, BNGD, heavy ball, and SciPy's CG and Cholesky as baselines.

GDNP and GD are :mod:`bntheory.optim.gdnp`'s, BNGD :mod:`bntheory.optim.bngd`'s, heavy ball
:func:`bntheory.optim.sgd.sgd` without noise.

Each method runs on an :class:`~bntheory.study.problems.Instance` and returns a :class:`MethodRun`, one value per
iterate of the objective :math:`f`, of the Rayleigh quotient :math:`\rho` of the direction and of
:math:`\|\nabla f\|_{S^{-1}}`, with the elapsed time. A quantity a method does not expose is NaN (plain GD's trace
has no :math:`\rho`). Times are measured per iteration where the method hands out its iterates as it goes (CG's
callback); GDNP, GD and BNGD return their traces at the end, so their run's wall time is spread evenly over the
iterations.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.linalg
import scipy.sparse.linalg

from bntheory.optim import bngd, gdnp, sgd
from bntheory.study.params import Param
from bntheory.study.problems import Instance

__all__ = ["METHODS", "MethodKind", "MethodRun"]


@dataclass(frozen=True)
class MethodRun:
    """Per-iterate values of one run (row t is iterate t; NaN where the method does not expose a quantity)."""

    objective: np.ndarray
    rho: np.ndarray
    grad_norm: np.ndarray
    time_s: np.ndarray


@dataclass(frozen=True)
class MethodKind:
    """A method a spec can name: its parameters, smoke values, the problems it applies to and its runner."""

    params: dict[str, Param]
    smoke: dict[str, object]
    problems: tuple[str, ...]
    run: Callable[[Instance, dict], MethodRun]
    doc: str


def _spread(seconds: float, rows: int) -> np.ndarray:
    return np.linspace(0.0, seconds, rows)


def _iterate_measures(inst: Instance, iterates: np.ndarray, times: np.ndarray) -> MethodRun:
    r"""Measures of explicit iterates :math:`\tilde w_t` (rows), from the instance's moments and the library's f."""
    S_inv = np.linalg.inv(inst.S)
    grads = np.array([np.asarray(inst.problem.gradient(w), dtype=np.float64) for w in iterates])
    objective = np.array([float(inst.problem.value(w)) for w in iterates])
    grad_norm = np.sqrt(np.maximum(np.einsum("ti,ij,tj->t", grads, S_inv, grads), 0.0))
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = -((iterates @ inst.u) ** 2) / np.einsum("ti,ij,tj->t", iterates, inst.S, iterates)
    return MethodRun(objective, rho, grad_norm, times)


def _gdnp(inst: Instance, p: dict) -> MethodRun:
    start = time.perf_counter()
    res = gdnp.gdnp(inst.problem, inst.start, T_d=p["T_d"], T_s=p["T_s"])
    tr = res.trace
    return MethodRun(tr.objective, tr.rho, tr.grad_norm, _spread(time.perf_counter() - start, tr.rho.size))


#: Largest phi'' of each halfspace loss: the Hessian E[z z^T phi''] is at most that times S, so GD's step
#: 1 / (phi''_max L) is 1 / smoothness (softplus: sigma' <= 1/4; smooth hinge: (1 + a^2)^(-3/2) / 2 <= 1/2).
_CURVATURE = {"softplus": 0.25, "smooth_hinge": 0.5}


def _gd(inst: Instance, p: dict) -> MethodRun:
    step = p["step"]
    if step is None:
        if inst.problem.smoothness is not None:
            step = 1.0 / inst.problem.smoothness
        else:
            step = 1.0 / (_CURVATURE[inst.problem.loss] * float(np.linalg.eigvalsh(inst.S)[-1]))
    start = time.perf_counter()
    tr = gdnp.gd(inst.problem, inst.start_tilde, T=p["T"], step=step)
    return MethodRun(
        tr.objective,
        np.full(tr.objective.size, np.nan),
        tr.grad_norm,
        _spread(time.perf_counter() - start, tr.objective.size),
    )


def _bngd(inst: Instance, p: dict) -> MethodRun:
    # Population least squares with H = S and g = S w* = u: E y^2 = w*^T S w* + f*, the moments of the samples.
    ls = bngd.least_squares(inst.S, inst.w_star, inst.f_star)
    start = time.perf_counter()
    tr = bngd.bngd(ls, 1.0, inst.start_tilde[None, :], p["eps"], p["eps_a"], T=p["T"])
    seconds = time.perf_counter() - start
    return _iterate_measures(inst, tr.predictor[:, 0, :], _spread(seconds, tr.predictor.shape[0]))


@dataclass(frozen=True)
class _Quadratic:
    r"""Least squares as :func:`bntheory.optim.sgd.sgd`'s deterministic objective (no samples).

    :math:`f(\tilde w)=\mathrm Ey^2-2u^\top\tilde w+\tilde w^\top S\tilde w`, :math:`\nabla f=2S\tilde w-2u` for each
    run of the batch.
    """

    S: np.ndarray
    u: np.ndarray

    def draw(self, rngs, steps: int, runs: int) -> None:
        return None

    def gradient(self, w: np.ndarray, sample: None) -> np.ndarray:
        return 2 * (w @ self.S) - 2 * self.u


def _heavy_ball(inst: Instance, p: dict) -> MethodRun:
    # Polyak's tuning for a quadratic whose Hessian 2S has spectrum [2 mu, 2 L]: eta = 4 / (sqrt(2L) + sqrt(2mu))^2,
    # alpha = ((sqrt(kappa) - 1) / (sqrt(kappa) + 1))^2, the asymptotic rate sqrt(alpha) per step (with a factor
    # growing like t, so no bound e_t <= q^t e_0 is claimed: the verdict is "not applicable").
    eig = np.linalg.eigvalsh(inst.S)
    root = np.sqrt(eig[-1] / eig[0])
    lr = p["lr"] if p["lr"] is not None else 4.0 / (np.sqrt(2 * eig[-1]) + np.sqrt(2 * eig[0])) ** 2
    momentum = p["momentum"] if p["momentum"] is not None else ((root - 1) / (root + 1)) ** 2
    start = time.perf_counter()
    res = sgd.sgd(
        _Quadratic(inst.S, inst.u), inst.start_tilde[None, :], lr=lr, momentum=momentum, steps=p["T"], keep_path=True
    )
    seconds = time.perf_counter() - start
    path = np.asarray(res.path, dtype=np.float64)[:, 0, :]
    return _iterate_measures(inst, path, _spread(seconds, path.shape[0]))


def _cg(inst: Instance, p: dict) -> MethodRun:
    # min f = E y^2 - 2 u^T w + w^T S w is S w = u: SciPy's CG from the study's start, its iterates by callback.
    iterates, times = [inst.start_tilde.copy()], [0.0]
    start = time.perf_counter()

    def record(xk: np.ndarray) -> None:
        times.append(time.perf_counter() - start)
        iterates.append(np.array(xk, dtype=np.float64))

    maxiter = p["T"] if p["T"] is not None else inst.S.shape[0]
    scipy.sparse.linalg.cg(
        inst.S, inst.u, x0=inst.start_tilde.copy(), rtol=p["rtol"], atol=0.0, maxiter=maxiter, callback=record
    )
    return _iterate_measures(inst, np.array(iterates), np.array(times))


def _cholesky(inst: Instance, p: dict) -> MethodRun:
    start = time.perf_counter()
    w = scipy.linalg.cho_solve(scipy.linalg.cho_factor(inst.S), inst.u)
    seconds = time.perf_counter() - start
    return _iterate_measures(inst, np.array([inst.start_tilde, w]), np.array([0.0, seconds]))


_T = Param("int", 50, "the iterations", minimum=0)

METHODS: dict[str, MethodKind] = {
    "gdnp": MethodKind(
        {"T_d": _T, "T_s": Param("int", 40, "bisection steps per length step", minimum=0)},
        {"T_d": 8, "T_s": 20},
        ("least_squares", "halfspace", "tanh_mlp"),
        _gdnp,
        "GDNP: a length step by T_s bisections, then a direction step, T_d times (Kohler et al. 2019, §3.7)",
    ),
    "gd": MethodKind(
        {"T": _T, "step": Param("float", None, "the step (default 1/smoothness)", minimum=0.0)},
        {"T": 8},
        ("least_squares", "halfspace"),
        _gd,
        "plain gradient descent on w_tilde, step 1/smoothness unless given",
    ),
    "bngd": MethodKind(
        {
            "T": _T,
            "eps": Param("float", 0.5, "the weight step", minimum=0.0),
            "eps_a": Param("float", 1.0, "the gain step", minimum=0.0),
        },
        {"T": 8},
        ("least_squares",),
        _bngd,
        "BNGD on population least squares with the samples' moments (Cai, Li & Shen 2019; THEORY-2.md §10.5)",
    ),
    "heavy_ball": MethodKind(
        {
            "T": _T,
            "lr": Param("float", None, "the step (default Polyak's 4 / (sqrt(2L) + sqrt(2mu))^2)", minimum=0.0),
            "momentum": Param(
                "float", None, "the momentum (default Polyak's, ((sqrt(kappa)-1)/(sqrt(kappa)+1))^2)", minimum=0.0
            ),
        },
        {"T": 8},
        ("least_squares",),
        _heavy_ball,
        "heavy-ball GD (bntheory.optim.sgd.sgd, PyTorch's convention, no noise) with Polyak's tuning, a baseline",
    ),
    "cg": MethodKind(
        {
            "T": Param("int", None, "the most iterations (default d)", minimum=1),
            "rtol": Param("float", 1e-12, "the relative residual at which SciPy's CG stops", minimum=0.0),
        },
        {},
        ("least_squares",),
        _cg,
        "conjugate gradients on S w = u (scipy.sparse.linalg.cg), a baseline",
    ),
    "cholesky": MethodKind(
        {}, {}, ("least_squares",), _cholesky, "Cholesky solve of S w = u (scipy.linalg.cho_solve), a baseline"
    ),
}
