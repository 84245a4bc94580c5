r"""The scale-invariance identities of a BN unit, in SymPy (THEORY-2.md §10.1, [D]).

One BN unit on a batch of `m` rational samples in :math:`\mathbb R^d` (the setting of
:func:`bntheory.optim.scale_invariant.bn_unit` at :math:`\epsilon=0`),

.. math:: L(w)=\frac1{2m}\sum_i\Big(\gamma\frac{z_i-\bar z}{s}-y_i\Big)^2,\quad z=Xw,\quad s=\sqrt{q(w)},\quad
          q(w)=\tfrac1m\textstyle\sum_i(z_i-\bar z)^2,

with symbols for :math:`w`. To keep SymPy away from discovering square-root identities, :math:`s` is a positive
symbol with :math:`\partial s/\partial w_i=\partial_iq/(2s)` (the chain rule written out), :math:`w\mapsto cw`
maps :math:`s\mapsto cs` (:math:`c>0`), and an expression vanishes iff the numerator of its normal form is 0
modulo :math:`s^2-q(w)` (polynomial remainder in :math:`s`, after clearing the powers of :math:`s` and :math:`c` that
are the only denominators): an exact decision.
"""

from __future__ import annotations

import sympy as sp

__all__ = ["bn_unit_residuals"]

#: A batch of 3 samples in R^2, its targets and the gain (rational, so that every step is exact).
X = ((1, 2), (-1, 3), (2, -1))
Y = (1, -2, sp.Rational(1, 2))
GAIN = sp.Rational(3, 2)
#: Powers of s and c that clear every denominator of the residuals (L has 1/s^2, each derivative adds at most 1/s^2,
#: the rescaling 1/c^2); a residual with another denominator is normalized by sympy.together instead.
POWER_S, POWER_C = 10, 4


def bn_unit_residuals(*, hessian: bool = True, wrong_power: bool = False) -> list[bool]:
    r"""Whether each identity of THEORY-2.md §10.1 holds exactly for the BN unit (True: the residual is 0).

    In order: :math:`L(cw)=L(w)`; :math:`\langle\nabla L,w\rangle=0` (which is also the norm growth
    :math:`\|w-\eta\nabla L\|^2-\|w\|^2-\eta^2\|\nabla L\|^2=-2\eta\langle\nabla L,w\rangle`);
    :math:`\nabla L(cw)=\nabla L(w)/c` (d entries; at :math:`c=1/\|w\|` it is :math:`\nabla L(w)=\nabla L(u)/\|w\|`);
    with `hessian` also :math:`H(w)w=-\nabla L(w)` (d entries) and :math:`H(cw)=H(w)/c^2` (d^2 entries).

    Parameters
    ----------
    hessian : bool
        Include the two Hessian identities (most of the cost).
    wrong_power : bool
        The control: test :math:`\nabla L(cw)=\nabla L(w)/c^2` in place of :math:`/c`.
    """
    Xm, y = sp.Matrix(X), sp.Matrix(Y)
    m, d = Xm.shape
    w = list(sp.symbols(f"w1:{d + 1}", real=True))
    c, s = sp.symbols("c s", positive=True)
    z = Xm * sp.Matrix(w)
    centred = z - sp.ones(m, 1) * (sum(z) / m)
    q = sp.expand(sum(e**2 for e in centred) / m)
    L = sum((GAIN * e / s - yi) ** 2 for e, yi in zip(centred, y, strict=True)) / (2 * m)

    def D(E, i):
        return sp.diff(E, w[i]) + sp.diff(E, s) * sp.diff(q, w[i]) / (2 * s)

    def scaled(E):
        return E.subs({**{wi: c * wi for wi in w}, s: c * s}, simultaneous=True)

    def vanishes(E) -> bool:
        # Every denominator is a power of s or c (L has 1/s, D adds 1/s, the rescaling 1/c): clearing them by
        # hand leaves a polynomial, far cheaper than sympy.together; anything else takes the general route.
        numerator = sp.expand(E * s**POWER_S * c**POWER_C)
        if not numerator.is_polynomial(s, c, *w):
            numerator = sp.expand(sp.numer(sp.together(E)))
        return sp.rem(sp.Poly(numerator, s), sp.Poly(s**2 - q, s)).is_zero

    grad = [D(L, i) for i in range(d)]
    power = 2 if wrong_power else 1
    residuals = [scaled(L) - L, sum(g * wi for g, wi in zip(grad, w, strict=True))]
    residuals += [scaled(g) - g / c**power for g in grad]
    if hessian:
        H = [[D(grad[i], j) for j in range(d)] for i in range(d)]
        residuals += [sum(H[i][j] * w[j] for j in range(d)) + grad[i] for i in range(d)]
        residuals += [scaled(H[i][j]) - H[i][j] / c**2 for i in range(d) for j in range(d)]
    return [vanishes(e) for e in residuals]
