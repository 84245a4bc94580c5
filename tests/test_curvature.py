"""Curvature of BN networks (PyTorch oracle) and the spectrum tools."""

import numpy as np
import pytest
import scipy.sparse.linalg

from bntheory import curvature as cv
from bntheory.checks import spectral
from bntheory.checks.oracles import networks as oracle
from bntheory.curvature import spectrum


@pytest.fixture
def net(rng):
    model = cv.Model(inputs=3, hidden=5, classes=3, bn=True)
    return model, model.init(rng), rng.normal(size=(6, 3)), rng.normal(size=(6, 3)), rng.integers(0, 3, 6)


def test_factors_reproduce_the_loss_hessians(rng):
    F = rng.normal(size=(4, 3))
    S = cv.loss_hessian_factors(F, "cross_entropy")
    p = np.exp(F) / np.exp(F).sum(axis=1, keepdims=True)
    for n in range(4):
        np.testing.assert_allclose(S[n] @ S[n].T, np.diag(p[n]) - np.outer(p[n], p[n]), atol=1e-15)
    np.testing.assert_allclose(
        cv.loss_hessian_factors(F, "mse")[0] @ cv.loss_hessian_factors(F, "mse")[0].T, 2 * np.eye(3)
    )
    with pytest.raises(ValueError, match="loss"):
        cv.loss_hessian_factors(F, "hinge")


@pytest.mark.parametrize("loss", ["mse", "cross_entropy"])
@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_ggn_diagonal_and_operator_match_the_dense_ggn(net, loss, reduction):
    model, theta, X, _, _ = net
    G = cv.ggn_dense(model, theta, X, loss=loss, reduction=reduction)
    np.testing.assert_allclose(
        cv.ggn_diagonal(model, theta, X, loss=loss, reduction=reduction), np.diag(G), rtol=1e-10, atol=1e-14
    )
    np.testing.assert_allclose(
        cv.to_dense(cv.ggn_operator(model, theta, X, loss=loss, reduction=reduction)), G, atol=1e-12 * np.abs(G).max()
    )


def test_per_sample_definitions(net):
    model, theta, X, Y, _ = net
    full = cv.full_gradient(model, theta, X, Y, reduction="sum")
    comp = cv.per_sample_gradients(model, theta, X, Y, definition="per_component")
    np.testing.assert_allclose(comp.sum(axis=0), full, rtol=1e-12, atol=1e-14)
    # Batch-independent definitions do not move when another sample changes.
    X2 = X.copy()
    X2[1:] *= 2
    for definition in ("running", "batch_of_one"):
        a = cv.per_sample_gradients(model, theta, X, Y, definition=definition)
        stats = None if definition == "batch_of_one" else (np.zeros(5), np.ones(5))
        b = cv.per_sample_gradients(model, theta, X2, Y, definition=definition, running=stats)
        if definition == "batch_of_one":
            np.testing.assert_allclose(a[0], b[0], atol=1e-14)
    with pytest.raises(ValueError, match="definition"):
        cv.per_sample_gradients(model, theta, X, Y, definition="ghost")
    with pytest.raises(ValueError, match="reduction"):
        cv.full_gradient(model, theta, X, Y, reduction="median")


def test_hessian_operator_is_symmetric_and_eigsh_works(net):
    model, theta, X, Y, _ = net
    op = cv.hessian_operator(model, theta, X, Y)
    H = cv.to_dense(op)
    np.testing.assert_allclose(H, H.T, atol=1e-12)
    top = scipy.sparse.linalg.eigsh(op, k=2, which="LA", return_eigenvectors=False)
    np.testing.assert_allclose(np.sort(top), np.linalg.eigvalsh(H)[-2:], rtol=1e-9)


