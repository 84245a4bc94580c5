"""Every registered result passes and every negative control is rejected, on every backend."""

import pickle

import pytest

import bntheory.results
from bntheory import registry
from bntheory.checks.compare import at_most
from bntheory.context import SIZES, Context
from bntheory.run import run

RESULTS = bntheory.results.all_results()
IDS = [r.id for r in RESULTS]


@pytest.mark.parametrize("result", RESULTS, ids=IDS)
def test_result_passes_and_control_is_rejected(result):
    rep = run(result, Context(seed=0))
    assert all(c.status != "skipped" for c in rep.checks), "torch is installed in the test environment"
    assert rep.control is not None and rep.control.rejected, rep.control
    _assert_expected_status(rep)


def _assert_expected_status(rep):
    """Every check passes, except a claim check, whose failure makes the result not reproduced."""
    failures = [f"{c.name}: {c.detail or c.outcome}" for c in rep.checks if c.status == "failed" and not c.claim]
    assert not failures
    if rep.status != "not reproduced":
        assert rep.holds and rep.status == ("provisional" if rep.result.tag == "R" else "passed")


@pytest.mark.parametrize("name", ["array_api_strict", "torch"])
@pytest.mark.parametrize("result", RESULTS, ids=IDS)
def test_result_on_other_backends(result, name):
    rep = run(result, Context(backend=name, seed=1, size="quick"))
    assert rep.control is None or rep.control.rejected, rep.control
    _assert_expected_status(rep)
    if name == "array_api_strict":
        _assert_backends_as_declared(result, rep, name)


def _assert_backends_as_declared(result, rep, name):
    """A check runs on the backend exactly when it declares it: never a host check counted as a backend pass."""
    rows = [
        (c.name, check.backends, c.ran_on, c.status == "skipped")
        for c, check in zip(rep.checks, result.checks, strict=True)
    ]
    if rep.control is not None:
        k = rep.control
        rows.append((k.description, result.control.backends, k.ran_on, k.skipped))
    wrong = [
        f"{label}: declared {d}, ran on {ran}"
        for label, d, ran, skip in rows
        if not skip and (ran == name) != (name in d)
    ]
    assert not wrong, wrong


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
    chosen = bntheory.results.get(["santurkar2018", "santurkar2018.thm4_1"])
    assert chosen and all(r.id.startswith("santurkar2018.") for r in chosen)
    assert len({r.id for r in chosen}) == len(chosen), "no repeats"
    assert not bntheory.results.get(["ioffe2015"])[0].id.startswith("santurkar")


def test_unknown_ids_are_named():
    with pytest.raises(KeyError, match=r"nope\.result"):
        bntheory.results.get(["nope.result"])


def _sandbox(**kwargs):
    """A result outside the global registry, for testing the run logic."""
    return registry.Result(id="test.sandbox", title="t", citation="c", statement="s", **kwargs)


def test_a_control_that_passes_makes_the_result_fail():
    res = _sandbox(tag="P")
    res.numeric("ok")(lambda ctx: at_most(0.0, 1.0))
    res.negative_control("wrong formula that is not caught")(lambda ctx: at_most(0.0, 1.0))
    rep = run(res, Context())
    assert rep.status == "failed" and not rep.control.rejected


def test_a_crashing_check_fails_with_its_cause():
    res = _sandbox(tag="P")

    @res.numeric("crash")
    def _(ctx):
        raise ZeroDivisionError("boom")

    rep = run(res, Context())
    assert rep.status == "failed" and "ZeroDivisionError: boom" in rep.checks[0].detail


def test_provisional_and_not_reproduced_do_not_gate():
    failing = lambda ctx: at_most(2.0, 1.0, "held in 0 of 50 seeds")  # noqa: E731
    recalled, refuted = _sandbox(tag="R"), _sandbox(tag="S")
    recalled.numeric("sound machinery")(lambda ctx: at_most(0.0, 1.0))
    recalled.claim("the recalled statement")(lambda ctx: at_most(0.0, 1.0))
    recalled.negative_control("false formula")(failing)
    refuted.numeric("sound machinery")(lambda ctx: at_most(0.0, 1.0))
    refuted.claim("the claim")(failing)
    refuted.negative_control("false formula")(failing)
    assert run(recalled, Context()).status == "provisional" and not run(recalled, Context()).gates
    rep = run(refuted, Context())
    assert rep.status == "not reproduced" and not rep.gates
    assert "held in 0 of 50 seeds" in rep.evidence and "measured 2" in rep.evidence, "evidence from this run"


def test_a_claim_that_holds_is_a_pass_and_broken_machinery_is_a_failure():
    res = _sandbox(tag="S")
    res.claim("the claim")(lambda ctx: at_most(0.0, 1.0))
    res.negative_control("false formula")(lambda ctx: at_most(2.0, 1.0))
    assert run(res, Context()).status == "passed"
    broken = _sandbox(tag="S")
    broken.numeric("machinery")(lambda ctx: at_most(2.0, 1.0))
    broken.claim("the claim")(lambda ctx: at_most(2.0, 1.0))
    broken.negative_control("false formula")(lambda ctx: at_most(2.0, 1.0))
    assert run(broken, Context()).status == "failed", "not reproduced needs every other check to pass"


