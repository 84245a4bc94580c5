"""Decomposed BN steps, deep random networks and the rank/geometry measures, on every backend."""

import array_api_compat
import numpy as np
import pytest

from bntheory import representations as rep
from bntheory.backend import asarray, to_numpy
from bntheory.checks.instances import networks as nets
from bntheory.representations import measures as rep_measures
from bntheory.representations import networks


def test_steps_do_what_they_say(xp, rng):
    Z = asarray(rng.normal(2.0, 3.0, size=(2, 5, 7)), xp)
    rc = to_numpy(rep.apply_steps(Z, ("rc",)))
    np.testing.assert_allclose(rc.mean(axis=-1), 0, atol=1e-12)
    rs = to_numpy(rep.apply_steps(Z, ("rs",)))
    np.testing.assert_allclose(rs.std(axis=-1), 1, rtol=1e-12)
    rms = to_numpy(rep.apply_steps(Z, ("rms",)))
    np.testing.assert_allclose(np.sqrt((rms**2).mean(axis=-1)), 1, rtol=1e-12)
    per_sample = to_numpy(rep.apply_steps(Z, ("rc_sample",)))
    np.testing.assert_allclose(per_sample.mean(axis=-2), 0, atol=1e-12)
    assert np.all(to_numpy(rep.apply_steps(Z, ("relu",))) >= 0)
    with pytest.raises(ValueError, match="unknown step"):
        rep.apply_steps(Z, ("layernorm",))


def test_measures_on_known_matrices(xp):
    H = asarray(np.diag([3.0, 1.0, 0.0]), xp)
    rank, tol = rep.numerical_rank(H)
    assert int(to_numpy(rank)) == 2 and float(to_numpy(tol)) > 0
    assert float(to_numpy(rep.stable_rank(H))) == pytest.approx(10 / 9)
    assert float(to_numpy(rep.soft_rank(H))) == pytest.approx(100 / 82)
    ortho = asarray(np.eye(4), xp)
    assert float(to_numpy(rep.orthogonality_gap(ortho))) == pytest.approx(0, abs=1e-15)
    a, b = np.array([1.0, 0, 0]), np.array([0, 2.0, 0])
    config = asarray(np.column_stack([a, a, b, a]), xp)
    dist, k = rep.d_max(config)
    assert dist == pytest.approx(0) and k == 2


def test_gram_sampling_has_the_law_of_explicit_weights(rng):
    H = rng.normal(size=(6, 3))
    H0 = np.broadcast_to(H, (4000, 6, 3)).copy()
    target = 2.0 * H.T @ H  # E[(WH)^T (WH)] = variance * H^T H
    for seed, method in ((1, "weights"), (2, "gram")):
        out = rep.deep_network(H0, 1, (), np.random.default_rng(seed), variance=2.0, method=method)
        mean = np.mean(np.swapaxes(out, -1, -2) @ out, axis=0)
        np.testing.assert_allclose(mean, target, atol=0.05 * np.abs(target).max())
    with pytest.raises(ValueError, match="gram"):
        rep.deep_network(H0, 1, (), rng, weights="uniform", method="gram")


def test_network_errors_and_record(rng):
    seen = []
    rep.deep_network(rng.normal(size=(4, 3)), 3, ("rc", "relu"), rng, record=lambda layer, H: seen.append(layer))
    assert seen == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="depth"):
        rep.deep_network(rng.normal(size=(4, 3)), -1, (), rng)
    with pytest.raises(ValueError, match="weights"):
        rep.deep_network(rng.normal(size=(4, 3)), 1, (), rng, weights="cauchy")
    with pytest.raises(ValueError, match="n"):
        rep.alpha(1)


def test_small_batches_settle_in_the_symmetric_state_not_the_configuration():
    # THEORY.md §4.5: for n = 4 the batch converges to equal pairwise cosines, not cluster + outlier.
    rng = np.random.default_rng(3)
    H = rep.deep_network(rng.normal(size=(8, 128, 4)), 300, ("rc", "relu"), rng, variance=2.0, method="gram")
    dist, _ = rep.d_max(H)
    assert np.median(dist) > 0.5


