"""The ``ipaddress`` caveat type: parsing and ``in_cidr``, with Go ``net/netip`` semantics.

At run time an address travels through CEL as its canonical string (equal addresses give
equal strings, as ``netip.Addr`` equality requires); type checking sees an opaque
``IPAddress`` type instead, so expressions cannot mix addresses and strings.
"""

from __future__ import annotations

import functools
import ipaddress

_Address = ipaddress.IPv4Address | ipaddress.IPv6Address
_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def canonical_ip_address(text: str) -> str:
    """Validate an IPv4 or IPv6 address (an IPv6 zone is allowed) and return its canonical
    string. Raises ``ValueError`` for anything ``netip.ParseAddr`` rejects."""
    address = _parse_address(text)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        # Go prints IPv4-mapped addresses in dotted form: ::ffff:1.2.3.4
        zone = f"%{address.scope_id}" if address.scope_id else ""
        return f"::ffff:{address.ipv4_mapped}{zone}"
    return str(address)


@functools.lru_cache(maxsize=4096)
def in_cidr(address: str, cidr: str) -> bool:
    """Whether ``address`` (a canonical address string) lies in the prefix ``cidr``.

    As in Go: an IPv4 address never matches an IPv6 prefix (IPv4-mapped ones included) and
    an address with a zone matches nothing. Raises ``ValueError`` for an invalid CIDR.
    """
    network = _parse_prefix(cidr)
    parsed = _parse_address(address)
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.scope_id is not None:
        return False
    return parsed in network


@functools.lru_cache(maxsize=4096)
def _parse_address(text: str) -> _Address:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        raise ValueError(f"invalid IP address {text!r}") from None


@functools.lru_cache(maxsize=1024)
def _parse_prefix(cidr: str) -> _Network:
    """``netip.ParsePrefix``: ``address/bits``, decimal bits without a sign or leading zero,
    no zone. Unlike Python's ``ip_network`` it takes no netmask form and no bare address."""
    invalid = ValueError(f"invalid CIDR string: `{cidr}`")
    address_text, slash, bits_text = cidr.rpartition("/")
    if not slash or not bits_text.isascii() or not bits_text.isdigit():
        raise invalid
    if len(bits_text) > 1 and bits_text[0] == "0":
        raise invalid
    try:
        address = ipaddress.ip_address(address_text)
    except ValueError:
        raise invalid from None
    if isinstance(address, ipaddress.IPv6Address) and address.scope_id is not None:
        raise invalid
    bits = int(bits_text)
    if bits > address.max_prefixlen:
        raise invalid
    return ipaddress.ip_network((address, bits), strict=False)
