r"""Harnesses for the optimisation checks of Kohler et al. 2019: the library's runs against the check's oracles.

Each harness draws its instances (:mod:`bntheory.checks.instances.optim`), runs the library under test
(:func:`bntheory.optim.gdnp.gdnp`, :func:`~bntheory.optim.gdnp.gd`, :func:`~bntheory.optim.gdnp.rayleigh_gd` on a
:mod:`bntheory.optim.problems` objective) on the backend `xp`, and measures the run against quantities computed from
what it drew, never from the problem object: :math:`\rho^*` and :math:`\tilde w^*` from ``numpy.linalg.lstsq``
or ``numpy.linalg.solve``, the bound's :math:`\mu, L` from ``numpy.linalg.eigvalsh``, the pencil's eigenvalues
from ``scipy.linalg.eigh(B, A)``. Rates come back as :class:`~bntheory.checks.rates.Trajectory` objects for
:func:`~bntheory.checks.rates.rate_check`.

A harness that returns runs raises :class:`ValueError` when a run produced non-finite values, instead of
returning them: its results are shared between a check and its control through ``ctx.memo``, and nothing
non-finite may be cached there (a check fed a poisoned run fails with the reason; a later, sound run is not fed
the poisoned one).

References
----------
J. Kohler et al., AISTATS 2019, arXiv:1805.10694 (THEORY.md §3.4-§3.9).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np
import scipy.linalg
import scipy.optimize

from bntheory.backend import asarray, to_numpy
from bntheory.checks.compare import max_relative_error, worst
from bntheory.checks.instances.optim import (
    collinearity_gap,
    contraction,
    critical_point,
    halfspace_instance,
    least_squares_error,
    least_squares_instance,
    mlp_instance,
    near_optimum,
    ols,
    pencil,
    rademacher_points,
    random_pencil,
    spectrum,
)
from bntheory.checks.rates import Trajectory, fit_rate
from bntheory.checks.tolerances import RATE_FLOOR
from bntheory.optim import gdnp, problems

__all__ = [
    "LeastSquaresRun",
    "UnitCriticalPoint",
    "gdnp_vs_gd",
    "halfspace_critical_gaps",
    "halfspace_pieces",
    "halfspace_trajectories",
    "least_squares_output",
    "least_squares_runs",
    "median_rate",
    "mlp_unit_lengths",
    "mlp_unit_trajectories",
    "rayleigh_reduction",
    "rayleigh_trajectories",
    "unit_critical_points",
]



def _finite(name: str, *arrays: Any) -> None:
    for a in arrays:
        if not np.all(np.isfinite(np.asarray(to_numpy(a), dtype=np.float64))):
            raise ValueError(f"{name}: the run produced non-finite values")


def _gaps(rho: np.ndarray, rho_star: float) -> np.ndarray:
    r""":math:`\rho_t-\rho^*`, NaN kept (so a broken run fails its check rather than passing as "converged")."""
    return np.asarray(rho, dtype=np.float64) - rho_star


# --- least squares ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LeastSquaresRun:
    r"""GDNP and plain GD on one least-squares instance, measured against its OLS oracle.

    Attributes
    ----------
    kappa : float
        Condition number of the population covariance.
    adversarial : bool
        Started near the optimum along the flattest eigenvector (:func:`near_optimum`).
    q : float
        :math:`(1-\mu/L)^2` with :math:`\mu, L` from ``eigvalsh`` of the sample :math:`X^\top X/n`.
    gaps : ndarray
        :math:`\rho(w_t)-\rho^*` of GDNP's direction, :math:`\rho^*` from ``lstsq``.
    scale : float
        :math:`|\rho^*|`, the size of the optimum (rounding floor).
    gd_gaps : ndarray
        :math:`f(\tilde w_t)-f^*` of plain GD with step :math:`1/(2L)`.
    gd_scale : float
        :math:`f^*+|f(\tilde w_0)-f^*|`, the size of what GD's gaps are the difference of.
    start_gap : float
        :math:`\rho(w_0)-\rho^*`, both from the oracle's moments (not from the trace).
    output_gap : float
        :math:`\|\tilde w_T-\tilde w_{OLS}\|_S^2=f(\tilde w_T)-f^*` of GDNP's output, with ``lstsq``'s solution;
        equal to :math:`\rho(w_T)-\rho^*` exactly when the length step is :math:`g^*(w_T)` (THEORY.md §3.3).
    steps : int
        :math:`T`, the direction steps of the run.
    """

    kappa: float
    adversarial: bool
    q: float
    gaps: np.ndarray
    scale: float
    gd_gaps: np.ndarray
    gd_scale: float
    start_gap: float
    output_gap: float
    steps: int

    def output_trajectory(self) -> Trajectory:
        r"""GDNP's *output* against the bound after `steps` steps.

        :math:`\|\tilde w_T-\tilde w^*\|_S^2\le q^T(\rho(w_0)-\rho^*)`. Shares nothing with the trace: the output,
        ``lstsq``'s solution and :math:`\rho(w_0)` from the samples.
        """
        return Trajectory(
            self._label(),
            np.array([self.start_gap, self.output_gap]),
            self.q**self.steps,
            scale=self.scale,
            adversarial=self.adversarial,
        )

    def trajectory(self) -> Trajectory:
        """GDNP's gaps against the bound (THEORY.md §3.5)."""
        return Trajectory(self._label(), self.gaps, self.q, scale=self.scale, adversarial=self.adversarial)

    def gd_trajectory(self) -> Trajectory:
        """Plain GD's suboptimality against the same bound (a strongly convex quadratic)."""
        return Trajectory(self._label(), self.gd_gaps, self.q, scale=self.gd_scale, adversarial=self.adversarial)

    def _label(self) -> str:
        return f"kappa {self.kappa:g}{', adversarial' if self.adversarial else ''}"


