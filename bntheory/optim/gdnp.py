r"""GDNP, gradient descent in normalized parameterization (Kohler et al. 2019), and its baselines.

A library for convergence studies: GDNP, plain gradient descent and the Rayleigh-quotient iteration,
each returning its full trace.

BN of one unit with input covariance :math:`S=\mathrm E[xx^\top]` (centred inputs) turns the weights
:math:`\tilde w` into a length and a direction, :math:`\tilde w=g\,w/\|w\|_S` with :math:`\|w\|_S=\sqrt{w^\top Sw}`.
For the problems of the paper the gradient has the form :math:`\nabla f(\tilde w)=c_1u+c_2S\tilde w`
(least squares exactly; Gaussian inputs by Stein's lemma), and GDNP alternates

* a **length step**: :math:`g_t` by :math:`T_s` bisection steps on :math:`g\mapsto\partial_gf(w_t,g)`, and
* a **direction step** :math:`w_{t+1}=w_t-s_t\nabla_wf(w_t,g_t)` with
  :math:`s_t=-\|w_t\|_S^3/(L\,g_t\,h_t)`, :math:`h_t=c_1(\tilde w_t)\,u^\top w_t`,

which makes the direction follow the gradient method on the generalized Rayleigh quotient
:math:`\rho(w)=-(u^\top w)^2/\|w\|_S^2` whatever the loss (:func:`rayleigh_gd`); the output is
:math:`\tilde w_{T_d}=g_{T_d}w_{T_d}/\|w_{T_d}\|_S`.

Everything here is written against the Python array API: pass NumPy, CuPy or PyTorch arrays and the
iteration runs on that backend; the per-step scalars of the trace come back as NumPy arrays.

References
----------
J. Kohler, H. Daneshmand, A. Lucchi, T. Hofmann, M. Zhou and K. Neymeyr, "Exponential convergence rates for
batch normalization: the power of length-direction decoupling in non-convex optimization", AISTATS 2019,
arXiv:1805.10694 (THEORY.md §3.1–§3.8; the paper's text was not available: the algorithm is [R], recalled,
and the step-size algebra [D], derived and verified here).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from array_api_compat import array_namespace

from bntheory._validation import (
    check_bool,
    check_callable,
    check_float_array,
    check_int,
    check_real,
    check_same_dtype,
)
from bntheory.backend import scalar, to_numpy

__all__ = [
    "GDNPResult",
    "Objective",
    "Problem",
    "StructureError",
    "Trace",
    "alternating_gdnp",
    "bisection",
    "direction_gradient",
    "gd",
    "gdnp",
    "rayleigh_gd",
    "rayleigh_quotient",
    "spd_extremes",
]

Array = Any


class Objective(Protocol):
    r"""What :meth:`Problem.of` needs from an objective :math:`f(\tilde w)` of one unit's weights."""

    def value(self, w_tilde: Array) -> float:
        r""":math:`f(\tilde w)`."""

    def gradient(self, w_tilde: Array) -> Array:
        r""":math:`\nabla f(\tilde w)`, an array like `w_tilde`."""


class StructureError(ValueError):
    r"""An objective whose gradient is not :math:`c_1u+c_2S\tilde w`, the structure GDNP's steps rely on."""


def spd_extremes(S: Array) -> tuple[float, float]:
    r"""The extreme eigenvalues :math:`(\mu, L)` of a symmetric positive definite `S` (SciPy, on the host).

    Raises
    ------
    ValueError
        If `S` is not square, not symmetric (to 1e-10 relative), or not positive definite, naming the fix.
    """
    import scipy.linalg

    S_host = check_matrix(S, "S")
    if np.max(np.abs(S_host - S_host.T)) > 1e-10 * np.max(np.abs(S_host)):
        raise ValueError("S: must be symmetric (a covariance); symmetrize it with (S + S.T) / 2")
    eig = scipy.linalg.eigvalsh(S_host)
    if eig[0] <= 0:
        raise ValueError(
            f"S: must be positive definite (smallest eigenvalue {eig[0]:.3g}); the inputs are degenerate: "
            "add samples or a ridge (S + c I)"
        )
    return float(eig[0]), float(eig[-1])


def check_matrix(A: Array, name: str) -> np.ndarray:
    """Check a finite, non-empty, square float32/float64 matrix of any backend; return it on the host."""
    check_float_array(A, name, min_ndim=2, finite=True)
    if A.ndim != 2 or A.shape[0] != A.shape[1] or A.shape[0] == 0:
        raise ValueError(f"{name}: expected a square (d, d) matrix, got shape {tuple(A.shape)}; pass a covariance")
    host = to_numpy(A)
    if host.dtype not in (np.float32, np.float64):
        raise TypeError(f"{name}: expected float32 or float64 (SciPy's eigensolvers), got {host.dtype}; cast it")
    return host


