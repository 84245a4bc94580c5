r"""The BN transform of one channel of a symbolic batch, and its gradients, in SymPy.

A batch of size :math:`m` is the symbols :math:`x_1,\dots,x_m`, with :math:`\gamma,\beta` real and
:math:`\epsilon\ge 0`; the upstream gradient is :math:`\delta_1,\dots,\delta_m` and the loss is the
linear functional :math:`\ell=\sum_i\delta_i y_i`, whose gradient is the vector-Jacobian product that
back-propagation computes. Three forms of that gradient are built here: SymPy's own differentiation of
the forward, the paper's six step-by-step formulas, and the compact projector form.

A batch is built either as SymPy expressions (with the square root :math:`\sqrt{\sigma^2+\epsilon}`) or, with
``rational=True``, as exact elements of the field :math:`\mathbb Q(s,x,\delta,\gamma,\beta)` with :math:`s` for the
square root and :math:`\epsilon=s^2-\sigma^2` eliminated (:class:`bntheory.symbolic.fields.RadicalField`): the
same formulas, in arithmetic on polynomials instead of on expression trees.

References
----------
Ioffe & Szegedy 2015, Algorithm 1 and §3, arXiv:1502.03167.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sympy as sp
from sympy.polys.fields import FracElement

from bntheory.symbolic.fields import RadicalField

__all__ = ["SymbolicBatch", "compact_gradient", "paper_gradient", "residuals", "symbolic_batch"]


@dataclass(frozen=True)
class SymbolicBatch:
    r"""One channel of a symbolic batch and its forward quantities (Algorithm 1).

    The entries are SymPy expressions, or elements of `field` when it is set (``symbolic_batch(m, rational=True)``);
    :attr:`s` is :math:`\sqrt{\sigma^2+\epsilon}` in either form, and :meth:`diff` differentiates in either.
    """

    x: tuple[Any, ...]
    delta: tuple[Any, ...]
    gamma: Any
    beta: Any
    eps: Any
    mu: Any
    var: Any
    x_hat: tuple[Any, ...]
    y: tuple[Any, ...]
    s: Any
    field: RadicalField | None = None

    @property
    def m(self) -> int:
        """Batch size."""
        return len(self.x)

    @property
    def loss(self) -> Any:
        r""":math:`\ell=\sum_i\delta_i y_i`."""
        return sum(d * y for d, y in zip(self.delta, self.y, strict=True))

    def diff(self, value: Any, wrt: Any) -> Any:
        r""":math:`\partial\,\mathrm{value}/\partial\,\mathrm{wrt}` at fixed :math:`\epsilon`.

        SymPy's ``diff`` on expressions; in the field, the chain rule through :math:`s` (:meth:`RadicalField.diff`).
        """
        return sp.diff(value, wrt) if self.field is None else self.field.diff(value, wrt)


def symbolic_batch(m: int, *, eps: sp.Expr | None = None, rational: bool = False) -> SymbolicBatch:
    r"""Algorithm 1 for a symbolic batch of size `m` (:math:`\epsilon` a non-negative symbol unless given).

    With `rational` (symbolic :math:`\epsilon` only) the batch is built in :math:`\mathbb Q(s,x,\delta,\gamma,\beta)`,
    :math:`s=\sqrt{\sigma^2+\epsilon}` a generator and :math:`\epsilon=s^2-\sigma^2` an element: every identity of
    the SymPy form holds in the field exactly when it holds for the SymPy form (the substitution is invertible).
    """
    if m < 2:
        raise ValueError(f"m: training-mode BN needs a batch of at least 2, got {m}")
    if rational and eps is not None:
        raise ValueError("rational: the field form eliminates a symbolic epsilon; leave eps unset")
    x = sp.symbols(f"x1:{m + 1}", real=True)
    delta = sp.symbols(f"delta1:{m + 1}", real=True)
    gamma, beta = sp.symbols("gamma beta", real=True)
    mu = sp.Add(*x) / m
    var = sp.Add(*((xi - mu) ** 2 for xi in x)) / m
    field = None
    if rational:
        field = RadicalField((*x, *delta, gamma, beta), sp.Symbol("s", positive=True), sp.expand(var), shifted=True)
        x, delta, gamma, beta = (tuple(field[v] for v in x), tuple(field[v] for v in delta), field[gamma], field[beta])
        s = field.s
        mu = sum(x) / m
        var = sum((xi - mu) ** 2 for xi in x) / m
        eps = s**2 - var
    else:
        eps = sp.Symbol("epsilon", nonnegative=True) if eps is None else sp.sympify(eps)
        s = sp.sqrt(var + eps)
    x_hat = tuple((xi - mu) / s for xi in x)
    y = tuple(gamma * h + beta for h in x_hat)
    return SymbolicBatch(x, delta, gamma, beta, eps, mu, var, x_hat, y, s, field)


def paper_gradient(b: SymbolicBatch) -> dict[str, Any]:
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
    term of :math:`\partial\ell/\partial\mu`, which the paper keeps although it is identically 0. The powers of
    :math:`\sigma^2+\epsilon` are written as powers of :math:`s=\sqrt{\sigma^2+\epsilon}` (:math:`s^{-3}` for the
    :math:`-3/2` power: the same SymPy expression, and the form the field batch can hold).
    """
    m, x, mu, s = b.m, b.x, b.mu, b.s
    dx_hat = [d * b.gamma for d in b.delta]
    dvar = sum(dx_hat[i] * (x[i] - mu) for i in range(m)) * sp.Rational(-1, 2) * s**-3
    dmu_vanishing = dvar * sum(-2 * (xi - mu) for xi in x) / m
    dmu = sum(dx_hat[i] * (-1 / s) for i in range(m)) + dmu_vanishing
    dx = tuple(dx_hat[i] / s + dvar * 2 * (x[i] - mu) / m + dmu / m for i in range(m))
    dgamma = sum(d * h for d, h in zip(b.delta, b.x_hat, strict=True))
    return {"dx": dx, "dgamma": dgamma, "dbeta": sum(b.delta), "dmu_vanishing": dmu_vanishing}


