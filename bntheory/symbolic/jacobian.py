r"""The BN Jacobian of one channel, derived by SymPy from Algorithm 1, and its exact structure.

For a symbolic batch of size :math:`m` the entries :math:`\partial y_i/\partial x_j` of
:math:`y_i=\gamma(x_i-\mu)/\sqrt{\sigma^2+\epsilon}+\beta` are derived without asking ``simplify`` to
discover square-root identities: a positive symbol :math:`s` stands for :math:`\sqrt{\sigma^2+\epsilon}`,
:math:`\epsilon=s^2-\sigma^2` is eliminated, and the derivative is taken in the field
:math:`\mathbb Q(s,x,\delta,\gamma,\beta)` (SymPy's polynomial derivative with the chain rule
:math:`\partial_js=\partial_j\sigma^2/(2s)`, :class:`bntheory.symbolic.fields.RadicalField`). The entries
are exact fractions in lowest terms, and a difference is zero exactly when it is the field's 0 (or, for
:func:`is_zero`, when ``cancel`` reduces its SymPy form to 0). This is an exact proof for each :math:`m`.

References
----------
Santurkar et al. 2018, arXiv:1805.11604, Fact C.1 and §4 (THEORY.md §2.3, [D] for the matrix form);
Ioffe & Szegedy 2015, Algorithm 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sympy as sp
from sympy.polys.matrices import DomainMatrix

from bntheory.symbolic.batchnorm import SymbolicBatch, symbolic_batch

__all__ = ["RationalJacobian", "SymbolicJacobian", "is_zero", "rational_jacobian", "symbolic_jacobian"]


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
        :math:`\partial y_i/\partial x_j` as derived in the field (:attr:`entries`), a SymPy fraction in `s`.
    x_hat : sympy.Matrix
        :math:`(x-\mu\mathbf 1)/s`, the normalized batch (the :math:`\epsilon`-normalized one when :math:`\epsilon>0`).
    closed_form : sympy.Matrix
        :math:`\frac{\gamma}{s}(I-\frac1m\mathbf 1\mathbf 1^\top-\frac1m\hat x\hat x^\top)`.
    exact : SymbolicBatch
        The same batch in the field :math:`\mathbb Q(s,x,\delta,\gamma,\beta)` (``symbolic_batch(m, rational=True)``).
    entries : list of lists
        :math:`\partial y_i/\partial x_j` as elements of that field (what `J` is printed from).
    """

    batch: SymbolicBatch
    s: sp.Symbol
    J: sp.Matrix
    x_hat: sp.Matrix
    closed_form: sp.Matrix
    exact: SymbolicBatch
    entries: list[list[Any]]

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

    def rational(self) -> RationalJacobian:
        r""":math:`J` and the quantities around it as exact elements of :math:`\mathbb Q(s,x,\delta,\gamma,\beta)`.

        The entries are those :func:`symbolic_jacobian` derived in the field (:math:`\epsilon=s^2-\sigma^2`
        eliminated, as :meth:`reduce` does); products
        and sums of them (:math:`J^2`, :math:`J^\top\delta`, :math:`\|J^\top\delta\|^2`) are then computed in the
        field, each result in lowest terms, instead of as SymPy expressions that :meth:`reduce` expands and cancels
        afterwards (3-10x faster from :math:`m=3`, more as :math:`m` grows). A value is 0 in the field exactly when
        the rational identity holds, so :meth:`RationalJacobian.is_zero` proves what :func:`is_zero` proves.
        """
        return _rational(self.exact, self.entries)


def _derive(m: int) -> tuple[SymbolicBatch, list[list[Any]]]:
    r"""The field batch of size `m` and :math:`\partial y_i/\partial x_j` in it (chain rule through :math:`s`)."""
    exact = symbolic_batch(m, rational=True)
    return exact, [[exact.diff(exact.y[i], exact.x[j]) for j in range(m)] for i in range(m)]


def _rational(e: SymbolicBatch, entries: list[list[Any]]) -> RationalJacobian:
    field, m = e.field.domain, e.m
    # eps (the SymPy batch's symbol) -> s^2 - sigma^2, for SymPy expressions converted into the field.
    eliminate = {sp.Symbol("epsilon", nonnegative=True): e.field.root**2 - e.field.radicand.as_expr()}

    def column(values) -> DomainMatrix:
        return DomainMatrix([[v] for v in values], (len(values), 1), field)

    x_hat, ones = column(e.x_hat), column([field.one] * m)
    bracket = DomainMatrix.eye(m, field) - (ones * ones.transpose() + x_hat * x_hat.transpose()) * (field.one / m)
    return RationalJacobian(
        field,
        eliminate,
        J=DomainMatrix(entries, (m, m), field),
        x_hat=x_hat,
        ones=ones,
        delta=column(e.delta),
        gamma=e.gamma,
        s=e.s,
        eps=e.eps,
        closed_form=bracket * (e.gamma / e.s),
    )


