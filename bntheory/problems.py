"""Moved to :mod:`bntheory.optim.problems` (the house by domain); this name keeps working: it *is* that module."""

import sys

from bntheory.optim import problems as _home

sys.modules[__name__] = _home
