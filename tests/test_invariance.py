"""The invariance table's library (bntheory.norms.invariance) and its results (THEORY-2.md §9.3, §9.4 row T3)."""

import numpy as np
import pytest

from bntheory import backend
from bntheory.context import Context
from bntheory.norms import invariance as inv
from bntheory.results import all_results
from bntheory.run import run


@pytest.fixture
def layer():
    rng = np.random.default_rng(7)
    return rng.normal(size=(6, 5)), rng.normal(size=(4, 5)), rng.normal(size=(3, 5, 4)) + 1.5, rng.normal(size=5)


def test_transformations_are_the_six_maps_of_the_table_and_pure(layer):
    W, X, Xc, c = layer
    before = [a.copy() for a in (W, X, Xc, c)]
    assert np.array_equal(inv.rescale_weights(W, 2.5), 2.5 * W)
    assert np.array_equal(inv.recentre_weights(W, c), W + np.ones((6, 1)) * c[None, :])
    rows = inv.rescale_row(W, 2, 0.5)
    assert np.array_equal(rows[2], 0.5 * W[2]) and np.array_equal(np.delete(rows, 2, 0), np.delete(W, 2, 0))
    assert np.array_equal(inv.rescale_data(Xc, 3.0), 3.0 * Xc)
    assert np.array_equal(inv.recentre_data(X, c), X + c)
    shifted = inv.recentre_data(Xc, c)
    assert all(np.array_equal(shifted[:, :, s], Xc[:, :, s] + c) for s in range(4)), "c at every position"
    case = inv.rescale_case(Xc, 1, 4.0)
    assert np.array_equal(case[1], 4.0 * Xc[1]) and np.array_equal(case[[0, 2]], Xc[[0, 2]])
    assert all(np.array_equal(a, b) for a, b in zip(before, (W, X, Xc, c), strict=True)), "an argument was modified"


def test_transformed_applies_each_column_to_one_side(layer):
    W, X, _, c = layer
    kw = {"delta": 2.0, "c_weights": c, "c_data": -c, "row": 1, "case": 3}
    expect = {
        1: (2.0 * W, X),
        2: (W + c, X),
        3: (inv.rescale_row(W, 1, 2.0), X),
        4: (W, 2.0 * X),
        5: (W, X - c),
        6: (W, inv.rescale_case(X, 3, 2.0)),
    }
    assert tuple(inv.TRANSFORMATIONS) == (1, 2, 3, 4, 5, 6)
    for number, (W2, X2) in expect.items():
        got = inv.transformed(number, W, X, **kw)
        assert np.allclose(got[0], W2, rtol=0, atol=1e-15) and np.allclose(got[1], X2, rtol=0, atol=1e-15), number
    with pytest.raises(ValueError, match="number: expected a transformation 1 to 6"):
        inv.transformed(7, W, X, **kw)


def _reference(a, norm):
    """Each normalization from its definition (THEORY-2.md §9.1), with NumPy reductions over explicit axes."""
    if norm == "weight":
        raise AssertionError("WN is a weight normalization")
    axes = {
        "batch": (0, 2),
        "layer": (1, 2),
        "rms": (1, 2),
        "position": (1,),
        "instance": (2,),
    }
    if norm == "group":  # 3 groups of 2 channels
        g = a.reshape(a.shape[0], 3, 2, -1)
        z = g - g.mean(axis=(2, 3), keepdims=True)
        return (z / np.sqrt((z * z).mean(axis=(2, 3), keepdims=True))).reshape(a.shape)
    ax = tuple(k for k in axes[norm] if k < a.ndim)
    z = a if norm == "rms" else a - a.mean(axis=ax, keepdims=True)
    return z / np.sqrt((z * z).mean(axis=ax, keepdims=True))


@pytest.mark.parametrize("norm", [n for n in inv.NORMALIZATIONS])
@pytest.mark.parametrize("conv", [False, True])
def test_normalized_layer_is_the_definition(layer, norm, conv):
    W, X, Xc, _ = layer
    data = Xc if conv else X
    if norm == "instance" and not conv:
        with pytest.raises(ValueError, match="holds 1 value"):
            inv.normalized_layer(W, data, norm)
        return
    groups = 3 if norm == "group" else None
    got = inv.normalized_layer(W, data, norm, groups=groups)
    a = np.einsum("cd,nd...->nc...", W, data)
    if norm == "weight":
        want = np.einsum("cd,nd...->nc...", W / np.linalg.norm(W, axis=1, keepdims=True), data)
    else:
        want = _reference(a, norm)
    assert got.shape == a.shape
    assert np.max(np.abs(got - want)) <= 1e-13


def test_position_ln_is_layer_ln_without_positions(layer):
    W, X, _, _ = layer
    assert np.array_equal(inv.normalized_layer(W, X, "position"), inv.normalized_layer(W, X, "layer"))