def test_per_sample_centering_does_not_produce_the_configuration():
    # THEORY.md §4.5: the geometry needs centering per feature across the batch.
    rng = np.random.default_rng(4)
    H = rep.deep_network(rng.normal(size=(6, 256, 32)), 400, ("rc_sample", "relu"), rng, variance=2.0, method="gram",
                         normalize=True)
    dist, _ = rep.d_max(H)
    assert np.median(dist) > 0.5


@pytest.mark.parametrize(("ratio", "variance_factor"), [("n-1", 1.0), ("(n-1)^2", 1.0), ("(n-1)^2", "wrong alpha")])
def test_only_the_stated_configuration_and_alpha_keep_the_gram(ratio, variance_factor):
    # THEORY.md §4.4 controls: outlier ratio n - 1, or alpha = n^2/(n^2 - 2n + 1), are not fixed points.
    rng = np.random.default_rng(5)
    n, d, draws = 5, 1000, 300
    # Gram ratio (n - 1)^2 means norm ratio n - 1; the control uses Gram ratio n - 1.
    H = nets.cluster_outlier(rng, d, n, np.sqrt(n - 1) if ratio == "n-1" else n - 1)
    alpha = rep.alpha(n) if variance_factor == 1.0 else n * n / (n * n - 2 * n + 1)
    out = rep.deep_network(np.broadcast_to(H, (draws, d, n)).copy(), 1, ("rc", "relu"), rng, variance=2 * alpha,
                           method="gram")
    mean = rep.gram(out).mean(axis=0)
    rel = np.max(np.abs(mean - H.T @ H)) / np.max(np.abs(H.T @ H))
    stated = ratio == "(n-1)^2" and variance_factor == 1.0
    assert (rel < 0.02) == stated, rel


def test_alpha_is_the_exact_fraction_from_its_smallest_batch():
    from fractions import Fraction

    for n in range(2, 12):
        assert rep.alpha(n) == float(Fraction(n * n, n * n - 2 * n + 2))
    assert rep.alpha(2) == 2.0  # the valid edge
    with pytest.raises(ValueError, match="at least 2"):
        rep.alpha(1)


def _host_weights(seed, shape, kind="normal"):
    # The weights deep_network draws on the host: the same generator, the same order, rebuilt here.
    g = np.random.default_rng(seed)
    return g.standard_normal(shape) if kind == "normal" else g.uniform(-np.sqrt(3.0), np.sqrt(3.0), shape)


def test_one_layer_with_the_defaults_is_gaussian_weights_of_variance_one_over_d():
    # Defaults pinned against the explicit product: variance 1/d, Gaussian, explicit W, no normalization.
    rng = np.random.default_rng(0)
    H = rng.normal(size=(2, 5, 3))
    W = _host_weights(7, (2, 5, 5)) * np.sqrt(1.0 / 5)
    out = rep.deep_network(H, 1, (), np.random.default_rng(7))
    np.testing.assert_allclose(out, W @ H, rtol=1e-13, atol=1e-13)
    explicit = rep.deep_network(H, 1, (), np.random.default_rng(7), variance=1.0, weights="gaussian",
                                residual_gamma=None, method="weights", normalize=False, record=None)
    np.testing.assert_array_equal(out, explicit)
    W2 = _host_weights(8, (2, 5, 5)) * np.sqrt(2.0 / 5)
    np.testing.assert_allclose(rep.deep_network(H, 1, ("relu",), np.random.default_rng(8), variance=2.0),
                               np.maximum(W2 @ H, 0.0), rtol=1e-13, atol=1e-13)


def test_uniform_and_residual_layers_are_the_stated_products():
    rng = np.random.default_rng(1)
    H = rng.normal(size=(6, 4))
    U = _host_weights(3, (6, 6), "uniform") * np.sqrt(1.0 / 6)
    np.testing.assert_allclose(rep.deep_network(H, 1, (), np.random.default_rng(3), weights="uniform"), U @ H,
                               rtol=1e-13, atol=1e-13)
    W = _host_weights(4, (6, 6)) * np.sqrt(1.0 / 6)
    out = rep.deep_network(H, 1, (), np.random.default_rng(4), residual_gamma=0.3)
    np.testing.assert_allclose(out, (np.eye(6) + 0.3 * W) @ H, rtol=1e-13, atol=1e-13)


