r"""The closed-form backward passes of LayerNorm, RMSNorm and WeightNorm, against SymPy's own derivative.

One normalization group of :math:`m` symbols :math:`x_i`, elementwise gains :math:`\gamma_i`, shifts
:math:`\beta_i`, :math:`\epsilon\ge0`, upstream :math:`\delta_i`, loss :math:`\ell=\sum_i\delta_iy_i`
(THEORY-2.md §9.1-9.2). GroupNorm and InstanceNorm are LayerNorm per group (per-channel gains are elementwise
gains that repeat), so the LayerNorm group covers them. Each function returns ``(expr, target)`` pairs for
:func:`bntheory.symbolic.batchnorm.residuals`: SymPy's derivative of the forward against the closed form.
"""

from __future__ import annotations

from types import SimpleNamespace

import sympy as sp

__all__ = ["group_backward_steps", "weight_norm_steps"]

Pairs = list[tuple[sp.Expr, sp.Expr]]


def group_backward_steps(m: int, *, center: bool, gain_inside: bool = True) -> tuple[Pairs, SimpleNamespace]:
    r"""SymPy's derivatives of one group's loss vs the closed forms (LayerNorm if `center`, else RMSNorm).

    .. math::

        \nabla_x\ell=\frac1s\big(g-\overline g\,\mathbf 1-\hat x\,\overline{g\odot\hat x}\big),\quad
        g=\gamma\odot\delta\qquad(\text{RMSNorm: without }\overline g),

    :math:`\partial\ell/\partial\gamma_i=\delta_i\hat x_i`, :math:`\partial\ell/\partial\beta_i=\delta_i`.
    ``gain_inside=False`` builds the false form :math:`\gamma\odot(P\delta)/s` instead (THEORY-2.md §9.2 trap (i)).
    Returns the pairs and the group (``var`` and ``eps`` fields, for ``residuals``).
    """
    if m < 2:
        raise ValueError(f"m: a group needs at least 2 entries, got {m}")
    x = sp.symbols(f"x1:{m + 1}", real=True)
    delta = sp.symbols(f"delta1:{m + 1}", real=True)
    gamma = sp.symbols(f"gamma1:{m + 1}", real=True)
    beta = sp.symbols(f"beta1:{m + 1}", real=True)
    eps = sp.Symbol("epsilon", nonnegative=True)
    mu = sp.Add(*x) / m if center else 0
    var = sp.Add(*((xi - mu) ** 2 for xi in x)) / m
    s = sp.sqrt(var + eps)
    x_hat = [(xi - mu) / s for xi in x]
    loss = sp.Add(*(d * (g * h + b) for d, g, h, b in zip(delta, gamma, x_hat, beta, strict=True)))
    g = [gi * di for gi, di in zip(gamma, delta, strict=True)] if gain_inside else list(delta)
    mean_g = sp.Add(*g) / m if center else 0
    mean_gx = sp.Add(*(gi * h for gi, h in zip(g, x_hat, strict=True))) / m
    closed = [(g[i] - mean_g - x_hat[i] * mean_gx) / s for i in range(m)]
    if not gain_inside:
        closed = [gamma[i] * c for i, c in enumerate(closed)]
    pairs = [(sp.diff(loss, x[i]), closed[i]) for i in range(m)]
    pairs += [(sp.diff(loss, gamma[i]), delta[i] * x_hat[i]) for i in range(m)]
    pairs += [(sp.diff(loss, beta[i]), delta[i]) for i in range(m)]
    return pairs, SimpleNamespace(var=var, eps=eps)


def weight_norm_steps(d: int) -> Pairs:
    r"""SymPy's gradients of :math:`\langle\nabla_wL, w\rangle`, :math:`w=g\,v/\|v\|`, vs the closed forms.

    .. math::

        \nabla_vL=\frac{g}{\|v\|}\Big(I-\frac{vv^\top}{\|v\|^2}\Big)\nabla_wL,\qquad
        \partial_gL=\frac{v^\top\nabla_wL}{\|v\|},\qquad\langle\nabla_vL,v\rangle=0 .
    """
    v = sp.symbols(f"v1:{d + 1}", real=True)
    dw = sp.symbols(f"dw1:{d + 1}", real=True)
    g = sp.Symbol("g", real=True)
    norm = sp.sqrt(sp.Add(*(vi**2 for vi in v)))
    loss = sp.Add(*(di * g * vi / norm for di, vi in zip(dw, v, strict=True)))
    along = sp.Add(*(vi * di for vi, di in zip(v, dw, strict=True)))
    dv = [g / norm * (dw[i] - v[i] * along / norm**2) for i in range(d)]
    pairs = [(sp.diff(loss, v[i]), dv[i]) for i in range(d)]
    pairs.append((sp.diff(loss, g), along / norm))
    pairs.append((sp.Add(*(dv[i] * v[i] for i in range(d))), 0))
    return pairs