def check_vector_like(w: Array, name: str, like: Array, *, nonzero: bool = True) -> None:
    """Check a finite (non-zero) vector with the backend, dtype and length of `like` (a problem's u)."""
    check_float_array(w, name, finite=True)
    check_same_dtype(w, name, like)
    if tuple(w.shape) != tuple(like.shape):
        raise ValueError(
            f"{name}: expected shape {tuple(like.shape)} (one weight per input), got {tuple(w.shape)}; "
            "pass one entry per input"
        )
    if nonzero and not bool(array_namespace(w).any(w != 0)):
        raise ValueError(f"{name}: is zero, so it has no direction; pass a non-zero vector")


def _check_problem(problem: Any) -> Problem:
    if not isinstance(problem, Problem):
        raise TypeError(
            f"problem: expected a Problem, got {type(problem).__name__}; build one with bntheory.optim.problems "
            "or Problem.of"
        )
    return problem


def _unit_exponent(w: Array) -> int:
    """The power of two that brings the largest entry of `w` into [1/2, 1) (exact scaling, no rounding)."""
    xp = array_namespace(w)
    return int(np.frexp(scalar(xp.max(xp.abs(w))))[1])  # one number crosses to the host, not a copy of w


#: Relative residual of the gradient outside span{u, S w} above which an objective lacks GDNP's structure:
#: exact structures leave rounding (~1e-15); a structure that holds only by quadrature, ~1e-12.
STRUCTURE_TOL = 1e-8


