"""Bad input to every public function of norms/, landscape/, optim/ and representations/ (issue 21).

Each case either expects an error (a ``ValueError`` or ``TypeError`` whose message names the argument and says how
to fix it) or is a valid edge case whose result must equal an oracle: the same call on C-contiguous float64 NumPy
arrays (strided, Fortran-order, float32/float16, PyTorch tensors requiring grad, a batch of one), or what a scale
invariance predicts (huge values). The cases are generated per argument from one table (:data:`FUNCTIONS`): for an
array argument, a list, None, int, bool and complex dtypes, NaN and inf entries, a wrong shape, an empty array and
a PyTorch tensor among NumPy arrays; for a scalar argument, None, a string, NaN, inf and values out of range.
:func:`test_every_public_function_has_cases` keeps the table complete against the modules' ``__all__``.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import inspect
import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from bntheory import _validation
from bntheory.backend import to_numpy
from bntheory.landscape import covariate_shift, deep_linear, jacobian, lipschitz, measures
from bntheory.norms import batch, group, invariance, layer, standardize, weight
from bntheory.norms import jacobian as norm_jacobian
from bntheory.optim import bngd, gdnp, problems, scale_invariant, sgd
from bntheory.representations import layers as rep_layers
from bntheory.representations import measures as rep_measures
from bntheory.representations import networks

torch = pytest.importorskip("torch")

#: The modules whose public functions this suite covers (a module added later joins by a line here).
MODULES = {
    "norms.batch": batch,
    "norms.group": group,
    "norms.layer": layer,
    "norms.standardize": standardize,
    "norms.weight": weight,
    "norms.jacobian": norm_jacobian,
    "norms.invariance": invariance,
    "landscape.covariate_shift": covariate_shift,
    "landscape.deep_linear": deep_linear,
    "landscape.jacobian": jacobian,
    "landscape.lipschitz": lipschitz,
    "landscape.measures": measures,
    "optim.gdnp": gdnp,
    "optim.problems": problems,
    "optim.scale_invariant": scale_invariant,
    "optim.bngd": bngd,
    "optim.sgd": sgd,
    "representations.layers": rep_layers,
    "representations.measures": rep_measures,
    "representations.networks": networks,
}

#: A fix is an instruction: the message says what to do, not only what is wrong.
FIX = re.compile(
    r"\b(use|pass|cast|convert|wrap|give|choose|scale|rescale|perturb|remove|replace|drop|call|symmetrize|make|"
    r"reshape|add|move|detach|increase|draw|normalize|check|stack|split|fill|start|raise|lower|take|apply|set|"
    r"put|return|run|build|select|center|centre|clean|mask|keep|order|shrink|flatten|provide|match|chain|widen)\b",
    re.IGNORECASE,
)

RNG = np.random.default_rng(2021)


def _normal(*shape):
    return RNG.normal(size=shape)


# --- expectations ---------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Err:
    """A ValueError or TypeError naming one of `names` and saying how to fix it."""

    names: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class Ok:
    """The call succeeds and its result equals ``oracle()`` (within `rtol`/`atol`, every number finite)."""

    oracle: Callable[[], Any]
    rtol: float = 1e-9
    atol: float = 0.0


def err(*names: str) -> Err:
    return Err(names)


def _numbers(value: Any) -> list:
    """The numbers and arrays of a result, in a fixed order (tuples, dataclasses, arrays, scalars)."""
    if value is None or isinstance(value, str | bool | np.random.Generator) or callable(value):
        return [value] if isinstance(value, str | bool) else []
    if dataclasses.is_dataclass(value):
        return [n for f in dataclasses.fields(value) for n in _numbers(getattr(value, f.name))]
    if isinstance(value, dict):
        return [n for k in sorted(value, key=str) for n in _numbers(value[k])]
    if isinstance(value, tuple | list):
        return [n for v in value for n in _numbers(v)]
    if isinstance(value, int | float | np.integer | np.floating):
        return [np.float64(value)]
    return [np.asarray(to_numpy(value), dtype=np.float64)]


def assert_matches(result: Any, expected: Any, rtol: float, atol: float) -> None:
    got, want = _numbers(result), _numbers(expected)
    assert len(got) == len(want), f"result has {len(got)} parts, the oracle {len(want)}"
    for a, b in zip(got, want, strict=True):
        if isinstance(b, str | bool):
            assert a == b
            continue
        assert np.shape(a) == np.shape(b)
        # NaN where the oracle has NaN (documented outputs, such as d_max of an all-zero point); finite elsewhere.
        assert np.all(np.isfinite(a) | np.isnan(b)), "non-finite values in the result"
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, equal_nan=True)


def check_case(thunk: Callable[[], Any], expect: Err | Ok) -> None:
    if isinstance(expect, Err):
        with pytest.raises((ValueError, TypeError)) as info:
            thunk()
        message = str(info.value)
        assert any(re.search(rf"(^|[\s(`'\[]){re.escape(n)}(?!\w)", message) for n in expect.names), (
            f"the message does not name {' or '.join(expect.names)}: {message!r}"
        )
        assert FIX.search(message), f"the message gives no fix: {message!r}"
        assert "\n" not in message.strip(), "a one-line message"
    else:
        with np.errstate(over="raise", invalid="raise", divide="raise"):  # a silent overflow or 0/0 fails
            result = thunk()
        assert_matches(result, expect.oracle(), expect.rtol, expect.atol)


# --- argument variants ----------------------------------------------------------------------------


def _with_nan(a: np.ndarray, value: float = np.nan) -> np.ndarray:
    out = np.array(a, dtype=np.float64, copy=True)
    out.reshape(-1)[out.size // 2] = value
    return out


def _wider(a: np.ndarray) -> np.ndarray:
    """`a` with one more entry along its last axis."""
    return np.concatenate([a, a[..., :1]], axis=-1)


def _strided(a: np.ndarray) -> np.ndarray:
    """The same values as a non-contiguous view (every second entry of a twice-as-wide array)."""
    wide = np.zeros((*a.shape[:-1], 2 * a.shape[-1]), dtype=a.dtype)
    wide[..., ::2] = a
    return wide[..., ::2]


def _torch(a: np.ndarray, grad: bool = False):
    t = torch.from_numpy(np.array(a))
    return t.requires_grad_() if grad and t.is_floating_point() else t


@dataclasses.dataclass
class Function:
    """One public function: how to call it with defaults, and which arguments are arrays or scalars.

    `call(**args)` calls the function with `defaults` updated by `args`. `arrays` are array arguments that get the
    generated bad-array cases (`optional` ones accept None); `scalars` maps a scalar argument to its kind (``"int>=0"``,
    ``"int>=1"``, ``"int>=2"``, ``"real"``, ``"real>=0"``, ``"real>0"``, ``"unit"``, ``"choice"``, ``"callable"``,
    ``"rng"``, ``"bool"``). `layout` lists the arrays converted together for the valid layout cases (strided,
    Fortran-order, float32, float16, torch with grad); `portable` says whether the function takes other backends
    (else a torch tensor is an error); `half` whether float16 is computed (else refused).
    """

    module: str
    name: str
    call: Callable[..., Any]
    defaults: dict
    arrays: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()
    scalars: dict = dataclasses.field(default_factory=dict)
    layout: tuple[str, ...] = ()
    portable: bool = True
    half: bool = True
    extra: list = dataclasses.field(default_factory=list)  # (label, args or thunk, expectation)
    rtol: float = 1e-9
    empty: bool = True  # whether an empty array in each argument is an error (False: skip the case)
    aliases: dict = dataclasses.field(default_factory=dict)  # argument -> the name the error uses
    free_shape: tuple[str, ...] = ()  # arrays whose trailing axis is not constrained (no shape/empty cases)
    shape_names: tuple[str, ...] = ()  # further names a shape mismatch may be reported under

    def __call__(self, **args):
        return self.call(**{**self.defaults, **args})


def _array_cases(fn: Function):
    cases = []
    for key in fn.arrays:
        good, name = fn.defaults[key], fn.aliases.get(key, key)
        others = tuple(fn.aliases.get(n, n) for n in fn.arrays if n != key)
        cases += [
            (f"{name}-list", {key: good.tolist()}, err(name)),
            (f"{name}-int", {key: good.astype(np.int64)}, err(name)),
            (f"{name}-bool", {key: good > 0}, err(name)),
            (f"{name}-complex", {key: good.astype(np.complex128)}, err(name)),
            (f"{name}-nan", {key: _with_nan(good)}, err(name)),
            (f"{name}-inf", {key: _with_nan(good, np.inf)}, err(name)),
        ]
        if key not in fn.free_shape:
            cases.append((f"{name}-shape", {key: _wider(good)}, err(name, *others, *fn.shape_names)))
        if key not in fn.optional:
            cases.append((f"{name}-none", {key: None}, err(name)))
        if fn.empty and key not in fn.free_shape:
            cases.append((f"{name}-empty", {key: good[..., :0]}, err(name, *others, *fn.shape_names)))
        if fn.portable and len(fn.arrays) > 1:
            cases.append((f"{name}-mixed-backends", {key: _torch(good)}, err(name, *others)))
        if not fn.portable:
            cases.append((f"{name}-torch", {key: _torch(good)}, err(name, *others)))
    return cases


def _layout_cases(fn: Function):
    if not fn.layout:
        return []
    base = {n: fn.defaults[n] for n in fn.layout}
    names = tuple(fn.aliases.get(n, n) for n in fn.layout)

    def oracle():
        return fn()

    def variant(convert, rtol=fn.rtol, atol=0.0):
        return Ok(oracle, rtol, atol), {n: convert(a) for n, a in base.items()}

    cases = []
    for label, convert in (("strided", _strided), ("fortran", np.asfortranarray)):
        expect, args = variant(convert)
        cases.append((label, args, expect))
    expect, args = variant(lambda a: a.astype(np.float32), rtol=1e-4, atol=1e-5)
    cases.append(("float32", args, expect))
    f16 = {n: a.astype(np.float16) for n, a in base.items()}
    if fn.half:
        cases.append(("float16", f16, Ok(lambda: fn(**{n: a.astype(np.float64) for n, a in f16.items()}), 3e-2, 3e-2)))
    else:
        cases.append(("float16", f16, err(*names)))
    grad = {n: _torch(a, grad=True) for n, a in base.items()}
    cases.append(("torch-grad", grad, Ok(oracle, fn.rtol) if fn.portable else err(*names)))
    return cases


_SCALAR_BAD = {
    "int>=0": [("none", None), ("str", "3"), ("float", 2.5), ("bool", True), ("negative", -1)],
    "int>=1": [("none", None), ("str", "3"), ("float", 2.5), ("bool", True), ("zero", 0)],
    "int>=2": [("none", None), ("str", "3"), ("float", 2.5), ("bool", True), ("one", 1)],
    "real": [("none", None), ("str", "1"), ("nan", np.nan), ("inf", np.inf), ("array", np.ones(2))],
    "real>=0": [("none", None), ("str", "1"), ("nan", np.nan), ("inf", np.inf), ("negative", -0.5), ("bool", True)],
    "real>0": [("none", None), ("str", "1"), ("nan", np.nan), ("inf", np.inf), ("zero", 0.0), ("negative", -1.0)],
    "unit": [("none", None), ("nan", np.nan), ("above", 1.5), ("negative", -0.1)],
    "choice": [("unknown", "no-such-choice"), ("none", None)],
    "callable": [("none", None), ("number", 3)],
    "rng": [("none", None), ("seed", 0)],
    "bool": [("str", "yes"), ("none", None)],
}


def _scalar_cases(fn: Function):
    return [
        (f"{name}-{label}", {name: value}, err(name.rstrip("_")))
        for name, kind in fn.scalars.items()
        for label, value in _SCALAR_BAD[kind]
    ]


# --- the functions --------------------------------------------------------------------------------

X, G, B = _normal(8, 3), 1.0 + 0.3 * _normal(3), _normal(3)
DY = _normal(8, 3)
X4 = _normal(4, 6, 3)
G6, B6 = 1.0 + 0.3 * _normal(6), _normal(6)


def _bn_ref(x, gamma, beta, eps):
    """Algorithm 1 in float64, written out (the oracle of the huge-value cases)."""
    mean = x.mean(axis=0)
    var = ((x - mean) ** 2).mean(axis=0)
    return gamma * (x - mean) / np.sqrt(var + eps) + beta


def _like(v: np.ndarray, x):
    """`v` on the backend and in the dtype of `x`."""
    if isinstance(x, torch.Tensor):
        return torch.from_numpy(v).to(x.dtype)
    return v.astype(x.dtype) if isinstance(x, np.ndarray) and x.dtype.kind == "f" else v


def _fwd(x=X, gamma=G, beta=B, eps=1e-5, out=None):
    return batch.forward(x, gamma, beta, eps=eps, out=out)[0]


X_ALIASED = X.copy()  # passed as both x and out
READ_ONLY = np.empty_like(X)
READ_ONLY.flags.writeable = False


def _bwd(dy=DY, x=X):
    return batch.backward(dy, batch.forward(x, _like(G, x), _like(B, x))[1])


def _bwd_cache(cache):
    return batch.backward(DY, cache)


X_REVERSED = X[::-1].copy()
PARAMS1, THETA, W0_UNITS = _normal(3, 2), _normal(4), np.abs(_normal(2, 5)) + 0.1


def _population(b0=X, b1=X_REVERSED):
    return batch.population_stats([b0, b1])


def _ln_bwd(dy=X4, x=X4):
    return standardize.backward(dy, layer.layer_norm(x, 3)[1])


def _gn_bwd(dy=X4, x=X4):
    return standardize.backward(dy, group.group_norm(x, 2, _like(G6, x), _like(B6, x))[1])


def _wn_bwd(dw=DY[:3], v=X[:3]):
    return weight.weight_norm_backward(dw, weight.weight_norm(v, _like(G, v))[1])


_DEFAULT = object()  # "use the default function" (None is a bad input of its own)


def _ics(params0=X, params1=PARAMS1, lr=0.1, gradients=_DEFAULT):
    def grads(ps):
        return [2 * p for p in ps]

    gradients = grads if gradients is _DEFAULT else gradients
    return covariate_shift.internal_covariate_shift(gradients, [params0, params1], lr)


def _probe(theta=THETA, etas=(0.1, 0.2), loss_and_grad=_DEFAULT):
    def lg(t):
        return float(to_numpy(t @ t)), 2 * t

    return measures.probe_gradient_direction(lg if loss_and_grad is _DEFAULT else loss_and_grad, theta, etas)


DLN_W = deep_linear.init_weights(np.random.default_rng(0), 3, 4, 4, 2)
DLN_X, DLN_Y = _normal(6, 4), _normal(6, 2)
DLN_NOISE = deep_linear.draw_noise(np.random.default_rng(1), 6, 4, 3)


def _dln_loss(X=DLN_X, Y=DLN_Y, W0=DLN_W[0], variant="bn", noise=None):
    return deep_linear.loss_and_gradients([W0, *(_like(w, W0) for w in DLN_W[1:])], X, Y, variant=variant, noise=noise)


def _dln_shifted(X=DLN_X, Y=DLN_Y, W0=DLN_W[0], variant="bn"):
    weights = [W0, *(_like(w, W0) for w in DLN_W[1:])]
    shifted = deep_linear.shifted_layer_gradient(weights, X, Y, variant=variant)
    return shifted([w * 0.9 for w in weights], 1)


SMALL_TRAIN = {"depth": 3, "width": 3, "n": 6, "steps": 2, "measure_every": 1, "eta_multiples": (1.0,)}


def _train(seed=0, variant="bn", **kw):
    return deep_linear.train(seed, variant, **{**SMALL_TRAIN, **kw})


def _experiment(seeds=(0,), lrs=(0.05,), variants=("bn",)):
    return deep_linear.experiment(seeds, lrs, variants, **SMALL_TRAIN)


def _paired(rng=None, problems_=1, lrs=(0.05,)):
    rng = np.random.default_rng(0) if rng is None else rng
    return deep_linear.paired_experiment(rng, problems_, lrs, ("bn", "standard"), **SMALL_TRAIN)


_RUNS = deep_linear.experiment([0, 1], [0.05], ("bn", "standard"), **SMALL_TRAIN)


def _freq(runs=_RUNS, holds=lambda a, b: True, a="bn", b="standard", figure=lambda t: 1.0):
    return deep_linear.paired_frequency(runs, holds, a, b, figure)


S5 = problems.spd_with_condition(np.random.default_rng(3), 5, 10.0)
U5 = 0.3 * _normal(5)
U5 = U5 * np.sqrt(0.5 / (U5 @ np.linalg.solve(S5, U5)))
W5 = _normal(5)
LS = problems.least_squares_moments(S5, U5, 1.0)


class _Quadratic:
    def __init__(self, S, u):
        self.S, self.u = S, u

    def value(self, w):
        return float(w @ (self.S @ w)) - 2 * float(self.u @ w)

    def gradient(self, w):
        return 2 * (self.S @ w) - 2 * self.u


def _gdnp(w0=W5, T_d=3, T_s=10, g0=1.0, problem=LS):
    return gdnp.gdnp(problem, w0, T_d=T_d, T_s=T_s, g0=g0)


def _alternating(W0=W0_UNITS, sweeps=1, T_d=1, T_s=5, unit_problem=_DEFAULT):
    def unit(W, i):
        return problems.tanh_mlp_unit(S5, U5, W, np.array([1.0, -0.5]), i)

    return gdnp.alternating_gdnp(
        unit if unit_problem is _DEFAULT else unit_problem, W0, sweeps=sweeps, T_d=T_d, T_s=T_s
    )


# Per-group transfers of Santurkar's bounds (landscape.lipschitz.group_*): 3 groups of 5 along the last axis.
GX, GD, GV = _normal(3, 5), _normal(3, 5), _normal(3, 5)
GH, GGAIN = _normal(3, 5, 5), 1.0 + 0.3 * _normal(5)
WN_DW, WN_V, WN_G = _normal(3, 4), _normal(3, 4), 0.5 + np.abs(_normal(3))


def _group_bound_ref(delta, x, gamma, eps, center):
    """Theorem 4.1's right side per group, from the BN form (its batch is the group) or, for RMSNorm, written out."""
    if center:
        return np.array(
            [lipschitz.gradient_norm_bound(g * d, y, 1.0, eps=eps) for d, y, g in zip(delta, x, gamma, strict=True)]
        )
    r2 = np.mean(x * x, axis=-1) + eps
    g = gamma * delta
    return (np.sum(g * g, -1) - np.sum(g * x, -1) ** 2 / (5 * r2)) / r2


