r"""Which theorem a cell tests, with its measure and its bound computed from what the cell built.

The kit's rule (:mod:`bntheory.checks.rates`): the bound's factor :math:`q` is computed by the check from the
matrices it drew, never read from the object under test. Here :math:`\mu, L` are ``numpy.linalg.eigvalsh`` of the
instance's :math:`S` (the library's problem computes its own with SciPy, unused), :math:`\rho^*` and :math:`f^*`
come from ``lstsq`` and ``solve`` (:mod:`bntheory.study.problems`).

* least squares, GDNP: :math:`\rho_t-\rho^*\le(1-\mu/L)^{2t}(\rho_0-\rho^*)` (``kohler2019.ls_rate``);
* least squares, GD with its default step :math:`1/(2L)`: :math:`f_t-f^*\le(1-\mu/L)^{2t}(f_0-f^*)`
  (``kohler2019.ls_rate``, its GD check);
* halfspace, GDNP: :math:`\rho_t-\rho^*\le(1-\mu/L)^{2t}(\rho_0-\rho^*)` (``kohler2019.gdnp_direction``).

Every other cell (BNGD, CG, Cholesky, GD with a step of its own, GD on halfspaces, the tanh MLP) is a baseline
or a measurement without a claimed rate: its verdict is "not applicable".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bntheory.study.problems import Instance

__all__ = ["Theorem", "theorem_for"]


@dataclass(frozen=True)
class Theorem:
    r"""A rate claim on one measure of a run: :math:`e_t\le q^te_0` above a rounding floor at ``floor * scale``."""

    result: str
    measure: str
    q: float


def _contraction(S: np.ndarray) -> float:
    eig = np.linalg.eigvalsh((S + S.T) / 2)
    return float((1 - eig[0] / eig[-1]) ** 2)


def theorem_for(problem: str, method: str, method_params: dict, inst: Instance) -> Theorem | None:
    """The claim the cell tests, or None (see the module's table)."""
    if method == "gdnp" and problem in ("least_squares", "halfspace"):
        result = "kohler2019.ls_rate" if problem == "least_squares" else "kohler2019.gdnp_direction"
        return Theorem(result, "rho_gap", _contraction(inst.S))
    if method == "gd" and problem == "least_squares" and method_params.get("step") is None:
        return Theorem("kohler2019.ls_rate", "objective_gap", _contraction(inst.S))
    return None
