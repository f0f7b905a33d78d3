"""The cost bound: evaluations whose worst case over the actual context exceeds the budget are
refused before they run; every other evaluation runs as before."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from caveats.caveat_helpers import compile_text, make_caveat
from clove.caveats import compile_caveat
from clove.caveats._compile import DEFAULT_MAX_COST
from clove.caveats._cost import MAX_ITERATIONS
from clove.errors import CaveatCostExceededError, CaveatEvaluationError


class _MustNotRun:
    """Stands in for the CEL program of a caveat that the bound must refuse unrun."""

    def eval(self, **_: Any) -> Any:
        raise AssertionError("the expression was evaluated")

    def serialize(self) -> bytes:
        raise AssertionError("unused")


def _refused(parameters: str, expression: str, context: dict[str, object]) -> int:
    compiled = compile_text(parameters, expression)
    values = compiled.convert_context(context)
    compiled._program = _MustNotRun()  # prove that nothing runs
    with pytest.raises(CaveatCostExceededError) as raised:
        compiled.evaluate(values)
    error = raised.value
    assert isinstance(error, CaveatEvaluationError)
    assert error.caveat == "test_caveat"
    assert error.limit == DEFAULT_MAX_COST < error.cost == compiled.cost(values)
    assert "test_caveat" in str(error)
    assert "more than the limit of 1000000" in str(error)
    return error.cost


def test_allocation_in_a_comprehension_is_refused_unrun() -> None:
    # About 29 s of C++ CEL: four megabytes allocated per item, a thousand times.
    cost = _refused(
        "xs list<int>, s string",
        "xs.map(a, s + s + s + s).size() > 0",
        {"xs": list(range(1000)), "s": "x" * 1_000_000},
    )
    assert cost > 500 * DEFAULT_MAX_COST


def test_the_quadratic_accumulator_of_map_is_refused() -> None:
    # Each step copies the list built so far: 4 s for 9,999 integers.
    _refused("xs list<int>", "xs.map(x, x * 2).size() > 0", {"xs": list(range(9999))})
    _refused("xs list<int>", "xs.filter(x, x > 0).size() > 0", {"xs": list(range(9999))})


def test_nested_comprehensions_multiply() -> None:
    _refused(
        "xs list<int>",
        "xs.all(a, xs.all(b, xs.all(c, a + b + c >= 0)))",
        {"xs": list(range(200))},
    )


def test_huge_strings_and_searches_are_refused() -> None:
    _refused("s string", "s.size() > 3", {"s": "x" * 50_000_000})
    _refused("s string, t string", "s.contains(t)", {"s": "a" * 1_000_000, "t": "a" * 10_000})
    _refused("m map<any>", "'k' in m", {"m": {"k": ["x" * 20_000_000]}})


def test_ordinary_contexts_evaluate() -> None:
    assert compile_text("xs list<int>", "xs.map(x, x * 2).size() == 100").evaluate(
        {"xs": list(range(100))}
    )
    compiled = compile_text("xs list<int>, s string", "xs.map(a, s + s).size() == 10")
    values = compiled.convert_context({"xs": list(range(10)), "s": "x" * 1000})
    assert compiled.evaluate(values) is True
    assert 0 < compiled.cost(values) < 10_000
    # All steps are bounded by the comprehension limit; C++ CEL's own error is kept.
    compiled = compile_text("xs list<int>", "xs.all(x, x >= 0)")
    with pytest.raises(CaveatEvaluationError, match="Iteration budget exceeded"):
        compiled.evaluate({"xs": list(range(MAX_ITERATIONS + 1))})


def _cost(parameters: str, expression: str, context: dict[str, object]) -> int:
    compiled = compile_text(parameters, expression)
    return compiled.cost(compiled.convert_context(context))


def test_the_bound_grows_as_the_evaluation_does() -> None:
    # Concatenation is linear in the string, map's accumulation quadratic in the list.
    concat = "xs.map(a, s + s + s + s).size() > 0"
    small = _cost("xs list<int>, s string", concat, {"xs": [1] * 10, "s": "x" * 16_000})
    large = _cost("xs list<int>, s string", concat, {"xs": [1] * 10, "s": "x" * 32_000})
    assert 1.9 < large / small < 2.1
    longer = _cost("xs list<int>, s string", concat, {"xs": [1] * 20, "s": "x" * 16_000})
    assert 1.9 < longer / small < 2.1
    quadratic = "xs.map(x, x).size() > 0"
    small = _cost("xs list<int>", quadratic, {"xs": list(range(1000))})
    large = _cost("xs list<int>", quadratic, {"xs": list(range(2000))})
    assert 3.8 < large / small < 4.2
    # A fold into a boolean is linear.
    small = _cost("xs list<int>", "xs.all(x, x > 0)", {"xs": list(range(1000))})
    large = _cost("xs list<int>", "xs.all(x, x > 0)", {"xs": list(range(2000))})
    assert 1.9 < large / small < 2.1


def test_the_budget_is_configurable() -> None:
    tight = compile_caveat(make_caveat("s string", "s == 'a'"), max_cost=3)
    assert tight.max_cost == 3
    with pytest.raises(CaveatCostExceededError) as raised:
        tight.evaluate({"s": "a"})
    assert raised.value.limit == 3
    roomy = compile_caveat(make_caveat("s string", "s.size() > 3"), max_cost=10**9)
    assert roomy.evaluate({"s": "x" * 50_000_000}) is True
    with pytest.raises(ValueError, match="max_cost must be positive"):
        compile_caveat(make_caveat("s string", "s == 'a'"), max_cost=0)


def test_absurdly_nested_values_are_refused_not_recursed() -> None:
    # convert_context refuses such nesting (ContextError); evaluate is safe on its own too.
    nested: object = "leaf"
    for _ in range(150):
        nested = [nested]
    compiled = compile_text("v any", "v != null")
    compiled._program = _MustNotRun()
    with pytest.raises(CaveatCostExceededError):
        compiled.evaluate({"v": nested})


_EXPRESSIONS = (
    "s + t == t + s",
    "s.contains(t) || t.startsWith(s)",
    "[s, t, s].map(x, x + x).exists(y, y.size() > n)",
    "(s + s + t).matches('a+b') && n > 0",
    "string(n) + s != t",
)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    expression=st.sampled_from(_EXPRESSIONS),
    s=st.integers(0, 60_000),
    t=st.integers(0, 60_000),
    max_cost=st.integers(1, 40_000),
)
def test_flat_contexts_are_refused_exactly_when_their_bound_exceeds_the_budget(
    expression: str, s: int, t: int, max_cost: int
) -> None:
    # Contexts of strings and scalars skip the walk when they are short enough for the
    # expression; that shortcut must agree with the bound itself.
    compiled = compile_caveat(
        make_caveat("s string, t string, n int", expression), max_cost=max_cost
    )
    values = compiled.convert_context({"s": "a" * s, "t": "b" * t, "n": 3})
    over = compiled.cost(values) > max_cost
    try:
        compiled.evaluate(values)
    except CaveatCostExceededError:
        assert over
    else:
        assert not over


def test_a_check_over_a_too_large_context_fails_with_the_cost_error() -> None:
    import clove

    db = clove.open()
    db.write_schema(
        """
        definition user {}
        caveat repeated(xs list<int>, s string) { xs.map(a, s + s + s + s).size() > 0 }
        definition document {
            relation viewer: user with repeated
            permission view = viewer
        }
        """
    )
    db.write_relationships(["document:d#viewer@user:u[repeated]"])
    small = {"xs": [1, 2], "s": "abc"}
    assert db.check("document:d", "view", "user:u", context=small)
    large = {"xs": list(range(1000)), "s": "x" * 1_000_000}
    with pytest.raises(CaveatCostExceededError, match="caveat `repeated`"):
        db.check("document:d", "view", "user:u", context=large)
    db.close()


def test_the_database_takes_its_caveat_budget_from_open() -> None:
    import clove

    schema = """
        definition user {}
        caveat repeated(xs list<int>, s string) { xs.map(a, s + s + s + s).size() > 0 }
        definition document {
            relation viewer: user with repeated
            permission view = viewer
        }
    """
    context = {"xs": list(range(100)), "s": "x" * 100}
    for budget, allowed in ((DEFAULT_MAX_COST, True), (50, False)):
        db = clove.open(max_caveat_cost=budget)
        db.write_schema(schema)
        db.write_relationships(["document:d#viewer@user:u[repeated]"])
        if allowed:
            assert db.check("document:d", "view", "user:u", context=context)
        else:
            with pytest.raises(CaveatCostExceededError):
                db.check("document:d", "view", "user:u", context=context)
        db.close()
    with pytest.raises(clove.InvalidInputError, match="max_caveat_cost"):
        clove.open(max_caveat_cost=0)