def rational_jacobian(m: int) -> RationalJacobian:
    r""":meth:`SymbolicJacobian.rational` of ``symbolic_jacobian(m)`` without its SymPy expressions (same derivation).

    For checks that work in the field only: the Jacobian of Algorithm 1 in :math:`\mathbb Q(s,x,\delta,\gamma,\beta)`,
    :math:`\epsilon=s^2-\sigma^2` eliminated.
    """
    return _rational(*_derive(m))


def _to_field(field: Any, eliminate: dict, expr: Any) -> Any:
    return field.from_sympy(sp.sympify(expr).subs(eliminate))


def _to_matrix(field: Any, eliminate: dict, matrix: sp.MatrixBase) -> DomainMatrix:
    rows = [[_to_field(field, eliminate, e) for e in row] for row in matrix.tolist()]
    return DomainMatrix(rows, matrix.shape, field)


@dataclass(frozen=True)
class RationalJacobian:
    r""":class:`SymbolicJacobian` in the field :math:`\mathbb Q(s,x_1..x_m,\delta_1..\delta_m,\gamma,\beta)`, exactly.

    Matrices are SymPy ``DomainMatrix`` over `field` (``A * B``, ``A - B``, ``A.transpose()``, ``A * c`` for a field
    element ``c``); scalars are field elements; :math:`\epsilon` is the element :math:`s^2-\sigma^2`. Built by
    :meth:`SymbolicJacobian.rational`.

    Attributes
    ----------
    field : sympy FracField domain
    eliminate : dict
        The substitution applied before converting (:math:`\epsilon\mapsto s^2-\sigma^2`).
    J : DomainMatrix, (m, m)
    x_hat, ones, delta : DomainMatrix, (m, 1)
        :math:`\hat x`, :math:`\mathbf 1` and the upstream gradient :math:`\delta`.
    gamma, s, eps : field elements
    closed_form : DomainMatrix, (m, m)
        :math:`\frac{\gamma}{s}(I-\frac1m\mathbf 1\mathbf 1^\top-\frac1m\hat x\hat x^\top)`, built in the field from
        :math:`\hat x` and :math:`\mathbf 1` (the formula of :attr:`SymbolicJacobian.closed_form`).
    """

    field: Any
    eliminate: dict
    J: DomainMatrix
    x_hat: DomainMatrix
    ones: DomainMatrix
    delta: DomainMatrix
    gamma: Any
    s: Any
    eps: Any
    closed_form: DomainMatrix

    def element(self, expr: Any) -> Any:
        r"""A SymPy expression, rational once :math:`\epsilon` is eliminated, as a field element (exact)."""
        return _to_field(self.field, self.eliminate, expr)

    def matrix(self, matrix: sp.MatrixBase) -> DomainMatrix:
        """A SymPy matrix as a ``DomainMatrix`` over the field, entry by entry."""
        return _to_matrix(self.field, self.eliminate, matrix)

    def is_zero(self, value: Any) -> bool:
        """Whether a field element or a matrix over the field is 0 (an exact identity)."""
        return value.is_zero_matrix if isinstance(value, DomainMatrix) else value == self.field.zero

    @staticmethod
    def entry(matrix: DomainMatrix, i: int = 0, j: int = 0) -> Any:
        """Entry (i, j) as a field element (of a 1 x 1 product: the scalar it stands for)."""
        return matrix[i, j].element

    def trace(self, matrix: DomainMatrix) -> Any:
        """The trace, a field element."""
        return sum((matrix[i, i].element for i in range(matrix.shape[0])), self.field.zero)


def symbolic_jacobian(m: int) -> SymbolicJacobian:
    r"""Differentiate Algorithm 1 for a symbolic batch of size `m` with a symbolic :math:`\epsilon\ge0`.

    The derivative is taken in :math:`\mathbb Q(s,x,\delta,\gamma,\beta)` with :math:`\epsilon=s^2-\sigma^2`
    eliminated (SymPy's polynomial derivative and the chain rule through :math:`s`,
    :meth:`bntheory.symbolic.fields.RadicalField.diff`), each entry in lowest terms; :attr:`SymbolicJacobian.J` is
    those fractions as SymPy expressions, and :meth:`SymbolicJacobian.rational` uses them as they are.
    Facts proven for symbolic :math:`\epsilon` hold at :math:`\epsilon=0` (where :math:`s=\sigma`) by
    substitution, which is how the paper's :math:`\epsilon=0` statements are obtained.
    """
    b = symbolic_batch(m)
    exact, entries = _derive(m)
    s = exact.field.root
    J = sp.Matrix(m, m, lambda i, j: entries[i][j].as_expr())
    x_hat = sp.Matrix([(xi - b.mu) / s for xi in b.x])
    ones = sp.ones(m, 1)
    closed = b.gamma / s * (sp.eye(m) - ones * ones.T / m - x_hat * x_hat.T / m)
    return SymbolicJacobian(b, s, J, x_hat, closed, exact, entries)


def is_zero(jac: SymbolicJacobian, expr) -> bool:
    r"""Whether a scalar or matrix expression vanishes identically once :math:`\epsilon` is eliminated."""
    entries = expr if isinstance(expr, sp.MatrixBase) else [expr]
    return all(jac.reduce(e) == 0 for e in entries)
