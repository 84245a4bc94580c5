r"""The closed-form backward passes of LayerNorm, RMSNorm and WeightNorm, against SymPy's own derivative.

One normalization group of :math:`m` symbols :math:`x_i`, elementwise gains :math:`\gamma_i`, shifts
:math:`\beta_i`, :math:`\epsilon\ge0`, upstream :math:`\delta_i`, loss :math:`\ell=\sum_i\delta_iy_i`
(THEORY-2.md §9.1-9.2). GroupNorm and InstanceNorm are LayerNorm per group (per-channel gains are elementwise
gains that repeat), so the LayerNorm group covers them. Each function returns ``(expr, target)`` pairs for
:func:`bntheory.symbolic.batchnorm.residuals`: SymPy's derivative of the forward against the closed form, both
exact fractions in a field with a generator for the square root
(:class:`~bntheory.symbolic.fields.RadicalField`: the derivative is SymPy's polynomial one with the chain rule
through that generator, and a difference is 0 iff the identity holds).
"""

from __future__ import annotations

from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

import sympy as sp

from bntheory.symbolic.fields import RadicalField

__all__ = [
    "group_backward_steps",
    "group_jacobian_steps",
    "projector_residuals",
    "weight_jacobian_steps",
    "weight_norm_steps",
]

Pairs = list[tuple[sp.Expr, sp.Expr]]


def group_backward_steps(m: int, *, center: bool, gain_inside: bool = True) -> tuple[Pairs, SimpleNamespace]:
    r"""SymPy's derivatives of one group's loss vs the closed forms (LayerNorm if `center`, else RMSNorm).

    .. math::

        \nabla_x\ell=\frac1s\big(g-\overline g\,\mathbf 1-\hat x\,\overline{g\odot\hat x}\big),\quad
        g=\gamma\odot\delta\qquad(\text{RMSNorm: without }\overline g),

    :math:`\partial\ell/\partial\gamma_i=\delta_i\hat x_i`, :math:`\partial\ell/\partial\beta_i=\delta_i`.
    ``gain_inside=False`` builds the false form :math:`\gamma\odot(P\delta)/s` instead (THEORY-2.md §9.2 trap (i)).
    Everything is exact in :math:`\mathbb Q(s,x,\delta,\gamma,\beta)`, :math:`s=\sqrt{\sigma^2+\epsilon}` with
    :math:`\epsilon=s^2-\sigma^2` eliminated (:class:`~bntheory.symbolic.fields.RadicalField`; the derivative is
    the chain rule through :math:`s`). Returns the pairs (field elements) and the group (``field``, ``var``,
    ``eps``, ``s``, for ``residuals``).
    """
    if m < 2:
        raise ValueError(f"m: a group needs at least 2 entries, got {m}")
    names = [sp.symbols(f"{n}1:{m + 1}", real=True) for n in ("x", "delta", "gamma", "beta")]
    field = _group_field(names[0], center, names[1:])
    x, delta, gamma, beta = ([field[v] for v in vs] for vs in names)
    s = field.s
    mu = sum(x) / m if center else 0
    x_hat = [(xi - mu) / s for xi in x]
    loss = sum(d * (g * h + b) for d, g, h, b in zip(delta, gamma, x_hat, beta, strict=True))
    g = [gi * di for gi, di in zip(gamma, delta, strict=True)] if gain_inside else list(delta)
    mean_g = sum(g) / m if center else 0
    mean_gx = sum(gi * h for gi, h in zip(g, x_hat, strict=True)) / m
    closed = [(g[i] - mean_g - x_hat[i] * mean_gx) / s for i in range(m)]
    if not gain_inside:
        closed = [gamma[i] * c for i, c in enumerate(closed)]
    pairs = [(field.diff(loss, x[i]), closed[i]) for i in range(m)]
    pairs += [(field.diff(loss, gamma[i]), delta[i] * x_hat[i]) for i in range(m)]
    pairs += [(field.diff(loss, beta[i]), delta[i]) for i in range(m)]
    var = sum((xi - mu) ** 2 for xi in x) / m
    return pairs, SimpleNamespace(field=field, var=var, eps=s**2 - var, s=s)


