r"""SymPy derivations of Santurkar et al.'s §4 statements, as lists of ``(expression, target)`` pairs.

Each function returns the steps of one derivation; every pair must reduce to an identity
(:func:`bntheory.symbolic.batchnorm.residuals` counts those that do not). The inequality step of each
statement is isolated as a pair whose difference is a manifestly non-negative expression (shown in
the docstring), so that "identity plus one inequality" is what the checks prove. Most pairs are exact
fractions (``sympy.polys`` fields, a square root as a generator with its relation or its chain rule,
:class:`~bntheory.symbolic.fields.RadicalField`), decided by equality in lowest terms.

References
----------
Santurkar, Tsipras, Ilyas & Madry 2018, arXiv:1805.11604: Theorem 4.1, Theorem 4.2, Observation 4.3,
Theorem 4.4, Lemma 4.5 (THEORY.md §2.4–§2.8).
"""

from __future__ import annotations

import sympy as sp

from bntheory.symbolic.batchnorm import symbolic_batch
from bntheory.symbolic.fields import RadicalField
from bntheory.symbolic.jacobian import rational_jacobian

__all__ = ["gradient_norm_steps", "hessian_form_steps", "rescaling_steps", "scale_shift_steps", "weight_space_steps"]

Pairs = list[tuple[sp.Expr, sp.Expr]]


def gradient_norm_steps(m: int) -> Pairs:
    r"""Theorem 4.1 for a batch of `m`, any :math:`\epsilon\ge0`.

    Steps (with :math:`g=\delta` the upstream gradient and :math:`J` SymPy's Jacobian):

    1. exact value: :math:`\|J^\top g\|^2=\frac{\gamma^2}{s^2}\big(\|g\|^2-\frac1m(\mathbf 1^\top g)^2
       -\frac1m(2-\frac{\|\hat y\|^2}{m})(g^\top\hat y)^2\big)`;
    2. the inequality step: :math:`(2-\frac{\|\hat y\|^2}{m})-1=\frac{\epsilon}{s^2}\ge0`, so replacing the
       coefficient by 1 can only increase the right side; it is an equality iff :math:`\epsilon=0`.
    """
    # Exact arithmetic in Q(x, delta, gamma, s) with eps = s^2 - sigma^2 eliminated: each side in lowest terms.
    r = rational_jacobian(m)
    s, y_hat, g, dot = r.s, r.x_hat, r.delta, lambda a, b: r.entry(a.transpose() * b)
    grad = r.J.transpose() * g
    coeff = 2 - dot(y_hat, y_hat) / m
    exact = r.gamma**2 / s**2 * (dot(g, g) - dot(r.ones, g) ** 2 / m - coeff * dot(g, y_hat) ** 2 / m)
    return [((dot(grad, grad) - exact).as_expr(), 0), ((coeff - 1 - r.eps / s**2).as_expr(), 0)]


