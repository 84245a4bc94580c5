"""Normalized optimization: GDNP and its baselines, and the objectives they run on (Kohler et al. 2019).

* :mod:`~bntheory.optim.gdnp`: GDNP, plain gradient descent, the Rayleigh-quotient iteration, the
  :class:`~bntheory.optim.gdnp.Problem` record and :meth:`~bntheory.optim.gdnp.Problem.of` for your own objective;
* :mod:`~bntheory.optim.problems`: the built-in objectives (least squares, halfspaces, the tanh MLP unit).

``bntheory.gdnp`` and ``bntheory.problems`` are these modules under their former names.
"""