def test_two_layers_draw_fresh_weights_and_normalize_divides_by_the_frobenius_norm():
    rng = np.random.default_rng(2)
    H = rng.normal(size=(3, 4, 5))
    g = np.random.default_rng(9)
    W1, W2 = (g.standard_normal((3, 4, 4)) * 0.5 for _ in range(2))  # variance 1/d, d = 4
    seen = []
    out = rep.deep_network(H, 2, ("rc",), np.random.default_rng(9), normalize=True,
                           record=lambda layer, M: seen.append((layer, np.array(M))))
    H1 = W1 @ H
    H1 = H1 - H1.mean(axis=-1, keepdims=True)
    H1 = H1 / np.linalg.norm(H1, axis=(-2, -1), keepdims=True)
    H2 = W2 @ H1
    H2 = H2 - H2.mean(axis=-1, keepdims=True)
    H2 = H2 / np.linalg.norm(H2, axis=(-2, -1), keepdims=True)
    np.testing.assert_allclose(out, H2, rtol=1e-12, atol=1e-13)
    assert [layer for layer, _ in seen] == [0, 1, 2]
    np.testing.assert_array_equal(seen[0][1], H)
    np.testing.assert_allclose(seen[1][1], H1, rtol=1e-12, atol=1e-13)


def test_network_guards_at_their_edges(rng):
    H = rng.normal(size=(4, 3))
    seen = []
    out = rep.deep_network(H, 0, ("rc", "relu"), rng, record=lambda layer, M: seen.append(layer))  # depth 0 allowed
    assert out is H and seen == [0]
    with pytest.raises(ValueError, match="depth"):
        rep.deep_network(H, -1, (), rng)
    with pytest.raises(ValueError, match="method"):
        rep.deep_network(H, 1, (), rng, method="direct")
    with pytest.raises(ValueError, match="exact only"):
        rep.deep_network(H, 1, (), rng, method="gram", residual_gamma=0.1)
    rep.deep_network(H, 1, (), rng, method="gram", weights="gaussian")  # the one valid gram combination
    with pytest.raises(ValueError, match="unknown step"):
        rep.deep_network(H, 1, ("rc", "batchnorm"), rng)


