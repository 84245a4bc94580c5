r"""Length-direction decoupling and the Rayleigh-quotient reduction of least squares, in SymPy.

A unit with centred inputs of covariance :math:`S` sees, after population BN, the weights
:math:`\tilde w=g\,w/\|w\|_S`. With symbols for :math:`w`, :math:`g`, a symmetric :math:`S` and a generic smooth
:math:`f` (a quadratic plus a sine, so that its gradient is arbitrary), every function below returns the
``(expression, target)`` pairs of one derivation; each must be an identity. To avoid asking SymPy to
discover square-root identities, :math:`\|w\|_S` is a positive symbol :math:`n`: the derivations are exact
fractions in :math:`\mathbb Q(n,w,S,\dots)` (:class:`~bntheory.symbolic.fields.RadicalField`, the derivative in
:math:`w` the chain rule through :math:`n`, :math:`\partial_in=(Sw)_i/n`), and each difference is reduced modulo
:math:`n^2=w^\top Sw`; the pairs are ``(reduced difference, 0)``, field elements that are 0 iff the step holds.
The sine of :math:`\theta=\tilde w_1` and its cosine are two more generators, differentiated by the chain rule
:math:`\partial\sin\theta=\cos\theta\,\partial\theta`, :math:`\partial\cos\theta=-\sin\theta\,\partial\theta`.

References
----------
Kohler et al. 2019, arXiv:1805.10694 (THEORY.md §3.1–§3.3, all [D]).
"""

from __future__ import annotations

import sympy as sp

from bntheory.symbolic.fields import RadicalField

__all__ = ["decoupling_steps", "rayleigh_steps"]

Pairs = list[tuple[object, object]]


def _setup(d: int, *others: sp.Symbol):
    r""":math:`\mathbb Q(n,w,S,\text{others})` modulo :math:`n^2=w^\top Sw`, with `w` and the symmetric `S` in it."""
    w_sym = sp.symbols(f"w1:{d + 1}", real=True)
    S_sym = [[sp.Symbol(f"S{min(i, j) + 1}{max(i, j) + 1}", real=True) for j in range(d)] for i in range(d)]
    upper = [S_sym[i][j] for i in range(d) for j in range(i, d)]
    quad = sp.expand(sp.Add(*(w_sym[i] * S_sym[i][j] * w_sym[j] for i in range(d) for j in range(d))))
    field = RadicalField([*w_sym, *upper, *others], sp.Symbol("n", positive=True), quad, shifted=False)
    w = [field[v] for v in w_sym]
    S = [[field[v] for v in row] for row in S_sym]
    return field, w, S, field.element(quad), (w_sym, S_sym)


def _matvec(A, v):
    return [sum(a * x for a, x in zip(row, v, strict=True)) for row in A]


def _dot(a, b):
    return sum(x * y for x, y in zip(a, b, strict=True))


def decoupling_steps(d: int) -> Pairs:
    r"""Decoupling (THEORY.md §3.2) for a generic smooth :math:`f` in dimension `d`.

    1. :math:`f_{BN}(cw,g)=f_{BN}(w,g)` for :math:`c>0` (the direction only enters through :math:`w/\|w\|_S`;
       :math:`\|cw\|_S=c\|w\|_S`, and the sine's argument is unchanged, its own pair);
    2. :math:`\langle\nabla_wf_{BN},w\rangle=0`;
    3. :math:`\nabla_wf_{BN}=\frac{g}{\|w\|_S}\big(I-\frac{Sww^\top}{\|w\|_S^2}\big)\nabla f(\tilde w)`;
    4. :math:`\partial_gf_{BN}=w^\top\nabla f(\tilde w)/\|w\|_S`;
    5. :math:`\|\tilde w\|_S^2=g^2` (the length is :math:`|g|`).
    """
    a_sym = sp.symbols(f"a1:{d + 1}", real=True)
    Q_sym = [[sp.Symbol(f"Q{min(i, j) + 1}{max(i, j) + 1}", real=True) for j in range(d)] for i in range(d)]
    g_sym, c_sym = sp.Symbol("g", real=True), sp.Symbol("c", positive=True)
    sin_sym, cos_sym = sp.symbols("sin_theta cos_theta", real=True)
    others = [*a_sym, *(Q_sym[i][j] for i in range(d) for j in range(i, d)), g_sym, c_sym, sin_sym, cos_sym]
    field, w, S, quad, (w_sym, _) = _setup(d, *others)
    a, Q = [field[v] for v in a_sym], [[field[v] for v in row] for row in Q_sym]
    g, c, sin, cos, n = field[g_sym], field[c_sym], field[sin_sym], field[cos_sym], field.s
    w_tilde = [g * wi / n for wi in w]
    theta = w_tilde[0]

    def D(F, wrt):  # d/d(wrt) through n (RadicalField.diff) and through sin(theta), cos(theta)
        return field.diff(F, wrt) + (F.diff(sin) * cos - F.diff(cos) * sin) * field.diff(theta, wrt)

    f_bn = _dot(a, w_tilde) + _dot(w_tilde, _matvec(Q, w_tilde)) / 2 + sin
    grad_f = [ai + qi for ai, qi in zip(a, _matvec(Q, w_tilde), strict=True)]
    grad_f[0] += cos
    scale = {**{v: c * wi for v, wi in zip(w_sym, w, strict=True)}, field.root: c * n}
    pairs = [field.compose(f_bn, scale) - f_bn, field.compose(theta, scale) - theta]
    dw = [D(f_bn, wi) for wi in w]
    pairs.append(_dot(dw, w))
    Sw, along = _matvec(S, w), _dot(w, grad_f)
    pairs += [dw[i] - g / n * (grad_f[i] - Sw[i] * along / quad) for i in range(d)]
    pairs.append(D(f_bn, g) - along / n)
    pairs.append(_dot(w_tilde, _matvec(S, w_tilde)) - g**2)
    return [(field.reduce(e), 0) for e in pairs]