@dataclass(frozen=True)
class Problem:
    r"""An objective :math:`f(\tilde w)` of one unit's weights, with the moments GDNP needs.

    Attributes
    ----------
    S : array, shape (d, d)
        :math:`\mathrm E[xx^\top]`, symmetric positive definite (the BN unit's input covariance).
    u : array, shape (d,)
        :math:`\mathrm E[y\,x]` (least squares) or :math:`\mathrm E[z]` (halfspaces).
    value, gradient : callable
        :math:`f(\tilde w)` (float) and :math:`\nabla f(\tilde w)` (array like `u`).
    mu, L : float
        Extreme eigenvalues of `S`.
    name : str
        For traces and plots.
    coefficients : callable, optional
        :math:`\tilde w\mapsto(c_1,c_2)` with :math:`\nabla f=c_1u+c_2S\tilde w`. When omitted they are
        fitted from the gradient by least squares on the two columns :math:`[u, S\tilde w]`, exact
        whenever the structure holds.
    smoothness : float, optional
        Lipschitz constant of :math:`\nabla f` (plain GD's step is ``1/smoothness``).
    optimum : array, optional
        The minimizer :math:`\tilde w^*`, where known.
    length_derivative : callable, optional
        ``length_derivative(w, Sw)``, given :math:`Sw` (which GDNP has computed anyway), returns
        :math:`g\mapsto\partial_gf(w,g)` cheaply (a closed form in :math:`g` for least squares, a 1-D Gaussian
        expectation of :math:`\varphi'` for the halfspaces); without it each bisection step costs one gradient
        evaluation.
    value_and_gradient : callable, optional
        ``value_and_gradient(w_tilde, S_w_tilde)`` returns :math:`(f(\tilde w),\nabla f(\tilde w))` given
        :math:`S\tilde w`, for objectives where that product is the cost (least squares): GDNP has
        :math:`S\tilde w=(g/\|w\|_S)\,Sw` for free, so an iteration then costs one product with :math:`S`.
    info : dict
        Anything else worth recording (the loss's parameters, measured residuals).
    convex : bool or None
        Whether :math:`f` is convex in :math:`\tilde w` (None: not known).
    loss : str or None
        The loss's name (``"squared"``, ``"softplus"``, ...).
    population : bool
        True for an objective of the population moments, False for one of a finite sample.
    structured : bool
        Whether :math:`\nabla f\in\mathrm{span}\{u,S\tilde w\}` is claimed exactly; :meth:`c` then refuses a
        gradient that leaves the span (:class:`StructureError`) instead of handing GDNP a meaningless step.
        False for objectives GDNP is run on as a heuristic: a finite sample's, and the tanh MLP unit, whose
        structure THEORY.md §3.9 recalls and ``kohler2019.mlp_lemma`` measures.

    :attr:`d` and :attr:`kappa` (:math:`L/\mu`) follow from `S`. Build a problem of your own with
    :meth:`Problem.of`, which computes :math:`\mu, L` and checks the structure.
    """

    S: Array
    u: Array
    value: Callable[[Array], float]
    gradient: Callable[[Array], Array]
    mu: float
    L: float
    name: str = "problem"
    coefficients: Callable[[Array], tuple[float, float]] | None = None
    smoothness: float | None = None
    optimum: Array | None = None
    length_derivative: Callable[[Array, Array], Callable[[float], float]] | None = None
    value_and_gradient: Callable[[Array, Array], tuple[float, Array]] | None = None
    info: dict = field(default_factory=dict)
    convex: bool | None = None
    loss: str | None = None
    population: bool = True
    structured: bool = True

    @property
    def d(self) -> int:
        """The number of weights."""
        return int(self.u.shape[0])

    @property
    def kappa(self) -> float:
        r"""The condition number :math:`L/\mu` of `S`."""
        return self.L / self.mu

    @classmethod
    def of(
        cls,
        objective: Objective,
        S: Array,
        u: Array,
        *,
        name: str = "problem",
        convex: bool | None = None,
        loss: str | None = None,
        population: bool = True,
        smoothness: float | None = None,
        probes: int = 8,
        seed: int = 0,
    ) -> Problem:
        r"""A problem from an objective of your own, validated for GDNP (Kohler et al. 2019, §3).

        Checks `S` (symmetric positive definite, :func:`spd_extremes` gives :math:`\mu, L`), `u` (shape, finite,
        non-zero), and at `probes` random points :math:`\tilde w` (drawn from `seed`): that the gradient is
        finite, agrees with central differences of the value (relative error at most 1e-5), and lies in
        :math:`\mathrm{span}\{u, S\tilde w\}`, the structure :math:`\nabla f=c_1u+c_2S\tilde w` that GDNP's
        length and direction steps assume (relative residual at most :data:`STRUCTURE_TOL`). The measured
        worst residual and gradient error are kept in ``info``.

        Raises
        ------
        StructureError
            If the gradient leaves :math:`\mathrm{span}\{u, S\tilde w\}`, with the residual and the point.
        ValueError
            If `S` or `u` is invalid, or the gradient is non-finite or does not match the value.
        TypeError
            If `objective` lacks ``value`` or ``gradient``.
        """
        for attr in ("value", "gradient"):
            if not callable(getattr(objective, attr, None)):
                raise TypeError(
                    f"objective: needs a callable .{attr}(w_tilde); got {type(objective).__name__}; "
                    "pass an object with value() and gradient()"
                )
        mu, L = spd_extremes(S)
        check_float_array(u, "u")
        check_same_dtype(u, "u", S)
        S_host, u_host = to_numpy(S), to_numpy(u)
        if u_host.shape != (S_host.shape[0],) or not np.all(np.isfinite(u_host)) or not np.any(u_host):
            raise ValueError(
                f"u: expected a finite, non-zero vector of shape ({S_host.shape[0]},); pass E[y x] (or E[z])"
            )
        if isinstance(probes, bool) or not isinstance(probes, int) or probes < 1:
            raise ValueError(f"probes: expected a positive number of test points, got {probes!r}; pass probes >= 1")
        xp = array_namespace(S, u)
        rng = np.random.default_rng(seed)
        worst_structure = worst_gradient = 0.0
        for _ in range(probes):
            w_host = rng.normal(size=u_host.shape) / np.sqrt(u_host.size)
            w = xp.asarray(w_host, dtype=u.dtype)
            grad = to_numpy(objective.gradient(w)).astype(np.float64)
            if grad.shape != u_host.shape or not np.all(np.isfinite(grad)):
                raise ValueError(f"objective.gradient: expected a finite array of shape {u_host.shape} at w = {w_host}")
            scale = max(float(np.linalg.norm(grad)), np.finfo(float).tiny)
            basis = np.stack([u_host, S_host @ w_host], axis=1)
            coef, *_ = np.linalg.lstsq(basis, grad, rcond=None)
            residual = float(np.linalg.norm(grad - basis @ coef)) / scale
            if not residual <= STRUCTURE_TOL:
                raise StructureError(
                    f"objective: its gradient is not in span{{u, S w}} (relative residual {residual:.2g} at "
                    f"w = {np.array2string(w_host, precision=3)}); GDNP's steps need grad f = c1 u + c2 S w "
                    "(least squares, or Gaussian inputs by Stein's lemma); use gd() for this objective"
                )
            h = 1e-6 * max(1.0, float(np.linalg.norm(w_host)))
            direction = rng.normal(size=u_host.shape)
            direction /= np.linalg.norm(direction)
            up, down = (float(objective.value(xp.asarray(w_host + t * direction, dtype=u.dtype))) for t in (h, -h))
            error = abs((up - down) / (2 * h) - float(grad @ direction)) / scale
            if not error <= 1e-5:
                raise ValueError(
                    f"objective: gradient and value disagree (directional derivative off by {error:.2g} relative to "
                    f"|grad| at w = {np.array2string(w_host, precision=3)}); check objective.gradient"
                )
            worst_structure, worst_gradient = max(worst_structure, residual), max(worst_gradient, error)
        info = {"structure_residual": worst_structure, "gradient_error": worst_gradient, "probes": probes}
        return cls(
            S=S,
            u=u,
            value=objective.value,
            gradient=objective.gradient,
            mu=mu,
            L=L,
            name=name,
            smoothness=smoothness,
            info=info,
            convex=convex,
            loss=loss,
            population=population,
        )

    def value_grad(self, w_tilde: Array, S_w_tilde: Array) -> tuple[float, Array]:
        r""":math:`(f(\tilde w), \nabla f(\tilde w))` given :math:`S\tilde w`, used where the problem can."""
        if self.value_and_gradient is not None:
            return self.value_and_gradient(w_tilde, S_w_tilde)
        return self.value(w_tilde), self.gradient(w_tilde)

    def c(self, w_tilde: Array) -> tuple[float, float]:
        r""":math:`(c_1, c_2)` at :math:`\tilde w`."""
        if self.coefficients is not None:
            return self.coefficients(w_tilde)
        return self._fitted_c(w_tilde, self.gradient(w_tilde))

    def _c_given(self, w_tilde: Array, grad: Array) -> tuple[float, float]:
        r""":meth:`c` where :math:`\nabla f(\tilde w)` = `grad` is at hand (GDNP has just computed it)."""
        if self.coefficients is not None:
            return self.coefficients(w_tilde)
        return self._fitted_c(w_tilde, grad)

    def _fitted_c(self, w_tilde: Array, grad: Array) -> tuple[float, float]:
        # Least squares on the columns [u, S w_tilde] through their QR on the backend: only R and Q^T grad
        # (six numbers) reach the host, and lstsq on R gives the same minimum-norm solution as on the columns.
        xp = array_namespace(self.u, w_tilde)
        Q, R = xp.linalg.qr(xp.stack([self.u, self.S @ w_tilde], axis=1))
        rhs = xp.matmul(xp.matrix_transpose(Q), grad)
        R_host = np.array([[float(R[i, j]) for j in range(2)] for i in range(2)])
        rhs_host = np.array([float(rhs[0]), float(rhs[1])])
        coef, *_ = np.linalg.lstsq(R_host, rhs_host, rcond=None)
        if self.structured:
            # The part of the gradient outside span{u, S w}: the fit leaves it, and GDNP's step would ignore it.
            # Taken as a difference of squares, it keeps half the digits (a rounding floor near 1e-8), hence the
            # square root of the tolerance Problem.of applies to the exact residual. |Q^T grad| is on the host.
            total, inside = float(xp.linalg.vector_norm(grad)), float(np.linalg.norm(rhs_host))
            residual = np.sqrt(max(total**2 - inside**2, 0.0)) / max(total, np.finfo(float).tiny)
            if not residual <= np.sqrt(STRUCTURE_TOL):
                raise StructureError(
                    f"{self.name}: the gradient is not in span{{u, S w}} (relative residual {residual:.2g}); GDNP "
                    "needs grad f = c1 u + c2 S w (validate an objective with Problem.of; an objective run as a "
                    "heuristic without that structure is marked structured=False)"
                )
        return float(coef[0]), float(coef[1])