def least_squares_runs(
    rng: np.random.Generator,
    xp: ModuleType,
    *,
    kappas: Sequence[float],
    per_kappa: int,
    adversarial: bool = False,
    T: int = 60,
    T_s: int = 50,
    n: int = 200,
    d: int = 10,
) -> list[LeastSquaresRun]:
    r"""GDNP (`T` direction steps, `T_s` bisections) and GD (`T` steps) on `per_kappa` instances per condition number.

    Random instances start GDNP at a Gaussian direction and GD at :math:`10^{-3}\mathbf 1`; adversarial ones
    (``adversarial=True``: :math:`u\perp v_\mu` exactly) start both at the optimum plus 1% along :math:`v_\mu`,
    where GDNP nearly attains the bound and GD attains it exactly
    (:math:`f_t-f^*=\mu\delta^2(1-\mu/L)^{2t}`). GD runs with its default step, ``1/problem.smoothness``: the bound
    (the check's :math:`L`) is attained exactly when that is :math:`1/(2L)`; a larger step beats it, a smaller one
    violates it.
    """
    out = []
    for kappa in kappas:
        for _ in range(per_kappa):
            X, y = least_squares_instance(rng, n, d, kappa, flat=adversarial)
            oracle = ols(X, y)
            mu, L = spectrum(oracle.S)
            problem = problems.least_squares(asarray(X, xp), asarray(y, xp))
            if adversarial:
                w0 = near_optimum(oracle.S, oracle.u)
                direction = np.linalg.eigh(oracle.S)[1][:, 0]
                start = oracle.w + 1e-2 * np.linalg.norm(oracle.w) * direction
            else:
                w0, start = rng.normal(size=d), np.zeros(d) + 1e-3
            res = gdnp.gdnp(problem, asarray(w0, xp), T_d=T, T_s=T_s)
            # The library's default step 1/smoothness: the bound is attained exactly iff it is 1/(2L), L from eigvalsh.
            trace = gdnp.gd(problem, asarray(start, xp), T=T)
            _finite("gdnp", res.trace.rho)
            _finite("gd", trace.objective)
            gd_gaps = np.asarray(trace.objective, dtype=np.float64) - oracle.f_star
            out_error = np.asarray(to_numpy(res.w_tilde), dtype=np.float64) - oracle.w
            _finite("gdnp", out_error)
            out.append(
                LeastSquaresRun(
                    kappa,
                    adversarial,
                    (1 - mu / L) ** 2,
                    _gaps(res.trace.rho, oracle.rho_star),
                    abs(oracle.rho_star),
                    gd_gaps,
                    oracle.f_star + abs(float(gd_gaps[0])),
                    oracle.rho(w0) - oracle.rho_star,
                    float(out_error @ oracle.S @ out_error),
                    T,
                )
            )
    return out


