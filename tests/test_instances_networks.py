"""Instances and harnesses of bntheory.checks.instances.networks: what they build is what they say."""

import numpy as np
import pytest
import sympy as sp

from bntheory import representations as rep
from bntheory.checks.instances import networks as nets


def test_integer_batches_and_the_row_space_test():
    rng = np.random.default_rng(0)
    cases = nets.integer_batches(rng, ((6, 4), (3, 5)))
    assert len(cases) == 4
    generic, centred = cases[:2], cases[2:]
    assert all(nets.ones_in_row_space(H) for H in generic[:1])  # (6, 4): full column rank, so 1 is in the row space
    assert not any(nets.ones_in_row_space(H) for H in centred)
    assert all(sum(H.row(i)) == 0 for H in centred for i in range(H.rows))
    assert nets.centering(3) * sp.ones(3, 1) == sp.zeros(3, 1)
    with pytest.raises(ValueError, match="shapes"):
        nets.integer_batches(rng, ((0, 3),))


def test_numpy_rank_tolerance_is_numpys():
    H = np.random.default_rng(1).standard_normal((3, 7, 5))
    s = np.linalg.svd(H, compute_uv=False)
    np.testing.assert_allclose(nets.numpy_rank_tolerance(H), s[:, 0] * 7 * np.finfo(float).eps, rtol=1e-14)


def test_separated_directions_are_separated():
    rng = np.random.default_rng(2)
    n = 8
    H = nets.separated_directions(rng, n, 50)
    lines = np.mod(np.arctan2(H[:, 1], H[:, 0]), np.pi)
    gaps = np.diff(np.sort(lines, axis=-1), axis=-1)
    wrap = np.pi - (np.max(lines, axis=-1) - np.min(lines, axis=-1))
    assert np.min(gaps) >= 0.5 * np.pi / n - 1e-12 and np.min(wrap) >= 0.5 * np.pi / n - 1e-12
    P = nets.separated_directions(rng, n, 3, parallel_pair=True)
    np.testing.assert_array_equal(P[..., 1], 2 * P[..., 0])
    with pytest.raises(ValueError, match="jitter"):
        nets.separated_directions(rng, n, 3, jitter=0.5)


def test_cluster_outlier_and_the_gram_law():
    rng = np.random.default_rng(3)
    H = nets.cluster_outlier(rng, 50, 5, 4.0)
    assert abs(H[:, 0] @ H[:, -1]) < 1e-10 * (H[:, 0] @ H[:, 0])
    assert np.linalg.norm(H[:, -1]) == pytest.approx(4 * np.linalg.norm(H[:, 0]))
    Z = nets.gaussian_law_draws(rng, H, 4000, 2.0)
    mean = np.mean(np.swapaxes(Z, -1, -2) @ Z, axis=0)
    np.testing.assert_allclose(mean, 2.0 * H.T @ H, atol=0.03 * np.abs(H.T @ H).max())
    with pytest.raises(ValueError, match="outlier_ratio"):
        nets.cluster_outlier(rng, 5, 4, 0.0)


def test_independent_formulas_agree_with_the_library():
    H = np.random.default_rng(4).standard_normal((3, 6, 9))
    np.testing.assert_allclose(nets.soft_rank_by_traces(H), rep.soft_rank(H), rtol=1e-12)
    np.testing.assert_allclose(nets.gap_by_singular_values(H), rep.orthogonality_gap(H), atol=1e-12)
    assert nets.loglog_slope([1, 2, 4], [1, 2, 4]) == pytest.approx(1.0)
    assert np.isnan(nets.loglog_slope([1, 2], [1, 0]))
    assert np.isnan(nets.loglog_slope([-1, -2], [1, 2])), "a negative x has no logarithm: NaN, not a fit"