# norms.invariance: a (C, D) = (6, 4) weight matrix, N = 8 samples of D = 4 features (and S = 5 positions).
IW, IX, IX3, IC = _normal(6, 4), _normal(8, 4), _normal(8, 4, 5), _normal(4)


def _transformed_ref(number):
    """(W, X) after Ba et al.'s transformation `number`, written out."""
    W, X = IW.copy(), IX.copy()
    if number == 1:
        W = 2.0 * W
    elif number == 2:
        W = W + IC
    elif number == 3:
        W[1] *= 2.0
    elif number == 4:
        X = 2.0 * X
    elif number == 5:
        X = X + IC[::-1]
    else:
        X[2] *= 2.0
    return W, X


# optim.sgd: two runs of heavy ball on the noisy scale-invariant loss -xi^T w / ||w||, d = 4, three steps.
SGD_MEAN = np.array([1.0, 0.0, 0.0, 0.0])
SGD_LOSS = sgd.NoisyLinear(SGD_MEAN, 0.5)
SGD_W0, SGD_B0 = _normal(2, 4), 0.1 * _normal(2, 4)
SGD_ARGS = {"lr": 0.1, "steps": 3, "momentum": 0.5, "weight_decay": 0.01, "seeds": (0, 1), "keep_path": True}


def _sgd_with(**kw):
    args = {"objective": SGD_LOSS, "w0": SGD_W0, "buffer0": SGD_B0, "chunk": 2, **SGD_ARGS, **kw}
    return sgd.sgd(args.pop("objective"), args.pop("w0"), **args)


def _sgd_parts():
    run = _sgd_with()
    return run.w, run.buffer, run.trace.norm


def _sgd_ref():
    """Heavy ball with weight decay written out on the samples the seeds give (NoisyLinear.samples)."""
    xi = SGD_LOSS.samples([0, 1], 3)
    w, v, norms = SGD_W0.copy(), SGD_B0.copy(), [np.linalg.norm(SGD_W0, axis=1)]
    for t in range(3):
        r = np.linalg.norm(w, axis=1, keepdims=True)
        u = w / r
        g = -(xi[t] - np.sum(xi[t] * u, axis=1, keepdims=True) * u) / r
        v = 0.5 * v + g + 0.01 * w
        w = w - 0.1 * v
        norms.append(np.linalg.norm(w, axis=1))
    return w, v, np.array(norms)


def _sgd_one_run():
    """One run given as vectors: run 0 of the two (its own seed 0), with (1, d) results."""
    run = _sgd_with(w0=SGD_W0[:1], buffer0=SGD_B0[:1], seeds=(0,))
    return run


def _sgd_scaled(c):
    """Scale invariance without weight decay: the run from c w0 at rate lr is c times the run from w0 at lr / c^2."""
    run = _sgd_with(buffer0=None, weight_decay=0.0, lr=0.1 / c**2)
    tr = run.trace
    trace = sgd.SGDTrace(
        tr.norm * c, tr.angular_update, tr.effective_rate, tr.unit_grad_sq, tr.momentum_term, tr.lr * c**2
    )
    return sgd.SGDResult(run.w * c, run.buffer / c, trace, run.path * c)


def _exp_lr_ref(lr, lam, gamma, steps):
    """Li & Arora's root of z^2 - (1 + gamma - lam lr) z + gamma (numpy.roots), its schedule and buffer factor."""
    lr = np.broadcast_to(np.asarray(lr, dtype=np.float64), np.broadcast_shapes(np.shape(lr), np.shape(lam)))
    alpha = np.array([max(np.roots([1.0, -(1 + gamma - lam * e), gamma]).real) for e in np.atleast_1d(lr)])
    alpha = alpha.reshape(lr.shape)
    schedule = alpha ** -(2 * np.arange(steps).reshape((steps,) + (1,) * alpha.ndim) + 1)
    return sgd.ExponentialLR(alpha if alpha.ndim else float(alpha), schedule, (alpha - 1) / (lr * alpha))


# optim.bngd: population least squares with H = S5 (d = 5), three runs.
BNGD_LS, BNGD_W0 = bngd.least_squares(S5, U5, 0.1), _normal(3, 5)


def _bngd_ref(w0, a0, eps, eps_a, T):
    """BNGD written out run by run (Cai, Li & Shen 2019): the Jacobi step on (a, w), then the trace's quantities."""
    H, g, y2 = S5, S5 @ U5, float(U5 @ S5 @ U5) + 0.1
    eps, eps_a = np.broadcast_to(eps, len(w0)), np.broadcast_to(eps_a, len(w0))
    rows = []
    for b in range(len(w0)):
        w, a, run = w0[b].copy(), float(a0[b]), []
        for k in range(T + 1):
            norm = np.sqrt(w @ H @ w)
            run.append((a * w / norm, 0.5 * (y2 - 2 * a * (w @ g) / norm + a * a), a, w @ w, w / np.linalg.norm(w)))
            if k < T:
                w, a = w + eps[b] * a / norm * (g - (w @ g) / norm**2 * (H @ w)), a - eps_a[b] * (a - (w @ g) / norm)
        rows.append(run)
    parts = [np.array([[rows[b][k][i] for b in range(len(w0))] for k in range(T + 1)]) for i in range(5)]
    return bngd.BNGDTrace(*parts)


def _gd_ref(u0, eps, T):
    u, us = u0.copy(), [u0.copy()]
    for _ in range(T):
        u = u - eps * (u @ S5 - S5 @ U5)
        us.append(u)
    return np.array(us)


# optim.scale_invariant: K = 3 sines in d = 4 with a symmetric quadratic, a BN unit on 8 samples, a 2-layer MLP.
SI_A, SI_B, SI_C, SI_W = _normal(3), _normal(3, 4), _normal(3), _normal(2, 4)
SI_Q = (lambda M: (M + M.T) / 2)(_normal(4, 4))
SI_X, SI_Y, SI_WU = _normal(8, 4), _normal(8), _normal(4)
SI_YY, SI_WS = _normal(8, 2), [_normal(4, 3), _normal(4, 4), _normal(2, 4)]
SI_LOSS = scale_invariant.sin_sum(SI_A, SI_B, SI_C, SI_Q)


def _loss_at(loss, like, w):
    """A Loss by its numbers: d, and its value and gradient at `w` (on the backend and in the dtype of `like`)."""
    return (loss.d, *loss.value_and_grad(_like(np.asarray(w), like)))


def _torch_value_grad(f, w):
    wt = torch.from_numpy(np.array(w)).requires_grad_()
    value = f(wt)
    (grad,) = torch.autograd.grad(value.sum(), wt)
    return value.detach(), grad


def _torch_sin_sum(w, normalized, quadratic=True):
    def f(wt):
        u = wt / wt.norm(dim=-1, keepdim=True) if normalized else wt
        value = (_t(SI_A) * torch.sin(u @ _t(SI_B).T + _t(SI_C))).sum(-1)
        return value + 0.5 * ((u @ _t(SI_Q)) * u).sum(-1) if quadratic else value

    return (4, *_torch_value_grad(f, w))


def _torch_bn_unit(gain, eps):
    def f(wt):
        z = _t(SI_X) @ wt
        zhat = (z - z.mean()) / torch.sqrt(((z - z.mean()) ** 2).mean() + eps)
        return 0.5 * ((gain * zhat - _t(SI_Y)) ** 2).mean()

    return (4, *_torch_value_grad(f, SI_WU))


def _torch_mlp(norm, eps, wrt):
    def normalize(Z):
        if norm == "batch":
            return (Z - Z.mean(0)) / torch.sqrt(((Z - Z.mean(0)) ** 2).mean(0) + eps)
        if norm == "layer":
            return torch.nn.functional.layer_norm(Z, (Z.shape[1],), eps=eps)
        return Z

    def f(wt):
        Ws = [_t(W) for W in SI_WS]
        index = 0 if wrt == "first" else 2
        Ws[index] = wt.reshape(SI_WS[index].shape)
        H = _t(SI_X[:, :3])
        for W in Ws[:-1]:
            H = torch.tanh(normalize(H @ W.T))
        return 0.5 * ((H @ Ws[-1].T - _t(SI_YY)) ** 2).sum() / 8

    w = SI_WS[0] if wrt == "first" else SI_WS[-1]
    return (w.size, *_torch_value_grad(f, w.reshape(-1)))


def _gd_si_ref(w0, eta, T, project):
    """Gradient descent written out, with its trace (value, |grad|^2, |w|^2 per step)."""
    w, rows = w0.copy(), []
    radius = np.linalg.norm(w0, axis=-1, keepdims=True)
    for t in range(T + 1):
        value, grad = SI_LOSS.value_and_grad(w)
        rows.append((value, np.sum(grad * grad, -1), np.sum(w * w, -1)))
        if t < T:
            w = w - np.asarray(eta)[..., None] * grad
            if project:
                w = w * radius / np.linalg.norm(w, axis=-1, keepdims=True)
    value, grad_sq, norm_sq = (np.array([r[i] for r in rows]) for i in range(3))
    return scale_invariant.GDTrace(value, grad_sq, norm_sq, w, np.broadcast_to(eta, w0.shape[:-1]))


def _gd_si_scaled(c):
    """Scale invariance: from c w0 at rate c^2 eta, GD is c times the run from w0 at eta."""
    run = _gd_si_ref(SI_W, np.full(2, 0.1), 3, False)
    return scale_invariant.GDTrace(run.value, run.grad_sq / c**2, run.norm_sq * c**2, run.w * c, run.eta * c**2)


HB = _normal(5, 4)  # a batch in columns: d = 5 features, n = 4 points
HS = _normal(2, 5, 4)  # a stack of two
HS6 = _normal(2, 6, 4)  # a stack of two batches of d = 6 features (GroupNorm: 2 or 3 groups), n = 4 points
#: paired_networks' variants: BN's steps, a per-sample LayerNorm, GroupNorm, weight-normalized layers.
PAIRED = {
    "bn": {"steps": ("rc", "rs", "relu")},
    "ln": {"per_sample": "layer"},
    "gn": {"per_sample": "group", "groups": 3},
    "wn": {"steps": ("relu",), "weight_norm": True},
}
PAIRED_HOMOGENEOUS = {"relu": {"steps": ("relu",)}, "wn": {"steps": ("relu",), "weight_norm": True}}


def _paired_ref(H0, variants=PAIRED, normalize=False):
    """Each variant of paired_networks is deep_network on the same seed (one draw of W per layer in both)."""
    return tuple(
        networks.deep_network(
            H0,
            2,
            v.get("steps", ()),
            np.random.default_rng(0),
            variance=2.0,
            normalize=normalize,
            **{k: v[k] for k in v if k != "steps"},
        )
        for v in variants.values()
    )


