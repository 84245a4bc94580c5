"""Curvature of BN networks (PyTorch oracle) and the spectrum tools."""

import numpy as np
import pytest
import scipy.sparse.linalg

from bntheory import curvature as cv
from bntheory import spectrum


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
    np.testing.assert_allclose(cv.loss_hessian_factors(F, "mse")[0] @ cv.loss_hessian_factors(F, "mse")[0].T,
                               2 * np.eye(3))
    with pytest.raises(ValueError, match="loss"):
        cv.loss_hessian_factors(F, "hinge")


@pytest.mark.parametrize("loss", ["mse", "cross_entropy"])
@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_ggn_diagonal_and_operator_match_the_dense_ggn(net, loss, reduction):
    model, theta, X, _, _ = net
    G = cv.ggn_dense(model, theta, X, loss=loss, reduction=reduction)
    np.testing.assert_allclose(cv.ggn_diagonal(model, theta, X, loss=loss, reduction=reduction), np.diag(G),
                               rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(cv.to_dense(cv.ggn_operator(model, theta, X, loss=loss, reduction=reduction)), G,
                               atol=1e-12 * np.abs(G).max())


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
