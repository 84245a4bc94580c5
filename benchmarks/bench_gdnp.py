"""GDNP against its floor and against what a user would run instead, as ratios measured in one run.

Least squares (population form: S with condition number kappa, u = S w_true), d in {256, 1024, 4096}:

* ``it/mv``      GDNP's time per iteration / one matrix-vector product ``S @ w`` (its floor);
* ``iters``      GDNP iterations until rho(w_t) - rho* <= tol * (rho(w_0) - rho*), and ``bound`` the count the
  theorem's rate (1 - mu/L)^2 predicts for the same reduction;
* ``GDNP/CG``    GDNP's time to that tolerance / ``scipy.sparse.linalg.cg`` to the same relative suboptimality;
* ``GDNP/chol``  the same against a Cholesky solve (``scipy.linalg.cho_factor`` + ``cho_solve``).

Halfspaces (softplus, Gaussian inputs, d = 20): iterations and gradient evaluations of GDNP and of plain GD
(step 1/zeta, zeta = L/4, the smoothness of the logistic loss) to reach the same gradient norm.

For convex least squares GDNP's rate is plain GD's and CG (rate set by sqrt(kappa)) or a direct solve wins;
GDNP's case is the non-convex one. Usage: ``python benchmarks/bench_gdnp.py [--sizes 256 1024 4096]``
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import scipy.linalg
import scipy.sparse.linalg

from bntheory.optim import gdnp, problems
from bntheory.optim.problems import spd_with_condition

TOL = 1e-8


def least_squares_row(d: int, kappa: float, rng: np.random.Generator) -> dict[str, float]:
    S = spd_with_condition(rng, d, kappa)
    u = S @ rng.normal(size=d)
    problem = problems.least_squares_moments(S, u, 0.0)
    rho_star = -float(u @ problem.optimum)
    w0 = rng.normal(size=d)
    q = (1 - problem.mu / problem.L) ** 2
    start = time.perf_counter()
    T = int(np.ceil(np.log(TOL) / np.log(q))) + 5
    # Without the dual-norm diagnostics (S^-1 and two products with it per iteration), as a large study runs.
    res = gdnp.gdnp(problem, w0, T_d=T, T_s=50, diagnostics=False)
    gdnp_total = time.perf_counter() - start
    gaps = res.trace.rho - rho_star
    hit = np.flatnonzero(gaps <= TOL * gaps[0])
    iters = int(hit[0]) if hit.size else T
    per_iter = gdnp_total / (T + 1)
    w = rng.normal(size=d)
    reps = 20
    start = time.perf_counter()
    for _ in range(reps):
        S @ w
    matvec = (time.perf_counter() - start) / reps
    # CG to the same relative suboptimality: f - f* = ||x - x*||_S^2, so stop at rtol = sqrt(TOL) on the
    # residual, a little looser than needed; it is the fairer side of the comparison for GDNP.
    start = time.perf_counter()
    scipy.sparse.linalg.cg(S, u, rtol=np.sqrt(TOL) / np.sqrt(kappa), maxiter=10 * d)
    cg = time.perf_counter() - start
    start = time.perf_counter()
    scipy.linalg.cho_solve(scipy.linalg.cho_factor(S), u)
    chol = time.perf_counter() - start
    bound_iters = int(np.ceil(np.log(TOL) / np.log(q)))
    return {"d": d, "kappa": kappa, "it/mv": per_iter / matvec, "iters": iters, "bound": bound_iters,
            "GDNP/CG": per_iter * iters / cg, "GDNP/chol": per_iter * iters / chol}


def halfspace_row(kappa: float, rng: np.random.Generator) -> dict[str, float]:
    d = 20
    S = spd_with_condition(rng, d, kappa)
    u = rng.normal(size=d)
    u *= np.sqrt(0.5 / (u @ np.linalg.solve(S, u)))
    problem = problems.halfspace(S, u)
    w0 = rng.normal(size=d)
    res = gdnp.gdnp(problem, w0, T_d=60, T_s=40)
    target = res.trace.grad_norm[-1] * 1.01
    gd = gdnp.gd(problem, res.trace.length[0] * w0 / np.sqrt(w0 @ S @ w0), T=5000, step=4 / problem.L)
    gd_hit = np.flatnonzero(gd.grad_norm <= target)
    gdnp_hit = int(np.flatnonzero(res.trace.grad_norm <= target)[0])
    # Gradient evaluations: GDNP's length step costs one per bisection step plus the bracket search.
    return {"kappa": kappa, "target": target, "GDNP iters": gdnp_hit, "GDNP grads": gdnp_hit * (40 + 8),
            "GD iters": int(gd_hit[0]) if gd_hit.size else -1}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 1024, 4096])
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print(f"least squares, tolerance {TOL:g} on rho - rho*")
    print(f"{'d':>6} {'kappa':>6} {'it/mv':>7} {'iters':>6} {'bound':>6} {'GDNP/CG':>8} {'GDNP/chol':>10}")
    for d in args.sizes:
        for kappa in (10.0, 100.0):
            r = least_squares_row(d, kappa, rng)
            print(f"{r['d']:>6} {r['kappa']:>6g} {r['it/mv']:>7.1f} {r['iters']:>6} {r['bound']:>6} "
                  f"{r['GDNP/CG']:>8.1f} {r['GDNP/chol']:>10.1f}")
    print("\nhalfspaces (softplus, d = 20): iterations to GDNP's final gradient norm (+1%)")
    for kappa in (2.0, 20.0):
        r = halfspace_row(kappa, rng)
        print(f"kappa {r['kappa']:>4g}: GDNP {r['GDNP iters']} iterations (~{r['GDNP grads']} gradients), "
              f"plain GD {r['GD iters']} iterations (= gradients); target {r['target']:.2e}")


if __name__ == "__main__":
    main()
