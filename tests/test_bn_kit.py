"""The kit behind the BN-transform and DLN results: instances, exact references, paired runs."""

from fractions import Fraction

import numpy as np
import pytest

from bntheory.checks.instances import batches as bn_instances
from bntheory.checks.oracles import bn_reference
from bntheory.checks.oracles.bn_reference import exact_population_stats, exact_running_stats, flat, mp_inference
from bntheory.landscape import deep_linear
from bntheory.norms import batch as transform


def test_exact_population_stats_is_algorithm_2_and_sees_a_small_bias(rng):
    batches = [rng.normal(1.0, 2.0, size=(4, 3)) for _ in range(5)]
    mean, var = exact_population_stats(batches)
    got_mean, got_var = transform.population_stats(batches)
    # The reference by hand: mean of batch means, m/(m-1) times the mean biased variance.
    np.testing.assert_allclose(got_mean, np.mean([b.mean(axis=0) for b in batches], axis=0), rtol=1e-14)
    np.testing.assert_allclose([float(v) for v in var], np.mean([b.var(axis=0, ddof=1) for b in batches], axis=0))
    assert np.max(np.abs(got_var / np.array([float(v) for v in var]) - 1)) < 1e-14
    assert np.max(np.abs(got_mean - np.array([float(v) for v in mean]))) < 1e-14
    assert np.min(np.abs(1.03 * got_var / np.array([float(v) for v in var]) - 1)) > 0.029


def test_exact_population_stats_counts_spatial_positions(rng):
    batches = [rng.normal(size=(2, 3, 2, 2)) for _ in range(3)]
    _, var = exact_population_stats(batches)
    m = 2 * 2 * 2
    by_hand = np.mean([np.moveaxis(b, 1, 0).reshape(3, -1).var(axis=1) * m / (m - 1) for b in batches], axis=0)
    np.testing.assert_allclose([float(v) for v in var], by_hand, rtol=1e-13)
    with pytest.raises(ValueError, match="batches"):
        exact_population_stats([])


def test_exact_running_stats_one_step():
    x = np.array([[1.0, 2.0], [3.0, 6.0], [5.0, 1.0]])
    mean, var = exact_running_stats([x], Fraction(1, 10), unbiased=True)
    assert mean == pytest.approx(0.1 * x.mean(axis=0), rel=1e-15)
    assert var == pytest.approx(0.9 + 0.1 * x.var(axis=0, ddof=1), rel=1e-15)
    _, biased = exact_running_stats([x], Fraction(1, 100), unbiased=False)
    assert biased == pytest.approx(0.99 + 0.01 * x.var(axis=0), rel=1e-15)


def test_mp_inference_and_flat(rng):
    x, gamma, beta = bn_instances.bn_batch(rng, (3, 2, 2))
    mean, var = bn_instances.running_statistics(rng, 2)
    want = gamma[None, :, None] * (x - mean[None, :, None]) / np.sqrt(var[None, :, None] + 1e-3) + beta[None, :, None]
    np.testing.assert_allclose(mp_inference(x, gamma, beta, mean, var, 1e-3), want, rtol=1e-14)
    assert flat([np.ones((2, 2)), np.zeros(3)]).shape == (7,)


def test_instances_have_their_shapes_and_refuse_bad_ones(rng):
    assert [a.shape for a in bn_instances.bn_batch(rng, (4, 3, 2))] == [(4, 3, 2), (3,), (3,)]
    batches = bn_instances.drifting_batches(rng, 4)
    assert len(batches) == 4 and len({b.shape for b in batches}) == 1
    data, mu, tau = bn_instances.gaussian_batches(rng, 7, (2, 3, 2, 2))
    assert data.shape == (7, 2, 3, 2, 2) and mu.shape == tau.shape == (3,)
    Q, theta = bn_instances.quadratic(rng, 5)
    assert np.all(np.linalg.eigvalsh(Q) > 0) and theta.shape == (5,)
    for call in (
        lambda: bn_instances.bn_batch(rng, (4,)),
        lambda: bn_instances.drifting_batches(rng, 0),
        lambda: bn_instances.gaussian_batches(rng, 0, (2, 3)),
    ):
        with pytest.raises(ValueError):
            call()


def test_instances_keep_the_assumptions_of_the_theorems(rng):
    """The generators' contracts (what the checks' theorems assume), over many draws."""
    layouts = set()
    for _ in range(50):
        x, gamma, beta = bn_instances.bn_batch(rng, (3, 4, 2))
        assert np.all(bn_instances.channel_major(x).var(axis=1) > 0), "m >= 2 values with sigma^2 > 0"
        assert np.all((np.abs(gamma) >= 0.5) & (np.abs(gamma) <= 2)) and np.all(np.isfinite(beta))
        mean, var = bn_instances.running_statistics(rng, 4)
        assert mean.shape == var.shape == (4,) and np.all(var > 0)
        batches = bn_instances.drifting_batches(rng, 3)
        layouts.add(batches[0].ndim)
        assert len({b.shape for b in batches}) == 1
        assert all(np.all(bn_instances.channel_major(b).var(axis=1) > 0) for b in batches)
        Q, theta = bn_instances.quadratic(rng, 4)
        np.testing.assert_array_equal(Q, Q.T)
        assert np.linalg.eigvalsh(Q)[0] > 0 and theta.shape == (4,)
        data, _, tau = bn_instances.gaussian_batches(rng, 2, (5, 3))
        assert np.all(tau > 0) and np.all(np.isfinite(data))
    assert layouts == {2, 4}, "drifting batches come in both layouts, (m, C) and (N, C, H, W)"