@dataclass(frozen=True)
class Trace:
    r"""Per-iteration record of a run (NumPy arrays; index t is iteration t).

    Attributes
    ----------
    objective : f at the iterate.
    grad_norm : :math:`\|\nabla f(\tilde w_t)\|_{S^{-1}}`.
    rho : :math:`\rho(w_t)`, the direction's Rayleigh quotient (NaN for plain GD on :math:`\tilde w`).
    length : :math:`g_t`.
    length_derivative : :math:`\partial_g f(w_t, g_t)` after the length step.
    direction_grad_norm : :math:`\|w_t\|_S\,\|\nabla_w f(w_t, g_t)\|_{S^{-1}}`.
    step : the direction step size :math:`s_t` (GDNP) or the GD step.
    """

    objective: np.ndarray
    grad_norm: np.ndarray
    rho: np.ndarray
    length: np.ndarray
    length_derivative: np.ndarray
    direction_grad_norm: np.ndarray
    step: np.ndarray


@dataclass(frozen=True)
class GDNPResult:
    r"""The output :math:`\tilde w_{T_d}`, the final direction and length, and the trace."""

    w_tilde: Array
    w: Array
    g: float
    trace: Trace
    stopped_early: bool


def _s_norm(S: Array, w: Array) -> float:
    return float(w @ (S @ w)) ** 0.5


