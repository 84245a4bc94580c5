# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Auto rate-tuning: GD on scale-invariant weights at any step size (Arora, Li & Lyu 2019; THEORY-2.md §10.3)
#
# The claim [P, abstract]: with the step size of the scale-invariant weights fixed to any constant, GD approaches a
# stationary point at rate $T^{-1/2}$. The paper's exact theorem is **[R]** (no primary text was reachable); this
# derivation proves and checks the purely scale-invariant case **[D]**.
#
# **Setting.** $L(cw)=L(w)$, $w_{t+1}=w_t-\eta\nabla L(w_t)$, $R_t=\|w_t\|$, $u_t=w_t/R_t$, $G_t=\|\nabla L(u_t)\|^2$;
# on the sphere $\rho\ge\|\nabla^2L(u)\|$, $\Delta L\ge\sup L-\inf L$, $G_{\max}\ge\sup G$.
#
# **Proof.** (i) By §10.1, $R_{t+1}^2=R_t^2+\eta^2G_t/R_t^2$: the norm only grows. (ii) Along the step the norm stays
# $\ge R_t$ and $H(cw)=H(w)/c^2$, so the Hessian on the segment is at most $\rho/R_t^2$ and the descent lemma gives
# $L_{t+1}\le L_t-\frac{\eta G_t}{R_t^2}\big(1-\frac{\eta\rho}{2R_t^2}\big)$. (iii) While $R_t^2<\eta\rho$, each step raises
# $R^2$ by $\eta^2G_t/R_t^2\ge\eta G_t/\rho$, so these steps contribute $\sum G_t\le\rho R_{t_0}^2/\eta$ with $R_{t_0}^2\le\bar R^2$
# (the first step with $R^2\ge\eta\rho$ lands below $\eta\rho+\eta^2G_{\max}/R_0^2$). (iv) Once $R_t^2\ge\eta\rho$ (then
# forever), $L$ drops by $\ge\eta G_t/(2R_t^2)$, so $\sum G_t/R_t^2\le2\Delta L/\eta$, and $R_T^2\le R_{t_0}^2+\eta^2\sum G_t/R_t^2
# \le\bar R^2+2\eta\Delta L$; hence $\sum G_t\le(\bar R^2+2\eta\Delta L)\,2\Delta L/\eta$. Together
# $$\sum_{t\ge0}G_t\le C=\frac{\rho+2\Delta L}{\eta}\bar R^2+4\Delta L^2,\qquad \min_{t<T}\|\nabla L(u_t)\|\le\sqrt{C/T}.$$
#
# **Instance.** $f(u)=\sum_{k\le6}a_k\sin(b_k^\top u+c_k)+\tfrac12u^\top Au$, $d=10$, $L(w)=f(w/\|w\|)$. On the sphere
# $\|\nabla^2L(u)\|\le\|\nabla^2f\|+3\|\nabla f\|$ (differentiate $P\nabla f(u)/\|w\|$, $P=I-uu^\top$), so
# $\rho=\sum|a_k|\|b_k\|^2+\|A\|+3(\sum|a_k|\|b_k\|+\|A\|)$, $\Delta L=2\sum|a_k|+(\lambda_{\max}-\lambda_{\min})(A)/2$,
# $G_{\max}=(\sum|a_k|\|b_k\|+\|A\|)^2$. The quadratic makes the *unnormalized* $f(w)$ diverge under GD with
# $\eta>2/\lambda_{\max}(A)$: the control.

# %%
import numpy as np

from bntheory.optim import scale_invariant as si

