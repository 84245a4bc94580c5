"""The exact fields behind the symbolic checks: chain rule, zero test, substitution, and identities that must fail."""

import pytest
import sympy as sp

from bntheory.symbolic.batchnorm import compact_gradient, paper_gradient, residuals, symbolic_batch
from bntheory.symbolic.decoupling import rayleigh_steps
from bntheory.symbolic.fields import RadicalField
from bntheory.symbolic.jacobian import is_zero, symbolic_jacobian
from bntheory.symbolic.normalizations import group_backward_steps, group_jacobian_steps, projector_residuals
from bntheory.symbolic.scale_invariance import bn_unit_residuals

a, b = sp.symbols("a b", real=True)
s = sp.Symbol("s", positive=True)


def test_chain_rule_matches_sympy_diff_of_the_square_root():
    # At (a, b) = (3, 4) the radicand a^2 + b^2 is 25: both sides are exact rationals there.
    F = RadicalField([a, b], s, a**2 + b**2, shifted=False)
    tree = (a**3 - b) / sp.sqrt(a**2 + b**2) + a * b * sp.sqrt(a**2 + b**2)
    value = (F[a] ** 3 - F[b]) / F.s + F[a] * F[b] * F.s
    for z in (a, b):
        want = sp.diff(tree, z).subs({a: 3, b: 4})
        got = F.diff(value, z).as_expr().subs({a: 3, b: 4, s: 5})
        assert sp.nsimplify(want) == got


def test_the_zero_test_uses_the_relation_only_without_a_shift():
    F = RadicalField([a, b], s, a**2 + b**2, shifted=False)
    assert F.vanishes(F.s**2 - F[a] ** 2 - F[b] ** 2)
    assert F.vanishes((F.s**3 - F.s * (F[a] ** 2 + F[b] ** 2)) / (F[a] + 1))
    assert not F.vanishes(F.s - F[a])
    assert F.reduce(F.s**2) == F[a] ** 2 + F[b] ** 2
    free = RadicalField([a, b], s, a**2 + b**2, shifted=True)  # eps eliminated: s is independent of a, b
    assert not free.vanishes(free.s**2 - free[a] ** 2 - free[b] ** 2)


def test_compose_and_substitute_agree_with_sympy_subs():
    F = RadicalField([a, b], s, a**2, shifted=False)
    value = (F[a] * F.s + F[b] ** 2) / (F[a] + 2 * F[b])
    tree = (a * s + b**2) / (a + 2 * b)
    got = F.compose(value, {a: F[b] ** 2 + 1, s: 3 * F[b]}).as_expr()
    assert sp.cancel(got - tree.subs({a: b**2 + 1, s: 3 * b}, simultaneous=True)) == 0
    got = F.substitute(value, b, F[a] / F.s).as_expr()
    assert sp.cancel(got - tree.subs(b, a / s)) == 0
    assert F.substitute(F.field.zero, b, F[a]) == 0
    shared = F.rebased(b**2, shifted=False)
    assert shared.vanishes(shared.s**2 - F[b] ** 2) and not F.vanishes(shared.s**2 - F[b] ** 2)


def test_bad_input_names_the_argument():
    with pytest.raises(ValueError, match="root"):
        RadicalField([a, s], s, a**2, shifted=False)
    with pytest.raises(ValueError, match="radicand"):
        RadicalField([a], s, sp.sqrt(a), shifted=False)
    F = RadicalField([a, b], s, a**2, shifted=False)
    with pytest.raises(ValueError, match="wrt"):
        F.diff(F[a], F.s)
    with pytest.raises(ValueError, match="mapping"):
        F.compose(F[a], {a: 1 / F[b]})
    with pytest.raises(ValueError, match="rational"):
        symbolic_batch(3, eps=0, rational=True)


def test_field_batch_derivative_equals_sympys_derivative_of_the_tree():
    tree, exact = symbolic_batch(3), symbolic_batch(3, rational=True)
    field = exact.field
    for xi, zi in zip(tree.x, exact.x, strict=True):
        reduced = sp.diff(tree.loss, xi).subs(tree.s, field.root).subs(tree.eps, field.root**2 - tree.var)
        assert field.element(sp.cancel(sp.expand_mul(reduced))) == exact.diff(exact.loss, zi)


def test_false_identities_are_rejected_in_the_field():
    # Back-propagation without the dl/dmu term (the result's control) is not the derivative.
    b = symbolic_batch(3, rational=True)
    paper = paper_gradient(b)
    dropped = [dx - sum(d * b.gamma for d in b.delta) * (-1 / b.s) / b.m for dx in paper["dx"]]
    autodiff = [b.diff(b.loss, xi) for xi in b.x]
    assert residuals(list(zip(autodiff, paper["dx"], strict=True)), b) == 0
    assert residuals(list(zip(autodiff, compact_gradient(b), strict=True)), b) == 0
    assert residuals(list(zip(autodiff, dropped, strict=True)), b) == 3
    # The gain outside the projector (THEORY-2.md §9.2 trap (i)) fails for LayerNorm and RMSNorm.
    for center in (True, False):
        pairs, group = group_backward_steps(3, center=center, gain_inside=False)
        assert residuals(pairs, group) == 3
    # The Jacobian with the batch statistics frozen, (gamma / s) I, is not SymPy's Jacobian.
    pairs, group = group_jacobian_steps(3, center=True)
    gamma = [group.field[sp.Symbol(f"gamma{i + 1}", real=True)] for i in range(3)]
    frozen = [(J, int(k % 4 == 0) * gamma[k // 3] / group.s) for k, (J, _) in enumerate(pairs)]  # k = 3 i + j
    assert residuals(frozen, group) == 9
    # grad L(cw) = grad L(w) / c^2 (the scale-invariance control) fails, the identities hold.
    assert bn_unit_residuals(hessian=False, wrong_power=True) == [True, True, False, False]
    assert all(bn_unit_residuals())


def test_the_exact_jacobian_and_the_projector():
    r = symbolic_jacobian(3).rational()
    assert r.is_zero(r.J - r.closed_form)
    assert not r.is_zero(r.J - r.closed_form * 2)
    assert not r.is_zero(r.J * r.x_hat)  # J y_hat = gamma eps / s^3 y_hat, not 0 for symbolic eps
    assert r.is_zero(r.J * r.x_hat - r.x_hat * (r.gamma * r.eps / r.s**3))
    assert projector_residuals(3, center=True) == 0 and projector_residuals(4, center=False) == 0


def test_is_zero_of_the_expression_form_is_equality_with_zero():
    """`is_zero` on SymPy expressions (the proof notebook's form): a nonzero constant of either sign is not zero."""
    jac = symbolic_jacobian(2)
    assert is_zero(jac, jac.J - jac.closed_form)
    assert not is_zero(jac, sp.Integer(-1)) and not is_zero(jac, sp.Integer(1))


def test_rayleigh_steps_hold_at_d_3():
    """The default size's d = 3 (quick runs d = 2 only): the tridiagonal S is SPD there, and every step holds."""
    assert residuals(rayleigh_steps(3)) == 0
