"""The fast paths of :mod:`bntheory.curvature` are the slow ones' matrices: the dense Hessian from the block
structure (``hessian_dense``) against the copies of ``hessian_vector_products`` and the primitive-BN oracle, the
side-by-side Lanczos recurrences (``lanczos_block``, ``slq``) against one recurrence at a time, and
``one_blas_thread``'s limit (issue 14: ``verify --quick`` under 10 s).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.linalg
import scipy.sparse.linalg
import threadpoolctl
import torch

from bntheory import curvature as cv
from bntheory._torch_threads import one_blas_thread, single_threaded
from bntheory.checks.oracles import networks as oracle
from bntheory.curvature import spectrum

HIDDEN = [("batch", True), ("none", False), ("weight", True), ("group", True), ("layer", True), ("rms", True)]


def _case(rng, norm, bn, activation, output_norm, loss, samples=7):
    model = cv.Model(
        inputs=3, hidden=6, classes=3, bn=bn, activation=activation, norm=norm if bn else "batch", groups=3,
        output_norm=output_norm,
    )  # fmt: skip
    theta, X = model.init(rng), rng.normal(size=(samples, 3)) * 1.5 + 0.3
    Y = rng.normal(size=(samples, 3)) if loss == "mse" else rng.integers(0, 3, samples)
    return model, theta, X, Y


@pytest.mark.parametrize(("norm", "bn"), HIDDEN, ids=[n for n, _ in HIDDEN])
@pytest.mark.parametrize("activation", ["tanh", "relu"])
@pytest.mark.parametrize("output_norm", [None, "batch", "layer"])
def test_hessian_dense_is_the_hessian_vector_products_of_the_identity(norm, bn, activation, output_norm):
    rng = np.random.default_rng(hash((norm, activation, output_norm)) % 2**32)
    for loss, reduction, frozen in itertools.product(("mse", "cross_entropy"), ("mean", "sum"), (False, True)):
        model, theta, X, Y = _case(rng, norm, bn, activation, output_norm, loss)
        kw = dict(loss=loss, reduction=reduction, frozen=frozen)
        want = cv.hessian_vector_products(model, theta, X, Y, np.eye(model.size), **kw)
        got = cv.hessian_dense(model, theta, X, Y, **kw)
        # Every entry: a dropped block (the cross terms, the hidden layer's curvature, a coupled unit) is far off.
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-12 * np.abs(want).max(), err_msg=str(kw))


@pytest.mark.parametrize(("norm", "activation"), [("batch", "tanh"), ("batch", "relu"), ("layer", "tanh")])
def test_the_cases_exercise_every_term_of_hessian_dense(norm, activation):
    """H - G (G the GGN) is the cross terms in the (theta_1, W2) block and the hidden layer's curvature in the
    theta_1 block: both far from 0 in these cases, so the equality tests above see a term that is dropped or
    wrong (ReLU has no curvature of its own, BN brings it)."""
    model, theta, X, Y = _case(np.random.default_rng(5), norm, True, activation, None, "mse")
    R = cv.hessian_dense(model, theta, X, Y) - cv.ggn_dense(model, theta, X)
    D1, CH = model.size - 3 * 6 - 3, 3 * 6
    scale = np.abs(R).max()
    assert np.abs(R[:D1, D1 : D1 + CH]).max() > 1e-2 * scale
    assert np.abs(R[:D1, :D1]).max() > 1e-2 * scale
    assert np.abs(R[D1:, D1:]).max() < 1e-12 * scale  # F is linear in W2, b2


@pytest.mark.parametrize("activation", ["tanh", "relu"])
@pytest.mark.parametrize("loss", ["mse", "cross_entropy"])
@pytest.mark.parametrize("bn", [True, False])
def test_hessian_dense_is_the_primitive_oracle_hessian(activation, loss, bn):
    rng = np.random.default_rng(11)
    model, theta, X, Y = _case(rng, "batch", bn, activation, None, loss, samples=9)
    for frozen in (False, True):
        H = oracle.hessian(model, theta, X, Y, loss=loss, frozen=frozen)
        got = cv.hessian_dense(model, theta, X, Y, loss=loss, frozen=frozen)
        np.testing.assert_allclose(got, H, rtol=0, atol=1e-12 * np.abs(H).max())


def test_hessian_dense_refuses_a_non_finite_hessian():
    model, theta, X, Y = _case(np.random.default_rng(2), "batch", True, "tanh", None, "mse")
    with pytest.raises(ValueError, match="theta"):
        cv.hessian_dense(model, theta * 1e300, X, Y)


def _symmetric(rng, eigenvalues):
    U = np.linalg.qr(rng.normal(size=(len(eigenvalues), len(eigenvalues))))[0]
    return (U * np.asarray(eigenvalues)) @ U.T


def test_lanczos_block_rows_are_single_lanczos_runs_with_their_own_breakdown():
    rng = np.random.default_rng(3)
    A = _symmetric(rng, [1.0, 1.0, 2.0, 5.0, 5.0, 5.0, -3.0, 0.5])  # 5 distinct eigenvalues
    op = scipy.sparse.linalg.aslinearoperator(A)
    U = np.linalg.eigh(A)[1]
    V0 = np.stack([rng.normal(size=8), U[:, 0], U[:, :2].sum(axis=1) * 1e200, rng.normal(size=8) * 1e-200])
    runs = spectrum.lanczos_block(op, V0, 7)
    assert [a.size for a, _ in runs] == [5, 1, 2, 5]  # distinct eigenvalues each row sees
    for v, (a, b) in zip(V0, runs, strict=True):
        a1, b1 = spectrum.lanczos(op, v, 7)
        assert a.shape == a1.shape and b.shape == b1.shape == (a.size - 1,)
        np.testing.assert_allclose(a, a1, rtol=0, atol=1e-12)
        np.testing.assert_allclose(b, b1, rtol=0, atol=1e-12)
    short = spectrum.lanczos_block(op, V0, 3)  # steps below the breakdown: exactly `steps` of them
    assert [a.size for a, _ in short] == [3, 1, 2, 3]


def test_slq_is_one_recurrence_and_one_tridiagonal_eigensolve_per_probe():
    rng = np.random.default_rng(4)
    # Steps below the number of distinct eigenvalues, and an exact breakdown (three distinct eigenvalues): near a
    # breakdown that the test beta < 1e-12 |alpha| misses, the next step is rounding noise in either order.
    for A, steps, vectors in (
        (_symmetric(rng, np.r_[np.linspace(-1, 1, 18), 7.0]), 6, 9),
        (_symmetric(rng, np.r_[np.linspace(-1, 1, 18), 7.0]), 15, 4),
        (_symmetric(rng, np.r_[np.ones(7), -np.ones(5), np.full(4, 3.0)]), 10, 5),
    ):
        op = scipy.sparse.linalg.aslinearoperator(A)
        m = spectrum.slq(op, np.random.default_rng(steps), steps=steps, vectors=vectors)
        probes = np.random.default_rng(steps)
        nodes, weights, probe = [], [], []
        for k in range(vectors):
            a, b = spectrum.lanczos(op, probes.choice([-1.0, 1.0], size=A.shape[0]), steps)
            assert a.size == min(steps, 3 if A.shape[0] == 16 else 19)
            theta, Q = scipy.linalg.eigh_tridiagonal(a, b)
            nodes.append(theta)
            weights.append(Q[0] ** 2 / vectors)
            probe.append(np.full(theta.size, k))
        np.testing.assert_array_equal(m.probe, np.concatenate(probe))
        np.testing.assert_allclose(m.nodes, np.concatenate(nodes), rtol=0, atol=1e-12)
        np.testing.assert_allclose(m.weights, np.concatenate(weights), rtol=0, atol=1e-12)


def test_one_blas_thread_limits_numpys_blas_and_restores_it():
    def blas_threads():
        return [i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"]

    with threadpoolctl.threadpool_limits(2, user_api="blas"):
        before = blas_threads()
        with one_blas_thread():
            assert blas_threads() and set(blas_threads()) == {1}
        assert blas_threads() == before


def test_single_threaded_keeps_the_function_it_wraps_and_runs_it_on_one_pytorch_thread():
    @single_threaded
    def inner(x):
        """Inner's own docstring."""
        return torch.get_num_threads(), x

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        assert inner(7) == (1, 7) and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    assert (inner.__name__, inner.__doc__) == ("inner", "Inner's own docstring."), "a check's name and doc survive"