def compact_gradient(b: SymbolicBatch) -> tuple[Any, ...]:
    r"""The projector form of the gradient, :math:`s=\sqrt{\sigma^2+\epsilon}` (THEORY.md §1.2, [D]).

    .. math:: \nabla_x\ell=\frac{\gamma}{s}\Big(I-\frac1m\mathbf 1\mathbf 1^\top-\frac1m\hat x\hat x^\top\Big)\delta
    """
    m, s = b.m, b.s
    mean_delta = sum(b.delta) / m
    mean_delta_xhat = sum(d * h for d, h in zip(b.delta, b.x_hat, strict=True)) / m
    return tuple(b.gamma / s * (b.delta[i] - mean_delta - b.x_hat[i] * mean_delta_xhat) for i in range(m))


def residuals(pairs, batch: SymbolicBatch | None = None) -> int:
    r"""How many ``(expr, target)`` pairs do not simplify to equality.

    A difference that is an element of a field of rational functions (``sympy.polys.fields``, as the field batch
    and :class:`bntheory.symbolic.fields.RadicalField` build them) is in lowest terms already: it vanishes iff it
    is 0 (on :math:`s^2=R` when the `batch`'s field has that relation). Each SymPy difference is first tried
    exactly and cheaply, as a rational function: ``cancel`` treats every radical as an independent generator, so
    a 0 from it is a proof, and it decides the chain-rule identities here in a fraction of ``simplify``'s time. With a
    `batch`, :math:`\sqrt{\sigma^2+\epsilon}` first becomes a positive symbol :math:`s` and
    :math:`\epsilon=s^2-\sigma^2` is eliminated. Only what this does not reduce to 0 goes to
    ``simplify``.
    """
    s = sp.Symbol("s", positive=True)

    def vanishes(diff) -> bool:
        if isinstance(diff, FracElement):
            return batch.field.vanishes(diff) if batch is not None and batch.field is not None else diff == 0
        diff = sp.sympify(diff)
        reduced = diff
        if batch is not None:
            reduced = reduced.subs(batch.s, s)
            if isinstance(batch.eps, sp.Symbol):
                reduced = reduced.subs(batch.eps, s**2 - batch.var)
        # expand_mul (products and powers only) is enough for cancel and much cheaper than a full expand.
        if sp.cancel(sp.expand_mul(reduced)) == 0:
            return True
        return sp.simplify(diff) == 0

    return sum(1 for expr, target in pairs if not vanishes(expr - target))
