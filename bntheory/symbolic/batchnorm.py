r"""The BN transform of one channel of a symbolic batch, and its gradients, in SymPy.

A batch of size :math:`m` is the symbols :math:`x_1,\dots,x_m`, with :math:`\gamma,\beta` real and
:math:`\epsilon\ge 0`; the upstream gradient is :math:`\delta_1,\dots,\delta_m` and the loss is the
linear functional :math:`\ell=\sum_i\delta_i y_i`, whose gradient is the vector-Jacobian product that
back-propagation computes. Three forms of that gradient are built here: SymPy's own differentiation of
the forward, the paper's six step-by-step formulas, and the compact projector form.

References
----------
Ioffe & Szegedy 2015, Algorithm 1 and §3, arXiv:1502.03167.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

__all__ = ["SymbolicBatch", "compact_gradient", "paper_gradient", "residuals", "symbolic_batch"]


@dataclass(frozen=True)
class SymbolicBatch:
    """One channel of a symbolic batch and its forward quantities (Algorithm 1)."""

    x: tuple[sp.Symbol, ...]
    delta: tuple[sp.Symbol, ...]
    gamma: sp.Symbol
    beta: sp.Symbol
    eps: sp.Expr
    mu: sp.Expr
    var: sp.Expr
    x_hat: tuple[sp.Expr, ...]
    y: tuple[sp.Expr, ...]

    @property
    def m(self) -> int:
        """Batch size."""
        return len(self.x)

    @property
    def loss(self) -> sp.Expr:
        r""":math:`\ell=\sum_i\delta_i y_i`."""
        return sp.Add(*(d * y for d, y in zip(self.delta, self.y, strict=True)))


def symbolic_batch(m: int, *, eps: sp.Expr | None = None) -> SymbolicBatch:
    r"""Algorithm 1 for a symbolic batch of size `m` (:math:`\epsilon` a non-negative symbol unless given)."""
    if m < 2:
        raise ValueError(f"m: training-mode BN needs a batch of at least 2, got {m}")
    x = sp.symbols(f"x1:{m + 1}", real=True)
    delta = sp.symbols(f"delta1:{m + 1}", real=True)
    gamma, beta = sp.symbols("gamma beta", real=True)
    eps = sp.Symbol("epsilon", nonnegative=True) if eps is None else sp.sympify(eps)
    mu = sp.Add(*x) / m
    var = sp.Add(*((xi - mu) ** 2 for xi in x)) / m
    x_hat = tuple((xi - mu) / sp.sqrt(var + eps) for xi in x)
    y = tuple(gamma * h + beta for h in x_hat)
    return SymbolicBatch(x, delta, gamma, beta, eps, mu, var, x_hat, y)


def paper_gradient(b: SymbolicBatch) -> dict[str, object]:
    r"""The six back-propagation formulas of Ioffe & Szegedy 2015, §3, exactly as printed.

    .. math::

        \frac{\partial\ell}{\partial\hat x_i}=\delta_i\gamma,\quad
        \frac{\partial\ell}{\partial\sigma^2}=\sum_i\frac{\partial\ell}{\partial\hat x_i}(x_i-\mu)
            \cdot\big(-\tfrac12\big)(\sigma^2+\epsilon)^{-3/2},\quad
        \frac{\partial\ell}{\partial\mu}=\sum_i\frac{\partial\ell}{\partial\hat x_i}\frac{-1}{\sqrt{\sigma^2+\epsilon}}
            +\frac{\partial\ell}{\partial\sigma^2}\frac{\sum_i -2(x_i-\mu)}{m},

    .. math::

        \frac{\partial\ell}{\partial x_i}=\frac{\partial\ell}{\partial\hat x_i}\frac{1}{\sqrt{\sigma^2+\epsilon}}
            +\frac{\partial\ell}{\partial\sigma^2}\frac{2(x_i-\mu)}{m}+\frac{\partial\ell}{\partial\mu}\frac1m,\quad
        \frac{\partial\ell}{\partial\gamma}=\sum_i\delta_i\hat x_i,\quad
        \frac{\partial\ell}{\partial\beta}=\sum_i\delta_i .

    Returns a dict with keys ``dx`` (tuple), ``dgamma``, ``dbeta`` and ``dmu_vanishing``: the second
    term of :math:`\partial\ell/\partial\mu`, which the paper keeps although it is identically 0.
    """
    m, x, mu = b.m, b.x, b.mu
    s2 = b.var + b.eps
    dx_hat = [d * b.gamma for d in b.delta]
    dvar = sp.Add(*(dx_hat[i] * (x[i] - mu) for i in range(m))) * sp.Rational(-1, 2) * s2 ** sp.Rational(-3, 2)
    dmu_vanishing = dvar * sp.Add(*(-2 * (xi - mu) for xi in x)) / m
    dmu = sp.Add(*(dx_hat[i] * (-1 / sp.sqrt(s2)) for i in range(m))) + dmu_vanishing
    dx = tuple(dx_hat[i] / sp.sqrt(s2) + dvar * 2 * (x[i] - mu) / m + dmu / m for i in range(m))
    dgamma = sp.Add(*(d * h for d, h in zip(b.delta, b.x_hat, strict=True)))
    return {"dx": dx, "dgamma": dgamma, "dbeta": sp.Add(*b.delta), "dmu_vanishing": dmu_vanishing}


def compact_gradient(b: SymbolicBatch) -> tuple[sp.Expr, ...]:
    r"""The projector form of the gradient, :math:`s=\sqrt{\sigma^2+\epsilon}` (THEORY.md §1.2, [D]).

    .. math:: \nabla_x\ell=\frac{\gamma}{s}\Big(I-\frac1m\mathbf 1\mathbf 1^\top-\frac1m\hat x\hat x^\top\Big)\delta
    """
    m = b.m
    s = sp.sqrt(b.var + b.eps)
    mean_delta = sp.Add(*b.delta) / m
    mean_delta_xhat = sp.Add(*(d * h for d, h in zip(b.delta, b.x_hat, strict=True))) / m
    return tuple(b.gamma / s * (b.delta[i] - mean_delta - b.x_hat[i] * mean_delta_xhat) for i in range(m))


def residuals(pairs, batch: SymbolicBatch | None = None) -> int:
    r"""How many ``(expr, target)`` pairs do not simplify to equality.

    Each difference is first tried exactly and cheaply, as a rational function: ``cancel`` treats every radical
    as an independent generator, so a 0 from it is a proof, and it decides the chain-rule identities here in a
    fraction of ``simplify``'s time. With a `batch`, :math:`\sqrt{\sigma^2+\epsilon}` first becomes a positive
    symbol :math:`s` and :math:`\epsilon=s^2-\sigma^2` is eliminated. Only what this does not reduce to 0 goes to
    ``simplify``.
    """
    s = sp.Symbol("s", positive=True)

    def vanishes(diff) -> bool:
        diff = sp.sympify(diff)
        reduced = diff
        if batch is not None:
            reduced = reduced.subs(sp.sqrt(batch.var + batch.eps), s)
            if isinstance(batch.eps, sp.Symbol):
                reduced = reduced.subs(batch.eps, s**2 - batch.var)
        # expand_mul (products and powers only) is enough for cancel and much cheaper than a full expand.
        if sp.cancel(sp.expand_mul(reduced)) == 0:
            return True
        return sp.simplify(diff) == 0

    return sum(1 for expr, target in pairs if not vanishes(expr - target))
