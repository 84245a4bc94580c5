"""The house by domain: the public modules of the first layout keep working from their new homes."""

import importlib

import pytest

MOVED = {
    "bntheory.transform": "bntheory.norms.batch",
    "bntheory.gdnp": "bntheory.optim.gdnp",
    "bntheory.problems": "bntheory.optim.problems",
    "bntheory.spectrum": "bntheory.curvature.spectrum",
}


@pytest.mark.parametrize(("old", "new"), MOVED.items())
def test_a_former_name_is_the_module_itself(old, new):
    """Not a copy: patching or reading an attribute through either name is the same."""
    assert importlib.import_module(old) is importlib.import_module(new)
    parent, _, leaf = old.rpartition(".")
    assert getattr(importlib.import_module(parent), leaf) is importlib.import_module(new)


@pytest.mark.parametrize(
    ("package", "names"),
    [
        ("bntheory.representations", ("deep_network", "soft_rank", "apply_steps", "STEPS", "orthogonality_gap")),
        ("bntheory.curvature", ("Model", "ggn_dense", "per_sample_gradients", "random_problem")),
        ("bntheory.landscape", ("probe_gradient_direction",)),
    ],
)
def test_a_package_keeps_the_names_of_the_module_it_replaced(package, names):
    module = importlib.import_module(package)
    assert all(hasattr(module, n) for n in names)
    assert set(names) <= set(module.__all__)
