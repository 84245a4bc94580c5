"""Moved to :mod:`bntheory.optim.gdnp` (the house by domain); this name keeps working: it *is* that module."""

import sys

from bntheory.optim import gdnp as _home

sys.modules[__name__] = _home