def hessian_form_steps(m: int) -> Pairs:
    r"""Theorem 4.2 at :math:`\epsilon=0`: the two facts that turn the second-order chain rule into the identity.

    Along :math:`y+tv` with :math:`\mathbf 1^\top v=0` and :math:`\hat y^\top v=0` (so :math:`v` is in the range of
    the BN Jacobian, as the gradient :math:`v=\nabla_y\hat{\mathcal L}` is):

    1. the batch mean is constant and :math:`\sigma(t)^2=\sigma^2+t^2\|v\|^2/m` — proven as the polynomial
       identity :math:`\sigma(t)^2-\sigma^2-t^2\|v\|^2/m=\frac{2t}{m}\,c_2-\frac{t^2}{m^2}c_1^2` with the
       constraints :math:`c_1=\mathbf 1^\top v`, :math:`c_2=(y-\mu\mathbf 1)^\top v`;
    2. hence :math:`\dot{\hat y}(0)=v/\sigma` and :math:`\ddot{\hat y}(0)=-\hat y\,\|v\|^2/(m\sigma^2)`.

    With :math:`z=\gamma\hat y+\beta` and the chain rule
    :math:`\frac{d^2}{dt^2}F(z(t))=\dot z^\top H\dot z+g^\top\ddot z`:

    .. math:: v^\top\nabla^2_y\hat{\mathcal L}\,v=\frac{\gamma^2}{\sigma^2}v^\top Hv
        -\frac{\gamma}{m\sigma^2}\langle g,\hat y\rangle\|v\|^2,

    the theorem's right side with equality (the "≤" of the paper is not needed at :math:`\epsilon=0`).
    The pairs are exact fractions (``sympy.polys`` fields; step 2 with the chain rule through the square root).
    """
    # Step 1 in Q(x, v, t) (polynomials; field elements so that residuals compares them exactly).
    _, t, *gens = sp.field(["t", *(f"x{i + 1}" for i in range(m)), *(f"v{i + 1}" for i in range(m))], sp.QQ)
    x, v = gens[:m], gens[m:]
    mu, var = _mean_var(x)
    path = [xi + t * vi for xi, vi in zip(x, v, strict=True)]
    mu_t, var_t = _mean_var(path)
    c1 = sum(v)
    c2 = sum((xi - mu) * vi for xi, vi in zip(x, v, strict=True))
    norm2 = sum(vi**2 for vi in v)
    pairs: Pairs = [(mu_t - mu - t * c1 / m, 0), (var_t - var - t**2 * norm2 / m, 2 * t / m * c2 - t**2 / m**2 * c1**2)]
    # Step 2 on one coordinate with scalar symbols: centred value c, direction v_i, sigma, ||v||^2, in
    # Q(r, c, v_i, sigma, n2, t) with r = sqrt(sigma^2 + t^2 n2 / m) (chain rule through r); t = 0 then gives
    # r = sigma (sigma > 0).
    c_s, vi_s, sigma_s, n2_s, t_s = sp.symbols("c v_i sigma n2 t", positive=True)
    F = RadicalField(
        [c_s, vi_s, sigma_s, n2_s, t_s], sp.Symbol("r", positive=True), sigma_s**2 + t_s**2 * n2_s / m, shifted=False
    )
    c, vi, sigma, n2, r = F[c_s], F[vi_s], F[sigma_s], F[n2_s], F.s
    h = (c + F[t_s] * vi) / r
    dh = F.diff(h, t_s)
    at_zero = {t_s: F.field.zero, F.root: sigma}
    pairs.append((F.compose(dh, at_zero), vi / sigma))
    pairs.append((F.compose(F.diff(dh, t_s), at_zero), -(c / sigma) * n2 / (m * sigma**2)))
    return pairs


def _mean_var(z):
    """The mean and the biased variance of the entries of `z` (any ring)."""
    mu = sum(z) / len(z)
    return mu, sum((zi - mu) ** 2 for zi in z) / len(z)


def weight_space_steps(m: int, d: int) -> Pairs:
    r"""Theorem 4.4 (checkable form): the chain rule to the weights and the case of equality.

    1. :math:`\nabla_{W_j}\hat{\mathcal L}=X^\top\nabla_y\hat{\mathcal L}` for :math:`y=XW_j` (SymPy differentiates
       :math:`\sum_i\delta_i\,\mathrm{BN}(XW_j)_i` in :math:`W_j` and in :math:`y`);
    2. the inequality step is the definition of the operator norm, :math:`\|X^\top u\|\le\|X\|_2\|u\|`;
       it is attained at :math:`X=\lambda\,u w^\top/\|u\|` with :math:`\|w\|=1`, where :math:`X^\top X=\lambda^2ww^\top`
       (so :math:`\|X\|_2=\lambda`) and :math:`\|X^\top u\|^2=\lambda^2\|u\|^2`.

    Exact in :math:`\mathbb Q(s,X,w,\delta,y)`: :math:`s=\sigma(Xw)` for the derivative in :math:`w` and
    :math:`s=\sigma(y)` for the one in :math:`y` (the chain rule through :math:`s`, :class:`RadicalField`), the latter
    then composed with :math:`y=Xw`; each difference is reduced modulo :math:`s^2=\sigma(Xw)^2`. The equality case
    in :math:`\mathbb Q(n,\lambda,u)` modulo :math:`n^2=\|u\|^2`. The pairs are ``(reduced difference, 0)``.
    """
    X_sym = [[sp.Symbol(f"X{i + 1}{k + 1}", real=True) for k in range(d)] for i in range(m)]
    w_sym = sp.symbols(f"w1:{d + 1}", real=True)
    delta_sym = sp.symbols(f"delta1:{m + 1}", real=True)
    y_sym = sp.symbols(f"y1:{m + 1}", real=True)
    z = [sp.Add(*(X_sym[i][k] * w_sym[k] for k in range(d))) for i in range(m)]
    in_w = RadicalField(
        [*(x for row in X_sym for x in row), *w_sym, *delta_sym, *y_sym],
        sp.Symbol("s", positive=True),
        _variance(z),
        shifted=False,
    )
    in_y = in_w.rebased(_variance(y_sym), shifted=False)
    X = [[in_w[x] for x in row] for row in X_sym]
    w, delta, y = [in_w[v] for v in w_sym], [in_w[v] for v in delta_sym], [in_w[v] for v in y_sym]
    Xw = [sum(X[i][k] * w[k] for k in range(d)) for i in range(m)]

    def loss(y):  # sum_i delta_i (y_i - mu) / sigma, with s for sigma
        mu = sum(y) / m
        return sum(di * (yi - mu) for di, yi in zip(delta, y, strict=True)) / in_w.s

    dw = [in_w.diff(loss(Xw), wk) for wk in w]
    at_Xw = dict(zip(y_sym, Xw, strict=True))
    dy = [in_w.compose(in_y.diff(loss(y), yi), at_Xw) for yi in y]
    pairs: Pairs = [(in_w.reduce(dw[k] - sum(X[i][k] * dy[i] for i in range(m))), 0) for k in range(d)]
    u_sym = sp.symbols(f"u1:{m + 1}", real=True)
    lam_sym = sp.Symbol("lambda", positive=True)
    eq = RadicalField([*u_sym, lam_sym], sp.Symbol("n", positive=True), sp.Add(*(ui**2 for ui in u_sym)), shifted=False)
    u, lam, n = [eq[v] for v in u_sym], eq[lam_sym], eq.s
    unit = [sp.Rational(3, 5), sp.Rational(4, 5)] + [0] * (d - 2)
    X_eq = [[lam * u[i] * unit[k] / n for k in range(d)] for i in range(m)]
    gram = [[sum(X_eq[i][k] * X_eq[i][j] for i in range(m)) for j in range(d)] for k in range(d)]
    pairs += [(eq.reduce(gram[k][j] - lam**2 * unit[k] * unit[j]), 0) for k in range(d) for j in range(d)]
    image = [sum(X_eq[i][k] * u[i] for i in range(m)) for k in range(d)]
    pairs.append((eq.reduce(sum(e**2 for e in image) - lam**2 * sum(ui**2 for ui in u)), 0))
    return pairs


