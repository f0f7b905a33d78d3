"""Caveat parameter types: their CEL types and how context values convert to them.

Each ``CaveatType`` resolves to a ``ParameterType`` holding two CEL types (one for type
checking, one for evaluation; they differ only for ``ipaddress``) and a converter from the
JSON-ish value a request or relationship carries to the Python value CEL evaluates.

Conversion follows SpiceDB, where context arrives as a protobuf ``Struct`` and so every
number is a float64:

* ``int`` / ``uint`` take integral numbers (``42`` or ``42.0``) and decimal strings
  (``"42"``, ``"4.2e1"``); out-of-range values saturate to the int64 range, as Go's
  ``big.Float.Int64`` does; ``uint`` rejects negatives. ``uint`` is an ``int`` to CEL, as in
  SpiceDB, so ``count < 10`` type-checks and ``count < 10u`` does not.
* ``double`` takes any number or decimal string; ``bool`` and ``string`` take only their
  JSON kind; ``bytes`` takes standard padded base64.
* ``duration`` takes Go duration strings (``"1h30m"``), ``timestamp`` RFC 3339 strings;
  ``ipaddress`` takes an IPv4 or IPv6 address string.
* ``list<T>`` and ``map<T>`` (string keys) convert their elements.
* ``any`` takes any JSON value; its numbers become floats, as they are in SpiceDB.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from cel_expr_python import cel

from clove.caveats._ipaddress import canonical_ip_address
from clove.caveats._parse import (
    INT64_MAX,
    INT64_MIN,
    parse_base64,
    parse_decimal,
    parse_duration,
    parse_timestamp,
)
from clove.schema.ir import CaveatType

Converter = Callable[[object], object]

# Integers above 2**53 lose precision in a float64; SpiceDB sees them only as floats.
_FLOAT64_EXACT = 1 << 53

# The opaque type the checker sees for ``ipaddress`` parameters.
IP_ADDRESS_CEL_TYPE = cel.Type.AbstractType("IPAddress")


class ConversionError(ValueError):
    """A context value that does not fit its parameter type (the message says why)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ParameterType:
    """A resolved caveat parameter type."""

    check_type: cel.Type
    runtime_type: cel.Type
    convert: Converter
    uses_ip_address: bool


def describe(value: object) -> str:
    """Name a value's JSON kind and show it, for error messages."""
    match value:
        case None:
            return "null"
        case bool():
            return f"boolean `{str(value).lower()}`"
        case int() | float():
            return f"number `{value}`"
        case str():
            shown = value if len(value) <= 80 else value[:77] + "..."
            return f"string `{shown}`"
        case list() | tuple():
            return "array"
        case Mapping():
            return "object"
        case _:
            return f"{type(value).__name__} `{value!r}`"


@functools.lru_cache(maxsize=256)
def resolve_type(caveat_type: CaveatType) -> ParameterType:
    """Resolve a declared parameter type. Raises ``ValueError`` for an unknown type name or a
    wrong number of type arguments."""
    name, args = caveat_type.name, caveat_type.args
    if name in ("list", "map"):
        if len(args) != 1:
            raise ValueError(f"type `{name}` requires 1 generic type; found {len(args)}")
        element = resolve_type(args[0])
        if name == "list":
            return ParameterType(
                check_type=cel.Type.List(element.check_type),
                runtime_type=cel.Type.List(element.runtime_type),
                convert=_list_converter(element.convert),
                uses_ip_address=element.uses_ip_address,
            )
        return ParameterType(
            check_type=cel.Type.Map(cel.Type.STRING, element.check_type),
            runtime_type=cel.Type.Map(cel.Type.STRING, element.runtime_type),
            convert=_map_converter(element.convert),
            uses_ip_address=element.uses_ip_address,
        )
    basic = _BASIC_TYPES.get(name)
    if basic is None:
        raise ValueError(f"unknown caveat parameter type `{name}`")
    if args:
        raise ValueError(f"type `{name}` takes no generic types; found {len(args)}")
    return basic


# --- converters --------------------------------------------------------------------------


def _convert_bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    raise ConversionError(f"expected a boolean, found {describe(value)}")


def _convert_string(value: object) -> str:
    if isinstance(value, str):
        return value
    raise ConversionError(f"expected a string, found {describe(value)}")


def _number(value: object, expected: str) -> Decimal | float:
    """A JSON number or decimal string, as the float64 or big.Float SpiceDB would hold."""
    if isinstance(value, bool):
        raise ConversionError(f"expected {expected}, found {describe(value)}")
    if isinstance(value, int):
        try:
            return float(value)
        except OverflowError:
            raise ConversionError(f"{describe(value)} is out of range") from None
    if isinstance(value, float):
        if math.isnan(value):
            raise ConversionError(f"expected {expected}, found {describe(value)}")
        return value
    if isinstance(value, str):
        try:
            return parse_decimal(value)
        except ValueError:
            raise ConversionError(f"expected {expected}, found {describe(value)}") from None
    raise ConversionError(f"expected {expected}, found {describe(value)}")


