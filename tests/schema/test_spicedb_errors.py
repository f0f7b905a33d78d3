"""Invalid SpiceDB schemas: each must fail with a message naming the problem, at a position."""

from __future__ import annotations

import textwrap

import pytest

from clove.errors import SchemaError
from clove.schema.spicedb import parse_schema

# (id, schema, message fragment, line, column). Schemas are dedented; tabs indent bodies.
CASES: list[tuple[str, str, str, int, int]] = [
    # --- lexical ---------------------------------------------------------------------
    (
        "unexpected-character",
        "definition user {}\ndefinition doc { relation viewer: user $ }",
        "unexpected character '$'",
        2,
        40,
    ),
    (
        "unterminated-comment",
        "definition user {}\n/* never closed\ndefinition doc {}",
        "unterminated comment",
        2,
        1,
    ),
    (
        "unterminated-caveat-body",
        "caveat is_ok(flag bool) {\n\tflag\n",
        "missing its closing `}`",
        1,
        25,
    ),
    (
        "empty-caveat-body",
        "caveat is_ok(flag bool) {  // nothing here\n}",
        "caveat expression is empty",
        1,
        25,
    ),
    (
        "unterminated-cel-string",
        'caveat is_ok(name string) {\n\tname == "open\n}',
        "unterminated string literal",
        2,
        10,
    ),
    # --- syntax ----------------------------------------------------------------------
    (
        "unexpected-top-level",
        "definition user {}\nrelation viewer: user",
        "expected `definition`, `caveat` or `use`, found keyword `relation`",
        2,
        1,
    ),
    (
        "missing-colon",
        "definition user {}\ndefinition doc {\n\trelation viewer user\n}",
        "expected `:`, found `user`",
        3,
        18,
    ),
    (
        "missing-expression",
        "definition doc {\n\tpermission view =\n}",
        "expected a relation or permission name, `nil` or `(`, found `}`",
        3,
        1,
    ),
    (
        "unclosed-parenthesis",
        "definition user {}\ndefinition doc {\n\trelation viewer: user\n"
        "\tpermission view = (viewer + viewer\n}",
        "expected `)`, found `}`",
        5,
        1,
    ),
    (
        "keyword-as-relation-name",
        "definition user {}\ndefinition doc {\n\trelation nil: user\n}",
        "expected a relation name, found keyword `nil`",
        3,
        11,
    ),
    (
        "nested-arrows",
        "definition folder {\n\trelation parent: folder\n"
        "\tpermission view = parent->parent->view\n}",
        "nested arrows are not supported",
        3,
        34,
    ),
    (
        "unknown-arrow-function",
        "definition folder {\n\trelation parent: folder\n\tpermission view = parent.some(view)\n}",
        "expected `any` or `all` after `.`, found `some`",
        3,
        27,
    ),
    (
        "caveat-without-parameters",
        "caveat always() {\n\ttrue\n}",
        "caveat `always` must have at least one parameter",
        1,
        15,
    ),
    (
        "expiration-before-caveat",
        "use expiration\ncaveat is_ok(flag bool) { flag }\ndefinition user {}\n"
        "definition doc {\n\trelation viewer: user with expiration and is_ok\n}",
        "the caveat comes before `expiration`",
        5,
        40,
    ),
    (
        "and-expiration-without-flag",
        "caveat is_ok(flag bool) { flag }\ndefinition user {}\n"
        "definition doc {\n\trelation viewer: user with is_ok and expiration\n}",
        "`and expiration` needs `use expiration`",
        4,
        35,
    ),
    # --- use directives --------------------------------------------------------------
    (
        "unknown-use-flag",
        "use expirations\ndefinition user {}",
        "unknown use flag `expirations`",
        1,
        5,
    ),
    (
        "use-after-definition",
        "definition user {}\nuse expiration",
        "`use` must come before any definition or caveat",
        2,
        1,
    ),
    (
        "duplicate-use",
        "use expiration\nuse expiration\ndefinition user {}",
        "duplicate `use expiration`",
        2,
        1,
    ),
    # --- caveat parameter types ------------------------------------------------------
    (
        "unknown-parameter-type",
        "caveat is_ok(count integer) {\n\tcount > 1\n}",
        "unknown caveat parameter type `integer`",
        1,
        20,
    ),
    (
        "generic-arity-too-many",
        "caveat in_list(values list<int, int>) {\n\t1 in values\n}",
        "type `list` takes 1 type argument, found 2",
        1,
        23,
    ),
    (
        "generic-arity-missing",
        "caveat has_key(values map) {\n\t'a' in values\n}",
        "type `map` takes 1 type argument, found 0",
        1,
        23,
    ),
    (
        "scalar-with-arguments",
        "caveat is_ok(count int<string>) {\n\tcount > 1\n}",
        "type `int` takes no type arguments",
        1,
        20,
    ),
    (
        "duplicate-caveat-parameter",
        "caveat is_ok(count int, count uint) {\n\tcount > 1\n}",
        "duplicate parameter `count` on caveat `is_ok`",
        1,
        25,
    ),
    # --- names -----------------------------------------------------------------------
    (
        "duplicate-definition",
        "definition user {}\ndefinition user {}",
        "`user` is defined more than once",
        2,
        12,
    ),
    (
        "definition-and-caveat-share-names",
        "definition user {}\ncaveat user(flag bool) { flag }",
        "`user` is defined more than once",
        2,
        8,
    ),
    (
        "duplicate-relation-and-permission",
        "definition user {}\ndefinition doc {\n\trelation viewer: user\n"
        "\tpermission viewer = viewer\n}",
        "duplicate relation/permission name `viewer` under definition `doc`",
        4,
        13,
    ),
    (
        "relation-name-too-short",
        "definition user {}\ndefinition doc {\n\trelation ab: user\n}",
        "invalid relation name `ab`",
        3,
        11,
    ),
    (
        "definition-name-uppercase",
        "definition User {}",
        "invalid definition name `User`",
        1,
        12,
    ),
    # --- subject types ---------------------------------------------------------------
    (
        "unknown-subject-definition",
        "definition user {}\ndefinition doc {\n\trelation viewer: usr\n}",
        "definition `usr` not found",
        3,
        19,
    ),
    (
        "unknown-subject-relation",
        "definition user {}\ndefinition group {\n\trelation member: user\n}\n"
        "definition doc {\n\trelation viewer: user | group#membr\n}",
        "relation/permission `membr` not found under definition `group`",
        6,
        26,
    ),
    (
        "unknown-caveat",
        "definition user {}\ndefinition doc {\n\trelation viewer: user with on_tuesday\n}",
        "caveat `on_tuesday` not found",
        3,
        19,
    ),
    (
        "expiration-without-use",
        "definition user {}\ndefinition doc {\n\trelation viewer: user with expiration\n}",
        "`with expiration` needs `use expiration`",
        3,
        19,
    ),
    (
        "duplicate-subject-type",
        "definition user {}\ndefinition doc {\n\trelation viewer: user | user#...\n}",
        "duplicate subject type `user` on relation `doc#viewer`",
        3,
        26,
    ),
    (
        "transitive-wildcard",
        "definition user {}\ndefinition group {\n\trelation member: user:*\n}\n"
        "definition doc {\n\trelation viewer: group#member\n}",
        "wildcard relations cannot be transitively included",
        6,
        19,
    ),
    # --- expressions -----------------------------------------------------------------
    (
        "unknown-relation-in-expression",
        "definition user {}\ndefinition doc {\n\trelation viewer: user\n"
        "\tpermission view = viewer + editor\n}",
        "relation/permission `editor` not found under definition `doc`",
        4,
        29,
    ),
    (
        "unknown-arrow-tupleset",
        "definition doc {\n\tpermission view = parent->view\n}",
        "relation `parent` not found under definition `doc`",
        2,
        20,
    ),
    (
        "arrow-over-permission",
        "definition doc {\n\trelation owner: doc\n\tpermission parent = owner\n"
        "\tpermission view = parent->view\n}",
        "permissions cannot be used on the left hand side of an arrow",
        4,
        20,
    ),
    (
        "arrow-over-wildcard",
        "definition user {}\ndefinition doc {\n\trelation parent: doc | user:*\n"
        "\tpermission view = parent->view\n}",
        "wildcard relations cannot be used on the left side of arrows",
        4,
        20,
    ),
    (
        "arrow-over-transitive-wildcard",
        "definition user {}\ndefinition group {\n\trelation member: user:*\n}\n"
        "definition doc {\n\trelation parent: doc#owner\n\trelation owner: group#member\n"
        "\tpermission view = parent->view\n}",
        "includes wildcard type `user` via relation `group#member`",
        7,
        18,
    ),
    (
        "invalid-arrow-target",
        "definition doc {\n\trelation parent: doc\n\tpermission view = parent->vw\n}",
        "invalid arrow target `vw`",
        3,
        20,
    ),
    (
        "permission-cycle",
        "definition user {}\ndefinition doc {\n\trelation viewer: user\n"
        "\tpermission view = edit\n\tpermission edit = view + viewer\n}",
        "cycle in permissions: view -> edit -> view",
        5,
        20,
    ),
    (
        "permission-self-reference",
        "definition user {}\ndefinition doc {\n\trelation viewer: user\n"
        "\tpermission view = viewer + (nil & view)\n}",
        "cycle in permissions: view -> view",
        4,
        36,
    ),
    (
        "earliest-error-wins",
        "definition doc {\n\trelation viewer: nobody\n\tpermission view = nothing\n}",
        "definition `nobody` not found",
        2,
        19,
    ),
]


@pytest.mark.parametrize(
    ("schema", "fragment", "line", "column"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_invalid_schema_reports_problem_and_position(
    schema: str, fragment: str, line: int, column: int
) -> None:
    with pytest.raises(SchemaError) as caught:
        parse_schema(textwrap.dedent(schema))
    error = caught.value
    assert fragment in error.message
    assert (error.line, error.column) == (line, column), error.message
    assert str(error).startswith(f"{line}:{column}: ")


def test_there_are_plenty_of_error_cases() -> None:
    assert len(CASES) >= 15
    assert len({case[0] for case in CASES}) == len(CASES)
