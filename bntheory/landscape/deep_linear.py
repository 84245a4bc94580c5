r"""Deep linear networks with and without BN, trained by full-batch gradient descent.

The ICS and landscape measures of Santurkar et al. 2018 are recorded along the way.

The network maps a batch :math:`X\in\mathbb R^{n\times d}` (samples in rows) through
:math:`H_\ell=\phi_\ell(H_{\ell-1}W_\ell)`, :math:`\ell=1..k-1`, and a last linear layer
:math:`\hat Y=H_{k-1}W_k`, with the loss :math:`\mathcal L=\frac1{2n}\|\hat Y-Y\|_F^2`. The variants:

``"standard"``
    :math:`\phi_\ell` is the identity (a plain deep linear network);
``"bn"``
    :math:`\phi_\ell` is training-mode BN with :math:`\gamma=1,\beta=0` held fixed (only the weights train,
    so the three variants have the same parameters);
``"bn_noise"``
    BN followed by additive noise :math:`N_\ell` whose entries are i.i.d. per sample, with a per-unit mean
    and standard deviation redrawn at every step: the "noisy BN" network that Santurkar et al. use to
    inject distributional instability (non-zero mean, non-unit variance, time-varying).

Everything is NumPy: the experiment is small and dominated by per-layer overhead. So the public functions validate
their arguments once, and the BN layers inside (thousands of small calls per run) go to the unchecked kernel
:func:`bntheory.norms._batch_kernels.forward_stacked` and its backward, which compute the numbers of
:func:`bntheory.norms.batch.forward` and :func:`~bntheory.norms.batch.backward` (to the bit, tests/test_transform.py)
for a stack of networks at once; what that transform refuses (NaN, inf or an overflow in the statistics: a diverged
run) is screened once per pass and reads as NaN. The gradients are checked against PyTorch autograd in the tests.

References
----------
Santurkar, Tsipras, Ilyas & Madry 2018, arXiv:1805.11604, §2 (ICS experiments, noisy BN) and §3.1
(landscape measures); the 25-layer deep linear network of their appendix (THEORY.md §2.1–§2.2, [R]).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from bntheory._validation import (
    NonFiniteError,
    check_callable,
    check_choice,
    check_int,
    check_real,
    check_rng,
)
from bntheory.landscape.covariate_shift import internal_covariate_shift
from bntheory.landscape.measures import probe_gradient_direction
from bntheory.norms import _batch_kernels as _kernels

__all__ = [
    "VARIANTS",
    "DLNTrace",
    "draw_noise",
    "experiment",
    "fingerprint",
    "flatten",
    "init_weights",
    "loss_and_gradients",
    "paired_experiment",
    "paired_frequency",
    "regression_problem",
    "shifted_layer_gradient",
    "train",
    "unflatten",
]

Variant = Literal["standard", "bn", "bn_noise"]
VARIANTS: tuple[str, ...] = ("standard", "bn", "bn_noise")
#: The epsilon of the BN layers (PyTorch's default).
EPS = 1e-5


def init_weights(rng: np.random.Generator, depth: int, d_in: int, width: int, d_out: int) -> list[np.ndarray]:
    r"""Gaussian weights :math:`W_\ell\sim\mathcal N(0,1/\text{fan-in})`, shapes (fan-in, fan-out), `depth` layers."""
    check_rng(rng)
    _check_depth(depth)
    for name, value in (("d_in", d_in), ("width", width), ("d_out", d_out)):
        check_int(value, name, minimum=1)
    dims = [d_in] + [width] * (depth - 1) + [d_out]
    return [rng.normal(size=(a, b)) / np.sqrt(a) for a, b in itertools.pairwise(dims)]


def regression_problem(
    rng: np.random.Generator, *, depth: int, width: int, n: int
) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    r"""The synthetic task of :func:`train`: data, targets and initial weights, in this order from `rng`.

    :math:`X\sim\mathcal N(0,I_d)` (`n` samples, :math:`d` = `width`), :math:`Y=XA+0.1\,\xi` with a random teacher
    :math:`A_{ij}\sim\mathcal N(0,1/d)`, and weights from :func:`init_weights` (`depth` layers of width `width`).
    """
    check_rng(rng)
    _check_depth(depth)
    check_int(width, "width", minimum=1)
    check_int(n, "n", minimum=1)
    d = width
    X = rng.normal(size=(n, d))
    Y = X @ (rng.normal(size=(d, d)) / np.sqrt(d)) + 0.1 * rng.normal(size=(n, d))
    return X, Y, init_weights(rng, depth, d, width, d)


def draw_noise(rng: np.random.Generator, n: int, width: int, depth: int, *, strength: float = 0.25) -> list[np.ndarray]:
    r"""One step's noise for the hidden layers of a ``"bn_noise"`` network.

    For each layer and unit a mean :math:`m\sim\mathcal U(-s,s)` and a standard deviation
    :math:`\tau\sim\mathcal U(s/2,\,2s)` are drawn (:math:`s` = `strength`); each sample then gets
    :math:`\mathcal N(m,\tau^2)` noise. Redrawing every step makes the distribution time-varying.
    """
    check_rng(rng)
    check_int(n, "n", minimum=1)
    check_int(width, "width", minimum=1)
    _check_depth(depth)
    strength = check_real(strength, "strength", low=0.0)
    noise = []
    for _ in range(depth - 1):
        mean = rng.uniform(-strength, strength, width)
        std = rng.uniform(strength / 2, 2 * strength, width)
        noise.append(mean + std * rng.normal(size=(n, width)))
    return noise


def _check_depth(depth: Any) -> int:
    depth = check_int(depth, "depth")
    if depth < 2:
        raise ValueError(f"depth: need at least 2 layers (one hidden), got {depth}; pass depth >= 2")
    return depth


def _check_variant(variant: str, noise) -> None:
    check_choice(variant, "variant", VARIANTS)
    if variant == "bn_noise" and noise is None:
        raise ValueError("noise: the 'bn_noise' variant needs one noise array per hidden layer; pass draw_noise(...)")


def _check_host_array(a: Any, name: str, ndim: int | None = 2) -> None:
    """A finite float32/float64 NumPy array (the experiment runs on NumPy) of rank `ndim`."""
    if not isinstance(a, np.ndarray):
        raise TypeError(
            f"{name}: expected a NumPy array (deep linear networks run on NumPy), got {type(a).__name__}; "
            "convert it with bntheory.backend.to_numpy or numpy.asarray"
        )
    if a.dtype not in (np.float32, np.float64):
        raise TypeError(f"{name}: expected float32 or float64, got {a.dtype}; convert it with .astype(numpy.float64)")
    if ndim is not None and a.ndim != ndim:
        raise ValueError(f"{name}: expected {ndim} dimensions, got shape {a.shape}; reshape it")
    if not np.all(np.isfinite(a)):
        raise NonFiniteError(f"{name}: contains NaN or inf; replace the non-finite entries")


def _check_weights(weights: Any) -> list[np.ndarray]:
    if isinstance(weights, np.ndarray | str) or not isinstance(weights, Sequence):
        raise TypeError(
            f"weights: expected a sequence of weight matrices, got {type(weights).__name__}; pass a list (init_weights)"
        )
    if len(weights) == 0:
        raise ValueError("weights: expected at least one layer, got none; pass init_weights(...)")
    weights = list(weights)
    for i, W in enumerate(weights):
        _check_host_array(W, f"weights[{i}]")
        if i and W.shape[0] != weights[i - 1].shape[1]:
            raise ValueError(
                f"weights[{i}]: has {W.shape[0]} inputs but layer {i - 1} has {weights[i - 1].shape[1]} outputs; "
                "chain the shapes (fan-in, fan-out)"
            )
    return weights


def _check_network(weights, X, Y, variant, noise) -> None:
    """Validate the arguments of :func:`loss_and_gradients` and :func:`shifted_layer_gradient`."""
    _check_variant(variant, noise)
    weights = _check_weights(weights)
    _check_host_array(X, "X")
    if X.shape[1] != weights[0].shape[0]:
        raise ValueError(f"X: has {X.shape[1]} features, the first layer {weights[0].shape[0]} inputs; match them")
    if variant != "standard" and X.shape[0] < 2:
        raise ValueError(f"X: BN needs at least 2 samples, got {X.shape[0]}; use a larger batch or variant='standard'")
    _check_host_array(Y, "Y")
    if Y.shape != (X.shape[0], weights[-1].shape[1]):
        raise ValueError(
            f"Y: expected shape {(X.shape[0], weights[-1].shape[1])} (samples x outputs), got {Y.shape}; match X"
        )
    if variant == "bn_noise":
        if isinstance(noise, np.ndarray | str) or not isinstance(noise, Sequence) or len(noise) != len(weights) - 1:
            raise ValueError(
                f"noise: expected one array per hidden layer ({len(weights) - 1}); pass draw_noise(...) for this net"
            )
        for j, N in enumerate(noise):
            _check_host_array(N, f"noise[{j}]")
            if N.shape != (X.shape[0], weights[j].shape[1]):
                raise ValueError(f"noise[{j}]: expected shape {(X.shape[0], weights[j].shape[1])}, got {N.shape}")


def _hidden(H: np.ndarray, W: np.ndarray, j: int, variant: str, noise):
    """Hidden layer j of a stack ``(B, n, fan-in)`` of networks, and BN's cache ``(x_hat, inv_std, var)`` (or None).

    ``H W``, then (BN variants) BN with gamma = 1, beta = 0 per network, plus layer j's noise. The stacked networks
    are independent (their own batch statistics) and each gets the numbers it would alone: the matrix product is one
    BLAS call per network and the BN kernel sums over axis 1 in the same order whatever B.
    """
    A = H @ W
    if variant == "standard":
        return A, None
    cache = _kernels.forward_stacked(A, EPS)
    return (cache[0] + noise[j] if variant == "bn_noise" else cache[0]), cache


def _backward(delta: np.ndarray, cache) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
    """`delta` back through a hidden layer's BN, and BN's sums ``(dgamma, dbeta)`` to screen (standard: none)."""
    if cache is None:
        return delta, ()
    dx, dgamma, dbeta = _kernels.backward_stacked(delta, cache[0], cache[1])
    return dx, (dgamma, dbeta)


def loss_and_gradients(
    weights: Sequence[np.ndarray],
    X: np.ndarray,
    Y: np.ndarray,
    *,
    variant: Variant = "standard",
    noise: Sequence[np.ndarray] | None = None,
) -> tuple[float, list[np.ndarray]]:
    r"""Loss :math:`\frac1{2n}\|\hat Y-Y\|_F^2` and its gradient with respect to every weight matrix.

    Parameters
    ----------
    weights : sequence of ndarray
        As from :func:`init_weights`.
    X, Y : ndarray, shapes (n, d_in) and (n, d_out)
        Inputs and targets, samples in rows.
    variant : {"standard", "bn", "bn_noise"}
        See the module docstring.
    noise : sequence of ndarray, optional
        The hidden layers' additive noise (from :func:`draw_noise`); required for ``"bn_noise"`` only.

    Returns
    -------
    loss : float
    grads : list of ndarray, shapes of `weights`
        NaN throughout where a BN layer's input or statistics are not finite (a diverged network).

    Raises
    ------
    ValueError, TypeError
        On weights whose shapes do not chain, data that do not fit them, arrays that are not finite float NumPy
        arrays, an unknown variant or missing noise, each naming the argument.
    """
    _check_network(weights, X, Y, variant, noise)
    return _loss_and_gradients(weights, X, Y, variant, noise)


def _loss_and_gradients(weights, X, Y, variant, noise) -> tuple[float, list[np.ndarray]]:
    """:func:`loss_and_gradients` on valid arguments; a non-finite BN input (a diverged run) gives NaN throughout.

    The training loop's inner call: the arguments were validated once at the public entry, so the BN layers go to
    the unchecked kernel (:func:`~bntheory.norms._batch_kernels.forward_stacked`, the numbers of
    :func:`bntheory.norms.batch.forward`), and what that entry would refuse (NaN, inf or an overflow in a layer's
    statistics or its backward sums) is screened once per pass instead of once per layer.
    """
    losses, grads = _stacked_loss_and_gradients(weights, X, Y, variant, noise)
    return float(losses[0]), [g[0] for g in grads]


def _stacked_loss_and_gradients(weights, X, Y, variant, noise) -> tuple[np.ndarray, list[np.ndarray]]:
    """Losses ``(B,)`` and gradients ``(B, fan-in, fan-out)`` of B networks on the same data, in one pass.

    `weights` are one network's matrices, or stacks ``(B, fan-in, fan-out)`` per layer (the landscape probe's step
    sizes); each network gets the numbers it would alone (one BLAS call per network and product, the BN kernel's
    sums in the same order), and a network whose BN statistics are not finite gets NaN, loss and gradients.
    """
    n = X.shape[0]
    H, caches, stats = [X[None]], [], []
    with np.errstate(all="ignore"):  # a diverged run's overflow shows in the screened statistics
        for i, W in enumerate(weights[:-1]):
            out, cache = _hidden(H[-1], W, i, variant, noise)
            H.append(out)
            caches.append(cache)
            if cache is not None:
                stats.append(cache[2])
        residual = H[-1] @ weights[-1] - Y
        losses = 0.5 * np.sum(residual * residual, axis=(1, 2)) / n
        delta = residual / n
        grads = [H[-1].mT @ delta]
        delta = delta @ weights[-1].mT
        for i in range(len(weights) - 2, -1, -1):
            delta, sums = _backward(delta, caches[i])
            stats.extend(sums)
            grads.append(H[i].mT @ delta)
            delta = delta @ weights[i].mT
    grads.reverse()
    if stats:
        bad = ~np.isfinite(np.concatenate(stats, axis=1)).all(axis=1)
        if bad.any():
            # What the BN transform refuses (NaN, inf, overflow): a run that diverged reads it as a NaN loss.
            losses[bad] = np.nan
            for g in grads:
                g[bad] = np.nan
    return losses, grads


def shifted_layer_gradient(
    weights: Sequence[np.ndarray],
    X: np.ndarray,
    Y: np.ndarray,
    *,
    variant: Variant = "standard",
    noise: Sequence[np.ndarray] | None = None,
):
    r""":math:`G'_{t,i}` of every layer i in one pass over the layers, for :func:`internal_covariate_shift`.

    Returns ``shifted(stepped, i)``: the gradient of layer i of :func:`loss_and_gradients` at
    ``stepped[:i] + weights[i:]`` (NaN where that network's BN statistics are not finite, as there). The first call
    with a `stepped` list computes :math:`G'` of every layer at once: the input of layer i,
    :math:`P_i=\phi(P_{i-1}W^{(t+1)}_{i-1})`, is extended one layer at a time, and the k networks (network i runs
    layers i..k from :math:`P_i`) are stacked, so each layer's forward and backward pass is one array call for every
    network that goes through it, not one call per network. Each network gets the numbers it would get alone (those of
    :func:`loss_and_gradients`, to the bit). Later calls with the same list (by identity) return those gradients;
    another list recomputes them.
    """
    _check_network(weights, X, Y, variant, noise)
    state: dict = {"stepped": None, "shifted": None}

    def shifted(stepped, i):
        if stepped is not state["stepped"]:
            state["stepped"], state["shifted"] = stepped, _shifted_gradients(weights, stepped, X, Y, variant, noise)
        return state["shifted"][i]

    return shifted


def _shifted_gradients(weights, stepped, X, Y, variant, noise) -> list[np.ndarray]:
    """:math:`G'_i` for every layer i in one pass, the networks stacked: network i is row i of the stacks.

    The stack at the input of layer j holds the networks 0..j (network j joins there with :math:`P_j`); on the way
    back, network j leaves at layer j with its gradient. A network whose BN statistics (or those of its prefix) are not
    finite gets NaN, as :func:`loss_and_gradients` gives there.
    """
    k, n = len(weights), X.shape[0]
    bad = np.zeros(k, dtype=bool)  # bad[i]: network i met non-finite BN statistics (what the BN transform refuses)
    with np.errstate(all="ignore"):  # a diverged network's overflow shows in the screened statistics
        prefix = [X[None]]
        for q in range(k - 1):
            out, cache = _hidden(prefix[-1], stepped[q], q, variant, noise)
            prefix.append(out)
            if cache is not None and not np.isfinite(cache[2]).all():
                bad[q + 1 :] = True
        stack, caches = prefix[0], []
        for j in range(k - 1):
            out, cache = _hidden(stack, weights[j], j, variant, noise)
            caches.append(cache)
            if cache is not None:
                bad[: j + 1] |= ~np.isfinite(cache[2]).all(axis=1)
            stack = np.concatenate((out, prefix[j + 1]))
        delta = (stack @ weights[-1] - Y) / n
        shifted = [prefix[k - 1][0].T @ delta[k - 1]]
        delta = delta[: k - 1] @ weights[-1].T
        for j in range(k - 2, -1, -1):
            delta, sums = _backward(delta, caches[j])
            for s in sums:
                bad[: j + 1] |= ~np.isfinite(s).all(axis=1)
            shifted.append(prefix[j][0].T @ delta[j])
            delta = delta[:j] @ weights[j].T
    shifted.reverse()
    for i in np.flatnonzero(bad):
        shifted[i] = np.full(weights[i].shape, np.nan)
    return shifted


def flatten(weights: Sequence[np.ndarray]) -> np.ndarray:
    """All weights as one vector (for the landscape probe)."""
    if isinstance(weights, np.ndarray | str) or not isinstance(weights, Sequence) or not weights:
        raise TypeError(f"weights: expected a non-empty sequence of arrays, got {weights!r:.60}; pass a list of arrays")
    for i, w in enumerate(weights):
        if not isinstance(w, np.ndarray):
            raise TypeError(
                f"weights[{i}]: expected a NumPy array, got {type(w).__name__}; convert it with numpy.asarray"
            )
    return _flatten(weights)


def _flatten(weights: Sequence[np.ndarray]) -> np.ndarray:
    return np.concatenate([w.ravel() for w in weights])


def unflatten(theta: np.ndarray, like: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Inverse of :func:`flatten`, with the shapes of `like`."""
    if isinstance(like, np.ndarray | str) or not isinstance(like, Sequence):
        raise TypeError(f"like: expected a sequence of arrays, got {type(like).__name__}; pass the weights")
    _check_host_array(theta, "theta", ndim=1)
    size = sum(int(np.size(w)) for w in like)
    if theta.size != size:
        raise ValueError(f"theta: has {theta.size} entries, the shapes of like hold {size}; pass flatten(like)")
    return _unflatten(theta, like)


def _unflatten(theta: np.ndarray, like: Sequence[np.ndarray]) -> list[np.ndarray]:
    """:func:`unflatten`; a stack of vectors ``(k, p)`` gives stacks ``(k, *w.shape)`` (contiguous copies)."""
    out, start = [], 0
    for w in like:
        out.append(theta[..., start : start + w.size].reshape(theta.shape[:-1] + w.shape))
        start += w.size
    return out


@dataclass
class DLNTrace:
    """What :func:`train` recorded. Arrays over the measured steps unless said otherwise.

    A run that diverges (a non-finite loss or gradient) stops there: its remaining entries are NaN and
    ``config["diverged_at"]`` holds the step (``None`` otherwise).
    """

    variant: str
    losses: np.ndarray  # every step
    steps: np.ndarray  # the measured steps
    ics_l2: np.ndarray  # (measured steps, layers)
    ics_cosine: np.ndarray  # (measured steps, layers)
    gradient_norms: np.ndarray  # (measured steps, layers)
    loss_variation: np.ndarray
    gradient_predictiveness: np.ndarray
    effective_smoothness: np.ndarray
    config: dict = field(default_factory=dict)

    @property
    def mean_ics_cosine(self) -> float:
        """Mean ICS cosine over the measured steps and the layers after the first (NaN if none is finite)."""
        cos = self.ics_cosine[:, 1:]
        finite = np.isfinite(cos)
        return float(np.mean(cos[finite])) if finite.any() else np.nan

    @property
    def landscape_roughness(self) -> float:
        """The larger of the median loss variation and the median gradient change over the measured steps.

        NaN if the run diverged before a measurement (a NaN entry makes its median NaN).
        """
        # np.maximum keeps NaN (the builtin max would drop it when it comes second).
        return float(np.maximum(np.median(self.loss_variation), np.median(self.gradient_predictiveness)))

    @property
    def trained(self) -> bool:
        """Whether the run trained: every loss and measurement finite, and the final loss below the initial one."""
        measured = (self.losses, self.ics_cosine[:, 1:], self.loss_variation, self.gradient_predictiveness)
        finite = all(bool(np.isfinite(a).all()) for a in measured)
        return finite and bool(self.losses[-1] < self.losses[0])

    @property
    def median_effective_smoothness(self) -> float:
        """Median effective beta-smoothness over the measured steps (NaN if the run diverged before one)."""
        return float(np.median(self.effective_smoothness))


def train(
    seed: int,
    variant: Variant,
    *,
    depth: int = 25,
    width: int = 10,
    n: int = 100,
    steps: int = 100,
    lr: float = 0.05,
    measure_every: int = 10,
    eta_multiples: Sequence[float] = (0.5, 1.0, 2.0, 4.0),
    noise_strength: float = 0.25,
) -> DLNTrace:
    r"""Train a deep linear network by full-batch GD on a synthetic Gaussian regression task.

    Data: :math:`X\sim\mathcal N(0,I_{10})` (n samples), :math:`Y=XA+0.1\,\xi` with a random teacher
    :math:`A` (:math:`A_{ij}\sim\mathcal N(0,1/d)`). Data, initial weights and noise depend on `seed` only,
    so the variants are compared on identical problems and starting points (a paired comparison).
    Every `measure_every` steps the run records the ICS of every layer
    (:func:`~bntheory.landscape.covariate_shift.internal_covariate_shift`) and probes the landscape along the
    gradient at step sizes ``lr * eta_multiples`` (:func:`~bntheory.landscape.measures.probe_gradient_direction`).
    """
    check_int(seed, "seed", minimum=0)
    check_choice(variant, "variant", VARIANTS)
    _check_depth(depth)
    check_int(width, "width", minimum=1)
    check_int(n, "n", minimum=1 if variant == "standard" else 2)
    check_int(steps, "steps", minimum=1)
    lr = check_real(lr, "lr", low=0.0, open_low=True)
    check_int(measure_every, "measure_every", minimum=1)
    _check_positive_numbers(eta_multiples, "eta_multiples")
    noise_strength = check_real(noise_strength, "noise_strength", low=0.0)
    X, Y, weights = regression_problem(np.random.default_rng([seed, 2018]), depth=depth, width=width, n=n)
    noise_rng = np.random.default_rng([seed, 2018, 1])
    etas = lr * np.asarray(eta_multiples, dtype=np.float64)
    measured = np.arange(0, steps, measure_every)
    # Pre-filled with NaN: a run that diverges keeps its shape, so seeds stack, and says where it stopped.
    losses = np.full(steps + 1, np.nan)
    ics_l2, ics_cos, gnorms = (np.full((measured.size, depth), np.nan) for _ in range(3))
    variation, predictiveness, smoothness = (np.full(measured.size, np.nan) for _ in range(3))
    diverged_at = None
    for t in range(steps + 1):
        noise = draw_noise(noise_rng, n, width, depth, strength=noise_strength) if variant == "bn_noise" else None

        def grads_at(ws, noise=noise):
            return _loss_and_gradients(ws, X, Y, variant, noise)

        with np.errstate(over="ignore", invalid="ignore"):
            loss, grads = grads_at(weights)
        if not (np.isfinite(loss) and np.isfinite(_flatten(grads)).all()):  # one pass, not one per layer
            diverged_at = t
            break
        losses[t] = loss
        if t == steps:
            break
        if t % measure_every == 0:
            k = t // measure_every
            theta = _flatten(weights)

            # Both measures start with the gradient at the current weights, which this step already holds.
            def gradients(ws, here=(weights, grads), grads_at=grads_at):
                return here[1] if all(a is b for a, b in zip(ws, here[0], strict=True)) else grads_at(ws)[1]

            def loss_and_grad(t, here=(theta, loss, grads), like=weights, noise=noise):
                if t is here[0]:
                    return here[1], _flatten(here[2])
                # The probe's step sizes, stacked (k, p): their k networks in one pass.
                losses, stacked = _stacked_loss_and_gradients(_unflatten(t, like), X, Y, variant, noise)
                return losses, np.concatenate([g.reshape(t.shape[0], -1) for g in stacked], axis=1)

            with np.errstate(over="ignore", invalid="ignore"):
                shifted = shifted_layer_gradient(weights, X, Y, variant=variant, noise=noise)
                shift = internal_covariate_shift(gradients, weights, lr, shifted_gradient=shifted)
                probe = probe_gradient_direction(loss_and_grad, theta, etas, vectorized=True)
            ics_l2[k], ics_cos[k] = shift.l2, shift.cosine
            gnorms[k] = [np.linalg.norm(g) for g in grads]
            variation[k] = probe.loss_variation
            predictiveness[k] = probe.gradient_predictiveness
            smoothness[k] = probe.effective_smoothness
        weights = [w - lr * g for w, g in zip(weights, grads, strict=True)]
    config = {
        "seed": seed,
        "depth": depth,
        "width": width,
        "n": n,
        "steps": steps,
        "lr": lr,
        "measure_every": measure_every,
        "eta_multiples": list(eta_multiples),
        "noise_strength": noise_strength,
        "diverged_at": diverged_at,
    }
    return DLNTrace(variant, losses, measured, ics_l2, ics_cos, gnorms, variation, predictiveness, smoothness, config)


def experiment(
    seeds: Sequence[int], lrs: Sequence[float], variants: Sequence[str] = VARIANTS, **kwargs
) -> dict[tuple[str, float], list[DLNTrace]]:
    """:func:`train` for every variant, learning rate and seed; ``{(variant, lr): [trace per seed]}``.

    Keyword arguments go to :func:`train` (depth, width, steps, ...).
    """
    if isinstance(seeds, str) or not isinstance(seeds, Sequence):
        raise TypeError(f"seeds: expected a sequence of ints, got {type(seeds).__name__}; pass e.g. [0, 1, 2]")
    for seed in seeds:
        check_int(seed, "seeds", minimum=0)
    _check_positive_numbers(lrs, "lrs")
    _check_variants(variants)
    return {(v, lr): [train(seed, v, lr=lr, **kwargs) for seed in seeds] for v in variants for lr in lrs}


def paired_experiment(
    rng: np.random.Generator, problems: int, lrs: Sequence[float], variants: Sequence[str] = VARIANTS, **kwargs
) -> dict[tuple[str, float], list[DLNTrace]]:
    """:func:`experiment` on `problems` problems whose seeds are drawn from `rng` (a check's stream).

    Every variant and learning rate sees the same problems in the same order, so ``runs[(a, lr)][i]`` and
    ``runs[(b, lr)][i]`` are a pair (same data, same initial weights).
    """
    check_rng(rng)
    if check_int(problems, "problems") < 1:
        raise ValueError(f"problems: need at least one problem, got {problems}; pass problems >= 1")
    _check_positive_numbers(lrs, "lrs")
    _check_variants(variants)
    seeds = [int(s) for s in rng.integers(0, 2**31 - 1, size=problems)]
    return experiment(seeds, lrs, variants, **kwargs)


def paired_frequency(
    runs: dict[tuple[str, float], list[DLNTrace]], holds, a: str, b: str, figure
) -> tuple[int, int, list[str]]:
    """How many pairs ``(run of a, run of b)`` satisfy ``holds(run_a, run_b)``, over every learning rate.

    Parameters
    ----------
    runs : dict
        As from :func:`paired_experiment`.
    holds : callable
        ``holds(trace_a, trace_b) -> bool``; a comparison with NaN (a diverged run) is False, so it never
        counts for the claim.
    a, b : str
        The variants compared.
    figure : callable
        ``figure(trace) -> float``, the per-run number shown for each pair (``"a/b"``).

    Returns
    -------
    successes, pairs : int
    figures : list of str
    """
    if not isinstance(runs, dict):
        raise TypeError(f"runs: expected the dict of paired_experiment, got {type(runs).__name__}; pass that dict")
    check_callable(holds, "holds", "a function (trace_a, trace_b) -> bool")
    check_callable(figure, "figure", "a function trace -> float")
    present = sorted({variant for variant, _ in runs})
    for name, variant in (("a", a), ("b", b)):
        if variant not in present:
            raise ValueError(f"{name}: no runs of variant {variant!r} in runs (has {present}); choose one of them")
    lrs = sorted({lr for variant, lr in runs if variant == a})
    wins, total, figures = 0, 0, []
    for lr in lrs:
        for ta, tb in zip(runs[(a, lr)], runs[(b, lr)], strict=True):
            wins += bool(holds(ta, tb))
            total += 1
            figures.append(f"{figure(ta):.3g}/{figure(tb):.3g}")
    return wins, total, figures


def _check_positive_numbers(values: Any, name: str) -> None:
    if isinstance(values, str) or not isinstance(values, Sequence | np.ndarray) or len(values) == 0:
        raise TypeError(
            f"{name}: expected a non-empty sequence of positive numbers, got {values!r:.40}; pass e.g. (1.0,)"
        )
    for v in values:
        check_real(v, name, low=0.0, open_low=True)


def _check_variants(variants: Any) -> None:
    if isinstance(variants, str) or not isinstance(variants, Sequence):
        raise TypeError(f"variants: expected a sequence of variant names, got {variants!r}; pass e.g. ('bn',)")
    for v in variants:
        check_choice(v, "variants", VARIANTS)


def fingerprint() -> str:
    """The identity of the functions a run calls, for memo keys of shared runs.

    A memo of runs computed with one implementation must not be reused once a function was replaced (a patched
    or poisoned function under test): the key then changes with it.
    """
    called = (train, loss_and_gradients, shifted_layer_gradient, internal_covariate_shift, probe_gradient_direction)
    called += (_kernels.forward_stacked, _kernels.backward_stacked)
    return "-".join(f"{id(f):x}" for f in called)
