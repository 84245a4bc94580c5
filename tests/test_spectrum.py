"""bntheory.curvature.spectrum against independent oracles: Lanczos breakdown, SLQ defaults, density, outliers."""

import numpy as np
import pytest
import scipy.sparse.linalg
import scipy.stats

from bntheory.curvature import spectrum


def _three_eigenvalues(rng, D=12):
    """A rotated diagonal matrix with the eigenvalues -1, 0.5, 3 (multiplicities 5, 4, 3): Krylov dimension 3."""
    lam = np.repeat([-1.0, 0.5, 3.0], [5, 4, 3])[:D]
    Q = np.linalg.qr(rng.normal(size=(D, D)))[0]
    return Q @ np.diag(lam) @ Q.T, Q, lam


def test_lanczos_breaks_down_at_the_krylov_dimension_with_exact_nodes(rng):
    A, Q, lam = _three_eigenvalues(rng)
    v = rng.normal(size=A.shape[0])
    alpha, beta = spectrum.lanczos(scipy.sparse.linalg.aslinearoperator(A), v, steps=10)
    # q's Krylov space is spanned by its projections on the 3 eigenspaces: beta_3 = 0, so exactly 3 steps.
    assert alpha.size == 3 and beta.size == 2
    T = np.diag(alpha) + np.diag(beta, 1) + np.diag(beta, -1)
    theta, S = np.linalg.eigh(T)
    np.testing.assert_allclose(theta, [-1.0, 0.5, 3.0], atol=1e-13)
    # Gauss weights (S_1j)^2 = squared norm of q's projection on each eigenspace.
    q = Q.T @ (v / np.linalg.norm(v))
    np.testing.assert_allclose(S[0] ** 2, [np.sum(q[lam == x] ** 2) for x in (-1.0, 0.5, 3.0)], atol=1e-13)
    # Fewer steps than the Krylov dimension: no breakdown, exactly `steps` steps; one step is q^T A q.
    a2, b2 = spectrum.lanczos(scipy.sparse.linalg.aslinearoperator(A), v, steps=2)
    assert a2.size == 2 and b2.size == 1
    a1, b1 = spectrum.lanczos(scipy.sparse.linalg.aslinearoperator(A), v, steps=1)
    u = v / np.linalg.norm(v)
    assert b1.size == 0 and a1[0] == pytest.approx(u @ A @ u, rel=1e-14)
    with pytest.raises(ValueError, match="steps"):
        spectrum.lanczos(scipy.sparse.linalg.aslinearoperator(A), v, steps=0)


def test_lanczos_of_distinct_eigenvalues_runs_to_the_dimension(rng):
    lam = np.linspace(1.0, 4.0, 7)
    alpha, beta = spectrum.lanczos(scipy.sparse.linalg.aslinearoperator(np.diag(lam)), rng.normal(size=7), steps=50)
    assert alpha.size == 7 and beta.size == 6
    np.testing.assert_allclose(scipy.linalg.eigvalsh_tridiagonal(alpha, beta), lam, atol=1e-13)


def test_slq_defaults_are_80_steps_and_10_probes(rng):
    op = scipy.sparse.linalg.aslinearoperator(np.diag(np.linspace(-1.0, 1.0, 100)))  # 100 distinct eigenvalues
    seed = int(rng.integers(2**32))
    m = spectrum.slq(op, np.random.default_rng(seed))
    explicit = spectrum.slq(op, np.random.default_rng(seed), steps=80, vectors=10)
    np.testing.assert_array_equal(m.nodes, explicit.nodes)
    np.testing.assert_array_equal(m.probe, np.repeat(np.arange(10), 80))
    np.testing.assert_allclose(m.weights.sum(), 1.0, rtol=1e-13)
    one = spectrum.slq(op, rng, steps=3, vectors=1)
    np.testing.assert_allclose(one.weights.sum(), 1.0, rtol=1e-13)
    with pytest.raises(ValueError, match="vectors"):
        spectrum.slq(op, rng, vectors=0)


def test_slq_of_an_operator_with_three_eigenvalues_has_exactly_those_nodes(rng):
    A, _, _ = _three_eigenvalues(rng)
    m = spectrum.slq(scipy.sparse.linalg.aslinearoperator(A), rng, steps=12, vectors=5)
    np.testing.assert_array_equal(np.bincount(m.probe), [3] * 5)
    np.testing.assert_allclose(np.sort(m.nodes), np.repeat([-1.0, 0.5, 3.0], 5), atol=1e-13)
    np.testing.assert_allclose(np.bincount(m.probe, weights=m.weights), np.full(5, 1 / 5), rtol=1e-13)


def test_density_is_the_gaussian_mixture_of_the_nodes(rng):
    nodes, weights = rng.normal(size=5), rng.uniform(0.1, 1.0, 5)
    m = spectrum.SpectralMeasure(nodes, weights)
    grid = np.linspace(-6.0, 6.0, 1201)
    for width in (0.05, 0.3):
        expected = sum(w * scipy.stats.norm.pdf(grid, loc=x, scale=width) for x, w in zip(nodes, weights, strict=True))
        np.testing.assert_allclose(m.density(grid, width), expected, rtol=1e-13, atol=1e-300)
        # The smoothed measure keeps the total weight (here not 1).
        assert scipy.integrate.trapezoid(m.density(grid, width), grid) == pytest.approx(weights.sum(), rel=1e-6)


def test_wasserstein1_of_two_point_masses_is_their_distance():
    a = spectrum.SpectralMeasure(np.array([0.0]), np.array([1.0]))
    b = spectrum.SpectralMeasure(np.array([2.5]), np.array([1.0]))
    assert spectrum.wasserstein1(a, b) == pytest.approx(2.5)
    assert spectrum.wasserstein1(a, a) == 0.0


def test_eigenvalues_of_the_symmetric_part():
    assert spectrum.eigenvalues(np.array([[2.0, 1.0], [0.0, 2.0]])) == pytest.approx([1.5, 2.5])
    with pytest.raises(ValueError, match="square"):
        spectrum.eigenvalues(np.ones((2, 3)))
    with pytest.raises(ValueError, match="square"):
        spectrum.eigenvalues(np.ones(3))


def test_outlier_ratio_value_default_and_guards():
    ev = np.arange(1.0, 22.0)  # 21 values: the 0.95 quantile (linear) sits at position 19, the value 20
    assert spectrum.outlier_ratio(ev) == pytest.approx(21.0 / 20.0, rel=1e-15)
    assert spectrum.outlier_ratio(-ev[::-1] + 0.0) == pytest.approx(-1.0 / 20.0, rel=1e-15)  # |lambda| for the bulk
    assert spectrum.outlier_ratio(np.array([1.0, 2.0, 3.0, 4.0, 10.0]), bulk_quantile=0.5) == pytest.approx(10 / 3)
    assert spectrum.outlier_ratio(np.array([1.0, 4.0])) == pytest.approx(4.0 / 3.85)  # two values are enough
    with pytest.raises(ValueError, match="eigenvalues"):
        spectrum.outlier_ratio(np.array([1.0]))
    with pytest.raises(ValueError, match="eigenvalues"):
        spectrum.outlier_ratio(np.ones((3, 3)))
    assert np.isfinite(spectrum.outlier_ratio(ev, bulk_quantile=1e-9))  # the open interval's edges
    assert np.isfinite(spectrum.outlier_ratio(ev, bulk_quantile=1 - 1e-9))
    for q in (0.0, 1.0, -0.5, 1.5):
        with pytest.raises(ValueError, match="bulk_quantile"):
            spectrum.outlier_ratio(ev, bulk_quantile=q)