def median_rate(errors: Sequence[np.ndarray], *, floor: float = RATE_FLOOR.value) -> float:
    """The median fitted rate (:func:`~bntheory.checks.rates.fit_rate`) of some runs, for the report (NaN: none)."""
    fits = []
    for e in errors:
        e = np.asarray(e, dtype=np.float64)
        if not np.all(np.isfinite(e)):
            return float("nan")
        try:
            fits.append(fit_rate(np.maximum(e, 0), floor=floor).q)
        except ValueError:  # fewer than 3 steps above the floor (an adversarial run): no rate to fit
            continue
    return float(np.median(fits)) if fits else float("nan")


def least_squares_output(
    rng: np.random.Generator, xp: ModuleType, *, kappas: Sequence[float], T: int = 100, T_s: int = 50
) -> tuple[float, str]:
    r"""GDNP's output on well-conditioned least squares against the OLS oracle, and its length step's closed form.

    Per instance (d = 5 and 8, n = 40 d): :math:`\|\tilde w_T-\tilde w_{OLS}\|/\|\tilde w_{OLS}\|` (``lstsq``; after `T`
    steps at rate at most :math:`(1-1/\kappa)^T` the error is at rounding level),
    :math:`|g_T-g^*(w_T)|/|g^*(w_T)|` with :math:`g^*(w)=u^\top w/\|w\|_S` computed from the drawn samples
    (THEORY.md §3.3), and the problem's value and gradients at the start against the samples
    (:func:`~bntheory.checks.instances.optim.least_squares_error`: GDNP's direction step uses the gradient, and a
    wrong one still converges, only more slowly). Returns the largest relative error (NaN kept) and a description.
    """
    errs, lines = [], []
    for kappa in kappas:
        for d in (5, 8):
            X, y = least_squares_instance(rng, 40 * d, d, kappa)
            oracle = ols(X, y)
            problem, w0 = problems.least_squares(asarray(X, xp), asarray(y, xp)), asarray(rng.normal(size=d), xp)
            res = gdnp.gdnp(problem, w0, T_d=T, T_s=T_s)
            w = np.asarray(to_numpy(res.w), dtype=np.float64)
            g_star = float(oracle.u @ w) / float(w @ oracle.S @ w) ** 0.5
            e_out = max_relative_error(to_numpy(res.w_tilde), oracle.w)
            e_len = max_relative_error(res.g, g_star)
            # The objective GDNP was given, at its start (THEORY.md §3.3: f = mean (y - X w)^2 from the samples).
            e_f = least_squares_error(problem, X, y, w0)
            errs += [e_out, e_len, e_f]
            lines.append(f"kappa {kappa:g}, d = {d}: output {e_out:.2g}, length {e_len:.2g}, objective {e_f:.2g}")
    return worst(errs), "; ".join(lines)


def rayleigh_reduction(rng: np.random.Generator, xp: ModuleType, *, use_pencil: bool = True) -> tuple[float, str]:
    r"""Least squares as a generalized Rayleigh quotient (THEORY.md §3.3), against oracles that share nothing with it.

    Per instance (d = 3, n = 40 and d = 8, n = 200, columns of scales 0.5..3):

    (a) :math:`\min_g f(g\,w/\|w\|_S)` by Brent's method on the library's value, against
        :math:`\mathrm E[y^2]+\rho(w)` with :math:`\rho` from :func:`bntheory.optim.gdnp.rayleigh_quotient`;
    (b) the bottom eigenpair of the pencil :math:`(-uu^\top, S)` (``scipy.linalg.eigh``; ``use_pencil=False``: of
        :math:`-uu^\top` alone, the wrong reading) against the OLS solution of ``numpy.linalg.lstsq``: the eigenvalue
        against :math:`\rho` at the solution, and :math:`g^*(v)v/\|v\|_S` against the solution.

    Returns the largest relative error (NaN kept) and a description.
    """
    errs = []
    for d, n in ((3, 40), (8, 200)):
        X, y = rng.normal(size=(n, d)) * rng.uniform(0.5, 3, d), rng.normal(size=n)
        problem = problems.least_squares(asarray(X, xp), asarray(y, xp))
        oracle = ols(X, y)
        S, u = oracle.S, oracle.u
        w = rng.normal(size=d)
        unit = w / np.sqrt(w @ S @ w)
        value = problem.value
        best = scipy.optimize.minimize_scalar(lambda g, unit=unit, value=value: value(asarray(g * unit, xp)))
        rho = gdnp.rayleigh_quotient(asarray(w, xp), asarray(u, xp), asarray(S, xp))
        errs.append(max_relative_error(best.fun, y @ y / n + rho))
        lam, vecs = scipy.linalg.eigh(-np.outer(u, u), S) if use_pencil else np.linalg.eigh(-np.outer(u, u))
        v = vecs[:, 0]
        w_tilde = (u @ v) / (v @ S @ v) * v
        errs.append(
            max_relative_error(lam[0], gdnp.rayleigh_quotient(asarray(oracle.w, xp), asarray(u, xp), asarray(S, xp)))
        )
        errs.append(max_relative_error(w_tilde, oracle.w))
    return worst(errs), "min over g by Brent vs E[y^2] + rho; pencil eigenpair vs numpy.linalg.lstsq, d = 3, 8"


