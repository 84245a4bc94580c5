"""bntheory: the theory of batch normalization, made checkable.

The library, by domain
----------------------
norms
    The transforms: BN (``norms.batch``: training forward/backward, running and population statistics,
    inference, fusion; also ``bntheory.transform``), LayerNorm, RMSNorm, GroupNorm, InstanceNorm, WeightNorm.
landscape
    Santurkar et al. 2018: the BN Jacobian, the Lipschitz bounds, internal covariate shift, the deep linear
    network, the landscape measures.
optim
    Kohler et al. 2019: GDNP and its baselines, the objectives (``bntheory.gdnp``, ``bntheory.problems``).
representations
    Nachum et al. 2024, Daneshmand et al. 2020/2021: decomposed BN layers, deep random networks, rank and geometry.
curvature
    Dangel 2021, Ghorbani et al. 2019: per-component and per-sample gradients, GGN and Hessian operators,
    spectra (``bntheory.spectrum``).
symbolic
    SymPy derivations shared by several results.

Checking
--------
checks
    The check kit: comparisons that refuse NaN, inequality specs and their attack, rates, frequencies,
    oracles, instance generators, tolerances.
registry, results
    The records of the results, and their discovery (the package's own, entry points, ``--with`` files).
run, runner, report, cli, notebooks, pytest_plugin
    Running results, presenting them, and the commands.
backend, context
    Array backends (NumPy, PyTorch, CuPy, array-api-strict) and what a check receives.
"""

from importlib.metadata import PackageNotFoundError, version

from bntheory.norms import batch as transform

try:
    __version__ = version("bntheory")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = ["__version__", "transform"]
