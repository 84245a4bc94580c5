r"""Length-direction decoupling and the Rayleigh-quotient reduction of least squares, in SymPy.

A unit with centred inputs of covariance :math:`S` sees, after population BN, the weights
:math:`\tilde w=g\,w/\|w\|_S`. With symbols for :math:`w`, :math:`g`, a symmetric :math:`S` and a generic smooth
:math:`f` (a quadratic plus a sine, so that its gradient is arbitrary), every function below returns the
``(expression, target)`` pairs of one derivation; each must be an identity. To avoid asking SymPy to
discover square-root identities, :math:`\|w\|_S` is a positive symbol :math:`n` and :math:`S_{11}` is
eliminated through :math:`w^\top Sw=n^2` before simplifying.

References
----------
Kohler et al. 2019, arXiv:1805.10694 (THEORY.md §3.1–§3.3, all [D]).
"""

from __future__ import annotations

import sympy as sp

__all__ = ["decoupling_steps", "rayleigh_steps"]

Pairs = list[tuple[sp.Expr, sp.Expr]]


def _setup(d: int):
    w = sp.Matrix(sp.symbols(f"w1:{d + 1}", real=True))
    u = sp.Matrix(sp.symbols(f"u1:{d + 1}", real=True))
    S = sp.Matrix(d, d, lambda i, j: sp.Symbol(f"S{min(i, j) + 1}{max(i, j) + 1}", real=True))
    g, n = sp.Symbol("g", real=True), sp.Symbol("n", positive=True)
    quad = (w.T * S * w)[0]
    return w, u, S, g, n, quad


def _reduce(expr, quad, n):
    r"""Replace :math:`\sqrt{w^\top Sw}` by `n`, then eliminate :math:`S_{11}` through :math:`w^\top Sw=n^2`.

    The elimination is a rational substitution, so what is left is a rational function of the symbols
    (and of the sine and cosine of one, which ``cancel`` treats as generators) and ``cancel`` decides exactly
    whether it vanishes.
    """
    S11, w1 = sp.Symbol("S11", real=True), sp.Symbol("w1", real=True)
    expr = expr.subs(sp.sqrt(quad), n)
    # w^T S w is linear in S11 with coefficient w1^2: solve it by hand (sympy.solve costs a third of the run).
    solved = (n**2 - quad.subs(S11, 0)) / w1**2
    return sp.cancel(sp.expand(expr.subs(S11, solved)))


def decoupling_steps(d: int) -> Pairs:
    r"""Decoupling (THEORY.md §3.2) for a generic smooth :math:`f` in dimension `d`.

    1. :math:`f_{BN}(cw,g)=f_{BN}(w,g)` for :math:`c>0` (the direction only enters through :math:`w/\|w\|_S`);
    2. :math:`\langle\nabla_wf_{BN},w\rangle=0`;
    3. :math:`\nabla_wf_{BN}=\frac{g}{\|w\|_S}\big(I-\frac{Sww^\top}{\|w\|_S^2}\big)\nabla f(\tilde w)`;
    4. :math:`\partial_gf_{BN}=w^\top\nabla f(\tilde w)/\|w\|_S`;
    5. :math:`\|\tilde w\|_S^2=g^2` (the length is :math:`|g|`).
    """
    w, _, S, g, n, quad = _setup(d)
    a = sp.Matrix(sp.symbols(f"a1:{d + 1}", real=True))
    Q = sp.Matrix(d, d, lambda i, j: sp.Symbol(f"Q{min(i, j) + 1}{max(i, j) + 1}", real=True))

    def f(v):
        return (a.T * v)[0] + (v.T * Q * v)[0] / 2 + sp.sin(v[0])

    def grad_f(v):
        return a + Q * v + sp.Matrix([sp.cos(v[0])] + [0] * (d - 1))

    norm = sp.sqrt(quad)
    w_tilde = g * w / norm
    f_bn = f(w_tilde)
    c = sp.Symbol("c", positive=True)
    dw = sp.Matrix([sp.diff(f_bn, wi) for wi in w])
    projected = g / norm * (grad_f(w_tilde) - S * w * (w.T * grad_f(w_tilde))[0] / quad)
    pairs: Pairs = [(f_bn.subs({wi: c * wi for wi in w}, simultaneous=True) - f_bn, 0)]
    pairs.append((_reduce((dw.T * w)[0], quad, n), 0))
    pairs += [(_reduce(e, quad, n), 0) for e in (dw - projected)]
    pairs.append((_reduce(sp.diff(f_bn, g) - (w.T * grad_f(w_tilde))[0] / norm, quad, n), 0))
    pairs.append((_reduce((w_tilde.T * S * w_tilde)[0], quad, n), g**2))
    return pairs


