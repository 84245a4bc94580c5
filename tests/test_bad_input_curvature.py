"""Bad input for every public function of :mod:`bntheory.curvature` (network and spectrum; issue 21).

Each array argument of each function goes through the same variants: wrong shapes, integer / boolean / complex /
float16 dtypes, NaN and inf, empty, huge values, lists, ``None``, strided, reversed and Fortran-order arrays and
PyTorch tensors that require grad. A variant either gets a ``ValueError``/``TypeError`` whose message names the
argument, or (where the input is a valid spelling of numbers) exactly the result of the same call on the
float64 values. Huge values may either be refused (naming the argument) or give a finite result, never NaN.
Scalar and object arguments (widths, rng, loss names, steps) have their own cases. The test ids start with
the module (``network-`` / ``spectrum-``), so the cases can be counted per module.
"""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest
import scipy.sparse.linalg
import torch

from bntheory import curvature as cv
from bntheory.curvature import spectrum

P = cv.random_problem(np.random.default_rng(0))  # BN, 4 -> 6 -> 3, N = 8, D = 63
M, THETA, X, Y, LABELS = P
D, N = M.size, X.shape[0]
V = np.random.default_rng(1).normal(size=(D, 2))
F = np.random.default_rng(2).normal(size=(N, 3))
STACK = (np.stack([THETA, THETA + 0.01]), np.stack([X, X[::-1]]), np.stack([LABELS, LABELS[::-1]]))
SYM = np.random.default_rng(3).normal(size=(6, 6))
SYM = SYM + SYM.T
EV = [*np.linspace(0.5, 1.5, 19).tolist(), 9.0]
MEASURE = spectrum.SpectralMeasure(np.array([0.0, 1.0, 2.0]), np.array([0.25, 0.5, 0.25]))

SAME, FINITE = "same", "finite or refused"


def _strided(a: np.ndarray) -> np.ndarray:
    """The values of `a` as a view with step 2 along the first axis (not contiguous)."""
    big = np.zeros((2 * a.shape[0], *a.shape[1:]), dtype=a.dtype)
    big[::2] = a
    return big[::2]


def _reversed(a: np.ndarray) -> np.ndarray:
    """The values of `a` as a view with negative strides."""
    return a[::-1].copy()[::-1]


def _with(a: np.ndarray, value: float) -> np.ndarray:
    b = a.astype(np.float64).copy()
    b.flat[0] = value
    return b


def real_variants(a: np.ndarray):
    """(variant id, value, expectation): SAME (the call on the float64 values), FINITE, or an exception type."""
    a = np.asarray(a, dtype=np.float64)
    out = [
        ("list", a.tolist(), SAME),
        ("int64", np.round(a).astype(np.int64), SAME),
        ("float32", a.astype(np.float32), SAME),
        ("float16", a.astype(np.float16), SAME),
        ("bool", a > 0, TypeError),
        ("complex", a + 0j, TypeError),
        ("nan", _with(a, np.nan), ValueError),
        ("inf", _with(a, np.inf), ValueError),
        ("-inf", _with(a, -np.inf), ValueError),
        ("None", None, TypeError),
        ("string", "abc", TypeError),
        ("ragged list", [[1.0, 2.0], [3.0]], TypeError),
        ("empty", a[:0], ValueError),
        ("extra dim", a[None], ValueError),
        ("one dim less", a[0], ValueError),
        ("last axis short", a[..., :-1], ValueError),
        ("strided", _strided(a), SAME),
        ("reversed strides", _reversed(a), SAME),
        ("huge", a * 1e300, FINITE),
        ("torch requires_grad", torch.tensor(a, requires_grad=True), SAME),
        ("torch float32", torch.tensor(a, dtype=torch.float32), SAME),
        ("torch complex", torch.tensor(a + 0j), TypeError),
    ]
    if a.ndim >= 2:
        out.append(("fortran order", np.asfortranarray(a), SAME))
    return out


