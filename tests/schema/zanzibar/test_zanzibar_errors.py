"""Every Zanzibar config error: its exact message and line:column."""

from __future__ import annotations

import pytest

from clove.errors import SchemaError
from clove.schema.zanzibar import parse_zanzibar

CASES = [
    # --- text format ---
    ('name: "doc"\nrelation {\n  name: "a"\n', 2, 10, "`{` is never closed"),
    ('name: "doc"\n}\n', 2, 1, "unexpected `}`: no block is open"),
    ('name: "doc" relation { name: "a" } }', 1, 36, "unexpected `}`: no block is open"),
    ('name: "doc"\nrelation { name: "a }', 2, 18, "unterminated string"),
    ('name: "doc" % ', 1, 13, "unexpected character '%'"),
    ('name "doc"', 1, 6, 'expected `:` or `{` after `name`, found `"doc"`'),
    ("name:", 1, 6, "expected a value for `name`, found the end of the text"),
    ('{ name: "doc" }', 1, 1, "expected a field name, found `{`"),
    ('name: "d\\q"', 1, 9, "unknown escape sequence `\\q` in a string"),
    # --- fields ---
    (
        'name: "doc"\nnamez: "x"',
        2,
        1,
        "unknown field `namez` in `namespace config` (expected `name`, `relation`)",
    ),
    (
        'name: "doc" relation { name: "a" owner: "b" }',
        1,
        34,
        "unknown field `owner` in `relation` (expected `name`, `userset_rewrite`)",
    ),
    ("name: doc", 1, 1, '`name` takes a quoted string, e.g. `name: "doc"`'),
    ('name: "doc" relation: "a"', 1, 13, "`relation` must be a block: `relation { ... }`"),
    ('name: "doc" relation { name: "a" name: "b" }', 1, 34, "`name` is set twice in `relation`"),
    ('name: "doc" relation { }', 1, 13, "`relation` has no `name`"),
    ('relation { name: "a" }', 1, 1, "`namespace config` has no `name`"),
    ('namespace { relation { name: "a" } }', 1, 1, "`namespace config` has no `name`"),
    # --- several namespaces ---
    (
        'namespace { name: "a1" }\nname: "b"',
        2,
        1,
        "`name` outside a `namespace { ... }` block:"
        " in a file of namespace blocks, every field belongs to a block",
    ),
    ('namespace: "a"', 1, 1, "`namespace` must be a block: `namespace { ... }`"),
    (
        'relation { name: "x" }\nname: "a"\nname: "b"',
        1,
        1,
        "`relation` before the first"
        " `name`: when a file holds several namespace configs one after the other, each one"
        " starts with its `name`",
    ),
    ('name: "doc"\nname: "doc"', 2, 7, "namespace `doc` is defined twice (first at 1:7)"),
    (
        'name: "doc"\nrelation { name: "a" }\nrelation { name: "a" }',
        3,
        18,
        "relation `a` is defined twice in namespace `doc` (first at 2:18)",
    ),
    (
        'name: "Doc"',
        1,
        7,
        "invalid namespace name `Doc`: use a-z, 0-9 and _, starting with a"
        " letter (parts separated by /)",
    ),
    (
        'name: "d\\"oc"',
        1,
        7,
        'invalid namespace name `d"oc`: use a-z, 0-9 and _, starting'
        " with a letter (parts separated by /)",
    ),
    (
        'name: "doc" relation { name: "1st" }',
        1,
        30,
        "invalid relation name `1st`: use a-z, 0-9 and _, starting with a letter",
    ),
    # --- rewrites ---
    (
        'name: "doc" relation { name: "a" userset_rewrite { } }',
        1,
        34,
        "empty"
        " `userset_rewrite`: expected one of `union`, `intersection`, `exclusion`, `_this`,"
        " `computed_userset`, `tuple_to_userset`",
    ),
    (
        'name: "doc" relation { name: "a" userset_rewrite { union { } } }',
        1,
        52,
        "`union` needs at least one `child`",
    ),
    (
        'name: "doc" relation { name: "a" userset_rewrite { union { } intersection { } } }',
        1,
        62,
        "`userset_rewrite` holds exactly one of `union`, `intersection`, `exclusion`,"
        " `_this`, `computed_userset`, `tuple_to_userset`; found `union` and `intersection`",
    ),
    (
        'name: "doc" relation { name: "a" userset_rewrite { difference { } } }',
        1,
        52,
        "unknown field `difference` in `userset_rewrite` (expected `union`, `intersection`,"
        " `exclusion`, `_this`, `computed_userset`, `tuple_to_userset`)",
    ),
    (
        'name: "doc" relation { name: "a" userset_rewrite { union { kid { } } } }',
        1,
        60,
        "unknown field `kid` in `union` (expected `child`)",
    ),
    (
        'name: "doc" relation { name: "a" userset_rewrite { union { child { } } } }',
        1,
        60,
        "empty `child`: expected one of `_this`, `computed_userset`, `tuple_to_userset`,"
        " `userset_rewrite`, `union`, `intersection`, `exclusion`",
    ),
    (
        'name: "doc"\nrelation { name: "a" userset_rewrite {\n'
        " exclusion { child { _this {} } } } }",
        3,
        2,
        "`exclusion` needs exactly two children, the base and then the subtracted set; found 1",
    ),
    (
        'name: "doc" relation { name: "a" userset_rewrite { _this { x: "y" } } }',
        1,
        60,
        "`_this` takes no fields; found `x`",
    ),
    (
        'name: "doc" relation { name: "a" userset_rewrite { _this: "x" } }',
        1,
        52,
        "`_this` must be a block: `_this { ... }`",
    ),
    # --- references ---
    (
        'name: "doc"\nrelation { name: "a" userset_rewrite { computed_userset {\n'
        ' relation: "owner" } } }',
        3,
        12,
        "relation `owner` not found in namespace `doc`",
    ),
    (
        'name: "doc" relation { name: "a" userset_rewrite { computed_userset { } } }',
        1,
        52,
        "`computed_userset` has no `relation`",
    ),
    (
        'name: "doc" relation { name: "a" }\nrelation { name: "b" userset_rewrite {'
        ' tuple_to_userset {\n tupleset { relation: "parent" }\n'
        " computed_userset { object: $TUPLE_USERSET_OBJECT"
        ' relation: "a" } } } }',
        3,
        23,
        "relation `parent` not found in namespace `doc` (tupleset of a tuple_to_userset)",
    ),
    (
        'name: "doc" relation { name: "p" }\nrelation { name: "b" userset_rewrite {\n'
        ' tuple_to_userset { tupleset { relation: "p" } computed_userset {\n'
        ' object: $TUPLE_USERSET_OBJECT relation: "nope" } } } }',
        4,
        42,
        "relation `nope`"
        " (computed_userset of a tuple_to_userset) is not defined by any namespace of the file",
    ),
    (
        'name: "doc" relation { name: "p" userset_rewrite { union { child { _this {} }\n'
        ' child { computed_userset { relation: "b" } } } } }\nrelation { name: "b" userset_rewrite'
        ' { tuple_to_userset { tupleset { relation: "p" } computed_userset { object:'
        ' $TUPLE_USERSET_OBJECT relation: "b" } } } }',
        3,
        80,
        "tupleset `p` must be a relation"
        " of stored tuples alone (no userset_rewrite other than `_this`)",
    ),
    (
        'name: "doc" relation { name: "a" userset_rewrite { tuple_to_userset {\n'
        ' tupleset { relation: "a" } } } }',
        1,
        52,
        "`tuple_to_userset` has no `computed_userset`",
    ),
    (
        'name: "doc" relation { name: "a" userset_rewrite { tuple_to_userset {\n'
        ' computed_userset { object: $TUPLE_USERSET_OBJECT relation: "a" } } } }',
        1,
        52,
        "`tuple_to_userset` has no `tupleset`",
    ),
    (
        'name: "doc" relation { name: "a" userset_rewrite { tuple_to_userset {\n'
        ' tupleset { } computed_userset { relation: "a" } } } }',
        2,
        2,
        "`tupleset` has no `relation`",
    ),
    (
        'name: "doc"\nrelation { name: "a" userset_rewrite { union { child { _this {} }\n'
        ' child { computed_userset { relation: "b" } } } } }\nrelation { name: "b"'
        ' userset_rewrite { computed_userset { relation: "a" } } }',
        4,
        69,
        "relation `a` of namespace `doc` contains itself through computed_usersets (a -> b ->"
        " a); recursion needs a tuple_to_userset",
    ),
    # --- $TUPLE_USERSET_OBJECT ---
    (
        'name: "doc" relation { name: "a" }\nrelation { name: "b" userset_rewrite {'
        ' computed_userset {\n object: $TUPLE_USERSET_OBJECT relation: "a" } } }',
        3,
        2,
        "`object: $TUPLE_USERSET_OBJECT` belongs only in the computed_userset of a"
        " tuple_to_userset",
    ),
    (
        'name: "doc" relation { name: "a" userset_rewrite { tuple_to_userset {\n'
        ' tupleset { relation: "a" }\n computed_userset { relation: "a" } } } }',
        3,
        2,
        "the"
        " computed_userset of a tuple_to_userset needs `object: $TUPLE_USERSET_OBJECT` (the"
        " object the tupleset points to)",
    ),
    (
        'name: "doc" relation { name: "a" userset_rewrite { tuple_to_userset {\n'
        ' tupleset { relation: "a" }\n computed_userset { object: $OBJECT relation: "a" } } } }',
        3,
        29,
        "`object` takes `$TUPLE_USERSET_OBJECT`, found `$OBJECT`",
    ),
    (
        'name: "doc" relation { name: "a" userset_rewrite { tuple_to_userset {\n'
        ' tupleset { relation: "a" }\n computed_userset { object: "doc" relation: "a" } } } }',
        3,
        29,
        '`object` takes `$TUPLE_USERSET_OBJECT`, found `"doc"`',
    ),
]


@pytest.mark.parametrize(
    ("text", "line", "column", "message"), CASES, ids=[case[3][:50] for case in CASES]
)
def test_error_message_and_position(text: str, line: int, column: int, message: str) -> None:
    with pytest.raises(SchemaError) as raised:
        parse_zanzibar(text)
    assert (raised.value.message, raised.value.line, raised.value.column) == (
        message,
        line,
        column,
    )
