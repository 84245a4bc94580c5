"""Arrays stay on their backend inside the library's loops: host copies happen only at the edges.

Run under array-api-strict, which refuses NumPy's implicit conversions (``np.asarray`` of one of its arrays
raises), so a silent NumPy fallback fails here before it would cost a device-to-host copy per iteration on
a GPU; and on CuPy where a GPU is present (CuPy refuses implicit conversions too). The explicit edge,
:func:`bntheory.backend.to_numpy` (``.get()`` on CuPy), is counted: zero calls inside the loops.
"""

import numpy as np
import pytest

from bntheory import backend
from bntheory import representations as rep
from bntheory.optim import gdnp, problems
from bntheory.optim.problems import spd_with_condition


@pytest.fixture(params=["array_api_strict", "cupy"])
def xps(request):
    try:
        return backend.namespace(request.param)
    except backend.BackendUnavailableError as exc:
        pytest.skip(str(exc))


@pytest.fixture
def host_copies(monkeypatch):
    """Count every to_numpy call made through the modules that run the loops."""
    calls = []
    original = backend.to_numpy

    def counting(x):
        calls.append(type(x).__name__)
        return original(x)

    for module in (backend, gdnp, problems):
        monkeypatch.setattr(module, "to_numpy", counting)
    return calls


def _instance(d=8, seed=3):
    rng = np.random.default_rng(seed)
    S = spd_with_condition(rng, d, 10.0)
    u = rng.normal(size=d)
    u *= np.sqrt(0.4 / (u @ np.linalg.solve(S, u)))
    return rng, S, u


@pytest.mark.parametrize("kind", ["least squares", "halfspace", "halfspace samples"])
def test_gdnp_iterations_copy_nothing_to_the_host(kind, xps, host_copies):
    rng, S, u = _instance()
    if kind == "least squares":
        problem = problems.least_squares_moments(xps.asarray(S), xps.asarray(u), 0.0)
    elif kind == "halfspace":
        problem = problems.halfspace(xps.asarray(S), xps.asarray(u))
    else:
        Z = rng.normal(size=(400, 8)) + u
        problem = problems.halfspace_samples(xps.asarray(Z))
    built = len(host_copies)  # the problem's constants (eigenvalues, validation) are the edge
    res = gdnp.gdnp(problem, xps.asarray(rng.normal(size=8)), T_d=15, T_s=30)
    assert len(host_copies) == built, f"host copies inside GDNP's loop: {host_copies[built:]}"
    assert isinstance(res.w, type(xps.asarray(0.0))), "the iterate stays an array of the backend"
    assert np.all(np.isfinite(res.trace.rho))


def test_deep_network_copies_nothing_to_the_host(xps, host_copies):
    rng = np.random.default_rng(0)
    H = xps.asarray(rng.standard_normal((2, 32, 8)))
    for method in ("weights", "gram"):
        out = rep.deep_network(H, 20, ("rc", "rs", "relu"), rng, method=method)
        assert out.shape == H.shape
    assert host_copies == []
