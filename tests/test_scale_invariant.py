"""Scale-invariant losses and GD on them (bntheory.optim.scale_invariant): gradients, identities, traces, backends."""

import numpy as np
import pytest

from bntheory.backend import asarray, to_numpy
from bntheory.optim import scale_invariant as si


def _fd(loss, w, h=1e-6):
    """Central differences of the value, the gradient's independent reference."""
    return np.array([(float(loss.value(w + h * e)) - float(loss.value(w - h * e))) / (2 * h) for e in np.eye(w.size)])


def _sines(rng, d=6, K=4, A=True, normalized=True, xp=np):
    a, b, c = rng.normal(size=K), rng.normal(size=(K, d)), rng.normal(size=K)
    quad = np.diag(np.linspace(0, 1, d)) if A else None
    args = [asarray(v, xp) for v in (a, b, c)] + [None if quad is None else asarray(quad, xp)]
    return si.sin_sum(*args, normalized=normalized)


def _mlp(rng, norm="batch", wrt="first", eps=0.0):
    X, Y = rng.normal(size=(9, 4)), rng.normal(size=(9, 2))
    weights = [rng.normal(size=(3, 4)), rng.normal(size=(3, 3)), rng.normal(size=(2, 3))]
    return si.normalized_mlp(X, Y, weights, norm=norm, eps=eps, wrt=wrt)


def _losses(rng):
    yield _sines(rng)
    yield _sines(rng, A=False)
    yield si.bn_unit(rng.normal(size=(7, 3)) + 1.0, rng.normal(size=7), 0.8)
    for norm in ("batch", "layer"):
        yield _mlp(rng, norm)


def test_gradients_match_central_differences(rng):
    for loss in [*_losses(rng), _sines(rng, normalized=False), _mlp(rng, None), _mlp(rng, "layer", "last")]:
        w = rng.normal(size=loss.d)
        np.testing.assert_allclose(loss.gradient(w), _fd(loss, w), atol=1e-7, err_msg=loss.name)


