r"""Exact rational functions with one square root, for the symbolic checks: :math:`\mathbb Q(s, z_1,\dots,z_k)`.

The derivations of :mod:`bntheory.symbolic` differentiate expressions in which one square root
:math:`s=\sqrt{R(z)+c}` appears (:math:`\sqrt{\sigma^2+\epsilon}`, :math:`\|w\|_S`, :math:`\|v\|`). Here :math:`s` is a
generator of the field of rational functions over :math:`\mathbb Q` (SymPy's ``sympy.polys.fields``: every element
is a numerator and denominator polynomial in lowest terms), the derivative is the chain rule written out,

.. math:: \frac{d}{dz_i}F(z,s)=\frac{\partial F}{\partial z_i}+\frac{\partial F}{\partial s}\,
          \frac{\partial_i R}{2s},

and an element vanishes on :math:`s^2=R+c` exactly when its numerator's remainder modulo :math:`s^2-R-c` (with
:math:`s` leading, so the remainder is :math:`a_0(z)+a_1(z)s`) is 0. With a free shift :math:`c=\epsilon` that
:math:`\epsilon=s^2-R` eliminates, :math:`s` is algebraically independent of the :math:`z` and the test is plain
equality with 0. Every step is exact polynomial arithmetic, in place of SymPy's ``diff``, ``subs`` and
``cancel`` on expression trees (the cost of these checks); a tree is built only when an element's ``as_expr`` is
asked for.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import sympy as sp
from sympy.polys.fields import FracElement

__all__ = ["RadicalField"]


class RadicalField:
    r"""The field :math:`\mathbb Q(s,z)` with :math:`s=\sqrt{R(z)+c}`, its chain rule and its zero test.

    Parameters
    ----------
    symbols : sequence of sympy.Symbol
        The free symbols :math:`z` (all distinct, none of them `root`).
    root : sympy.Symbol
        The symbol that stands for the square root.
    radicand : sympy.Expr
        :math:`R(z)`, a polynomial in `symbols` with rational coefficients.
    shifted : bool
        True when the square root is :math:`\sqrt{R+\epsilon}` with a free :math:`\epsilon` eliminated through
        :math:`\epsilon=s^2-R` (so no relation holds between :math:`s` and :math:`z`); False for :math:`s=\sqrt R`.

    Raises
    ------
    ValueError
        If `root` is among `symbols`, or `radicand` is not a polynomial in `symbols`.
    """

    def __init__(self, symbols: Sequence[sp.Symbol], root: sp.Symbol, radicand: sp.Expr, *, shifted: bool) -> None:
        symbols = tuple(symbols)
        if root in symbols:
            raise ValueError(f"root: {root} is also one of the symbols; give the square root its own symbol")
        if not sp.sympify(radicand).is_polynomial(*symbols):
            raise ValueError(f"radicand: expected a polynomial in {symbols}, got {radicand}")
        # s first: the ring's lex order then makes s^2 the leading term of s^2 - R, so division reduces in s.
        # Built as a SymPy domain so that DomainMatrix can hold the elements (they are the domain's elements).
        self.domain = sp.QQ.frac_field(root, *symbols)
        self.field = self.domain.field
        self.s, *gens = self.field.gens
        self.symbols, self.shifted = symbols, shifted
        self.gens = dict(zip(symbols, gens, strict=True))
        self.radicand = self.field.from_expr(sp.sympify(radicand))
        self._relation = None if shifted else (self.s**2 - self.radicand).numer

    def rebased(self, radicand: sp.Expr, *, shifted: bool) -> RadicalField:
        r"""The same field (its elements mix with this one's), :math:`s` standing for :math:`\sqrt{\text{radicand}}`.

        For a derivation that differentiates in two coordinate systems, e.g. :math:`\sigma(y)` and then
        :math:`\sigma(Xw)`, joined by :meth:`compose`.
        """
        other = copy.copy(self)
        other.shifted = shifted
        other.radicand = self.field.from_expr(sp.sympify(radicand))
        other._relation = None if shifted else (self.s**2 - other.radicand).numer
        return other

    def compose(self, value: FracElement, mapping: dict[sp.Symbol, FracElement]) -> FracElement:
        """`value` with each symbol of `mapping` (`root` too) replaced by a polynomial of the field, simultaneously.

        Raises
        ------
        ValueError
            If a replacement is not a polynomial (its denominator is not a constant): :meth:`substitute` takes
            fractions.
        """
        pairs = []
        for symbol, poly in mapping.items():
            if not poly.denom.is_ground:
                raise ValueError(f"mapping: {symbol} -> {poly} is not a polynomial; use substitute for a fraction")
            pairs.append((self[symbol].numer, poly.numer.quo_ground(poly.denom.LC)))
        return self.field.new(value.numer.compose(pairs), value.denom.compose(pairs))

    def substitute(self, value: FracElement, symbol: sp.Symbol, replacement: FracElement) -> FracElement:
        r"""`value` with one symbol replaced by a fraction: numerator and denominator evaluated by their coefficients.

        :math:`p(z)=\sum_kp_k z^k` with :math:`p_k` free of :math:`z`, so :math:`p(r)=\sum_kp_kr^k` exactly.
        """
        if value == 0:
            return value
        z = self[symbol].numer

        def at(poly):
            return sum(
                (self.field(poly.coeff_wrt(z, k)) * replacement**k for k in range(poly.degree(z) + 1)), self.field.zero
            )

        return at(value.numer) / at(value.denom)

    def __getitem__(self, symbol: sp.Symbol) -> FracElement:
        """The generator of `symbol` (`root` gives :math:`s`)."""
        return self.s if symbol == self.root else self.gens[symbol]

    @property
    def root(self) -> sp.Symbol:
        """The symbol of :math:`s`."""
        return self.field.symbols[0]

    def element(self, expr: Any) -> FracElement:
        """A SymPy expression, rational in the symbols and `root`, as a field element."""
        return self.field.from_expr(sp.sympify(expr))

    def diff(self, value: FracElement, wrt: sp.Symbol | FracElement) -> FracElement:
        r""":math:`\frac{d}{dz}F=\partial_zF+\partial_sF\,\partial_zR/(2s)` (the chain rule through the square root).

        `wrt` is one of the symbols or its generator; :math:`s` itself is not a variable to differentiate in.
        """
        z = self.gens[wrt] if isinstance(wrt, sp.Symbol) else wrt
        if z not in self.gens.values():
            raise ValueError(f"wrt: expected one of the symbols {self.symbols} or their generators, got {wrt}")
        dR = self.radicand.diff(z)
        out = value.diff(z)
        return out if dR == 0 else out + value.diff(self.s) * dR / (2 * self.s)

    def vanishes(self, value: FracElement) -> bool:
        r"""Whether `value` is 0 where :math:`s^2=R+c` (exact: a remainder of polynomials, or equality with 0)."""
        return self.reduce(value) == 0

    def reduce(self, value: FracElement) -> FracElement:
        r"""`value` with its numerator replaced by its remainder modulo :math:`s^2-R` (0 iff `value` vanishes there).

        Without a relation (a free shift) `value` itself, already in lowest terms.
        """
        if value == 0 or self._relation is None:
            return value
        return self.field.new(value.numer.rem(self._relation), value.denom)