# --- the Rayleigh iteration ---------------------------------------------------------------------------------


def rayleigh_trajectories(
    rng: np.random.Generator,
    xp: ModuleType,
    *,
    count: int,
    adversarial: bool = False,
    T: int = 25,
    kappas: Sequence[float] = (2.0, 10.0, 50.0),
) -> list[Trajectory]:
    r"""The per-step ratio :math:`e_t=(\lambda_1-\rho_t)/(\rho_t-\lambda_2)` in rayleigh_gd runs.

    Random instances: `count` pencils of :func:`random_pencil` (d = 2..6, condition of
    :math:`A` drawn from `kappas`), Gaussian starts; a nearly repeated top eigenvalue (gap below 1e-3 of the spread,
    factor 1, nothing to check) is skipped. Adversarial ones (``adversarial=True``): one per condition number, rank-one
    :math:`B=uu^\top` with :math:`u\perp v_\mu(A)` started near the top eigenvector (THEORY.md §3.5 is this case).
    The bound's factor comes from :func:`pencil` of the matrices drawn here; the iteration
    computes its own constants (they are under test).
    """
    out = []
    for k in range(len(kappas) if adversarial else count):
        if adversarial:
            d, kappa = 6, kappas[k]
            A, u = halfspace_instance(rng, d, kappa, flat=True)
            B, w0 = np.outer(u, u), near_optimum(A, u)
        else:
            d = int(rng.integers(2, 7))
            A, B = random_pencil(rng, d, float(rng.choice(kappas)))
            w0 = rng.normal(size=d)
        p = pencil(A, B)
        lam = p.lam
        if lam[0] - lam[1] < 1e-3 * (lam[0] - lam[-1]):
            continue
        _, rhos = gdnp.rayleigh_gd(asarray(A, xp), asarray(B, xp), asarray(w0, xp), T=T)
        _finite("rayleigh_gd", rhos)
        rhos = np.asarray(rhos, dtype=np.float64)
        valid = rhos > lam[1]
        with np.errstate(divide="ignore", invalid="ignore"):
            e = np.where(valid, (lam[0] - rhos) / (rhos - lam[1]), 0.0)
        e = np.where(np.isnan(rhos), np.nan, e)
        label = f"{'adversarial ' if adversarial else ''}instance {k} (d = {d})"
        scale = (lam[0] - lam[-1]) / (lam[0] - lam[1])
        out.append(Trajectory(label, e, p.factor(), scale=scale, per_step=True, valid=valid, adversarial=adversarial))
    return out


# --- halfspaces and the tanh MLP ----------------------------------------------------------------------------


def _rho_star(S: np.ndarray, u: np.ndarray) -> float:
    w = np.linalg.solve(S, u)
    return -(float(u @ w) ** 2) / float(w @ S @ w)


