"""Normalized optimization: GDNP and its baselines, their objectives (Kohler et al. 2019), SGD on normalized weights.

* :mod:`~bntheory.optim.gdnp`: GDNP, plain gradient descent, the Rayleigh-quotient iteration, the
  :class:`~bntheory.optim.gdnp.Problem` record and :meth:`~bntheory.optim.gdnp.Problem.of` for your own objective;
* :mod:`~bntheory.optim.problems`: the built-in objectives (least squares, halfspaces, the tanh MLP unit);
* :mod:`~bntheory.optim.sgd`: SGD / GD with heavy-ball momentum and weight decay on scale-invariant parameters,
  batched over runs, any schedule (Li & Arora 2020's exponential one), the noisy scale-invariant loss and Wan et
  al. 2021's equilibrium predictions.

``bntheory.gdnp`` and ``bntheory.problems`` are these modules under their former names.
"""
