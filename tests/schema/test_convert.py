"""Conversion between schema languages: detection, printers' refusals, rewrites in SpiceDB."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import clove
from clove.cli.main import main
from clove.errors import SchemaConversionError, SchemaError
from clove.relationships import parse_relationship
from clove.schema.convert import (
    Renames,
    convert,
    convert_relationships,
    convert_schema,
    detect_language,
    lift_rewrites,
    lower_rewrites,
    print_openfga_dsl,
    print_openfga_json,
    print_spicedb,
    print_zanzibar,
    relation_renames,
)
from clove.schema.ir import (
    AllowedSubject,
    Arrow,
    Caveat,
    CaveatParameter,
    CaveatType,
    Definition,
    Exclusion,
    Expression,
    Intersection,
    Nil,
    Permission,
    Relation,
    RelationRef,
    Schema,
    This,
    Union,
)
from clove.schema.spicedb import parse_schema

USER = (AllowedSubject(type="user"),)


def _schema(*members: Relation | Permission, extra: tuple[Definition, ...] = ()) -> Schema:
    relations = tuple(m for m in members if isinstance(m, Relation))
    permissions = tuple(m for m in members if isinstance(m, Permission))
    return Schema(
        definitions=(
            Definition(name="user"),
            Definition(name="doc", relations=relations, permissions=permissions),
            *extra,
        )
    )


# --- detection -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("definition user {}", "spicedb"),
        ("caveat c(x int) { x > 1 }", "spicedb"),
        ("/** doc */ definition user {}", "spicedb"),
        ("model\n  schema 1.1\n\ntype user\n", "openfga"),
        ("# header comment\nmodel\n  schema 1.1\n", "openfga"),
        ("module documents\n\ntype doc\n", "openfga"),
        ('  {"schema_version": "1.1", "type_definitions": []}', "openfga-json"),
        ('name: "doc"\nrelation { name: "owner" }', "zanzibar"),
        ('# c\nnamespace { name: "doc" }', "zanzibar"),
    ],
)
def test_the_language_is_detected(text: str, language: str) -> None:
    assert detect_language(text) == language


# --- rewrites in SpiceDB ---------------------------------------------------------------

REWRITTEN = _schema(
    Relation(name="editor", allowed=USER),
    Relation(
        name="viewer", allowed=USER, rewrite=Union(children=(This(), RelationRef(name="editor")))
    ),
    Permission(name="view", expression=RelationRef(name="viewer")),
)


def test_a_relation_with_a_rewrite_becomes_a_stored_relation_and_a_permission() -> None:
    assert print_spicedb(REWRITTEN) == (
        "definition user {}\n\n"
        "definition doc {\n"
        "\trelation editor: user\n"
        "\trelation viewer_direct: user\n"
        "\tpermission viewer = viewer_direct + editor\n"
        "\tpermission view = viewer\n"
        "}\n"
    )
    lowered, renames = lower_rewrites(REWRITTEN)
    assert renames == {("doc", "viewer"): "viewer_direct"}
    assert lift_rewrites(lowered) == (REWRITTEN, {("doc", "viewer_direct"): "viewer"})


def test_the_derived_name_avoids_names_in_use_and_is_recognised_back() -> None:
    schema = _schema(
        Relation(name="viewer_direct", allowed=USER),
        Relation(
            name="viewer",
            allowed=USER,
            rewrite=Exclusion(base=This(), subtracted=RelationRef(name="viewer_direct")),
        ),
        # Also used elsewhere, so the way back cannot mistake it for the derived relation.
        Permission(name="audit", expression=RelationRef(name="viewer_direct")),
    )
    lowered, renames = lower_rewrites(schema)
    assert renames == {("doc", "viewer"): "viewer_direct_2"}
    assert lowered.definitions[1].permissions == (
        Permission(
            name="viewer",
            expression=Exclusion(
                base=RelationRef(name="viewer_direct_2"),
                subtracted=RelationRef(name="viewer_direct"),
            ),
        ),
        Permission(name="audit", expression=RelationRef(name="viewer_direct")),
    )
    assert lift_rewrites(lowered)[0] == schema


@pytest.mark.parametrize(
    "schema_text",
    [
        # used by another permission too
        "definition user {}\ndefinition doc {\n relation viewer_direct: user\n"
        " permission viewer = viewer_direct\n permission other = viewer_direct\n}",
        # used as a tupleset
        "definition user {}\ndefinition doc {\n relation viewer_direct: doc\n"
        " permission viewer = viewer_direct + viewer_direct->viewer\n}",
        # a subject relation elsewhere
        "definition user {}\ndefinition doc {\n relation viewer_direct: user\n"
        " relation other: doc#viewer_direct\n permission viewer = viewer_direct\n}",
        # not the derived name
        "definition user {}\ndefinition doc {\n relation viewers: user\n"
        " permission viewer = viewers\n}",
    ],
)
def test_the_pattern_is_only_recognised_when_nothing_else_uses_the_stored_relation(
    schema_text: str,
) -> None:
    schema = parse_schema(schema_text)
    assert lift_rewrites(schema) == (schema, {})


def test_spicedb_to_openfga_and_back_is_exact_and_renames_the_stored_relation() -> None:
    source = (
        "definition user {}\n\n"
        "definition doc {\n"
        "\trelation editor: user\n"
        "\trelation viewer_direct: user | user:*\n"
        "\tpermission viewer = viewer_direct + editor\n"
        "}\n"
    )
    assert convert(source, to="openfga") == (
        "model\n  schema 1.1\n\n"
        "type user\n\n"
        "type doc\n"
        "  relations\n"
        "    define editor: [user]\n"
        "    define viewer: [user, user:*] or editor\n"
    )
    assert relation_renames(source, to="openfga") == {("doc", "viewer_direct"): "viewer"}
    assert relation_renames(source, to="spicedb") == {}
    moved = convert_relationships(
        ["doc:1#viewer_direct@user:ann", "doc:1#editor@user:bob"],
        {("doc", "viewer_direct"): "viewer"},
    )
    assert moved == [
        parse_relationship("doc:1#viewer@user:ann"),
        parse_relationship("doc:1#editor@user:bob"),
    ]


def test_subject_sets_keep_their_relation_when_relationships_move() -> None:
    (moved,) = convert_relationships(
        [parse_relationship("doc:1#viewer@doc:2#viewer")], {("doc", "viewer"): "viewer_direct"}
    )
    assert str(moved) == "doc:1#viewer_direct@doc:2#viewer"


def test_spicedb_rules_the_source_broke_are_conversion_errors() -> None:
    # A caveat parameter is named in the CEL expression too, so it is not respelled.
    model = (
        "model\n  schema 1.1\n"
        "type user\n"
        "type doc\n  relations\n    define viewer: [user with big]\n"
        "condition big(relation: int) {\n  relation > 1\n}\n"
    )
    with pytest.raises(SchemaConversionError) as raised:
        convert(model, to="spicedb")
    assert str(raised.value) == (
        "cannot write the schema in SpiceDB: invalid parameter name `relation` on caveat `big`"
        " (source 7:15)"
    )


def test_source_errors_keep_their_position() -> None:
    with pytest.raises(SchemaError) as raised:
        convert('name: "doc"\nrelation {', to="openfga")
    assert (raised.value.line, raised.value.column) == (2, 10)
    with pytest.raises(SchemaError) as raised:
        convert("definition doc { relation x: nope }", to="zanzibar")
    assert raised.value.line == 1


# --- the OpenFGA DSL ---------------------------------------------------------------------


def _define(expression: Expression, *, relation: bool = True) -> str:
    # Relations of docs, so that `viewer from b` finds `viewer` on the type `b` allows.
    others = [Relation(name=name, allowed=(AllowedSubject(type="doc"),)) for name in "abc"]
    member: Relation | Permission
    if relation:
        member = Relation(name="viewer", allowed=USER, rewrite=expression)
    else:
        member = Permission(name="viewer", expression=expression)
    text = print_openfga_dsl(_schema(*others, member))
    return text.splitlines()[-1].removeprefix("    define viewer: ")


A, B, C = RelationRef(name="a"), RelationRef(name="b"), RelationRef(name="c")


@pytest.mark.parametrize(
    ("expression", "text"),
    [
        (Union(children=(A, Intersection(children=(B, C)))), "a or (b and c)"),
        (Intersection(children=(Union(children=(A, B)), C)), "(a or b) and c"),
        (Union(children=(A, Union(children=(B, C)))), "a or (b or c)"),
        (Exclusion(base=Exclusion(base=A, subtracted=B), subtracted=C), "(a but not b) but not c"),
        (Exclusion(base=A, subtracted=Union(children=(B, C))), "a but not (b or c)"),
        (Union(children=(A, Arrow(tupleset="b", target="viewer"))), "a or viewer from b"),
    ],
)
def test_dsl_operators_never_mix_without_parentheses(expression: Expression, text: str) -> None:
    assert _define(expression, relation=False) == text


@pytest.mark.parametrize(
    ("expression", "text"),
    [
        (This(), "[user]"),
        (Union(children=(A, This())), "[user] or a"),
        (Intersection(children=(A, Union(children=(B, This())))), "([user] or b) and a"),
        (Exclusion(base=Union(children=(This(), A)), subtracted=B), "([user] or a) but not b"),
    ],
)
def test_the_direct_type_restriction_is_written_first(expression: Expression, text: str) -> None:
    assert _define(expression) == text


@pytest.mark.parametrize(
    ("expression", "construct"),
    [
        (Exclusion(base=A, subtracted=This()), "subtracted direct type restriction"),
        (
            Union(children=(This(), Intersection(children=(This(), A)))),
            "direct type restriction twice",
        ),
    ],
)
def test_what_only_the_json_form_can_write(expression: Expression, construct: str) -> None:
    schema = _schema(
        Relation(name="a", allowed=USER), Relation(name="viewer", allowed=USER, rewrite=expression)
    )
    with pytest.raises(SchemaConversionError) as raised:
        print_openfga_dsl(schema)
    assert raised.value.construct == construct
    assert raised.value.where == "doc#viewer"
    assert json.loads(print_openfga_json(schema))["type_definitions"][1]["relations"]["viewer"]


def test_openfga_dsl_golden_with_conditions_wildcards_and_usersets() -> None:
    source = (
        "/** who may look */\n"
        "caveat on_network(ip ipaddress, allowed list<string>) {\n"
        "  ip.in_cidr(allowed[0])\n"
        "}\n\n"
        "definition user {}\n\n"
        "definition group {\n"
        "  relation member: user | group#member\n"
        "}\n\n"
        "definition doc {\n"
        "  /** parent folder */\n"
        "  relation parent: doc\n"
        "  relation viewer: user | user:* | group#member | user with on_network\n"
        "  permission view = viewer + parent->view\n"
        "}\n"
    )
    assert convert(source, to="openfga") == (
        "model\n  schema 1.1\n\n"
        "type user\n\n"
        "type group\n"
        "  relations\n"
        "    define member: [user, group#member]\n\n"
        "type doc\n"
        "  relations\n"
        "    # parent folder\n"
        "    define parent: [doc]\n"
        "    define viewer: [user, user:*, group#member, user with on_network]\n"
        "    define view: viewer or view from parent\n\n"
        "# who may look\n"
        "condition on_network(ip: ipaddress, allowed: list<string>) {\n"
        "  ip.in_cidr(allowed[0])\n"
        "}\n"
    )
    model = json.loads(convert(source, to="openfga-json"))
    assert model["conditions"] == {
        "on_network": {
            "name": "on_network",
            "expression": "ip.in_cidr(allowed[0])",
            "parameters": {
                "ip": {"type_name": "TYPE_NAME_IPADDRESS"},
                "allowed": {
                    "type_name": "TYPE_NAME_LIST",
                    "generic_types": [{"type_name": "TYPE_NAME_STRING"}],
                },
            },
        }
    }
    doc = model["type_definitions"][2]
    assert doc["relations"]["view"] == {
        "union": {
            "child": [
                {"computedUserset": {"object": "", "relation": "viewer"}},
                {
                    "tupleToUserset": {
                        "tupleset": {"object": "", "relation": "parent"},
                        "computedUserset": {"object": "", "relation": "view"},
                    }
                },
            ]
        }
    }
    assert doc["metadata"]["relations"]["viewer"]["directly_related_user_types"] == [
        {"type": "user"},
        {"type": "user", "wildcard": {}},
        {"type": "group", "relation": "member"},
        {"type": "user", "condition": "on_network"},
    ]
    assert doc["metadata"]["relations"]["view"]["directly_related_user_types"] == []


# --- refusals ----------------------------------------------------------------------------

CAVEAT = Caveat(
    name="cond",
    parameters=(CaveatParameter(name="x", type=CaveatType(name="bytes")),),
    expression="size(x) > 0",
)
REFUSALS = [
    (
        "zanzibar",
        "definition user {}\ndefinition doc { relation viewer: user:* }",
        "wildcard subject type",
        "cannot write `user:*` on relation `doc#viewer` in a Zanzibar namespace config:"
        " Zanzibar has"
        " no wildcards",
    ),
    (
        "zanzibar",
        "caveat c(x int) { x > 1 }\ndefinition user {}\ndefinition doc { relation viewer: user"
        " with c }",
        "caveat",
        "cannot write caveat `c` in a Zanzibar namespace config: Zanzibar has no caveats",
    ),
    (
        "zanzibar",
        "use expiration\ndefinition user {}\ndefinition doc { relation viewer: user with"
        " expiration }",
        "expiration",
        "cannot write `user with expiration` on relation `doc#viewer` in a Zanzibar namespace"
        " config:"
        " Zanzibar relationships do not expire",
    ),
    (
        "zanzibar",
        "definition user {}\ndefinition doc { relation viewer: user\n permission perm = nil }",
        "nil",
        "cannot write `nil` in `doc#perm` in a Zanzibar namespace config: Zanzibar has no"
        " empty-set literal",
    ),
    (
        "zanzibar",
        "definition user {}\ndefinition doc { relation viewer: doc\n permission perm ="
        " viewer.all(perm) }",
        "all arrow",
        "cannot write the arrow `viewer.all(perm)` of `doc#perm` in a Zanzibar namespace config:"
        " Zanzibar's"
        " tuple_to_userset unions its results; it has no intersection form",
    ),
    (
        "openfga",
        "definition user {}\ndefinition doc { relation viewer: doc\n permission perm ="
        " viewer.all(perm) }",
        "all arrow",
        "cannot write the arrow `viewer.all(perm)` of `doc#perm` in the OpenFGA DSL: OpenFGA's"
        " `from` is satisfied by any related object, never by all of them",
    ),
    (
        "openfga-json",
        "definition user {}\ndefinition doc { relation viewer: user\n permission perm = viewer +"
        " nil }",
        "nil",
        "cannot write `nil` in `doc#perm` in an OpenFGA JSON model: OpenFGA has no empty set",
    ),
    (
        "openfga",
        "use expiration\ndefinition user {}\ndefinition doc { relation viewer: user with"
        " expiration }",
        "expiration",
        "cannot write `user with expiration` on relation `doc#viewer` in the OpenFGA DSL: OpenFGA"
        " relationships do not expire",
    ),
    (
        "openfga",
        "caveat c(x bytes) { size(x) > 0 }\ndefinition user {}",
        "condition parameter type",
        "cannot write parameter `x: bytes` of condition `c` in the OpenFGA DSL: OpenFGA conditions"
        " have no `bytes` parameters",
    ),
    (
        "openfga",
        "caveat c(x any) { x }\ndefinition user {}",
        "condition parameter type",
        "cannot write parameter `x: any` of condition `c` in the OpenFGA DSL: OpenFGA conditions"
        " have no `any` parameters",
    ),
    (
        "openfga",
        "definition example/user {}",
        "name",
        "cannot write type name `example/user` in the OpenFGA DSL: the DSL spells names with"
        " letters, digits, _ and - (starting with a letter or _), and not as keywords",
    ),
    (
        "openfga",
        "definition user {}\ndefinition doc { relation from: user }",
        "name",
        "cannot write relation name `from` in the OpenFGA DSL: the DSL spells names with letters,"
        " digits, _ and - (starting with a letter or _), and not as keywords",
    ),
    (
        "openfga-json",
        "definition user {}\ndefinition doc { relation this: user }",
        "reserved name",
        "cannot write relation `doc#this` in an OpenFGA JSON model: OpenFGA reserves the name"
        " `this`",
    ),
]


@pytest.mark.parametrize(("to", "source", "construct", "message"), REFUSALS)
def test_constructs_the_target_cannot_express_are_refused(
    to: str, source: str, construct: str, message: str
) -> None:
    with pytest.raises(SchemaConversionError) as raised:
        convert(source, to=to, source_syntax="spicedb")  # type: ignore[arg-type]
    assert (raised.value.construct, str(raised.value)) == (construct, message)
    assert raised.value.target == to


def test_the_json_form_accepts_any_and_slashes() -> None:
    model = json.loads(
        convert(
            "caveat c(x any) { x }\ndefinition ex1/user { relation member: ex1/user with c }",
            to="openfga-json",
        )
    )
    assert model["type_definitions"][0]["type"] == "ex1/user"
    assert model["conditions"]["c"]["parameters"] == {"x": {"type_name": "TYPE_NAME_ANY"}}


@pytest.mark.parametrize(
    "printer", [print_zanzibar, print_openfga_dsl, print_openfga_json, print_spicedb]
)
def test_arrows_must_start_at_a_plain_relation(printer: object) -> None:
    schema = _schema(
        Relation(
            name="parent",
            allowed=(AllowedSubject(type="doc"),),
            rewrite=Union(children=(This(), RelationRef(name="other"))),
        ),
        Relation(name="other", allowed=(AllowedSubject(type="doc"),)),
        Permission(name="view", expression=Arrow(tupleset="parent", target="view")),
    )
    with pytest.raises(SchemaConversionError) as raised:
        printer(schema)  # type: ignore[operator]
    assert raised.value.construct == "arrow over a rewritten relation"
    assert raised.value.where == "doc#view"


@pytest.mark.parametrize(
    "printer", [print_zanzibar, print_openfga_dsl, print_openfga_json, print_spicedb]
)
def test_a_rewrite_must_include_the_stored_relationships(printer: object) -> None:
    schema = _schema(
        Relation(name="owner", allowed=USER),
        Relation(name="viewer", allowed=USER, rewrite=RelationRef(name="owner")),
    )
    with pytest.raises(SchemaConversionError) as raised:
        printer(schema)  # type: ignore[operator]
    assert raised.value.construct == "rewrite without This"


def test_unknown_target_language() -> None:
    with pytest.raises(SchemaConversionError, match="unknown schema language `cedar`"):
        convert_schema("definition user {}", to="cedar")  # type: ignore[arg-type]


def test_nil_is_fine_in_spicedb() -> None:
    schema = _schema(
        Relation(name="owner", allowed=USER), Permission(name="nobody", expression=Nil())
    )
    assert "permission nobody = nil" in print_spicedb(schema)


# --- a converted model at work -----------------------------------------------------------

ZANZIBAR_DOCS = """
name: "user"

