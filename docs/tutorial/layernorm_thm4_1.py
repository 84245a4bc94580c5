r"""Verify your own claim: Santurkar et al.'s Theorem 4.1 for LayerNorm, in one file.

The claim (the transfer T2 of THEORY-2.md §9.4, derived there): for LayerNorm over the :math:`m` features of one
sample, with an elementwise gain :math:`\gamma` and :math:`\epsilon\ge0`, write :math:`\delta=\partial L/\partial y`
at its output and :math:`g=\gamma\odot\delta`. Then

.. math::

    \|\nabla_x L\|^2\le\frac1{s^2}\Big(\|g\|^2-\tfrac1m(\mathbf 1^\top g)^2-\tfrac1m(\hat x^\top g)^2\Big),\qquad
    s^2=\operatorname{var}(x)+\epsilon,\quad \hat x=(x-\bar x\mathbf 1)/s,

with equality at :math:`\epsilon=0`. The gain sits *inside* the projector: pulling it out as
:math:`\overline{\gamma^2}` gives a formula that is false, which is this result's negative control.

Check it::

    bntheory verify --with docs/tutorial/layernorm_thm4_1.py --only mylab2026

or, in your own repository's test suite, ``pytest --bntheory=mylab2026 --bntheory-with=layernorm_thm4_1.py``.
"""

import mpmath
import numpy as np

from bntheory.checks import Inequality, Params, attack_family, batch, nonneg, vector
from bntheory.checks.oracles import mp_central_gradient, torch_normalize
from bntheory.context import Context
from bntheory.registry import paper

# --- 1. The formula under test: the right side you claim ---------------------------------------------------


def gradient_bound(delta: np.ndarray, x: np.ndarray, gamma: np.ndarray, eps) -> np.ndarray:
    """The claimed right side, for samples' features `x` (..., m) and upstream gradients `delta` (..., m).

    The features run along the last axis; leading axes are independent samples (the attack hands in a million
    at once), with one `eps` each (or one for all).
    """
    m = x.shape[-1]
    s2 = x.var(axis=-1) + eps
    x_hat = (x - x.mean(axis=-1, keepdims=True)) / np.sqrt(s2)[..., None]
    g = gamma * delta
    return (np.sum(g * g, axis=-1) - g.sum(axis=-1) ** 2 / m - np.sum(x_hat * g, axis=-1) ** 2 / m) / s2


def gain_pulled_out(delta: np.ndarray, x: np.ndarray, gamma: np.ndarray, eps) -> np.ndarray:
    """The nearest false formula: the BN form with the gain outside the projector, as mean(gamma^2)."""
    return np.mean(gamma**2, axis=-1) * gradient_bound(delta, x, np.ones_like(gamma), eps)


# --- 2. Two oracles independent of that formula: PyTorch autograd, and LayerNorm in mpmath ---------------------


def torch_gradient_norm2(v: dict) -> np.ndarray:
    """||grad_x <delta, gamma * LN(x)>||^2 by autograd through LayerNorm from torch primitives (float64, batched).

    ``torch.nn.functional.layer_norm`` takes one `eps` and one gain for the whole batch; the attack's instances
    each have their own, so LayerNorm is written out (:func:`bntheory.checks.oracles.torch_normalize`, the
    normalization along the last axis) and autograd differentiates it.
    """
    import torch

    x = torch.tensor(v["x"], requires_grad=True)
    y = torch.tensor(v["gamma"]) * torch_normalize(x, torch.tensor(v["eps"]))
    (grad,) = torch.autograd.grad((y * torch.tensor(v["delta"])).sum(), x)
    return (grad * grad).sum(-1).numpy()


def mp_gradient_norm2(v: dict) -> float:
    """The same for one instance at 50 digits: LayerNorm written in mpmath, differentiated by central differences."""
    weights = [mpmath.mpf(float(d)) * mpmath.mpf(float(c)) for d, c in zip(v["delta"], v["gamma"], strict=True)]
    eps = mpmath.mpf(float(v["eps"]))

    def loss(x: list) -> mpmath.mpf:
        mu = mpmath.fsum(x) / len(x)
        s = mpmath.sqrt(mpmath.fsum((t - mu) ** 2 for t in x) / len(x) + eps)
        return mpmath.fsum(w * (t - mu) / s for w, t in zip(weights, x, strict=True))

    grad = mp_central_gradient(loss, v["x"])
    return float(grad @ grad)


# --- 3. The statement as a spec the kit attacks --------------------------------------------------------------


def specs(ctx: Context, rhs) -> dict[str, Inequality]:
    """One spec per feature count m; `rhs` is the formula whose claim is attacked.

    Every side takes a batch: block name -> array (N, *shape), here NumPy (the check runs on the host).
    """

    def spec(m: int) -> Inequality:
        def equality(rng: np.random.Generator) -> list[dict]:
            """At eps = 0 the bound is attained for every delta and gamma."""
            return [
                {"x": rng.normal(size=m) * 2 + 1, "delta": rng.normal(size=m), "gamma": rng.normal(size=m), "eps": 0.0}
                for _ in range(3)
            ]

        g2 = lambda v: np.sum((v["gamma"] * v["delta"]) ** 2, axis=-1) / (v["x"].var(axis=-1) + v["eps"])  # noqa: E731
        return Inequality(
            Params(
                batch("x", m), vector("delta", m, spread=(0.1, 5)), vector("gamma", m, spread=(0.3, 2)), nonneg("eps")
            ),
            lhs=torch_gradient_norm2,
            rhs=lambda v: rhs(v["delta"], v["x"], v["gamma"], v["eps"]),
            lhs_exact=mp_gradient_norm2,
            valid=lambda v: v["x"].var(axis=-1) + v["eps"] >= 1e-12,
            # The right side subtracts two squares from ||g||^2: near g in span{1, x_hat} its float64 value is
            # rounding noise of size ~1e-16 ||g||^2 / s^2. The search adds this allowance so that the climber
            # does not chase that noise; the reported ratios never include it.
            allowance=lambda v: 1e-11 * g2(v),
            equality=equality,
            what="||grad_x L||^2 / rhs",
        )

    return {f"m={m}": spec(m) for m in ctx.by_size(quick=(3, 5), default=(3, 5, 8))}


# --- 4. The record: your paper, the result, its check and its negative control ----------------------------

MYLAB2026 = paper("mylab2026", citation="My Lab 2026", source="tutorial of bntheory")

layernorm_gradient = MYLAB2026.result(
    "layernorm_thm4_1",
    where="Theorem 4.1 of Santurkar et al. 2018 transferred to LayerNorm (THEORY-2.md §9.4, T2)",
    title="LayerNorm bounds the gradient magnitude, gain inside the projector",
    tag="D",
    statement=(
        r"\|\nabla_x L\|^2\le\frac1{s^2}\Big(\|g\|^2-\tfrac1m(\mathbf 1^\top g)^2-\tfrac1m(\hat x^\top g)^2\Big),"
        r"\ g=\gamma\odot\delta"
    ),
    assumptions=("one sample, LayerNorm over its m >= 2 features", "eps >= 0; equality at eps = 0"),
)


@layernorm_gradient.numeric("worst case: random, adversarial, climbed instances; mpmath refined", needs=("torch",))
def _(ctx: Context):
    return attack_family(specs(ctx, gradient_bound), ctx)


@layernorm_gradient.negative_control("the gain pulled out of the projector as mean(gamma^2)", needs=("torch",))
def _(ctx: Context):
    return attack_family(specs(ctx, gain_pulled_out), ctx, control=True)