def rayleigh_steps(d: int) -> Pairs:
    r"""Least squares in normalized parameters reduces to a generalized Rayleigh quotient (THEORY.md §3.3).

    With :math:`f_{OLS}(\tilde w)=\mathrm E[y^2]-2u^\top\tilde w+\tilde w^\top S\tilde w`:

    1. :math:`\partial_gf_{OLS}(w,g)=0` at :math:`g^*=u^\top w/\|w\|_S`, and :math:`\partial_g^2f_{OLS}=2>0`;
    2. :math:`f_{OLS}(w,g^*)=\mathrm E[y^2]+\rho(w)`, :math:`\rho(w)=-\frac{(u^\top w)^2}{w^\top Sw}`;
    3. :math:`\nabla\rho=\frac{2}{w^\top Sw}(Bw-\rho Sw)` with :math:`B=-uu^\top` (stationarity: :math:`Bw=\rho Sw`);
    4. at :math:`w=S^{-1}u` (here for an explicit SPD :math:`S`, so the inverse is exact): :math:`\nabla\rho=0`,
       :math:`\rho=-u^\top S^{-1}u` and :math:`g^*w/\|w\|_S=S^{-1}u`, the OLS solution (modulo
       :math:`n^2=u^\top S^{-1}u` there);
    5. :math:`\|\nabla\rho\|_{S^{-1}}^2=\frac{4(u^\top w)^2}{\|w\|_S^4}(\rho-\rho^*)` (explicit :math:`S`).
    """
    u_sym = sp.symbols(f"u1:{d + 1}", real=True)
    g_sym, yy_sym = sp.Symbol("g", real=True), sp.Symbol("E_y2", positive=True)
    field, w, S, quad, (w_sym, S_sym) = _setup(d, *u_sym, g_sym, yy_sym)
    u, g, yy, n = [field[v] for v in u_sym], field[g_sym], field[yy_sym], field.s
    w_tilde = [g * wi / n for wi in w]
    f = yy - 2 * _dot(u, w_tilde) + _dot(w_tilde, _matvec(S, w_tilde))
    uw = _dot(u, w)
    g_star = uw / n
    rho = -(uw**2) / quad
    df = field.diff(f, g)
    pairs = [field.substitute(df, g_sym, g_star), field.diff(df, g) - 2, field.substitute(f, g_sym, g_star) - yy - rho]
    grad_rho = [field.diff(rho, wi) for wi in w]
    Bw, Sw = [-ui * uw for ui in u], _matvec(S, w)
    pairs += [grad_rho[i] - 2 / quad * (Bw[i] - rho * Sw[i]) for i in range(d)]
    # Steps 4-5 with an explicit SPD matrix (tridiagonal 2, -1), so that S^-1 is exact rational.
    S_num = sp.Matrix(d, d, lambda i, j: 2 if i == j else (-1 if abs(i - j) == 1 else 0))
    S_inv = S_num.inv()
    at_S = {S_sym[i][j]: field.element(S_num[i, j]) for i in range(d) for j in range(i, d)}
    w_star = _matvec([[field.element(S_inv[i, j]) for j in range(d)] for i in range(d)], u)
    at_star = {**at_S, **dict(zip(w_sym, w_star, strict=True))}
    rho_star = -_dot(u, w_star)
    # At (S_num, w*) the relation is n^2 = w*^T S_num w* = u^T S^-1 u: the field of that point.
    star = field.rebased(sp.expand(field.compose(quad, at_star).as_expr()), shifted=False)
    at_point = [*(field.compose(e, at_star) for e in grad_rho), field.compose(rho, at_star) - rho_star]
    at_point += [star.reduce(star.compose(g_star * wi / n, at_star) - vi) for wi, vi in zip(w, w_star, strict=True)]
    grad_num = [field.compose(e, at_S) for e in grad_rho]
    S_inv_f = [[field.element(S_inv[i, j]) for j in range(d)] for i in range(d)]
    dual = _dot(grad_num, _matvec(S_inv_f, grad_num))
    quad_num = field.compose(quad, at_S)
    target = 4 * uw**2 / quad_num**2 * (field.compose(rho, at_S) - rho_star)
    return [(field.reduce(e), 0) for e in pairs] + [(e, 0) for e in at_point] + [(dual - target, 0)]