def _group_field(x: Sequence[sp.Symbol], center: bool, others: Sequence[Sequence[sp.Symbol]]) -> RadicalField:
    r""":math:`\mathbb Q(s,x,\dots)` with :math:`s=\sqrt{\sigma^2(x)+\epsilon}`, :math:`\epsilon` eliminated."""
    m = len(x)
    mu = sp.Add(*x) / m if center else 0
    var = sp.expand(sp.Add(*((xi - mu) ** 2 for xi in x)) / m)
    return RadicalField([*x, *(v for vs in others for v in vs)], sp.Symbol("s", positive=True), var, shifted=True)


def weight_norm_steps(d: int) -> Pairs:
    r"""SymPy's gradients of :math:`\langle\nabla_wL, w\rangle`, :math:`w=g\,v/\|v\|`, vs the closed forms.

    .. math::

        \nabla_vL=\frac{g}{\|v\|}\Big(I-\frac{vv^\top}{\|v\|^2}\Big)\nabla_wL,\qquad
        \partial_gL=\frac{v^\top\nabla_wL}{\|v\|},\qquad\langle\nabla_vL,v\rangle=0 .

    Exact in :math:`\mathbb Q(n,v,\nabla_wL,g)` with :math:`n=\|v\|` (chain rule through :math:`n`); each pair's
    difference is reduced to its remainder modulo :math:`n^2-\|v\|^2` (a field element, 0 iff the identity holds).
    """
    dw_sym, g_sym = sp.symbols(f"dw1:{d + 1}", real=True), sp.Symbol("g", real=True)
    field, v, n = _norm_field(d, [*dw_sym, g_sym])
    dw, g = [field[di] for di in dw_sym], field[g_sym]
    loss = sum(di * g * vi / n for di, vi in zip(dw, v, strict=True))
    along = sum(vi * di for vi, di in zip(v, dw, strict=True))
    dv = [g / n * (dw[i] - v[i] * along / n**2) for i in range(d)]
    pairs = [(field.diff(loss, v[i]), dv[i]) for i in range(d)]
    pairs.append((field.diff(loss, g), along / n))
    pairs.append((sum(dv[i] * v[i] for i in range(d)), 0))
    return [(field.reduce(e - f), 0) for e, f in pairs]


def _norm_field(d: int, others: Sequence[sp.Symbol]) -> tuple[RadicalField, list, Any]:
    r""":math:`\mathbb Q(n,v_1..v_d,\text{others})` with the relation :math:`n^2=\|v\|^2`; its `v` and `n`."""
    v = sp.symbols(f"v1:{d + 1}", real=True)
    field = RadicalField([*v, *others], sp.Symbol("n", positive=True), sp.Add(*(vi**2 for vi in v)), shifted=False)
    return field, [field[vi] for vi in v], field.s


