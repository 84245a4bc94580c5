"""Heavy-ball SGD with weight decay on scale-invariant parameters (bntheory.optim.sgd) and the batch-means intervals."""

import mpmath
import numpy as np
import pytest
import scipy.signal
import scipy.stats

from bntheory.backend import asarray, to_numpy
from bntheory.checks.intervals import batch_means, farthest_deviation
from bntheory.optim import sgd as sgd_module
from bntheory.optim.sgd import (
    NoisyLinear,
    angular_update,
    equilibrium_norm,
    exponential_lr_equivalent,
    exponential_schedule,
    sgd,
)

D = 6
MEAN = np.r_[2.0, np.zeros(D - 1)]


def _start(rng, runs=3):
    return rng.normal(size=(runs, D))


def test_sgd_is_torch_optim_sgd_on_every_backend(xp, rng):
    torch = pytest.importorskip("torch")
    from bntheory.checks.oracles.sgd_reference import torch_sgd_path

    w0 = _start(rng)
    loss = NoisyLinear(MEAN, 1.0)
    for momentum in (0.0, 0.9):
        ours = sgd(
            loss,
            asarray(w0, xp),
            lr=0.2,
            momentum=momentum,
            weight_decay=0.01,
            steps=40,
            seeds=[1, 2, 3],
            keep_path=True,
        )
        ref = torch_sgd_path(w0, loss.samples([1, 2, 3], 40), lr=0.2, momentum=momentum, weight_decay=0.01)
        np.testing.assert_allclose(to_numpy(ours.path), ref, rtol=1e-12, atol=1e-13)
        assert isinstance(ours.w, type(asarray(w0, xp))), "the iterate stays on the backend"
    assert torch.get_num_threads() >= 1


def test_runs_are_independent_of_their_batch_and_of_the_chunking(rng):
    w0 = _start(rng)
    loss = NoisyLinear(MEAN, 1.0)
    kw = dict(lr=np.array([0.1, 0.2, 0.3]), momentum=np.array([0.0, 0.5, 0.9]), weight_decay=0.01, steps=50)
    together = sgd(loss, w0, seeds=[4, 5, 6], keep_path=True, **kw)
    chunked = sgd(loss, w0, seeds=[4, 5, 6], keep_path=True, chunk=7, **kw)
    np.testing.assert_array_equal(together.path, chunked.path)
    for r in range(3):
        alone = sgd(
            loss,
            w0[r],
            lr=kw["lr"][r],
            momentum=kw["momentum"][r],
            weight_decay=0.01,
            steps=50,
            seeds=[4 + r],
            keep_path=True,
        )
        np.testing.assert_array_equal(alone.path[:, 0], together.path[:, r])
        np.testing.assert_array_equal(alone.trace.angular_update[:, 0], together.trace.angular_update[:, r])


def test_trace_fields_follow_their_definitions(rng):
    w0 = _start(rng)
    loss = NoisyLinear(MEAN, 1.0)
    run = sgd(
        loss,
        w0,
        lr=0.3,
        momentum=np.array([0.0, 0.5, 0.9]),
        weight_decay=0.02,
        steps=30,
        seeds=[1, 2, 3],
        keep_path=True,
    )
    path, tr, xi = run.path, run.trace, loss.samples([1, 2, 3], 30)
    norms = np.linalg.norm(path, axis=-1)
    np.testing.assert_allclose(tr.norm, norms, rtol=1e-14)
    cos = np.sum(path[:-1] * path[1:], axis=-1) / (norms[:-1] * norms[1:])
    np.testing.assert_allclose(tr.angular_update, np.arccos(cos), rtol=1e-9)
    np.testing.assert_allclose(tr.effective_rate, 0.3 / norms[:-1] ** 2, rtol=1e-14)
    u = path[:-1] / norms[:-1, :, None]
    tangential = xi - np.sum(xi * u, axis=-1, keepdims=True) * u
    np.testing.assert_allclose(tr.unit_grad_sq, np.sum(tangential**2, axis=-1), rtol=1e-12)
    np.testing.assert_allclose(tr.momentum_term[:, 0], tr.unit_grad_sq[:, 0], rtol=1e-14)  # alpha = 0: no cross term
    assert tr.lr.shape == (30, 3) and np.all(tr.lr == 0.3)


def test_the_angle_is_accurate_for_tiny_steps():
    # Kahan's formula against 50-digit mpmath where arccos of the cosine would keep only half the digits.
    a, b, c = np.array([1.0]), np.array([1.0 + 1e-12]), np.array([3e-9])
    got = float(sgd_module._kahan_angle(a, b, c, np)[0])
    with mpmath.workdps(50):
        A, B, C = (mpmath.mpf(float(v[0])) for v in (a, b, c))
        want = float(mpmath.acos((A * A + B * B - C * C) / (2 * A * B)))
    assert got == pytest.approx(want, rel=1e-12)