def _direction_trajectory(
    problem, S: np.ndarray, u: np.ndarray, rng, xp: ModuleType, label: str, *, adversarial: bool, T: int, T_s: int
) -> Trajectory:
    """GDNP on `problem` from a random start (or near the optimum), as the gap to rho* against (1 - mu/L)^2."""
    w0 = near_optimum(S, u) if adversarial else rng.normal(size=u.size)
    res = gdnp.gdnp(problem, asarray(w0, xp), T_d=T, T_s=T_s)
    _finite("gdnp", res.trace.rho)
    rho_star = _rho_star(S, u)
    gaps = _gaps(res.trace.rho, rho_star)
    return Trajectory(label, gaps, contraction(S), scale=abs(rho_star), adversarial=adversarial)


def halfspace_trajectories(
    rng: np.random.Generator,
    xp: ModuleType,
    *,
    kappas: Sequence[float] = (2.0, 20.0),
    adversarial: bool = False,
    T: int = 25,
    T_s: int = 40,
    d: int = 5,
) -> list[Trajectory]:
    r"""GDNP's direction gap :math:`\rho(w_t)-\rho^*` on Gaussian halfspaces, every loss and condition number.

    :math:`\rho^*=-u^\top S^{-1}u` and the bound :math:`(1-\mu/L)^2` from the drawn :math:`S, u`
    (THEORY.md §3.8 item 1: the direction follows the least-squares dynamics whatever the loss).
    """
    out = []
    for loss in problems.LOSSES:
        for kappa in kappas:
            S, u = halfspace_instance(rng, d, kappa, flat=adversarial)
            problem = problems.halfspace(asarray(S, xp), asarray(u, xp), loss=loss)
            label = f"{loss}, kappa {kappa:g}{', adversarial' if adversarial else ''}"
            out.append(_direction_trajectory(problem, S, u, rng, xp, label, adversarial=adversarial, T=T, T_s=T_s))
    return out


def _length_error(problem: Any, res: gdnp.GDNPResult, S: np.ndarray, xp: ModuleType) -> float:
    r"""Relative error of GDNP's final length against Brent's minimiser of :math:`g\mapsto f(g\,w_T/\|w_T\|_S)`."""
    w = np.asarray(to_numpy(res.w), dtype=np.float64)
    unit, g = w / np.sqrt(w @ S @ w), float(res.g)
    value = problem.value
    best = scipy.optimize.minimize_scalar(
        lambda s: value(asarray(s * unit, xp)),
        bracket=(0.5 * g, 2 * g),  # Brent searches downhill from here: it never starts at g itself
    )
    return max_relative_error(g, best.x)


def halfspace_pieces(
    rng: np.random.Generator, xp: ModuleType, *, kappas: Sequence[float] = (2.0, 20.0), T_s: int = 40, d: int = 5
) -> tuple[float, float, str]:
    r"""GDNP's identity and length step on Gaussian halfspaces, against the check's own computations.

    Per loss and condition number, one GDNP iteration from a Gaussian start:

    * the identity :math:`\|w_0\|_S^2\|\nabla_wf(w_0,g_0)\|^2_{S^{-1}}=g_0^2c_1(\tilde w_0)^2(\rho(w_0)-\rho^*)`
      (THEORY.md §3.6), with :math:`\rho^*` and :math:`\rho(w_0)` from the drawn :math:`S, u` (relative error);
    * the length :math:`g_1` of the final direction :math:`w_1` against Brent's minimiser of the value
      :math:`g\mapsto f(g\,w_1/\|w_1\|_S)` (``scipy.optimize.minimize_scalar``; the value is convex in :math:`g` for
      the convex losses), relative error.

    Returns the largest identity error, the largest length error (NaN kept) and a description.
    """
    identity, length, lines = [], [], []
    for loss in problems.LOSSES:
        for kappa in kappas:
            S, u = halfspace_instance(rng, d, kappa)
            problem = problems.halfspace(asarray(S, xp), asarray(u, xp), loss=loss)
            w0 = rng.normal(size=d)
            res = gdnp.gdnp(problem, asarray(w0, xp), T_d=1, T_s=T_s)
            _finite("gdnp", res.w, res.trace.rho, res.trace.length, res.trace.direction_grad_norm)
            g0 = float(res.trace.length[0])
            c1 = problem.c(asarray(g0 * w0 / np.sqrt(w0 @ S @ w0), xp))[0]
            rho0 = -(float(u @ w0) ** 2) / float(w0 @ S @ w0)
            rhs = g0**2 * c1**2 * (rho0 - _rho_star(S, u))
            identity.append(max_relative_error(float(res.trace.direction_grad_norm[0]) ** 2, rhs))
            length.append(_length_error(problem, res, S, xp))
            lines.append(f"{loss}, kappa {kappa:g}: identity {identity[-1]:.2g}, length {length[-1]:.2g}")
    return worst(identity), worst(length), "; ".join(lines)