def test_eps_reaches_the_normalization(layer):
    W, _, Xc, _ = layer
    y0, y1 = (inv.normalized_layer(W, Xc, "batch", eps=e) for e in (0.0, 1.0))
    assert 0 < np.max(np.abs(y1)) < np.max(np.abs(y0))


def test_errors_name_the_argument(layer):
    W, X, Xc, c = layer
    cases = [
        (lambda: inv.rescale_weights(W, 0.0), ValueError, "delta: expected a positive factor"),
        (lambda: inv.rescale_weights(W, -1.0), ValueError, "delta"),
        (lambda: inv.rescale_weights(np.ones(3), 2.0), ValueError, "W: expected at least 2"),
        (lambda: inv.rescale_weights(np.ones((2, 2, 2)), 2.0), ValueError, "W: expected a .C, D. weight matrix"),
        (lambda: inv.rescale_weights(np.ones((2, 2), dtype=int), 2.0), TypeError, "W: expected a real floating"),
        (lambda: inv.recentre_weights(W, c[:3]), ValueError, r"c: expected shape \(5,\)"),
        (lambda: inv.recentre_weights(W, c.astype(np.float32)), TypeError, "c: dtype"),
        (lambda: inv.rescale_row(W, 6, 2.0), ValueError, "row: expected an index 0 to 5"),
        (lambda: inv.rescale_row(W, True, 2.0), TypeError, "row: expected an int"),
        (lambda: inv.rescale_case(X, -1, 2.0), ValueError, "case: expected an index 0 to 3"),
        (lambda: inv.rescale_data(np.ones((2, 2, 2, 2)), 2.0), ValueError, "X: expected .N, D. or .N, D, S."),
        (lambda: inv.recentre_data(Xc, np.ones(4)), ValueError, r"c: expected shape \(5,\)"),
        (lambda: inv.normalized_layer(W, X, "batchnorm"), ValueError, "norm: expected one of batch"),
        (lambda: inv.normalized_layer(W, Xc, "group"), ValueError, "groups: GroupNorm needs"),
        (lambda: inv.normalized_layer(W, Xc, "layer", groups=2), ValueError, "groups"),
        (lambda: inv.normalized_layer(W, Xc, "group", groups=4), ValueError, "groups: must be >= 1 and divide"),
        (lambda: inv.normalized_layer(W, X, "weight", eps=1e-5), ValueError, "eps: WeightNorm"),
        (lambda: inv.normalized_layer(W, X, "layer", eps=-1.0), ValueError, "eps"),
        (lambda: inv.normalized_layer(W, X[:, :4], "layer"), ValueError, "X: expected 5 features"),
        (lambda: inv.normalized_layer(W, X.astype(np.float32), "layer"), TypeError, "X: dtype"),
    ]
    for call, kind, match in cases:
        with pytest.raises(kind, match=match):
            call()


@pytest.mark.parametrize("name", ["array_api_strict", "torch"])
def test_runs_on_other_namespaces(layer, name):
    try:
        xp = backend.namespace(name)
    except backend.BackendUnavailableError as exc:
        pytest.skip(str(exc))
    W, _, Xc, c = (backend.asarray(a, xp) for a in layer)
    W2, X2 = inv.transformed(3, W, Xc, delta=2.0, c_weights=c, c_data=c, row=1, case=0)
    W2, X2 = inv.transformed(6, W2, X2, delta=2.0, c_weights=c, c_data=c, row=1, case=0)
    for norm in inv.NORMALIZATIONS:
        groups = 3 if norm == "group" else None
        got = backend.to_numpy(inv.normalized_layer(W2, X2, norm, groups=groups))
        want = inv.normalized_layer(*(backend.to_numpy(a) for a in (W2, X2)), norm, groups=groups)
        assert np.max(np.abs(got - want)) <= 1e-13, norm


def test_torch_gradient_oracle():
    pytest.importorskip("torch")
    from bntheory.checks.oracles.autograd import torch_gradient

    A, b = np.arange(6.0).reshape(2, 3), np.array([1.0, -2.0])
    gA, gb = torch_gradient(lambda A, b: ((A.sum(1) - b) ** 2).sum(), A, b)
    r = A.sum(1) - b
    assert np.allclose(gA, 2 * r[:, None] * np.ones((2, 3))) and np.allclose(gb, -2 * r)


OURS = [r for r in all_results() if r.proof == "invariance.py"]


def test_the_table_and_t3_are_registered():
    ids = {r.id for r in OURS}
    assert len([i for i in ids if ".invariance_" in i]) == 12
    assert {f"transfer.t3_{k}" for k in ("layer", "group", "instance", "rms", "weight")} <= ids
    published = {"ba2016.invariance_fc_batch", "ba2016.invariance_fc_weight", "ba2016.invariance_fc_layer"}
    assert {r.id for r in OURS if r.tag == "P"} == published | {"zhang2019.invariance_fc_rms"}


@pytest.mark.parametrize("result", OURS, ids=[r.id for r in OURS])
def test_results_pass_at_the_quick_size(result):
    pytest.importorskip("torch")
    assert run(result, Context(size="quick")).status == "passed"
