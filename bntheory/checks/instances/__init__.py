"""Instance generators: what a check builds before it compares, by domain.

* :mod:`~bntheory.checks.instances.batches`: BN batches and layouts, running statistics, drifting batch streams;
* :mod:`~bntheory.checks.instances.landscape`: Santurkar et al.'s batches, downstream functions, aligned
  (equality) batches and random BN MLPs;
* :mod:`~bntheory.checks.instances.optim`: SPD matrices, halfspace and least-squares instances, adversarial starts
  for the rate checks, OLS and pencil references;
* :mod:`~bntheory.checks.instances.networks`: seeded stacks of deep random networks and their measurements.
"""