def mlp_unit_trajectories(
    rng: np.random.Generator,
    xp: ModuleType,
    *,
    adversarial: bool = False,
    T: int = 8,
    T_s: int = 25,
    d: int = 4,
) -> list[Trajectory]:
    r"""GDNP on unit 0 of the two-unit tanh MLP with unit 1 on the line through :math:`S^{-1}u`, every loss.

    With the other unit on the line the unit's gradient lies in :math:`\mathrm{span}\{u,S\tilde w\}`, so its
    direction follows the least-squares dynamics (THEORY.md §3.9, derived in ``kohler2019.mlp_on_line``);
    :math:`\rho^*` and the bound from the drawn :math:`S, u`.
    """
    out = []
    for loss in problems.LOSSES:
        S, u, theta = mlp_instance(rng, d, flat=adversarial)
        W = np.array([np.zeros(d), 0.8 * np.linalg.solve(S, u)])
        problem = problems.tanh_mlp_unit(asarray(S, xp), asarray(u, xp), W, theta, 0, loss=loss)
        label = f"{loss}{', adversarial' if adversarial else ''}"
        out.append(_direction_trajectory(problem, S, u, rng, xp, label, adversarial=adversarial, T=T, T_s=T_s))
    return out


def mlp_unit_lengths(rng: np.random.Generator, xp: ModuleType, *, T_s: int = 25, d: int = 4) -> tuple[float, str]:
    r"""GDNP's length step on unit 0 of the tanh MLP (unit 1 on the line), against Brent's minimiser of the value.

    Per loss, one GDNP iteration from a Gaussian start; returns the largest relative error (NaN kept) and a
    description (as the length part of :func:`halfspace_pieces`).
    """
    errs, lines = [], []
    for loss in problems.LOSSES:
        S, u, theta = mlp_instance(rng, d)
        W = np.array([np.zeros(d), 0.8 * np.linalg.solve(S, u)])
        problem = problems.tanh_mlp_unit(asarray(S, xp), asarray(u, xp), W, theta, 0, loss=loss)
        res = gdnp.gdnp(problem, asarray(rng.normal(size=d), xp), T_d=1, T_s=T_s)
        _finite("gdnp", res.w, res.trace.length)
        errs.append(_length_error(problem, res, S, xp))
        lines.append(f"{loss}: {errs[-1]:.2g}")
    return worst(errs), "relative error of the length: " + "; ".join(lines)


def gdnp_vs_gd(
    rng: np.random.Generator,
    xp: ModuleType,
    *,
    kappas: Sequence[float] = (2.0, 20.0),
    T_d: int = 30,
    T_s: int = 40,
    d: int = 5,
) -> list[tuple[str, float, int, int, int]]:
    r"""Iterations of GDNP and of plain GD to reach GDNP's final gradient norm on Gaussian halfspaces.

    Per loss and condition number: GDNP for `T_d` steps; the target is 1.01 times its final
    :math:`\|\nabla f(\tilde w)\|_{S^{-1}}`; GD from GDNP's first iterate with step :math:`1/\zeta`, where
    :math:`\zeta=L\sup\varphi''` (:math:`\varphi''\le1/4` for softplus, :math:`\le1/2` for the smooth hinge) bounds the
    smoothness, with :math:`L` from ``eigvalsh`` of the drawn :math:`S`. Rows are (loss, kappa, GDNP iterations,
    GDNP gradient evaluations (each iteration costs `T_s` + 1), GD iterations, 10**9 if GD never got there in 3000).

    Raises
    ------
    ValueError
        If a run produced non-finite gradient norms (there is then nothing to count).
    """
    rows = []
    for loss in problems.LOSSES:
        for kappa in kappas:
            S, u = halfspace_instance(rng, d, kappa)
            problem = problems.halfspace(asarray(S, xp), asarray(u, xp), loss=loss)
            w0 = rng.normal(size=d)
            res = gdnp.gdnp(problem, asarray(w0, xp), T_d=T_d, T_s=T_s)
            _finite("gdnp", res.trace.grad_norm, res.trace.length)
            target = float(res.trace.grad_norm[-1]) * 1.01
            gdnp_iters = int(np.flatnonzero(res.trace.grad_norm <= target)[0])
            zeta = spectrum(S)[1] * (0.25 if loss == "softplus" else 0.5)
            start = float(res.trace.length[0]) * w0 / np.sqrt(w0 @ S @ w0)
            trace = gdnp.gd(problem, asarray(start, xp), T=3000, step=1 / zeta, tol=target)
            _finite("gd", trace.grad_norm)
            hit = np.flatnonzero(trace.grad_norm <= target)
            rows.append((loss, kappa, gdnp_iters, gdnp_iters * (T_s + 1), int(hit[0]) if hit.size else 10**9))
    return rows


