import numpy as np
import pytest

from bntheory import backend


def test_unknown_backend_names_the_choices():
    with pytest.raises(ValueError, match="backend: unknown backend 'jax'; choose one of numpy"):
        backend.namespace("jax")


def test_round_trip(xp, rng):
    a = rng.normal(size=(3, 4))
    b = backend.asarray(a, xp)
    assert type(b).__module__.split(".")[0] != "numpy" or xp.__name__.endswith("numpy")
    np.testing.assert_array_equal(backend.to_numpy(b), a)


def test_float32_round_trip(xp, rng):
    a = rng.normal(size=5).astype(np.float32)
    assert backend.to_numpy(backend.asarray(a, xp)).dtype == np.float32


def test_available_lists_numpy():
    assert "numpy" in backend.available()