def test_scale_invariant_losses_satisfy_the_identities(rng):
    for loss in _losses(rng):
        assert loss.scale_invariant, loss.name
        w = rng.normal(size=loss.d)
        value, grad = loss.value_and_grad(w)
        assert abs(float(loss.value(3.7 * w)) - float(value)) <= 1e-13 * max(1.0, abs(float(value)))
        assert abs(grad @ w) <= 1e-13 * np.linalg.norm(grad) * np.linalg.norm(w)
        np.testing.assert_allclose(loss.gradient(0.25 * w), 4 * grad, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(loss.unit_gradient(w), np.linalg.norm(w) * grad, rtol=1e-12, atol=1e-15)


def test_controls_are_not_scale_invariant(rng):
    for loss in (
        _mlp(rng, "batch", "last"),
        _mlp(rng, None),
        _mlp(rng, "batch", eps=1e-3),
        _sines(rng, normalized=False),
    ):
        assert not loss.scale_invariant
        w = rng.normal(size=loss.d)
        assert abs(float(loss.value(3 * w)) - float(loss.value(w))) > 1e-6, loss.name


def test_batched_sines_agree_with_rows(rng):
    loss = _sines(rng)
    W = rng.normal(size=(5, loss.d))
    values, grads = loss.value_and_grad(W)
    for i in range(5):
        v, g = loss.value_and_grad(W[i])
        assert values[i] == pytest.approx(float(v), rel=1e-14)
        np.testing.assert_allclose(grads[i], g, rtol=1e-13)


def test_gd_trace_grows_the_norm_by_eta_squared(rng):
    loss = _sines(rng)
    eta = np.array([0.01, 1.0, 100.0])
    trace = si.gd(loss, rng.normal(size=(3, loss.d)), eta, T=25)
    assert trace.value.shape == trace.grad_sq.shape == trace.norm_sq.shape == (26, 3)
    np.testing.assert_allclose(trace.norm_sq[1:], trace.norm_sq[:-1] + eta**2 * trace.grad_sq[:-1], rtol=1e-13)
    np.testing.assert_allclose(trace.norm_sq[-1], np.sum(trace.w**2, axis=1), rtol=1e-14)
    # The unit gradient of the trace is the gradient at u_t: check at the last iterate.
    np.testing.assert_allclose(trace.unit_grad_sq[-1], np.sum(loss.unit_gradient(trace.w) ** 2, axis=1), rtol=1e-10)


def test_gd_step_is_the_sphere_step_with_the_effective_rate(rng):
    loss = _mlp(rng, "layer")
    u = rng.normal(size=loss.d)
    u /= np.linalg.norm(u)
    for radius in (0.5, 4.0):
        w1 = si.gd(loss, radius * u, 0.3, T=1).w
        step = u - 0.3 / radius**2 * loss.gradient(u)
        np.testing.assert_allclose(w1 / np.linalg.norm(w1), step / np.linalg.norm(step), atol=1e-14)


def test_projected_gd_keeps_the_starting_norm(rng):
    loss = _sines(rng)
    w0 = 2.5 * rng.normal(size=(2, loss.d))
    trace = si.gd(loss, w0, 0.1, T=10, project=True)
    np.testing.assert_allclose(trace.norm_sq, np.broadcast_to(np.sum(w0**2, axis=1), (11, 2)), rtol=1e-13)


def test_gd_refuses_bad_input(rng):
    loss = _sines(rng)
    w0 = rng.normal(size=(2, loss.d))
    with pytest.raises(ValueError, match="T"):
        si.gd(loss, w0, 0.1, T=-1)
    with pytest.raises(ValueError, match="eta"):
        si.gd(loss, w0, np.array([0.1, 0.0]), T=3)
    with pytest.raises(ValueError, match="w0"):
        si.gd(loss, rng.normal(size=loss.d + 1), 0.1, T=3)
    with pytest.raises(ValueError, match="w0"):
        si.gd(_mlp(rng), rng.normal(size=(2, 12)), 0.1, T=3)  # a batch needs a batched loss


def test_constructors_refuse_bad_input(rng):
    b = rng.normal(size=(3, 4))
    with pytest.raises(ValueError, match="a:"):
        si.sin_sum(rng.normal(size=2), b, rng.normal(size=3))
    with pytest.raises(ValueError, match="A:"):
        si.sin_sum(rng.normal(size=3), b, rng.normal(size=3), np.eye(3))
    with pytest.raises(ValueError, match="b:"):
        si.sin_sum(rng.normal(size=3), np.full((3, 4), np.nan), rng.normal(size=3))
    with pytest.raises(ValueError, match="y:"):
        si.bn_unit(rng.normal(size=(5, 2)), rng.normal(size=4))
    X, Y = rng.normal(size=(6, 3)), rng.normal(size=(6, 2))
    with pytest.raises(ValueError, match="norm"):
        si.normalized_mlp(X, Y, [rng.normal(size=(2, 3)), rng.normal(size=(2, 2))], norm="group")
    with pytest.raises(ValueError, match="weights\\[1\\]"):
        si.normalized_mlp(X, Y, [rng.normal(size=(2, 3)), rng.normal(size=(2, 3))])
    with pytest.raises(ValueError, match="Y:"):
        si.normalized_mlp(X, Y[:, :1], [rng.normal(size=(2, 3)), rng.normal(size=(2, 2))])
    # Three layers, the readout of width 4 unlike the middle one's 5: the message names the readout's shape.
    with pytest.raises(ValueError, match=r"Y: expected shape \(6, 4\), got \(6, 2\)"):
        si.normalized_mlp(X, Y, [rng.normal(size=(5, 3)), rng.normal(size=(5, 5)), rng.normal(size=(4, 5))])
    with pytest.raises(ValueError, match="wrt"):
        si.normalized_mlp(X, Y, [rng.normal(size=(2, 3)), rng.normal(size=(2, 2))], wrt="middle")


def test_gd_runs_on_every_backend(xp, rng):
    seeds = np.random.default_rng(3)
    loss_np, loss_xp = _sines(seeds), _sines(np.random.default_rng(3), xp=xp)
    w0 = rng.normal(size=(3, loss_np.d))
    want = si.gd(loss_np, w0, np.array([0.1, 1.0, 10.0]), T=20)
    got = si.gd(loss_xp, asarray(w0, xp), np.array([0.1, 1.0, 10.0]), T=20)
    assert isinstance(got.w, type(asarray(np.zeros(1), xp)))
    np.testing.assert_allclose(got.norm_sq, want.norm_sq, rtol=1e-12)
    np.testing.assert_allclose(got.value, want.value, rtol=1e-11, atol=1e-13)
    X, Y = seeds.normal(size=(8, 3)), seeds.normal(size=(8, 2))
    weights = [seeds.normal(size=(3, 3)), seeds.normal(size=(2, 3))]
    for norm in ("batch", "layer"):
        mlp_np = si.normalized_mlp(X, Y, weights, norm=norm)
        mlp_xp = si.normalized_mlp(asarray(X, xp), asarray(Y, xp), [asarray(W, xp) for W in weights], norm=norm)
        w = seeds.normal(size=9)
        np.testing.assert_allclose(to_numpy(mlp_xp.gradient(asarray(w, xp))), mlp_np.gradient(w), rtol=1e-12)


def test_gd_loop_copies_nothing_to_the_host(strict, rng, count_host_copies):
    """The loop stays on the backend: the host copies are the trace's, at the end, whatever the number of steps."""
    calls = count_host_copies(si)
    loss = _sines(np.random.default_rng(1), xp=strict)
    w0 = asarray(rng.normal(size=(4, loss.d)), strict)
    counts = []
    for T in (2, 40):
        before = len(calls)
        trace = si.gd(loss, w0, np.array([0.1, 1.0, 10.0, 100.0]), T=T, project=T == 40)
        counts.append(len(calls) - before)
        assert trace.norm_sq.shape == (T + 1, 4) and np.all(np.isfinite(trace.value))
    assert counts[0] == counts[1] == 3, f"host copies per run: {counts} (the trace's three arrays expected)"


def _rate_runs(G_of_t):
    """Runs in the shape of arora2019's sweep, 160 seeds at each of its step sizes, G_t given per run."""
    from bntheory.results import arora2019

    T, seeds = 2000, 160
    eta = np.repeat(arora2019.ETAS, seeds)
    t = np.arange(1, T + 1, dtype=np.float64)[:, None]
    return {"G": G_of_t(t, np.random.default_rng(0).lognormal(size=eta.size)), "eta": eta, "T": T}


def test_arora_rate_gate_reads_the_quantile_not_one_plateau():
    from bntheory.context import Context
    from bntheory.results import arora2019

    ctx = Context(seed=0).scoped("arora2019.auto_rate_tuning/test")

    def decaying_with_plateaus(t, c):
        # min_t |grad| ~ T^-1, and 1 run in 40 resting on a plateau far below the rest (its local slope 0).
        G = c * t**-2.0
        G[:, ::40] = 1e-12
        return G

    measured, table = arora2019.ctx_rates(ctx, _rate_runs(decaying_with_plateaus))
    assert measured == pytest.approx(-1.0, abs=0.05) and "160 seeds" in table and "not gated" not in table

    def settled_but_slow(t, c):
        # The sum settles in the first 100 steps, then |grad| decays as T^-0.3 at a tiny level: not T^-1/2.
        return np.where(t < 100, c, 1e-8 * c * (t / 100) ** -0.6)

    measured, _ = arora2019.ctx_rates(ctx, _rate_runs(settled_but_slow))
    assert measured == pytest.approx(-0.3, abs=0.05) and measured > -0.5

    # Still growing everywhere (sum G_t ~ log T): nothing is gated, and nothing gated is not a pass.
    measured, table = arora2019.ctx_rates(ctx, _rate_runs(lambda t, c: c / t))
    assert np.isnan(measured) and table.count("not gated") == len(arora2019.ETAS)