def test_drifting_batches_drift_over_the_stated_offsets_and_scales():
    """Offsets U(-1, 1) and scales U(0.5, 2) per batch: over 400 batches of 18 or 36 values (each sample scale
    within about 20% of its batch's), the spread of the batches' means and standard deviations reaches both ends."""
    for seed in range(4):  # both layouts
        batches = np.stack(bn_instances.drifting_batches(np.random.default_rng(seed), 400)).reshape(400, -1)
        scales, offsets = batches.std(axis=1), batches.mean(axis=1)
        assert np.quantile(scales, 0.9) > 1.6 and np.quantile(scales, 0.1) < 0.75
        assert np.quantile(np.abs(offsets), 0.9) > 0.7 and abs(offsets.mean()) < 0.15


def test_narrow_batch_is_ill_conditioned_and_exactly_centred_by_one(rng):
    x, gamma, beta = bn_instances.narrow_batch(rng, (8, 3, 4, 4), 0.01)
    rows = bn_instances.channel_major(x)
    ratio = rows.mean(axis=1) ** 2 / rows.var(axis=1)
    assert np.all((ratio > 0.5e4) & (ratio < 2e4)) and gamma.shape == beta.shape == (3,)
    assert np.all((x >= 0.5) & (x <= 2.0)), "x - 1 must be exact (Sterbenz)"
    np.testing.assert_array_equal((x - 1.0) + 1.0, x)
    for bad in (0.0, 0.06):
        with pytest.raises(ValueError, match="spread"):
            bn_instances.narrow_batch(rng, (4, 2), bad)
    bn_instances.narrow_batch(rng, (4, 2), 0.05)


def test_regression_problem_is_the_data_train_uses():
    X, Y, weights = deep_linear.regression_problem(np.random.default_rng([3, 2018]), depth=4, width=5, n=16)
    trace = deep_linear.train(3, "bn", depth=4, width=5, n=16, steps=1, measure_every=1)
    assert trace.losses[0] == deep_linear.loss_and_gradients(weights, X, Y, variant="bn")[0]


def _trace(cos, variation, change, beta):
    steps = np.arange(2)
    return deep_linear.DLNTrace(
        "bn", np.zeros(3), steps, np.zeros((2, 3)), np.asarray(cos, float), np.zeros((2, 3)),
        np.asarray(variation, float), np.asarray(change, float), np.asarray(beta, float),
    )  # fmt: skip


def test_trace_statistics_keep_nan():
    t = _trace([[1, 0.5, 0.7], [1, np.nan, 0.3]], [1.0, 3.0], [5.0, 1.0], [2.0, 4.0])
    assert t.mean_ics_cosine == pytest.approx(0.5)
    assert t.landscape_roughness == 3.0 and t.median_effective_smoothness == 3.0
    diverged = _trace([[1, np.nan, np.nan]] * 2, [1.0, np.nan], [np.nan, np.nan], [1.0, np.nan])
    assert np.isnan(diverged.mean_ics_cosine) and np.isnan(diverged.landscape_roughness)
    half = _trace([[1, 0.5, 0.5]] * 2, [1.0, 2.0], [np.nan, np.nan], [1.0, 1.0])
    assert np.isnan(half.landscape_roughness), "a NaN second term is not dropped"


def test_paired_frequency_counts_pairs_and_never_a_nan():
    good, bad = _trace([[1, 0.2, 0.2]] * 2, [1, 1], [1, 1], [1, 1]), _trace([[1, 0.9, 0.9]] * 2, [1, 1], [1, 1], [1, 1])
    nan = _trace([[1, np.nan, np.nan]] * 2, [1, 1], [1, 1], [1, 1])
    runs = {("bn", 0.1): [good, good, nan], ("standard", 0.1): [bad, good, bad]}
    wins, total, figures = deep_linear.paired_frequency(
        runs, lambda a, b: a.mean_ics_cosine < b.mean_ics_cosine, "bn", "standard", lambda t: t.mean_ics_cosine
    )
    assert (wins, total) == (1, 3) and figures[0] == "0.2/0.9"