def _variance(z) -> sp.Expr:
    """The biased variance of the entries of `z`, expanded (a polynomial radicand)."""
    mu = sp.Add(*z) / len(z)
    return sp.expand(sp.Add(*((zi - mu) ** 2 for zi in z)) / len(z))


def rescaling_steps(d: int) -> Pairs:
    r"""Lemma 4.5: the right side is the squared distance from :math:`W_0` to the ray :math:`\{cW^*:c>0\}`.

    With :math:`f(c)=\|W_0-cW^*\|^2` (convex, :math:`f''=2\|W^*\|^2>0`), :math:`f'(c^*)=0` at
    :math:`c^*=\langle W^*,W_0\rangle/\|W^*\|^2`, and :math:`f(c^*)` equals the lemma's right side. The
    inequality step: :math:`\hat W^*` is the closest optimum and :math:`c^*W^*` is one of them when
    :math:`c^*>0`, i.e. when :math:`\langle W_0,W^*\rangle>0` (the assumption). Exact in :math:`\mathbb Q(a,b,c)`
    (``sympy.polys`` fractions, :math:`a=W_0`, :math:`b=W^*`); the pairs are field elements.
    """
    K, c, *gens = sp.field(["c", *(f"{n}{i + 1}" for n in "ab" for i in range(d))], sp.QQ)
    w0, ws = gens[:d], gens[d:]
    f = sum((ai - c * bi) ** 2 for ai, bi in zip(w0, ws, strict=True))
    norm2 = sum(bi**2 for bi in ws)
    inner = sum(ai * bi for ai, bi in zip(w0, ws, strict=True))
    # f' is linear in c (f is a quadratic): its one root from its two coefficients (what solve finds, without the
    # general solver's cost); a non-linear f' has a third coefficient, and the check fails.
    df = f.diff(c).numer
    x = c.numer
    slope, intercept = df.coeff_wrt(x, 1), df.coeff_wrt(x, 0)
    c_star = -K(intercept) / K(slope) if df.degree(x) == 1 else K(df)
    f_star = sum(K(f.numer.coeff_wrt(x, k)) * c_star**k for k in range(f.numer.degree(x) + 1))
    rhs = sum((ai - bi) ** 2 for ai, bi in zip(w0, ws, strict=True)) - (norm2 - inner) ** 2 / norm2
    return [(c_star, inner / norm2), (f_star, rhs), (f.diff(c).diff(c), 2 * norm2)]


def scale_shift_steps(m: int) -> Pairs:
    r"""Observation 4.3: :math:`\gamma=\sigma` (biased) and :math:`\beta=\mu` make BN the identity.

    :math:`z_i=\sigma\,(y_i-\mu)/\sigma+\mu=y_i` with :math:`\sigma` kept as the symbolic square root.
    """
    b = symbolic_batch(m, eps=0)
    subs = {b.gamma: sp.sqrt(b.var), b.beta: b.mu}
    return [(yi.subs(subs), xi) for yi, xi in zip(b.y, b.x, strict=True)]
