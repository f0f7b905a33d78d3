"""convert_context: JSON context values to CEL values, accepting what SpiceDB accepts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from caveats.caveat_helpers import compile_text
from clove.errors import ContextError

INT64_MAX = (1 << 63) - 1
INT64_MIN = -(1 << 63)


def convert(type_text: str, value: object) -> object:
    return compile_text(f"p {type_text}", "true").convert_context({"p": value})["p"]


@pytest.mark.parametrize(
    ("type_text", "value", "expected"),
    [
        ("int", 42, 42),
        ("int", -7, -7),
        ("int", 42.0, 42),
        ("int", "42", 42),
        ("int", "-4.2e1", -42),
        ("int", "1e3", 1000),
        # SpiceDB sees JSON numbers as float64 and saturates to the int64 range.
        ("int", 2**53 + 1, 2**53),
        ("int", 1e30, INT64_MAX),
        ("int", -1e30, INT64_MIN),
        ("int", "1e400", INT64_MAX),
        ("int", "9223372036854775807", INT64_MAX),
        ("uint", 0, 0),
        ("uint", 7, 7),
        ("uint", 7.0, 7),
        ("uint", "7", 7),
        ("uint", 2**70, INT64_MAX),
        ("double", 1.5, 1.5),
        ("double", 2, 2.0),
        ("double", "2.5", 2.5),
        ("double", "-inf", float("-inf")),
        ("bool", True, True),
        ("bool", False, False),
        ("string", "hello", "hello"),
        ("string", "", ""),
        ("bytes", "aGVsbG8=", b"hello"),
        ("bytes", "aGVs\nbG8=", b"hello"),
        ("bytes", "", b""),
        ("duration", "1h30m", timedelta(hours=1, minutes=30)),
        ("duration", "1.5h", timedelta(hours=1, minutes=30)),
        ("duration", "10s", timedelta(seconds=10)),
        ("duration", "-250ms", timedelta(milliseconds=-250)),
        ("duration", "0", timedelta(0)),
        ("timestamp", "2023-01-01T00:00:00Z", datetime(2023, 1, 1, tzinfo=UTC)),
        ("timestamp", "2023-01-01T02:30:00+02:30", datetime(2023, 1, 1, tzinfo=UTC)),
        ("timestamp", "2023-01-01T00:00:00.123456789Z", datetime(2023, 1, 1, 0, 0, 0, 123456, UTC)),
        ("ipaddress", "10.1.2.3", "10.1.2.3"),
        ("ipaddress", "2001:DB8:0:0::1", "2001:db8::1"),
        ("ipaddress", "::ffff:1.2.3.4", "::ffff:1.2.3.4"),
        ("ipaddress", "fe80::1%eth0", "fe80::1%eth0"),
        ("list<int>", [1, 2.0, "3"], [1, 2, 3]),
        ("list<int>", [], []),
        ("list<list<string>>", [["a"], []], [["a"], []]),
        ("list<ipaddress>", ["10.0.0.1", "::1"], ["10.0.0.1", "::1"]),
        ("map<int>", {"a": 1, "b": 2.0}, {"a": 1, "b": 2}),
        ("map<timestamp>", {"t": "2023-01-01T00:00:00Z"}, {"t": datetime(2023, 1, 1, tzinfo=UTC)}),
        # `any` keeps JSON values, with numbers as floats (a protobuf Struct has no ints).
        ("any", 42, 42.0),
        ("any", None, None),
        ("any", "x", "x"),
        ("any", True, True),
        ("any", [1, "a", None, {"b": 2}], [1.0, "a", None, {"b": 2.0}]),
        ("map<any>", {"foo": 42, "bar": [1]}, {"foo": 42.0, "bar": [1.0]}),
    ],
)
def test_valid_values(type_text: str, value: object, expected: object) -> None:
    converted = convert(type_text, value)
    assert converted == expected
    assert type(converted) is type(expected)


def test_timestamps_are_utc_aware() -> None:
    converted = convert("timestamp", "2023-06-01T12:00:00-07:00")
    assert isinstance(converted, datetime)
    assert converted.tzinfo is UTC
    assert converted == datetime(2023, 6, 1, 19, tzinfo=UTC)


@pytest.mark.parametrize(
    ("type_text", "value", "detail"),
    [
        ("int", "hello", "expected an integer, found string `hello`"),
        ("int", 1.5, "expected an integer, found number `1.5`"),
        ("int", "1.5", "expected an integer, found string `1.5`"),
        ("int", True, "expected an integer, found boolean `true`"),
        ("int", None, "expected an integer, found null"),
        ("int", [1], "expected an integer, found array"),
        ("int", " 1", "expected an integer, found string ` 1`"),
        ("int", "inf", "expected an integer, found string `inf`"),
        ("int", float("nan"), "expected an integer, found number `nan`"),
        ("int", 10**400, "number `1000000"),
        ("uint", -1, "expected an unsigned integer, found number `-1`"),
        ("uint", "-3", "expected an unsigned integer, found string `-3`"),
        ("uint", 0.5, "expected an unsigned integer, found number `0.5`"),
        ("double", "abc", "expected a number, found string `abc`"),
        ("double", "nan", "expected a number, found string `nan`"),
        ("double", False, "expected a number, found boolean `false`"),
        ("bool", "true", "expected a boolean, found string `true`"),
        ("bool", 1, "expected a boolean, found number `1`"),
        ("string", 42, "expected a string, found number `42`"),
        ("string", None, "expected a string, found null"),
        ("bytes", "not base64!", "invalid base64 string 'not base64!'"),
        ("bytes", "aGVsbG8", "invalid base64 string 'aGVsbG8'"),
        ("bytes", 12, "expected a base64 string, found number `12`"),
        ("duration", "1 hour", "unknown unit ' hour' in duration '1 hour'"),
        ("duration", "10", "missing unit in duration '10'"),
        ("duration", "", "invalid duration ''"),
        ("duration", 10, "expected a duration string, found number `10`"),
        ("timestamp", "2023-01-01", "could not parse RFC 3339 timestamp '2023-01-01'"),
        ("timestamp", "2023-01-01 00:00:00Z", "could not parse RFC 3339 timestamp"),
        ("timestamp", "2023-01-01T00:00:00", "could not parse RFC 3339 timestamp"),
        ("timestamp", "2023-02-30T00:00:00Z", "day is out of range for month"),
        ("timestamp", "2023-01-01T24:00:00Z", "hour must be in 0..23"),
        ("timestamp", 1672531200, "expected an RFC 3339 timestamp string, found number"),
        ("ipaddress", "10.0.0", "invalid IP address '10.0.0'"),
        ("ipaddress", "10.0.0.256", "invalid IP address '10.0.0.256'"),
        ("ipaddress", "010.0.0.1", "invalid IP address '010.0.0.1'"),
        ("ipaddress", "10.0.0.0/8", "invalid IP address '10.0.0.0/8'"),
        ("ipaddress", "", "invalid IP address ''"),
        ("ipaddress", 167772161, "expected an IP address string, found number"),
        ("list<int>", 1, "expected an array, found number `1`"),
        ("list<int>", [1, "x"], "invalid item at index 1: expected an integer, found string `x`"),
        ("map<int>", [1], "expected an object, found array"),
        ("map<int>", {"a": "x"}, "invalid value for key `a`: expected an integer, found string"),
        ("map<int>", {1: 1}, "object keys must be strings, found number `1`"),
        ("any", b"raw", "expected a JSON value, found bytes"),
        ("any", {"t": datetime(2023, 1, 1, tzinfo=UTC)}, "expected a JSON value, found datetime"),
        ("any", {1: "a"}, "object keys must be strings"),
    ],
)
def test_invalid_values(type_text: str, value: object, detail: str) -> None:
    with pytest.raises(ContextError) as raised:
        convert(type_text, value)
    message = str(raised.value)
    assert message.startswith(
        f"could not convert context parameter `p` of caveat `test_caveat` to {type_text}: "
    )
    assert detail in message


def test_unknown_keys_are_dropped() -> None:
    compiled = compile_text("a int", "a == 1")
    assert compiled.convert_context({"a": 1, "b": "anything", "c": object()}) == {"a": 1}
    assert compiled.convert_context({}) == {}


def test_conversion_does_not_modify_the_input() -> None:
    compiled = compile_text("m map<any>, l list<int>", "true")
    context: dict[str, object] = {"m": {"x": 1}, "l": [1.0]}
    converted = compiled.convert_context(context)
    assert context == {"m": {"x": 1}, "l": [1.0]}
    assert converted == {"m": {"x": 1.0}, "l": [1]}


def test_deeply_nested_values_are_a_context_error_not_a_recursion_error() -> None:
    # Found by tests/fuzz: 5,000 nested arrays in an `any` parameter overflowed the stack.
    nested: object = "leaf"
    for _ in range(5000):
        nested = [nested]
    with pytest.raises(ContextError, match="deeper than 100"):
        convert("any", nested)
    shallow: object = {"k": "leaf"}
    for _ in range(99):
        shallow = [shallow]
    assert convert("any", shallow) == shallow
    assert convert("list<any>", [shallow]) == [shallow]
