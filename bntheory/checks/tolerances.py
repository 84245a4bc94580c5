r"""Every tolerance a check compares with, in one place, each with the reason for its value.

A tolerance is a :class:`Tolerance`: a number and why it is that number. Results modules import these rather
than writing literals, so that a tolerance is loosened, if ever, in one reviewed place, and the report can say
why a margin is what it is. The rule behind all of them: far above the error of a correct computation, far
below the smallest error that any plausible wrong formula produces (the negative controls show the latter).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "BRENT_ARGMIN",
    "CENTRAL_DIFFERENCE",
    "CLOSED_FORM",
    "CONFIDENCE",
    "EQUALITY_REACH",
    "EQUILIBRIUM",
    "FLOAT32_ORACLE",
    "FLOAT64_ORACLE",
    "GAP_DECAY",
    "GRAM_SCORE",
    "IDENTITY",
    "INTERLACING",
    "MP_RECURSION",
    "NOT_INVARIANT",
    "POWER_ITERATION",
    "RANK_GAP",
    "RATE_FLOOR",
    "RATE_REACH",
    "RATE_SLACK",
    "RATIO",
    "RATIO_SLACK",
    "SLQ_ROUNDING_FLOOR",
    "SLQ_SCORE",
    "STATIONARY_SOFT_RANK",
    "T5_SPLIT",
    "T6_COSINE",
    "TABLE_RANK",
    "TABLE_SOFT_ABS",
    "TABLE_SOFT_REL",
    "TRAJECTORY",
    "Tolerance",
]


@dataclass(frozen=True)
class Tolerance:
    """A tolerance and its justification."""

    value: float
    why: str

    def __float__(self) -> float:
        return self.value


#: Closed forms (Jacobians, backward passes, bounds' algebra) against 50-digit mpmath references: THEORY.md §0
#: sets rtol 1e-10 for closed forms; float64 evaluation of these formulas is accurate to ~1e-15 relative.
CLOSED_FORM = Tolerance(1e-10, "THEORY.md §0: rtol for closed forms; float64 evaluation errs by ~1e-15")

#: Against another float64 implementation of the same quantity (PyTorch autograd, SciPy): both err by a few ulp
#: times a condition number of order 10-100 on the instances drawn.
FLOAT64_ORACLE = Tolerance(1e-12, "two float64 computations of one quantity: a few ulp times a moderate condition")

#: An exact identity (sum identities, decompositions) evaluated in float64 both ways.
IDENTITY = Tolerance(1e-12, "an exact identity evaluated in float64 on both sides")

#: A worst-case ratio whose left side is re-evaluated at 50-60 digits and whose right side is the library's float64
#: value: an identity shows up as 1 +- 2e-14 at worst over the 10^6 instances of a default verify (Theorems 4.1-4.4,
#: Lemma 4.5), so 1e-12 leaves fifty times that and is still ten orders below the smallest violation any control
#: produces. At 10^8 instances (benchmarks/bench_attack.py --size large) Theorem 4.2's worst was 1 + 5.5e-13, of
#: the size of its float64 right side's rounding at a cancellation: a search that large would need the right side's
#: own rounding bound in place of this constant.
RATIO_SLACK = Tolerance(1e-12, "mpmath left side vs the library's float64 right side: 1 +- 1e-14 at an identity")

#: How close to 1 an attack must come on a statement's declared equality instances: they evaluate to 1 +- 1e-14
#: (exact equality; Theorem 4.4's aligned batch is one too: 1 - 1e-15 measured, seeds 0-9); any bound inflated
#: by a factor 1 + 1e-6 or more then fails.
EQUALITY_REACH = Tolerance(1e-9, "equality instances evaluate to 1 +- 1e-14; an inflated bound falls below")


@dataclass(frozen=True)
class _Ratio:
    slack: float = RATIO_SLACK.value
    tight: float = EQUALITY_REACH.value


#: The pair used by :func:`bntheory.checks.inequality.verdict`.
RATIO = _Ratio()

#: Relative slack on a per-step rate bound: the bounds are nearly tight (worst ratios 0.9999995, THEORY.md
#: §3.4) and float64 rounding of the gaps is ~1e-10 relative above the floor.
RATE_SLACK = Tolerance(1e-6, "THEORY.md §8: per-step rate bounds are nearly tight; gaps round at ~1e-10")

#: Steps whose error is below this fraction of the first error sit at rounding level and are not compared
#: (THEORY.md §8: beyond it the ratio to a still-shrinking bound "explodes" spuriously).
RATE_FLOOR = Tolerance(1e-9, "THEORY.md §8: below ~1e-9 of the first gap the error is rounding")

#: Level of every confidence interval and bound (Clopper-Pearson, the rate's t-interval).
CONFIDENCE = Tolerance(0.95, "the conventional level; claims are gated on the interval, not the point estimate")

#: How close to 1 the largest ratio must come when a check includes adversarial runs (instances where the bound is
#: nearly attained: :func:`bntheory.checks.instances.optim.near_optimum` reaches 1 - 5e-5 at worst). A bound loose
#: by a factor 1.001 per step, or a step 0.1% shorter than the theorem's, then fails.
RATE_REACH = Tolerance(1e-3, "adversarial starts reach 1 - 5e-5 (kappa 2..100); a bound 0.1% loose per step fails")

#: A length step against Brent's minimiser of the value: ``scipy.optimize.minimize_scalar`` locates a smooth minimum
#: to about sqrt(eps) ~ 1.5e-8 relative (its default xtol); a length off by 0.1% fails by three orders.
BRENT_ARGMIN = Tolerance(1e-6, "Brent's argmin is accurate to ~1.5e-8 relative; a 0.1% wrong length fails")

#: z-score gate on the SLQ moments. Each moment is the mean of K independent bounded terms with the exact
#: variance above; at 5 standard errors the normal tail is 5.7e-7 per moment (measured z-scores over seeds 0-9 and
#: moments 1-8: at most about 3). The equal-weight rule misses by 30-100 standard errors at the sizes used.
SLQ_SCORE = Tolerance(5.0, "5 standard errors of the Hutchinson mean (exact variance); normal tail 6e-7")

#: Interlacing of each probe's Ritz values with the dense eigenvalues, relative to the spectral range: with full
#: re-orthogonalization the Lanczos basis is orthonormal to ~1e-15, so the Ritz values interlace to ~1e-15 of
#: the range (measured <= 2e-15); ghosts without re-orthogonalization break it by 0.18-0.68 of the range (D steps).
INTERLACING = Tolerance(1e-10, "orthonormal Lanczos basis to ~1e-15: Ritz values interlace to ~1e-15 of the range")

#: Standard-error floor of :func:`bntheory.checks.spectral.moment_scores` for matrices whose Hutchinson variance is
#: zero (diagonal ones), where any estimate is exact up to rounding.
SLQ_ROUNDING_FLOOR = Tolerance(1e-12, "a zero-variance moment is exact up to rounding of order 1e-15")

#: Numerical rank of an oracle Jacobian (50-digit central differences rounded to float64): its zero singular values
#: are ~1e-16 of the largest, while the smallest nonzero one in the normalization checks (the direction eps > 0 lets
#: survive, (1/s) eps / (sigma^2 + eps) at eps = 0.1) is above 1e-2 of it, so any cut in between counts the same.
RANK_GAP = Tolerance(1e-9, "oracle singular values: zeros at ~1e-16 of the largest, the smallest nonzero above 1e-2")

#: Against another float32 implementation (PyTorch's kernels): float32 resolution 6e-8 times the O(10-100)
#: condition of a normalization's backward pass (a division by s and two group means).
FLOAT32_ORACLE = Tolerance(1e-5, "two float32 computations of one quantity: 6e-8 resolution times a moderate condition")

#: THEORY.md §5.1's reference table (Daneshmand et al. 2020: d = N = 32, medians of 3 networks), gated entry by entry.
#: From the seed-to-seed spread of a median of 3 networks (24 seeds of this package's streams): numerical ranks
#: within 1 of the reference, hence +-2; soft ranks within 0.29 absolute (no BN, depth 100) and 20% relative (BN),
#: hence abs(measured - reference) <= 0.3 + 0.25 reference. The stable rank in place of the soft rank is 41-49% low at
#: depth 0 (8.2-9.4 vs 16) and fails; the false "BN keeps full rank" (32 for 10 at depth 1000) misses by 11 units.
TABLE_RANK = Tolerance(2.0, "medians of 3 networks are within 1 of the reference rank over 24 seeds")
TABLE_SOFT_ABS = Tolerance(0.3, "soft-rank medians of 3 networks spread by up to 0.29 absolute (no BN, depth 100)")
TABLE_SOFT_REL = Tolerance(0.25, "soft-rank medians of 3 networks spread by up to 20% relative (BN)")

#: Stationary soft ranks of the rescaling-only chain against THEORY.md §5.1's 2.2, 3.3, 4.9, 7.2, ...: medians over 3
#: networks and half the layers vary by a few percent between seeds (2.24, 3.33, 4.83, 7.15 at seed 0); the stable
#: rank is ~40% lower, division by the std about the mean 1-18% (1.8, 3.2, 4.7, 7.1).
STATIONARY_SOFT_RANK = Tolerance(0.10, "medians of a stationary chain vary by a few percent between seeds")

#: z-score gate on the Monte Carlo mean of the Gram after RC + ReLU (Nachum et al. 2024's invariant configuration):
#: the largest over its entries of abs(mean - G) in standard errors of antithetic pairs; at 5 the normal tail is
#: 5.7e-7 per entry. A 1% error in alpha is ~8 standard errors at the default size, THEORY.md §4.4's false alpha ~50.
GRAM_SCORE = Tolerance(5.0, "5 standard errors of the Monte Carlo Gram (normal tail 6e-7); a 1% wrong alpha is ~8")

#: The gap plateau reached from a nearly rank-one input against the Gaussian input's (Daneshmand et al. 2021, d = 64):
#: plateaus of 12 seeds x 40 layers vary by ~3% between seeds; a chain that had not decayed sits near V = 0.9.
GAP_DECAY = Tolerance(0.15, "plateaus of 12 seeds x 40 layers vary by ~3%; an undecayed chain is ~0.9 vs ~0.1")

#: The least output change that counts as "not invariant" in THEORY-2.md §9.3's table (relative to the output): the
#: transformations are O(1) (delta in {0.1, 2.5, 10}, shifts c of the scale of W or of the data), and over 300
#: seeds x 3 factors the smallest change of an "N" cell was 0.08 (every "Y" cell stayed below 1.1e-14), so the
#: floor sits an order below the first and ten orders above the second.
NOT_INVARIANT = Tolerance(1e-2, "the N cells change by >= 0.08 over 300 seeds; the Y cells by <= 1.1e-14")

#: Two float64 runs of an exact trajectory equivalence (Li & Arora 2020's weight decay vs exponential schedule,
#: THEORY-2.md §10.4), compared step by step as ||w~_t - alpha^-t w_t|| / ||alpha^-t w_t||: rounding accumulates to
#: 3e-13 over 150 heavy-ball steps and 5e-15 over 200 GD steps (seeds 0-29, while the runs stay stable: results/li2020's
#: ctx_steps); a schedule off by one power of the factor misses by >= 4e-3, a zero first buffer by >= 6e-2.
TRAJECTORY = Tolerance(1e-10, "an exact equivalence of two float64 runs: 3e-13 after 150 heavy-ball steps")

#: An exact identity between two recursions evaluated at 40 digits (mpmath): 8e-40 after 40 heavy-ball steps; float64
#: arithmetic anywhere in the chain would show up at 1e-16.
MP_RECURSION = Tolerance(1e-35, "40-digit recursions agree to 8e-40 after 40 steps; a float64 slip shows at 1e-16")

#: A time average at the equilibrium of spherical motion (Wan et al. 2021; THEORY-2.md §10.6) against its prediction,
#: gated on the far end of its 95% batch-means interval (checks.intervals.farthest_deviation): the O(eta lambda)
#: corrections of the leading-order formulas (<= 3.9e-3 at eta lambda = 0.05) plus the intervals' half-widths (<= 4e-3
#: at the quick size) stay below 1e-2; the nearest false formula, sqrt(2 eta lambda / (1 + alpha^2)) at alpha = 0.5,
#: misses by 9.5e-2, Theorem 1's norm applied with momentum 0.5 by 0.19.
EQUILIBRIUM = Tolerance(2e-2, "O(eta lambda) terms + CI half-widths <= 1e-2; false formulas miss by >= 9.5e-2")

#: THEORY-2.md §9.4 T5: soft rank (median over 8 networks, d = N = 32, and 6 depths in the last quarter of the chain)
#: that separates a collapsed chain from one that keeps rank. Over 16 seeds at depth 200 (--size quick): LayerNorm,
#: RMSNorm and WeightNorm 1.00-1.21, GroupNorm with 4 groups 2.32-3.24, BN 4.69-5.14; at depth 150 RMSNorm reached
#: 1.74 (hence 200 at quick). GroupNorm with 2 groups sits between (1.1-1.7) and is reported, not gated.
T5_SPLIT = Tolerance(1.7, "collapsed chains stay <= 1.21 at depth 200, rank-keeping ones >= 2.32 (16 seeds)")

#: THEORY-2.md §9.4 T6: abs(cos) of the cluster and the outlier after one layer W -> centring -> ReLU (n = 6, d = 64).
#: Batch centring gives exactly 0 (disjoint supports); per-sample centring (LayerNorm, GroupNorm with 4 groups) gives
#: 0.13-0.6 (mean 0.32, minimum 0.13 over 200 draws).
T6_COSINE = Tolerance(0.05, "per-sample centring leaves abs(cos) >= 0.13 in 200 draws; batch centring exactly 0")
#: A Hessian by central differences (h = 1e-5) of a float64 closed-form gradient against one by autodiff: truncation
#: O(h^2) and rounding O(1e-16 / h) leave ~1e-11 relative (THEORY-2.md §11.1 (b): 2.5e-11); the autodiff paths that
#: are wrong miss by 0.5, the frozen-statistics Hessian by O(1).
CENTRAL_DIFFERENCE = Tolerance(1e-8, "central differences at h = 1e-5 err by ~1e-11 relative; wrong Hessians by O(1)")

#: A top eigenvalue by power iteration that stops when the estimate changes by less than 1e-3 relative (PyHessian's
#: default): measured 0.3% from the dense eigenvalue on the §11.2 network; the training-mode and the frozen-statistics
#: tops differ from the eval-mode one by 40-50%.
POWER_ITERATION = Tolerance(1e-2, "power iteration stopped at 1e-3 relative change errs by ~3e-3; other spectra by 40%")
