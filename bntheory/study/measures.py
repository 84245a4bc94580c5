r"""The measures a study records per iterate: gaps, the gradient's dual norm, the angle, and the theorem's bound.

Each is computed from a run's raw record (:func:`bntheory.study.runs.compute`): the per-iterate objective
:math:`f`, Rayleigh quotient :math:`\rho` and :math:`\|\nabla f\|_{S^{-1}}`, and the instance's
:math:`\rho^*=-u^\top S^{-1}u` and :math:`f^*` (oracles, from what the run drew). A measure undefined for a run
(:math:`f^*` of a halfspace, :math:`\rho` of plain GD's trace, a bound where no theorem applies) is NaN.

``angle`` is the angle to :math:`S^{-1}u` in the :math:`S` inner product, where
:math:`\cos^2\angle_S(w,S^{-1}u)=(u^\top w)^2/(\|w\|_S^2\,u^\top S^{-1}u)=\rho(w)/\rho^*` (THEORY.md §3.3).
``bound[exponent=a]`` is the claimed :math:`q^{at}e_0` of the theorem's measure :math:`e_t`
(:mod:`bntheory.study.theorems`); ``a = 1`` is the theorem, ``a > 1`` a faster claim (the kit's sharp control).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from bntheory.study.params import Param

__all__ = ["MEASURES", "MeasureKind"]


@dataclass(frozen=True)
class MeasureKind:
    """A measure a spec can name: its parameters and how it is computed from a run's raw record."""

    params: dict[str, Param]
    compute: Callable[[dict, dict], np.ndarray]
    doc: str


def _angle(raw: dict, p: dict) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.asarray(raw["rho"]) / raw["rho_star"]
    return np.arccos(np.sqrt(np.clip(ratio, 0.0, 1.0)))


def _bound(raw: dict, p: dict) -> np.ndarray:
    error, t = np.asarray(raw["error"], dtype=np.float64), np.arange(len(raw["error"]), dtype=np.float64)
    return error[0] * raw["q"] ** (p["exponent"] * t) if len(error) else error


MEASURES: dict[str, MeasureKind] = {
    "objective": MeasureKind({}, lambda raw, p: np.asarray(raw["objective"]), "f at the iterate"),
    "objective_gap": MeasureKind({}, lambda raw, p: np.asarray(raw["objective"]) - raw["f_star"], "f - f*"),
    "rho_gap": MeasureKind({}, lambda raw, p: np.asarray(raw["rho"]) - raw["rho_star"], "rho(w_t) - rho*"),
    "grad_norm": MeasureKind({}, lambda raw, p: np.asarray(raw["grad_norm"]), "||grad f||_{S^-1}"),
    "angle": MeasureKind({}, _angle, "the S-angle to S^-1 u, radians"),
    "bound": MeasureKind(
        {"exponent": Param("float", 1.0, "the claimed rate's exponent a in q^(a t)", minimum=0.0)},
        _bound,
        "the theorem's bound q^(a t) e_0 on its measure",
    ),
}