def test_slq_of_a_diagonal_matrix_recovers_its_eigenvalues(rng):
    lam = np.linspace(-1, 3, 30)
    op = scipy.sparse.linalg.aslinearoperator(np.diag(lam))
    m = spectrum.slq(op, rng, steps=30, vectors=200)
    assert m.weights.sum() == pytest.approx(1)
    exact = spectrum.SpectralMeasure(lam, np.full(30, 1 / 30))
    assert spectrum.wasserstein1(m, exact) < 0.02 * 4
    grid = np.linspace(-2, 4, 200)
    assert m.density(grid, 0.1).sum() * (grid[1] - grid[0]) == pytest.approx(1, abs=1e-3)
    with pytest.raises(ValueError, match="vectors"):
        spectrum.slq(op, rng, vectors=0)
    with pytest.raises(ValueError, match="steps"):
        spectrum.lanczos(op, np.ones(30), 0)


# --- oracles independent of curvature.Model (bntheory.checks.oracles.networks) ----------------------------


def test_torch_nn_network_is_the_library_network(net):
    model, theta, X, Y, _ = net
    import torch

    F = model.forward(torch.as_tensor(theta), torch.as_tensor(X)).numpy()
    np.testing.assert_allclose(oracle.outputs(model, theta, X), F, rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(
        oracle.primitive_gradient(model, theta, X, Y), oracle.gradient(model, theta, X, Y), rtol=1e-12, atol=1e-15
    )
    with pytest.raises(ValueError, match="theta"):
        oracle.gradient(model, theta[:-1], X, Y)
    with pytest.raises(ValueError, match="X"):
        oracle.outputs(model, theta, X[:, :2])


@pytest.mark.parametrize("loss", ["mse", "cross_entropy"])
def test_primitive_hessian_matches_central_differences_of_the_torch_nn_gradient(net, loss):
    model, theta, X, Y, labels = net
    T = Y if loss == "mse" else labels
    H = oracle.hessian(model, theta, X, T, loss=loss)
    h = 1e-5  # truncation h^2 |f'''| ~ 1e-10, rounding eps/h ~ 1e-11
    fd = np.stack(
        [
            (
                oracle.gradient(model, theta + h * e, X, T, loss=loss)
                - oracle.gradient(model, theta - h * e, X, T, loss=loss)
            )
            / (2 * h)
            for e in np.eye(theta.size)
        ]
    )
    assert np.abs(fd - H).max() <= 1e-7 * np.abs(H).max()
    np.testing.assert_allclose(
        cv.hessian_vector_products(model, theta, X, T, np.eye(theta.size), loss=loss), H, atol=1e-12 * np.abs(H).max()
    )
    frozen = cv.hessian_vector_products(model, theta, X, T, np.eye(theta.size), loss=loss, frozen=True)
    np.testing.assert_allclose(
        frozen, oracle.hessian(model, theta, X, T, loss=loss, frozen=True), atol=1e-12 * np.abs(H).max()
    )
    assert np.abs(frozen - H).max() > 1e-2 * np.abs(H).max(), "frozen statistics give another matrix"


def test_oracle_ggn_and_loss_hessian(net):
    model, theta, X, _, _ = net
    F = oracle.outputs(model, theta, X)
    Hl = oracle.loss_hessian(F, loss="cross_entropy", reduction="sum")
    p = np.exp(F) / np.exp(F).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(Hl[:3, :3], np.diag(p[0]) - np.outer(p[0], p[0]), atol=1e-15)
    np.testing.assert_allclose(oracle.loss_hessian(F, loss="mse"), 2 * np.eye(F.size) / len(F), atol=1e-15)
    np.testing.assert_allclose(
        oracle.ggn(model, theta, X, loss="cross_entropy"),
        cv.ggn_dense(model, theta, X, loss="cross_entropy"),
        atol=1e-14,
    )
    with pytest.raises(ValueError, match="reduction"):
        oracle.loss_hessian(F, loss="mse", reduction="median")


# --- SLQ checks, the outlier experiment ---------------------------------------------------------------------


def test_moment_scores_are_zero_on_a_diagonal_matrix_and_catch_equal_weights(rng):
    lam = np.concatenate([np.linspace(-1, 2, 40), [9.0]])
    A = np.diag(lam)  # Rademacher probes: q^T A^p q = tr(A^p)/D exactly, so SLQ's moments are exact
    m = spectrum.slq(scipy.sparse.linalg.aslinearoperator(A), rng, steps=8, vectors=20)
    z, est, exact = spectral.moment_scores(m.nodes, m.weights, A, powers=range(1, 10), probes=20)
    np.testing.assert_allclose(est, exact, rtol=1e-10)
    assert z.max() < 5
    Q = np.linalg.qr(rng.normal(size=(41, 41)))[0]
    B = Q @ A @ Q.T
    m = spectrum.slq(scipy.sparse.linalg.aslinearoperator(B), rng, steps=8, vectors=200)
    z, _, _ = spectral.moment_scores(m.nodes, m.weights, B, powers=range(1, 10), probes=200)
    assert z.max() < 5
    z, _, _ = spectral.moment_scores(m.nodes, np.full(m.nodes.size, 1 / m.nodes.size), B, powers=[2], probes=200)
    assert z[0] > 20
    with pytest.raises(ValueError, match="matrix"):
        spectral.moment_scores(m.nodes, m.weights, B[:3], powers=[1], probes=1)


def test_interlacing_catches_a_ghost(rng):
    lam = np.array([-1.0, 0.0, 0.5, 1.0, 5.0])
    m = spectrum.slq(scipy.sparse.linalg.aslinearoperator(np.diag(lam)), rng, steps=3, vectors=4)
    assert m.probe is not None and m.probe.shape == m.nodes.shape
    assert spectral.interlacing_violation(m.nodes, m.probe, lam) <= 1e-12
    ghost = spectral.interlacing_violation(np.array([5.0, 5.0, 0.0]), np.zeros(3, int), lam)
    assert ghost == pytest.approx(4.0 / 6.0)
    assert np.isnan(spectral.interlacing_violation(np.array([np.nan, 1.0]), np.zeros(2, int), lam))


def test_exhaustion_error_counts_distinct_eigenvalues_and_measures_ritz_values():
    lam = np.array([-1.0, 0.0, 1e-17, -1e-17, 2.0, 3.0])  # a float64 null space: 4 distinct values over a range of 4
    exact_nodes = np.array([-1.0, 0.0, 2.0, 3.0])
    nodes, probe = np.concatenate([exact_nodes, exact_nodes + np.array([0, 0, 0, 4e-3])]), np.repeat([0, 1], 4)
    err, distinct = spectral.exhaustion_error(nodes, probe, lam, resolution=1e-10)
    assert distinct == 4 and err == pytest.approx(1e-3)
    assert spectral.exhaustion_error(exact_nodes, np.zeros(4, int), lam, resolution=1e-10)[0] == 0.0
    early = spectral.exhaustion_error(exact_nodes[:3], np.zeros(3, int), lam, resolution=1e-10)[0]
    late = spectral.exhaustion_error(np.r_[exact_nodes, 1.0], np.zeros(5, int), lam, resolution=1e-10)[0]
    assert early == np.inf and late == np.inf
    # merging: at resolution 0.3 of the range, 2 and 3 are one eigenvalue (gap 1 < 1.2), and -1, 0 too.
    assert spectral.exhaustion_error(exact_nodes[[0, 2]], np.zeros(2, int), lam, resolution=0.3)[1] == 2
    assert np.isnan(
        spectral.exhaustion_error(np.r_[np.nan, exact_nodes[1:]], np.zeros(4, int), lam, resolution=1e-10)[0]
    )
    with pytest.raises(ValueError, match="probe"):
        spectral.exhaustion_error(exact_nodes, np.zeros(3, int), lam, resolution=1e-10)


def test_outlier_experiment_trains_and_ratio_is_defined(rng):
    X, _ = cv.gaussian_mixture(rng, classes=3, samples=30, inputs=5)
    np.testing.assert_allclose(X.mean(axis=0), 0, atol=1e-14)
    out = cv.outlier_experiment(rng, draws=2, hidden=8, steps=20, samples=30, inputs=5, classes=3)
    assert out["bn"].shape == (2, out["models"]["bn"].size)
    m = out["models"]["plain"]
    theta0 = m.init(np.random.default_rng(1))
    before = cv.loss_value(m, theta0, out["X"][0], out["y"][0], loss="cross_entropy")
    after = cv.gradient_descent(m, theta0[None], out["X"][0][None], out["y"][0][None], steps=20, lr=0.1)[0]
    assert cv.loss_value(m, after, out["X"][0], out["y"][0], loss="cross_entropy") < before
    assert spectrum.outlier_ratio(np.array([1.0, 1.0, 1.0, 10.0])) > 1
    assert spectrum.eigenvalues(np.array([[2.0, 1.0], [0.0, 2.0]]))[0] == pytest.approx(1.5)
    with pytest.raises(ValueError, match="bulk_quantile"):
        spectrum.outlier_ratio(np.ones(3), bulk_quantile=1.0)
    with pytest.raises(ValueError, match="steps"):
        cv.gradient_descent(m, theta0[None], out["X"][0][None], out["y"][0][None], steps=-1, lr=0.1)


# --- instance generators, training and argument guards --------------------------------------------------------


def test_random_problem_defaults_and_contract():
    p = cv.random_problem(np.random.default_rng(3))
    explicit = cv.random_problem(np.random.default_rng(3), inputs=4, hidden=6, classes=3, samples=8, bn=True)
    assert p.model == cv.Model(inputs=4, hidden=6, classes=3, bn=True) == explicit.model
    assert p.model.size == 63  # ghorbani2019.slq states D = 63 for the default problem
    for a, b in zip(p, explicit, strict=True):
        if isinstance(a, np.ndarray):
            np.testing.assert_array_equal(a, b)
    assert p.X.shape == (8, 4) and p.Y.shape == (8, 3) and p.labels.shape == (8,)
    assert p.labels.min() >= 0 and p.labels.max() < 3
    assert p.targets("mse") is p.Y and p.targets("cross_entropy") is p.labels
    # x = s * z + o with s_i ~ U(0.5, 2), o ~ N(0, I): the column spreads fill [0.5, 2], the offsets are unit normal.
    big = cv.random_problem(np.random.default_rng(4), inputs=400, samples=4000)
    sd, offset = big.X.std(axis=0), big.X.mean(axis=0)
    assert 0.45 < sd.min() < 0.55 and 1.95 < sd.max() < 2.05
    assert offset.std() == pytest.approx(1.0, rel=0.1) and abs(offset.mean()) < 0.15
    assert cv.random_problem(np.random.default_rng(5), inputs=1, hidden=1, classes=1, samples=2).X.shape == (2, 1)
    for bad in ({"samples": 1}, {"classes": 0}, {"inputs": 0}, {"hidden": 0}):
        with pytest.raises(ValueError, match="samples >= 2"):
            cv.random_problem(np.random.default_rng(5), **bad)


def test_gaussian_mixture_contract():
    rng = np.random.default_rng(6)
    X, y = cv.gaussian_mixture(rng, classes=4, samples=4000, inputs=3, separation=3.0)
    assert X.shape == (4000, 3) and y.shape == (4000,) and set(np.unique(y)) == {0, 1, 2, 3}
    np.testing.assert_allclose(X.mean(axis=0), 0.0, atol=1e-13)
    # x_n = mu_{y_n} + z_n, z_n ~ N(0, I): within each class the spread is the unit noise, whatever the centring.
    within = np.concatenate([X[y == c] - X[y == c].mean(axis=0) for c in range(4)])
    np.testing.assert_allclose(within.std(axis=0), 1.0, rtol=0.05)
    means = np.array([X[y == c].mean(axis=0) for c in range(4)])
    assert np.linalg.norm(means - means.mean(axis=0), axis=1).min() > 0.5  # separated clusters (s = 3)
    X1, y1 = cv.gaussian_mixture(rng, classes=1, samples=1, inputs=1)
    assert X1.shape == (1, 1) and y1.tolist() == [0] and X1[0, 0] == 0.0
    for bad in ({"classes": 0}, {"samples": 0}, {"inputs": 0}):
        with pytest.raises(ValueError, match="must be positive"):
            cv.gaussian_mixture(rng, **{"classes": 2, "samples": 5, "inputs": 2, **bad})


@pytest.mark.parametrize("bn", [False, True])
def test_gradient_descent_is_torch_sgd_and_guards_its_arguments(rng, bn):
    m = cv.Model(inputs=3, hidden=5, classes=3, bn=bn, activation="relu")
    Xs = rng.normal(size=(2, 10, 3))
    ys = rng.integers(0, 3, (2, 10))
    thetas = np.stack([m.init(rng), m.init(rng)])
    out = cv.gradient_descent(m, thetas, Xs, ys, steps=4, lr=0.2)  # default loss: cross-entropy, mean
    ref = np.stack(
        [oracle.sgd(m, t, X, y, steps=4, lr=0.2, loss="cross_entropy") for t, X, y in zip(thetas, Xs, ys, strict=True)]
    )
    np.testing.assert_allclose(out, ref, rtol=1e-12, atol=1e-14)
    Ys = rng.normal(size=(2, 10, 3))
    out = cv.gradient_descent(m, thetas, Xs, Ys, steps=3, lr=0.05, loss="mse", reduction="sum")
    ref = [
        oracle.sgd(m, t, X, Y, steps=3, lr=0.05, loss="mse", reduction="sum")
        for t, X, Y in zip(thetas, Xs, Ys, strict=True)
    ]
    np.testing.assert_allclose(out, np.stack(ref), rtol=1e-12, atol=1e-14)
    np.testing.assert_array_equal(cv.gradient_descent(m, thetas, Xs, ys, steps=0, lr=0.1), thetas)  # steps = 0 ok
    for steps, lr in ((-1, 0.1), (1, 0.0), (1, -0.1)):
        with pytest.raises(ValueError, match="steps, lr"):
            cv.gradient_descent(m, thetas, Xs, ys, steps=steps, lr=lr)
    for bad_thetas, bad_X in ((thetas[0], Xs), (thetas[:, :, None], Xs), (thetas[:, :-1], Xs), (thetas, Xs[:1])):
        with pytest.raises(ValueError, match="thetas, Xs"):
            cv.gradient_descent(m, bad_thetas, bad_X, ys, steps=1, lr=0.1)


def test_per_sample_definitions_match_the_torch_nn_oracle(net):
    model, theta, X, Y, labels = net
    for loss, T in (("mse", Y), ("cross_entropy", labels)):
        for definition in ("running", "frozen_statistics", "batch_of_one"):
            np.testing.assert_allclose(
                cv.per_sample_gradients(model, theta, X, T, definition=definition, loss=loss),
                oracle.per_sample_gradients(model, theta, X, T, definition=definition, loss=loss),
                rtol=1e-12,
                atol=1e-14,
            )
        given = (np.linspace(-1, 1, 5), np.linspace(0.5, 2, 5))
        np.testing.assert_allclose(
            cv.per_sample_gradients(model, theta, X, T, definition="running", loss=loss, running=given),
            oracle.per_sample_gradients(model, theta, X, T, definition="running", loss=loss, running=given),
            rtol=1e-12,
            atol=1e-14,
        )
    # batch of one: the normalized pre-activation is 0, so W1, b1 and gamma get no gradient.
    g = cv.per_sample_gradients(model, theta, X, Y, definition="batch_of_one")
    assert np.abs(g[:, : 3 * 5 + 5 + 5]).max() < 1e-12
    with pytest.raises(ValueError, match="definition"):
        oracle.per_sample_gradients(model, theta, X, Y, definition="per_component")


def test_oracle_guards(net):
    model, theta, X, Y, _ = net
    assert oracle.outputs(model, theta, X[:2]).shape == (2, 3)  # the valid edge: an (N, I) matrix
    for bad_X in (X[0], X[None], X[:, :2]):
        with pytest.raises(ValueError, match="X: expected shape"):
            oracle.outputs(model, theta, bad_X)
    for bad_theta in (theta[:-1], theta[None]):
        with pytest.raises(ValueError, match="theta: expected a flat vector"):
            oracle.gradient(model, bad_theta, X, Y)
    with pytest.raises(ValueError, match="activation"):
        oracle.outputs(cv.Model(inputs=3, hidden=5, classes=3, bn=True, activation="gelu"), theta, X)
    with pytest.raises(ValueError, match="loss"):
        oracle.gradient(model, theta, X, Y, loss="hinge")
    with pytest.raises(ValueError, match="reduction"):
        oracle.objective(model, theta, X, Y, reduction="median")
    assert oracle.objective(model, theta, X, Y, reduction="sum") == pytest.approx(
        len(X) * oracle.objective(model, theta, X, Y), rel=1e-14
    )


def test_model_defaults_and_init_contract():
    import torch

    m = cv.Model(inputs=3, hidden=5, classes=2)
    assert m.bn and m.activation == "tanh" and m.eps == torch.nn.BatchNorm1d(5).eps  # PyTorch's BN epsilon, 1e-5
    assert cv.Model(inputs=3, hidden=5, classes=2, bn=False).size == 5 * 3 + 5 + 2 * 5 + 2
    # "Gaussian weights with variance 1/fan-in, gamma near 1, small biases" (Model.init), on a wide draw.
    big = cv.Model(inputs=40, hidden=300, classes=40)
    W1, b1, gamma, beta, W2, b2 = (np.asarray(p) for p in big._params(big.init(np.random.default_rng(12))))
    for w, fan_in in ((W1, 40), (W2, 300)):
        assert abs(w.mean()) < 0.01 and w.var() * fan_in == pytest.approx(1.0, rel=0.05)
    for b, centre in ((b1, 0.0), (gamma, 1.0), (beta, 0.0), (b2, 0.0)):
        assert abs(b.mean() - centre) < 0.04 and b.std() == pytest.approx(0.1, rel=0.3)


def test_to_dense_is_the_matrix_of_any_operator(rng):
    A = rng.normal(size=(2, 3))
    np.testing.assert_array_equal(cv.to_dense(scipy.sparse.linalg.aslinearoperator(A)), A)


def test_a_block_of_vectors_of_the_wrong_length_is_refused():
    p = cv.random_problem(np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"V: expected a \(D, k\) block"):
        cv.ggn_vector_products(p.model, p.theta, p.X, np.ones((p.model.size - 1, 2)))


NORMED = [
    ("batch", None),
    ("layer", None),
    ("group", None),
    ("rms", None),
    ("weight", None),
    ("layer", "layer"),
    ("rms", "rms"),
    ("layer", "batch"),
    ("batch", "batch"),
]


@pytest.mark.parametrize(("norm", "output_norm"), NORMED)
def test_normalized_models_match_torch_nn(norm, output_norm):
    """Outputs, per-component gradients (through the batch) and the GGN of every normalization, vs torch.nn."""
    import torch

    from bntheory.checks.oracles import normalized_networks as nn_oracle

    rng = np.random.default_rng(11)
    m = cv.Model(inputs=4, hidden=6, classes=4, norm=norm, output_norm=output_norm, eps=1e-3)
    theta, X, Y = m.init(rng), rng.normal(size=(5, 4)) + 1.0, rng.normal(size=(5, 4))
    with torch.no_grad():
        want = nn_oracle.torch_network(m, theta)(torch.as_tensor(X)).numpy()
    np.testing.assert_allclose(m.forward(torch.as_tensor(theta), torch.as_tensor(X)).numpy(), want, atol=1e-13)
    np.testing.assert_allclose(
        cv.per_component_gradients(m, theta, X, Y), nn_oracle.per_component_gradients(m, theta, X, Y), atol=1e-12
    )
    G = nn_oracle.ggn(m, theta, X)
    np.testing.assert_allclose(cv.ggn_dense(m, theta, X, reduction="sum"), G, atol=1e-12 * np.abs(G).max())
    np.testing.assert_allclose(cv.ggn_diagonal(m, theta, X, reduction="sum"), np.diag(G), atol=1e-12 * np.abs(G).max())
    labels = rng.integers(0, 4, 5)
    H = cv.hessian_vector_products(m, theta, X, labels, np.eye(m.size), loss="cross_entropy")
    np.testing.assert_allclose(H, H.T, atol=1e-12 * np.abs(H).max())
    if m.coupled:  # g_0 moves with x_1 exactly when a BN layer couples the batch
        X2 = X.copy()
        X2[1] += 0.5
        assert (
            np.abs(cv.per_component_gradients(m, theta, X2, Y)[0] - cv.per_component_gradients(m, theta, X, Y)[0]).max()
            > 1e-3
        )


@pytest.mark.parametrize("loss", ["mse", "cross_entropy"])
def test_sample_losses_of_a_stack_of_copies_are_each_copys_own(loss):
    """F of shape (K, N, C), one network copy per leading index (as the Hessian products batch them): the losses
    are (K, N), row k those of copy k alone, written out here per sample (N != C, so a sum over the wrong axis
    shows as a shape)."""
    import torch

    from bntheory.curvature import network as cvn

    rng = np.random.default_rng(5)
    K, N, C = 3, 5, 2
    F = rng.normal(size=(K, N, C))
    Y = rng.normal(size=(N, C)) if loss == "mse" else rng.integers(0, C, N)
    got = cvn._sample_losses(torch.as_tensor(F), torch.as_tensor(Y), loss).numpy()
    if loss == "mse":
        want = [[float(np.sum((F[k, n] - Y[n]) ** 2)) for n in range(N)] for k in range(K)]
    else:
        want = [[float(np.log(np.exp(F[k, n]).sum()) - F[k, n, Y[n]]) for n in range(N)] for k in range(K)]
    assert got.shape == (K, N)
    np.testing.assert_allclose(got, want, rtol=1e-13)


def test_per_component_memory_is_linear_in_the_batch():
    """The products never hold an (N, N, ...) block: a batch of 20000 runs in well under a GB (vmap needed ~60 GB)."""
    import resource

    p = cv.random_problem(np.random.default_rng(2), samples=20000)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    g = cv.per_component_gradients(p.model, p.theta, p.X, p.Y)
    d = cv.ggn_diagonal(p.model, p.theta, p.X, loss="cross_entropy")
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert g.shape == (20000, 63) and d.shape == (63,) and grown_mb < 500
    full = cv.full_gradient(p.model, p.theta, p.X, p.Y, reduction="sum")
    np.testing.assert_allclose(g.sum(axis=0), full, atol=1e-11 * np.abs(full).max())


def test_no_torch_func_so_no_dynamo_import():
    """Plain autograd only: torch.func's transforms import torch._dynamo (about 1 s per process)."""
    import subprocess
    import sys

    code = (
        "import sys, numpy as np; from bntheory import curvature as cv;"
        "p = cv.random_problem(np.random.default_rng(0));"
        "cv.per_component_gradients(p.model, p.theta, p.X, p.Y); cv.ggn_dense(p.model, p.theta, p.X);"
        "cv.ggn_diagonal(p.model, p.theta, p.X); cv.to_dense(cv.hessian_operator(p.model, p.theta, p.X, p.Y));"
        "cv.per_sample_gradients(p.model, p.theta, p.X, p.Y, definition='running');"
        "cv.gradient_descent(p.model, p.theta[None], p.X[None], p.labels[None], steps=2, lr=0.1);"
        "print('torch._dynamo' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