def test_noisy_linear_is_scale_invariant_and_its_gradient_is_the_value_s(xp, rng):
    loss = NoisyLinear(MEAN, 1.0)
    w, xi = rng.normal(size=(4, D)), rng.normal(size=(4, D))
    W, XI = asarray(w, xp), asarray(xi, xp)
    g = to_numpy(loss.gradient(W, XI))
    np.testing.assert_allclose(np.sum(g * w, axis=1), 0, atol=1e-14)
    np.testing.assert_allclose(7.0 * to_numpy(loss.gradient(7.0 * W, XI)), g, rtol=1e-13)
    np.testing.assert_allclose(to_numpy(loss.value(7.0 * W, XI)), to_numpy(loss.value(W, XI)), rtol=1e-14)
    h = 1e-6
    fd = [
        (to_numpy(loss.value(asarray(w + h * e, xp), XI)) - to_numpy(loss.value(asarray(w - h * e, xp), XI))) / (2 * h)
        for e in np.eye(D)
    ]
    np.testing.assert_allclose(g, np.array(fd).T, rtol=1e-6, atol=1e-9)


def test_samples_replay_the_runs_draws():
    loss = NoisyLinear(np.stack([MEAN, -MEAN]), scale=np.array([1.0, 0.0]))
    xi = loss.samples([3, 4], 5)
    assert xi.shape == (5, 2, D)
    np.testing.assert_array_equal(xi[:, 1], np.broadcast_to(-MEAN, (5, D)))  # scale 0: the mean, no noise
    assert np.all(NoisyLinear(MEAN, 0.0).samples(None, 3) == MEAN)


def test_weight_decay_is_an_exponential_schedule(rng):
    w0 = _start(rng)
    loss = NoisyLinear(MEAN, 1.0)
    for eta, lam, gamma in ((0.3, 0.02, 0.0), (0.3, 0.005, 0.9)):
        eq = exponential_lr_equivalent(eta, lam, gamma, steps=120)
        wd = sgd(loss, w0, lr=eta, momentum=gamma, weight_decay=lam, steps=120, seeds=[1, 2, 3], keep_path=True)
        free = sgd(
            loss,
            w0,
            lr=eta,
            momentum=gamma,
            schedule=eq.schedule,
            buffer0=eq.buffer_factor * w0,
            steps=120,
            seeds=[1, 2, 3],
            keep_path=True,
        )
        scaled = wd.path * eq.alpha ** -np.arange(121.0)[:, None, None]
        np.testing.assert_allclose(free.path, scaled, rtol=1e-10)


def test_exponential_lr_equivalent_roots_and_trap():
    gd = exponential_lr_equivalent(0.3, 0.02, steps=4)
    assert gd.alpha == pytest.approx(1 - 0.3 * 0.02) and gd.schedule == pytest.approx((1 - 0.006) ** -np.r_[1, 3, 5, 7])
    big, small = (exponential_lr_equivalent(0.3, 0.005, 0.9, steps=2, root=r) for r in ("larger", "smaller"))
    assert big.alpha * small.alpha == pytest.approx(0.9) and big.alpha == pytest.approx(0.982046, abs=1e-6)
    assert big.buffer_factor == pytest.approx((big.alpha - 1) / (0.3 * big.alpha))
    per_run = exponential_lr_equivalent(np.array([0.3, 0.1]), 0.005, 0.9, steps=3)
    assert per_run.schedule.shape == (3, 2)
    with pytest.raises(ValueError, match="complex"):
        exponential_lr_equivalent(0.3, 0.02, 0.9, steps=3)  # eta lambda = 6e-3 > (1 - sqrt 0.9)^2 = 2.6e-3
    with pytest.raises(ValueError, match="root"):
        exponential_lr_equivalent(0.3, 0.02, 0.0, steps=3, root="smaller")
    with pytest.raises(ValueError, match="not positive"):
        exponential_lr_equivalent(2.0, 0.6, 0.0, steps=3)
    with pytest.raises(ValueError, match="base"):
        exponential_schedule(-1.0, 3)


def test_predictions_and_their_assumptions():
    assert angular_update(0.1, 1e-3, 0.9) == pytest.approx(np.sqrt(2e-4 / 1.9))
    np.testing.assert_allclose(angular_update(0.1, 0.05, np.array([0.0, 0.5])), [0.1, np.sqrt(0.01 / 1.5)])
    with pytest.raises(ValueError, match="sqrt"):
        angular_update(0.3, 0.02, 0.9)
    assert equilibrium_norm(63.0, 0.1, 1e-3) == pytest.approx((63 * 0.1 / 2e-3) ** 0.25)
    assert equilibrium_norm(63.0, 0.1, 1e-3, 0.9) == pytest.approx((6.3 / (1e-3 * 0.1 * (2 - 1e-4 / 1.9))) ** 0.25)
    with pytest.raises(ValueError, match=r"L: every value must lie in \(0, inf\)"):
        equilibrium_norm(-1.0, 0.1, 1e-3)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(lr=0.0), "lr"),
        (dict(lr=0.1, momentum=1.0), "momentum"),
        (dict(lr=0.1, weight_decay=-1e-3), "weight_decay"),
        (dict(lr=[0.1, 0.2]), "lr"),
        (dict(lr=0.1, schedule=np.ones(4)), "schedule"),
        (dict(lr=0.1, schedule=-np.ones(5)), "schedule"),
        (dict(lr=0.1, seeds=[1]), "seeds"),
        (dict(lr=0.1, buffer0=np.zeros((2, D))), "buffer0"),
        (dict(lr=0.1, steps=-1), "steps"),
        (dict(lr=0.1, chunk=0), "chunk"),
    ],
)
def test_sgd_refuses_bad_input(kwargs, match, rng):
    kwargs = {"steps": 5, "seeds": [1, 2, 3], **kwargs}
    with pytest.raises(ValueError, match=match):
        sgd(NoisyLinear(MEAN, 1.0), _start(rng), **kwargs)


