"""evaluate: results, missing parameters (conditional results) and run-time errors."""

from __future__ import annotations

import operator
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from caveats.caveat_helpers import compile_text, run
from clove.errors import CaveatEvaluationError

# --- values of every type ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("parameters", "expression", "context", "expected"),
    [
        ("a int", "a + 1 == 43", {"a": 42}, True),
        ("d double", "d * 2.0 == 3.0", {"d": 1.5}, True),
        ("d double", "d > 1.0", {"d": 2}, True),
        ("s string", "s.startsWith('he') && size(s) == 5", {"s": "hello"}, True),
        ("s string", "s.matches('^h.*o$')", {"s": "hello"}, True),
        ("b bytes", "b == b'hello'", {"b": "aGVsbG8="}, True),
        ("b bool", "!b", {"b": False}, True),
        ("d duration", "d > duration('1h')", {"d": "1h30m"}, True),
        ("d duration", "d == duration('90m')", {"d": "1.5h"}, True),
        (
            "now timestamp, d duration",
            "now + d == timestamp('2023-01-01T01:00:00Z')",
            {"now": "2023-01-01T00:00:00Z", "d": "1h"},
            True,
        ),
        # Timestamps are instants, and CEL's accessors read them in UTC (as SpiceDB sets).
        (
            "t timestamp",
            "t == timestamp('2023-01-01T00:00:00Z')",
            {"t": "2023-01-01T02:00:00+02:00"},
            True,
        ),
        ("t timestamp", "t.getHours() == 0", {"t": "2023-01-01T02:00:00+02:00"}, True),
        ("l list<int>", "42 in l", {"l": [1, 42]}, True),
        ("l list<int>", "42 in l", {"l": [1, 2]}, False),
        ("l list<string>", "l.exists(x, x == 'b')", {"l": ["a", "b"]}, True),
        ("m map<int>", "m.a == 1 && !('b' in m)", {"m": {"a": 1}}, True),
        ("m map<any>", "m.x.y[0] == 'z'", {"m": {"x": {"y": ["z"]}}}, True),
        ("m map<any>", "m.n == null", {"m": {"n": None}}, True),
        ("m map<any>", "type(m.n) == double", {"m": {"n": 3}}, True),
        ("x any", "x == 3", {"x": 3}, True),
        ("x any", "x == 'a'", {"x": "a"}, True),
        ("count uint, limit uint", "count < limit", {"count": 1, "limit": 2}, True),
        ("count uint", "count < 10", {"count": 10}, False),
        ("ip ipaddress", "ip.in_cidr('192.168.0.0/16')", {"ip": "192.168.4.5"}, True),
        ("ip ipaddress", "ip.in_cidr('2001:db8::/32')", {"ip": "2001:db8::5"}, True),
        ("ip ipaddress", "ip.in_cidr('2001:db8::/32')", {"ip": "10.0.0.1"}, False),
        # Equal addresses compare equal whatever their spelling.
        ("a ipaddress, b ipaddress", "a == b", {"a": "2001:db8::1", "b": "2001:DB8:0::1"}, True),
        ("a ipaddress, b ipaddress", "a == b", {"a": "10.0.0.1", "b": "::ffff:10.0.0.1"}, False),
        (
            "ips list<ipaddress>",
            "ips.all(ip, ip.in_cidr('10.0.0.0/8'))",
            {"ips": ["10.0.0.1", "10.9.9.9"]},
            True,
        ),
    ],
)
def test_evaluates(
    parameters: str, expression: str, context: dict[str, object], expected: bool
) -> None:
    assert run(parameters, expression, context) is expected


# --- missing parameters ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("parameters", "expression", "context", "expected"),
    [
        ("a int", "a == 1", {}, {"a"}),
        ("a int, b int", "a == 1 && b == 2", {}, {"a", "b"}),
        ("a int, b int", "a == 1 || b == 2", {}, {"a", "b"}),
        ("a int, b int", "a == 1 || b == 2", {"a": 2}, {"b"}),
        ("a int, b int", "a == 1 && b == 2", {"a": 1}, {"b"}),
        # Decided without the missing parameter: a plain result, as in SpiceDB.
        ("a int, b int", "a == 1 || b == 2", {"a": 1}, True),
        ("a int, b int", "a == 1 && b == 2", {"a": 2}, False),
        ("a int, b int", "b == 2 && a == 1", {"a": 2}, False),
        ("a int", "true || a == 1", {}, True),
        ("a int", "false && a == 1", {}, False),
        ("a bool", "a ? false : false", {}, {"a"}),
        # Only parameters the expression uses are reported.
        ("a int, unused int", "a == 1", {}, {"a"}),
        ("a int, unused int", "a == 1", {"a": 1}, True),
        # A parameter named in a string, or as a field, is not a use.
        ("m map<int>, x int", "m.x == 1 && 'x' != ''", {}, {"m"}),
        ("m map<int>, x int", "m.x == 1", {"m": {"x": 1}}, True),
        # A missing parameter outweighs an error elsewhere (SpiceDB: unknown beats error).
        ("a int, b int", "a / 0 == 1 || b == 2", {"a": 1}, {"b"}),
        ("ip ipaddress, c string", "ip.in_cidr(c)", {"c": "10.0.0.0/8"}, {"ip"}),
        ("ip ipaddress, c string", "ip.in_cidr(c)", {"ip": "10.0.0.1"}, {"c"}),
    ],
)
def test_missing_parameters(
    parameters: str, expression: str, context: dict[str, object], expected: object
) -> None:
    result = run(parameters, expression, context)
    assert result == expected
    if isinstance(expected, set):
        assert isinstance(result, frozenset)