def test_a_recalled_statement_gates_on_its_checks_of_the_library_only():
    failing = lambda ctx: at_most(2.0, 1.0)  # noqa: E731
    broken = _sandbox(tag="R")
    broken.numeric("the library's code")(failing)
    broken.claim("the recalled statement")(lambda ctx: at_most(0.0, 1.0))
    broken.negative_control("false formula")(failing)
    assert run(broken, Context()).status == "failed" and run(broken, Context()).gates
    unconfirmed = _sandbox(tag="R")
    unconfirmed.numeric("the library's code")(lambda ctx: at_most(0.0, 1.0))
    unconfirmed.claim("the recalled statement")(failing)
    unconfirmed.negative_control("false formula")(failing)
    assert run(unconfirmed, Context()).status == "not reproduced"


def test_nan_never_passes_and_a_nan_control_is_not_a_rejection():
    res = _sandbox(tag="P")
    res.numeric("nan error")(lambda ctx: at_most(float("nan"), 1.0))
    res.negative_control("nan control")(lambda ctx: at_most(float("nan"), 1.0))
    rep = run(res, Context())
    assert rep.checks[0].status == "failed" and "non-finite" in rep.checks[0].detail
    assert not rep.control.rejected and rep.status == "failed"


def test_a_check_that_returns_no_outcome_fails():
    res = _sandbox(tag="P")
    res.numeric("returns a bool")(lambda ctx: True)
    assert run(res, Context()).checks[0].status == "failed"


def test_where_a_check_ran_is_recorded():
    res = _sandbox(tag="P")
    res.numeric("host only")(lambda ctx: at_most(0.0, 1.0))
    on_backend = res.numeric("on the backend", backends=registry.ARRAY)
    on_backend(lambda ctx: at_most(float(ctx.xp.sum(ctx.asarray([0.0]))), 1))
    host, device = run(res, Context(backend="array_api_strict")).checks
    assert (host.ran_on, device.ran_on) == ("host", "array_api_strict")


def test_missing_optional_dependency_skips_with_the_fix():
    res = _sandbox(tag="P")
    res.numeric("needs a package that does not exist", needs=("no_such_package_xyz",))(lambda ctx: at_most(0, 1))
    rep = run(res, Context())
    assert rep.checks[0].status == "skipped" and "no_such_package_xyz" in rep.checks[0].detail
    assert rep.status == "failed"  # nothing ran, so nothing was shown


def test_rng_streams_are_reproducible_and_independent():
    ctx = Context(seed=7, scope="paper.result/check")
    assert ctx.rng("a").random() == ctx.rng("a").random()
    assert ctx.rng("a").random() != ctx.rng("b").random()
    assert ctx.rng().random() != ctx.scoped("paper.result/other check").rng().random()
    assert ctx.rng(shared=True).random() == ctx.scoped("paper.result/control").rng(shared=True).random()
    assert ctx.rng(shared=True).random() != ctx.scoped("other.result/check").rng(shared=True).random()


def test_every_check_of_the_registry_draws_its_own_stream():
    scopes = [f"{r.id}/{c.name}" for r in RESULTS for c in r.checks] + [f"{r.id}/control" for r in RESULTS]
    assert len(set(scopes)) == len(scopes), "two checks of one result share a name"
    firsts = {tuple(Context(seed=0, scope=s).rng().integers(0, 2**63, 2)) for s in scopes}
    assert len(firsts) == len(scopes)


@pytest.mark.parametrize("size", SIZES)
def test_context_from_names(size):
    ctx = Context.of("numpy", seed=4, size=size)
    assert (ctx.backend, ctx.seed, ctx.size) == ("numpy", 4, size)
    assert ctx.by_size(quick="q", default="d", large="l") == size[0]
    assert Context(size=size).by_size(default="d") == "d"
    with pytest.raises(ValueError, match="size"):
        Context.of("numpy", size="huge")
    with pytest.raises(ValueError, match="seed"):
        Context(seed=-1)
    with pytest.raises(ValueError, match="backend"):
        Context(backend="jax")


def test_context_travels():
    ctx = Context(backend="numpy", seed=3, size="quick", scope="a.b/c")
    back = pickle.loads(pickle.dumps(ctx))
    assert back == ctx and back.rng().random() == ctx.rng().random()


def test_memo_computes_once_with_its_own_stream():
    calls = []

    def compute(ctx):
        calls.append(ctx.scope)
        return ctx.rng().random()

    a = Context(seed=11, scope="x.y/one").memo("test.memo", compute)
    b = Context(seed=11, scope="x.y/two").memo("test.memo", compute)
    assert a == b and calls == ["memo:test.memo"]