def _dual_norm(S_inv: Array, v: Array) -> float:
    r""":math:`\|v\|_{S^{-1}}=\sqrt{v^\top S^{-1}v}`, with :math:`S^{-1}` formed once per run (one matvec per norm)."""
    return max(float(v @ (S_inv @ v)), 0.0) ** 0.5


def rayleigh_quotient(w: Array, u: Array, S: Array) -> float:
    r"""The least-squares quotient :math:`\rho(w)=-(u^\top w)^2/(w^\top Sw)` (Kohler et al. 2019; THEORY.md §3.3).

    Scale invariant in `w`, which is first scaled by a power of two (exact) to unit size: no overflow.
    """
    check_matrix(S, "S")
    check_float_array(u, "u", finite=True)
    check_same_dtype(u, "u", S)
    if tuple(u.shape) != (S.shape[0],):
        raise ValueError(f"u: expected shape ({S.shape[0]},) to match S, got {tuple(u.shape)}; pass matching u, S")
    check_vector_like(w, "w", u)
    w = w * float(np.ldexp(1.0, -_unit_exponent(w)))
    return -(scalar(u @ w) ** 2) / scalar(w @ (S @ w))


def bisection(dg: Callable[[float], float], a: float, b: float, steps: int) -> tuple[float, float]:
    r"""Halve a bracket :math:`[a,b]` with :math:`dg(a)\le0\le dg(b)` `steps` times; return the left end and the width.

    The theorem is stated at the left end :math:`a^{(T_s)}` (THEORY.md §3.7).
    """
    check_callable(dg, "dg", "a function g -> d f / d g")
    a, b = check_real(a, "a"), check_real(b, "b")
    check_int(steps, "steps", minimum=0)
    left, width, _ = _bisect(dg, a, b, dg(a), dg(b), steps)
    return left, width


def _bisect(
    dg: Callable[[float], float], a: float, b: float, d_a: float, d_b: float, steps: int
) -> tuple[float, float, float]:
    """:func:`bisection` given ``d_a = dg(a)``, ``d_b = dg(b)``, unchecked; also returns dg at the left end.

    GDNP's loop calls it with the bracket and end values :func:`_bracket` found: no argument checks and no
    evaluation of `dg` besides the midpoints (each one a quadrature for the halfspace objectives).
    """
    if not d_a <= 0 <= d_b:
        raise ValueError(
            f"bisection: [a, b] = [{a:g}, {b:g}] does not bracket a root with dg(a) <= 0 <= dg(b); widen the bracket"
        )
    for _ in range(steps):
        c = (a + b) / 2
        d_c = dg(c)
        if d_c > 0:
            b = c
        else:
            a, d_a = c, d_c
    return a, b - a, d_a


def _bracket(dg: Callable[[float], float], g0: float) -> tuple[float, float, float, float]:
    """Expand geometrically from g0 towards the root of the increasing function dg until the sign changes.

    Returns the bracket ``(a, b)`` and ``dg(a)``, ``dg(b)``. The step starts at 0.618 |g0| so that no end point
    or midpoint is exactly 0 (where the direction step would divide by zero, THEORY.md §8).
    """
    step = 0.618 * max(abs(g0), 1e-3)
    d0 = dg(g0)
    sign = -1.0 if d0 > 0 else 1.0
    a, d_a = g0, d0
    for _ in range(200):
        b = a + sign * step
        d_b = dg(b)
        if (d_b > 0) != (d0 > 0):
            return (a, b, d_a, d_b) if sign > 0 else (b, a, d_b, d_a)
        a, d_a, step = b, d_b, 2 * step
    raise ValueError("length step: no sign change of d f / d g found; the objective may be unbounded in the length")


