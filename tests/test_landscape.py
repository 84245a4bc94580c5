"""ICS and landscape measures, the deep linear network (gradients vs PyTorch), and the figure."""

import numpy as np
import pytest
import torch

from bntheory.backend import asarray, to_numpy
from bntheory.landscape import deep_linear
from bntheory.landscape.covariate_shift import internal_covariate_shift
from bntheory.landscape.measures import probe_gradient_direction


def test_probe_on_a_quadratic(xp, rng):
    Q = np.diag([1.0, 4.0, 9.0])
    Qx = asarray(Q, xp)
    theta = rng.normal(size=3)
    probe = probe_gradient_direction(lambda t: (float(t @ Qx @ t) / 2, Qx @ t), asarray(theta, xp), [0.01, 0.1])
    g = Q @ theta
    assert probe.effective_smoothness == pytest.approx(np.linalg.norm(Q @ g) / np.linalg.norm(g), rel=1e-12)
    assert probe.effective_smoothness <= 9.0
    assert probe.loss_variation == pytest.approx(
        abs(np.diff([(theta - e * g) @ Q @ (theta - e * g) / 2 for e in (0.01, 0.1)])[0]), rel=1e-12
    )


def test_vectorized_probe_gives_the_same_numbers(xp, rng):
    Q = rng.normal(size=(4, 4))
    Qx, theta = asarray(Q @ Q.T, xp), asarray(rng.normal(size=4), xp)

    def one(t):
        return float(t @ Qx @ t) / 2, Qx @ t

    def stacked(t):
        if t.ndim == 1:
            return one(t)
        return xp.sum((t @ Qx) * t, axis=-1) / 2, t @ Qx

    a = probe_gradient_direction(one, theta, [0.01, 0.1, 0.5])
    b = probe_gradient_direction(stacked, theta, [0.01, 0.1, 0.5], vectorized=True)
    np.testing.assert_allclose(b.losses, a.losses, rtol=1e-14)
    np.testing.assert_allclose(b.gradient_changes, a.gradient_changes, rtol=1e-14)
    with pytest.raises(TypeError, match="vectorized"):  # one gradient for two stacked points
        probe_gradient_direction(lambda t: one(t) if t.ndim == 1 else (t[:, 0], t[:1, ...]), theta, [0.1, 0.2],
                                 vectorized=True)  # fmt: skip


def test_probe_errors(xp):
    def quad(t):
        return float(t @ t), 2 * t

    with pytest.raises(ValueError, match="etas"):
        probe_gradient_direction(quad, asarray(np.ones(2), xp), [])
    with pytest.raises(ValueError, match="etas"):
        probe_gradient_direction(quad, asarray(np.ones(2), xp), [0.1, -1.0])
    with pytest.raises(ValueError, match="gradient is zero"):
        probe_gradient_direction(quad, asarray(np.zeros(2), xp), [0.1])


def test_ics_first_layer_and_zero_lr(xp, rng):
    X, Y = rng.normal(size=(16, 3)), rng.normal(size=(16, 2))
    weights = deep_linear.init_weights(rng, 4, 3, 4, 2)

    def gradients(ws):
        _, gs = deep_linear.loss_and_gradients([to_numpy(w) for w in ws], X, Y, variant="bn")
        return [asarray(g, xp) for g in gs]

    ws = [asarray(w, xp) for w in weights]
    shift = internal_covariate_shift(gradients, ws, 0.1)
    assert shift.l2[0] == 0 and shift.cosine[0] == 1 and np.all(shift.l2[1:] > 0)
    still = internal_covariate_shift(gradients, ws, 0.0)
    assert np.all(still.l2 == 0) and np.allclose(still.cosine, 1)
    with pytest.raises(ValueError, match="lr"):
        internal_covariate_shift(gradients, ws, -0.1)
    with pytest.raises(ValueError, match="returned 1 gradients"):
        internal_covariate_shift(lambda w: w[:1], ws, 0.1)


@pytest.mark.parametrize("variant", deep_linear.VARIANTS)
def test_dln_gradients_match_torch(variant, rng):
    X, Y = rng.normal(size=(16, 4)), rng.normal(size=(16, 3))
    weights = deep_linear.init_weights(rng, 5, 4, 6, 3)
    noise = deep_linear.draw_noise(rng, 16, 6, 5)
    loss, grads = deep_linear.loss_and_gradients(weights, X, Y, variant=variant, noise=noise)
    ts = [torch.tensor(w, requires_grad=True) for w in weights]
    H = torch.from_numpy(X)
    for i, w in enumerate(ts[:-1]):
        H = H @ w
        if variant != "standard":
            H = torch.nn.functional.batch_norm(H, None, None, training=True, eps=deep_linear.EPS)
        if variant == "bn_noise":
            H = H + torch.from_numpy(noise[i])
    ref_loss = 0.5 * ((H @ ts[-1] - torch.from_numpy(Y)) ** 2).sum() / 16
    ref = torch.autograd.grad(ref_loss, ts)
    assert loss == pytest.approx(ref_loss.item(), rel=1e-13)
    for g, r in zip(grads, ref, strict=True):
        np.testing.assert_allclose(g, r.numpy(), rtol=1e-10, atol=1e-13 * np.abs(r.numpy()).max())


def test_dln_errors(rng):
    X, Y = np.ones((4, 2)), np.ones((4, 2))
    weights = deep_linear.init_weights(rng, 3, 2, 2, 2)
    with pytest.raises(ValueError, match="variant"):
        deep_linear.loss_and_gradients(weights, X, Y, variant="layernorm")
    with pytest.raises(ValueError, match="noise"):
        deep_linear.loss_and_gradients(weights, X, Y, variant="bn_noise")
    with pytest.raises(ValueError, match="depth"):
        deep_linear.init_weights(rng, 1, 2, 2, 2)
    with pytest.raises(ValueError, match="variant"):
        deep_linear.train(0, "nope")


def test_training_is_reproducible_and_the_figure_saves(tmp_path):
    from bntheory import plots

    kw = {"depth": 6, "width": 4, "n": 16, "steps": 4, "measure_every": 2}
    a = deep_linear.train(3, "bn", **kw)
    b = deep_linear.train(3, "bn", **kw)
    np.testing.assert_array_equal(a.losses, b.losses)
    assert a.ics_l2.shape == (2, 6) and a.loss_variation.shape == (2,)
    runs = deep_linear.experiment([0, 1], [0.01], **kw)
    path = plots.save(plots.dln_landscape_figure(runs), tmp_path / "f" / "dln.png")
    assert path.stat().st_size > 0 and not list(path.parent.glob(".*"))
    with pytest.raises(ValueError, match="suffix"):
        plots.save(plots.dln_landscape_figure(runs), tmp_path / "nosuffix")
