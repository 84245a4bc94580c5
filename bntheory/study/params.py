"""Parameters of a study's components: their types, defaults and limits, checked before anything runs.

Every problem, method and measure of a study declares its parameters as :class:`Param` objects; a spec's value
for one (a single value or a list, the grid) is checked and coerced by :meth:`Param.coerce`, so that ``kappa = 10``
and ``kappa = 10.0`` name the same cell (its seed and cache key are computed from the coerced value).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Param", "SpecError"]


class SpecError(ValueError):
    """A study declaration that cannot run: names the field (``problems[0].kappa``) and what it expected."""


@dataclass(frozen=True)
class Param:
    """One parameter of a problem, method or measure.

    Attributes
    ----------
    kind : {"int", "float", "str"}
        Its type; an int is accepted for a float (and becomes one), a bool for neither.
    default : int, float, str or None
        Its value when a spec does not give it (None: computed from the others, as ``n = 20 d``).
    doc : str
        What it is, for the error messages and the docs.
    minimum : float, optional
        Smallest value allowed (inclusive).
    choices : tuple of str, optional
        The values a ``"str"`` parameter may take.
    """

    kind: str
    default: int | float | str | None
    doc: str
    minimum: float | None = None
    choices: tuple[str, ...] | None = None

    def coerce(self, field: str, value: object) -> int | float | str:
        """`value` checked and converted to the parameter's type, or a :class:`SpecError` naming `field`."""
        if self.kind == "str":
            if not isinstance(value, str) or (self.choices is not None and value not in self.choices):
                expected = f"one of {', '.join(map(repr, self.choices))}" if self.choices else "a string"
                raise SpecError(f"{field}: expected {expected} ({self.doc}), got {value!r}")
            return value
        numeric = int if self.kind == "int" else (int, float)
        if isinstance(value, bool) or not isinstance(value, numeric):
            raise SpecError(
                f"{field}: expected {'an integer' if self.kind == 'int' else 'a number'} ({self.doc}), got {value!r}"
            )
        value = int(value) if self.kind == "int" else float(value)
        if not math.isfinite(value) or (self.minimum is not None and value < self.minimum):
            raise SpecError(f"{field}: expected a finite value >= {self.minimum:g} ({self.doc}), got {value!r}")
        return value

    def grid(self, field: str, values: object) -> tuple[int | float | str, ...]:
        """A spec's grid for this parameter (one value, or a non-empty list of distinct values), coerced."""
        items = list(values) if isinstance(values, Sequence) and not isinstance(values, str) else [values]
        if not items:
            raise SpecError(f"{field}: the grid is empty; give at least one value")
        coerced = tuple(self.coerce(f"{field}[{i}]" if len(items) > 1 else field, v) for i, v in enumerate(items))
        if len(set(coerced)) != len(coerced):
            raise SpecError(f"{field}: the grid repeats a value ({list(coerced)}); give each value once")
        return coerced