def test_missing_map_key_is_an_error_not_a_missing_parameter() -> None:
    # SpiceDB: a key absent from a provided map is a run-time error, not "missing context".
    with pytest.raises(CaveatEvaluationError, match="bar"):
        run("m map<any>", "m.foo == 42 && m.bar < 56", {"m": {"foo": 42}})


# --- run-time errors ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("parameters", "expression", "context", "message"),
    [
        ("a int", "a + 1 > 0", {"a": (1 << 63) - 1}, "integer overflow"),
        ("a int", "a / 0 == 1", {"a": 1}, "divide by zero"),
        ("l list<int>", "l[5] == 1", {"l": [1]}, "index"),
        # Invalid CIDRs fail at evaluation, as in SpiceDB.
        (
            "ip ipaddress, c string",
            "ip.in_cidr(c)",
            {"ip": "10.0.0.1", "c": "10.0.0.0"},
            "invalid CIDR",
        ),
        (
            "ip ipaddress",
            "ip.in_cidr('nonsense')",
            {"ip": "10.0.0.1"},
            "invalid CIDR string: `nonsense`",
        ),
        # `any` holds JSON, so its numbers are doubles: double + int has no overload.
        ("x any", "x + 1 == 2", {"x": 1}, "No matching overload"),
    ],
)
def test_runtime_errors(
    parameters: str, expression: str, context: dict[str, object], message: str
) -> None:
    with pytest.raises(CaveatEvaluationError) as raised:
        run(parameters, expression, context)
    assert str(raised.value).startswith("evaluation of caveat `test_caveat` failed: ")
    assert message in str(raised.value)


def test_errors_are_absorbed_when_the_result_is_decided() -> None:
    assert run("a int", "a / 0 == 1 || true", {"a": 1}) is True
    assert run("ip ipaddress", "ip.in_cidr('bad') && false", {"ip": "10.0.0.1"}) is False


# --- properties --------------------------------------------------------------------------

_COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    ">=": operator.ge,
}
_INT_CAVEATS = {op: compile_text("a int, b int", f"a {op} b") for op in _COMPARISONS}
_DOUBLE_CAVEATS = {op: compile_text("a double, b double", f"a {op} b") for op in _COMPARISONS}
_JSON_SAFE = st.integers(-(2**53), 2**53)


@given(a=_JSON_SAFE, b=_JSON_SAFE, op=st.sampled_from(sorted(_COMPARISONS)))
def test_int_comparisons_agree_with_python(a: int, b: int, op: str) -> None:
    caveat = _INT_CAVEATS[op]
    assert caveat.evaluate(caveat.convert_context({"a": a, "b": b})) is _COMPARISONS[op](a, b)


@given(
    a=st.floats(allow_nan=False),
    b=st.floats(allow_nan=False),
    op=st.sampled_from(sorted(_COMPARISONS)),
)
def test_double_comparisons_agree_with_python(a: float, b: float, op: str) -> None:
    caveat = _DOUBLE_CAVEATS[op]
    assert caveat.evaluate(caveat.convert_context({"a": a, "b": b})) is _COMPARISONS[op](a, b)


_SUM_CAVEAT = compile_text("a int, b int, c int", "a + b == c")


@given(a=_JSON_SAFE, b=_JSON_SAFE, c=_JSON_SAFE)
def test_int_arithmetic_agrees_with_python(a: int, b: int, c: int) -> None:
    assert _SUM_CAVEAT.evaluate({"a": a, "b": b, "c": c}) is (a + b == c)


_OR_CAVEAT = compile_text("a bool, b bool", "a || b")


@given(
    a=st.one_of(st.none(), st.booleans()),
    b=st.one_of(st.none(), st.booleans()),
)
def test_or_with_missing_values_is_three_valued(a: bool | None, b: bool | None) -> None:
    context = {name: value for name, value in (("a", a), ("b", b)) if value is not None}
    result = _OR_CAVEAT.evaluate(_OR_CAVEAT.convert_context(context))
    if a is True or b is True:
        assert result is True
    elif a is False and b is False:
        assert result is False
    else:
        assert result == frozenset(name for name in ("a", "b") if name not in context)


# --- sharing -----------------------------------------------------------------------------


def test_compiled_caveat_is_safe_to_share_between_threads() -> None:
    caveat = compile_text("ip ipaddress, cidr string", "ip.in_cidr(cidr)")
    contexts = [
        caveat.convert_context({"ip": f"10.0.{i % 256}.1", "cidr": f"10.0.{i % 7}.0/24"})
        for i in range(2000)
    ]
    expected = [caveat.evaluate(context) for context in contexts]
    with ThreadPoolExecutor(max_workers=8) as pool:
        assert list(pool.map(caveat.evaluate, contexts)) == expected


def test_evaluate_does_not_modify_the_context() -> None:
    caveat = compile_text("a int, b int", "a == b")
    context = {"a": 1}
    assert caveat.evaluate(context) == frozenset({"b"})
    assert context == {"a": 1}
