"""The Go-compatible parsers behind context conversion, and ``in_cidr``."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clove.caveats._ipaddress import canonical_ip_address, in_cidr
from clove.caveats._parse import parse_duration, parse_duration_nanos, parse_timestamp

# --- durations: expected values are what Go's time.ParseDuration returns ------------------


@pytest.mark.parametrize(
    ("text", "nanos"),
    [
        ("0", 0),
        ("+0", 0),
        ("-0", 0),
        ("5s", 5_000_000_000),
        ("30s", 30_000_000_000),
        ("1478s", 1_478_000_000_000),
        ("-5s", -5_000_000_000),
        ("+5s", 5_000_000_000),
        ("-0s", 0),
        ("5.0s", 5_000_000_000),
        ("5.6s", 5_600_000_000),
        ("5.s", 5_000_000_000),
        (".5s", 500_000_000),
        ("1.0s", 1_000_000_000),
        ("1.004s", 1_004_000_000),
        ("100.00100s", 100_001_000_000),
        ("10ns", 10),
        ("11us", 11_000),
        ("12\u00b5s", 12_000),  # MICRO SIGN
        ("12\u03bcs", 12_000),  # GREEK SMALL LETTER MU
        ("13ms", 13_000_000),
        ("14s", 14_000_000_000),
        ("15m", 900_000_000_000),
        ("16h", 57_600_000_000_000),
        ("3h30m", 12_600_000_000_000),
        ("10.5s4m", 250_500_000_000),
        ("-2m3.4s", -123_400_000_000),
        ("1h2m3s4ms5us6ns", 3_723_004_005_006),
        ("39h9m14.425s", 140_954_425_000_000),
        ("52763797000ns", 52_763_797_000),
        ("0.3333333333333333333h", 1_200_000_000_000),
        ("9007199254.740993ms", 9_007_199_254_740_993),
        ("9223372036854775807ns", (1 << 63) - 1),
        ("9223372036854775.807us", (1 << 63) - 1),
        ("9223372036s854ms775us807ns", (1 << 63) - 1),
        ("-9223372036854775808ns", -(1 << 63)),
        ("-9223372036854775.808us", -(1 << 63)),
        ("-9223372036s854ms775us808ns", -(1 << 63)),
        ("-2562047h47m16.854775808s", -(1 << 63)),
        ("0.100000000000000000000h", 360_000_000_000),
        ("0.830103483285477580700h", 2_988_372_539_827),
    ],
)
def test_parse_duration_matches_go(text: str, nanos: int) -> None:
    assert parse_duration_nanos(text) == nanos


@pytest.mark.parametrize(
    "text",
    [
        "",
        "3",
        "-",
        "s",
        ".",
        "-.",
        ".s",
        "+.s",
        "1d",
        "\x85\x85",
        "\xffff",
        "hello \xffff world",
        "9223372036854775808ns",
        "9223372036854775.808us",
        "9223372036854ms775us808ns",
        "-9223372036854775809ns",
        "2562048h",
        "1 s",
        " 1s",
        "1s ",
    ],
)
def test_parse_duration_rejects_what_go_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration_nanos(text)


def test_parse_duration_truncates_below_a_microsecond() -> None:
    assert parse_duration("1500ns") == timedelta(microseconds=1)
    assert parse_duration("-1500ns") == timedelta(microseconds=-1)
    assert parse_duration("1.5h") == timedelta(minutes=90)


@given(
    hours=st.integers(0, 2_000_000),
    minutes=st.integers(0, 59),
    seconds=st.integers(0, 59),
    micros=st.integers(0, 999_999),
    negative=st.booleans(),
)
def test_parse_duration_round_trips_go_formatting(
    hours: int, minutes: int, seconds: int, micros: int, negative: bool
) -> None:
    text = f"{'-' if negative else ''}{hours}h{minutes}m{seconds}.{micros:06d}s"
    expected = timedelta(hours=hours, minutes=minutes, seconds=seconds, microseconds=micros)
    assert parse_duration(text) == (-expected if negative else expected)


# --- timestamps ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2023-01-01T00:00:00Z", datetime(2023, 1, 1, tzinfo=UTC)),
        ("2023-01-01T00:00:00+00:00", datetime(2023, 1, 1, tzinfo=UTC)),
        ("2023-01-01T00:00:00-00:00", datetime(2023, 1, 1, tzinfo=UTC)),
        ("2022-12-31T19:00:00-05:00", datetime(2023, 1, 1, tzinfo=UTC)),
        ("2023-01-01T00:00:00.5Z", datetime(2023, 1, 1, 0, 0, 0, 500_000, UTC)),
        ("2023-01-01T00:00:00,5Z", datetime(2023, 1, 1, 0, 0, 0, 500_000, UTC)),
        ("2023-01-01T00:00:00.000001999Z", datetime(2023, 1, 1, 0, 0, 0, 1, UTC)),
        ("2024-02-29T23:59:59Z", datetime(2024, 2, 29, 23, 59, 59, tzinfo=UTC)),
    ],
)
def test_parse_timestamp(text: str, expected: datetime) -> None:
    assert parse_timestamp(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "2023-01-01",
        "2023-01-01T00:00Z",
        "2023-01-01t00:00:00Z",
        "2023-01-01T00:00:00z",
        "2023-01-01T00:00:00",
        "2023-01-01T00:00:00+0100",
        "2023-01-01T00:00:00+24:00",
        "2023-01-01T00:00:00.Z",
        "2023-1-01T00:00:00Z",
        "2023-13-01T00:00:00Z",
        "2023-02-29T00:00:00Z",
        "2023-01-01T00:00:60Z",
        " 2023-01-01T00:00:00Z",
        "1672531200",
    ],
)
def test_parse_timestamp_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="RFC 3339"):
        parse_timestamp(text)


@given(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)))
def test_parse_timestamp_round_trips(moment: datetime) -> None:
    aware = moment.replace(tzinfo=UTC)
    assert parse_timestamp(aware.isoformat().replace("+00:00", "Z")) == aware


# --- IP addresses and in_cidr ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "cidr", "expected"),
    [
        ("10.2.3.4", "10.0.0.0/8", True),
        ("1.2.3.4", "10.0.0.0/8", False),
        ("10.1.3.4", "10.1.0.0/16", True),
        ("10.2.3.4", "10.1.0.0/16", False),
        # The prefix need not be masked.
        ("10.1.3.4", "10.1.2.3/16", True),
        ("10.1.3.4", "0.0.0.0/0", True),
        ("10.1.3.4", "10.1.3.4/32", True),
        ("10.1.3.5", "10.1.3.4/32", False),
        ("2001:db8::1", "2001:db8::/32", True),
        ("2001:db9::1", "2001:db8::/32", False),
        ("::1", "::/0", True),
        # Families never mix, IPv4-mapped addresses included (Go's netip.Prefix.Contains).
        ("10.1.3.4", "::/0", False),
        ("::ffff:10.1.3.4", "10.0.0.0/8", False),
        ("::ffff:10.1.3.4", "::ffff:10.0.0.0/104", True),
        ("2001:db8::1", "0.0.0.0/0", False),
        # An address with a zone matches no prefix.
        ("fe80::1%eth0", "fe80::/10", False),
        ("fe80::1", "fe80::/10", True),
    ],
)
def test_in_cidr(address: str, cidr: str, expected: bool) -> None:
    assert in_cidr(canonical_ip_address(address), cidr) is expected


@pytest.mark.parametrize(
    "cidr",
    [
        "",
        "10.0.0.0",
        "10.0.0.0/",
        "10.0.0.0/33",
        "::/129",
        "10.0.0.0/08",
        "10.0.0.0/+8",
        "10.0.0.0/-1",
        "10.0.0.0/ 8",
        "10.0.0.0/255.0.0.0",
        "10.0.0/8",
        "fe80::%eth0/64",
        "abc/8",
        "10.0.0.0/8/8",
    ],
)
def test_in_cidr_rejects_invalid_prefixes(cidr: str) -> None:
    with pytest.raises(ValueError, match="invalid CIDR string"):
        in_cidr("10.0.0.1", cidr)


@given(
    address=st.ip_addresses(v=4),
    network=st.ip_addresses(v=4),
    bits=st.integers(0, 32),
)
def test_in_cidr_agrees_with_python_for_ipv4(
    address: ipaddress.IPv4Address, network: ipaddress.IPv4Address, bits: int
) -> None:
    expected = address in ipaddress.ip_network(f"{network}/{bits}", strict=False)
    assert in_cidr(canonical_ip_address(str(address)), f"{network}/{bits}") is expected


@given(
    address=st.ip_addresses(v=6),
    network=st.ip_addresses(v=6),
    bits=st.integers(0, 128),
)
def test_in_cidr_agrees_with_python_for_ipv6(
    address: ipaddress.IPv6Address, network: ipaddress.IPv6Address, bits: int
) -> None:
    expected = address in ipaddress.ip_network(f"{network}/{bits}", strict=False)
    assert in_cidr(canonical_ip_address(str(address)), f"{network}/{bits}") is expected


@given(st.ip_addresses())
def test_canonical_addresses_are_stable(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address,
) -> None:
    canonical = canonical_ip_address(str(address))
    assert canonical_ip_address(canonical) == canonical
    assert ipaddress.ip_address(canonical) == address
