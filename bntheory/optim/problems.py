r"""Built-in objectives for :mod:`bntheory.optim.gdnp`: least squares and learning halfspaces with Gaussian inputs.

Both are functions of one unit's weights :math:`\tilde w` and carry the moments :math:`S`, :math:`u` that
GDNP needs (Kohler et al. 2019, arXiv:1805.10694; THEORY.md §3.3, §3.6).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
from array_api_compat import array_namespace

from bntheory._validation import check_choice, check_float_array, check_int, check_real, check_rng, check_same_dtype
from bntheory.backend import asarray, scalar, to_numpy
from bntheory.optim.gdnp import Problem, spd_extremes

__all__ = [
    "LOSSES",
    "halfspace",
    "halfspace_samples",
    "least_squares",
    "least_squares_moments",
    "spd_with_condition",
    "tanh_mlp_unit",
]

Array = Any


def spd_with_condition(rng: np.random.Generator, d: int, kappa: float) -> np.ndarray:
    """A random symmetric positive definite matrix with eigenvalues log-spaced in [1, kappa]."""
    check_rng(rng)
    check_int(d, "d", minimum=1)
    if check_real(kappa, "kappa") < 1:
        raise ValueError(f"kappa: a condition number is >= 1, got {kappa}; pass kappa >= 1")
    Q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    S = (Q * np.geomspace(1.0, kappa, d)) @ Q.T
    return (S + S.T) / 2


def least_squares_moments(S: Array, u: Array, yy: float = 0.0) -> Problem:
    r"""Least squares in moment form: :math:`f(\tilde w)=\mathrm E[y^2]-2u^\top\tilde w+\tilde w^\top S\tilde w`.

    :math:`\nabla f=-2u+2S\tilde w` (so :math:`c_1=-2`, :math:`c_2=2`), smoothness :math:`2L`, minimizer
    :math:`S^{-1}u`.

    Parameters
    ----------
    S : array, shape (d, d)
        :math:`\mathrm E[xx^\top]`, symmetric positive definite.
    u : array, shape (d,)
        :math:`\mathrm E[yx]`.
    yy : float
        :math:`\mathrm E[y^2]` (shifts the objective only).
    """
    mu, L = spd_extremes(S)
    _check_u(u, S)
    yy = check_real(yy, "yy")
    xp = array_namespace(S, u)
    optimum = xp.linalg.solve(S, u[:, None])[:, 0]

    def length_derivative(w, Sw):
        # d/dg f(g w/||w||_S) = 2 g - 2 u^T w / ||w||_S: from the caller's S w, no product per bisection step.
        ratio = scalar(u @ w) / scalar(w @ Sw) ** 0.5
        return lambda g: 2 * g - 2 * ratio

    def value_and_gradient(w, Sw):
        # f = E[y^2] - 2 u^T w + w^T S w and its gradient 2 S w - 2 u, from the caller's S w.
        return yy - 2 * scalar(u @ w) + scalar(w @ Sw), 2 * Sw - 2 * u

    return Problem(
        S=S,
        u=u,
        value=lambda w: yy - 2 * scalar(u @ w) + scalar(w @ (S @ w)),
        gradient=lambda w: 2 * (S @ w) - 2 * u,
        value_and_gradient=value_and_gradient,
        mu=mu,
        L=L,
        name="least squares",
        convex=True,
        loss="squared",
        coefficients=lambda w: (-2.0, 2.0),
        smoothness=2 * L,
        optimum=optimum,
        length_derivative=length_derivative,
    )


def least_squares(X: Array, y: Array) -> Problem:
    r"""Least squares from samples: :math:`f(\tilde w)=\frac1n\|X\tilde w-y\|^2`.

    The moments are :math:`S=X^\top X/n` and :math:`u=X^\top y/n`.

    Parameters
    ----------
    X : array, shape (n, d)
        Inputs, one sample per row (centred, for the BN reading of the problem).
    y : array, shape (n,)
        Targets.
    """
    xp = check_float_array(X, "X", min_ndim=2, finite=True)
    check_float_array(y, "y", finite=True)
    check_same_dtype(y, "y", X)
    if X.ndim != 2 or y.shape != (X.shape[0],) or 0 in tuple(X.shape):
        raise ValueError(
            f"X, y: expected shapes (n, d) and (n,), got {tuple(X.shape)} and {tuple(y.shape)}; pass matching samples"
        )
    n = X.shape[0]
    if n < X.shape[1]:
        raise ValueError(f"X: {n} samples of {X.shape[1]} features make X^T X / n singular; pass n >= d samples")
    try:
        moments = least_squares_moments(X.T @ X / n, X.T @ y / n, scalar(xp.sum(y * y)) / n)
    except (TypeError, ValueError) as exc:  # S = X^T X / n: the fix is in X
        raise type(exc)(f"X: {exc}") from exc
    return dataclasses.replace(moments, name="least squares (samples)", population=False)


# The losses take arrays of any array-API namespace: halfspace_samples applies them on the backend (a GPU
# included), the quadratures on NumPy nodes.


def _softplus(a):
    xp = array_namespace(a)
    # log(1 + e^a) without overflow: max(a, 0) + log1p(e^-|a|), with max(a, 0) = (a + |a|) / 2 exactly.
    magnitude = xp.abs(a)
    return (a + magnitude) / 2 + xp.log1p(xp.exp(-magnitude))


def _sigmoid(a):
    return 0.5 * (1.0 + array_namespace(a).tanh(0.5 * a))


def _smooth_hinge(a):
    return 0.5 * (a + array_namespace(a).sqrt(1.0 + a * a))


def _smooth_hinge_derivative(a):
    return 0.5 * (1.0 + a / array_namespace(a).sqrt(1.0 + a * a))


#: Smooth increasing losses :math:`\varphi` of the negative margin with :math:`0<\varphi'\le\Phi=1`
#: (Assumption 2 of THEORY.md §3.6): name -> (phi, phi'). Softplus is the logistic loss;
#: the smooth hinge :math:`\frac12(a+\sqrt{1+a^2})` decays polynomially instead of exponentially.
LOSSES = {
    "softplus": (_softplus, _sigmoid),
    "smooth_hinge": (_smooth_hinge, _smooth_hinge_derivative),
}


def _check_u(u: Array, S: Array) -> None:
    check_float_array(u, "u", finite=True)
    check_same_dtype(u, "u", S)
    if tuple(u.shape) != (S.shape[0],):
        raise ValueError(f"u: expected shape ({S.shape[0]},) to match S, got {tuple(u.shape)}; pass matching u and S")


_NODES, _WEIGHTS = np.polynomial.legendre.leggauss(32)
#: Fixed panel edges of :func:`_gaussian_rule` (they resolve the Gaussian weight) and the grading factors of the
#: panels around the loss's transition, as Python floats: the edges of one rule are a few dozen numbers, cheaper to
#: form and sort one by one than as arrays.
_FIXED_EDGES = (-12.0, -8.0, -5.0, -3.0, -1.5, 0.0, 1.5, 3.0, 5.0, 8.0, 12.0)
_GRADING = tuple(4.0**k for k in range(12))
_SQRT_2PI = float(np.sqrt(2 * np.pi))


def _gaussian_rule(m: float, s: float) -> tuple[np.ndarray, np.ndarray]:
    r"""Nodes :math:`t_k`, weights :math:`w_k`: :math:`\mathrm E[h(m+s\xi,\xi)]\approx\sum_kw_kh(m+st_k,t_k)`.

    For :math:`\xi\sim\mathcal N(0,1)`, `s` > 0 and the integrands of the losses. Composite Gauss–Legendre
    (32 nodes per panel) on :math:`[-12,12]`: fixed panels for the Gaussian weight, refined by a mesh graded
    geometrically towards the loss's transition :math:`\xi_0=-m/s` (panel edges :math:`\xi_0\pm\frac{\pi}{2s}4^k`):
    the losses' complex singularities sit at distance :math:`\sim\pi/s` from :math:`\xi_0`, so every panel stays a
    fixed number of its widths away from them and the rule converges fast for any :math:`s`, which is where a fixed
    Gauss–Hermite rule fails (THEORY.md §8). Agrees with 30-digit mpmath quadrature to about 1e-13 (tested).
    """
    cut, unit = -m / s, np.pi / (2 * s)
    # Fixed panels resolve the Gaussian weight itself; the graded ones resolve the loss's transition.
    graded = (cut, *(cut - unit * k for k in _GRADING), *(cut + unit * k for k in _GRADING))
    edges = np.array(sorted({*_FIXED_EDGES, *(e for e in graded if -12.0 < e < 12.0)}))
    lo, hi = edges[:-1, None], edges[1:, None]
    half = 0.5 * (hi - lo)
    t = (half * _NODES + 0.5 * (hi + lo)).ravel()
    return t, (half * _WEIGHTS).ravel() * np.exp(-0.5 * t * t) / _SQRT_2PI


def halfspace(S: Array, u: Array, *, loss: str = "softplus") -> Problem:
    r"""Learning a halfspace with Gaussian inputs, :math:`f(\tilde w)=\mathrm E_z[\varphi(z^\top\tilde w)]`.

    :math:`z=-yx\sim\mathcal N(u,\Sigma)` with :math:`\Sigma=S-uu^\top` (Assumption 1, THEORY.md §3.6). Since
    :math:`a=z^\top\tilde w\sim\mathcal N(u^\top\tilde w,\ \tilde w^\top\Sigma\tilde w)`, the value is a 1-D Gaussian
    expectation, and Gaussian conditioning gives the gradient
    :math:`\mathrm E[z\varphi'(a)]=u\,\mathrm E[\varphi'(a)]
    +\Sigma\tilde w\,\mathrm E[(a-u^\top\tilde w)\varphi'(a)]/(\tilde w^\top\Sigma\tilde w)`;
    both by adaptive quadrature. (Stein's form :math:`c_1u+c_2S\tilde w` is what the registry *checks*, not
    what this computes.)

    Parameters
    ----------
    S : array, shape (d, d)
        :math:`\mathrm E[zz^\top]`, positive definite.
    u : array, shape (d,)
        :math:`\mathrm E[z]`, with :math:`u^\top S^{-1}u<1` so that :math:`\Sigma` is positive definite.
    loss : {"softplus", "smooth_hinge"}
        :math:`\varphi` (softplus is the logistic loss).
    """
    check_choice(loss, "loss", tuple(LOSSES))
    mu, L = spd_extremes(S)
    _check_u(u, S)
    S_h, u_h = to_numpy(S), to_numpy(u)
    kappa = float(u_h @ np.linalg.solve(S_h, u_h))
    if not kappa < 1:
        raise ValueError(f"u: need u^T S^-1 u < 1 for z ~ N(u, S - u u^T) to exist, got {kappa:.4g}; scale u down")
    phi, dphi = LOSSES[loss]
    # Sigma stays on the backend: a point w never leaves the device, only the two scalars m and s do.
    Sigma = S - u[:, None] * u[None, :]
    last: dict[tuple[float, float], tuple[float, float, float]] = {}

    def moments(w):
        Sigma_w = Sigma @ w
        m, s = scalar(u @ w), scalar(w @ Sigma_w)
        s = max(s, 0.0) ** 0.5
        # The expectations depend on (m, s) only; optimizers ask for the value and the gradient at the same
        # point, so one quadrature serves both.
        if (m, s) not in last:
            last.clear()
            if s == 0:  # a = m surely
                d = dphi(np.array(m))
                last[(m, s)] = (float(phi(np.array(m))), float(d), 0.0)
            else:
                t, weights = _gaussian_rule(m, s)
                a = m + s * t
                d = dphi(a)  # once for both of its moments: a tenth of the cost of a quadrature
                last[(m, s)] = (float(phi(a) @ weights), float(d @ weights), float((t * d) @ weights))
        return Sigma_w, m, s, *last[(m, s)]

    def value(w):
        return moments(w)[3]

    def gradient(w):
        Sigma_w, _, s, _, e_dphi, e_t_dphi = moments(w)
        # E[t dphi] is over the standard variable t = (a - m)/s, so the Sigma w term is divided by s, not s^2.
        return u * e_dphi + Sigma_w * (e_t_dphi / s if s > 0 else 0.0)

    def coefficients(w):
        # c2 = E[phi''(a)] = E[t phi'(a)] / s (Stein in one dimension), c1 = E[phi'(a)] - c2 u^T w.
        _, m, s, _, e_dphi, e_t_dphi = moments(w)
        c2 = e_t_dphi / s if s > 0 else 0.0
        return e_dphi - c2 * m, c2

    def length_derivative(w, Sw):
        # With a = z^T w / ||w||_S ~ N(m1, s1^2), d/dg E[phi(g a)] = E[phi'(g a) a] = m1 E[phi'] + sign(g) s1 E[t phi']
        # over the standard variable t of g a: two expectations per bisection step instead of the gradient's three.
        norm = scalar(w @ Sw) ** 0.5
        m1, s1 = scalar(u @ w) / norm, max(scalar(w @ (Sigma @ w)), 0.0) ** 0.5 / norm

        def dg(g):
            if g == 0 or s1 == 0:  # a = g m1 surely
                return m1 * float(dphi(np.array(g * m1)))
            t, weights = _gaussian_rule(g * m1, abs(g) * s1)
            d = dphi(g * m1 + abs(g) * s1 * t)
            return m1 * float(d @ weights) + (s1 if g > 0 else -s1) * float((t * d) @ weights)

        return dg

    return Problem(
        S=S,
        u=u,
        value=value,
        gradient=gradient,
        mu=mu,
        L=L,
        name=f"halfspace ({loss})",
        coefficients=coefficients,
        length_derivative=length_derivative,
        smoothness=None,
        info={"loss": loss, "u_S_inv_u": kappa},
        convex=False,
        loss=loss,
    )


def halfspace_samples(Z: Array, *, loss: str = "softplus") -> Problem:
    r"""Empirical halfspace objective :math:`f(\tilde w)=\frac1n\sum_k\varphi(z_k^\top\tilde w)`, :math:`z_k=-y_kx_k`.

    :math:`S=Z^\top Z/n` and :math:`u=\bar z`; no Gaussian assumption is made, so this is also how a
    non-Gaussian input distribution with finite support is evaluated exactly (weights all equal).

    Parameters
    ----------
    Z : array, shape (n, d)
        One row per sample.
    loss : {"softplus", "smooth_hinge"}
    """
    check_choice(loss, "loss", tuple(LOSSES))
    xp = check_float_array(Z, "Z", min_ndim=2, finite=True)
    if Z.ndim != 2 or Z.shape[0] < Z.shape[1] or Z.shape[1] == 0:
        raise ValueError(f"Z: expected shape (n, d) with n >= d >= 1 samples, got {tuple(Z.shape)}; pass more samples")
    n = Z.shape[0]
    S, u = Z.T @ Z / n, xp.mean(Z, axis=0)
    try:
        mu, L = spd_extremes(S)
    except (TypeError, ValueError) as exc:  # S = Z^T Z / n: the fix is in Z
        raise type(exc)(f"Z: {exc}") from exc
    phi, dphi = LOSSES[loss]

    # Everything on the backend: the margins Z w never leave the device.
    def value(w):
        return scalar(xp.mean(phi(Z @ w)))

    def gradient(w):
        return Z.T @ dphi(Z @ w) / n

    return Problem(
        S=S,
        u=u,
        value=value,
        gradient=gradient,
        mu=mu,
        L=L,
        name=f"halfspace samples ({loss})",
        info={"loss": loss, "n": n},
        convex=False,
        loss=loss,
        population=False,
        structured=False,
    )


def _rule_1d() -> tuple[np.ndarray, np.ndarray]:
    """Nodes (n,) and weights (n,) of the 1-D rule whose tensor square is the 2-D rule of :func:`tanh_mlp_unit`.

    Composite Gauss–Legendre, 6 panels of 20 nodes (denser near the centre) on :math:`[-9,9]`, the standard
    Gaussian weight included.
    """
    nodes, weights = np.polynomial.legendre.leggauss(20)
    panels = np.array([-9.0, -4.0, -1.5, 0.0, 1.5, 4.0, 9.0])
    lo, hi = panels[:-1, None], panels[1:, None]
    t = (0.5 * (hi - lo) * nodes + 0.5 * (hi + lo)).ravel()
    w = (0.5 * (hi - lo) * weights).ravel() * np.exp(-0.5 * t * t) / np.sqrt(2 * np.pi)
    return t, w


_XI_1D, _WEIGHTS_1D = _rule_1d()
#: The weights and the weights times the nodes as columns: ``H @ _MOMENT_COLUMNS`` gives, for an integrand H on the
#: tensor grid (axis 0: xi_1, axis 1: xi_2), the sums over xi_2 of H and of xi_2 H in one matrix product.
_MOMENT_COLUMNS = np.stack([_WEIGHTS_1D, _WEIGHTS_1D * _XI_1D], axis=1)


def tanh_mlp_unit(
    S: Array, u: Array, W: np.ndarray, theta: np.ndarray, unit: int, *, loss: str = "softplus"
) -> Problem:
    r"""Unit `unit` of the one-hidden-layer tanh MLP with two hidden units, the other unit held fixed.

    :math:`f_{NN}=\mathrm E_z\big[\ell\big(\sum_j\theta_j\tanh(z^\top\tilde w^{(j)})\big)\big]`,
    :math:`z=-yx\sim\mathcal N(u,S-uu^\top)`
    (tanh is odd, so :math:`-yF(x)=\sum_j\theta_j\tanh(z^\top\tilde w^{(j)})`; THEORY.md §3.9). The two
    pre-activations :math:`a=Wz` are a 2-D Gaussian :math:`\mathcal N(Wu, C)`, :math:`C=W\Sigma W^\top`, so value and
    gradient are 2-D quadratures: a tensor composite Gauss–Legendre rule (6 panels of 20 nodes per axis, denser
    near the centre) on :math:`[-9,9]^2` in whitened coordinates :math:`a=Wu+R\xi`, with :math:`R` the Cholesky
    factor of :math:`C` in the order (other unit, this unit). The other unit's pre-activation then depends on
    :math:`\xi_1` alone and its :math:`\tanh` is evaluated once per objective, on the rule's 120 nodes; a singular
    :math:`C` (the two units collinear) is allowed. The gradient uses Gaussian conditioning,
    :math:`\mathrm E[z\,h(a)]=u\,\mathrm E[h]+\Sigma W^\top C^{+}\mathrm E[(a-Wu)h(a)]`.

    Parameters
    ----------
    S, u : arrays
        As in :func:`halfspace` (:math:`u^\top S^{-1}u<1`).
    W : ndarray, shape (2, d)
        Both units' input weights; row `unit` is replaced by the argument of the objective.
    theta : ndarray, shape (2,)
        Output weights.
    unit : {0, 1}
        The unit whose weights are the variable.
    loss : {"softplus", "smooth_hinge"}
        :math:`\ell`.
    """
    check_choice(loss, "loss", tuple(LOSSES))
    mu, L = spd_extremes(S)
    _check_u(u, S)
    for name, value, shape in (("W", W, (2, S.shape[0])), ("theta", theta, (2,))):
        if not isinstance(value, np.ndarray):
            raise TypeError(
                f"{name}: expected a NumPy array, got {type(value).__name__}; convert it with numpy.asarray"
            )
        check_float_array(value, name, finite=True)
        if value.shape != shape:
            raise ValueError(
                f"{name}: expected shape {shape} (two hidden units), got {value.shape}; pass two hidden units"
            )
    if isinstance(unit, bool) or unit not in (0, 1):
        raise ValueError(f"unit: two hidden units (W of shape (2, d), unit 0 or 1), got {unit!r}; pass 0 or 1")
    W = np.array(W, dtype=np.float64)
    S_h, u_h = to_numpy(S), to_numpy(u)
    if not u_h @ np.linalg.solve(S_h, u_h) < 1:
        raise ValueError("u: need u^T S^-1 u < 1 for z ~ N(u, S - u u^T) to exist; scale u down")
    Sigma = S_h - np.outer(u_h, u_h)
    ell, dell = LOSSES[loss]
    theta = np.asarray(theta, dtype=np.float64)
    other = 1 - unit
    w_other = W[other]
    Sigma_w_other = Sigma @ w_other
    # The other unit is fixed: a_other = m_other + r_oo xi_1 (the first row of the Cholesky factor), so
    # theta_other tanh(a_other) is one vector on the rule's nodes for every point, and only this unit's tanh is
    # evaluated on the grid.
    c_oo = float(w_other @ Sigma_w_other)
    r_oo = max(c_oo, 0.0) ** 0.5
    other_term = (theta[other] * np.tanh(float(w_other @ u_h) + r_oo * _XI_1D))[:, None]

    def grid(w):
        r"""The unit's factor row :math:`(r_{uo}, r_{uu})`, its pre-activation's tanh and the network's output.

        On the tensor grid (axis 0: :math:`\xi_1`, axis 1: :math:`\xi_2`): :math:`a_u=m_u+r_{uo}\xi_1+r_{uu}\xi_2`,
        formed as an outer sum.
        """
        w = to_numpy(w)
        c_ou, c_uu = float(w @ Sigma_w_other), float(w @ (Sigma @ w))
        r_uo = c_ou / r_oo if r_oo > 0 else 0.0  # C's other row is 0 with c_oo: a_u is then independent of xi_1
        r_uu = max(c_uu - r_uo * r_uo, 0.0) ** 0.5
        tanh_u = np.tanh((float(w @ u_h) + r_uo * _XI_1D)[:, None] + (r_uu * _XI_1D)[None, :])
        return w, (c_ou, c_uu, r_uo, r_uu), tanh_u, theta[unit] * tanh_u + other_term

    def value(w):
        _, _, _, output = grid(w)
        return float(_WEIGHTS_1D @ ell(output) @ _WEIGHTS_1D)

    def gradient(w):
        w, (c_ou, c_uu, r_uo, r_uu), tanh_u, output = grid(w)
        # h = d/da_u of ell(sum_j theta_j tanh(a_j)); E[h], E[xi_1 h], E[xi_2 h] from one product with the weights.
        moments = (dell(output) * (theta[unit] * (1 - tanh_u * tanh_u))) @ _MOMENT_COLUMNS
        e_h, e_xi = _WEIGHTS_1D @ moments[:, 0], (_WEIGHTS_1D * _XI_1D) @ moments[:, 0]
        e_xi_2 = _WEIGHTS_1D @ moments[:, 1]
        # E[(a - Wu) h] = R E[xi h], R = [[r_oo, 0], [r_uo, r_uu]] in the order (other, this unit).
        e_ch, cov = np.empty(2), np.empty((2, 2))
        e_ch[other], e_ch[unit] = r_oo * e_xi, r_uo * e_xi + r_uu * e_xi_2
        cov[other, other], cov[unit, unit] = c_oo, c_uu
        cov[0, 1] = cov[1, 0] = c_ou
        Wf = W.copy()
        Wf[unit] = w
        g = u_h * e_h + Sigma @ Wf.T @ (np.linalg.pinv(cov) @ e_ch)
        return asarray(g, array_namespace(S, u), dtype=u.dtype)

    return Problem(
        S=S,
        u=u,
        value=value,
        gradient=gradient,
        mu=mu,
        L=L,
        name=f"tanh MLP unit {unit} ({loss})",
        info={"loss": loss, "unit": unit},
        convex=False,
        loss=loss,
        structured=False,
    )
