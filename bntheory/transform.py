"""Moved to :mod:`bntheory.norms.batch` (the house by domain); this name keeps working: it *is* that module."""

import sys

from bntheory.norms import batch as _home

sys.modules[__name__] = _home
