"""Every syntax and validation error of the OpenFGA DSL: exact message and 1-based line:column."""

# Each case keeps its model and message on one line each, so that a case reads as a unit.
# ruff: noqa: E501

from __future__ import annotations

import pytest

from clove.errors import SchemaError
from clove.schema.openfga import parse_openfga_dsl

H = "model\n  schema 1.1\ntype user\n"

# (id, model, line, column, message)
CASES = [
    (
        "missing_model",
        "type user\n",
        1,
        1,
        "expected `model` or `module`, found `type`",
    ),
    (
        "schema_1_0",
        "model\n  schema 1.0\ntype user\n",
        2,
        10,
        "unsupported schema version `1.0`: a model must declare `schema 1.1`",
    ),
    (
        "schema_1_2",
        "model\n  schema 1.2\ntype user\n",
        2,
        10,
        "unsupported schema version `1.2`: a model must declare `schema 1.1`",
    ),
    (
        "missing_schema",
        "model\ntype user\n",
        2,
        1,
        "expected `schema`, found `type`",
    ),
    (
        "module_in_dsl",
        "module core\ntype user\n",
        1,
        1,
        "a `module` file is part of a modular model: load it through its fga.mod",
    ),
    (
        "extend_in_model",
        H + "extend type user\n",
        4,
        13,
        "`extend type` is only allowed in a module of a modular model",
    ),
    (
        "mixed_or_and",
        H
        + "type doc\n  relations\n    define a: [user]\n    define b: [user]\n    define c: a or b and a\n",
        8,
        22,
        "cannot mix `or` and `and` without parentheses",
    ),
    (
        "but_not_chain",
        H
        + "type doc\n  relations\n    define a: [user]\n    define b: [user]\n    define c: a but not b but not a\n",
        8,
        27,
        "`but not` takes one operand on each side; add parentheses to combine it",
    ),
    (
        "direct_not_first",
        H + "type doc\n  relations\n    define a: [user]\n    define c: a or [user]\n",
        7,
        20,
        "a direct type restriction `[...]` may only come first in a definition",
    ),
    (
        "direct_in_later_group",
        H + "type doc\n  relations\n    define a: [user]\n    define c: a or ([user] or a)\n",
        7,
        21,
        "a direct type restriction `[...]` may only come first in a definition",
    ),
    (
        "missing_operator",
        H + "type doc\n  relations\n    define a: [user]\n    define c: a a\n",
        7,
        17,
        "expected end of line after the definition of `c`, found `a`",
    ),
    (
        "keyword_as_name",
        H + "type doc\n  relations\n    define or: [user]\n",
        6,
        12,
        "`or` is a keyword and cannot be used as a relation name",
    ),
    (
        "relations_without_define",
        H + "type doc\n  relations\ntype folder\n",
        6,
        1,
        "expected `define`, found `type`",
    ),
    (
        "types_after_conditions",
        H
        + "type doc\n  relations\n    define a: [user with c]\ncondition c(x: int) {\n  x < 1\n}\ntype folder\n",
        10,
        1,
        "types must come before conditions",
    ),
    (
        "unknown_param_type",
        H
        + "type doc\n  relations\n    define a: [user with c]\ncondition c(x: integer) {\n  x < 1\n}\n",
        7,
        16,
        "unknown parameter type `integer` (expected one of bool, double, duration, int, ipaddress, list, map, string, timestamp, uint)",
    ),
    (
        "unclosed_condition",
        H + "type doc\n  relations\n    define a: [user with c]\ncondition c(x: int) {\n  x < 1\n",
        7,
        21,
        "condition expression is missing its closing `}`",
    ),
    (
        "empty_condition",
        H + "type doc\n  relations\n    define a: [user with c]\ncondition c(x: int) {  }\n",
        7,
        21,
        "condition expression is empty",
    ),
    (
        "reserved_type",
        H + "type this\n",
        4,
        6,
        "a type cannot be named `self` or `this`",
    ),
    (
        "reserved_relation",
        H + "type doc\n  relations\n    define self: [user]\n",
        6,
        12,
        "a relation cannot be named `self` or `this`",
    ),
    (
        "long_relation",
        H + "type doc\n  relations\n    define " + "r" * 51 + ": [user]\n",
        6,
        12,
        "relation name `rrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrr` of type `doc` must be 1 to 50 characters other than `:`, `#`, `@` and blanks",
    ),
    (
        "duplicate_type",
        H + "type doc\ntype user\n",
        5,
        6,
        "the type `user` is defined more than once",
    ),
    (
        "duplicate_relation",
        H + "type doc\n  relations\n    define a: [user]\n    define a: [user]\n",
        7,
        12,
        "the relation `a` is defined more than once on type `doc`",
    ),
    (
        "duplicate_condition",
        H
        + "type doc\n  relations\n    define a: [user with c]\ncondition c(x: int) {\n  x < 1\n}\ncondition c(x: int) {\n  x < 2\n}\n",
        10,
        11,
        "the condition `c` is defined more than once",
    ),
    (
        "duplicate_parameter",
        H
        + "type doc\n  relations\n    define a: [user with c]\ncondition c(x: int, x: string) {\n  x < 1\n}\n",
        7,
        21,
        "duplicate parameter `x` on condition `c`",
    ),
    (
        "duplicate_restriction",
        H + "type doc\n  relations\n    define a: [user, user]\n",
        6,
        22,
        "the type restriction `user` appears more than once in relation `a`",
    ),
    (
        "duplicate_operand",
        H + "type doc\n  relations\n    define a: [user]\n    define b: a or a\n",
        7,
        20,
        "the same operand appears twice in the definition of `b`",
    ),
    (
        "undefined_type",
        H + "type doc\n  relations\n    define a: [group]\n",
        6,
        16,
        "the type `group` is not defined (in relation `a` of type `doc`)",
    ),
    (
        "undefined_userset_relation",
        H + "type group\ntype doc\n  relations\n    define a: [group#member]\n",
        7,
        22,
        "`member` is not a relation of type `group` (in relation `a` of type `doc`)",
    ),
    (
        "undefined_condition",
        H + "type doc\n  relations\n    define a: [user with nope]\n",
        6,
        26,
        "the condition `nope` is not defined (in relation `a` of type `doc`)",
    ),
    (
        "undefined_relation",
        H + "type doc\n  relations\n    define a: [user] or nope\n",
        6,
        25,
        "the relation `nope` does not exist on type `doc`",
    ),
    (
        "undefined_tupleset",
        H + "type doc\n  relations\n    define a: viewer from parent\n",
        6,
        27,
        "the relation `parent` does not exist on type `doc`",
    ),
    (
        "tupleset_with_rewrite",
        H
        + "type folder\n  relations\n    define viewer: [user]\ntype doc\n  relations\n    define parent: [folder] or other\n    define other: [folder]\n    define viewer: viewer from parent\n",
        11,
        32,
        "`parent` relation used inside `from` must be a direct relation (only `[...]` type restrictions, no rewrite)",
    ),
    (
        "tupleset_computed",
        H
        + "type folder\n  relations\n    define viewer: [user]\ntype doc\n  relations\n    define other: [folder]\n    define parent: other\n    define viewer: viewer from parent\n",
        11,
        32,
        "`parent` relation used inside `from` must be a direct relation (only `[...]` type restrictions, no rewrite)",
    ),
    (
        "tupleset_userset",
        H
        + "type folder\n  relations\n    define viewer: [user]\ntype doc\n  relations\n    define parent: [folder#viewer]\n    define viewer: viewer from parent\n",
        10,
        32,
        "`parent` relation used inside `from` may only allow plain types, not `folder#viewer`",
    ),
    (
        "tupleset_wildcard",
        H
        + "type folder\n  relations\n    define viewer: [user]\ntype doc\n  relations\n    define parent: [folder:*]\n    define viewer: viewer from parent\n",
        10,
        32,
        "`parent` relation used inside `from` may only allow plain types, not `folder:*`",
    ),
    (
        "arrow_target_missing",
        H
        + "type folder\ntype doc\n  relations\n    define parent: [folder]\n    define viewer: viewer from parent\n",
        8,
        20,
        "the relation `viewer` does not exist on any type of `parent` (`folder`)",
    ),
    (
        "no_entrypoint",
        H + "type group\n  relations\n    define member: [group#member]\n",
        6,
        12,
        "`member` is an impossible relation for `group` (no entrypoint): no stored tuple can ever make a subject a member of it",
    ),
    (
        "loop",
        H + "type doc\n  relations\n    define a: b\n    define b: a\n",
        6,
        12,
        "`a` is an impossible relation for `doc` (potential loop): no stored tuple can ever make a subject a member of it",
    ),
    (
        "intersection_without_entry",
        H + "type doc\n  relations\n    define a: [user]\n    define b: a and c\n    define c: b\n",
        7,
        12,
        "`b` is an impossible relation for `doc` (potential loop): no stored tuple can ever make a subject a member of it",
    ),
    (
        "unused_condition",
        H + "type doc\n  relations\n    define a: [user]\ncondition c(x: int) {\n  x < 1\n}\n",
        7,
        11,
        "the condition `c` is not used in the model",
    ),
    (
        "bad_character",
        H + "type doc!\n",
        4,
        9,
        "unexpected character '!'",
    ),
    (
        "empty_brackets",
        H + "type doc\n  relations\n    define a: []\n",
        6,
        16,
        "expected a type name, found `]`",
    ),
    (
        "but_alone",
        H + "type doc\n  relations\n    define a: [user]\n    define b: [user] but a\n",
        7,
        22,
        "expected end of line after the definition of `b`, found `but`",
    ),
]


@pytest.mark.parametrize(
    ("model", "line", "column", "message"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_error(model: str, line: int, column: int, message: str) -> None:
    with pytest.raises(SchemaError) as caught:
        parse_openfga_dsl(model)
    assert (caught.value.line, caught.value.column, caught.value.message) == (
        line,
        column,
        message,
    )
    assert str(caught.value) == f"{line}:{column}: {message}"