def label_variants(y: np.ndarray, classes: int):
    y = np.asarray(y)
    return [
        ("list", y.tolist(), SAME),
        ("float integral", y.astype(np.float64), SAME),
        ("int32", y.astype(np.int32), SAME),
        ("fractional", y + 0.5, ValueError),
        ("out of range", np.full_like(y, classes), ValueError),
        ("negative", -np.ones_like(y), ValueError),
        ("bool", y > 0, TypeError),
        ("complex", y + 0j, TypeError),
        ("nan", _with(y, np.nan), ValueError),
        ("None", None, TypeError),
        ("column (N, 1)", y[:, None], ValueError),
        ("one fewer", y[:-1], ValueError),
        ("empty", y[:0], ValueError),
        ("strided", _strided(y), SAME),
        ("reversed strides", _reversed(y), SAME),
        ("torch int64", torch.tensor(y), SAME),
    ]


def _canonical(value):
    """The float64 values a SAME variant stands for."""
    if isinstance(value, torch.Tensor):
        return value.detach().double().numpy()
    return np.asarray(value, dtype=np.float64)


def _result(out):
    if isinstance(out, scipy.sparse.linalg.LinearOperator):
        return cv.to_dense(out)
    if isinstance(out, tuple):
        return np.concatenate([np.ravel(o) for o in out])
    if isinstance(out, spectrum.SpectralMeasure):
        return np.concatenate([out.nodes, out.weights])
    if isinstance(out, dict):
        return np.concatenate([np.ravel(out["plain"]), np.ravel(out["bn"])])
    return np.asarray(out, dtype=np.float64)


#: module, function id, the call, its valid arguments, {argument: "real" | "labels"} (the message must name it).
CALLS = [
    ("network", "loss_value", cv.loss_value, dict(model=M, theta=THETA, X=X, Y=Y), {"theta": 1, "X": 1, "Y": 1}),
    (
        "network",
        "loss_value CE",
        lambda **k: cv.loss_value(loss="cross_entropy", **k),
        dict(model=M, theta=THETA, X=X, Y=LABELS),
        {"Y": "labels"},
    ),
    ("network", "full_gradient", cv.full_gradient, dict(model=M, theta=THETA, X=X, Y=Y), {"theta": 1, "X": 1, "Y": 1}),
    (
        "network",
        "per_component_gradients",
        cv.per_component_gradients,
        dict(model=M, theta=THETA, X=X, Y=Y),
        {"theta": 1, "X": 1, "Y": 1},
    ),
    (
        "network",
        "per_component_gradients CE",
        lambda **k: cv.per_component_gradients(loss="cross_entropy", **k),
        dict(model=M, theta=THETA, X=X, Y=LABELS),
        {"Y": "labels"},
    ),
    (
        "network",
        "per_sample_gradients",
        lambda **k: cv.per_sample_gradients(definition="frozen_statistics", **k),
        dict(model=M, theta=THETA, X=X, Y=Y),
        {"theta": 1, "X": 1, "Y": 1},
    ),
    ("network", "ggn_diagonal", cv.ggn_diagonal, dict(model=M, theta=THETA, X=X), {"theta": 1, "X": 1}),
    ("network", "ggn_dense", cv.ggn_dense, dict(model=M, theta=THETA, X=X), {"theta": 1, "X": 1}),
    (
        "network",
        "ggn_vector_products",
        cv.ggn_vector_products,
        dict(model=M, theta=THETA, X=X, V=V),
        {"theta": 1, "X": 1, "V": 1},
    ),
    ("network", "ggn_operator", cv.ggn_operator, dict(model=M, theta=THETA, X=X), {"theta": 1, "X": 1}),
    (
        "network",
        "hessian_vector_products",
        cv.hessian_vector_products,
        dict(model=M, theta=THETA, X=X, Y=Y, V=V),
        {"theta": 1, "X": 1, "Y": 1, "V": 1},
    ),
    (
        "network",
        "hessian_dense",
        cv.hessian_dense,
        dict(model=M, theta=THETA, X=X, Y=Y),
        {"theta": 1, "X": 1, "Y": 1},
    ),
    (
        "network",
        "hessian_dense",
        lambda **k: cv.hessian_dense(loss="cross_entropy", **k),
        dict(model=M, theta=THETA, X=X, Y=LABELS),
        {"Y": "labels"},
    ),
    (
        "network",
        "hessian_operator",
        cv.hessian_operator,
        dict(model=M, theta=THETA, X=X, Y=Y),
        {"theta": 1, "X": 1, "Y": 1},
    ),
    ("network", "loss_hessian_factors", lambda F: cv.loss_hessian_factors(F, "cross_entropy"), dict(F=F), {"F": 1}),
    (
        "network",
        "gradient_descent",
        lambda **k: cv.gradient_descent(M, steps=2, lr=0.1, **k),
        dict(thetas=STACK[0], Xs=STACK[1], Ys=STACK[2]),
        {"thetas": 1, "Xs": 1, "Ys": "labels"},
    ),
    ("spectrum", "eigenvalues", spectrum.eigenvalues, dict(matrix=SYM), {"matrix": 1}),
    ("spectrum", "outlier_ratio", spectrum.outlier_ratio, dict(eigenvalues=np.array(EV)), {"eigenvalues": 1}),
    (
        "spectrum",
        "lanczos",
        lambda v0: spectrum.lanczos(scipy.sparse.linalg.aslinearoperator(SYM), v0, 4),
        dict(v0=np.arange(1.0, 7.0)),
        {"v0": 1},
    ),
    (
        "spectrum",
        "lanczos_block",
        lambda V0: np.concatenate([np.r_[a, b] for a, b in spectrum.lanczos_block(OP, V0, 4)]),
        dict(V0=np.arange(1.0, 13.0).reshape(2, 6)),
        {"V0": 1},
    ),
    (
        "spectrum",
        "SpectralMeasure",
        spectrum.SpectralMeasure,
        dict(nodes=np.array([0.0, 1.0]), weights=np.array([0.5, 0.5])),
        {"nodes": 1, "weights": 1},
    ),
    (
        "spectrum",
        "SpectralMeasure.density",
        lambda grid: MEASURE.density(grid, 0.5),
        dict(grid=np.linspace(-1, 3, 5)),
        {"grid": 1},
    ),
]


