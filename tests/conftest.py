"""Backend fixture: every array test runs on NumPy, array-api-strict (catches non-standard calls that
would break on CuPy) and PyTorch; CuPy joins where a GPU is visible."""

import numpy as np
import pytest

from bntheory import backend


def _params():
    params = []
    for name in ("numpy", "array_api_strict", "torch", "cupy"):
        try:
            backend.namespace(name)
            marks = ()
        except backend.BackendUnavailableError as exc:
            marks = pytest.mark.skip(reason=str(exc))
        params.append(pytest.param(name, marks=marks, id=name))
    return params


@pytest.fixture(params=_params())
def xp(request):
    return backend.namespace(request.param)


@pytest.fixture
def rng():
    return np.random.default_rng(20261123)


@pytest.fixture(params=["array_api_strict", "cupy"])
def strict(request):
    """A namespace that refuses implicit host conversions: array-api-strict, and CuPy where a GPU is visible."""
    try:
        return backend.namespace(request.param)
    except backend.BackendUnavailableError as exc:
        pytest.skip(str(exc))


@pytest.fixture
def count_host_copies(monkeypatch):
    """``count_host_copies(*modules)``: a list that records every ``to_numpy`` call those modules make."""

    def start(*modules):
        calls = []
        original = backend.to_numpy

        def counting(x):
            calls.append(type(x).__name__)
            return original(x)

        for module in modules:
            monkeypatch.setattr(module, "to_numpy", counting)
        return calls

    return start
