"""Text parsers that accept exactly what SpiceDB's Go converters accept.

SpiceDB turns caveat context strings into typed values with Go's standard library
(``time.ParseDuration``, ``time.Parse(time.RFC3339, ...)``, ``big.ParseFloat``,
``base64.StdEncoding``); these functions mirror those grammars so that a context SpiceDB
rejects is rejected here too. Each raises ``ValueError`` with a message fit for a user.
"""

from __future__ import annotations

import base64
import binascii
import re
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

INT64_MIN = -(1 << 63)
INT64_MAX = (1 << 63) - 1

# --- durations (Go's time.ParseDuration) ------------------------------------------------

_NANOS_PER_UNIT = {
    "ns": 1,
    "us": 1_000,
    "\u00b5s": 1_000,  # MICRO SIGN
    "\u03bcs": 1_000,  # GREEK SMALL LETTER MU
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60 * 1_000_000_000,
    "h": 3600 * 1_000_000_000,
}
_DIGITS = frozenset("0123456789")
_DURATION_LIMIT = 1 << 63


def parse_duration(text: str) -> timedelta:
    """Parse a Go duration string such as ``"1h30m"``, ``"1.5h"``, ``"-10s"`` or ``"0"``.

    Go counts in nanoseconds; ``timedelta`` keeps microseconds, so digits below a microsecond
    are truncated toward zero.
    """
    nanos = parse_duration_nanos(text)
    micros = abs(nanos) // 1_000
    return timedelta(microseconds=-micros if nanos < 0 else micros)


def parse_duration_nanos(text: str) -> int:
    """Parse a Go duration string to a whole number of nanoseconds (Go's exact algorithm)."""
    invalid = ValueError(f"invalid duration {text!r}")
    rest = text
    negative = False
    if rest[:1] in ("-", "+"):
        negative = rest[0] == "-"
        rest = rest[1:]
    if rest == "0":
        return 0
    if not rest:
        raise invalid

    total = 0
    while rest:
        if rest[0] != "." and rest[0] not in _DIGITS:
            raise invalid
        end = _digits_end(rest, 0)
        whole = int(rest[:end]) if end else 0
        if whole > _DURATION_LIMIT:
            raise invalid
        has_whole = end > 0
        rest = rest[end:]

        fraction, scale, has_fraction = 0, 1.0, False
        if rest[:1] == ".":
            end = _digits_end(rest, 1)
            fraction, scale = _leading_fraction(rest[1:end])
            has_fraction = end > 1
            rest = rest[end:]
        if not has_whole and not has_fraction:
            raise invalid

        end = 0
        while end < len(rest) and rest[end] != "." and rest[end] not in _DIGITS:
            end += 1
        if end == 0:
            raise ValueError(f"missing unit in duration {text!r}")
        unit_name, rest = rest[:end], rest[end:]
        unit = _NANOS_PER_UNIT.get(unit_name)
        if unit is None:
            raise ValueError(f"unknown unit {unit_name!r} in duration {text!r}")

        if whole > _DURATION_LIMIT // unit:
            raise invalid
        value = whole * unit
        if fraction:
            # Go scales the fraction in float64; do the same so rounding agrees.
            value += int(float(fraction) * (float(unit) / scale))
            if value > _DURATION_LIMIT:
                raise invalid
        total += value
        if total > _DURATION_LIMIT:
            raise invalid

    if negative:
        return -total
    if total > _DURATION_LIMIT - 1:
        raise invalid
    return total


def _digits_end(text: str, start: int) -> int:
    end = start
    while end < len(text) and text[end] in _DIGITS:
        end += 1
    return end


def _leading_fraction(digits: str) -> tuple[int, float]:
    """Go's ``leadingFraction``: digits past the int64 range are dropped, not an error."""
    value, scale = 0, 1.0
    for char in digits:
        if value > INT64_MAX // 10:
            break
        candidate = value * 10 + ord(char) - ord("0")
        if candidate > _DURATION_LIMIT:
            break
        value = candidate
        scale *= 10
    return value, scale


# --- timestamps (Go's time.Parse with time.RFC3339) -------------------------------------

_RFC3339 = re.compile(
    r"(?P<year>[0-9]{4})-(?P<month>[0-9]{2})-(?P<day>[0-9]{2})"
    r"T(?P<hour>[0-9]{2}):(?P<minute>[0-9]{2}):(?P<second>[0-9]{2})"
    r"(?:[.,](?P<fraction>[0-9]+))?"
    r"(?:Z|(?P<sign>[+-])(?P<zone_hour>[0-9]{2}):(?P<zone_minute>[0-9]{2}))"
)


def parse_timestamp(text: str) -> datetime:
    """Parse an RFC 3339 timestamp (``2023-01-01T00:00:00Z``, ``...T10:00:00.5+02:00``).

    Returns an aware datetime in UTC. Go keeps nanoseconds; digits below a microsecond are
    truncated.
    """
    match = _RFC3339.fullmatch(text)
    if match is None:
        raise ValueError(f"could not parse RFC 3339 timestamp {text!r}")
    fields = match.groupdict()
    micros = int((fields["fraction"] or "").ljust(6, "0")[:6])
    zone = UTC
    if fields["sign"] is not None:
        zone_hour, zone_minute = int(fields["zone_hour"]), int(fields["zone_minute"])
        if zone_hour > 23 or zone_minute > 59:
            raise ValueError(f"could not parse RFC 3339 timestamp {text!r}: bad time zone")
        offset = timedelta(hours=zone_hour, minutes=zone_minute)
        zone = timezone(-offset if fields["sign"] == "-" else offset)
    try:
        parsed = datetime(
            int(fields["year"]),
            int(fields["month"]),
            int(fields["day"]),
            int(fields["hour"]),
            int(fields["minute"]),
            int(fields["second"]),
            micros,
            tzinfo=zone,
        )
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError) as error:
        raise ValueError(f"could not parse RFC 3339 timestamp {text!r}: {error}") from None


# --- numbers in strings (Go's big.ParseFloat, base 10) ----------------------------------

_DECIMAL_NUMBER = re.compile(
    r"[+-]?(?:(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|[Ii]nf)"
)


def parse_decimal(text: str) -> Decimal:
    """Parse a decimal number string as Go's ``big.ParseFloat(s, 10, ...)`` accepts it."""
    if _DECIMAL_NUMBER.fullmatch(text) is None:
        raise ValueError(f"invalid number string {text!r}")
    return Decimal(text)


# --- bytes (Go's base64.StdEncoding) ----------------------------------------------------


def parse_base64(text: str) -> bytes:
    """Decode padded standard base64; like Go, carriage returns and newlines are ignored."""
    try:
        return base64.b64decode(text.replace("\r", "").replace("\n", ""), validate=True)
    except (binascii.Error, ValueError) as error:
        raise ValueError(f"invalid base64 string {text!r}: {error}") from None
