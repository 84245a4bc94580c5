r"""The problems a study can sweep: least squares, halfspaces and the tanh MLP unit of :mod:`bntheory.optim`.

Each builder draws one instance from a generator seeded for the cell's problem and repetition (so every method of
a study meets the same instance and the same start: common random numbers), and returns an :class:`Instance`:
the library's :class:`~bntheory.optim.gdnp.Problem`, the moments it was built from, the start, and the oracle
quantities the measures and the verdicts compare with, computed from what the builder drew (``numpy.linalg.lstsq``
and ``numpy.linalg.solve``), never read from the problem object.

Instances come from the check kit (:mod:`bntheory.checks.instances.optim`): a start ``"adversarial"`` is its
near-optimal start along the flattest eigenvector, where GDNP's bound is nearly attained (THEORY.md §3.5).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from bntheory.checks.instances.optim import halfspace_instance, least_squares_instance, near_optimum, ols
from bntheory.optim import problems
from bntheory.optim.gdnp import Problem
from bntheory.study.params import Param

__all__ = ["PROBLEMS", "Instance", "ProblemKind"]

_START = Param(
    "str", "random", "the start: a Gaussian draw, or near the optimum along v_mu", choices=("random", "adversarial")
)
_LOSS = Param("str", "softplus", "the loss phi of the margin", choices=tuple(problems.LOSSES))
_D = Param("int", 10, "the dimension", minimum=2)
_KAPPA = Param("float", 10.0, "the condition number of S", minimum=1.0)


@dataclass(frozen=True)
class Instance:
    r"""One drawn problem and what its measures need.

    Attributes
    ----------
    problem : Problem
        The library's objective.
    S, u : ndarray
        The moments it was built from (host copies).
    start : ndarray
        GDNP's first direction :math:`w_0`.
    start_tilde : ndarray
        The other methods' first iterate :math:`\tilde w_0` (the same draw for a random start; for an adversarial
        one, the kit's :math:`\tilde w^*+10^{-2}\|\tilde w^*\|v_\mu`, where GD attains the bound exactly).
    rho_star : float
        :math:`\rho^*=-u^\top S^{-1}u` (NaN where the problem has no Rayleigh reduction).
    f_star : float
        The optimal value (NaN where not known in closed form).
    w_star : ndarray or None
        The minimizer, where known (least squares: ``lstsq``'s solution).
    adversarial : bool
        The start is the near-optimal one where the bound is nearly attained.
    """

    problem: Problem
    S: np.ndarray
    u: np.ndarray
    start: np.ndarray
    start_tilde: np.ndarray
    rho_star: float
    f_star: float
    w_star: np.ndarray | None
    adversarial: bool


@dataclass(frozen=True)
class ProblemKind:
    """A problem a spec can name: its parameters, its smoke-sized values and its builder."""

    params: dict[str, Param]
    smoke: dict[str, object]
    build: Callable[[np.random.Generator, dict], Instance]
    doc: str
    #: A check across parameters (one point of the grid): the problem with it, or None.
    check: Callable[[dict], str | None] = lambda point: None


def _rho_star(S: np.ndarray, u: np.ndarray) -> float:
    # As the quotient at the solution, where it is stationary: its error is second order in the solver's.
    w = np.linalg.solve(S, u)
    return -(float(u @ w) ** 2) / float(w @ S @ w)


def _least_squares(rng: np.random.Generator, p: dict) -> Instance:
    adversarial = p["start"] == "adversarial"
    n = p["n"] if p["n"] is not None else 20 * p["d"]
    if n < p["d"]:
        raise ValueError(f"n: need at least d = {p['d']} samples, got {n}")
    X, y = least_squares_instance(rng, n, p["d"], p["kappa"], flat=adversarial)
    oracle = ols(X, y)
    if adversarial:
        start = near_optimum(oracle.S, oracle.u)
        start_tilde = oracle.w + 1e-2 * np.linalg.norm(oracle.w) * np.linalg.eigh(oracle.S)[1][:, 0]
    else:
        start = start_tilde = rng.normal(size=p["d"])
    return Instance(
        problems.least_squares(X, y),
        oracle.S,
        oracle.u,
        start,
        start_tilde,
        oracle.rho_star,
        oracle.f_star,
        oracle.w,
        adversarial,
    )


def _halfspace(rng: np.random.Generator, p: dict) -> Instance:
    adversarial = p["start"] == "adversarial"
    S, u = halfspace_instance(rng, p["d"], p["kappa"], flat=adversarial)
    start = near_optimum(S, u) if adversarial else rng.normal(size=p["d"])
    return Instance(
        problems.halfspace(S, u, loss=p["loss"]), S, u, start, start, _rho_star(S, u), np.nan, None, adversarial
    )


def _tanh_mlp(rng: np.random.Generator, p: dict) -> Instance:
    S, u = halfspace_instance(rng, p["d"], p["kappa"])
    W = rng.normal(size=(2, p["d"])) / np.sqrt(p["d"])
    # Unit 0 is the variable, unit 1 held at its draw (THEORY.md §3.9); output weights as the kit's mlp_instance.
    problem = problems.tanh_mlp_unit(S, u, W, np.array([1.0, -0.7]), 0, loss=p["loss"])
    return Instance(problem, S, u, W[0].copy(), W[0].copy(), np.nan, np.nan, None, False)


#: Name -> kind. Smoke values shrink a problem to a fraction of a second per method.
PROBLEMS: dict[str, ProblemKind] = {
    "least_squares": ProblemKind(
        {"d": _D, "kappa": _KAPPA, "n": Param("int", None, "the samples (default 20 d)", minimum=2), "start": _START},
        {"d": 5, "n": 50},
        _least_squares,
        "least squares from n Gaussian samples whose covariance has condition kappa (Kohler et al. 2019, §3.5)",
        lambda p: (
            f"n = {p['n']} samples are fewer than d = {p['d']}" if p["n"] is not None and p["n"] < p["d"] else None
        ),
    ),
    "halfspace": ProblemKind(
        {"d": _D, "kappa": _KAPPA, "loss": _LOSS, "start": _START},
        {"d": 4},
        _halfspace,
        "learning a halfspace with Gaussian inputs, u^T S^-1 u = 1/2 (Kohler et al. 2019, §3.6)",
    ),
    "tanh_mlp": ProblemKind(
        {"d": Param("int", 4, "the input dimension", minimum=2), "kappa": _KAPPA, "loss": _LOSS},
        {"d": 3},
        _tanh_mlp,
        "one unit of the two-unit tanh MLP, the other held fixed (Kohler et al. 2019, §3.9; no rate claimed)",
    ),
}