#: Variants that are valid for one argument: a shorter last axis is another valid size there (k columns of V,
#: C outputs of F, a spectrum, a grid), and an empty grid has an empty density.
VALID = {arg: {"last axis short": SAME} for arg in ("V", "F", "eigenvalues", "grid")}
VALID["grid"]["empty"] = SAME  # the density on no points: an empty array


def _array_cases():
    for module, fid, fn, base, args in CALLS:
        for arg, kind in args.items():
            rows = label_variants(base[arg], M.classes) if kind == "labels" else real_variants(base[arg])
            for vid, bad, expect in rows:
                expect = VALID.get(arg, {}).get(vid, expect)
                yield pytest.param(fn, base, arg, bad, expect, id=f"{module}-{fid}-{arg}-{vid}")


def _named(exc: BaseException, arg: str) -> bool:
    """Whether the message names `arg` as a word (``X`` is not found inside ``Xs``)."""
    return re.search(rf"(?<![A-Za-z_]){re.escape(arg)}(?![A-Za-z_])", str(exc)) is not None


@pytest.mark.parametrize(("fn", "base", "arg", "bad", "expect"), list(_array_cases()))
def test_array_argument(fn, base, arg, bad, expect):
    kwargs = {**base, arg: bad}
    if expect in (SAME, FINITE):
        try:
            got = _result(fn(**kwargs))
        except (ValueError, TypeError) as exc:
            assert expect == FINITE, f"a valid spelling of numbers was refused: {exc}"
            assert _named(exc, arg), f"the message does not name {arg!r}: {exc}"
            return
        assert np.all(np.isfinite(got)), "a non-finite result came back instead of an error"
        if expect == SAME:
            want = _result(fn(**{**base, arg: _canonical(bad)}))
            np.testing.assert_array_equal(got, want)
        return
    with pytest.raises(expect) as info:
        fn(**kwargs)
    assert _named(info.value, arg), f"the message does not name {arg!r}: {info.value}"


# --- valid edge cases: the correct result ------------------------------------------------------------------