FUNCTIONS: list[Function] = [
    # --- norms.batch -------------------------------------------------------------------------------
    Function(
        "norms.batch",
        "forward",
        _fwd,
        {"x": X, "gamma": G, "beta": B, "eps": 1e-5},
        arrays=("x", "gamma", "beta"),
        scalars={"eps": "real>=0"},
        layout=("x", "gamma", "beta"),
        extra=[
            ("batch-of-one", {"x": X[:1]}, err("x")),
            ("one-value-per-channel-image", {"x": np.ones((1, 3, 1, 1))}, err("x")),
            ("one-dim", {"x": X[:, 0]}, err("x")),
            ("zero-variance-eps0", {"x": np.ones((8, 3)), "eps": 0.0}, err("x")),
            ("zero-variance-eps>0", {"x": np.ones((8, 3))}, Ok(lambda: np.tile(B, (8, 1)), atol=1e-12)),
            ("huge-1e300", {"x": X * 1e300}, err("x")),
            ("huge-1e150", {"x": X * 1e150, "eps": 0.0}, Ok(lambda: _bn_ref(X, G, B, 0.0), rtol=1e-9)),
            ("tiny-1e-150", {"x": X * 1e-150}, Ok(lambda: _bn_ref(X * 1e-150, G, B, 1e-5), atol=1e-12)),
            ("large-offset", {"x": X + 1e8, "eps": 0.0}, Ok(lambda: _bn_ref(X, G, B, 0.0), rtol=1e-6)),
            (
                "nan-large-batch",
                {"x": _with_nan(_normal(4096, 64)), "gamma": np.ones(64), "beta": np.zeros(64)},
                err("x"),
            ),
            ("inf-image", {"x": _with_nan(_normal(4, 3, 5, 5), np.inf)}, err("x")),
            # Large enough for the kernel's worker threads (2**20 values), where warnings are silenced per thread.
            (
                "nan-threaded",
                {"x": _with_nan(_normal(8192, 128)), "gamma": np.ones(128), "beta": np.zeros(128)},
                err("x"),
            ),
            (
                "overflow-threaded",
                {"x": _normal(8192, 128) * 1e300, "gamma": np.ones(128), "beta": np.zeros(128)},
                err("x"),
            ),
            ("eps-numpy-scalar", {"eps": np.float32(1e-5)}, Ok(lambda: _fwd(eps=float(np.float32(1e-5))))),
            ("out", {"out": np.full_like(X, np.nan)}, Ok(lambda: _fwd(), rtol=0.0)),
            ("out-strided", {"out": np.empty(X.shape[::-1]).T}, Ok(lambda: _fwd(), rtol=0.0)),
            ("out-wrong-shape", {"out": np.empty((X.shape[0] + 1, X.shape[1]))}, err("out")),
            ("out-wrong-dtype", {"out": np.empty(X.shape, np.float32)}, err("out")),
            ("out-is-x", {"x": X_ALIASED, "out": X_ALIASED}, err("out")),
            ("out-read-only", {"out": READ_ONLY}, err("out")),
            ("out-list", {"out": X.tolist()}, err("out")),
            ("out-torch", {"out": torch.empty(X.shape, dtype=torch.float64)}, err("out")),
        ],
    ),
    Function(
        "norms.batch",
        "backward",
        _bwd,
        {"dy": DY, "x": X},
        arrays=("dy",),
        layout=("dy", "x"),
        extra=[
            ("cache-tuple", lambda: batch.backward(DY, tuple(batch.forward(X, G, B)[1])), err("cache")),
            ("cache-none", lambda: batch.backward(DY, None), err("cache")),
            ("huge-dy", {"dy": DY * 1e300}, Ok(lambda: tuple(1e300 * g for g in _bwd()))),
            ("overflowing-dy", {"dy": np.full((8, 3), 1e308)}, err("dy")),
            (
                "dy-nan-large",
                lambda: batch.backward(
                    _with_nan(_normal(4096, 64)), batch.forward(_normal(4096, 64), np.ones(64), np.zeros(64))[1]
                ),
                err("dy"),
            ),
        ],
    ),
    Function(
        "norms.batch",
        "update_running_stats",
        lambda running_mean, running_var, x, momentum, convention: batch.update_running_stats(
            running_mean, running_var, x, momentum=momentum, convention=convention
        ),
        {"running_mean": np.zeros(3), "running_var": np.ones(3), "x": X, "momentum": 0.1, "convention": "pytorch"},
        arrays=("running_mean", "running_var", "x"),
        scalars={"momentum": "unit", "convention": "choice"},
        layout=("running_mean", "running_var", "x"),
        extra=[
            ("batch-of-one", {"x": X[:1]}, err("x")),
            ("negative-running-var", {"running_var": -np.ones(3)}, err("running_var")),
            ("huge-1e300", {"x": X * 1e300}, err("x")),
            (
                "keras",
                {"convention": "keras", "momentum": 0.99},
                Ok(lambda: (0.99 * np.zeros(3) + 0.01 * X.mean(0), 0.99 + 0.01 * X.var(0))),
            ),
            ("pytorch-oracle", {}, Ok(lambda: (0.1 * X.mean(0), 0.9 + 0.1 * X.var(0, ddof=1)))),
            (
                "image",
                {"x": X4[:, :3]},
                Ok(
                    lambda: (
                        0.1 * X4[:, :3].mean((0, 2)),
                        0.9 + 0.1 * X4[:, :3].transpose(1, 0, 2).reshape(3, -1).var(1, ddof=1),
                    )
                ),
            ),
        ],
    ),
    Function(
        "norms.batch",
        "population_stats",
        _population,
        {"b0": X, "b1": X_REVERSED},
        arrays=("b0", "b1"),
        layout=("b0", "b1"),
        aliases={"b0": "batches[0]", "b1": "batches[1]"},
        extra=[
            ("none", lambda: batch.population_stats(None), err("batches")),
            ("one-array", lambda: batch.population_stats(X), err("batches")),
            ("empty-list", lambda: batch.population_stats([]), err("batches")),
            ("list-of-lists", lambda: batch.population_stats([X.tolist()]), err("batches[0]")),
            (
                "generator",
                lambda: batch.population_stats(b for b in (X, X[::-1].copy())),
                Ok(lambda: (X.mean(0), X.var(0, ddof=1))),
            ),
            ("oracle", {}, Ok(lambda: (X.mean(0), X.var(0, ddof=1)))),
            ("huge", {"b0": X * 1e300, "b1": X * 1e300}, err("batches[0]", "b0")),
            ("batch-of-one", {"b0": X[:1], "b1": X[1:2]}, err("batches[0]", "b0")),
        ],
    ),
    Function(
        "norms.batch",
        "inference_affine",
        lambda gamma, beta, mean, var, eps: batch.inference_affine(gamma, beta, mean, var, eps=eps),
        {"gamma": G, "beta": B, "mean": X.mean(0), "var": X.var(0), "eps": 1e-5},
        arrays=("gamma", "beta", "mean", "var"),
        scalars={"eps": "real>=0"},
        layout=("gamma", "beta", "mean", "var"),
        extra=[
            ("negative-var", {"var": -np.ones(3)}, err("var")),
            ("zero-var-eps0", {"var": np.zeros(3), "eps": 0.0}, err("var", "eps")),
            ("huge-var", {"var": np.full(3, 1e300), "eps": 0.0}, Ok(lambda: (G / 1e150, B - G / 1e150 * X.mean(0)))),
        ],
    ),
    Function(
        "norms.batch",
        "inference",
        lambda x, gamma, beta, mean, var, eps: batch.inference(x, gamma, beta, mean, var, eps=eps),
        {"x": X, "gamma": G, "beta": B, "mean": X.mean(0), "var": X.var(0), "eps": 1e-5},
        arrays=("x", "gamma", "beta", "mean", "var"),
        scalars={"eps": "real>=0"},
        layout=("x", "gamma", "beta", "mean", "var"),
        empty=False,
        extra=[
            ("batch-of-one", {"x": X[:1]}, Ok(lambda: batch.inference(X, G, B, X.mean(0), X.var(0))[:1])),
            ("empty-batch", {"x": X[:0]}, Ok(lambda: X[:0])),
            ("empty-gamma", {"gamma": G[:0]}, err("gamma")),
            ("one-dim", {"x": X[:, 0]}, err("x")),
            ("oracle", {}, Ok(lambda: _bn_ref(X, G, B, 1e-5))),
        ],
    ),
    Function(
        "norms.batch",
        "fuse_linear",
        lambda W, b, gamma, beta, running_mean, running_var, eps: batch.fuse_linear(
            W, b, gamma, beta, running_mean, running_var, eps=eps
        ),
        {
            "W": _normal(3, 4),
            "b": _normal(3),
            "gamma": G,
            "beta": B,
            "running_mean": X.mean(0),
            "running_var": X.var(0),
            "eps": 1e-5,
        },
        arrays=("W", "b", "gamma", "beta", "running_mean", "running_var"),
        optional=("b",),
        free_shape=("W",),
        scalars={"eps": "real>=0"},
        layout=("W", "b", "gamma", "beta", "running_mean", "running_var"),
        extra=[
            ("three-dim-W", {"W": _normal(3, 4, 1)}, err("W")),
            (
                "no-bias",
                {"b": None},
                Ok(
                    lambda: batch.fuse_linear(
                        np.asarray(FUNCTIONS_BY_NAME["fuse_linear"].defaults["W"]),
                        np.zeros(3),
                        G,
                        B,
                        X.mean(0),
                        X.var(0),
                    )
                ),
            ),
        ],
    ),
    Function(
        "norms.batch",
        "fuse_conv",
        lambda K, b, gamma, beta, running_mean, running_var, eps: batch.fuse_conv(
            K, b, gamma, beta, running_mean, running_var, eps=eps
        ),
        {
            "K": _normal(3, 2, 3, 3),
            "b": _normal(3),
            "gamma": G,
            "beta": B,
            "running_mean": X.mean(0),
            "running_var": X.var(0),
            "eps": 1e-5,
        },
        arrays=("K", "b", "gamma", "beta", "running_mean", "running_var"),
        optional=("b",),
        free_shape=("K",),
        scalars={"eps": "real>=0"},
        layout=("K", "b", "gamma", "beta", "running_mean", "running_var"),
        extra=[("two-dim-K", {"K": _normal(3, 2)}, err("K"))],
    ),
    # --- norms.group, layer, standardize, weight ----------------------------------------------------
    Function(
        "norms.group",
        "group_norm",
        lambda x, groups, gamma, beta, eps: group.group_norm(x, groups, gamma, beta, eps=eps)[0],
        {"x": X4, "groups": 2, "gamma": G6, "beta": B6, "eps": 1e-5},
        arrays=("x", "gamma", "beta"),
        free_shape=("x",),
        optional=("gamma", "beta"),
        scalars={"groups": "int>=1", "eps": "real>=0"},
        layout=("x", "gamma", "beta"),
        extra=[
            ("groups-not-dividing", {"groups": 4}, err("groups")),
            ("zero-variance-eps0", {"x": np.ones((4, 6, 3)), "eps": 0.0}, err("x")),
            ("huge-1e300", {"x": X4 * 1e300}, err("x")),
            (
                "huge-1e150",
                {"x": X4 * 1e150, "eps": 0.0},
                Ok(lambda: group.group_norm(X4, 2, G6, B6, eps=0.0)[0], rtol=1e-9),
            ),
            ("batch-of-one", {"x": X4[:1]}, Ok(lambda: group.group_norm(X4, 2, G6, B6)[0][:1])),
        ],
    ),
    Function(
        "norms.group",
        "instance_norm",
        lambda x, gamma, beta, eps: instance_norm_y(x, gamma, beta, eps),
        {"x": X4, "gamma": G6, "beta": B6, "eps": 1e-5},
        arrays=("x", "gamma", "beta"),
        optional=("gamma", "beta"),
        free_shape=("x",),
        scalars={"eps": "real>=0"},
        layout=("x", "gamma", "beta"),
        extra=[
            ("no-spatial", {"x": _normal(4, 6)}, err("x")),
            ("huge-1e300", {"x": X4 * 1e300}, err("x")),
        ],
    ),
    Function(
        "norms.layer",
        "layer_norm",
        lambda x, normalized_shape, gamma, beta, eps: layer.layer_norm(x, normalized_shape, gamma, beta, eps=eps)[0],
        {"x": X4, "normalized_shape": 3, "gamma": np.ones(3) * 1.5, "beta": np.full(3, 0.5), "eps": 1e-5},
        arrays=("x", "gamma", "beta"),
        optional=("gamma", "beta"),
        scalars={"eps": "real>=0"},
        layout=("x", "gamma", "beta"),
        extra=[
            ("normalized-shape-wrong", {"normalized_shape": 4}, err("normalized_shape")),
            ("normalized-shape-str", {"normalized_shape": "3"}, err("normalized_shape")),
            ("normalized-shape-none", {"normalized_shape": None}, err("normalized_shape")),
            (
                "one-value",
                {"x": X4[..., :1], "normalized_shape": 1, "gamma": None, "beta": None},
                err("normalized_shape"),
            ),
            ("zero-variance-eps0", {"x": np.ones((4, 6, 3)), "eps": 0.0}, err("x")),
            ("huge-1e300", {"x": X4 * 1e300}, err("x")),
            (
                "torch-oracle",
                {},
                Ok(
                    lambda: torch.nn.functional.layer_norm(
                        torch.from_numpy(X4),
                        (3,),
                        torch.ones(3, dtype=torch.float64) * 1.5,
                        torch.full((3,), 0.5, dtype=torch.float64),
                        1e-5,
                    )
                ),
            ),
        ],
    ),
    Function(
        "norms.layer",
        "rms_norm",
        lambda x, normalized_shape, gamma, eps: layer.rms_norm(x, normalized_shape, gamma, eps=eps)[0],
        {"x": X4, "normalized_shape": 3, "gamma": np.ones(3) * 1.5, "eps": 1e-6},
        arrays=("x", "gamma"),
        optional=("gamma",),
        layout=("x", "gamma"),
        extra=[
            ("eps-nan", {"eps": np.nan}, err("eps")),
            ("eps-negative", {"eps": -1e-6}, err("eps")),
            ("eps-str", {"eps": "1e-6"}, err("eps")),
            (
                "eps-none",
                {"eps": None},
                Ok(
                    lambda: torch.nn.functional.rms_norm(
                        torch.from_numpy(X4), (3,), torch.ones(3, dtype=torch.float64) * 1.5
                    )
                ),
            ),
            ("zero-eps0", {"x": np.zeros((4, 6, 3)), "eps": 0.0}, err("x")),
            ("huge-1e300", {"x": X4 * 1e300}, err("x")),
        ],
    ),
    Function(
        "norms.standardize",
        "standardize",
        lambda x, grouped, axes, eps, center, xp: standardize.standardize(x, grouped, axes, eps, center, xp=xp),
        {
            "x": X4,
            "grouped": (4, 6, 3),
            "axes": (2,),
            "eps": 1e-5,
            "center": True,
            "xp": importlib.import_module("array_api_compat.numpy"),
        },
        arrays=("x",),
        scalars={"eps": "real>=0", "center": "bool"},
        empty=False,
        portable=False,
        extra=[
            ("grouped-wrong-size", {"grouped": (4, 6, 4)}, err("grouped")),
            ("axes-out-of-range", {"axes": (5,)}, err("axes")),
            ("xp-none", {"xp": None}, err("xp")),
            ("oracle", {}, Ok(lambda: layer.layer_norm(X4, 3)[1][:2])),
        ],
    ),
    Function(
        "norms.standardize",
        "backward",
        _ln_bwd,
        {"dy": X4, "x": X4},
        arrays=("dy",),
        layout=("dy", "x"),
        extra=[
            ("cache-none", lambda: standardize.backward(X4, None), err("cache")),
            ("bn-cache", lambda: standardize.backward(DY, batch.forward(X, G, B)[1]), err("cache")),
            ("huge-dy", {"dy": X4 * 1e300}, Ok(lambda: (1e300 * _ln_bwd()[0], None, None))),
            ("group-norm", lambda: _gn_bwd(), Ok(lambda: _gn_bwd(np.asfortranarray(X4), np.asfortranarray(X4)))),
            ("torch-oracle", {}, Ok(lambda: _torch_ln_grad())),
        ],
    ),
    Function(
        "norms.standardize",
        "sum_over",
        lambda a, axes, xp: standardize.sum_over(a, axes, xp=xp),
        {"a": X4, "axes": (0, 2), "xp": importlib.import_module("array_api_compat.numpy")},
        arrays=("a",),
        free_shape=("a",),
        layout=("a",),
        empty=False,
        portable=False,
        extra=[
            ("axes-out-of-range", {"axes": (3,)}, err("axes")),
            ("axes-str", {"axes": "0"}, err("axes")),
            ("no-axes", {"axes": ()}, Ok(lambda: X4)),
            ("oracle", {}, Ok(lambda: X4.sum(axis=(0, 2)))),
        ],
    ),
    Function(
        "norms.weight",
        "weight_norm",
        lambda v, g, dim: weight.weight_norm(v, g, dim=dim)[0],
        {"v": X[:3], "g": G, "dim": 0},
        arrays=("v", "g"),
        layout=("v", "g"),
        free_shape=("v",),
        extra=[
            ("dim-out-of-range", {"dim": 2}, err("dim")),
            ("dim-str", {"dim": "0"}, err("dim")),
            ("zero-slice", {"v": np.zeros((3, 3))}, err("v")),
            ("empty-slices", {"v": X[:3, :0]}, err("v")),
            ("huge-1e300", {"v": X[:3] * 1e300}, Ok(lambda: weight.weight_norm(X[:3], G)[0])),
            ("tiny-1e-300", {"v": X[:3] * 1e-300}, Ok(lambda: weight.weight_norm(X[:3], G)[0])),
            ("torch-oracle", {}, Ok(lambda: G[:, None] * X[:3] / np.linalg.norm(X[:3], axis=1, keepdims=True))),
        ],
    ),
    Function(
        "norms.weight",
        "weight_norm_backward",
        _wn_bwd,
        {"dw": DY[:3], "v": X[:3]},
        arrays=("dw",),
        layout=("dw", "v"),
        extra=[
            ("cache-none", lambda: weight.weight_norm_backward(X, None), err("cache")),
            ("huge-dw", {"dw": DY[:3] * 1e300}, Ok(lambda: tuple(1e300 * g for g in _wn_bwd()))),
        ],
    ),
    # --- landscape ---------------------------------------------------------------------------------
    Function(
        "landscape.covariate_shift",
        "internal_covariate_shift",
        _ics,
        {"params0": X, "params1": PARAMS1, "lr": 0.1},
        arrays=("params0", "params1"),
        aliases={"params0": "params[0]", "params1": "params[1]"},
        free_shape=("params0", "params1"),
        scalars={"lr": "real>=0", "gradients": "callable"},
        layout=("params0", "params1"),
        empty=False,
        extra=[
            ("params-empty", lambda: covariate_shift.internal_covariate_shift(lambda ps: ps, [], 0.1), err("params")),
            ("params-none", lambda: covariate_shift.internal_covariate_shift(lambda ps: ps, None, 0.1), err("params")),
            (
                "params-one-array",
                lambda: covariate_shift.internal_covariate_shift(lambda ps: ps, X, 0.1),
                err("params"),
            ),
            ("wrong-count", {"gradients": lambda ps: ps[:1]}, err("gradients")),
            # Layer 1's gradient 2 W_1 does not depend on layer 0: no shift at all.
            ("oracle", {}, Ok(lambda: covariate_shift.CovariateShift(np.array([0.0, 0.0]), np.array([1.0, 1.0])))),
        ],
    ),
    Function(
        "landscape.measures",
        "probe_gradient_direction",
        _probe,
        {"theta": THETA, "etas": (0.1, 0.2)},
        arrays=("theta",),
        scalars={"loss_and_grad": "callable"},
        layout=("theta",),
        empty=False,
        free_shape=("theta",),
        extra=[
            ("etas-empty", {"etas": ()}, err("etas")),
            ("etas-negative", {"etas": (-0.1,)}, err("etas")),
            ("etas-nan", {"etas": (np.nan,)}, err("etas")),
            ("etas-inf", {"etas": (np.inf,)}, err("etas")),
            ("etas-str", {"etas": "0.1"}, err("etas")),
            ("etas-none", {"etas": None}, err("etas")),
            ("zero-gradient", {"theta": np.zeros(4)}, err("theta")),
            ("bad-return", {"loss_and_grad": lambda t: t}, err("loss_and_grad")),
        ],
    ),
    Function(
        "landscape.jacobian",
        "bn_jacobian",
        lambda x, gamma, eps: jacobian.bn_jacobian(x, gamma, eps=eps),
        {"x": X, "gamma": G, "eps": 0.0},
        arrays=("x", "gamma"),
        scalars={"eps": "real>=0"},
        layout=("x", "gamma"),
        extra=[
            ("batch-of-one", {"x": X[:1]}, err("x")),
            ("image", {"x": X4}, err("x")),
            ("zero-variance-eps0", {"x": np.ones((8, 3))}, err("x")),
            ("huge-1e300", {"x": X * 1e300}, err("x")),
            ("torch-oracle", {}, Ok(lambda: _torch_jacobian())),
        ],
    ),
    Function(
        "landscape.jacobian",
        "bn_jacobian_eigenvalues",
        lambda x, gamma, eps: jacobian.bn_jacobian_eigenvalues(x, gamma, eps=eps),
        {"x": X, "gamma": G, "eps": 1e-3},
        arrays=("x", "gamma"),
        scalars={"eps": "real>=0"},
        layout=("x", "gamma"),
        extra=[
            ("batch-of-one", {"x": X[:1]}, err("x")),
            ("zero-variance-eps0", {"x": np.ones((8, 3)), "eps": 0.0}, err("x")),
            ("huge-1e300", {"x": X * 1e300}, err("x")),
            (
                "oracle",
                {},
                Ok(lambda: np.sort(np.linalg.eigvalsh(jacobian.bn_jacobian(X, G, eps=1e-3)), axis=1), atol=1e-12),
            ),
        ],
    ),
    Function(
        "landscape.jacobian",
        "jacobian_deviation",
        lambda sigma, gamma, eps: jacobian.jacobian_deviation(sigma, gamma, eps),
        {"sigma": 0.7, "gamma": 1.3, "eps": 1e-3},
        scalars={"sigma": "real>0", "gamma": "real", "eps": "real>=0"},
        extra=[
            (
                "numpy-scalars",
                {"sigma": np.float32(0.5), "gamma": np.float64(1.0)},
                Ok(lambda: jacobian.jacobian_deviation(0.5, 1.0, 1e-3)),
            )
        ],
    ),
    Function(
        "landscape.lipschitz",
        "gradient_norm_bound",
        lambda g, y, gamma, eps: lipschitz.gradient_norm_bound(g, y, gamma, eps=eps),
        {"g": DY, "y": X, "gamma": G, "eps": 0.0},
        arrays=("g", "y", "gamma"),
        scalars={"eps": "real>=0"},
        layout=("g", "y", "gamma"),
        extra=[
            ("gamma-float", {"gamma": 1.5}, Ok(lambda: lipschitz.gradient_norm_bound(DY, X, np.full(3, 1.5)))),
            ("gamma-nan-float", {"gamma": np.nan}, err("gamma")),
            ("batch-of-one", {"g": DY[:1], "y": X[:1]}, err("y", "g")),
            ("zero-variance-eps0", {"y": np.ones((8, 3))}, err("y")),
            ("huge-y", {"y": X * 1e300}, err("y")),
            (
                "one-unit",
                {"g": DY[:, 0], "y": X[:, 0], "gamma": 1.2},
                Ok(lambda: lipschitz.gradient_norm_bound(DY, X, np.full(3, 1.2))[0]),
            ),
        ],
    ),
    Function(
        "landscape.lipschitz",
        "hessian_form_bound",
        lambda v, hessian, g, y, gamma, eps: lipschitz.hessian_form_bound(v, hessian, g, y, gamma, eps=eps),
        {"v": DY, "hessian": _normal(8, 8, 3), "g": DY[::-1].copy(), "y": X, "gamma": G, "eps": 0.0},
        arrays=("v", "hessian", "g", "y", "gamma"),
        scalars={"eps": "real>=0"},
        layout=("v", "hessian", "g", "y", "gamma"),
        extra=[
            ("hessian-not-square", {"hessian": _normal(8, 7, 3)}, err("hessian")),
            ("huge-y", {"y": X * 1e300}, err("y")),
        ],
    ),
    Function(
        "landscape.lipschitz",
        "weight_gradient_bound",
        lambda g, y, gamma, lam, eps: lipschitz.weight_gradient_bound(g, y, gamma, lam, eps=eps),
        {"g": DY, "y": X, "gamma": G, "lam": 2.0, "eps": 0.0},
        arrays=("g", "y", "gamma"),
        scalars={"lam": "real>=0", "eps": "real>=0"},
        layout=("g", "y", "gamma"),
        extra=[("oracle", {}, Ok(lambda: 4.0 * lipschitz.gradient_norm_bound(DY, X, G)))],
    ),
    Function(
        "landscape.lipschitz",
        "rescaling_distance_bound",
        lambda w0, w_star: lipschitz.rescaling_distance_bound(w0, w_star),
        {"w0": _normal(4), "w_star": _normal(4)},
        arrays=("w0", "w_star"),
        layout=("w0", "w_star"),
        extra=[
            ("zero-w-star", {"w_star": np.zeros(4)}, err("w_star")),
            ("stack", {"w0": _normal(4, 3), "w_star": _normal(4, 3)}, Ok(lambda: None)),  # replaced below
            ("huge", {"w0": np.full(4, 1e200), "w_star": np.full(4, 1e200)}, Ok(lambda: 0.0, atol=1e190)),
        ],
    ),
    Function(
        "landscape.lipschitz",
        "group_gradient_norm_bound",
        lambda delta, x, gamma, eps, center: lipschitz.group_gradient_norm_bound(
            delta, x, gamma, eps=eps, center=center
        ),
        {"delta": GD, "x": GX, "gamma": GGAIN, "eps": 0.0, "center": True},
        arrays=("delta", "x", "gamma"),
        scalars={"eps": "real>=0", "center": "bool"},
        layout=("delta", "x", "gamma"),
        rtol=1e-7,
        extra=[
            ("oracle", {}, Ok(lambda: _group_bound_ref(GD, GX, np.tile(GGAIN, (3, 1)), 0.0, True))),
            ("oracle-eps", {"eps": 0.3}, Ok(lambda: _group_bound_ref(GD, GX, np.tile(GGAIN, (3, 1)), 0.3, True))),
            ("rms-oracle", {"center": False}, Ok(lambda: _group_bound_ref(GD, GX, np.tile(GGAIN, (3, 1)), 0.0, False))),
            ("gamma-float", {"gamma": 1.5}, Ok(lambda: _group_bound_ref(GD, GX, np.full((3, 5), 1.5), 0.0, True))),
            (
                "gamma-numpy-scalar",
                {"gamma": np.float32(1.5)},
                Ok(lambda: _group_bound_ref(GD, GX, np.full((3, 5), 1.5), 0.0, True)),
            ),
            (
                "gamma-per-entry",
                {"gamma": np.tile(GGAIN, (3, 1))},
                Ok(lambda: _group_bound_ref(GD, GX, np.tile(GGAIN, (3, 1)), 0.0, True)),
            ),
            ("gamma-nan-float", {"gamma": np.nan}, err("gamma")),
            ("gamma-str", {"gamma": "1"}, err("gamma")),
            ("gamma-too-many-axes", {"gamma": np.ones((2, 3, 5))}, err("gamma")),
            (
                "one-group",
                {"delta": GD[0], "x": GX[0]},
                Ok(lambda: _group_bound_ref(GD, GX, np.tile(GGAIN, (3, 1)), 0.0, True)[0]),
            ),
            (
                "batch-of-one",
                {"delta": GD[:1], "x": GX[:1]},
                Ok(lambda: _group_bound_ref(GD, GX, np.tile(GGAIN, (3, 1)), 0.0, True)[:1]),
            ),
            (
                "stack",
                {"delta": np.stack([GD, GD[::-1]]), "x": np.stack([GX, GX[::-1]])},
                Ok(
                    lambda: np.stack(
                        [
                            _group_bound_ref(d, x, np.tile(GGAIN, (3, 1)), 0.0, True)
                            for d, x in ((GD, GX), (GD[::-1], GX[::-1]))
                        ]
                    )
                ),
            ),
            ("group-of-one", {"delta": GD[:, :1], "x": GX[:, :1], "gamma": 1.0}, err("x")),
            (
                "rms-group-of-one",
                {"delta": GD[:, :1], "x": GX[:, :1], "gamma": 1.0, "center": False},
                Ok(lambda: np.zeros(3), atol=1e-12),
            ),
            ("zero-variance-eps0", {"x": np.ones((3, 5))}, err("x")),
            (
                "zero-variance-eps>0",
                {"x": np.ones((3, 5)), "eps": 0.1},
                Ok(lambda: _group_bound_ref(GD, np.zeros((3, 5)), np.tile(GGAIN, (3, 1)), 0.1, True)),
            ),
            ("huge-x", {"x": GX * 1e300}, err("x")),
            (
                "huge-x-1e150",
                {"x": GX * 1e150},
                Ok(lambda: _group_bound_ref(GD, GX, np.tile(GGAIN, (3, 1)), 0.0, True) * 1e-300),
            ),
            ("huge-delta", {"delta": GD * 1e300}, err("delta")),
            ("zero-dim", {"delta": np.float64(1.0), "x": np.float64(2.0)}, err("x")),
        ],
    ),
    Function(
        "landscape.lipschitz",
        "group_hessian_form",
        lambda v, hessian, grad, x, gamma, eps, center: lipschitz.group_hessian_form(
            v, hessian, grad, x, gamma, eps=eps, center=center
        ),
        {"v": GV, "hessian": GH, "grad": GD, "x": GX, "gamma": GGAIN, "eps": 0.0, "center": True},
        arrays=("v", "hessian", "grad", "x", "gamma"),
        scalars={"eps": "real>=0", "center": "bool"},
        layout=("v", "hessian", "grad", "x", "gamma"),
        rtol=1e-7,
        extra=[
            (
                "bn-oracle",
                {"gamma": -0.8, "eps": 0.2},
                Ok(
                    lambda: np.array(
                        [
                            lipschitz.hessian_form_bound(a, h, b, y, -0.8, eps=0.2)
                            for a, h, b, y in zip(GV, GH, GD, GX, strict=True)
                        ]
                    )
                ),
            ),
            ("hessian-not-square", {"hessian": GH[..., :4, :]}, err("hessian")),
            ("hessian-of-one-group", {"hessian": GH[0]}, err("hessian")),
            ("gamma-nan-float", {"gamma": np.nan}, err("gamma")),
            ("zero-variance-eps0", {"x": np.ones((3, 5))}, err("x")),
            ("huge-x", {"x": GX * 1e300}, err("x")),
            ("huge-hessian", {"hessian": GH * 1e300, "v": GV * 1e10}, err("hessian", "v")),
            (
                "one-group",
                {"v": GV[0], "hessian": GH[0], "grad": GD[0], "x": GX[0]},
                Ok(lambda: lipschitz.group_hessian_form(GV, GH, GD, GX, GGAIN)[0]),
            ),
        ],
    ),
    Function(
        "landscape.lipschitz",
        "weight_norm_gradient_norm",
        lambda dw, v, g: lipschitz.weight_norm_gradient_norm(dw, v, g),
        {"dw": WN_DW, "v": WN_V, "g": WN_G},
        arrays=("dw", "v", "g"),
        layout=("dw", "v", "g"),
        shape_names=("g",),
        extra=[
            ("torch-oracle", {}, Ok(lambda: _torch_weight_norm_grad(WN_DW, WN_V, WN_G))),
            ("g-float", {"g": 1.5}, Ok(lambda: _torch_weight_norm_grad(WN_DW, WN_V, np.full(3, 1.5)))),
            ("g-nan-float", {"g": np.nan}, err("g")),
            ("g-str", {"g": "1"}, err("g")),
            ("g-wrong-length", {"g": WN_G[:2]}, err("g")),
            ("zero-row", {"v": np.vstack([WN_V[:2], np.zeros((1, 4))])}, err("v")),
            (
                "one-row",
                {"dw": WN_DW[0], "v": WN_V[0], "g": 2.0},
                Ok(lambda: _torch_weight_norm_grad(WN_DW, WN_V, np.full(3, 2.0))[0]),
            ),
            ("huge-v", {"v": WN_V * 1e200}, Ok(lambda: _torch_weight_norm_grad(WN_DW, WN_V, WN_G) * 1e-200 * 1e-200)),
            ("tiny-v", {"v": WN_V * 1e-200}, err("v")),
            ("tiny-v-1e-100", {"v": WN_V * 1e-100}, Ok(lambda: _torch_weight_norm_grad(WN_DW, WN_V, WN_G) * 1e200)),
            ("huge-dw", {"dw": WN_DW * 1e300}, err("dw")),
            ("huge-dw-1e150", {"dw": WN_DW * 1e150}, Ok(lambda: _torch_weight_norm_grad(WN_DW, WN_V, WN_G) * 1e300)),
        ],
    ),
    Function(
        "landscape.deep_linear",
        "init_weights",
        lambda rng, depth, d_in, width, d_out: deep_linear.init_weights(rng, depth, d_in, width, d_out),
        {"rng": np.random.default_rng(0), "depth": 3, "d_in": 4, "width": 5, "d_out": 2},
        scalars={"rng": "rng", "depth": "int>=2", "d_in": "int>=1", "width": "int>=1", "d_out": "int>=1"},
        extra=[("shapes", {}, Ok(lambda: deep_linear.init_weights(np.random.default_rng(0), 3, 4, 5, 2)))],
    ),
    Function(
        "landscape.deep_linear",
        "regression_problem",
        lambda rng, depth, width, n: deep_linear.regression_problem(rng, depth=depth, width=width, n=n),
        {"rng": np.random.default_rng(0), "depth": 3, "width": 4, "n": 6},
        scalars={"rng": "rng", "depth": "int>=2", "width": "int>=1", "n": "int>=1"},
    ),
    Function(
        "landscape.deep_linear",
        "draw_noise",
        lambda rng, n, width, depth, strength: deep_linear.draw_noise(rng, n, width, depth, strength=strength),
        {"rng": np.random.default_rng(0), "n": 6, "width": 4, "depth": 3, "strength": 0.25},
        scalars={"rng": "rng", "n": "int>=1", "width": "int>=1", "depth": "int>=2", "strength": "real>=0"},
    ),
    Function(
        "landscape.deep_linear",
        "loss_and_gradients",
        _dln_loss,
        {"X": DLN_X, "Y": DLN_Y, "W0": DLN_W[0]},
        aliases={"W0": "weights[0]"},
        shape_names=("weights[1]",),
        arrays=("X", "Y", "W0"),
        scalars={"variant": "choice"},
        layout=("X", "Y", "W0"),
        portable=False,
        half=False,
        extra=[
            ("noise-missing", {"variant": "bn_noise"}, err("noise")),
            ("noise-short", {"variant": "bn_noise", "noise": DLN_NOISE[:1]}, err("noise")),
            ("noise-nan", {"variant": "bn_noise", "noise": [_with_nan(DLN_NOISE[0]), DLN_NOISE[1]]}, err("noise[0]")),
            ("weights-empty", lambda: deep_linear.loss_and_gradients([], DLN_X, DLN_Y), err("weights")),
            ("weights-one-array", lambda: deep_linear.loss_and_gradients(DLN_W[0], DLN_X, DLN_Y), err("weights")),
            (
                "weights-chain",
                lambda: deep_linear.loss_and_gradients([DLN_W[2], DLN_W[2]], DLN_X, DLN_Y),
                err("weights[1]", "weights"),
            ),
            ("batch-of-one-bn", {"X": DLN_X[:1], "Y": DLN_Y[:1]}, err("X")),
            (
                "batch-of-one-standard",
                {"X": DLN_X[:1], "Y": DLN_Y[:1], "variant": "standard"},
                Ok(lambda: _dln_loss(X=np.array(DLN_X[:1]), Y=np.array(DLN_Y[:1]), variant="standard")),
            ),
        ],
    ),
    Function(
        "landscape.deep_linear",
        "shifted_layer_gradient",
        _dln_shifted,
        {"X": DLN_X, "Y": DLN_Y, "W0": DLN_W[0]},
        aliases={"W0": "weights[0]"},
        shape_names=("weights[1]",),
        arrays=("X", "Y", "W0"),
        scalars={"variant": "choice"},
        layout=("X", "Y", "W0"),
        portable=False,
        half=False,
        extra=[
            (
                "oracle",
                {},
                Ok(
                    lambda: deep_linear.loss_and_gradients([DLN_W[0] * 0.9, *DLN_W[1:]], DLN_X, DLN_Y, variant="bn")[1][
                        1
                    ]
                ),
            )
        ],
    ),
    Function(
        "landscape.deep_linear",
        "flatten",
        lambda weights: deep_linear.flatten(weights),
        {"weights": DLN_W},
        extra=[
            ("empty", {"weights": []}, err("weights")),
            ("none", {"weights": None}, err("weights")),
            ("one-array", {"weights": DLN_W[0]}, err("weights")),
            ("lists", {"weights": [w.tolist() for w in DLN_W]}, err("weights[0]")),
            ("torch", {"weights": [_torch(w) for w in DLN_W]}, err("weights[0]")),
            ("oracle", {}, Ok(lambda: np.concatenate([w.reshape(-1) for w in DLN_W]))),
        ],
    ),
    Function(
        "landscape.deep_linear",
        "unflatten",
        lambda theta, like: deep_linear.unflatten(theta, like),
        {"theta": deep_linear.flatten(DLN_W), "like": DLN_W},
        arrays=("theta",),
        portable=False,
        empty=False,
        extra=[
            ("too-short", {"theta": deep_linear.flatten(DLN_W)[:-1]}, err("theta")),
            ("like-none", {"like": None}, err("like")),
            ("oracle", {}, Ok(lambda: DLN_W)),
        ],
    ),
    Function(
        "landscape.deep_linear",
        "train",
        _train,
        {"seed": 0, "variant": "bn"},
        scalars={
            "seed": "int>=0",
            "variant": "choice",
            "depth": "int>=2",
            "width": "int>=1",
            "n": "int>=2",
            "steps": "int>=1",
            "lr": "real>0",
            "measure_every": "int>=1",
            "noise_strength": "real>=0",
        },
        extra=[
            ("eta-multiples-empty", {"eta_multiples": ()}, err("eta_multiples")),
            ("eta-multiples-negative", {"eta_multiples": (-1.0,)}, err("eta_multiples")),
            ("deterministic", {}, Ok(lambda: _train())),
        ],
    ),
    Function(
        "landscape.deep_linear",
        "experiment",
        _experiment,
        {"seeds": (0,), "lrs": (0.05,), "variants": ("bn",)},
        extra=[
            ("seeds-none", {"seeds": None}, err("seeds")),
            ("seeds-negative", {"seeds": (-1,)}, err("seeds", "seed")),
            ("lrs-str", {"lrs": "0.1"}, err("lrs", "lr")),
            ("lrs-negative", {"lrs": (-0.1,)}, err("lrs", "lr")),
            ("variants-unknown", {"variants": ("relu",)}, err("variants", "variant")),
            ("variants-str", {"variants": "bn"}, err("variants", "variant")),
        ],
    ),
    Function(
        "landscape.deep_linear",
        "paired_experiment",
        _paired,
        {"problems_": 1, "lrs": (0.05,)},
        scalars={"problems_": "int>=1"},
        extra=[
            ("rng-none", lambda: deep_linear.paired_experiment(None, 1, (0.05,), **SMALL_TRAIN), err("rng")),
            ("rng-seed", lambda: deep_linear.paired_experiment(3, 1, (0.05,), **SMALL_TRAIN), err("rng")),
            (
                "problems-zero",
                lambda: deep_linear.paired_experiment(np.random.default_rng(0), 0, (0.05,)),
                err("problems"),
            ),
        ],
    ),
    Function(
        "landscape.deep_linear",
        "paired_frequency",
        _freq,
        {},
        scalars={"holds": "callable", "figure": "callable"},
        extra=[
            ("unknown-variant", {"a": "bn_noise"}, err("a")),
            ("runs-none", {"runs": None}, err("runs")),
            ("runs-empty", {"runs": {}}, err("runs", "a")),
            ("oracle", {}, Ok(lambda: (2, 2, ["1/1", "1/1"]))),
        ],
    ),
    Function(
        "landscape.deep_linear",
        "fingerprint",
        lambda: deep_linear.fingerprint(),
        {},
        extra=[("stable", {}, Ok(lambda: deep_linear.fingerprint()))],
    ),
    # --- optim ------------------------------------------------------------------------------------
    Function(
        "optim.gdnp",
        "spd_extremes",
        lambda S: gdnp.spd_extremes(S),
        {"S": S5},
        arrays=("S",),
        layout=("S",),
        half=False,
        rtol=1e-9,
        extra=[
            ("not-square", {"S": S5[:, :4]}, err("S")),
            ("not-symmetric", {"S": S5 + np.triu(np.ones((5, 5)), 1)}, err("S")),
            ("singular", {"S": np.zeros((5, 5))}, err("S")),
            ("huge", {"S": S5 * 1e300}, Ok(lambda: tuple(v * 1e300 for v in gdnp.spd_extremes(S5)))),
        ],
    ),
    Function(
        "optim.gdnp",
        "rayleigh_quotient",
        lambda w, u, S: gdnp.rayleigh_quotient(w, u, S),
        {"w": W5, "u": U5, "S": S5},
        arrays=("w", "u", "S"),
        layout=("w", "u", "S"),
        half=False,
        extra=[
            ("zero-w", {"w": np.zeros(5)}, err("w")),
            ("huge-w", {"w": W5 * 1e300}, Ok(lambda: gdnp.rayleigh_quotient(W5, U5, S5))),
            ("oracle", {}, Ok(lambda: -((U5 @ W5) ** 2) / (W5 @ S5 @ W5))),
        ],
    ),
    Function(
        "optim.gdnp",
        "bisection",
        lambda dg, a, b, steps: gdnp.bisection(dg, a, b, steps),
        {"dg": lambda g: g - 0.3, "a": 0.0, "b": 1.0, "steps": 10},
        scalars={"dg": "callable", "a": "real", "b": "real", "steps": "int>=0"},
        extra=[
            ("not-bracketing", {"a": 0.5}, err("a", "bisection")),
            ("oracle", {"steps": 2}, Ok(lambda: (0.25, 0.25))),
        ],
    ),
    Function(
        "optim.gdnp",
        "direction_gradient",
        lambda problem, w, g: gdnp.direction_gradient(problem, w, g),
        {"problem": LS, "w": W5, "g": 1.3},
        arrays=("w",),
        scalars={"g": "real"},
        portable=False,
        extra=[
            ("strided", {"w": _strided(W5)}, Ok(lambda: gdnp.direction_gradient(LS, W5, 1.3))),
            ("float32", {"w": W5.astype(np.float32)}, err("w")),
            ("problem-none", {"problem": None}, err("problem")),
            ("zero-w", {"w": np.zeros(5)}, err("w")),
        ],
    ),
    Function(
        "optim.gdnp",
        "gdnp",
        _gdnp,
        {"w0": W5},
        arrays=("w0",),
        scalars={"T_d": "int>=0", "T_s": "int>=0", "g0": "real"},
        portable=False,
        extra=[
            ("problem-none", {"problem": None}, err("problem")),
            ("orthogonal", {"w0": W5 - (U5 @ W5) / (U5 @ U5) * U5}, err("w0")),
            # Only the direction matters: the start is scaled by a power of two (exactly) into [1/2, 1).
            ("huge-w0", {"w0": np.full(5, 1e300)}, Ok(lambda: _gdnp(w0=np.full(5, np.ldexp(1e300, -997))))),
            ("inf-entry", {"w0": np.array([np.inf, 1, 1, 1, 1])}, err("w0")),
            ("zero-w0", {"w0": np.zeros(5)}, err("w0")),
            ("g0-zero", {"g0": 0.0}, err("g0")),
        ],
    ),
    Function(
        "optim.gdnp",
        "gd",
        lambda w_tilde0, T, step, tol: gdnp.gd(LS, w_tilde0, T=T, step=step, tol=tol),
        {"w_tilde0": W5, "T": 3, "step": 0.1, "tol": 0.0},
        arrays=("w_tilde0",),
        scalars={"T": "int>=0", "tol": "real>=0"},
        portable=False,
        extra=[
            ("problem-none", lambda: gdnp.gd(None, W5), err("problem")),
            ("step-zero", {"step": 0.0}, err("step")),
            ("step-nan", {"step": np.nan}, err("step")),
            ("step-str", {"step": "0.1"}, err("step")),
            ("step-default", {"step": None}, Ok(lambda: gdnp.gd(LS, W5, T=3, step=1 / LS.smoothness))),
        ],
    ),
    Function(
        "optim.gdnp",
        "rayleigh_gd",
        lambda A, B, w0, T: gdnp.rayleigh_gd(A, B, w0, T=T),
        {"A": S5, "B": np.outer(U5, U5), "w0": W5, "T": 3},
        arrays=("A", "B", "w0"),
        scalars={"T": "int>=0"},
        layout=("A", "B", "w0"),
        half=False,
        extra=[
            ("zero-w0", {"w0": np.zeros(5)}, err("w0")),
            ("L-nan", lambda: gdnp.rayleigh_gd(S5, np.outer(U5, U5), W5, L=np.nan), err("L")),
            ("lam-min-str", lambda: gdnp.rayleigh_gd(S5, np.outer(U5, U5), W5, lam_min="0"), err("lam_min")),
        ],
    ),
    Function(
        "optim.gdnp",
        "alternating_gdnp",
        _alternating,
        {"W0": W0_UNITS},
        arrays=("W0",),
        shape_names=("W",),
        scalars={"sweeps": "int>=0", "T_d": "int>=0", "T_s": "int>=0", "unit_problem": "callable"},
        portable=False,
    ),
    Function(
        "optim.gdnp",
        "Problem.of",
        lambda objective, S, u: gdnp.Problem.of(objective, S, u),
        {"objective": _Quadratic(S5, U5), "S": S5, "u": U5},
        arrays=("S", "u"),
        portable=False,
        extra=[
            ("objective-none", {"objective": None}, err("objective")),
            ("zero-u", {"u": np.zeros(5)}, err("u")),
            ("probes-zero", lambda: gdnp.Problem.of(_Quadratic(S5, U5), S5, U5, probes=0), err("probes")),
        ],
    ),
    Function(
        "optim.problems",
        "spd_with_condition",
        lambda rng, d, kappa: problems.spd_with_condition(rng, d, kappa),
        {"rng": np.random.default_rng(0), "d": 4, "kappa": 10.0},
        scalars={"rng": "rng", "d": "int>=1", "kappa": "real>0"},
        extra=[("kappa-below-one", {"kappa": 0.5}, err("kappa"))],
    ),
    Function(
        "optim.problems",
        "least_squares_moments",
        lambda S, u, yy: _ls_summary(problems.least_squares_moments(S, u, yy)),
        {"S": S5, "u": U5, "yy": 1.0},
        arrays=("S", "u"),
        scalars={"yy": "real"},
        layout=("S", "u"),
        half=False,
    ),
    Function(
        "optim.problems",
        "least_squares",
        lambda X, y: _ls_summary(problems.least_squares(X, y)),
        {"X": _normal(20, 4), "y": _normal(20)},
        arrays=("X", "y"),
        layout=("X", "y"),
        half=False,
        free_shape=("X",),
        extra=[("fewer-samples-than-features", {"X": _normal(3, 4), "y": _normal(3)}, err("X"))],
    ),
    Function(
        "optim.problems",
        "halfspace",
        lambda S, u, loss: _ls_summary(problems.halfspace(S, u, loss=loss)),
        {"S": S5, "u": U5, "loss": "softplus"},
        arrays=("S", "u"),
        scalars={"loss": "choice"},
        half=False,
        portable=True,
        layout=("S", "u"),
        extra=[("u-too-large", {"u": U5 * 10}, err("u"))],
    ),
    Function(
        "optim.problems",
        "halfspace_samples",
        lambda Z, loss: _ls_summary(problems.halfspace_samples(Z, loss=loss)),
        {"Z": _normal(20, 4), "loss": "softplus"},
        arrays=("Z",),
        scalars={"loss": "choice"},
        layout=("Z",),
        free_shape=("Z",),
        half=False,
        extra=[("fewer-samples-than-features", {"Z": _normal(3, 4)}, err("Z"))],
    ),
    Function(
        "optim.problems",
        "tanh_mlp_unit",
        lambda S, u, W, theta, unit, loss: _ls_summary(problems.tanh_mlp_unit(S, u, W, theta, unit, loss=loss)),
        {"S": S5, "u": U5, "W": _normal(2, 5), "theta": np.array([1.0, -0.5]), "unit": 0, "loss": "softplus"},
        arrays=("S", "u", "W", "theta"),
        scalars={"loss": "choice"},
        portable=False,
        extra=[
            ("unit-2", {"unit": 2}, err("unit")),
            ("unit-bool", {"unit": True}, err("unit")),
            ("W-three-units", {"W": _normal(3, 5)}, err("W")),
        ],
    ),
    # --- representations --------------------------------------------------------------------------
    Function(
        "representations.layers",
        "alpha",
        lambda n: rep_layers.alpha(n),
        {"n": 4},
        scalars={"n": "int>=2"},
        extra=[("oracle", {}, Ok(lambda: 16 / 10))],
    ),
    Function(
        "representations.layers",
        "apply_steps",
        lambda Z, steps, eps: rep_layers.apply_steps(Z, steps, eps=eps),
        {"Z": HB, "steps": ("rc", "rs", "relu"), "eps": 0.0},
        arrays=("Z",),
        scalars={"eps": "real>=0"},
        free_shape=("Z",),
        layout=("Z",),
        extra=[
            ("steps-str", {"steps": "rc"}, err("steps")),
            ("steps-unknown", {"steps": ("bn",)}, err("steps")),
            ("steps-none", {"steps": None}, err("steps")),
            ("constant-feature-eps0", {"Z": np.ones((5, 4))}, err("Z")),
            ("one-dim", {"Z": HB[0]}, err("Z")),
            ("huge", {"Z": HB * 1e300}, err("Z")),
            ("huge-relu", {"Z": HB * 1e300, "steps": ("relu",)}, Ok(lambda: np.maximum(HB, 0) * 1e300)),
            ("stack", {"Z": HS}, Ok(lambda: np.stack([rep_layers.apply_steps(h, ("rc", "rs", "relu")) for h in HS]))),
        ],
    ),
    *[
        Function(
            "representations.measures",
            name,
            (lambda f: lambda H: f(H))(getattr(rep_measures, name)),
            {"H": HS},
            arrays=("H",),
            layout=("H",),
            half=name in ("gram", "cosine", "orthogonality_gap", "d_max"),
            free_shape=("H",),
            rtol=1e-7,
            extra=[
                ("one-dim", {"H": HB[0]}, err("H")),
                (
                    "huge",
                    {"H": HS * 1e200},
                    err("H")
                    if name == "gram"
                    else Ok((lambda f, k: lambda: _scaled(f(HS), k))(getattr(rep_measures, name), power), rtol=1e-7),
                ),
                (
                    "tiny",
                    {"H": HS * 1e-200},
                    Ok((lambda f, k: lambda: _scaled(f(HS), -k))(getattr(rep_measures, name), power), rtol=1e-7),
                ),
            ],
        )
        for name, power in (
            ("cosine", 0),
            ("d_max", 0),
            ("gram", 2),
            ("orthogonality_gap", 0),
            ("soft_rank", 0),
            ("stable_rank", 0),
        )
    ],
    Function(
        "representations.measures",
        "numerical_rank",
        lambda H, tol: rep_measures.numerical_rank(H, tol),
        {"H": HS, "tol": None},
        arrays=("H",),
        layout=("H",),
        half=False,
        rtol=1e-7,
        scalars={},
        free_shape=("H",),
        extra=[
            ("one-dim", {"H": HB[0]}, err("H")),
            ("tol-negative", {"tol": -1.0}, err("tol")),
            ("tol-nan", {"tol": np.nan}, err("tol")),
            ("tol-str", {"tol": "1e-3"}, err("tol")),
            ("huge", {"H": HS * 1e200}, Ok(lambda: _rank_scaled(rep_measures.numerical_rank(HS), 1e200))),
        ],
    ),
    Function(
        "representations.networks",
        "deep_network",
        lambda H0, depth, steps, rng, variance, residual_gamma, method, normalize, record: networks.deep_network(
            H0,
            depth,
            steps,
            np.random.default_rng(0) if rng == "fresh" else rng,
            variance=variance,
            residual_gamma=residual_gamma,
            method=method,
            normalize=normalize,
            record=record,
        ),
        {
            "H0": HB,
            "depth": 2,
            "steps": ("rc", "rs", "relu"),
            "rng": "fresh",
            "variance": 2.0,
            "residual_gamma": None,
            "method": "weights",
            "normalize": False,
            "record": None,
        },
        arrays=("H0",),
        layout=("H0",),
        half=True,
        rtol=1e-7,
        free_shape=("H0",),
        scalars={"depth": "int>=0", "variance": "real>0", "method": "choice", "normalize": "bool"},
        extra=[
            ("rng-none", {"rng": None}, err("rng")),
            ("rng-seed", {"rng": 0}, err("rng")),
            ("steps-str", {"steps": "rc"}, err("steps")),
            ("steps-unknown", {"steps": ("bn",)}, err("steps")),
            ("residual-nan", {"residual_gamma": np.nan}, err("residual_gamma")),
            ("residual-str", {"residual_gamma": "0.1"}, err("residual_gamma")),
            ("record-number", {"record": 3}, err("record")),
            ("one-dim", {"H0": HB[0]}, err("H0")),
            (
                "huge-normalized",
                {"H0": HB * 1e300, "steps": ("relu",), "normalize": True},
                Ok(
                    lambda: networks.deep_network(
                        HB, 2, ("relu",), np.random.default_rng(0), variance=2.0, normalize=True
                    )
                ),
            ),
            (
                "stack",
                {"H0": HS},
                Ok(lambda: networks.deep_network(HS, 2, ("rc", "rs", "relu"), np.random.default_rng(0), variance=2.0)),
            ),
        ],
    ),
    Function(
        "representations.layers",
        "per_sample_norm",
        lambda Z, kind, groups, eps: rep_layers.per_sample_norm(Z, kind, groups=groups, eps=eps),
        {"Z": HS6, "kind": "layer", "groups": 1, "eps": 0.0},
        arrays=("Z",),
        scalars={"kind": "choice", "groups": "int>=1", "eps": "real>=0"},
        free_shape=("Z",),
        layout=("Z",),
        rtol=1e-7,
        extra=[
            ("torch-oracle", {}, Ok(lambda: _torch_per_sample("layer"))),
            ("rms-oracle", {"kind": "rms"}, Ok(lambda: _torch_per_sample("rms"))),
            ("group-oracle", {"kind": "group", "groups": 2}, Ok(lambda: _torch_per_sample("group", 2))),
            ("groups-not-dividing", {"kind": "group", "groups": 4}, err("groups")),
            ("groups-of-one", {"kind": "group", "groups": 6}, err("Z", "groups")),
            ("one-feature", {"Z": HS6[..., :1, :]}, err("Z")),
            ("one-feature-rms", {"Z": HS6[..., :1, :], "kind": "rms"}, Ok(lambda: np.sign(HS6[..., :1, :]))),
            ("one-dim", {"Z": HS6[0, 0]}, err("Z")),
            ("empty-features", {"Z": HS6[..., :0, :]}, err("Z")),
            ("constant-column-eps0", {"Z": np.ones((6, 4))}, err("Z")),
            ("zero-column-rms-eps0", {"Z": np.zeros((6, 4)), "kind": "rms"}, err("Z")),
            ("huge", {"Z": HS6 * 1e300}, err("Z")),
            ("huge-1e150", {"Z": HS6 * 1e150}, Ok(lambda: _torch_per_sample("layer"))),
            ("batch-of-one", {"Z": HS6[..., :1]}, Ok(lambda: _torch_per_sample("layer")[..., :1])),
        ],
    ),
    Function(
        "representations.networks",
        "paired_networks",
        lambda H0, depth, variants, rng, variance, weights, normalize, record: networks.paired_networks(
            H0,
            depth,
            variants,
            np.random.default_rng(0) if rng == "fresh" else rng,
            variance=variance,
            weights=weights,
            normalize=normalize,
            record=record,
        ),
        {
            "H0": HS6,
            "depth": 2,
            "variants": PAIRED,
            "rng": "fresh",
            "variance": 2.0,
            "weights": "gaussian",
            "normalize": False,
            "record": None,
        },
        arrays=("H0",),
        layout=("H0",),
        rtol=1e-7,
        free_shape=("H0",),
        scalars={"depth": "int>=0", "variance": "real>0", "weights": "choice", "normalize": "bool"},
        extra=[
            ("oracle", {}, Ok(lambda: _paired_ref(HS6))),
            ("rng-none", {"rng": None}, err("rng")),
            ("rng-seed", {"rng": 0}, err("rng")),
            ("record-number", {"record": 3}, err("record")),
            ("variants-none", {"variants": None}, err("variants")),
            ("variants-empty", {"variants": {}}, err("variants")),
            ("variants-list", {"variants": [PAIRED["bn"]]}, err("variants")),
            ("variant-not-mapping", {"variants": {"bn": ("rc",)}}, err("variants")),
            ("variant-name-int", {"variants": {0: {"steps": ("relu",)}}}, err("variants")),
            ("unknown-keyword", {"variants": {"bn": {"step": ("rc",)}}}, err("variants")),
            ("unknown-step", {"variants": {"bn": {"steps": ("bn",)}}}, err("variants")),
            ("steps-str", {"variants": {"bn": {"steps": "rc"}}}, err("variants")),
            ("per-sample-unknown", {"variants": {"x": {"per_sample": "batch"}}}, err("variants")),
            ("groups-zero", {"variants": {"g": {"per_sample": "group", "groups": 0}}}, err("variants")),
            ("groups-not-dividing", {"variants": {"g": {"per_sample": "group", "groups": 4}}}, err("variants")),
            ("groups-str", {"variants": {"g": {"per_sample": "group", "groups": "2"}}}, err("variants")),
            ("weight-norm-str", {"variants": {"w": {"weight_norm": "yes"}}}, err("variants")),
            ("one-dim", {"H0": HS6[0, 0]}, err("H0")),
            ("depth-zero", {"depth": 0}, Ok(lambda: (HS6,) * len(PAIRED))),
            (
                "huge-normalized",
                {"H0": HS6 * 1e300, "variants": PAIRED_HOMOGENEOUS, "normalize": True},
                Ok(lambda: _paired_ref(HS6, PAIRED_HOMOGENEOUS, normalize=True)),
            ),
            ("one-network", {"H0": HS6[0]}, Ok(lambda: _paired_ref(HS6[0]))),
        ],
    ),
    # --- norms.jacobian: the Jacobians of the forward transforms (validation: the transforms') -------------
    Function(
        "norms.jacobian",
        "layer_norm_jacobian",
        lambda x, normalized_shape, gamma, eps: norm_jacobian.layer_norm_jacobian(x, normalized_shape, gamma, eps=eps),
        {"x": X4, "normalized_shape": 3, "gamma": G, "eps": 1e-5},
        arrays=("x", "gamma"),
        optional=("gamma",),
        scalars={"eps": "real>=0"},
        layout=("x", "gamma"),
        extra=[
            (
                "torch-oracle",
                {},
                Ok(lambda: _torch_blocks(lambda t: torch.nn.functional.layer_norm(t, (3,), _t(G), None, 1e-5), X4, 3)),
            ),
            ("normalized-shape-wrong", {"normalized_shape": 4}, err("normalized_shape")),
            ("one-value", {"x": X4[..., :1], "normalized_shape": 1, "gamma": None}, err("normalized_shape")),
            ("zero-variance-eps0", {"x": np.ones((4, 6, 3)), "eps": 0.0}, err("x")),
            ("huge-1e300", {"x": X4 * 1e300}, err("x")),
            ("batch-of-one", {"x": X4[:1]}, Ok(lambda: norm_jacobian.layer_norm_jacobian(X4, 3, G)[:1])),
        ],
    ),
    Function(
        "norms.jacobian",
        "rms_norm_jacobian",
        lambda x, normalized_shape, gamma, eps: norm_jacobian.rms_norm_jacobian(x, normalized_shape, gamma, eps=eps),
        {"x": X4, "normalized_shape": 3, "gamma": G, "eps": 1e-6},
        arrays=("x", "gamma"),
        optional=("gamma",),
        layout=("x", "gamma"),
        extra=[
            (
                "torch-oracle",
                {},
                Ok(lambda: _torch_blocks(lambda t: torch.nn.functional.rms_norm(t, (3,), _t(G), 1e-6), X4, 3)),
            ),
            ("eps-nan", {"eps": np.nan}, err("eps")),
            ("eps-negative", {"eps": -1e-6}, err("eps")),
            ("eps-str", {"eps": "1e-6"}, err("eps")),
            ("zero-eps0", {"x": np.zeros((4, 6, 3)), "eps": 0.0}, err("x")),
            ("huge-1e300", {"x": X4 * 1e300}, err("x")),
        ],
    ),
    Function(
        "norms.jacobian",
        "group_norm_jacobian",
        lambda x, groups, gamma, eps: norm_jacobian.group_norm_jacobian(x, groups, gamma, eps=eps),
        {"x": X4, "groups": 2, "gamma": G6, "eps": 1e-5},
        arrays=("x", "gamma"),
        free_shape=("x",),
        optional=("gamma",),
        scalars={"groups": "int>=1", "eps": "real>=0"},
        layout=("x", "gamma"),
        extra=[
            (
                "torch-oracle",
                {},
                Ok(
                    lambda: _torch_blocks(
                        lambda t: torch.nn.functional.group_norm(t, 2, _t(G6), None, 1e-5), X4, 9
                    ).reshape(4, 2, 9, 9)
                ),
            ),
            ("groups-not-dividing", {"groups": 4}, err("groups")),
            ("zero-variance-eps0", {"x": np.ones((4, 6, 3)), "eps": 0.0}, err("x")),
            ("huge-1e300", {"x": X4 * 1e300}, err("x")),
        ],
    ),
    Function(
        "norms.jacobian",
        "instance_norm_jacobian",
        lambda x, gamma, eps: norm_jacobian.instance_norm_jacobian(x, gamma, eps=eps),
        {"x": X4, "gamma": G6, "eps": 1e-5},
        arrays=("x", "gamma"),
        optional=("gamma",),
        free_shape=("x",),
        scalars={"eps": "real>=0"},
        layout=("x", "gamma"),
        extra=[
            (
                "torch-oracle",
                {},
                Ok(
                    lambda: _torch_blocks(
                        lambda t: torch.nn.functional.instance_norm(t, weight=_t(G6), eps=1e-5), X4, 3
                    ).reshape(4, 6, 3, 3)
                ),
            ),
            ("no-spatial", {"x": _normal(4, 6)}, err("x")),
            ("huge-1e300", {"x": X4 * 1e300}, err("x")),
        ],
    ),
    Function(
        "norms.jacobian",
        "weight_norm_jacobian",
        lambda v, g, dim: norm_jacobian.weight_norm_jacobian(v, g, dim=dim),
        {"v": X[:3], "g": G, "dim": 0},
        arrays=("v", "g"),
        layout=("v", "g"),
        free_shape=("v",),
        extra=[
            (
                "torch-oracle",
                {},
                Ok(lambda: _torch_blocks(lambda t: _t(G)[:, None] * t / t.norm(dim=1, keepdim=True), X[:3], 3)),
            ),
            ("dim-out-of-range", {"dim": 2}, err("dim")),
            ("dim-str", {"dim": "0"}, err("dim")),
            ("zero-slice", {"v": np.zeros((3, 3))}, err("v")),
            ("huge-1e300", {"v": X[:3] * 1e300}, Ok(lambda: norm_jacobian.weight_norm_jacobian(X[:3], G) * 1e-300)),
        ],
    ),
    # --- norms.invariance: Ba et al.'s Table 1 transformations and the normalized layer ----------------------
    Function(
        "norms.invariance",
        "rescale_weights",
        lambda W, delta: invariance.rescale_weights(W, delta),
        {"W": IW, "delta": 2.0},
        arrays=("W",),
        scalars={"delta": "real>0"},
        free_shape=("W",),
        layout=("W",),
        extra=[
            ("oracle", {}, Ok(lambda: 2.0 * IW)),
            ("delta-numpy-scalar", {"delta": np.float32(0.5)}, Ok(lambda: 0.5 * IW)),
            ("one-dim", {"W": IW[0]}, err("W")),
            ("three-dim", {"W": IW[None]}, err("W")),
            ("huge", {"W": IW * 1e300, "delta": 1.0}, Ok(lambda: IW * 1e300)),
            ("overflow", {"W": IW * 1e300, "delta": 1e10}, err("W")),
        ],
    ),
    Function(
        "norms.invariance",
        "recentre_weights",
        lambda W, c: invariance.recentre_weights(W, c),
        {"W": IW, "c": IC},
        arrays=("W", "c"),
        layout=("W", "c"),
        extra=[
            ("oracle", {}, Ok(lambda: IW + IC[None, :])),
            ("one-dim", {"W": IW[0]}, err("W")),
            ("overflow", {"W": np.full((6, 4), 1e308), "c": np.full(4, 1e308)}, err("W", "c")),
        ],
    ),
    Function(
        "norms.invariance",
        "rescale_row",
        lambda W, row, delta: invariance.rescale_row(W, row, delta),
        {"W": IW, "row": 1, "delta": 3.0},
        arrays=("W",),
        scalars={"row": "int>=0", "delta": "real>0"},
        free_shape=("W",),
        layout=("W",),
        extra=[
            ("oracle", {}, Ok(lambda: np.vstack([IW[:1], 3.0 * IW[1:2], IW[2:]]))),
            ("row-out-of-range", {"row": 6}, err("row")),
            ("row-numpy-int", {"row": np.int64(1)}, Ok(lambda: np.vstack([IW[:1], 3.0 * IW[1:2], IW[2:]]))),
            ("one-dim", {"W": IW[0]}, err("W")),
            ("overflow", {"W": IW * 1e300, "delta": 1e10}, err("W")),
        ],
    ),
    Function(
        "norms.invariance",
        "rescale_data",
        lambda X, delta: invariance.rescale_data(X, delta),
        {"X": IX, "delta": 2.0},
        arrays=("X",),
        scalars={"delta": "real>0"},
        free_shape=("X",),
        layout=("X",),
        extra=[
            ("oracle", {}, Ok(lambda: 2.0 * IX)),
            ("positions", {"X": IX3}, Ok(lambda: 2.0 * IX3)),
            ("one-dim", {"X": IX[0]}, err("X")),
            ("four-dim", {"X": IX3[..., None]}, err("X")),
            ("overflow", {"X": IX * 1e300, "delta": 1e10}, err("X")),
        ],
    ),
    Function(
        "norms.invariance",
        "recentre_data",
        lambda X, c: invariance.recentre_data(X, c),
        {"X": IX, "c": IC},
        arrays=("X", "c"),
        layout=("X", "c"),
        extra=[
            ("oracle", {}, Ok(lambda: IX + IC)),
            ("positions", {"X": IX3}, Ok(lambda: IX3 + IC[None, :, None])),
            ("one-dim", {"X": IX[0]}, err("X")),
            ("overflow", {"X": np.full((8, 4), 1e308), "c": np.full(4, 1e308)}, err("X", "c")),
        ],
    ),
    Function(
        "norms.invariance",
        "rescale_case",
        lambda X, case, delta: invariance.rescale_case(X, case, delta),
        {"X": IX, "case": 2, "delta": 3.0},
        arrays=("X",),
        scalars={"case": "int>=0", "delta": "real>0"},
        free_shape=("X",),
        layout=("X",),
        extra=[
            ("oracle", {}, Ok(lambda: np.vstack([IX[:2], 3.0 * IX[2:3], IX[3:]]))),
            ("case-out-of-range", {"case": 8}, err("case")),
            ("positions", {"X": IX3}, Ok(lambda: np.concatenate([IX3[:2], 3.0 * IX3[2:3], IX3[3:]]))),
            ("one-dim", {"X": IX[0]}, err("X")),
            ("overflow", {"X": IX * 1e300, "delta": 1e10}, err("X")),
        ],
    ),
    Function(
        "norms.invariance",
        "transformed",
        lambda number, W, X, delta, c_weights, c_data, row, case: invariance.transformed(
            number, W, X, delta=delta, c_weights=c_weights, c_data=c_data, row=row, case=case
        ),
        {"number": 2, "W": IW, "X": IX, "delta": 2.0, "c_weights": IC, "c_data": IC[::-1].copy(), "row": 1, "case": 2},
        arrays=("W", "X", "c_weights", "c_data"),
        scalars={"delta": "real>0", "row": "int>=0", "case": "int>=0"},
        layout=("W", "X", "c_weights", "c_data"),
        shape_names=("X",),
        extra=[
            *[
                (
                    f"oracle-{k}",
                    {"number": k},
                    Ok(
                        functools.partial(_transformed_ref, k),
                    ),
                )
                for k in range(1, 7)
            ],
            ("number-zero", {"number": 0}, err("number")),
            ("number-seven", {"number": 7}, err("number")),
            ("number-bool", {"number": True}, err("number")),
            ("number-str", {"number": "1"}, err("number")),
            ("unused-X-nan", {"number": 1, "X": _with_nan(IX)}, err("X")),
            ("unused-c-data-wrong", {"number": 1, "c_data": IC[:3]}, err("c_data")),
        ],
    ),
    Function(
        "norms.invariance",
        "normalized_layer",
        lambda W, X, norm, groups, eps: invariance.normalized_layer(W, X, norm, groups=groups, eps=eps),
        {"W": IW, "X": IX, "norm": "batch", "groups": None, "eps": 0.0},
        arrays=("W", "X"),
        scalars={"norm": "choice", "eps": "real>=0"},
        layout=("W", "X"),
        free_shape=("W",),
        shape_names=("W",),
        extra=[
            ("batch-oracle", {}, Ok(lambda: _bn_ref(IX @ IW.T, 1.0, 0.0, 0.0))),
            (
                "layer-oracle",
                {"norm": "layer"},
                Ok(lambda: torch.nn.functional.layer_norm(_t(IX @ IW.T), (6,), eps=0.0)),
            ),
            (
                "group-oracle",
                {"norm": "group", "groups": 2},
                Ok(lambda: torch.nn.functional.group_norm(_t(IX @ IW.T), 2, eps=0.0)),
            ),
            (
                "instance-oracle",
                {"X": IX3, "norm": "instance"},
                Ok(lambda: torch.nn.functional.instance_norm(_t(np.einsum("cd,nds->ncs", IW, IX3)), eps=0.0)),
            ),
            (
                "position-oracle",
                {"X": IX3, "norm": "position"},
                Ok(
                    lambda: torch.nn.functional.layer_norm(
                        _t(np.einsum("cd,nds->nsc", IW, IX3)), (6,), eps=0.0
                    ).transpose(1, 2)
                ),
            ),
            ("rms-oracle", {"norm": "rms"}, Ok(lambda: torch.nn.functional.rms_norm(_t(IX @ IW.T), (6,), eps=0.0))),
            (
                "weight-oracle",
                {"norm": "weight"},
                Ok(lambda: IX @ (IW / np.linalg.norm(IW, axis=1, keepdims=True)).T),
            ),
            ("groups-missing", {"norm": "group"}, err("groups")),
            ("groups-given", {"groups": 2}, err("groups")),
            ("groups-not-dividing", {"norm": "group", "groups": 4}, err("groups")),
            ("groups-bool", {"norm": "group", "groups": True}, err("groups")),
            ("groups-str", {"norm": "group", "groups": "2"}, err("groups")),
            ("weight-eps", {"norm": "weight", "eps": 1e-5}, err("eps")),
            ("weight-zero-row", {"norm": "weight", "W": np.vstack([IW[:5], np.zeros((1, 4))])}, err("W")),
            ("instance-no-positions", {"norm": "instance"}, err("X")),
            ("X-dtype", {"X": IX.astype(np.float32)}, err("X")),
            ("zero-variance-eps0", {"X": np.ones((8, 4))}, err("X", "W")),
            ("huge-X", {"X": IX * 1e300}, err("X")),
            ("huge-X-1e150", {"X": IX * 1e150}, Ok(lambda: _bn_ref(IX @ IW.T, 1.0, 0.0, 0.0), rtol=1e-7)),
            ("one-dim-W", {"W": IW[0]}, err("W")),
        ],
    ),
    # --- optim.sgd: heavy ball with weight decay on scale-invariant losses, Li & Arora's and Wan et al.'s formulas --
    Function(
        "optim.sgd",
        "sgd",
        lambda objective, w0, lr, steps, momentum, weight_decay, schedule, buffer0, seeds, keep_path, chunk: sgd.sgd(
            objective,
            w0,
            lr=lr,
            steps=steps,
            momentum=momentum,
            weight_decay=weight_decay,
            schedule=schedule,
            buffer0=buffer0,
            seeds=seeds,
            keep_path=keep_path,
            chunk=chunk,
        ),
        {
            "objective": SGD_LOSS,
            "w0": SGD_W0,
            "lr": 0.1,
            "steps": 3,
            "momentum": 0.5,
            "weight_decay": 0.01,
            "schedule": None,
            "buffer0": SGD_B0,
            "seeds": (0, 1),
            "keep_path": True,
            "chunk": 2,
        },
        arrays=("w0", "buffer0"),
        optional=("buffer0",),
        free_shape=("w0",),
        shape_names=("buffer0",),
        scalars={
            "lr": "real>0",
            "steps": "int>=0",
            "momentum": "unit",
            "weight_decay": "real>=0",
            "keep_path": "bool",
            "chunk": "int>=1",
        },
        layout=("w0", "buffer0"),
        rtol=1e-7,
        extra=[
            ("oracle", lambda: _sgd_parts(), Ok(lambda: _sgd_ref())),
            ("one-run", {"w0": SGD_W0[0], "buffer0": SGD_B0[0], "seeds": (0,)}, Ok(lambda: _sgd_one_run())),
            ("lr-per-run", {"lr": [0.1, 0.2]}, Ok(lambda: _sgd_with(lr=np.array([0.1, 0.2])))),
            ("lr-wrong-count", {"lr": [0.1, 0.2, 0.3]}, err("lr")),
            ("lr-bool", {"lr": True}, err("lr")),
            ("momentum-one", {"momentum": 1.0}, err("momentum")),
            ("momentum-str", {"momentum": "0.5"}, err("momentum")),
            ("schedule", {"schedule": [1.0, 0.5, 0.25]}, Ok(lambda: _sgd_with(schedule=np.array([1.0, 0.5, 0.25])))),
            ("schedule-short", {"schedule": [1.0, 0.5]}, err("schedule")),
            ("schedule-negative", {"schedule": [1.0, -0.5, 0.25]}, err("schedule")),
            ("schedule-str", {"schedule": "1"}, err("schedule")),
            ("seeds-none-noisy", {"seeds": None}, err("seeds")),
            ("seeds-wrong-count", {"seeds": (0,)}, err("seeds")),
            ("seeds-float", {"seeds": (0.5, 1)}, err("seeds[0]")),
            ("seeds-negative", {"seeds": (0, -1)}, err("seeds[1]")),
            ("seeds-str", {"seeds": "01"}, err("seeds")),
            ("objective-none", {"objective": None}, err("objective")),
            ("objective-wrong-d", {"objective": sgd.NoisyLinear(np.ones(3))}, err("w0")),
            ("zero-row", {"w0": np.vstack([SGD_W0[:1], np.zeros((1, 4))])}, err("w0")),
            ("three-dim", {"w0": SGD_W0[None]}, err("w0")),
            ("buffer0-dtype", {"buffer0": SGD_B0.astype(np.float32)}, err("buffer0")),
            ("no-steps", {"steps": 0, "schedule": None}, Ok(lambda: _sgd_with(steps=0))),
            (
                "deterministic",
                {"objective": sgd.NoisyLinear(SGD_MEAN, 0.0), "seeds": None},
                Ok(lambda: _sgd_with(objective=sgd.NoisyLinear(SGD_MEAN, 0.0), seeds=None)),
            ),
            ("huge-w0", {"w0": SGD_W0 * 1e150, "buffer0": None, "weight_decay": 0.0}, Ok(lambda: _sgd_scaled(1e150))),
        ],
    ),
    Function(
        "optim.sgd",
        "exponential_schedule",
        lambda base, steps: sgd.exponential_schedule(base, steps),
        {"base": 0.99, "steps": 4},
        scalars={"base": "real>0", "steps": "int>=0"},
        extra=[
            ("oracle", {}, Ok(lambda: 0.99 ** -(2 * np.arange(4.0) + 1))),
            (
                "per-run",
                {"base": np.array([0.99, 0.9])},
                Ok(lambda: np.array([0.99, 0.9]) ** -(2 * np.arange(4.0)[:, None] + 1)),
            ),
            (
                "base-list",
                {"base": [0.99, 0.9]},
                Ok(lambda: np.array([0.99, 0.9]) ** -(2 * np.arange(4.0)[:, None] + 1)),
            ),
            ("base-matrix", {"base": np.full((2, 2), 0.9)}, err("base")),
            ("base-bool", {"base": True}, err("base")),
            ("no-steps", {"steps": 0}, Ok(lambda: np.zeros(0))),
            ("overflow", {"base": 1e-10, "steps": 20}, err("base", "steps")),
        ],
    ),
    Function(
        "optim.sgd",
        "exponential_lr_equivalent",
        lambda lr, weight_decay, momentum, steps, root: sgd.exponential_lr_equivalent(
            lr, weight_decay, momentum, steps=steps, root=root
        ),
        {"lr": 0.1, "weight_decay": 0.01, "momentum": 0.5, "steps": 3, "root": "larger"},
        scalars={"lr": "real>0", "weight_decay": "real>=0", "momentum": "unit", "steps": "int>=0", "root": "choice"},
        extra=[
            ("oracle", {}, Ok(lambda: _exp_lr_ref(0.1, 0.01, 0.5, 3))),
            ("gd", {"momentum": 0.0}, Ok(lambda: _exp_lr_ref(0.1, 0.01, 0.0, 3))),
            ("smaller-gd", {"momentum": 0.0, "root": "smaller"}, err("root")),
            ("complex-roots", {"lr": 1.0, "weight_decay": 0.5}, err("lr", "weight_decay")),
            ("lr-str", {"lr": "0.1"}, err("lr")),
            ("per-run", {"lr": np.array([0.1, 0.2])}, Ok(lambda: _exp_lr_ref(np.array([0.1, 0.2]), 0.01, 0.5, 3))),
            ("mismatched-runs", {"lr": np.array([0.1, 0.2]), "weight_decay": np.array([0.01, 0.02, 0.03])}, err("lr")),
        ],
    ),
    Function(
        "optim.sgd",
        "angular_update",
        lambda lr, weight_decay, momentum: sgd.angular_update(lr, weight_decay, momentum),
        {"lr": 0.1, "weight_decay": 0.01, "momentum": 0.5},
        scalars={"lr": "real>0", "weight_decay": "real>0", "momentum": "unit"},
        extra=[
            ("oracle", {}, Ok(lambda: np.sqrt(2 * 0.1 * 0.01 / 1.5))),
            ("too-large", {"lr": 10.0, "weight_decay": 0.1, "momentum": 0.0}, err("lr", "weight_decay")),
            ("per-run", {"lr": [0.1, 0.2]}, Ok(lambda: np.sqrt(2 * np.array([0.1, 0.2]) * 0.01 / 1.5))),
            ("mismatched-runs", {"lr": [0.1, 0.2], "momentum": [0.0, 0.1, 0.2]}, err("lr")),
            ("lr-none", {"lr": None}, err("lr")),
        ],
    ),
    Function(
        "optim.sgd",
        "equilibrium_norm",
        lambda L, lr, weight_decay, momentum: sgd.equilibrium_norm(L, lr, weight_decay, momentum),
        {"L": 3.0, "lr": 0.1, "weight_decay": 0.01, "momentum": 0.5},
        scalars={"L": "real>0", "lr": "real>0", "weight_decay": "real>0", "momentum": "unit"},
        extra=[
            ("oracle", {}, Ok(lambda: (3.0 * 0.1 / (0.01 * 0.5 * (2 - 0.001 / 1.5))) ** 0.25)),
            ("sgd", {"momentum": 0.0}, Ok(lambda: (3.0 * 0.1 / 0.02) ** 0.25)),
            ("non-positive", {"lr": 10.0, "weight_decay": 0.5}, err("lr", "weight_decay")),
            ("L-str", {"L": "3"}, err("L")),
        ],
    ),
    # --- optim.bngd: Cai, Li & Shen's BNGD on population least squares, and plain GD --------------------------
    Function(
        "optim.bngd",
        "least_squares",
        lambda H, u_star, sigma2: bngd.least_squares(H, u_star, sigma2),
        {"H": S5, "u_star": U5, "sigma2": 0.1},
        arrays=("H", "u_star"),
        scalars={"sigma2": "real>=0"},
        layout=("H", "u_star"),
        shape_names=("H",),
        extra=[
            ("oracle", {}, Ok(lambda: bngd.LeastSquares(S5, S5 @ U5, float(U5 @ S5 @ U5) + 0.1))),
            ("sigma2-numpy-scalar", {"sigma2": np.float32(0.5)}, Ok(lambda: bngd.least_squares(S5, U5, 0.5))),
            ("not-square", {"H": S5[:, :4]}, err("H")),
        ],
    ),
    Function(
        "optim.bngd",
        "bngd",
        lambda problem, a0, w0, eps, eps_a, T: bngd.bngd(problem, a0, w0, eps, eps_a, T=T),
        {"problem": BNGD_LS, "a0": 0.5, "w0": BNGD_W0, "eps": 0.1, "eps_a": 0.2, "T": 3},
        arrays=("w0",),
        scalars={"a0": "real", "eps": "real>0", "eps_a": "real>0", "T": "int>=0"},
        portable=False,
        extra=[
            ("oracle", {}, Ok(lambda: _bngd_ref(BNGD_W0, np.full(3, 0.5), 0.1, 0.2, 3))),
            ("strided", {"w0": _strided(BNGD_W0)}, Ok(lambda: _bngd_ref(BNGD_W0, np.full(3, 0.5), 0.1, 0.2, 3))),
            (
                "fortran",
                {"w0": np.asfortranarray(BNGD_W0)},
                Ok(lambda: _bngd_ref(BNGD_W0, np.full(3, 0.5), 0.1, 0.2, 3)),
            ),
            ("float32", {"w0": BNGD_W0.astype(np.float32)}, err("w0")),
            (
                "per-run",
                {"a0": np.array([0.5, 1.0, -1.0]), "eps": [0.1, 0.2, 0.3]},
                Ok(lambda: _bngd_ref(BNGD_W0, np.array([0.5, 1.0, -1.0]), np.array([0.1, 0.2, 0.3]), 0.2, 3)),
            ),
            ("eps-wrong-count", {"eps": [0.1, 0.2]}, err("eps")),
            ("eps-str", {"eps": "0.1"}, err("eps")),
            ("a0-bool", {"a0": True}, err("a0")),
            ("problem-none", {"problem": None}, err("problem")),
            ("zero-row", {"w0": np.vstack([BNGD_W0[:2], np.zeros((1, 5))])}, err("w0")),
            ("one-dim", {"w0": BNGD_W0[0]}, err("w0")),
            ("no-steps", {"T": 0}, Ok(lambda: _bngd_ref(BNGD_W0, np.full(3, 0.5), 0.1, 0.2, 0))),
            ("one-run", {"w0": BNGD_W0[:1]}, Ok(lambda: _bngd_ref(BNGD_W0[:1], np.full(1, 0.5), 0.1, 0.2, 3))),
        ],
    ),
    Function(
        "optim.bngd",
        "gd",
        lambda problem, u0, eps, T: bngd.gd(problem, u0, eps, T=T),
        {"problem": BNGD_LS, "u0": BNGD_W0, "eps": 0.1, "T": 3},
        arrays=("u0",),
        scalars={"eps": "real>0", "T": "int>=0"},
        portable=False,
        extra=[
            ("oracle", lambda: bngd.gd(BNGD_LS, BNGD_W0, 0.1, T=3).predictor, Ok(lambda: _gd_ref(BNGD_W0, 0.1, 3))),
            ("strided", {"u0": _strided(BNGD_W0)}, Ok(lambda: bngd.gd(BNGD_LS, BNGD_W0, 0.1, T=3))),
            ("float32", {"u0": BNGD_W0.astype(np.float32)}, err("u0")),
            (
                "zero-start",
                lambda: bngd.gd(BNGD_LS, np.zeros((1, 5)), 0.1, T=2).predictor,
                Ok(lambda: _gd_ref(np.zeros((1, 5)), 0.1, 2)),
            ),
            ("eps-none", {"eps": None}, err("eps")),
            ("problem-none", {"problem": None}, err("problem")),
            ("one-dim", {"u0": BNGD_W0[0]}, err("u0")),
        ],
    ),
    # --- optim.scale_invariant: scale-invariant losses (value and gradient at a point) and GD on them ------------
    Function(
        "optim.scale_invariant",
        "sin_sum",
        lambda a, b, c, A, normalized: _loss_at(scale_invariant.sin_sum(a, b, c, A, normalized=normalized), b, SI_W),
        {"a": SI_A, "b": SI_B, "c": SI_C, "A": SI_Q, "normalized": True},
        arrays=("a", "b", "c", "A"),
        optional=("A",),
        scalars={"normalized": "bool"},
        layout=("a", "b", "c", "A"),
        shape_names=("b",),
        rtol=1e-7,
        extra=[
            ("torch-oracle", {}, Ok(lambda: _torch_sin_sum(SI_W, True))),
            ("unnormalized-oracle", {"normalized": False}, Ok(lambda: _torch_sin_sum(SI_W, False))),
            ("no-quadratic", {"A": None}, Ok(lambda: _torch_sin_sum(SI_W, True, quadratic=False))),
            ("A-not-symmetric", {"A": SI_Q + np.triu(np.ones((4, 4)), 1)}, err("A")),
            ("one-dim-b", {"b": SI_B[0]}, err("b")),
            (
                "stack",
                lambda: _loss_at(scale_invariant.sin_sum(SI_A, SI_B, SI_C, SI_Q), SI_B, SI_W[0]),
                Ok(lambda: tuple(x[0] if np.ndim(x) else x for x in _torch_sin_sum(SI_W, True))),
            ),
        ],
    ),
    Function(
        "optim.scale_invariant",
        "bn_unit",
        lambda X, y, gain, eps: _loss_at(scale_invariant.bn_unit(X, y, gain, eps=eps), X, SI_WU),
        {"X": SI_X, "y": SI_Y, "gain": 1.3, "eps": 0.0},
        arrays=("X", "y"),
        scalars={"gain": "real", "eps": "real>=0"},
        layout=("X", "y"),
        free_shape=("X",),
        rtol=1e-7,
        extra=[
            ("torch-oracle", {}, Ok(lambda: _torch_bn_unit(1.3, 0.0))),
            ("torch-oracle-eps", {"eps": 0.1}, Ok(lambda: _torch_bn_unit(1.3, 0.1))),
            ("batch-of-one", {"X": SI_X[:1], "y": SI_Y[:1]}, err("X")),
            ("X-wider", lambda: scale_invariant.bn_unit(_wider(SI_X), SI_Y).d, Ok(lambda: 5)),
            ("gain-numpy-scalar", {"gain": np.float32(1.5)}, Ok(lambda: _torch_bn_unit(float(np.float32(1.5)), 0.0))),
        ],
    ),
    Function(
        "optim.scale_invariant",
        "normalized_mlp",
        lambda X, Y, W0, norm, eps, wrt: _loss_at(
            scale_invariant.normalized_mlp(X, Y, [W0, *(_like(w, W0) for w in SI_WS[1:])], norm=norm, eps=eps, wrt=wrt),
            X,
            SI_WS[0].reshape(-1) if wrt == "first" else SI_WS[-1].reshape(-1),
        ),
        {"X": SI_X[:, :3], "Y": SI_YY, "W0": SI_WS[0], "norm": "batch", "eps": 0.0, "wrt": "first"},
        aliases={"W0": "weights[0]"},
        shape_names=("weights[1]", "X"),
        arrays=("X", "Y", "W0"),
        scalars={"eps": "real>=0", "wrt": "choice"},  # norm: None is valid (no normalization)
        layout=("X", "Y", "W0"),
        rtol=1e-7,
        extra=[
            ("torch-oracle-bn", {}, Ok(lambda: _torch_mlp("batch", 0.0, "first"))),
            ("norm-unknown", {"norm": "group"}, err("norm")),
            ("torch-oracle-ln", {"norm": "layer", "eps": 1e-3}, Ok(lambda: _torch_mlp("layer", 1e-3, "first"))),
            ("torch-oracle-none-last", {"norm": None, "wrt": "last"}, Ok(lambda: _torch_mlp(None, 0.0, "last"))),
            ("weights-one", lambda: scale_invariant.normalized_mlp(SI_X[:, :3], SI_YY, SI_WS[:1]), err("weights")),
            ("weights-none", lambda: scale_invariant.normalized_mlp(SI_X[:, :3], SI_YY, None), err("weights")),
            (
                "weights-chain",
                lambda: scale_invariant.normalized_mlp(SI_X[:, :3], SI_YY, [SI_WS[0], SI_WS[0], SI_WS[2]]),
                err("weights[1]"),
            ),
            ("batch-of-one-bn", {"X": SI_X[:1, :3], "Y": SI_YY[:1]}, err("X")),
        ],
    ),
    Function(
        "optim.scale_invariant",
        "gd",
        lambda loss, w0, eta, T, project: scale_invariant.gd(loss, w0, eta, T=T, project=project),
        {"loss": SI_LOSS, "w0": SI_W, "eta": 0.1, "T": 3, "project": False},
        arrays=("w0",),
        scalars={"eta": "real>0", "T": "int>=0", "project": "bool"},
        portable=False,
        extra=[
            ("oracle", {}, Ok(lambda: _gd_si_ref(SI_W, np.full(2, 0.1), 3, False))),
            ("projected", {"project": True}, Ok(lambda: _gd_si_ref(SI_W, np.full(2, 0.1), 3, True))),
            ("eta-per-run", {"eta": [0.1, 0.3]}, Ok(lambda: _gd_si_ref(SI_W, np.array([0.1, 0.3]), 3, False))),
            ("eta-wrong-count", {"eta": [0.1, 0.2, 0.3]}, err("eta")),
            ("eta-str", {"eta": "0.1"}, err("eta")),
            ("strided", {"w0": _strided(SI_W)}, Ok(lambda: _gd_si_ref(SI_W, np.full(2, 0.1), 3, False))),
            ("float32", {"w0": SI_W.astype(np.float32)}, err("w0")),
            ("loss-none", {"loss": None}, err("loss")),
            ("zero-row", {"w0": np.vstack([SI_W[:1], np.zeros((1, 4))])}, err("w0")),
            ("one-run", {"w0": SI_W[0]}, Ok(lambda: _gd_si_ref(SI_W[0], np.float64(0.1), 3, False))),
            (
                "unbatched-loss",
                lambda: scale_invariant.gd(scale_invariant.bn_unit(SI_X, SI_Y), SI_X[:2], 0.1, T=1),
                err("w0"),
            ),
            ("huge-w0", {"w0": SI_W * 1e150, "eta": 0.1 * 1e300}, Ok(lambda: _gd_si_scaled(1e150))),
        ],
    ),
]

