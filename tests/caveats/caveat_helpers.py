"""Helpers for building and running caveats in tests without the schema parser."""

from __future__ import annotations

from clove.caveats import CompiledCaveat, compile_caveat
from clove.schema.ir import Caveat, CaveatParameter, CaveatType, Span

# Where test expressions start, unless a test says otherwise.
START = Span(line=1, column=1)


def parse_type(text: str) -> CaveatType:
    """``int``, ``list<int>``, ``map<list<string>>`` -> CaveatType (test-only mini parser)."""
    text = text.strip()
    if "<" not in text:
        return CaveatType(name=text)
    name, _, rest = text.partition("<")
    if not rest.endswith(">"):
        raise ValueError(f"bad type {text!r}")
    return CaveatType(name=name.strip(), args=(parse_type(rest[:-1]),))


def make_caveat(
    parameters: str,
    expression: str,
    *,
    name: str = "test_caveat",
    expression_span: Span = START,
) -> Caveat:
    """``make_caveat("a int, b list<string>", "a > 1")``."""
    declared = []
    for item in filter(None, (part.strip() for part in parameters.split(","))):
        param_name, _, type_text = item.partition(" ")
        declared.append(CaveatParameter(name=param_name, type=parse_type(type_text)))
    return Caveat(
        name=name,
        parameters=tuple(declared),
        expression=expression,
        expression_span=expression_span,
    )


def compile_text(
    parameters: str, expression: str, *, expression_span: Span = START
) -> CompiledCaveat:
    return compile_caveat(make_caveat(parameters, expression, expression_span=expression_span))


def run(parameters: str, expression: str, context: dict[str, object]) -> bool | frozenset[str]:
    """Compile, convert a JSON context and evaluate: the engine's path in one call."""
    compiled = compile_text(parameters, expression)
    return compiled.evaluate(compiled.convert_context(context))
