"""Every registered result passes and every negative control is rejected, on every backend."""

import pytest

from bntheory import backend, registry
from bntheory.checks.compare import at_most

RESULTS = registry.all_results()
IDS = [r.id for r in RESULTS]


@pytest.mark.parametrize("result", RESULTS, ids=IDS)
def test_result_passes_and_control_is_rejected(result):
    rep = registry.run(result, registry.Context(xp=backend.namespace("numpy"), seed=0))
    assert all(c.status != "skipped" for c in rep.checks), "torch is installed in the test environment"
    assert rep.control is not None and rep.control.rejected, rep.control
    _assert_expected_status(rep)


def _assert_expected_status(rep):
    """Every check passes, except that a result declared not reproduced must still fail its claim's check."""
    failures = [f"{c.name}: {c.detail or c.outcome}" for c in rep.checks if c.status == "failed"]
    if rep.result.not_reproduced:
        assert failures and rep.status == "not reproduced", "a claim marked not reproduced now holds: revisit it"
    else:
        assert not failures
        assert rep.holds and rep.status == ("provisional" if rep.result.tag == "R" else "passed")


@pytest.mark.parametrize("name", ["array_api_strict", "torch"])
@pytest.mark.parametrize("result", RESULTS, ids=IDS)
def test_result_on_other_backends(result, name):
    rep = registry.run(result, registry.Context(xp=backend.namespace(name), backend=name, seed=1, quick=True))
    assert rep.control is None or rep.control.rejected, rep.control
    _assert_expected_status(rep)


def test_every_record_is_complete():
    for r in RESULTS:
        assert r.id.count(".") == 1 and r.title and r.citation and r.statement
        assert r.tag in registry.TAGS
        assert any(c.kind == "numeric" for c in r.checks), r.id
        assert r.control is not None, r.id


def test_ids_are_unique_and_registration_refuses_duplicates():
    assert len(set(IDS)) == len(IDS)
    with pytest.raises(ValueError, match="registered twice"):
        registry.register(IDS[0], title="t", citation="c", statement="s", tag="P")


def test_a_paper_prefix_selects_its_results():
    chosen = registry.get(["santurkar2018", "santurkar2018.thm4_1"])
    assert chosen and all(r.id.startswith("santurkar2018.") for r in chosen)
    assert len({r.id for r in chosen}) == len(chosen), "no repeats"
    assert not registry.get(["ioffe2015"])[0].id.startswith("santurkar")


def test_unknown_ids_are_named():
    with pytest.raises(KeyError, match=r"nope\.result"):
        registry.get(["nope.result"])


def _sandbox(**kwargs):
    """A result outside the global registry, for testing the run logic."""
    return registry.Result(id="test.sandbox", title="t", citation="c", statement="s", **kwargs)


def test_a_control_that_passes_makes_the_result_fail():
    res = _sandbox(tag="P")
    res.numeric("ok")(lambda ctx: at_most(0.0, 1.0))
    res.negative_control("wrong formula that is not caught")(lambda ctx: at_most(0.0, 1.0))
    rep = registry.run(res, registry.Context(xp=backend.namespace("numpy")))
    assert rep.status == "failed" and not rep.control.rejected


def test_a_crashing_check_fails_with_its_cause():
    res = _sandbox(tag="P")

    @res.numeric("crash")
    def _(ctx):
        raise ZeroDivisionError("boom")

    rep = registry.run(res, registry.Context(xp=backend.namespace("numpy")))
    assert rep.status == "failed" and "ZeroDivisionError: boom" in rep.checks[0].detail


def test_provisional_and_not_reproduced_do_not_gate():
    failing = lambda ctx: at_most(2.0, 1.0)  # noqa: E731
    recalled, refuted = _sandbox(tag="R"), _sandbox(tag="S", not_reproduced="held in 0 of 50 seeds")
    for res in (recalled, refuted):
        res.numeric("fails")(failing)
    ctx = registry.Context(xp=backend.namespace("numpy"))
    assert registry.run(recalled, ctx).status == "provisional"
    assert registry.run(refuted, ctx).status == "not reproduced"
    assert not registry.run(refuted, ctx).gates


def test_missing_optional_dependency_skips_with_the_fix():
    res = _sandbox(tag="P")
    res.numeric("needs a package that does not exist", needs=("no_such_package_xyz",))(lambda ctx: at_most(0, 1))
    rep = registry.run(res, registry.Context(xp=backend.namespace("numpy")))
    assert rep.checks[0].status == "skipped" and "no_such_package_xyz" in rep.checks[0].detail
    assert rep.status == "failed"  # nothing ran, so nothing was shown


def test_rng_streams_are_reproducible_and_independent():
    ctx = registry.Context(xp=backend.namespace("numpy"), seed=7)
    assert ctx.rng("a").random() == ctx.rng("a").random()
    assert ctx.rng("a").random() != ctx.rng("b").random()


@pytest.mark.parametrize("size", registry.SIZES)
def test_context_from_names(size):
    ctx = registry.Context.of("numpy", seed=4, size=size)
    assert (ctx.backend, ctx.seed, ctx.size) == ("numpy", 4, size)
    assert ctx.quick == (size == "quick") and ctx.large == (size == "large")
    with pytest.raises(ValueError, match="size"):
        registry.Context.of("numpy", size="huge")