def test_stable_rank_is_not_the_soft_rank_at_depth_zero():
    # Class 7 of issue 14: the table gate must tell them apart (Gaussian 32 x 32: soft ~16, stable ~8).
    H = np.random.default_rng(5).standard_normal((3, 32, 32))
    assert np.all(rep.soft_rank(H) > 13) and np.all(rep.stable_rank(H) < 11)


def test_integer_batches_default_range_is_minus_5_to_5():
    cases = nets.integer_batches(np.random.default_rng(7), ((20, 30),))
    values = np.array(cases[0].tolist(), dtype=np.int64)
    assert values.min() == -5 and values.max() == 5  # both ends drawn (600 entries of 11 values)
    narrow = np.array(nets.integer_batches(np.random.default_rng(7), ((20, 30),), low=0, high=1)[0].tolist())
    assert set(np.unique(narrow)) == {0, 1}
    assert len(nets.integer_batches(np.random.default_rng(7), ((1, 1),))) == 2  # the smallest shape is allowed


def test_gaussian_law_draws_guards():
    rng = np.random.default_rng(8)
    H = rng.standard_normal((4, 3))
    assert nets.gaussian_law_draws(rng, H, 1, 1e-12).shape == (1, 4, 3)  # the valid edges: one draw, tiny variance
    for bad_H, draws, variance in ((H[0], 2, 1.0), (H[None], 2, 1.0), (H, 0, 1.0), (H, 2, 0.0), (H, 2, -1.0)):
        with pytest.raises(ValueError, match="need a matrix, draws >= 1, variance > 0"):
            nets.gaussian_law_draws(rng, bad_H, draws, variance)


def test_chain_snapshots_keep_the_asked_depths_normalized():
    kept = nets.chain_snapshots(np.random.default_rng(9), np, steps=("rc",), depths=(0, 3, 7), width=6, seeds=2)
    assert list(kept) == [0, 3, 7]
    for layer, H in kept.items():
        assert H.shape == (2, 6, 6)
        if layer:  # the input is a raw Gaussian batch; every layer after it is divided by its Frobenius norm
            np.testing.assert_allclose(np.sqrt(np.sum(H * H, axis=(-2, -1))), 1.0, rtol=1e-13)


def _layer_tagged_network(monkeypatch):
    """Replace deep_network by one whose layer-l batch is filled with l, and soft_rank by the batch's [0, 0]."""

    def network(H0, depth, steps, rng, *, normalize=False, record=None, **_):
        for layer in range(depth + 1):  # like deep_network: record(0, input), ..., record(depth, output)
            record(layer, np.full(H0.shape, float(layer)))
        return np.full(H0.shape, float(depth))

    monkeypatch.setattr(rep, "deep_network", network)
    monkeypatch.setattr(rep, "soft_rank", lambda H: np.asarray(H)[..., 0, 0])


def test_stationary_soft_ranks_take_the_last_half_of_the_layers_once(monkeypatch):
    _layer_tagged_network(monkeypatch)
    # depth 5: layers 3 and 4 by the record, layer 5 as returned, each once: median 4 (5 twice would give 4.5).
    assert nets.stationary_soft_ranks(np.random.default_rng(10), np, widths=(3,), depth=5, steps=("rc",)) == [4.0]
    assert nets.stationary_soft_ranks(np.random.default_rng(10), np, widths=(3, 4), depth=8, steps=()) == [6.5, 6.5]


def test_representation_heatmaps_are_the_first_rc_relu_network(monkeypatch):
    real, seen = rep.deep_network, {}

    def network(H0, depth, steps, rng, **kwargs):
        out = real(H0, depth, steps, rng, **kwargs)
        seen[tuple(steps)] = (np.array(H0), np.array(out))
        return out

    monkeypatch.setattr(rep, "deep_network", network)
    traces, heatmaps = nets.representation_traces(np.random.default_rng(11), np, depth=20, n=6, d=12, seeds=2)
    assert list(traces) == list(nets.DECOMPOSITIONS)
    np.testing.assert_array_equal(traces["RC"]["depth"], [0, 20])
    H0, out = seen[("rc", "relu")]
    assert sorted(heatmaps) == ["RC + ReLU, depth 0", "RC + ReLU, depth 20"]
    np.testing.assert_allclose(heatmaps["RC + ReLU, depth 0"], rep.cosine(H0)[0], rtol=1e-14)
    np.testing.assert_allclose(heatmaps["RC + ReLU, depth 20"], rep.cosine(out)[0], rtol=1e-14)


