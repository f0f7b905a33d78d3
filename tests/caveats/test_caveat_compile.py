"""compile_caveat: type checking, rejected expressions and error positions in the schema."""

from __future__ import annotations

import pytest

from caveats.caveat_helpers import compile_text, make_caveat
from clove.caveats import compile_caveat
from clove.errors import SchemaError
from clove.schema.ir import NO_SPAN, Caveat, CaveatParameter, CaveatType, Span

# Where the expressions of these tests start in their (imaginary) schema.
AT = Span(line=10, column=5)


def compile_error(parameters: str, expression: str, *, at: Span = AT) -> SchemaError:
    with pytest.raises(SchemaError) as raised:
        compile_text(parameters, expression, expression_span=at)
    return raised.value


# --- what compiles -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("parameters", "expression"),
    [
        ("a int", "a == 1"),
        ("a int, b int", "a + b > 3 || a * b < -2"),
        ("count uint, limit uint", "count < limit"),
        # uint is an int to CEL, as in SpiceDB.
        ("count uint", "count < 10"),
        ("d double", "d > 1.5"),
        ("s string", "s.startsWith('x') && s.contains('y') && s.matches('^x.*y$')"),
        ("b bytes", "b == b'abc'"),
        ("t timestamp", "t.getHours() == 3"),
        ("t timestamp, d duration", "t + d < timestamp('2030-01-01T00:00:00Z')"),
        ("l list<string>", "'a' in l && size(l) > 1"),
        ("m map<int>", "m.x == 1 && 'y' in m"),
        ("m map<list<string>>", "m.x.exists(v, v == 'a')"),
        ("x any", "x == 1"),
        ("ip ipaddress", "ip.in_cidr('10.0.0.0/8')"),
        ("ip ipaddress, other ipaddress", "ip == other"),
        ("ips list<ipaddress>", "ips.exists(ip, ip.in_cidr('10.0.0.0/8'))"),
        ("a int", "true"),
        ("a int", "(a == 1) ? true : false"),
    ],
)
def test_valid_expressions_compile(parameters: str, expression: str) -> None:
    compiled = compile_text(parameters, expression)
    assert compiled.name == "test_caveat"


def test_compiled_caveat_exposes_declared_parameters_in_order() -> None:
    compiled = compile_text("b int, a list<string>, c map<any>", "b == 1")
    assert list(compiled.parameters) == ["b", "a", "c"]
    assert compiled.parameters["a"] == CaveatType(name="list", args=(CaveatType(name="string"),))
    assert repr(compiled) == "<CompiledCaveat test_caveat(b int, a list<string>, c map<any>)>"
    with pytest.raises(TypeError):
        compiled.parameters["d"] = CaveatType(name="int")  # type: ignore[index]


@pytest.mark.parametrize(
    ("parameters", "expression", "referenced"),
    [
        ("a int, b int", "a == 1", {"a"}),
        ("a int, b int", "a == 1 || b == 2", {"a", "b"}),
        # The name inside a string literal is not a reference.
        ("a int, b string", "b == 'a'", {"b"}),
        # Nor is a field name, nor a comprehension variable shadowing a parameter.
        ("m map<int>, x int", "m.x == 1", {"m"}),
        ("l list<int>, i int", "l.all(i, i > 0)", {"l"}),
        ("l list<int>, i int", "l.all(i, i > 0) && i == 3", {"l", "i"}),
        ("m map<any>", "has(m.x)", {"m"}),
        ("a int", "true", set()),
    ],
)
def test_referenced_parameters(parameters: str, expression: str, referenced: set[str]) -> None:
    assert compile_text(parameters, expression).referenced_parameters == referenced


# --- what does not, and where ------------------------------------------------------------


def test_undeclared_reference_points_at_the_name() -> None:
    error = compile_error("a int", "a == 1 && b == 2")
    assert error.message == (
        "invalid expression for caveat `test_caveat`: undeclared reference to 'b' (in container '')"
    )
    # `b` is the 11th character of the expression, which starts at 10:5.
    assert (error.line, error.column) == (10, 15)


def test_type_mismatch() -> None:
    error = compile_error("a int", "a == 'x'")
    assert "found no matching overload for '_==_' applied to '(int, string)'" in error.message
    assert (error.line, error.column) == (10, 7)


def test_syntax_error() -> None:
    error = compile_error("a int", "a == ")
    assert "Syntax error" in error.message
    assert (error.line, error.column) == (10, 10)


def test_error_on_a_later_line_keeps_its_own_column() -> None:
    error = compile_error("a int", "a == 1 &&\n    nope == 2")
    assert "undeclared reference to 'nope'" in error.message
    assert (error.line, error.column) == (11, 5)


