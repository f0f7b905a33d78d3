"""Small OpenFGA DSL models and the exact IR each one compiles to."""

from __future__ import annotations

from clove.schema.ir import (
    AllowedSubject,
    Arrow,
    Caveat,
    CaveatParameter,
    CaveatType,
    Definition,
    Exclusion,
    Intersection,
    Permission,
    Relation,
    RelationRef,
    Schema,
    Span,
    This,
    Union,
)
from clove.schema.openfga import parse_openfga_dsl

USER = AllowedSubject(type="user")


def test_direct_relation_has_no_rewrite() -> None:
    schema = parse_openfga_dsl(
        "model\n  schema 1.1\ntype user\ntype doc\n  relations\n    define viewer: [user]\n"
    )
    assert schema == Schema(
        definitions=(
            Definition(name="user"),
            Definition(name="doc", relations=(Relation(name="viewer", allowed=(USER,)),)),
        )
    )


def test_type_restrictions_of_every_kind() -> None:
    schema = parse_openfga_dsl(
        """model
  schema 1.1
type user
type group
  relations
    define member: [user, user:*, group#member, user with on_net, user:* with on_net]
condition on_net(ip: ipaddress, cidrs: list<string>, tags: map<int>) {
  ip.in_cidr(cidrs[0]) && tags["a"] == 1
}
"""
    )
    member = schema.definitions[1].relations[0]
    assert member.allowed == (
        USER,
        AllowedSubject(type="user", wildcard=True),
        AllowedSubject(type="group", relation="member"),
        AllowedSubject(type="user", caveat="on_net"),
        AllowedSubject(type="user", wildcard=True, caveat="on_net"),
    )
    assert schema.caveats == (
        Caveat(
            name="on_net",
            parameters=(
                CaveatParameter(name="ip", type=CaveatType(name="ipaddress")),
                CaveatParameter(
                    name="cidrs", type=CaveatType(name="list", args=(CaveatType(name="string"),))
                ),
                CaveatParameter(
                    name="tags", type=CaveatType(name="map", args=(CaveatType(name="int"),))
                ),
            ),
            expression='ip.in_cidr(cidrs[0]) && tags["a"] == 1',
        ),
    )
    assert schema.caveats[0].expression_span == Span(line=8, column=3)


def test_operators_parentheses_and_arrows() -> None:
    schema = parse_openfga_dsl(
        """model
  schema 1.1
type user
type folder
  relations
    define viewer: [user]
type doc
  relations
    define parent: [folder]
    define blocked: [user]
    define owner: [user]
    define editor: [user] or owner
    define viewer: [user] or editor or viewer from parent
    define can_share: owner and editor and (viewer but not blocked)
    define can_view: (viewer or editor) but not blocked
    define nested: ([user] or owner) and editor
"""
    )
    doc = schema.definitions[2]
    assert doc == Definition(
        name="doc",
        relations=(
            Relation(name="parent", allowed=(AllowedSubject(type="folder"),)),
            Relation(name="blocked", allowed=(USER,)),
            Relation(name="owner", allowed=(USER,)),
            Relation(
                name="editor",
                allowed=(USER,),
                rewrite=Union(children=(This(), RelationRef(name="owner"))),
            ),
            Relation(
                name="viewer",
                allowed=(USER,),
                rewrite=Union(
                    children=(
                        This(),
                        RelationRef(name="editor"),
                        Arrow(tupleset="parent", target="viewer"),
                    )
                ),
            ),
            Relation(
                name="nested",
                allowed=(USER,),
                rewrite=Intersection(
                    children=(
                        Union(children=(This(), RelationRef(name="owner"))),
                        RelationRef(name="editor"),
                    )
                ),
            ),
        ),
        permissions=(
            Permission(
                name="can_share",
                expression=Intersection(
                    children=(
                        RelationRef(name="owner"),
                        RelationRef(name="editor"),
                        Exclusion(
                            base=RelationRef(name="viewer"),
                            subtracted=RelationRef(name="blocked"),
                        ),
                    )
                ),
            ),
            Permission(
                name="can_view",
                expression=Exclusion(
                    base=Union(children=(RelationRef(name="viewer"), RelationRef(name="editor"))),
                    subtracted=RelationRef(name="blocked"),
                ),
            ),
        ),
    )


def test_comments_blank_lines_docs_and_keyword_names() -> None:
    schema = parse_openfga_dsl(
        """# a model with comments
model  # trailing
  schema 1.1

# the people
type user

type module   # `module` is a name here, as in OpenFGA
  relations
    # who may read
    define viewer: [user,
      module#viewer]  # a list may span lines

    define type: [user]
"""
    )
    user, module = schema.definitions
    assert user.doc == "the people"
    assert module == Definition(
        name="module",
        relations=(
            Relation(
                name="viewer", allowed=(USER, AllowedSubject(type="module", relation="viewer"))
            ),
            Relation(name="type", allowed=(USER,)),
        ),
    )
    assert module.relations[0].doc == "who may read"
    assert module.relations[0].span == Span(line=11, column=12)


def test_crlf_line_endings() -> None:
    text = (
        "model\r\n  schema 1.1\r\ntype user\r\ntype doc\r\n  relations\r\n    define v: [user]\r\n"
    )
    assert parse_openfga_dsl(text).definitions[1].relations == (
        Relation(name="v", allowed=(USER,)),
    )