def _integral(value: object, expected: str) -> int:
    number = _number(value, expected)
    if isinstance(number, float):
        if not number.is_integer():  # also rejects infinities
            raise ConversionError(f"expected {expected}, found {describe(value)}")
    elif not number.is_finite() or number != number.to_integral_value():
        raise ConversionError(f"expected {expected}, found {describe(value)}")
    # Saturate before int() so a huge exponent never builds a huge integer.
    if number >= INT64_MAX:
        return INT64_MAX
    if number <= INT64_MIN:
        return INT64_MIN
    return int(number)


def _convert_int(value: object) -> int:
    if type(value) is int and -_FLOAT64_EXACT <= value <= _FLOAT64_EXACT:
        return value
    return _integral(value, "an integer")


def _convert_uint(value: object) -> int:
    if type(value) is int and 0 <= value <= _FLOAT64_EXACT:
        return value
    integer = _integral(value, "an unsigned integer")
    if integer < 0:
        raise ConversionError(f"expected an unsigned integer, found {describe(value)}")
    return integer


def _convert_double(value: object) -> float:
    if type(value) is float and not math.isnan(value):
        return value
    return float(_number(value, "a number"))


def _convert_bytes(value: object) -> bytes:
    if not isinstance(value, str):
        raise ConversionError(f"expected a base64 string, found {describe(value)}")
    try:
        return parse_base64(value)
    except ValueError as error:
        raise ConversionError(str(error)) from None


def _string_parser(parse: Callable[[str], object], expected: str) -> Converter:
    def convert(value: object) -> object:
        if not isinstance(value, str):
            raise ConversionError(f"expected {expected}, found {describe(value)}")
        try:
            return parse(value)
        except ValueError as error:
            raise ConversionError(str(error)) from None

    return convert


# protobuf refuses to nest messages deeper than 100, so a ``Struct`` in a SpiceDB request can
# hold no deeper value.
MAX_NESTING = 100


def _convert_any(value: object, depth: int = 0) -> object:
    """Any JSON value; numbers become floats as a protobuf ``Struct`` makes them."""
    if depth > MAX_NESTING and isinstance(value, list | tuple | Mapping):
        raise ConversionError(f"the value nests arrays and objects deeper than {MAX_NESTING}")
    match value:
        case None | bool() | str():
            return value
        case int():
            try:
                return float(value)
            except OverflowError:
                raise ConversionError(f"{describe(value)} is out of range") from None
        case float():
            return value
        case list() | tuple():
            return [_convert_any(item, depth + 1) for item in value]
        case Mapping():
            converted: dict[str, object] = {}
            for key, item in value.items():
                if not isinstance(key, str):
                    raise ConversionError(f"object keys must be strings, found {describe(key)}")
                converted[key] = _convert_any(item, depth + 1)
            return converted
        case _:
            raise ConversionError(f"expected a JSON value, found {describe(value)}")


def _list_converter(convert_element: Converter) -> Converter:
    def convert(value: object) -> object:
        if not isinstance(value, list | tuple):
            raise ConversionError(f"expected an array, found {describe(value)}")
        converted = []
        for index, item in enumerate(value):
            try:
                converted.append(convert_element(item))
            except ConversionError as error:
                raise ConversionError(f"invalid item at index {index}: {error}") from None
        return converted

    return convert


def _map_converter(convert_element: Converter) -> Converter:
    def convert(value: object) -> object:
        if not isinstance(value, Mapping):
            raise ConversionError(f"expected an object, found {describe(value)}")
        converted: dict[str, object] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise ConversionError(f"object keys must be strings, found {describe(key)}")
            try:
                converted[key] = convert_element(item)
            except ConversionError as error:
                raise ConversionError(f"invalid value for key `{key}`: {error}") from None
        return converted

    return convert


def _basic(cel_type: cel.Type, convert: Converter) -> ParameterType:
    return ParameterType(
        check_type=cel_type, runtime_type=cel_type, convert=convert, uses_ip_address=False
    )


_BASIC_TYPES: dict[str, ParameterType] = {
    "any": _basic(cel.Type.DYN, _convert_any),
    "bool": _basic(cel.Type.BOOL, _convert_bool),
    "string": _basic(cel.Type.STRING, _convert_string),
    "int": _basic(cel.Type.INT, _convert_int),
    "uint": _basic(cel.Type.INT, _convert_uint),
    "double": _basic(cel.Type.DOUBLE, _convert_double),
    "bytes": _basic(cel.Type.BYTES, _convert_bytes),
    "duration": _basic(cel.Type.DURATION, _string_parser(parse_duration, "a duration string")),
    "timestamp": _basic(
        cel.Type.TIMESTAMP, _string_parser(parse_timestamp, "an RFC 3339 timestamp string")
    ),
    "ipaddress": ParameterType(
        check_type=IP_ADDRESS_CEL_TYPE,
        runtime_type=cel.Type.STRING,
        convert=_string_parser(canonical_ip_address, "an IP address string"),
        uses_ip_address=True,
    ),
}
