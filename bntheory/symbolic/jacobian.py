r"""The BN Jacobian of one channel, derived by SymPy from Algorithm 1, and its exact structure.

For a symbolic batch of size :math:`m` SymPy differentiates :math:`y_i=\gamma(x_i-\mu)/\sqrt{\sigma^2+\epsilon}+\beta`
entry by entry. To compare that derivative with closed forms without asking ``simplify`` to discover
square-root identities, the derivation introduces a positive symbol :math:`s` for :math:`\sqrt{\sigma^2+\epsilon}`
and eliminates :math:`\epsilon=s^2-\sigma^2`; the expressions are then rational in :math:`x,\gamma,s` and a
difference is zero exactly when ``cancel`` reduces it to 0. This is an exact proof for each :math:`m`.

References
----------
Santurkar et al. 2018, arXiv:1805.11604, Fact C.1 and §4 (THEORY.md §2.3, [D] for the matrix form);
Ioffe & Szegedy 2015, Algorithm 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from bntheory.symbolic.batchnorm import SymbolicBatch, symbolic_batch

__all__ = ["SymbolicJacobian", "is_zero", "symbolic_jacobian"]


@dataclass(frozen=True)
class SymbolicJacobian:
    r"""SymPy's Jacobian of Algorithm 1 for one channel and the quantities that describe it.

    Attributes
    ----------
    batch : SymbolicBatch
        The symbolic batch (with :math:`\epsilon` a non-negative symbol).
    s : sympy.Symbol
        Positive symbol standing for :math:`\sqrt{\sigma^2+\epsilon}`.
    J : sympy.Matrix
        :math:`\partial y_i/\partial x_j` as SymPy differentiates it, with the square root replaced by `s`.
    x_hat : sympy.Matrix
        :math:`(x-\mu\mathbf 1)/s`, the normalized batch (the :math:`\epsilon`-normalized one when :math:`\epsilon>0`).
    closed_form : sympy.Matrix
        :math:`\frac{\gamma}{s}(I-\frac1m\mathbf 1\mathbf 1^\top-\frac1m\hat x\hat x^\top)`.
    """

    batch: SymbolicBatch
    s: sp.Symbol
    J: sp.Matrix
    x_hat: sp.Matrix
    closed_form: sp.Matrix

    @property
    def m(self) -> int:
        """Batch size."""
        return self.batch.m

    @property
    def ones(self) -> sp.Matrix:
        """The all-ones column."""
        return sp.ones(self.m, 1)

    def reduce(self, expr: sp.Expr) -> sp.Expr:
        r"""Eliminate :math:`\epsilon=s^2-\sigma^2` and put `expr` over a common denominator."""
        b = self.batch
        return sp.cancel(sp.expand(expr.subs(b.eps, self.s**2 - b.var)))


def symbolic_jacobian(m: int) -> SymbolicJacobian:
    r"""Differentiate Algorithm 1 for a symbolic batch of size `m` with a symbolic :math:`\epsilon\ge0`.

    Facts proven for symbolic :math:`\epsilon` hold at :math:`\epsilon=0` (where :math:`s=\sigma`) by
    substitution, which is how the paper's :math:`\epsilon=0` statements are obtained.
    """
    b = symbolic_batch(m)
    s = sp.Symbol("s", positive=True)
    J = sp.Matrix(m, m, lambda i, j: sp.diff(b.y[i], b.x[j])).subs(sp.sqrt(b.var + b.eps), s)
    x_hat = sp.Matrix([(xi - b.mu) / s for xi in b.x])
    ones = sp.ones(m, 1)
    closed = b.gamma / s * (sp.eye(m) - ones * ones.T / m - x_hat * x_hat.T / m)
    return SymbolicJacobian(b, s, J, x_hat, closed)


def is_zero(jac: SymbolicJacobian, expr) -> bool:
    r"""Whether a scalar or matrix expression vanishes identically once :math:`\epsilon` is eliminated."""
    entries = expr if isinstance(expr, sp.MatrixBase) else [expr]
    return all(jac.reduce(e) == 0 for e in entries)
