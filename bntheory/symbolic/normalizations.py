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


def group_jacobian_steps(m: int, *, center: bool, channels: int | None = None) -> tuple[Pairs, SimpleNamespace]:
    r"""SymPy's Jacobian of one group's forward vs the closed form of :mod:`bntheory.norms.jacobian`.

    .. math::

        \frac{\partial y}{\partial x}=\frac1s\,\mathrm{diag}(\gamma)
        \Big(I-\tfrac1m\mathbf 1\mathbf 1^\top-\tfrac1m\hat x\hat x^\top\Big)
        \qquad(\text{RMSNorm: no }\mathbf 1\mathbf 1^\top),

    ε symbolic. `channels` (GroupNorm) splits the group into that many channels of equal size, one gain each
    (the gain of an entry repeats over its channel's positions); None gives every entry its own gain (LayerNorm).
    Returns the :math:`m^2` pairs and the group (``var``, ``eps``) for ``residuals``.
    """
    if m < 2:
        raise ValueError(f"m: a group needs at least 2 entries, got {m}")
    if channels is not None and (channels < 1 or m % channels):
        raise ValueError(f"channels: expected a divisor of m = {m}, got {channels}")
    x = sp.symbols(f"x1:{m + 1}", real=True)
    eps = sp.Symbol("epsilon", nonnegative=True)
    if channels is None:
        gamma = sp.symbols(f"gamma1:{m + 1}", real=True)
    else:
        per_channel = sp.symbols(f"gamma1:{channels + 1}", real=True)
        gamma = [per_channel[i // (m // channels)] for i in range(m)]
    mu = sp.Add(*x) / m if center else 0
    var = sp.Add(*((xi - mu) ** 2 for xi in x)) / m
    s = sp.sqrt(var + eps)
    y = sp.Matrix([g * (xi - mu) / s for g, xi in zip(gamma, x, strict=True)])
    J = y.jacobian(sp.Matrix(x))
    x_hat = sp.Matrix([(xi - mu) / s for xi in x])
    bracket = sp.eye(m) - x_hat * x_hat.T / m - (sp.ones(m, m) / m if center else sp.zeros(m, m))
    closed = sp.diag(*gamma) * bracket / s
    pairs = [(J[i, j], closed[i, j]) for i in range(m) for j in range(m)]
    return pairs, SimpleNamespace(var=var, eps=eps)


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
    c = [*free, -sp.Add(*free)] if center else list(free)
    sigma = sp.Symbol("sigma", positive=True)
    relation = sigma**2 - sp.expand(sp.Add(*(ci**2 for ci in c)) / m)
    x_hat = sp.Matrix([ci / sigma for ci in c])
    P = sp.eye(m) - x_hat * x_hat.T / m - (sp.ones(m, m) / m if center else sp.zeros(m, m))
    square, null = P * P, P * x_hat
    diffs = [square[i, j] - P[i, j] for i in range(m) for j in range(m)]
    diffs += [P[i, j] - P[j, i] for i in range(m) for j in range(i + 1, m)]
    diffs += list(null)
    if center:
        diffs += list(P * sp.ones(m, 1))
    diffs.append(P.trace() - (m - 2 if center else m - 1))

    def vanishes(diff) -> bool:
        numerator = sp.numer(sp.together(diff))
        return sp.expand(sp.rem(sp.expand(numerator), relation, sigma)) == 0

    return sum(1 for d in diffs if not vanishes(d))


def weight_jacobian_steps(d: int) -> Pairs:
    r"""SymPy's Jacobian of :math:`w=g\,v/\|v\|` vs :math:`\frac g{\|v\|}(I-\hat v\hat v^\top)`, and its null vector.

    Pairs for every entry and for :math:`(\partial w/\partial v)\,v=0` (so the rank is :math:`d-1`: the length of
    :math:`v` does not move :math:`w`).
    """
    v = sp.symbols(f"v1:{d + 1}", real=True)
    g = sp.Symbol("g", real=True)
    norm = sp.sqrt(sp.Add(*(vi**2 for vi in v)))
    J = sp.Matrix([g * vi / norm for vi in v]).jacobian(sp.Matrix(v))
    u = sp.Matrix(v) / norm
    closed = g / norm * (sp.eye(d) - u * u.T)
    pairs = [(J[i, j], closed[i, j]) for i in range(d) for j in range(d)]
    null = J * sp.Matrix(v)
    return pairs + [(null[i], 0) for i in range(d)]
