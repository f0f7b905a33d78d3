"""Names SpiceDB cannot spell: respelled when converting to SpiceDB, restored on the way back."""

from __future__ import annotations

import pytest

import clove
from clove.errors import SchemaError
from clove.relationships import ObjectRef, Relationship, SubjectRef
from clove.schema.convert import (
    Renames,
    convert,
    convert_relationships,
    convert_schema,
    print_spicedb,
    restore_names,
    spell_names,
)
from clove.schema.ir import (
    ELLIPSIS,
    AllowedSubject,
    Caveat,
    CaveatParameter,
    CaveatType,
    Definition,
    Permission,
    Relation,
    RelationRef,
    Schema,
)
from clove.schema.openfga import parse_openfga_dsl
from clove.schema.spicedb import check_schema, parse_schema

MODEL = """model
  schema 1.1

type user

type permission
  relations
    define a1: [user]
    define viewer: [user, user with in-office] or a1

type scopeA
  relations
    define parent: [permission]
    define can_view: viewer from parent

type scope_a
  relations
    define a1_rel: [user]
    define a1: [user, scopeA#can_view]

condition in-office(ip: ipaddress) {
  ip.in_cidr("10.0.0.0/8")
}
"""

SPICEDB = """definition user {}

/** clove:name "permission" */
definition permission_type {
\t/** clove:name "a1" */
\trelation a1_rel_2: user
\trelation viewer_direct: user | user with in_office
\tpermission viewer = viewer_direct + a1_rel_2
}

/** clove:name "scopeA" */
definition scope_a_2 {
\trelation parent: permission_type
\tpermission can_view = parent->viewer
}

definition scope_a {
\trelation a1_rel: user
\t/** clove:name "a1" */
\trelation a1_rel_2: user | scope_a_2#can_view
}

/** clove:name "in-office" */
caveat in_office(ip ipaddress) {
\tip.in_cidr("10.0.0.0/8")
}
"""


def _tuple(resource: str, relation: str, subject: str, caveat: str | None = None) -> Relationship:
    """A relationship as OpenFGA may name it (``a1`` is no SpiceDB relation name)."""
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
        caveat_name=caveat,
    )


DATA = [
    _tuple("permission:doc", "a1", "user:ann"),
    _tuple("permission:doc", "viewer", "user:bob", "in-office"),
    _tuple("scopeA:top", "parent", "permission:doc"),
    _tuple("scope_a:team", "a1", "scopeA:top#can_view"),
    _tuple("scope_a:team", "a1_rel", "user:cat"),
]


def test_unspellable_names_are_respelled_and_recorded() -> None:
    conversion = convert_schema(MODEL, to="spicedb")
    assert conversion.text == SPICEDB
    assert conversion.renames == Renames(
        relations={
            ("permission", "a1"): "a1_rel_2",
            ("permission", "viewer"): "viewer_direct",
            ("scope_a", "a1"): "a1_rel_2",
        },
        members={("permission", "a1"): "a1_rel_2", ("scope_a", "a1"): "a1_rel_2"},
        types={"permission": "permission_type", "scopeA": "scope_a_2"},
        caveats={"in-office": "in_office"},
    )


def test_converting_back_restores_every_name() -> None:
    back = convert_schema(SPICEDB, to="openfga")
    assert parse_openfga_dsl(back.text) == parse_openfga_dsl(MODEL)
    assert back.renames == Renames(
        relations={
            ("permission_type", "a1_rel_2"): "a1",
            ("permission_type", "viewer_direct"): "viewer",
            ("scope_a", "a1_rel_2"): "a1",
        },
        members={("permission_type", "a1_rel_2"): "a1", ("scope_a", "a1_rel_2"): "a1"},
        types={"permission_type": "permission", "scope_a_2": "scopeA"},
        caveats={"in_office": "in-office"},
    )
    # Zanzibar and OpenFGA JSON read the annotations the same way.
    assert parse_openfga_dsl(convert(convert(SPICEDB, to="openfga-json"), to="openfga")) == (
        parse_openfga_dsl(MODEL)
    )


def test_spicedb_to_spicedb_keeps_the_annotations() -> None:
    again = convert_schema(SPICEDB, to="spicedb")
    assert (again.text, again.renames) == (SPICEDB, Renames())


def test_relationships_move_with_types_members_and_caveats() -> None:
    there = convert_schema(MODEL, to="spicedb")
    moved = convert_relationships(DATA, there.renames)
    assert [str(rel) for rel in moved] == [
        "permission_type:doc#a1_rel_2@user:ann",
        "permission_type:doc#viewer_direct@user:bob[in_office]",
        "scope_a_2:top#parent@permission_type:doc",
        "scope_a:team#a1_rel_2@scope_a_2:top#can_view",
        "scope_a:team#a1_rel@user:cat",
    ]
    back = convert_schema(there.text, to="openfga")
    assert convert_relationships(moved, back.renames) == DATA