@pytest.mark.parametrize(("norm", "bn"), HIDDEN, ids=[n for n, _ in HIDDEN])
@pytest.mark.parametrize("loss", ["mse", "cross_entropy"])
def test_hessian_operator_single_vectors_through_the_kept_graph_are_the_block_products(norm, bn, loss):
    rng = np.random.default_rng(7)
    model, theta, X, Y = _case(rng, norm, bn, "tanh", "batch" if norm == "rms" else None, loss)
    for reduction in ("mean", "sum"):
        op = cv.hessian_operator(model, theta, X, Y, loss=loss, reduction=reduction)
        V = rng.normal(size=(model.size, 3))
        block = cv.hessian_vector_products(model, theta, X, Y, V, loss=loss, reduction=reduction)
        scale = np.abs(block).max()
        np.testing.assert_allclose(op.matmat(V), block, rtol=0, atol=1e-13 * scale)
        for k in range(3):  # the graph is built once and kept: every later vector is right too
            np.testing.assert_allclose(op.matvec(V[:, k]), block[:, k], rtol=0, atol=1e-13 * scale)
        np.testing.assert_allclose(op.matmat(V), block, rtol=0, atol=1e-13 * scale)


def test_hessian_operator_refuses_a_non_finite_product():
    model, theta, X, Y = _case(np.random.default_rng(2), "batch", True, "tanh", None, "mse")
    op = cv.hessian_operator(model, theta * 1e300, X, Y)
    with pytest.raises(ValueError, match="theta"):
        op.matvec(np.ones(model.size))
