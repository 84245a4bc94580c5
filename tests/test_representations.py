"""Decomposed BN steps, deep random networks and the rank/geometry measures, on every backend."""

import numpy as np
import pytest

from bntheory import representations as rep
from bntheory.backend import asarray, to_numpy
from bntheory.checks.instances import networks as nets


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
