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
# # Santurkar et al. 2018, §4: the four bounds, derived and attacked
#
# Setting: unit $j$ of a linear layer, batch of $m$, $\hat y=(y-\mu)/\sigma$ (biased $\sigma$, $\epsilon=0$),
# $z=\gamma\hat y+\beta$, $g=\partial\hat{\mathcal L}/\partial z$, $H=\partial^2\hat{\mathcal L}/\partial z^2$.
# Each statement is an identity plus (at most) one inequality step; SymPy proves the identity, the
# inequality step is named, and a worst-case search tries to break the statement numerically.
# Registry entries: `santurkar2018.thm4_1`, `.thm4_2`, `.obs4_3`, `.thm4_4`, `.lemma4_5`.

# %%
from bntheory import results
from bntheory.context import Context
from bntheory.run import run
from bntheory.symbolic.batchnorm import residuals
from bntheory.symbolic.landscape import (
    gradient_norm_steps,
    hessian_form_steps,
    rescaling_steps,
    scale_shift_steps,
    weight_space_steps,
)

# %% [markdown]
# ## Theorem 4.1 (gradient magnitude)
#
# $\|\nabla_y\hat{\mathcal L}\|^2=\frac{\gamma^2}{s^2}\big(\|g\|^2-\frac1m\langle\mathbf 1,g\rangle^2-\frac1m(2-\frac{\|\hat y\|^2}{m})\langle g,\hat y\rangle^2\big)$
# exactly; the inequality step is $2-\|\hat y\|^2/m-1=\epsilon/s^2\ge0$, so at $\epsilon=0$ the theorem is an equality.

# %%
{m: residuals(gradient_norm_steps(m)) for m in (2, 3, 4)}

# %% [markdown]
# ## Theorem 4.2 (Hessian quadratic form along the gradient)
#
# Along $y+tv$ with $v\perp\mathbf 1,\hat y$: constant mean, $\sigma(t)^2=\sigma^2+t^2\|v\|^2/m$, hence
# $\dot{\hat y}=v/\sigma$, $\ddot{\hat y}=-\hat y\|v\|^2/(m\sigma^2)$, and the chain rule gives the statement with equality.

# %%
{m: residuals(hessian_form_steps(m)) for m in (3, 4, 5, 6)}

# %% [markdown]
# ## Observation 4.3, Theorem 4.4 (pointwise form), Lemma 4.5

# %%
print("Obs 4.3:", {m: residuals(scale_shift_steps(m)) for m in (2, 3, 4)})
print("Thm 4.4:", residuals(weight_space_steps(3, 2)))
print("Lemma 4.5:", {d: residuals(rescaling_steps(d)) for d in (2, 3)})

# %% [markdown]
# ## The worst-case search, and the controls it must break
#
# The registry runs the same search on the statement and on a false variant (a tighter constant, a flipped
# sign, a violated assumption); ratios are re-evaluated in mpmath at the worst points.

# %%
ctx = Context(size="quick")
for result in results.get(["santurkar2018.thm4_1", "santurkar2018.thm4_2", "santurkar2018.thm4_4",
                            "santurkar2018.lemma4_5"]):
    rep = run(result, ctx)
    search = next(c for c in rep.checks if "worst-case" in c.name)
    print(f"{result.id}: worst ratio {search.outcome.measured:.15g}; control "
          f"({rep.control.description}): {rep.control.outcome.measured:.4g}, rejected={rep.control.rejected}")

# %% [markdown]
# ## The registry's checks
#
# The checks that `bntheory verify` runs for the results this derivation supports, at the quick size: a
# failing check raises here, so executing this file (or its notebook) is itself a test.

# %%
from bntheory.results import assert_holds

assert_holds(proof="santurkar2018_bounds.py")
