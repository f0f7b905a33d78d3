"""Zanzibar namespace configs to IR: the exact IR, the accepted forms, language detection."""

from __future__ import annotations

import pytest

from clove.schema.ir import (
    AllowedSubject,
    Arrow,
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
from clove.schema.zanzibar import looks_like_zanzibar, parse_zanzibar, zanzibar_allowed

PAPER = """\
name: "doc"

relation { name: "owner" }

relation {
  name: "editor"
  userset_rewrite {
    union {
      child { _this {} }
      child { computed_userset { relation: "owner" } }
    }
  }
}

relation {
  name: "viewer"
  userset_rewrite {
    union {
      child { _this {} }
      child { computed_userset { relation: "editor" } }
      child {
        tuple_to_userset {
          tupleset { relation: "parent" }
          computed_userset {
            object: $TUPLE_USERSET_OBJECT  # parent folder
            relation: "viewer"
          }
        }
      }
    }
  }
}

relation { name: "parent" }
"""

EVERYTHING = (
    AllowedSubject(type="doc"),
    AllowedSubject(type="doc", relation="owner"),
    AllowedSubject(type="doc", relation="editor"),
    AllowedSubject(type="doc", relation="viewer"),
    AllowedSubject(type="doc", relation="parent"),
)


def test_the_papers_example_compiles_to_this_ir() -> None:
    schema = parse_zanzibar(PAPER)
    assert schema == Schema(
        definitions=(
            Definition(
                name="doc",
                relations=(
                    Relation(name="owner", allowed=EVERYTHING),
                    Relation(
                        name="editor",
                        allowed=EVERYTHING,
                        rewrite=Union(children=(This(), RelationRef(name="owner"))),
                    ),
                    Relation(
                        name="viewer",
                        allowed=EVERYTHING,
                        rewrite=Union(
                            children=(
                                This(),
                                RelationRef(name="editor"),
                                Arrow(tupleset="parent", target="viewer"),
                            )
                        ),
                    ),
                    Relation(name="parent", allowed=EVERYTHING),
                ),
            ),
        )
    )
    definition = schema.definitions[0]
    assert definition.span == Span(line=1, column=1)
    assert definition.relations[1].span == Span(line=5, column=1)
    viewer = definition.relations[2].rewrite
    assert isinstance(viewer, Union)
    assert viewer.children[2].span == Span(line=23, column=32)  # the tupleset's relation


def test_a_rewrite_without_this_is_a_permission_and_this_alone_is_no_rewrite() -> None:
    schema = parse_zanzibar(
        """
        name: "doc"
        relation { name: "owner" userset_rewrite { union { child { _this {} } } } }
        relation { name: "banned" }
        relation {
          name: "can_edit"
          userset_rewrite {
            exclusion {
              child { computed_userset { relation: "owner" } }
              child { userset_rewrite { intersection {
                child { computed_userset { relation: "banned" } }
                child { computed_userset { relation: "owner" } }
              } } }
            }
          }
        }
        """
    )
    (definition,) = schema.definitions
    assert [relation.name for relation in definition.relations] == ["owner", "banned"]
    assert definition.relations[0].rewrite is None
    assert definition.permissions == (
        Permission(
            name="can_edit",
            expression=Exclusion(
                base=RelationRef(name="owner"),
                subtracted=Intersection(
                    children=(RelationRef(name="banned"), RelationRef(name="owner"))
                ),
            ),
        ),
    )
    # Permissions are subject sets too: Zanzibar relations accept any userset.
    assert AllowedSubject(type="doc", relation="can_edit") in definition.relations[0].allowed


def test_single_child_set_operations_and_bare_leaves_mean_their_child() -> None:
    nested = parse_zanzibar(
        'name: "doc" relation { name: "a" } relation { name: "b" userset_rewrite {'
        ' union { child { intersection { child { computed_userset { relation: "a" } } } } } } }'
    )
    bare = parse_zanzibar(
        'name: "doc" relation { name: "a" }'
        ' relation { name: "b" userset_rewrite { computed_userset { relation: "a" } } }'
    )
    assert nested == bare
    assert nested.definitions[0].permissions[0].expression == RelationRef(name="a")


BLOCKS = """
namespace { name: "user" }
namespace {
  name: "group"
  relation { name: "member" }
}
"""
SYNONYMS = """
config { name: "user" }
namespace_config: { name: 'group'; relation: { name: "member" }, }
"""
CONCATENATED = """
name: "user"
name: "group"
relation { name: "member" }
"""


@pytest.mark.parametrize("text", [BLOCKS, SYNONYMS, CONCATENATED])
def test_the_forms_of_a_file_of_several_namespaces_agree(text: str) -> None:
    schema = parse_zanzibar(text)
    assert [definition.name for definition in schema.definitions] == ["user", "group"]
    member = schema.definitions[1].relations[0]
    assert member.allowed == (
        AllowedSubject(type="user"),
        AllowedSubject(type="group"),
        AllowedSubject(type="group", relation="member"),
    )
    assert member.allowed == zanzibar_allowed(schema.definitions)


def test_name_may_follow_the_relations_when_the_file_holds_one_namespace() -> None:
    assert parse_zanzibar('relation { name: "owner" } name: "doc"') == parse_zanzibar(
        'name: "doc" relation { name: "owner" }'
    )


def test_an_empty_file_is_an_empty_schema() -> None:
    assert parse_zanzibar("# nothing yet\n") == Schema()


@pytest.mark.parametrize(
    "text",
    [
        PAPER,
        '# a comment first\nname: "doc"',
        "namespace {\n name: 'doc' }",
        "config: { }",
        'relation { name: "owner" }\nname: "doc"',
    ],
)
def test_namespace_configs_are_recognised(text: str) -> None:
    assert looks_like_zanzibar(text)


@pytest.mark.parametrize(
    "text",
    [
        "definition user {}",
        "model\n  schema 1.1\ntype user",
        '{"schema_version": "1.1"}',
        "",
        '# name: "doc"\ncaveat c(x int) { x > 1 }',
    ],
)
def test_other_languages_are_not_recognised(text: str) -> None:
    assert not looks_like_zanzibar(text)