def test_converted_data_answers_the_same_checks() -> None:
    there = convert_schema(MODEL, to="spicedb")
    renames = there.renames
    checks = [
        ("permission:doc", "viewer", "user:ann", None),
        ("permission:doc", "viewer", "user:bob", {"ip": "10.1.2.3"}),
        ("permission:doc", "viewer", "user:bob", {"ip": "192.168.0.1"}),
        ("scopeA:top", "can_view", "user:ann", None),
        ("scope_a:team", "a1", "user:ann", None),
        ("scope_a:team", "a1", "user:cat", None),
        ("scope_a:team", "a1_rel", "user:cat", None),
    ]
    answers = []
    with clove.open("memory") as original, clove.open("memory") as converted:
        original.write_schema(MODEL)
        original.write_relationships(DATA)
        converted.write_schema(there.text)
        converted.write_relationships(convert_relationships(DATA, renames))
        for resource, permission, subject, context in checks:
            resource_type, _, resource_id = resource.partition(":")
            subject_type, _, subject_id = subject.partition(":")
            expected = original.check(
                ObjectRef(type=resource_type, id=resource_id),
                permission,
                SubjectRef(type=subject_type, id=subject_id),
                context=context,
            )
            actual = converted.check(
                ObjectRef(type=renames.type_name(resource_type), id=resource_id),
                renames.member_name(resource_type, permission),
                SubjectRef(type=renames.type_name(subject_type), id=subject_id),
                context=context,
            )
            assert actual.permissionship == expected.permissionship, (resource, permission)
            answers.append(str(actual.permissionship))
    assert answers == ["has", "has", "no", "has", "has", "no", "has"]


@pytest.mark.parametrize(
    ("name", "spelling"),
    [
        ("a1", "a1_rel"),
        ("Viewer", "viewer"),
        ("canView", "can_view"),
        ("can-view", "can_view"),
        ("x", "x_rel"),
        ("nil", "nil_rel"),
        ("relation", "relation_rel"),
        ("1st", "rel_1st"),
        ("_hidden_", "hidden"),
        ("with", "with_rel"),
        ("r" * 70, "r" * 64),
        ("é", "rel"),
    ],
)
def test_member_spellings(name: str, spelling: str) -> None:
    schema = Schema(
        definitions=(Definition(name="doc", relations=(Relation(name=name, allowed=()),)),)
    )
    spelled, changes = spell_names(schema)
    assert changes.members == {name: spelling}
    assert spelled.definitions[0].relations[0].name == spelling


@pytest.mark.parametrize(
    ("name", "spelling"),
    [
        ("permission", "permission_type"),
        ("scopeA", "scope_a"),
        ("ab", "ab_type"),
        ("org/Team", "org_team"),
        ("caveat", "caveat_type"),
        ("http://x.io/User", "http_x_io_user"),
    ],
)
def test_type_spellings(name: str, spelling: str) -> None:
    schema = Schema(definitions=(Definition(name=name),))
    assert spell_names(schema)[1].types == {name: spelling}


def test_expiration_keywords_are_respelled_only_under_use_expiration() -> None:
    members = (Relation(name="and", allowed=()), Relation(name="expiration", allowed=()))
    schema = Schema(definitions=(Definition(name="doc", relations=members),))
    assert spell_names(schema)[1].members == {}
    with_expiration = Schema(definitions=schema.definitions, use_expiration=True)
    assert spell_names(with_expiration)[1].members == {
        "and": "and_rel",
        "expiration": "expiration_rel",
    }


def test_spellings_avoid_every_name_in_use() -> None:
    # `a1_rel` is taken in another definition: a member keeps one spelling schema-wide.
    users = (AllowedSubject(type="doc"),)
    schema = Schema(
        definitions=(
            Definition(name="doc", relations=(Relation(name="a1", allowed=users),)),
            Definition(
                name="folder",
                relations=(
                    Relation(name="a1_rel", allowed=users),
                    Relation(name="a1_rel_2", allowed=users),
                    Relation(name="A1", allowed=users),
                ),
            ),
            Definition(name="Folder"),
        )
    )
    spelled, changes = spell_names(schema)
    assert changes.members == {"a1": "a1_rel_3", "A1": "a1_rel_4"}
    assert changes.types == {"Folder": "folder_2"}
    check_schema(spelled)


def test_long_spellings_are_cut_to_make_room_for_their_number() -> None:
    long = "r" * 70
    schema = Schema(
        definitions=(
            Definition(
                name="doc",
                relations=(Relation(name="r" * 64, allowed=()), Relation(name=long, allowed=())),
            ),
        )
    )
    assert spell_names(schema)[1].members == {long: "r" * 62 + "_2"}


def test_caveat_names_keep_their_case() -> None:
    parameter = CaveatParameter(name="n", type=CaveatType(name="int"))
    caveats = tuple(
        Caveat(name=name, parameters=(parameter,), expression="n > 1")
        for name in ("IsAdult", "is-adult", "nil")
    )
    assert spell_names(Schema(caveats=caveats))[1].caveats == {
        "is-adult": "is_adult",
        "nil": "nil_cond",
    }