def test_the_first_error_in_source_order_is_reported() -> None:
    error = compile_error("a int", "x == 1 || a == 'y' || z")
    assert "undeclared reference to 'x'" in error.message
    assert (error.line, error.column) == (10, 5)


def test_columns_count_characters_not_bytes() -> None:
    error = compile_error("s string", "s == 'ééé' && s == 1")
    # The second `==` is the 17th character; in bytes it would be the 20th.
    assert (error.line, error.column) == (10, 5 + 16)


def test_error_without_a_source_position_says_where_in_the_expression() -> None:
    error = compile_error("a int", "a == 1 && b", at=NO_SPAN)
    assert (error.line, error.column) == (0, 0)
    assert error.message.endswith("(at 1:11 of the expression)")


@pytest.mark.parametrize(
    ("parameters", "expression", "found"),
    [
        ("a int", "a", "int"),
        ("a int", "a + 1", "int"),
        ("s string", "s", "string"),
        ("l list<int>", "l", "list(int)"),
        # A value out of a map<any> is dyn; SpiceDB wants a bool statically.
        ("m map<any>", "m.flag", "dyn"),
        ("ip ipaddress", "ip", "ipaddress"),
    ],
)
def test_result_must_be_bool(parameters: str, expression: str, found: str) -> None:
    error = compile_error(parameters, expression)
    assert error.message == (
        "invalid expression for caveat `test_caveat`: "
        f"caveat expression must result in a boolean value: found `{found}`"
    )
    assert (error.line, error.column) == (10, 5)


@pytest.mark.parametrize(
    ("parameters", "expression"),
    [
        # An address is not a string: no comparing, no string functions, no ordering.
        ("ip ipaddress", "ip == '10.0.0.1'"),
        ("ip ipaddress", "ip.startsWith('10.')"),
        ("ip ipaddress, other ipaddress", "ip < other"),
        # ...and a string has no in_cidr.
        ("s string", "s.in_cidr('10.0.0.0/8')"),
        ("ip ipaddress", "ip.in_cidr(8)"),
        # in_cidr is a method only.
        ("ip ipaddress", "in_cidr(ip, '10.0.0.0/8')"),
        # uint is an int to CEL: uint literals do not mix with it.
        ("count uint", "count < 10u"),
        # No cross-type numeric ordering without an explicit conversion (cel-go's default).
        ("a int", "a < 1.5"),
        # No extension libraries: SpiceDB loads the standard library only.
        ("s string", "s.upperAscii() == 'A'"),
    ],
)
def test_rejected_expressions(parameters: str, expression: str) -> None:
    compile_error(parameters, expression)


def test_unknown_parameter_type_points_at_the_parameter() -> None:
    caveat = Caveat(
        name="c",
        parameters=(
            CaveatParameter(name="a", type=CaveatType(name="int"), span=Span(line=2, column=10)),
            CaveatParameter(name="b", type=CaveatType(name="float"), span=Span(line=2, column=17)),
        ),
        expression="a == 1",
    )
    with pytest.raises(SchemaError) as raised:
        compile_caveat(caveat)
    assert raised.value.message == (
        "invalid type for parameter `b` of caveat `c`: unknown caveat parameter type `float`"
    )
    assert (raised.value.line, raised.value.column) == (2, 17)


@pytest.mark.parametrize(
    ("caveat_type", "message"),
    [
        (CaveatType(name="list"), "type `list` requires 1 generic type; found 0"),
        (
            CaveatType(name="map", args=(CaveatType(name="int"), CaveatType(name="int"))),
            "type `map` requires 1 generic type; found 2",
        ),
        (
            CaveatType(name="int", args=(CaveatType(name="int"),)),
            "type `int` takes no generic types; found 1",
        ),
        (
            CaveatType(name="list", args=(CaveatType(name="nope"),)),
            "unknown caveat parameter type `nope`",
        ),
    ],
)
def test_malformed_parameter_types(caveat_type: CaveatType, message: str) -> None:
    caveat = Caveat(
        name="c", parameters=(CaveatParameter(name="a", type=caveat_type),), expression="true"
    )
    with pytest.raises(SchemaError, match=message):
        compile_caveat(caveat)


def test_duplicate_parameter() -> None:
    with pytest.raises(SchemaError, match="duplicate parameter `a` in caveat `test_caveat`"):
        compile_caveat(make_caveat("a int, a string", "a == 1"))


def test_expression_size_limit() -> None:
    expression = " || ".join(["a == 1"] * 20_000)
    with pytest.raises(SchemaError, match="exceeds the maximum size of 100000 characters"):
        compile_text("a int", expression)