def rayleigh_steps(d: int) -> Pairs:
    r"""Least squares in normalized parameters reduces to a generalized Rayleigh quotient (THEORY.md §3.3).

    With :math:`f_{OLS}(\tilde w)=\mathrm E[y^2]-2u^\top\tilde w+\tilde w^\top S\tilde w`:

    1. :math:`\partial_gf_{OLS}(w,g)=0` at :math:`g^*=u^\top w/\|w\|_S`, and :math:`\partial_g^2f_{OLS}=2>0`;
    2. :math:`f_{OLS}(w,g^*)=\mathrm E[y^2]+\rho(w)`, :math:`\rho(w)=-\frac{(u^\top w)^2}{w^\top Sw}`;
    3. :math:`\nabla\rho=\frac{2}{w^\top Sw}(Bw-\rho Sw)` with :math:`B=-uu^\top` (stationarity: :math:`Bw=\rho Sw`);
    4. at :math:`w=S^{-1}u` (here for an explicit SPD :math:`S`, so the inverse is exact): :math:`\nabla\rho=0`,
       :math:`\rho=-u^\top S^{-1}u` and :math:`g^*w/\|w\|_S=S^{-1}u`, the OLS solution;
    5. :math:`\|\nabla\rho\|_{S^{-1}}^2=\frac{4(u^\top w)^2}{\|w\|_S^4}(\rho-\rho^*)` (explicit :math:`S`).
    """
    w, u, S, g, n, quad = _setup(d)
    yy = sp.Symbol("E_y2", positive=True)
    norm = sp.sqrt(quad)
    w_tilde = g * w / norm
    f = yy - 2 * (u.T * w_tilde)[0] + (w_tilde.T * S * w_tilde)[0]
    g_star = (u.T * w)[0] / norm
    rho = -((u.T * w)[0] ** 2) / quad
    B = -u * u.T
    grad_rho = sp.Matrix([sp.diff(rho, wi) for wi in w])
    pairs: Pairs = [
        (_reduce(sp.diff(f, g).subs(g, g_star), quad, n), 0),
        (sp.diff(f, g, 2), 2),
        (_reduce(f.subs(g, g_star) - yy - rho, quad, n), 0),
    ]
    # The remaining pairs are rational: residuals() decides them by cancel (simplify only as a fallback).
    pairs += [(e, 0) for e in (grad_rho - 2 / quad * (B * w - rho * S * w))]
    # Steps 4-5 with an explicit SPD matrix (tridiagonal 2, -1), so that S^-1 is exact rational.
    S_num = sp.Matrix(d, d, lambda i, j: 2 if i == j else (-1 if abs(i - j) == 1 else 0))
    subs_S = dict(zip(list(S), list(S_num), strict=True))
    w_star = S_num.inv() * u
    at_star = {wi: vi for wi, vi in zip(w, w_star, strict=True)}
    rho_star = -(u.T * S_num.inv() * u)[0]
    pairs += [(e.subs(subs_S).subs(at_star, simultaneous=True), 0) for e in grad_rho]
    pairs.append((rho.subs(subs_S).subs(at_star, simultaneous=True), rho_star))
    w_tilde_star = (g_star * w / norm).subs(subs_S).subs(at_star, simultaneous=True)
    pairs += list(zip(w_tilde_star, w_star, strict=True))
    grad_num = grad_rho.subs(subs_S)
    dual = (grad_num.T * S_num.inv() * grad_num)[0]
    quad_num = quad.subs(subs_S)
    target = 4 * (u.T * w)[0] ** 2 / quad_num**2 * (rho.subs(subs_S) - rho_star)
    # One fraction num/den of the difference (together: no gcd taken) is 0 iff its numerator expands to 0; three
    # times cheaper than cancel, which takes the gcd of a numerator and denominator it then finds to be 0 / den.
    pairs.append((sp.expand(sp.fraction(sp.together(dual - target))[0]), 0))
    return pairs