def test_network_batch_of_one_is_the_per_sample_gradient():
    """N = 1 through BN (eps > 0): the normalized value is 0; the per-component gradient is the full gradient."""
    x, y = X[:1], Y[:1]
    g = cv.per_component_gradients(M, THETA, x, y)
    np.testing.assert_allclose(g[0], cv.full_gradient(M, THETA, x, y, reduction="sum"), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(cv.ggn_diagonal(M, THETA, x), np.diag(cv.ggn_dense(M, THETA, x)), rtol=1e-10, atol=1e-15)
    with pytest.raises(ValueError, match="X: a batch of one through BN with eps = 0"):
        cv.per_component_gradients(cv.Model(4, 6, 3, eps=0.0), THETA, x, y)


@pytest.mark.parametrize("norm", ["layer", "group", "rms", "weight"])
def test_network_batch_of_one_per_sample_norms(norm):
    p = cv.random_problem(np.random.default_rng(7), norm=norm, samples=3)
    for eps in (0.0, 1e-5):
        m = cv.Model(4, 6, 3, norm=norm, eps=eps)
        g = cv.per_component_gradients(m, p.theta, p.X[:1], p.Y[:1])
        np.testing.assert_allclose(g[0], cv.full_gradient(m, p.theta, p.X[:1], p.Y[:1], reduction="sum"), rtol=1e-12)


def test_network_empty_block_of_vectors():
    assert cv.ggn_vector_products(M, THETA, X, np.zeros((D, 0))).shape == (D, 0)
    assert cv.hessian_vector_products(M, THETA, X, Y, np.zeros((D, 0))).shape == (D, 0)


def test_network_zero_steps_and_one_problem():
    out = cv.gradient_descent(M, THETA[None], X[None], LABELS[None], steps=0, lr=0.1)
    np.testing.assert_array_equal(out, THETA[None])


def test_spectrum_one_by_one_operator_and_degenerate_measures():
    alpha, beta = spectrum.lanczos(np.array([[2.0]]), np.array([3.0]), 5)
    assert alpha.tolist() == [2.0] and beta.size == 0
    assert spectrum.eigenvalues([[1.0]]).tolist() == [1.0]
    single = spectrum.SpectralMeasure(np.array([1.0]), np.array([1.0]))
    assert spectrum.wasserstein1(single, single) == 0.0
    assert spectrum.outlier_ratio([1.0, 1.0]) == 1.0


# --- scalar and object arguments ----------------------------------------------------------------------------

OP = scipy.sparse.linalg.aslinearoperator(SYM)
SCALAR_CASES = [
    ("network", "Model activation sigmoid", lambda: cv.Model(4, 6, 3, activation="sigmoid"), ValueError, "activation"),
    ("network", "Model inputs 0", lambda: cv.Model(0, 6, 3), ValueError, "inputs"),
    ("network", "Model hidden 2.5", lambda: cv.Model(4, 2.5, 3), TypeError, "hidden"),
    ("network", "Model classes True", lambda: cv.Model(4, 6, True), TypeError, "classes"),
    ("network", "Model classes None", lambda: cv.Model(4, 6, None), TypeError, "classes"),
    ("network", "Model eps negative", lambda: cv.Model(4, 6, 3, eps=-1e-5), ValueError, "eps"),
    ("network", "Model eps nan", lambda: cv.Model(4, 6, 3, eps=float("nan")), ValueError, "eps"),
    ("network", "Model eps string", lambda: cv.Model(4, 6, 3, eps="1e-5"), TypeError, "eps"),
    ("network", "Model bn string", lambda: cv.Model(4, 6, 3, bn="yes"), TypeError, "bn"),
    ("network", "Model norm unknown", lambda: cv.Model(4, 6, 3, norm="instance"), ValueError, "norm"),
    ("network", "Model groups not dividing", lambda: cv.Model(4, 6, 3, norm="group", groups=4), ValueError, "groups"),
    ("network", "Model output_norm unknown", lambda: cv.Model(4, 6, 3, output_norm="group"), ValueError, "output_norm"),
    ("network", "Model.init rng None", lambda: M.init(None), TypeError, "rng"),
    ("network", "Model.init legacy RandomState", lambda: M.init(np.random.RandomState(0)), TypeError, "rng"),
    ("network", "Model.forward numpy", lambda: M.forward(THETA, X), TypeError, "theta, X"),
    ("network", "Model.batch_statistics numpy", lambda: M.batch_statistics(THETA, X), TypeError, "theta, X"),
    ("network", "model not a Model", lambda: cv.loss_value("model", THETA, X, Y), TypeError, "model"),
    ("network", "loss unknown", lambda: cv.loss_value(M, THETA, X, Y, loss="hinge"), ValueError, "loss"),
    ("network", "loss None", lambda: cv.full_gradient(M, THETA, X, Y, loss=None), ValueError, "loss"),
    ("network", "reduction unknown", lambda: cv.ggn_diagonal(M, THETA, X, reduction="median"), ValueError, "reduction"),
    ("network", "reduction None", lambda: cv.ggn_operator(M, THETA, X, reduction=None), ValueError, "reduction"),
    ("network", "hessian_dense loss", lambda: cv.hessian_dense(M, THETA, X, Y, loss="hinge"), ValueError, "loss"),
    (
        "network",
        "hessian_dense reduction",
        lambda: cv.hessian_dense(M, THETA, X, Y, reduction="x"),
        ValueError,
        "reduction",
    ),
    ("network", "hessian_dense model", lambda: cv.hessian_dense("model", THETA, X, Y), TypeError, "model"),
    ("network", "loss_hessian_factors loss", lambda: cv.loss_hessian_factors(F, "hinge"), ValueError, "loss"),
    ("network", "Y of shape (N, 1) for MSE", lambda: cv.loss_value(M, THETA, X, Y[:, :1]), ValueError, "Y"),
    ("network", "Y labels for MSE", lambda: cv.loss_value(M, THETA, X, LABELS), ValueError, "Y"),
    ("network", "Y targets for CE", lambda: cv.loss_value(M, THETA, X, Y, loss="cross_entropy"), ValueError, "Y"),
    (
        "network",
        "definition unknown",
        lambda: cv.per_sample_gradients(M, THETA, X, Y, definition="ghost"),
        ValueError,
        "definition",
    ),
    (
        "network",
        "running not a pair",
        lambda: cv.per_sample_gradients(M, THETA, X, Y, definition="running", running=np.zeros(6)),
        TypeError,
        "running",
    ),
    (
        "network",
        "running wrong shape",
        lambda: cv.per_sample_gradients(M, THETA, X, Y, definition="running", running=(np.zeros(5), np.ones(5))),
        ValueError,
        "running",
    ),
    (
        "network",
        "running negative var",
        lambda: cv.per_sample_gradients(M, THETA, X, Y, definition="running", running=(np.zeros(6), -np.ones(6))),
        ValueError,
        "running var",
    ),
    (
        "network",
        "running nan mean",
        lambda: cv.per_sample_gradients(M, THETA, X, Y, definition="running", running=(np.full(6, np.nan), np.ones(6))),
        ValueError,
        "running mean",
    ),
    (
        "network",
        "operator matvec wrong length",
        lambda: cv.ggn_operator(M, THETA, X).matvec(np.ones(D - 1)),
        ValueError,
        "v",
    ),
    (
        "network",
        "operator matmat wrong length",
        lambda: cv.hessian_operator(M, THETA, X, Y).matmat(np.ones((2, 2))),
        ValueError,
        "V",
    ),
    ("network", "steps negative", lambda: cv.gradient_descent(M, *STACK, steps=-1, lr=0.1), ValueError, "steps, lr"),
    ("network", "steps fractional", lambda: cv.gradient_descent(M, *STACK, steps=1.5, lr=0.1), ValueError, "steps, lr"),
    ("network", "steps bool", lambda: cv.gradient_descent(M, *STACK, steps=True, lr=0.1), TypeError, "steps, lr"),
    ("network", "lr zero", lambda: cv.gradient_descent(M, *STACK, steps=1, lr=0.0), ValueError, "steps, lr"),
    ("network", "lr nan", lambda: cv.gradient_descent(M, *STACK, steps=1, lr=float("nan")), ValueError, "steps, lr"),
    ("network", "lr inf", lambda: cv.gradient_descent(M, *STACK, steps=1, lr=float("inf")), ValueError, "steps, lr"),
    ("network", "lr string", lambda: cv.gradient_descent(M, *STACK, steps=1, lr="0.1"), TypeError, "steps, lr"),
    (
        "network",
        "Ys targets for CE",
        lambda: cv.gradient_descent(M, STACK[0], STACK[1], np.zeros((2, N, 3)), steps=1, lr=0.1),
        ValueError,
        "Ys",
    ),
    ("network", "random_problem rng None", lambda: cv.random_problem(None), TypeError, "rng"),
    (
        "network",
        "random_problem samples 1",
        lambda: cv.random_problem(np.random.default_rng(0), samples=1),
        ValueError,
        "samples",
    ),
    (
        "network",
        "random_problem inputs 2.5",
        lambda: cv.random_problem(np.random.default_rng(0), inputs=2.5),
        TypeError,
        "inputs",
    ),
    (
        "network",
        "random_problem norm unknown",
        lambda: cv.random_problem(np.random.default_rng(0), norm="x"),
        ValueError,
        "norm",
    ),
    (
        "network",
        "gaussian_mixture rng int",
        lambda: cv.gaussian_mixture(3, classes=2, samples=4, inputs=2),
        TypeError,
        "rng",
    ),
    (
        "network",
        "gaussian_mixture classes 0",
        lambda: cv.gaussian_mixture(np.random.default_rng(0), classes=0, samples=4, inputs=2),
        ValueError,
        "classes",
    ),
    (
        "network",
        "gaussian_mixture samples 2.0",
        lambda: cv.gaussian_mixture(np.random.default_rng(0), classes=2, samples=2.0, inputs=2),
        TypeError,
        "samples",
    ),
    (
        "network",
        "gaussian_mixture separation nan",
        lambda: cv.gaussian_mixture(np.random.default_rng(0), classes=2, samples=4, inputs=2, separation=float("nan")),
        ValueError,
        "separation",
    ),
    (
        "network",
        "outlier_experiment draws 0",
        lambda: cv.outlier_experiment(np.random.default_rng(0), draws=0, hidden=4, steps=1),
        ValueError,
        "draws",
    ),
    (
        "network",
        "outlier_experiment rng None",
        lambda: cv.outlier_experiment(None, draws=1, hidden=4, steps=1),
        TypeError,
        "rng",
    ),
    (
        "network",
        "outlier_experiment hidden 0",
        lambda: cv.outlier_experiment(np.random.default_rng(0), draws=1, hidden=0, steps=1),
        ValueError,
        "hidden",
    ),
    (
        "network",
        "outlier_experiment lr negative",
        lambda: cv.outlier_experiment(np.random.default_rng(0), draws=1, hidden=4, steps=1, lr=-1.0),
        ValueError,
        "lr",
    ),
    ("network", "Problem.targets loss", lambda: P.targets("hinge"), ValueError, "loss"),
    ("network", "to_dense not an operator", lambda: cv.to_dense("op"), TypeError, "op"),
    ("spectrum", "lanczos op not an operator", lambda: spectrum.lanczos("op", np.ones(6), 3), TypeError, "op"),
    ("spectrum", "lanczos op not square", lambda: spectrum.lanczos(np.ones((2, 3)), np.ones(3), 3), ValueError, "op"),
    ("spectrum", "lanczos op complex", lambda: spectrum.lanczos(SYM + 1j, np.ones(6), 3), TypeError, "op"),
    ("spectrum", "lanczos v0 zero", lambda: spectrum.lanczos(OP, np.zeros(6), 3), ValueError, "v0"),
    ("spectrum", "lanczos steps 0", lambda: spectrum.lanczos(OP, np.ones(6), 0), ValueError, "steps"),
    ("spectrum", "lanczos steps 2.0", lambda: spectrum.lanczos(OP, np.ones(6), 2.0), TypeError, "steps"),
    ("spectrum", "lanczos steps None", lambda: spectrum.lanczos(OP, np.ones(6), None), TypeError, "steps"),
    (
        "spectrum",
        "lanczos_block op not an operator",
        lambda: spectrum.lanczos_block("op", np.ones((2, 6)), 3),
        TypeError,
        "op",
    ),
    (
        "spectrum",
        "lanczos_block V0 zero row",
        lambda: spectrum.lanczos_block(OP, np.eye(2, 6) * [[1], [0]], 3),
        ValueError,
        "V0",
    ),
    ("spectrum", "lanczos_block steps 0", lambda: spectrum.lanczos_block(OP, np.ones((2, 6)), 0), ValueError, "steps"),
    (
        "spectrum",
        "lanczos_block steps 2.0",
        lambda: spectrum.lanczos_block(OP, np.ones((2, 6)), 2.0),
        TypeError,
        "steps",
    ),
    ("spectrum", "slq rng None", lambda: spectrum.slq(OP, None), TypeError, "rng"),
    ("spectrum", "slq vectors 0", lambda: spectrum.slq(OP, np.random.default_rng(0), vectors=0), ValueError, "vectors"),
    ("spectrum", "slq steps bool", lambda: spectrum.slq(OP, np.random.default_rng(0), steps=True), TypeError, "steps"),
    ("spectrum", "slq op list", lambda: spectrum.slq([[1, 2]], np.random.default_rng(0)), ValueError, "op"),
    ("spectrum", "wasserstein1 array", lambda: spectrum.wasserstein1(MEASURE, np.ones(3)), TypeError, "b"),
    ("spectrum", "wasserstein1 None", lambda: spectrum.wasserstein1(None, MEASURE), TypeError, "a"),
    (
        "spectrum",
        "SpectralMeasure lengths differ",
        lambda: spectrum.SpectralMeasure(np.ones(3), np.ones(2) / 2),
        ValueError,
        "nodes, weights",
    ),
    (
        "spectrum",
        "SpectralMeasure negative weight",
        lambda: spectrum.SpectralMeasure(np.ones(2), np.array([2.0, -1])),
        ValueError,
        "weights",
    ),
    (
        "spectrum",
        "SpectralMeasure probe length",
        lambda: spectrum.SpectralMeasure(np.ones(2), np.ones(2) / 2, np.zeros(3, int)),
        ValueError,
        "probe",
    ),
    ("spectrum", "density width 0", lambda: MEASURE.density(np.zeros(3), 0.0), ValueError, "width"),
    ("spectrum", "density width nan", lambda: MEASURE.density(np.zeros(3), float("nan")), ValueError, "width"),
    ("spectrum", "density width None", lambda: MEASURE.density(np.zeros(3), None), TypeError, "width"),
    ("spectrum", "density grid 2-D", lambda: MEASURE.density(np.zeros((2, 2)), 1.0), ValueError, "grid"),
    ("spectrum", "outlier_ratio one value", lambda: spectrum.outlier_ratio([1.0]), ValueError, "eigenvalues"),
    ("spectrum", "outlier_ratio zero bulk", lambda: spectrum.outlier_ratio(np.zeros(10)), ValueError, "eigenvalues"),
    (
        "spectrum",
        "outlier_ratio quantile 1",
        lambda: spectrum.outlier_ratio(EV, bulk_quantile=1.0),
        ValueError,
        "bulk_quantile",
    ),
    (
        "spectrum",
        "outlier_ratio quantile None",
        lambda: spectrum.outlier_ratio(EV, bulk_quantile=None),
        TypeError,
        "bulk_quantile",
    ),
    ("spectrum", "eigenvalues not square", lambda: spectrum.eigenvalues(np.ones((2, 3))), ValueError, "matrix"),
]


@pytest.mark.parametrize(
    ("call", "exc", "arg"), [pytest.param(c, e, a, id=f"{m}-{i}") for m, i, c, e, a in SCALAR_CASES]
)
def test_scalar_argument(call, exc, arg):
    with pytest.raises(exc) as info:
        call()
    assert _named(info.value, arg), f"the message does not name {arg!r}: {info.value}"


def test_gradient_descent_through_bn_at_eps_zero_takes_batches_of_two_and_refuses_one():
    """At eps = 0 a BN batch needs N >= 2 (one sample has zero variance); N = 2 must run, N = 1 be refused."""
    model = dataclasses.replace(M, eps=0.0)
    thetas, Xs, Ys = (a[:, :2] if a.ndim > 2 or a is STACK[2] else a for a in STACK)
    out = cv.gradient_descent(model, thetas, Xs, Ys, steps=1, lr=0.1, loss="cross_entropy")
    assert out.shape == thetas.shape and np.all(np.isfinite(out))
    with pytest.raises(ValueError, match=r"N >= 2 through BN at eps = 0"):
        cv.gradient_descent(model, thetas, Xs[:, :1], Ys[:, :1], steps=1, lr=0.1, loss="cross_entropy")


def test_a_vector_is_not_a_block_of_vectors():
    """V must be (D, k): a 1-D vector of length D is refused, not read as a block."""
    with pytest.raises(ValueError, match=r"V: expected a \(D, k\) block"):
        cv.ggn_vector_products(M, THETA, X, V[:, 0])


def test_lanczos_block_names_exactly_the_zero_start_rows():
    V0 = np.arange(1.0, 19.0).reshape(3, 6)
    V0[1] = 0.0
    with pytest.raises(ValueError, match=r"got zero rows \[1\]$"):
        spectrum.lanczos_block(scipy.sparse.linalg.aslinearoperator(SYM), V0, 4)


def test_statistics_size_is_the_length_of_the_batch_statistics():
    for model in (M, dataclasses.replace(M, output_norm="batch")):
        stats = model.batch_statistics(torch.as_tensor(THETA), torch.as_tensor(X))
        assert model.statistics_size == stats.shape[-1]
