"""Moved to :mod:`bntheory.curvature.spectrum` (the house by domain); this name keeps working: it *is* that module."""

import sys

from bntheory.curvature import spectrum as _home

sys.modules[__name__] = _home
