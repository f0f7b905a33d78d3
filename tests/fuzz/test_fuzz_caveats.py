"""Fuzzed caveats: generated CEL over typed parameters compiles, and evaluating it over any
context, well-typed or garbage, answers or fails only with a Clove error."""

from __future__ import annotations

import contextlib
import json

from hypothesis import given
from hypothesis import strategies as st

from clove.caveats import compile_caveat
from clove.errors import CaveatEvaluationError, ContextError, RelationshipSyntaxError
from clove.relationships import parse_relationship
from clove.schema.ir import Caveat
from fuzz.strategies import caveats, contexts, fuzz_settings, garbage_contexts, mutated

caveat_strategy = caveats("fuzzed")


@fuzz_settings(150)
@given(
    caveat_strategy.flatmap(lambda caveat: st.tuples(st.just(caveat), contexts(caveat.parameters)))
)
def test_generated_cel_compiles_and_evaluates_over_typed_contexts(
    case: tuple[Caveat, dict[str, object]],
) -> None:
    caveat, context = case
    compiled = compile_caveat(caveat)  # well-typed by construction: must not raise
    values = compiled.convert_context(context)  # values of the declared types: must convert
    try:
        result = compiled.evaluate(values)
    except CaveatEvaluationError:
        return  # overflow, an absent map key ...: a run-time error the caller sees as such
    if isinstance(result, frozenset):
        assert result, "a conditional result names what is missing"
        assert result <= compiled.referenced_parameters
        assert not result & set(values)
    else:
        assert result in (True, False)
    # A complete context never leaves the result conditional.
    complete = {p.name: context.get(p.name) for p in caveat.parameters if p.name in context}
    if set(complete) == {p.name for p in caveat.parameters}:
        assert not isinstance(result, frozenset)


@fuzz_settings(100)
@given(caveat_strategy, garbage_contexts | st.builds(dict))
def test_garbage_contexts_fail_only_with_clove_errors(
    caveat: Caveat, garbage: dict[str, object]
) -> None:
    compiled = compile_caveat(caveat)
    # Give the garbage the parameters' names, so it reaches the converters.
    names = [parameter.name for parameter in caveat.parameters]
    context = {names[index % len(names)]: value for index, value in enumerate(garbage.values())}
    try:
        values = compiled.convert_context(context)
    except ContextError as error:
        assert "context parameter" in str(error)
        return
    with contextlib.suppress(CaveatEvaluationError):
        compiled.evaluate(values)


@fuzz_settings(60)
@given(
    caveat_strategy.flatmap(
        lambda caveat: st.tuples(
            st.just(caveat),
            contexts(caveat.parameters).flatmap(lambda context: mutated(json.dumps(context))),
        )
    )
)
def test_mutated_context_json_fails_only_with_clove_errors(case: tuple[Caveat, str]) -> None:
    # A relationship string carries its context as JSON: parse it as a write does.
    caveat, text = case
    try:
        rel = parse_relationship(f"doc:a#viewer@user:b[{caveat.name}:{text}]")
    except RelationshipSyntaxError:
        return
    compiled = compile_caveat(caveat)
    try:
        compiled.evaluate(compiled.convert_context(dict(rel.caveat_context or {})))
    except (ContextError, CaveatEvaluationError):
        return
