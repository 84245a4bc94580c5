"""bntheory: the theory of batch normalization, made checkable.

Subpackages and modules
-----------------------
transform
    The BN transform (Ioffe & Szegedy 2015): training forward/backward, running statistics,
    population statistics, inference, fusion.
registry
    The theorem registry: one record per result, with its symbolic and numeric checks and its
    negative control.
backend
    Array backends (NumPy, PyTorch, CuPy, array-api-strict).
"""

from importlib.metadata import PackageNotFoundError, version

from bntheory import transform

try:
    __version__ = version("bntheory")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = ["__version__", "transform"]