def test_steps_apply_in_order_and_eps_enters_the_variance():
    rng = np.random.default_rng(6)
    Z = rng.normal(1.0, 2.0, size=(3, 5))
    centred = Z - Z.mean(axis=1, keepdims=True)
    np.testing.assert_allclose(rep.apply_steps(Z, ("rc", "relu")), np.maximum(centred, 0), rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(rep.apply_steps(Z, ("relu", "rc")),
                               np.maximum(Z, 0) - np.maximum(Z, 0).mean(axis=1, keepdims=True), rtol=1e-14,
                               atol=1e-15)
    var = centred.var(axis=1, keepdims=True)
    np.testing.assert_allclose(rep.apply_steps(Z, ("rs",), eps=0.5), Z / np.sqrt(var + 0.5), rtol=1e-14)
    np.testing.assert_allclose(rep.apply_steps(Z, ("rms",), eps=0.5),
                               Z / np.sqrt((Z * Z).mean(axis=1, keepdims=True) + 0.5), rtol=1e-14)
    np.testing.assert_array_equal(rep.apply_steps(Z, ("rs",)), rep.apply_steps(Z, ("rs",), eps=0.0))  # default 0
    # Per-sample centering is the left product with C_d (each column centred across the features).
    C = np.eye(3) - np.ones((3, 3)) / 3
    np.testing.assert_allclose(rep.apply_steps(Z, ("rc_sample",)), C @ Z, rtol=1e-14, atol=1e-15)


def test_numerical_rank_with_a_given_tolerance():
    H = np.diag([3.0, 1.0, 0.5])
    rank, tol = rep.numerical_rank(H, tol=0.7)
    assert int(rank) == 2 and float(tol) == 0.7
    rank, tol = rep.numerical_rank(H, tol=0.5)  # strictly above the tolerance counts
    assert int(rank) == 2
    rank, tol = rep.numerical_rank(H)
    assert int(rank) == 3 and float(tol) == pytest.approx(3.0 * 3 * np.finfo(np.float64).eps, rel=1e-15)
    # A stack of wide batches (d = 3 < n = 5): NumPy's tolerance uses max(d, n) = 5 per matrix.
    S = np.stack([np.hstack([np.diag([4.0, 2.0, 1.0]), np.zeros((3, 2))]), np.hstack([np.diag([1.0, 1e-20, 0.0]),
                                                                                    np.zeros((3, 2))])])
    rank, tol = rep.numerical_rank(S)
    np.testing.assert_array_equal(rank, [3, 1])
    np.testing.assert_allclose(tol, np.array([4.0, 1.0]) * 5 * np.finfo(np.float64).eps, rtol=1e-15)


def test_device_seeds_cover_the_int64_range():
    # Distinct host streams must give distinct device streams: 256 seeds from one stream are distinct, and
    # they fill [0, 2^63) (a seed range of 2^62 or less misses the top half 256 times: probability 2^-256).
    seeds = [networks._device_seed(np.random.default_rng(0)) for _ in range(2)]
    assert seeds[0] == seeds[1]  # reproducible from the host stream
    g = np.random.default_rng(11)
    many = [networks._device_seed(g) for _ in range(256)]
    assert len(set(many)) == 256 and all(0 <= s < 2**63 for s in many) and max(many) >= 2**62


def test_cupy_networks_are_reproducible_from_the_seed_and_differ_between_seeds():
    from bntheory import backend

    try:
        xp = backend.namespace("cupy")
    except backend.BackendUnavailableError as exc:
        pytest.skip(str(exc))
    H = asarray(np.random.default_rng(0).normal(size=(2, 8, 4)), xp)
    outs = [to_numpy(rep.deep_network(H, 3, ("rc", "relu"), np.random.default_rng(s), variance=2.0))
            for s in (0, 0, 1, 2, 3)]
    np.testing.assert_array_equal(outs[0], outs[1])
    assert all(not np.array_equal(a, b) for i, a in enumerate(outs[1:]) for b in outs[i + 2:])


def test_weight_draws_have_the_stated_laws(xp):
    # On every backend (CuPy draws on the device): normal draws pass sqrt(3) in magnitude, uniform ones never
    # do; both have mean 0 and variance 1 (10^5 draws: standard errors 0.003 and 0.0045).
    import array_api_compat

    draw = networks._drawer(xp, np.random.default_rng(12), xp.float64)
    normal = np.asarray(to_numpy(draw("normal", (100_000,))))
    uniform = np.asarray(to_numpy(draw("uniform", (100_000,))))
    for a in (normal, uniform):
        assert a.dtype == np.float64 and abs(a.mean()) < 0.02 and abs(a.var() - 1) < 0.03
    assert np.abs(normal).max() > 3.0 and np.abs(uniform).max() <= np.sqrt(3.0)
    assert uniform.min() < -1.7 and uniform.max() > 1.7
    assert array_api_compat.array_namespace(draw("normal", (2, 2))) is array_api_compat.array_namespace(
        asarray(np.zeros(1), xp)
    )


def test_stable_rank_of_a_stack_against_norms(rng):
    H = rng.normal(size=(5, 7, 4)) @ np.diag([3.0, 1.0, 0.5, 0.1])
    want = np.array([np.linalg.norm(M, "fro") ** 2 / np.linalg.norm(M, 2) ** 2 for M in H])
    np.testing.assert_allclose(rep.stable_rank(H), want, rtol=1e-12)
    np.testing.assert_allclose(rep.soft_rank(H),
                               [np.trace(M @ M.T) ** 2 / np.sum((M @ M.T) ** 2) for M in H], rtol=1e-12)


@pytest.mark.parametrize("lead", [(), (8,)])
def test_gram_route_is_the_generators_gaussian_times_a_root_of_the_gram(lead):
    # method="gram" draws G (d x n) from the stream and returns Z = G R with R^T R = (sigma^2/d) H^T H: recover R
    # from Z by least squares on the same G (Z must lie in G's column span) and compare R^T R with the Gram.
    rng = np.random.default_rng(13)
    d, n, variance = 9, 4, 2.0
    # Gram eigenvalues from ~1e-3 to ~100 and a repeated column (a zero eigenvalue that rounds either way, in 9
    # matrices): a clip of the eigenvalues anywhere but at [0, inf) shows.
    H = rng.normal(size=(*lead, d, n)) * np.array([0.02, 0.3, 3.0, 1.0])
    H[..., -1] = H[..., 0]
    Z = rep.deep_network(H, 1, (), np.random.default_rng(21), variance=variance, method="gram")
    G = np.random.default_rng(21).standard_normal((*lead, d, n))
    for g, z, h in zip(G.reshape(-1, d, n), Z.reshape(-1, d, n), H.reshape(-1, d, n), strict=True):
        R, *_ = np.linalg.lstsq(g, z, rcond=None)
        np.testing.assert_allclose(g @ R, z, rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(R.T @ R, variance / d * h.T @ h, rtol=1e-10, atol=1e-10)


def test_gram_root_is_cholesky_where_it_exists_and_the_clipped_eigen_root_where_not(xp):
    # Either factor R (R R^T = G) gives W H's law; Cholesky's is lower triangular, and a zero column (a zero pivot)
    # sends the whole stack to the eigendecomposition, whose root still reproduces G.
    H = np.random.default_rng(30).normal(size=(5, 9, 4))
    for zero_column in (False, True):
        if zero_column:
            H[2, :, -1] = 0.0
        G = np.swapaxes(H, -1, -2) @ H
        Gx = asarray(G, xp)
        R = np.asarray(to_numpy(networks._gram_root(Gx, array_api_compat.array_namespace(Gx))))
        assert np.all(np.isfinite(R))
        assert bool(np.all(np.triu(R, 1) == 0)) == (not zero_column)
        np.testing.assert_allclose(R @ np.swapaxes(R, -1, -2), G, rtol=0, atol=1e-12 * np.abs(G).max())


def test_a_leading_recentering_on_the_gram_route_is_the_centred_draw():
    # Z C = G (C R)^T: deep_network folds a leading "rc" into the n x n factor; the layer is still Z - mean(Z) for
    # Z = sqrt(sigma^2/d) G L^T, L the Cholesky factor of H^T H and G the stream's Gaussian.
    d, n, variance = 9, 4, 2.0
    H = np.random.default_rng(31).normal(size=(2, d, n))
    out = rep.deep_network(H, 1, ("rc", "relu"), np.random.default_rng(32), variance=variance, method="gram")
    G = np.random.default_rng(32).standard_normal((2, d, n))
    Z = np.sqrt(variance / d) * G @ np.swapaxes(np.linalg.cholesky(np.swapaxes(H, -1, -2) @ H), -1, -2)
    np.testing.assert_allclose(out, np.maximum(Z - Z.mean(axis=-1, keepdims=True), 0), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    "measure", ["numerical_rank", "stable_rank", "soft_rank", "gram", "cosine", "orthogonality_gap"]
)
@pytest.mark.parametrize("shape", [(4, 0), (3, 4, 0), (0, 4), (3, 0, 4)], ids=str)
def test_a_batch_without_features_or_points_is_refused(measure, shape):
    """No feature (last axis 0) or no point (axis -2 is 0), for one batch and a stack: a ValueError naming H."""
    with pytest.raises(ValueError, match="H: expected at least one feature and one point"):
        getattr(rep_measures, measure)(np.zeros(shape))


def test_orthogonality_gap_of_a_positive_batch_and_of_a_zero_one():
    """An entrywise positive H (ReLU features) is an ordinary batch: V(H) = ||H^T H / ||H||_F^2 - I/n||_F written
    out in NumPy; an all-zero batch in a stack is 0/0 and refused, naming H."""
    H = np.abs(np.random.default_rng(6).normal(size=(7, 4))) + 0.1
    G = H.T @ H / np.sum(H * H)
    want = np.linalg.norm(G - np.eye(4) / 4)
    assert float(rep_measures.orthogonality_gap(H)) == pytest.approx(want, rel=1e-13)
    with pytest.raises(ValueError, match="H: a batch is zero"):
        rep_measures.orthogonality_gap(np.stack([H, np.zeros_like(H)]))
