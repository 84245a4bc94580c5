r"""The scale-invariance identities of a BN unit, in SymPy (THEORY-2.md §10.1, [D]).

One BN unit on a batch of `m` rational samples in :math:`\mathbb R^d` (the setting of
:func:`bntheory.optim.scale_invariant.bn_unit` at :math:`\epsilon=0`),

.. math:: L(w)=\frac1{2m}\sum_i\Big(\gamma\frac{z_i-\bar z}{s}-y_i\Big)^2,\quad z=Xw,\quad s=\sqrt{q(w)},\quad
          q(w)=\tfrac1m\textstyle\sum_i(z_i-\bar z)^2,

with symbols for :math:`w`. To keep SymPy away from discovering square-root identities, :math:`s` is a positive
symbol with :math:`\partial s/\partial w_i=\partial_iq/(2s)` (the chain rule written out), :math:`w\mapsto cw`
maps :math:`s\mapsto cs` (:math:`c>0`), and an expression vanishes iff the numerator of its normal form is 0
modulo :math:`s^2-q(w)` (polynomial remainder in :math:`s`): an exact decision. The expressions are fractions in
:math:`\mathbb Q(s,w,c)` (:class:`~bntheory.symbolic.fields.RadicalField`, its derivative the chain rule above), in
lowest terms after every operation, rather than SymPy trees expanded at the end.
"""

from __future__ import annotations

import sympy as sp

from bntheory.symbolic.fields import RadicalField

__all__ = ["bn_unit_residuals"]

#: A batch of 3 samples in R^2, its targets and the gain (rational, so that every step is exact).
X = ((1, 2), (-1, 3), (2, -1))
Y = (1, -2, sp.Rational(1, 2))
GAIN = sp.Rational(3, 2)


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
    m, d = len(X), len(X[0])
    w_sym, c_sym = sp.symbols(f"w1:{d + 1}", real=True), sp.Symbol("c", positive=True)
    z = [sp.Add(*(xi * wi for xi, wi in zip(row, w_sym, strict=True))) for row in X]
    centred = [zi - sp.Add(*z) / m for zi in z]
    field = RadicalField(
        [*w_sym, c_sym], sp.Symbol("s", positive=True), sp.expand(sp.Add(*(e**2 for e in centred)) / m), shifted=False
    )
    w, c, s = [field[v] for v in w_sym], field[c_sym], field.s
    centred = [field.element(e) for e in centred]
    L = sum((GAIN * e / s - yi) ** 2 for e, yi in zip(centred, Y, strict=True)) / (2 * m)

    def D(E, i):  # dE/dw_i + dE/ds * (dq/dw_i) / (2 s): the chain rule through s
        return field.diff(E, w[i])

    scale = {**{v: c * wi for v, wi in zip(w_sym, w, strict=True)}, field.root: c * s}

    def scaled(E):
        return field.compose(E, scale)

    grad = [D(L, i) for i in range(d)]
    power = 2 if wrong_power else 1
    residuals = [scaled(L) - L, sum(g * wi for g, wi in zip(grad, w, strict=True))]
    residuals += [scaled(g) - g / c**power for g in grad]
    if hessian:
        H = [[D(grad[i], j) for j in range(d)] for i in range(d)]
        residuals += [sum(H[i][j] * w[j] for j in range(d)) + grad[i] for i in range(d)]
        residuals += [scaled(H[i][j]) - H[i][j] / c**2 for i in range(d) for j in range(d)]
    return [field.vanishes(e) for e in residuals]