name: "folder"
relation { name: "viewer" }

name: "doc"
relation { name: "owner" }
relation { name: "parent" }
relation { name: "banned" }
relation {
  name: "viewer"
  userset_rewrite {
    union {
      child { _this {} }
      child { computed_userset { relation: "owner" } }
      child {
        tuple_to_userset {
          tupleset { relation: "parent" }
          computed_userset { object: $TUPLE_USERSET_OBJECT relation: "viewer" }
        }
      }
    }
  }
}
relation {
  name: "can_view"
  userset_rewrite {
    exclusion {
      child { computed_userset { relation: "viewer" } }
      child { computed_userset { relation: "banned" } }
    }
  }
}
"""


def test_a_zanzibar_config_converted_to_spicedb_answers_on_renamed_data() -> None:
    conversion = convert_schema(ZANZIBAR_DOCS, to="spicedb")
    assert conversion.renames == Renames(relations={("doc", "viewer"): "viewer_direct"})
    data = convert_relationships(
        [
            "doc:readme#viewer@user:ann",
            "doc:readme#owner@user:bob",
            "doc:readme#parent@folder:shared",
            "folder:shared#viewer@user:cat",
            "doc:readme#banned@user:cat",
            "doc:plan#viewer@doc:readme#viewer",
        ],
        conversion.renames,
    )
    with clove.open("memory") as db:
        db.write_schema(conversion.text)
        db.write_relationships(data)
        answers = {
            (resource, permission, subject): db.check(resource, permission, subject).permissionship
            for resource, permission, subject in [
                ("doc:readme", "viewer", "user:ann"),
                ("doc:readme", "viewer", "user:bob"),
                ("doc:readme", "viewer", "user:cat"),
                ("doc:readme", "can_view", "user:cat"),
                ("doc:readme", "can_view", "user:bob"),
                ("doc:plan", "viewer", "user:cat"),
                ("doc:plan", "viewer", "user:dan"),
            ]
        }
    assert answers == {
        ("doc:readme", "viewer", "user:ann"): "has",
        ("doc:readme", "viewer", "user:bob"): "has",
        ("doc:readme", "viewer", "user:cat"): "has",
        ("doc:readme", "can_view", "user:cat"): "no",
        ("doc:readme", "can_view", "user:bob"): "has",
        ("doc:plan", "viewer", "user:cat"): "has",
        ("doc:plan", "viewer", "user:dan"): "no",
    }


# --- the command line --------------------------------------------------------------------


def test_cli_converts_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "docs.zanzibar"
    source.write_text(ZANZIBAR_DOCS)
    assert main(["schema", "convert", "--to", "openfga", str(source)]) == 0
    out = capsys.readouterr().out
    assert out == convert(ZANZIBAR_DOCS, to="openfga")
    assert "define can_view: viewer but not banned" in out


def test_cli_reports_errors_on_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "bad.zanzibar"
    source.write_text('name: "doc"\nrelation {\n')
    assert main(["schema", "convert", "--to", "spicedb", str(source)]) == 1
    assert capsys.readouterr().err == "error: 2:10: `{` is never closed\n"
    wildcard = tmp_path / "wild.zed"
    wildcard.write_text("definition user {}\ndefinition doc { relation viewer: user:* }\n")
    assert main(["schema", "convert", "--to", "zanzibar", str(wildcard)]) == 1
    assert capsys.readouterr().err == (
        "error: cannot write `user:*` on relation `doc#viewer` in a Zanzibar namespace config:"
        " Zanzibar has no wildcards\n"
    )


def test_cli_takes_the_source_language(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "schema.txt"
    source.write_text("definition user {}\n")
    assert main(["schema", "convert", "--from", "spicedb", "--to", "zanzibar", str(source)]) == 0
    assert capsys.readouterr().out == 'name: "user"\n'


def test_docs_become_comments_in_zanzibar_configs() -> None:
    source = "/** people */\ndefinition user {\n\t/** who owns it */\n\trelation owner: user\n}\n"
    assert convert(source, to="zanzibar") == (
        '# people\nname: "user"\n\n# who owns it\nrelation { name: "owner" }\n'
    )