FUNCTIONS_BY_NAME = {f.name: f for f in FUNCTIONS}


def instance_norm_y(x, gamma, beta, eps):
    return group.instance_norm(x, gamma, beta, eps=eps)[0]


def _ls_summary(problem: gdnp.Problem):
    """The numbers a Problem carries, and its objective's value and gradient at a fixed point."""
    w = np.linspace(0.2, 1.0, problem.d)
    like = problem.u
    if isinstance(like, torch.Tensor):
        w = torch.from_numpy(w).to(like.dtype)
    elif isinstance(like, np.ndarray):
        w = w.astype(like.dtype)
    return problem.S, problem.u, problem.mu, problem.L, problem.value(w), problem.gradient(w)


def _scaled(value, power):
    """`value` (a measure of H) as it is for ``1e200 * H``: homogeneous of degree `power`."""
    if isinstance(value, tuple):  # d_max: (distance, index), both invariant
        return value
    return np.asarray(to_numpy(value), dtype=np.float64) * (10.0 ** (200 * power) if power else 1.0)


def _rank_scaled(value, factor):
    """numerical_rank's (rank, tol) for ``factor * H``: the rank is invariant, the tolerance scales."""
    return value[0], np.asarray(value[1]) * factor


def _torch_ln_grad():
    x = torch.from_numpy(X4).requires_grad_()
    y = torch.nn.functional.layer_norm(x, (3,), eps=1e-5)
    (dx,) = torch.autograd.grad(y, x, torch.from_numpy(X4))
    return dx, None, None


