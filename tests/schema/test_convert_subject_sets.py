"""Subject sets reaching a wildcard: arrows in SpiceDB, subject sets again on the way back."""

from __future__ import annotations

import pytest

import clove
from clove.errors import SchemaError
from clove.relationships import ELLIPSIS, ObjectRef, Relationship, SubjectRef
from clove.schema.convert import Renames, convert, convert_relationships, convert_schema
from clove.schema.openfga import parse_openfga_dsl, parse_openfga_json

MODEL = """model
  schema 1.1

type user

type group
  relations
    define member: [user, user:*]

type folder
  relations
    define owner: [user]
    define viewer: [user, group#member, user:*] but not blocked
    define blocked: [user]
    define editor: [group#member]
"""

SPICEDB = """definition user {}

definition group {
\trelation member: user | user:*
}

definition folder {
\trelation owner: user
\trelation viewer_direct: user | user:*
\trelation blocked: user
\t/** clove:subject-set {"of": "viewer", "at": 1, "slot": 1} */
\trelation viewer_via_group_member: group
\t/** clove:subject-set {"of": "editor", "at": 0, "slot": 3} */
\trelation editor_via_group_member: group
\tpermission viewer = viewer_direct + viewer_via_group_member->member - blocked
\tpermission editor = editor_via_group_member->member
}
"""


def _tuple(resource: str, relation: str, subject: str) -> Relationship:
    resource_type, _, resource_id = resource.partition(":")
    subject_object, _, subject_relation = subject.partition("#")
    subject_type, _, subject_id = subject_object.partition(":")
    return Relationship(
        resource_type=resource_type,
        resource_id=resource_id,
        relation=relation,
        subject_type=subject_type,
        subject_id=subject_id,
        subject_relation=subject_relation or ELLIPSIS,
    )


DATA = [
    _tuple("group:everyone", "member", "user:*"),
    _tuple("group:eng", "member", "user:ann"),
    _tuple("folder:a", "viewer", "group:everyone#member"),
    _tuple("folder:a", "blocked", "user:bob"),
    _tuple("folder:a", "editor", "group:eng#member"),
    _tuple("folder:b", "viewer", "user:cat"),
]


def test_subject_sets_reaching_a_wildcard_become_arrows() -> None:
    there = convert_schema(MODEL, to="spicedb")
    assert there.text == SPICEDB
    assert there.renames == Renames(
        relations={("folder", "viewer"): "viewer_direct"},
        subject_sets={
            ("folder", "viewer", "group", "member"): ("viewer_via_group_member", ELLIPSIS),
            ("folder", "editor", "group", "member"): ("editor_via_group_member", ELLIPSIS),
        },
    )


def test_the_arrows_fold_back_into_subject_sets() -> None:
    back = convert_schema(SPICEDB, to="openfga")
    assert parse_openfga_dsl(back.text) == parse_openfga_dsl(MODEL)
    assert back.renames.subject_sets == {
        ("folder", "viewer_via_group_member", "group", ELLIPSIS): ("viewer", "member"),
        ("folder", "editor_via_group_member", "group", ELLIPSIS): ("editor", "member"),
    }
    assert parse_openfga_json(convert(SPICEDB, to="openfga-json")) == parse_openfga_dsl(MODEL)


def test_relationships_move_to_the_arrow_and_back() -> None:
    there = convert_schema(MODEL, to="spicedb")
    moved = convert_relationships(DATA, there.renames)
    assert [str(rel) for rel in moved] == [
        "group:everyone#member@user:*",
        "group:eng#member@user:ann",
        "folder:a#viewer_via_group_member@group:everyone",
        "folder:a#blocked@user:bob",
        "folder:a#editor_via_group_member@group:eng",
        "folder:b#viewer_direct@user:cat",
    ]
    back = convert_schema(there.text, to="openfga")
    assert convert_relationships(moved, back.renames) == DATA


@pytest.mark.parametrize(
    ("resource", "permission", "subject", "answer"),
    [
        ("folder:a", "viewer", "user:ann", "has"),
        ("folder:a", "viewer", "user:bob", "no"),
        ("folder:a", "viewer", "user:zed", "has"),
        ("folder:b", "viewer", "user:ann", "no"),
        ("folder:b", "viewer", "user:cat", "has"),
        ("folder:a", "editor", "user:ann", "has"),
        ("folder:a", "editor", "user:zed", "no"),
    ],
)
def test_converted_data_answers_the_same_checks(
    resource: str, permission: str, subject: str, answer: str
) -> None:
    there = convert_schema(MODEL, to="spicedb")
    resource_type, _, resource_id = resource.partition(":")
    subject_type, _, subject_id = subject.partition(":")
    obj = ObjectRef(type=resource_type, id=resource_id)
    who = SubjectRef(type=subject_type, id=subject_id)
    with clove.open("memory") as original, clove.open("memory") as converted:
        original.write_schema(MODEL)
        original.write_relationships(DATA)
        converted.write_schema(there.text)
        converted.write_relationships(convert_relationships(DATA, there.renames))
        before = original.check(obj, permission, who).permissionship
        after = converted.check(obj, permission, who).permissionship
    assert (str(before), str(after)) == (answer, answer)


@pytest.mark.parametrize(
    ("annotation", "message"),
    [
        (
            '{"of": "viewer"}',
            "`clove:subject-set` on `via` must be one JSON object with `of`, `at` and `slot`, on a"
            ' relation to one type, not `{"of": "viewer"}`',
        ),
        (
            '{"of": "owner", "at": 0, "slot": 0}',
            "`clove:subject-set` on `via` names `owner`, which has no arrow over it",
        ),
    ],
)
def test_annotations_that_cannot_be_honoured_are_schema_errors(
    annotation: str, message: str
) -> None:
    text = (
        "definition group {\n\trelation member: group\n}\n"
        "definition folder {\n"
        "\trelation owner: group\n"
        f"\t/** clove:subject-set {annotation} */\n"
        "\trelation via: group\n"
        "\tpermission viewer = via->member\n"
        "}\n"
    )
    with pytest.raises(SchemaError) as raised:
        convert(text, to="openfga")
    assert raised.value.message == message
    assert (raised.value.line, raised.value.column) == (7, 11)


def test_a_second_annotation_without_its_arrow_is_a_schema_error() -> None:
    text = (
        "definition group {\n\trelation member: group\n}\n"
        "definition folder {\n"
        '\t/** clove:subject-set {"of": "viewer", "at": 0, "slot": 0} */\n'
        "\trelation one: group\n"
        '\t/** clove:subject-set {"of": "viewer", "at": 1, "slot": 0} */\n'
        "\trelation two: group\n"
        "\tpermission viewer = one->member\n"
        "}\n"
    )
    with pytest.raises(SchemaError) as raised:
        convert(text, to="openfga")
    assert raised.value.message == (
        "`clove:subject-set` on `two` names `viewer`, which has no arrow over it"
    )
    assert (raised.value.line, raised.value.column) == (8, 11)