def test_docs_are_kept_beside_the_annotation() -> None:
    schema = Schema(
        definitions=(
            Definition(
                name="Doc",
                doc="Documents.\nOne per file.",
                permissions=(
                    Permission(name="v", expression=RelationRef(name="reader"), doc="Who reads."),
                ),
                relations=(Relation(name="reader", allowed=(AllowedSubject(type="Doc"),)),),
            ),
        )
    )
    text = print_spicedb(schema)
    assert text == (
        "/**\n"
        " * Documents.\n"
        " * One per file.\n"
        ' * clove:name "Doc"\n'
        " */\n"
        "definition doc {\n"
        "\trelation reader: doc\n"
        "\t/**\n"
        "\t * Who reads.\n"
        '\t * clove:name "v"\n'
        "\t */\n"
        "\tpermission v_rel = reader\n"
        "}\n"
    )
    restored, _ = restore_names(parse_schema(text))
    assert restored == schema
    definition = restored.definitions[0]
    assert (definition.doc, definition.permissions[0].doc) == (
        "Documents.\nOne per file.",
        "Who reads.",
    )


def test_any_name_survives_the_comment() -> None:
    name = 'a*/b "c"\\d é'
    text = print_spicedb(Schema(definitions=(Definition(name=name),)))
    assert text == '/** clove:name "a*\\/b \\"c\\"\\\\d \\u00e9" */\ndefinition a_b_c_d {}\n'
    assert restore_names(parse_schema(text))[0].definitions[0].name == name


@pytest.mark.parametrize(
    ("text", "message", "where"),
    [
        (
            "/** clove:name a1 */\ndefinition abc {}",
            "`clove:name` must be followed by the original name as a JSON string, not `a1`",
            (2, 12),
        ),
        (
            '/** clove:name "x" */\n/** clove:name "y" */\ndefinition abc {}',
            "more than one `clove:name` annotation",
            (3, 12),
        ),
        (
            'definition abc {\n\t/** clove:name "a1" */\n\trelation rel_one: abc\n}\n'
            'definition xyz {\n\t/** clove:name "b1" */\n\trelation rel_one: abc\n}',
            "`rel_one` is recorded as both `a1` and `b1`",
            (7, 11),
        ),
        (
            'definition abc {\n\t/** clove:name "a1" */\n\trelation rel_one: abc\n}\n'
            "definition xyz {\n\trelation rel_one: abc\n}",
            "`rel_one` is recorded as `a1` in one definition but not in another (a relation or"
            " permission is named alike in every definition)",
            (6, 11),
        ),
        (
            'definition abc {}\n/** clove:name "abc" */\ndefinition xyz {}',
            "the recorded name `abc` is used twice",
            (3, 12),
        ),
        (
            'definition abc {\n\trelation one: abc\n\t/** clove:name "one" */\n'
            "\trelation two: abc\n}",
            "the recorded name `one` is used twice in `abc`",
            (4, 11),
        ),
    ],
)
def test_annotations_that_cannot_be_honoured_are_schema_errors(
    text: str, message: str, where: tuple[int, int]
) -> None:
    with pytest.raises(SchemaError) as raised:
        convert(text, to="openfga")
    assert raised.value.message == message
    assert (raised.value.line, raised.value.column) == where


def test_a_respelled_relation_with_a_rewrite_moves_on_both_sides() -> None:
    model = (
        "model\n  schema 1.1\ntype user\ntype doc\n  relations\n"
        "    define owner: [user]\n    define V: [user, doc#V] or owner\n"
    )
    there = convert_schema(model, to="spicedb")
    assert there.text == (
        "definition user {}\n\n"
        "definition doc {\n"
        "\trelation owner: user\n"
        '\t/** clove:name "V_direct" */\n'
        "\trelation v_direct: user | doc#v_rel\n"
        '\t/** clove:name "V" */\n'
        "\tpermission v_rel = v_direct + owner\n"
        "}\n"
    )
    data = [_tuple("doc:1", "V", "doc:2#V"), _tuple("doc:2", "owner", "user:ann")]
    moved = convert_relationships(data, there.renames)
    assert [str(rel) for rel in moved] == [
        "doc:1#v_direct@doc:2#v_rel",
        "doc:2#owner@user:ann",
    ]
    assert convert_relationships(moved, convert_schema(there.text, to="openfga").renames) == data
    with clove.open("memory") as original, clove.open("memory") as converted:
        original.write_schema(model)
        original.write_relationships(data)
        converted.write_schema(there.text)
        converted.write_relationships(moved)
        ann = SubjectRef(type="user", id="ann")
        before = original.check(ObjectRef(type="doc", id="1"), "V", ann)
        after = converted.check(ObjectRef(type="doc", id="1"), "v_rel", ann)
        assert (str(before.permissionship), str(after.permissionship)) == ("has", "has")