rng = np.random.default_rng(0)
K, d = 6, 10
a, b, c = rng.normal(size=K), 2 * rng.normal(size=(K, d)), rng.uniform(0, 2 * np.pi, K)
Q, _ = np.linalg.qr(rng.normal(size=(d, d)))
A = (Q * np.linspace(0, 1, d)) @ Q.T
nb = np.linalg.norm(b, axis=1)
s1, s2 = np.sum(abs(a) * nb), np.sum(abs(a) * nb**2)
rho, delta, g_max = s2 + 1 + 3 * (s1 + 1), 2 * np.sum(abs(a)) + 0.5, (s1 + 1) ** 2
etas = 10.0 ** np.arange(-2, 4)
seeds, T = 8, 4000
w0 = rng.normal(size=(seeds, d))
w0 /= np.linalg.norm(w0, axis=1, keepdims=True)
trace = si.gd(si.sin_sum(a, b, c, A), np.tile(w0, (len(etas), 1)), np.repeat(etas, seeds), T=T)
G = trace.unit_grad_sq[:T]
for j, eta in enumerate(etas):
    cols = slice(j * seeds, (j + 1) * seeds)
    C = (rho + 2 * delta) / eta * max(1.0, eta * rho + eta**2 * g_max) + 4 * delta**2
    print(
        f"eta {eta:7g}: max sum G {G[:, cols].sum(0).max():9.3g} <= C {C:9.3g};  final R^2 {np.median(trace.norm_sq[-1, cols]):9.3g};"
        f"  min_t |grad L(u_t)| {np.sqrt(G[:, cols].min(0)).max():.2g} (worst seed)"
    )

# %% [markdown]
# The bound grows $\propto\eta$ for large $\eta$: the price of "any $\eta$". The norm absorbs the step size
# ($R^2$ grows until $\eta/R^2$ is small) and the unit gradient then decays.
#
# **The trap.** The raw gradient $\|\nabla L(w_t)\|=\sqrt{G_t}/R_t$ shrinks merely because $R_t$ grows: at
# $\eta=1000$ it is small long before the unit gradient is. A test on the raw gradient passes for the wrong reason.

# %%
cols = slice(5 * seeds, 6 * seeds)
print(
    "eta = 1000, step T: raw |grad L(w_T)| =",
    np.sqrt(trace.grad_sq[-1, cols]).max(),
    " unit |grad L(u_T)| =",
    np.sqrt(trace.unit_grad_sq[-1, cols]).max(),
)

# %% [markdown]
# **The rate, over a population of starts.** The bound holds for every run, but a finite window $[T/10,T]$ sees the
# rate $T^{-1/2}$ only as a property of many runs: the check fits the exponent of the 95% quantile over the starts
# of $\min_{t<T}\|\nabla L(u_t)\|$ and gates the upper end of its bootstrap interval. A quantile of *per-run*
# slopes is not that: at a small step size some runs rest on a plateau for a while, their minimum already small
# (well within $\sqrt{C/T}$) and their local slope near 0, and with few seeds the largest slope is one of them. Below,
# the registry's own sweep at `--seed 8`, where the old gate (the largest slope of 8 seeds) read -0.32.

# %%
from bntheory.checks.rates import fit_exponent
from bntheory.context import Context
from bntheory.results import arora2019

sweep = arora2019.ctx_runs(Context(seed=8))  # the registry's default sweep at --seed 8
cols = sweep["eta"] == 0.01
running = np.sqrt(np.minimum.accumulate(sweep["G"][:, cols], axis=0))
horizons = np.unique(np.geomspace(sweep["T"] // 10, sweep["T"], 20).astype(int))
per_run = np.polyfit(np.log(horizons), np.log(np.maximum(running[horizons - 1], 1e-16)), 1)[0]
print(
    f"eta 0.01, {cols.sum()} starts: per-run slopes above -1/2 {np.mean(per_run > -0.5):.3f}, the largest of the "
    f"first 8 starts {per_run[:8].max():.2f}"
)
fit = fit_exponent(horizons, running[horizons - 1], quantile=0.95, rng=rng, confidence=0.9)
print("95% quantile of the minimum:", fit)

# %% [markdown]
# **Controls.** Projecting $w$ back to the sphere after each step removes the auto-tuning (the effective rate stays
# $\eta$): at $\eta=0.1$ the unit gradient no longer converges and $\sum G_t$ grows linearly past $C$. The same $f$
# without normalization diverges at large $\eta$.

# %%
projected = si.gd(si.sin_sum(a, b, c, A), w0, 0.1, T=T, project=True)
print("projected, eta 0.1: mean G over the last 1000 steps", projected.unit_grad_sq[-1000:].mean())
plain = si.gd(si.sin_sum(a, b, c, A, normalized=False), w0, 10.0, T=40)
print("unnormalized, eta 10: |w_40| =", np.sqrt(plain.norm_sq[-1]).min())

# %% [markdown]
# ## The registry's checks
#
# `arora2019.auto_rate_tuning` at the quick size: a failing check raises here.

# %%
from bntheory.results import assert_holds

assert_holds(proof="arora2019_auto_rate.py")