def test_paired_experiment_pairs_and_fingerprint(monkeypatch):
    runs = deep_linear.paired_experiment(np.random.default_rng(0), 2, (0.01,), ("standard", "bn"),
                                         depth=3, width=4, n=8, steps=2, measure_every=1)  # fmt: skip
    assert [t.config["seed"] for t in runs[("bn", 0.01)]] == [t.config["seed"] for t in runs[("standard", 0.01)]]
    with pytest.raises(ValueError, match="problems"):
        deep_linear.paired_experiment(np.random.default_rng(0), 0, (0.01,))
    before = deep_linear.fingerprint()
    assert deep_linear.fingerprint() == before
    monkeypatch.setattr(deep_linear, "loss_and_gradients", lambda *a, **k: None)
    assert deep_linear.fingerprint() != before, "a replaced function must not reuse a memo of runs"


def test_paired_experiment_draws_distinct_seeds(monkeypatch):
    """64 problems get 64 distinct seeds in [0, 2^31 - 1): a narrow range would repeat problems, and a repeated
    pair would count twice in a paired frequency."""
    seen = []
    monkeypatch.setattr(deep_linear, "experiment", lambda seeds, *a, **k: seen.extend(seeds))
    deep_linear.paired_experiment(np.random.default_rng(0), 64, (0.01,))
    assert len(set(seen)) == 64 and all(0 <= s < 2**31 - 1 for s in seen)


@pytest.mark.parametrize("variant", deep_linear.VARIANTS)
def test_shifted_layer_gradient_is_the_full_gradient_of_layer_i(variant, rng):
    from bntheory.landscape.covariate_shift import internal_covariate_shift

    X, Y, weights = deep_linear.regression_problem(rng, depth=6, width=4, n=12)
    noise = deep_linear.draw_noise(rng, 12, 4, 6)

    def gradients(ws):
        return deep_linear.loss_and_gradients(ws, X, Y, variant=variant, noise=noise)[1]

    shifted = deep_linear.shifted_layer_gradient(weights, X, Y, variant=variant, noise=noise)
    stepped = [w - 0.05 * g for w, g in zip(weights, gradients(weights), strict=True)]
    for i in (5, 2, 3):  # out of order: the prefix is recomputed
        np.testing.assert_allclose(shifted(stepped, i), gradients(stepped[:i] + weights[i:])[i], rtol=1e-13)
    a = internal_covariate_shift(gradients, weights, 0.05)
    b = internal_covariate_shift(gradients, weights, 0.05, shifted_gradient=shifted)
    np.testing.assert_array_equal(a.l2, b.l2)
    np.testing.assert_array_equal(a.cosine, b.cosine)
    with pytest.raises(ValueError, match="noise"):
        deep_linear.shifted_layer_gradient(weights, X, Y, variant="bn_noise")
    with pytest.raises(ValueError, match="variant"):
        deep_linear.shifted_layer_gradient(weights, X, Y, variant="ln")


@pytest.mark.parametrize("variant", ["bn", "bn_noise"])
def test_what_bn_refuses_reads_as_nan_in_the_network_that_met_it(variant, rng):
    """A non-finite BN statistic (a diverged run) gives NaN throughout, and only to the shifted networks that met it."""
    X, Y, weights = deep_linear.regression_problem(rng, depth=5, width=4, n=12)
    noise = deep_linear.draw_noise(rng, 12, 4, 5)
    huge = [weights[0], weights[1] * 1e200, *weights[2:]]  # layer 1's statistics overflow to inf
    loss, grads = deep_linear.loss_and_gradients(huge, X, Y, variant=variant, noise=noise)
    assert np.isnan(loss) and all(np.isnan(g).all() for g in grads)
    shifted = deep_linear.shifted_layer_gradient(weights, X, Y, variant=variant, noise=noise)
    stepped = [w.copy() for w in weights]
    stepped[2] *= 1e200  # the stepped prefix overflows at layer 2: the networks of layers 3 and 4 meet it
    for i in range(5):
        assert np.isnan(shifted(stepped, i)).all() == (i >= 3), i
        if i < 3:
            full = deep_linear.loss_and_gradients(stepped[:i] + weights[i:], X, Y, variant=variant, noise=noise)[1][i]
            np.testing.assert_array_equal(shifted(stepped, i), full)


def test_a_trace_trained_when_finite_and_its_loss_fell():
    t = _trace([[1, 0.5, 0.7]] * 2, [1.0, 3.0], [5.0, 1.0], [2.0, 4.0])
    t.losses = np.array([2.0, 1.5, 1.0])
    assert t.trained
    t.losses = np.array([2.0, 2.5, 3.0])
    assert not t.trained
    t.losses = np.array([2.0, 1.0, np.nan])
    assert not t.trained


def test_direct_conv2d_is_torch_conv2d_on_a_non_square_grouped_padded_case():
    """The fusion oracle's convolution against PyTorch's: shapes (output width h + 2p - kw + 1) and values."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    u, K, b = rng.normal(size=(2, 4, 5, 7)), rng.normal(size=(6, 2, 3, 2)), rng.normal(size=6)
    got = bn_reference.direct_conv2d(u, K, b, padding=1, groups=2)
    want = torch.nn.functional.conv2d(*(torch.from_numpy(a) for a in (u, K, b)), padding=1, groups=2).numpy()
    assert got.shape == want.shape == (2, 6, 5, 8)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
