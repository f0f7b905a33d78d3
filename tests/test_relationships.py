"""SpiceDB's relationship syntax: parsing, printing and the errors for bad input."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clove import RelationshipSyntaxError, parse_relationship
from clove.relationships import format_relationship, parse_subject

_name = st.from_regex(r"[a-z][a-z0-9_]{1,8}[a-z0-9]", fullmatch=True)
_id = st.from_regex(r"[a-zA-Z0-9/_|\-=+]{1,12}", fullmatch=True)
_context = st.dictionaries(_name, st.one_of(st.integers(), st.text(max_size=5)), max_size=2)


@st.composite
def relationships(draw: st.DrawFn) -> str:
    text = f"{draw(_name)}:{draw(_id)}#{draw(_name)}@{draw(_name)}:"
    if draw(st.booleans()):
        text += "*"
    else:
        text += draw(_id)
        if draw(st.booleans()):
            text += f"#{draw(_name)}"
    if draw(st.booleans()):
        caveat = draw(_name)
        context = draw(_context)
        if context:
            text += f"[{caveat}:{json.dumps(context, sort_keys=True, separators=(',', ':'))}]"
        else:
            text += f"[{caveat}]"
    if draw(st.booleans()):
        text += "[expiration:2030-01-02T03:04:05Z]"
    return text


@given(relationships())
def test_format_then_parse_is_identity(text: str) -> None:
    rel = parse_relationship(text)
    assert format_relationship(rel) == text
    assert parse_relationship(format_relationship(rel)) == rel


def test_all_parts() -> None:
    rel = parse_relationship(
        'document:2#viewer@user:bob[only_ip:{"cidr":"10.0.0.0/8"}][expiration:2030-01-01T00:00:00Z]'
    )
    assert (rel.resource_type, rel.resource_id, rel.relation) == ("document", "2", "viewer")
    assert (rel.subject_type, rel.subject_id, rel.subject_relation) == ("user", "bob", "...")
    assert rel.caveat_name == "only_ip"
    assert rel.caveat_context == {"cidr": "10.0.0.0/8"}
    assert rel.expiration == datetime(2030, 1, 1, tzinfo=UTC)


def test_ellipsis_is_no_subject_relation() -> None:
    assert parse_relationship("doc:1#viewer@user:a#...") == parse_relationship(
        "doc:1#viewer@user:a"
    )
    assert parse_subject("user:a#...") == parse_subject("user:a")


def test_short_caveat_names_are_accepted() -> None:
    assert parse_relationship("doc:1#viewer@user:a[cv]").caveat_name == "cv"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("document:1#viewer", "missing '@'"),
        ("document:1@user:a", "missing '#relation'"),
        ("document#viewer@user:a", "must be written type:id"),
        ("Document:1#viewer@user:a", "invalid resource type"),
        ("document:1#viewer@user:a b", "unexpected text ' b'"),
        ("document:1#viewer@user:a%", "unexpected text '%'"),
        ("document:1#viewer@user:*#member", "wildcard subject cannot have a subject relation"),
        ("document:1#viewer@user:a[c1:{bad}]", "not valid JSON"),
        ("document:1#viewer@user:a[c1:[1]]", "must be a JSON object"),
        ("document:1#viewer@user:a[c1", "malformed caveat"),
        ("document:1#viewer@user:a[expiration:tomorrow]", "not an RFC 3339 time"),
        ("document:1#viewer@user:a junk", "unexpected text"),
    ],
)
def test_errors_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(RelationshipSyntaxError, match=message):
        parse_relationship(text)


def test_a_caveat_context_nested_too_deeply_is_a_syntax_error() -> None:
    text = 'doc:a#viewer@user:b[c:{"a":' + "[" * 5000 + "]" * 5000 + "}]"
    with pytest.raises(RelationshipSyntaxError, match="nested more than 100 levels deep"):
        parse_relationship(text)
    # Strings are skipped, and a hundred levels still parse.
    deep = '{"a":' * 99 + '"[[[[{{{{"' + "}" * 99
    assert parse_relationship(f"doc:a#viewer@user:b[c:{deep}]").caveat_context is not None