def direction_gradient(problem: Problem, w: Array, g: float) -> tuple[Array, Array]:
    r"""The gradient in the direction, :math:`\nabla_wf(w,g)`, and :math:`\tilde w=g\,w/\|w\|_S`.

    .. math:: \nabla_wf(w,g)=\frac{g}{\|w\|_S}\Big(I-\frac{Sww^\top}{\|w\|_S^2}\Big)\nabla f(\tilde w)

    (Kohler et al. 2019; THEORY.md §3.2, [D]).
    """
    _check_problem(problem)
    check_vector_like(w, "w", problem.u)
    g = check_real(g, "g")
    Sw = problem.S @ w
    dw, w_tilde, _, _ = _direction_parts(problem, w, g, Sw, float(w @ Sw) ** 0.5)
    return dw, w_tilde


def _direction_parts(
    problem: Problem, w: Array, g: float, Sw: Array, norm: float, *, with_value: bool = False
) -> tuple[Array, Array, Array, float | None]:
    r"""Direction gradient, :math:`\tilde w`, :math:`\nabla f(\tilde w)` and (if asked) :math:`f(\tilde w)`.

    :math:`Sw` and :math:`\|w\|_S` = ``float(w @ Sw) ** 0.5`` are computed by the caller, which needs them too.
    """
    w_tilde = g * w / norm
    if with_value:
        value, grad = problem.value_grad(w_tilde, (g / norm) * Sw)
    else:
        value, grad = None, problem.gradient(w_tilde)
    return g / norm * (grad - Sw * (float(w @ grad) / norm**2)), w_tilde, grad, value


def gdnp(
    problem: Problem, w0: Array, *, T_d: int = 50, T_s: int = 40, g0: float = 1.0, diagnostics: bool = True
) -> GDNPResult:
    r"""Run GDNP (Kohler et al. 2019; THEORY.md §3.7): length by bisection, then a direction step, `T_d` times.

    Parameters
    ----------
    problem : Problem
        The objective and its moments (see :mod:`bntheory.optim.problems`).
    w0 : array, shape (d,)
        Initial direction; needs :math:`u^\top w_0\ne0` (otherwise the direction step is 0/0), checked
        relative to :math:`\|u\|\|w_0\|` at 1e-12.
    T_d : int
        Number of direction steps.
    T_s : int
        Bisection steps per length step.
    g0 : float
        Starting point of the first bracket search (later ones start from the previous length).
    diagnostics : bool
        Record the dual norms :math:`\|\nabla f(\tilde w_t)\|_{S^{-1}}` and
        :math:`\|w_t\|_S\|\nabla_wf\|_{S^{-1}}` in the trace. They cost :math:`S^{-1}` (formed once) and two
        products with it per iteration; with ``False`` they are NaN and an iteration on least squares costs two
        products with :math:`S` (large studies, the GPU).

    Returns
    -------
    GDNPResult
        ``stopped_early`` is true when the stopping criterion :math:`h_t=0` was met (a critical point).

    Raises
    ------
    ValueError
        If :math:`u^\top w_0=0`, `w0` is zero or not finite, or `T_d`, `T_s` are negative.

    Notes
    -----
    Only the direction of `w0` matters (the iterates are renormalized after every step). A start whose largest
    entry is beyond :math:`2^{\pm 500}` (where :math:`w^\top Sw` would overflow or underflow) is first scaled by a
    power of two (exactly) into [1/2, 1); any other start is used as given.
    """
    _check_problem(problem)
    for name, value in (("T_d", T_d), ("T_s", T_s)):
        check_int(value, name)
    if T_d < 0 or T_s < 0:
        raise ValueError(f"T_d and T_s must be >= 0, got {T_d} and {T_s}; pass non-negative step counts")
    if check_real(g0, "g0") == 0:
        raise ValueError("g0: the length step starts at g0 and the direction step divides by g; pass g0 != 0")
    diagnostics = check_bool(diagnostics, "diagnostics")
    S, u = problem.S, problem.u
    check_vector_like(w0, "w0", u)
    if abs(exponent := _unit_exponent(w0)) > 500:
        w0 = w0 * float(np.ldexp(1.0, -exponent))
    xp = array_namespace(u, w0)
    # Orthogonal up to rounding counts as orthogonal: from u^T w0 ~ 1e-16 the first step is rounding noise
    # amplified by 1/(u^T w0) (THEORY.md §8), not the algorithm.
    if abs(float(u @ w0)) <= 1e-12 * float(xp.linalg.vector_norm(u)) * float(xp.linalg.vector_norm(w0)):
        raise ValueError("w0: u^T w0 = 0 violates the assumption of GDNP (the direction step is 0/0); perturb w0")
    w, g = w0, g0
    S_inv = xp.linalg.inv(S) if diagnostics else None
    rows: list[tuple[float, ...]] = []
    stopped = False
    for t in range(T_d + 1):
        # S w serves the length step, the direction step and the trace alike: one product per iteration.
        Sw = S @ w
        wSw, uw = float(w @ Sw), float(u @ w)
        norm = wSw**0.5
        if problem.length_derivative is not None:
            dg = problem.length_derivative(w, Sw)
        else:

            def dg(length: float, w: Array = w, norm: float = norm) -> float:
                return float(w @ problem.gradient(length * w / norm)) / norm

        # The bracket's end values and the left end's derivative (for the trace) come back from the search:
        # each evaluation of dg is a quadrature on the halfspaces, none is repeated.
        a, b, d_a, d_b = _bracket(dg, g if g != 0 else g0)
        g, _, dg_g = _bisect(dg, a, b, d_a, d_b, T_s)
        dw, w_tilde, grad, value = _direction_parts(problem, w, g, Sw, norm, with_value=True)
        c1, _ = problem._c_given(w_tilde, grad)
        h = c1 * uw
        step = -(norm**3) / (problem.L * g * h) if h != 0 else 0.0
        rows.append(
            (
                value,
                _dual_norm(S_inv, grad) if diagnostics else np.nan,
                -(uw**2) / wSw,  # rayleigh_quotient(w, u, S)
                g,
                dg_g,
                norm * _dual_norm(S_inv, dw) if diagnostics else np.nan,
                step,
            )
        )
        if t == T_d:
            break
        if h == 0:
            stopped = True
            break
        w = w - step * dw
        # The update is homogeneous of degree 1 in w and f depends on w / ||w||_S only, so rescaling
        # changes no direction; it keeps ||w|| near 1 where a too-large step would otherwise overflow.
        w = w / xp.linalg.vector_norm(w)
    trace = Trace(*(np.array(col) for col in zip(*rows, strict=True)))
    return GDNPResult(g * w / _s_norm(S, w), w, g, trace, stopped)