def _torch_weight_norm_grad(dw, v, g):
    """||grad_v L||^2 per row by autograd through w = g v / ||v|| (PyTorch)."""
    vt = torch.from_numpy(np.array(v, dtype=np.float64)).requires_grad_()
    gt = torch.from_numpy(np.array(g, dtype=np.float64))
    w = gt[..., None] * vt / vt.norm(dim=-1, keepdim=True)
    (dv,) = torch.autograd.grad(w, vt, torch.from_numpy(np.array(dw, dtype=np.float64)))
    return (dv * dv).sum(-1)


def _torch_per_sample(kind, groups=1, Z=None):
    """per_sample_norm by PyTorch's kernels on the columns (the points) of HS6."""
    Z = torch.from_numpy(HS6 if Z is None else Z)
    X = Z.transpose(-1, -2).reshape(-1, Z.shape[-2])
    if kind == "layer":
        Y = torch.nn.functional.layer_norm(X, (X.shape[-1],), eps=0.0)
    elif kind == "rms":
        Y = torch.nn.functional.rms_norm(X, (X.shape[-1],), eps=0.0)
    else:
        Y = torch.nn.functional.group_norm(X, groups, eps=0.0)
    return Y.reshape(*Z.shape[:-2], Z.shape[-1], Z.shape[-2]).transpose(-1, -2)