def test_sgd_refuses_a_zero_start_and_a_noisy_loss_without_seeds(rng):
    w0 = _start(rng)
    w0[1] = 0
    with pytest.raises(ValueError, match="w0"):
        sgd(NoisyLinear(MEAN, 0.0), w0, lr=0.1, steps=3)
    with pytest.raises(ValueError, match="seeds"):
        sgd(NoisyLinear(MEAN, 1.0), _start(rng), lr=0.1, steps=3)
    with pytest.raises(ValueError, match="scale"):
        NoisyLinear(MEAN, -1.0)
    with pytest.raises(ValueError, match="mean"):
        NoisyLinear(np.ones((2, 2, 2)))
    assert sgd(NoisyLinear(MEAN, 0.0), _start(rng), lr=0.1, steps=0).trace.angular_update.shape == (0, 3)


def test_no_host_copies_inside_the_loop(strict, rng, count_host_copies):
    """Host copies are the edge: their number does not grow with the steps (array-api-strict refuses implicit ones)."""
    calls = count_host_copies(sgd_module)
    w0 = asarray(_start(rng), strict)
    counts = []
    for steps in (5, 60):
        calls.clear()
        run = sgd(
            NoisyLinear(MEAN, 1.0),
            w0,
            lr=0.1,
            momentum=0.9,
            weight_decay=0.01,
            steps=steps,
            seeds=[1, 2, 3],
            keep_path=True,
            chunk=16,
        )
        counts.append(len(calls))
        assert isinstance(run.w, type(w0)) and isinstance(run.path, type(w0))
        assert np.all(np.isfinite(run.trace.angular_update))
    assert counts[0] == counts[1] == 5, counts  # the five trace fields, once each, after the loop


def test_batch_means_matches_scipy_and_its_coverage():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(200, 3)) + 5
    got = batch_means(x, batches=10)
    means = x.reshape(10, 20, 3).mean(axis=1).ravel()
    low, high = scipy.stats.t.interval(0.95, means.size - 1, loc=means.mean(), scale=scipy.stats.sem(means))
    assert (got.low, got.high, got.batches) == (pytest.approx(low), pytest.approx(high), 30)
    assert got.map(np.sqrt).estimate == pytest.approx(np.sqrt(got.estimate))
    # Coverage for an AR(1) signal with correlation time 10 steps and batches of 100: about 95% over 400 draws.
    phi, hits = 0.9, 0
    for _ in range(400):
        y = scipy.signal.lfilter([1.0], [1.0, -phi], rng.normal(size=(1100, 2)), axis=0)[100:]  # stationary by then
        interval = batch_means(y, batches=10)
        hits += interval.low <= 0 <= interval.high
    assert 0.90 <= hits / 400 <= 0.99
    assert farthest_deviation(got, got.estimate) == pytest.approx((got.high - got.estimate) / got.estimate)
    with pytest.raises(ValueError, match="batches"):
        batch_means(x, batches=0)
    with pytest.raises(ValueError, match="finite"):
        batch_means(np.r_[1.0, np.nan])
    with pytest.raises(ValueError, match="cannot give"):
        batch_means(np.ones(5), batches=10)


@pytest.mark.parametrize("confidence", [-0.5, 0.0, 1.0, 1.5, float("nan")])
def test_batch_means_refuses_a_confidence_outside_0_1(confidence):
    x = np.random.default_rng(0).normal(size=100)
    with pytest.raises(ValueError, match="confidence: must lie strictly between 0 and 1"):
        batch_means(x, batches=5, confidence=confidence)


def test_the_schedule_exists_at_the_boundary_of_real_roots():
    """lr * weight_decay = (1 - sqrt(momentum))^2 is a double real root, allowed; just above it is refused."""
    schedule = exponential_lr_equivalent(0.5, 0.5, 0.25, steps=3)  # 0.25 = (1 - 0.5)^2 exactly
    assert np.all(np.isfinite(schedule.schedule)) and schedule.alpha == pytest.approx(0.5)
    with pytest.raises(ValueError, match="exceeds"):
        exponential_lr_equivalent(0.5, 0.5 + 1e-12, 0.25, steps=3)