def gd(problem: Problem, w_tilde0: Array, *, T: int = 50, step: float | None = None, tol: float = 0.0) -> Trace:
    r"""Plain gradient descent on :math:`\tilde w`: :math:`\tilde w_{t+1}=\tilde w_t-\eta\nabla f(\tilde w_t)`.

    Parameters
    ----------
    problem : Problem
        The objective (see :mod:`bntheory.optim.problems`).
    w_tilde0 : array, shape (d,)
        Starting point.
    T : int
        Most iterations.
    step : float, optional
        :math:`\eta`; defaults to :math:`1/\zeta` with :math:`\zeta` the problem's smoothness (well-tuned GD).
    tol : float
        Stop at the first iterate with :math:`\|\nabla f(\tilde w_t)\|_{S^{-1}}\le` `tol` (the trace ends there);
        0 runs all `T` iterations.

    Returns
    -------
    Trace
        One row per iterate (at most ``T + 1``).
    """
    _check_problem(problem)
    check_vector_like(w_tilde0, "w_tilde0", problem.u, nonzero=False)
    check_int(T, "T")
    if step is not None:
        check_real(step, "step")
    check_real(tol, "tol")
    if step is None:
        if problem.smoothness is None:
            raise ValueError("step: the problem has no smoothness constant; pass the step size explicitly")
        step = 1.0 / problem.smoothness
    if not step > 0:
        raise ValueError(f"step: must be positive, got {step}; pass a step > 0")
    if T < 0 or not tol >= 0:
        raise ValueError(f"T and tol must be >= 0, got {T} and {tol}; pass non-negative values")
    S = problem.S
    S_inv = array_namespace(S).linalg.inv(S)
    w = w_tilde0
    rows = []
    for _ in range(T + 1):
        grad = problem.gradient(w)
        rows.append((problem.value(w), _dual_norm(S_inv, grad), np.nan, _s_norm(S, w), np.nan, np.nan, step))
        if rows[-1][1] <= tol:
            break
        w = w - step * grad
    return Trace(*(np.array(col) for col in zip(*rows, strict=True)))