# --- critical points ----------------------------------------------------------------------------------------


def halfspace_critical_gaps(
    rng: np.random.Generator, *, dims: Sequence[int], gaussian: bool = True, kappa: float = 10.0
) -> list[tuple[str, float]]:
    r"""Critical points of halfspace objectives (BFGS on the value alone) against the line through :math:`S^{-1}u`.

    Per loss and dimension: :math:`1-|\cos(\tilde w^*, S^{-1}u)|` (THEORY.md §3.6). With ``gaussian=False`` the
    inputs are the :func:`rademacher_points` with the same first two moments (negative control (i);
    their expectation is an exact finite average, :func:`bntheory.optim.problems.halfspace_samples`). On the host.
    """
    rows = []
    for loss in problems.LOSSES:
        for d in dims:
            S, u = halfspace_instance(rng, d, kappa)
            if gaussian:
                problem = problems.halfspace(S, u, loss=loss)
            else:
                problem = problems.halfspace_samples(rademacher_points(S, u), loss=loss)
            w = critical_point(problem.value, rng.normal(size=d))
            rows.append((f"{loss}, d = {d}", collinearity_gap(w, np.linalg.solve(S, u))))
    return rows


@dataclass(frozen=True)
class UnitCriticalPoint:
    r"""A critical point of one hidden unit of the two-unit tanh MLP, the other unit fixed.

    Attributes
    ----------
    label : str
    S, u : ndarray
        The moments drawn.
    W : ndarray, shape (2, d)
        Both units' weights (row 0 is the variable).
    theta : ndarray
        Output weights.
    loss : str
    w : ndarray
        The critical point of unit 0 (BFGS on the value alone).
    """

    label: str
    S: np.ndarray
    u: np.ndarray
    W: np.ndarray
    theta: np.ndarray
    loss: str
    w: np.ndarray

    def gap(self, line: str = "S^-1 u") -> float:
        r""":math:`1-|\cos|` between the critical point and the line through :math:`S^{-1}u` (or ``"u"``)."""
        return collinearity_gap(self.w, np.linalg.solve(self.S, self.u) if line == "S^-1 u" else self.u)


def unit_critical_points(rng: np.random.Generator, *, dims: Sequence[int], other: str) -> list[UnitCriticalPoint]:
    r"""Critical points of unit 0 of the tanh MLP (THEORY.md §3.9), unit 1 held ``"on the line"`` or ``"random"``.

    Per loss and dimension: moments from :func:`mlp_instance`, unit 1 at :math:`0.8\,S^{-1}u` or
    a Gaussian direction, the population objective by 2-D quadrature (:func:`bntheory.optim.problems.tanh_mlp_unit`),
    the
    critical point by :func:`critical_point`. On the host; the points depend on the objective's
    value only.
    """
    if other not in ("on the line", "random"):
        raise ValueError(f"other: expected 'on the line' or 'random', got {other!r}")
    rows = []
    for loss in problems.LOSSES:
        for d in dims:
            S, u, theta = mlp_instance(rng, d)
            W = np.zeros((2, d))
            W[1] = 0.8 * np.linalg.solve(S, u) if other == "on the line" else rng.normal(size=d)
            problem = problems.tanh_mlp_unit(S, u, W, theta, 0, loss=loss)
            rows.append(
                UnitCriticalPoint(
                    f"{loss}, d = {d}", S, u, W, theta, loss, critical_point(problem.value, rng.normal(size=d))
                )
            )
    return rows
