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
# # LayerNorm, RMSNorm, GroupNorm, InstanceNorm and WeightNorm: forward maps and closed-form backward passes
#
# THEORY-2.md §9.1 defines the normalizations by the group their statistics are taken over; §9.2 derives one
# backward pass for all of them: with $g=\gamma\odot\delta$ restricted to a group,
# $$\nabla_x\ell=\frac1s\Big(g-\overline g\,\mathbf 1-\hat x\,\overline{g\odot\hat x}\Big)\quad
# (\text{LN, GN, IN}),\qquad \nabla_x\ell=\frac1r\Big(g-\hat x\,\overline{g\odot\hat x}\Big)\quad(\text{RMSNorm}).$$
# The gain sits *inside* the projector. Here SymPy differentiates the forward of one group of three entries and
# compares with the closed form, then shows that the form with the gain outside does not match.

# %%
import sympy as sp

from bntheory.symbolic.batchnorm import residuals
from bntheory.symbolic.normalizations import group_backward_steps, weight_norm_steps

for center, name in ((True, "LayerNorm"), (False, "RMSNorm")):
    pairs, group = group_backward_steps(3, center=center)
    print(name, "closed form: residuals", residuals(pairs, group))

# %% [markdown]
# The gain pulled out of the projector, $\gamma\odot(P\delta)/s$, is a different matrix unless $\gamma$ is
# constant over the group (which is why BN, with one gain per channel, never shows the difference):

# %%
pairs, group = group_backward_steps(2, center=True, gain_inside=False)
print("gain outside: residuals", residuals(pairs, group), "of", len(pairs))
dx1, closed1 = pairs[0]
x1, x2 = sp.symbols("x1 x2", real=True)
# The pairs are exact fractions in s = sqrt(sigma^2 + eps) (eps eliminated); at x = (1, -1), sigma^2 = 1.
eps = sp.Symbol("epsilon", nonnegative=True)
print(sp.simplify((dx1 - closed1).as_expr().subs({x1: 1, x2: -1, group.s.as_expr(): sp.sqrt(1 + eps)})))

# %% [markdown]
# WeightNorm, $w=g\,v/\|v\|$: the gradient in $v$ is the gradient in $w$ projected away from $v$ and scaled by
# $g/\|v\|$, so $\langle\nabla_vL,v\rangle=0$ (the scale invariance of $v$).

# %%
print("WeightNorm: residuals", residuals(weight_norm_steps(3)))

# %% [markdown]
# ## The registry's checks

# %%
from bntheory.results import assert_holds

assert_holds(proof="normalizations.py")