def rayleigh_gd(
    A: Array,
    B: Array,
    w0: Array,
    *,
    T: int = 50,
    L: float | None = None,
    lam_min: float | None = None,
) -> tuple[Array, np.ndarray]:
    r"""Gradient ascent on the generalized Rayleigh quotient :math:`\rho(w)=w^\top Bw/w^\top Aw` (THEORY.md §3.4).

    .. math:: w_{t+1}=w_t+\frac{1}{L(\rho_t-\lambda_{\min})}\big(Bw_t-\rho_tAw_t\big)

    with :math:`L=\lambda_{\max}(A)` and :math:`\lambda_{\min}` the smallest eigenvalue of the pencil
    :math:`(B,A)`. Iterates are renormalized (:math:`\rho` is scale invariant). The iteration stops early when
    :math:`\rho_t\le\lambda_{\min}` (the step is undefined there).

    Parameters
    ----------
    A, B : array, shape (d, d)
        SPD `A` and symmetric `B`.
    w0 : array, shape (d,)
        Start, :math:`w_0\ne0`.
    T : int
        Most steps.
    L, lam_min : float, optional
        The constants of the step; each one not given is computed (``scipy.linalg.eigvalsh(A)``, largest, and
        ``scipy.linalg.eigh(B, A)``, smallest).

    Returns
    -------
    (array, ndarray)
        The last iterate and :math:`\rho(w_t)` for t = 0..T.
    """
    import scipy.linalg

    check_matrix(A, "A")
    check_matrix(B, "B")
    check_same_dtype(B, "B", A)
    if tuple(B.shape) != tuple(A.shape):
        raise ValueError(f"B: expected the shape of A {tuple(A.shape)}, got {tuple(B.shape)}; pass matching matrices")
    check_float_array(w0, "w0", finite=True)
    check_same_dtype(w0, "w0", A)
    if tuple(w0.shape) != (A.shape[0],):
        raise ValueError(f"w0: expected shape ({A.shape[0]},), got {tuple(w0.shape)}; pass one entry per row of A")
    if not bool(array_namespace(w0).any(w0 != 0)):
        raise ValueError("w0: is zero, so it has no direction; pass a non-zero start")
    check_int(T, "T", minimum=0)
    if L is not None:
        L = check_real(L, "L", low=0.0, open_low=True)
    if lam_min is not None:
        lam_min = check_real(lam_min, "lam_min")
    if L is None:
        L = float(scipy.linalg.eigvalsh(to_numpy(A))[-1])
    if lam_min is None:
        lam_min = float(scipy.linalg.eigh(to_numpy(B), to_numpy(A), eigvals_only=True)[0])
    xp = array_namespace(A, B, w0)
    w = w0 / xp.linalg.vector_norm(w0)
    rhos = []
    for _ in range(T + 1):
        Bw, Aw = B @ w, A @ w
        rho = scalar(w @ Bw) / scalar(w @ Aw)
        rhos.append(rho)
        if rho - lam_min <= 0:
            break
        w = w + (Bw - rho * Aw) / (L * (rho - lam_min))
        w = w / xp.linalg.vector_norm(w)
    return w, np.array(rhos)


def alternating_gdnp(
    unit_problem: Callable[[np.ndarray, int], Problem], W0: np.ndarray, *, sweeps: int = 3, T_d: int = 20, T_s: int = 40
) -> tuple[np.ndarray, list[list[GDNPResult]]]:
    r"""GDNP on each hidden unit in turn, the others held fixed (Kohler et al. 2019, the tanh MLP; THEORY.md §3.9).

    Parameters
    ----------
    unit_problem : callable
        ``unit_problem(W, i)`` returns unit i's :class:`Problem` with the other rows of `W` fixed (e.g.
        :func:`bntheory.optim.problems.tanh_mlp_unit`).
    W0 : ndarray, shape (m, d)
        Initial input weights, one row per unit (each row needs :math:`u^\top w\ne0`).
    sweeps, T_d, T_s : int
        Passes over the units, and GDNP's direction and bisection steps per unit and pass.

    Returns
    -------
    (ndarray, list of list of GDNPResult)
        The final weights :math:`\tilde W` and, per sweep, each unit's run.
    """
    check_callable(unit_problem, "unit_problem", "a function (W, i) -> Problem")
    if not isinstance(W0, np.ndarray):
        raise TypeError(f"W0: expected a NumPy array (m, d), got {type(W0).__name__}; convert it with numpy.asarray")
    check_float_array(W0, "W0", min_ndim=2, finite=True)
    if W0.ndim != 2 or 0 in W0.shape:
        raise ValueError(f"W0: expected shape (m, d) with one row per unit, got {W0.shape}; reshape it")
    for name, value in (("sweeps", sweeps), ("T_d", T_d), ("T_s", T_s)):
        check_int(value, name, minimum=0)
    W = np.array(W0, dtype=np.float64)
    runs = []
    for _ in range(sweeps):
        sweep = []
        for i in range(W.shape[0]):
            res = gdnp(unit_problem(W, i), W[i], T_d=T_d, T_s=T_s)
            W[i] = to_numpy(res.w_tilde)
            sweep.append(res)
        runs.append(sweep)
    return W, runs