def group_jacobian_steps(m: int, *, center: bool, channels: int | None = None) -> tuple[Pairs, SimpleNamespace]:
    r"""SymPy's Jacobian of one group's forward vs the closed form of :mod:`bntheory.norms.jacobian`.

    .. math::

        \frac{\partial y}{\partial x}=\frac1s\,\mathrm{diag}(\gamma)
        \Big(I-\tfrac1m\mathbf 1\mathbf 1^\top-\tfrac1m\hat x\hat x^\top\Big)
        \qquad(\text{RMSNorm: no }\mathbf 1\mathbf 1^\top),

    ε symbolic, eliminated as :math:`\epsilon=s^2-\sigma^2` in :math:`\mathbb Q(s,x,\gamma)` (exact; the derivative
    is the chain rule through :math:`s`). `channels` (GroupNorm) splits the group into that many channels of equal
    size, one gain each (the gain of an entry repeats over its channel's positions); None gives every entry its own
    gain (LayerNorm). Returns the :math:`m^2` pairs (field elements) and the group (``field``, ``var``, ``eps``,
    ``s``) for ``residuals``.
    """
    if m < 2:
        raise ValueError(f"m: a group needs at least 2 entries, got {m}")
    if channels is not None and (channels < 1 or m % channels):
        raise ValueError(f"channels: expected a divisor of m = {m}, got {channels}")
    x_sym = sp.symbols(f"x1:{m + 1}", real=True)
    gains = sp.symbols(f"gamma1:{(m if channels is None else channels) + 1}", real=True)
    field = _group_field(x_sym, center, [gains])
    x, s = [field[v] for v in x_sym], field.s
    gamma = [field[g] for g in gains] if channels is None else [field[gains[i // (m // channels)]] for i in range(m)]
    mu = sum(x) / m if center else 0
    x_hat = [(xi - mu) / s for xi in x]
    y = [g * h for g, h in zip(gamma, x_hat, strict=True)]
    pairs = []
    for i in range(m):
        for j in range(m):
            bracket = int(i == j) - x_hat[i] * x_hat[j] / m - (sp.Rational(1, m) if center else 0)
            pairs.append((field.diff(y[i], x[j]), gamma[i] * bracket / s))
    var = sum((xi - mu) ** 2 for xi in x) / m
    return pairs, SimpleNamespace(field=field, var=var, eps=s**2 - var, s=s)


def projector_residuals(m: int, *, center: bool) -> int:
    r"""How many of the projector identities fail for the bracket :math:`P` of :func:`group_jacobian_steps` at ε = 0.

    The identities: :math:`P^2=P`, :math:`P^\top=P`, :math:`P\hat x=0`, :math:`P\mathbf 1=0` (centred) and
    :math:`\operatorname{tr}P=m-2` (RMSNorm: :math:`m-1`), so :math:`\operatorname{rank}\partial y/\partial x=m-2`
    (:math:`m-1`) for nonzero gains. :math:`\hat x=(x-\mu\mathbf 1)/\sigma` is written with a positive symbol
    :math:`\sigma` (the centred entries in :math:`m-1` free symbols); each difference, a rational function of
    those and :math:`\sigma`, must vanish on :math:`\sigma^2=\tfrac1m\sum(x_i-\mu)^2` (:math:`\|\hat x\|^2=m` is
    what makes :math:`P` idempotent): its
    numerator's remainder modulo :math:`\sigma^2-\sigma^2(x)` must be 0, an exact polynomial test.
    """
    # Centred entries c = x - mu 1 written in m - 1 free symbols (they sum to 0): the same set, smaller polynomials.
    free = sp.symbols(f"c1:{m + (0 if center else 1)}", real=True)
    c_sym = [*free, -sp.Add(*free)] if center else list(free)
    # Q(sigma, c) with the relation sigma^2 = (1/m) sum c_i^2: products in lowest terms, remainder of the numerator.
    field = RadicalField(
        free, sp.Symbol("sigma", positive=True), sp.expand(sp.Add(*(ci**2 for ci in c_sym)) / m), shifted=False
    )
    x_hat = [field.element(ci) / field.s for ci in c_sym]
    P = [
        [int(i == j) - x_hat[i] * x_hat[j] / m - (sp.Rational(1, m) if center else 0) for j in range(m)]
        for i in range(m)
    ]
    diffs = [sum(P[i][k] * P[k][j] for k in range(m)) - P[i][j] for i in range(m) for j in range(m)]
    diffs += [P[i][j] - P[j][i] for i in range(m) for j in range(i + 1, m)]
    diffs += [sum(P[i][k] * x_hat[k] for k in range(m)) for i in range(m)]
    if center:
        diffs += [sum(P[i]) for i in range(m)]
    diffs.append(sum(P[i][i] for i in range(m)) - (m - 2 if center else m - 1))
    return sum(1 for d in diffs if not field.vanishes(d))


def weight_jacobian_steps(d: int) -> Pairs:
    r"""SymPy's Jacobian of :math:`w=g\,v/\|v\|` vs :math:`\frac g{\|v\|}(I-\hat v\hat v^\top)`, and its null vector.

    Pairs for every entry and for :math:`(\partial w/\partial v)\,v=0` (so the rank is :math:`d-1`: the length of
    :math:`v` does not move :math:`w`). Exact in :math:`\mathbb Q(n,v,g)`, :math:`n=\|v\|` (chain rule through
    :math:`n`), each difference reduced modulo :math:`n^2-\|v\|^2`.
    """
    g_sym = sp.Symbol("g", real=True)
    field, v, n = _norm_field(d, [g_sym])
    g = field[g_sym]
    J = [[field.diff(g * vi / n, vj) for vj in v] for vi in v]
    pairs = [(J[i][j], g / n * (int(i == j) - v[i] * v[j] / n**2)) for i in range(d) for j in range(d)]
    pairs += [(sum(J[i][j] * v[j] for j in range(d)), 0) for i in range(d)]
    return [(field.reduce(e - f), 0) for e, f in pairs]