def _recording_network(monkeypatch, calls):
    """deep_network replaced by one that logs its input and depth and whose layer-l batch is filled with l."""

    def network(H0, depth, steps, rng, **kwargs):
        calls.append({"H0": np.array(H0), "depth": depth, "steps": tuple(steps), **kwargs})
        for layer in range(depth + 1):
            kwargs["record"](layer, np.full(H0.shape, float(layer)))
        return np.full(H0.shape, float(depth))

    monkeypatch.setattr(rep, "deep_network", network)
    monkeypatch.setattr(rep, "orthogonality_gap", lambda H: np.asarray(H)[..., 0, 0])


def test_stationary_soft_ranks_default_is_three_networks_of_width_n(monkeypatch):
    calls = []
    _recording_network(monkeypatch, calls)
    monkeypatch.setattr(rep, "soft_rank", lambda H: np.asarray(H)[..., 0, 0])
    nets.stationary_soft_ranks(np.random.default_rng(12), np, widths=(5,), depth=4, steps=("rc",))
    assert calls[0]["H0"].shape == (3, 5, 5) and calls[0]["normalize"] is True


def test_gap_plateaus_defaults_batch_8_depth_100_from_layer_60(monkeypatch):
    calls = []
    _recording_network(monkeypatch, calls)
    plateau, squared = nets.gap_plateaus(np.random.default_rng(13), np, widths=(4, 6), seeds=2, steps=())
    assert [c["H0"].shape for c in calls] == [(2, 4, 8), (2, 6, 8)] and {c["depth"] for c in calls} == {100}
    assert calls[0]["method"] == "gram" and calls[0]["normalize"] is True
    layers = np.arange(60, 101)  # layers 60..99 by the record, 100 as returned, each once
    assert plateau == [pytest.approx(layers.mean())] * 2 and squared == [pytest.approx(np.mean(layers**2))] * 2


def test_gap_from_correlated_input_defaults(monkeypatch):
    calls = []
    _recording_network(monkeypatch, calls)
    _, later = nets.gap_from_correlated_input(np.random.default_rng(14), np, d=400, seeds=2, steps=())
    H0 = calls[0]["H0"]
    assert H0.shape == (2, 400, 8) and calls[0]["depth"] == 100 and later == pytest.approx(80.0)
    # columns c + 0.01 g_j: the spread around the common column is 1e-2
    assert np.std(H0 - H0.mean(axis=-1, keepdims=True)) * np.sqrt(8 / 7) == pytest.approx(1e-2, rel=0.05)


def test_exact_rank_and_the_law_from_given_gaussians():
    rng = np.random.default_rng(10)
    for M in (sp.Matrix([[1, 2], [2, 4]]), sp.Matrix(rng.integers(-3, 4, size=(5, 4)).tolist()) / 3, sp.zeros(2, 3)):
        assert nets.exact_rank(M) == M.rank()
    H = rng.standard_normal((6, 3))
    G = np.random.default_rng(11).standard_normal((4, 6, 3))
    drawn = nets.gaussian_law_draws(np.random.default_rng(11), H, 4, 2.0)
    np.testing.assert_array_equal(nets.gaussian_law(G, H, 2.0), drawn)
    for bad_G, variance in ((G[0], 1.0), (G[..., :2], 1.0), (G, 0.0)):
        with pytest.raises(ValueError, match="need a matrix H, G of shape"):
            nets.gaussian_law(bad_G, H, variance)