def _t(a):
    return torch.from_numpy(np.asarray(a))


def _torch_blocks(f, x, m):
    """The diagonal (m, m) blocks of the Jacobian of `f` at `x` (PyTorch autograd), a group = m consecutive entries."""
    J = torch.autograd.functional.jacobian(f, torch.from_numpy(x)).reshape(x.size // m, m, x.size // m, m)
    blocks = torch.stack([J[b, :, b, :] for b in range(x.size // m)])
    return blocks.reshape(*x.shape[: x.ndim - 1], m, m) if m == x.shape[-1] else blocks


def _torch_jacobian():
    def f(x):  # Algorithm 1 at eps = 0 (torch's batch_norm refuses eps = 0 in training)
        centred = x - x.mean(0)
        return torch.from_numpy(G) * centred / centred.pow(2).mean(0).sqrt()

    J = torch.autograd.functional.jacobian(f, torch.from_numpy(X))  # (m, C, m, C)
    return torch.stack([J[:, c, :, c] for c in range(3)])


# The stacked rescaling bound (weights along the first axis, pairs along the trailing one, as every function of
# lipschitz): its entries are the single-vector bounds (filled in here, after FUNCTIONS exists).
_w0s, _wss = FUNCTIONS_BY_NAME["rescaling_distance_bound"].extra[1][1].values()
FUNCTIONS_BY_NAME["rescaling_distance_bound"].extra[1] = (
    "stack",
    {"w0": _w0s, "w_star": _wss},
    Ok(lambda: np.array([lipschitz.rescaling_distance_bound(a, b) for a, b in zip(_w0s.T, _wss.T, strict=True)])),
)


def _cases():
    params = []
    for fn in FUNCTIONS:
        generated = _array_cases(fn) + _layout_cases(fn) + _scalar_cases(fn) + fn.extra
        for label, args, expect in generated:
            thunk = args if callable(args) else (lambda fn=fn, args=args: fn(**args))
            params.append(pytest.param(thunk, expect, id=f"{fn.module}.{fn.name}-{label}"))
    return params


CASES = _cases()


@pytest.mark.parametrize(("thunk", "expect"), CASES)
def test_bad_input(thunk, expect):
    check_case(thunk, expect)


def test_every_public_function_has_cases():
    """Every function in the ``__all__`` of the covered modules (classes: their documented constructors) has cases."""
    covered = {(f.module, f.name.split(".")[0]) for f in FUNCTIONS}
    missing = []
    for label, module in MODULES.items():
        for name in module.__all__:
            obj = getattr(module, name)
            if inspect.isfunction(obj) and obj.__module__ == module.__name__ and (label, name) not in covered:
                missing.append(f"{label}.{name}")
    assert not missing, f"public functions without bad-input cases: {missing}"


def test_jacobian_deviation_words_sigma_zero_and_negative_apart():
    """sigma = 0 is the eps = 0 Jacobian's singular batch (its own message); a negative sigma is not a standard
    deviation at all (the generic bound)."""
    with pytest.raises(ValueError, match="sigma: the eps = 0 Jacobian needs a batch with non-zero variance"):
        jacobian.jacobian_deviation(0.0, 1.0, 1e-3)
    with pytest.raises(ValueError, match=r"sigma: expected a finite value > 0, got -0.5"):
        jacobian.jacobian_deviation(-0.5, 1.0, 1e-3)


def test_check_eps_takes_a_number_or_an_array_of_any_rank():
    """A real eps >= 0 comes back as a float; an array (0-d included: one eps for a batch of one instance, or
    one per unit) comes back as is; a negative or NaN entry is refused naming eps and the unit."""
    assert _validation.check_eps(0, "unit") == 0.0 and type(_validation.check_eps(1e-3, "unit")) is float
    for eps in (np.asarray(1e-3), np.array([0.0, 1e-3]), np.zeros((2, 3))):
        assert _validation.check_eps(eps, "unit") is eps
    for bad in (np.asarray(-1.0), np.array([1e-3, np.nan])):
        with pytest.raises(ValueError, match="eps: expected finite values >= 0, one per unit"):
            _validation.check_eps(bad, "unit")


@pytest.mark.parametrize(
    ("sigma", "gamma", "eps", "expected"),
    [
        (5e-324, 1.0, 0.0, (0.0, 0.0)),  # eps = 0: J_eps = J_0 exactly, whatever sigma is
        (5e-324, 1.0, 1.0, (float("inf"), float("inf"))),  # sigma^3 underflows: inf, not ZeroDivisionError
        (1e200, 1.0, 1.0, (0.0, 0.0)),  # sigma^3 overflows: the norm rounds to 0, no OverflowError
        (1.0, 0.0, 0.5, (0.0, 0.0)),  # gamma = 0: no 0 * inf
    ],
)
def test_jacobian_deviation_at_the_ends_of_the_double_range(sigma, gamma, eps, expected):
    assert jacobian.jacobian_deviation(sigma, gamma, eps) == expected


@pytest.mark.parametrize("fn", [jacobian.bn_jacobian, jacobian.bn_jacobian_eigenvalues])
def test_the_jacobians_refuse_a_batch_without_channels(fn):
    with pytest.raises(ValueError, match=r"x: has no channels"):
        fn(np.ones((4, 0)), np.ones(0))
