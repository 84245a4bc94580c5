r"""Normalized optimization: GDNP, its objectives, and the dynamics of scale-invariant training.

GDNP and its baselines run on the objectives of Kohler et al. 2019; the rest is THEORY-2.md §10.

* :mod:`~bntheory.optim.gdnp`: GDNP, plain gradient descent, the Rayleigh-quotient iteration, the
  :class:`~bntheory.optim.gdnp.Problem` record and :meth:`~bntheory.optim.gdnp.Problem.of` for your own objective;
* :mod:`~bntheory.optim.problems`: the built-in objectives (least squares, halfspaces, the tanh MLP unit);
* :mod:`~bntheory.optim.scale_invariant`: scale-invariant losses (:math:`f(w/\|w\|)`, a BN unit, BN and LayerNorm
  networks in their first-layer weights) and batched gradient descent on them (THEORY-2.md §10.1-§10.3);
* :mod:`~bntheory.optim.bngd`: BNGD on population least squares and plain GD beside it (Cai et al. 2019, §10.5).
* :mod:`~bntheory.optim.sgd`: SGD / GD with heavy-ball momentum and weight decay on scale-invariant parameters,
  batched over runs, any schedule (Li & Arora 2020's exponential one), the noisy scale-invariant loss and Wan et
  al. 2021's equilibrium predictions.

``bntheory.gdnp`` and ``bntheory.problems`` are these modules under their former names.
"""
