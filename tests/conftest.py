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
