"""Valid SpiceDB schemas and the IR they must compile to."""

from __future__ import annotations

import time

import pytest

from clove.schema.ir import (
    ELLIPSIS,
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
    Span,
    Union,
)
from clove.schema.spicedb import parse_schema


def ref(name: str) -> RelationRef:
    return RelationRef(name=name)


def user(**kwargs: object) -> AllowedSubject:
    return AllowedSubject(type="user", **kwargs)  # type: ignore[arg-type]


USER = Definition(name="user")


def expression_of(text: str, relations: str = "aaa bbb ccc ddd eee") -> Expression:
    """The IR of ``text`` as the expression of a permission over plain relations."""
    body = "".join(f"relation {name}: user\n" for name in relations.split())
    schema = parse_schema(
        f"definition user {{}}\ndefinition doc {{\n{body}permission perm = {text}\n}}"
    )
    definition = schema.definition("doc")
    assert definition is not None
    return definition.permissions[0].expression


# --- whole schemas ----------------------------------------------------------------------

BASIC = """
definition user {}

definition document {
	relation writer: user
	relation reader: user
	permission write = writer
	permission view = reader + write
}
"""

BASIC_IR = Schema(
    definitions=(
        USER,
        Definition(
            name="document",
            relations=(
                Relation(name="writer", allowed=(user(),)),
                Relation(name="reader", allowed=(user(),)),
            ),
            permissions=(
                Permission(name="write", expression=ref("writer")),
                Permission(name="view", expression=Union(children=(ref("reader"), ref("write")))),
            ),
        ),
    )
)

SUBJECT_TYPES = """
use expiration

caveat foo/bar/only_on_tuesday(day_of_week string) {
	day_of_week == 'tuesday'
}

definition org/team/user {}
definition group {
	relation member: org/team/user | group#member | group#...
}
definition document {
	relation viewer: org/team/user:* | group#member with foo/bar/only_on_tuesday
	relation editor: org/team/user with expiration
		| org/team/user:* with foo/bar/only_on_tuesday and expiration
}
"""

SUBJECT_TYPES_IR = Schema(
    use_expiration=True,
    caveats=(
        Caveat(
            name="foo/bar/only_on_tuesday",
            parameters=(CaveatParameter(name="day_of_week", type=CaveatType(name="string")),),
            expression="day_of_week == 'tuesday'",
        ),
    ),
    definitions=(
        Definition(name="org/team/user"),
        Definition(
            name="group",
            relations=(
                Relation(
                    name="member",
                    allowed=(
                        AllowedSubject(type="org/team/user"),
                        AllowedSubject(type="group", relation="member"),
                        AllowedSubject(type="group", relation=ELLIPSIS),
                    ),
                ),
            ),
        ),
        Definition(
            name="document",
            relations=(
                Relation(
                    name="viewer",
                    allowed=(
                        AllowedSubject(type="org/team/user", wildcard=True),
                        AllowedSubject(
                            type="group", relation="member", caveat="foo/bar/only_on_tuesday"
                        ),
                    ),
                ),
                Relation(
                    name="editor",
                    allowed=(
                        AllowedSubject(type="org/team/user", expiration=True),
                        AllowedSubject(
                            type="org/team/user",
                            wildcard=True,
                            caveat="foo/bar/only_on_tuesday",
                            expiration=True,
                        ),
                    ),
                ),
            ),
        ),
    ),
)

ONE_LINE = (
    "definition user {} definition folder { relation parent: folder relation viewer: user"
    " permission view = viewer + parent->view } definition doc { relation folder: folder"
    " permission view = folder.all(view) permission none = nil }"
)

ONE_LINE_IR = Schema(
    definitions=(
        USER,
        Definition(
            name="folder",
            relations=(
                Relation(name="parent", allowed=(AllowedSubject(type="folder"),)),
                Relation(name="viewer", allowed=(user(),)),
            ),
            permissions=(
                Permission(
                    name="view",
                    expression=Union(
                        children=(ref("viewer"), Arrow(tupleset="parent", target="view"))
                    ),
                ),
            ),
        ),
        Definition(
            name="doc",
            relations=(Relation(name="folder", allowed=(AllowedSubject(type="folder"),)),),
            permissions=(
                Permission(
                    name="view",
                    expression=Arrow(tupleset="folder", target="view", function="all"),
                ),
                Permission(name="none", expression=Nil()),
            ),
        ),
    )
)

CAVEATS = """
caveat typed(
	a int, b uint, c bool, d string, e double, f bytes, g duration, h timestamp,
	i list<string>, j map<list<int>>, k ipaddress, l any
) {
	a > 1 && j["x"][0] == 2
}
caveat nested_braces(m map<any>) {
	{"key": {"inner": "}"}} == m || m == {'}': 1} || m.size() == 0
}
"""

CAVEATS_IR = Schema(
    caveats=(
        Caveat(
            name="typed",
            parameters=tuple(
                CaveatParameter(name=name, type=caveat_type)
                for name, caveat_type in [
                    ("a", CaveatType(name="int")),
                    ("b", CaveatType(name="uint")),
                    ("c", CaveatType(name="bool")),
                    ("d", CaveatType(name="string")),
                    ("e", CaveatType(name="double")),
                    ("f", CaveatType(name="bytes")),
                    ("g", CaveatType(name="duration")),
                    ("h", CaveatType(name="timestamp")),
                    ("i", CaveatType(name="list", args=(CaveatType(name="string"),))),
                    (
                        "j",
                        CaveatType(
                            name="map",
                            args=(CaveatType(name="list", args=(CaveatType(name="int"),)),),
                        ),
                    ),
                    ("k", CaveatType(name="ipaddress")),
                    ("l", CaveatType(name="any")),
                ]
            ),
            expression='a > 1 && j["x"][0] == 2',
        ),
        Caveat(
            name="nested_braces",
            parameters=(
                CaveatParameter(
                    name="m", type=CaveatType(name="map", args=(CaveatType(name="any"),))
                ),
            ),
            expression=("""{"key": {"inner": "}"}} == m || m == {'}': 1} || m.size() == 0"""),
        ),
    )
)

COMMENTS = """
// a line comment
/* a block
   comment */
definition user {} /* trailing */ // another
/** A document. */
definition document { // opens
    /**
     * Who may read.
     * Second line.
     */
    relation\treader:\tuser;
    // not a doc comment
    permission view = reader; ;
}
"""

COMMENTS_IR = Schema(
    definitions=(
        USER,
        Definition(
            name="document",
            relations=(Relation(name="reader", allowed=(user(),)),),
            permissions=(Permission(name="view", expression=ref("reader")),),
        ),
    )
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(BASIC, BASIC_IR, id="basic"),
        pytest.param(SUBJECT_TYPES, SUBJECT_TYPES_IR, id="subject-types"),
        pytest.param(ONE_LINE, ONE_LINE_IR, id="one-line"),
        pytest.param(CAVEATS, CAVEATS_IR, id="caveats"),
        pytest.param(COMMENTS, COMMENTS_IR, id="comments"),
        pytest.param("", Schema(), id="empty"),
        pytest.param("  // only a comment\n", Schema(), id="only-comment"),
    ],
)
def test_schema_compiles_to_expected_ir(text: str, expected: Schema) -> None:
    assert parse_schema(text) == expected


def test_doc_comments_attach_to_the_next_item() -> None:
    schema = parse_schema(COMMENTS)
    document = schema.definition("document")
    assert document is not None
    assert document.doc == "A document."
    assert document.relations[0].doc == "Who may read.\nSecond line."
    assert document.permissions[0].doc is None
    assert schema.definitions[0].doc is None


def test_spans_point_at_names_and_operands() -> None:
    schema = parse_schema(
        "definition user {}\ndefinition doc {\n"
        "\trelation viewer: user | user:*\n"
        "\tpermission view = viewer - nil\n}"
    )
    document = schema.definitions[1]
    assert document.span == Span(line=2, column=12)
    relation = document.relations[0]
    assert relation.span == Span(line=3, column=11)
    assert [subject.span for subject in relation.allowed] == [
        Span(line=3, column=19),
        Span(line=3, column=26),
    ]
    expression = document.permissions[0].expression
    assert isinstance(expression, Exclusion)
    assert expression.span == Span(line=4, column=20)
    assert expression.subtracted.span == Span(line=4, column=29)


def test_caveat_expression_is_raw_stripped_text_with_its_position() -> None:
    text = (
        "caveat is_ok(name string, flag bool) {\n"
        "\t  // leading comment\n"
        '\t  name == "a}b" && // inner\n'
        "\t\tflag  \n"
        "}\n"
    )
    caveat = parse_schema(text).caveats[0]
    assert caveat.expression == 'name == "a}b" && // inner\n\t\tflag'
    assert caveat.expression_span == Span(line=3, column=4)
    assert caveat.span == Span(line=1, column=8)


@pytest.mark.parametrize(
    ("body", "expression"),
    [
        (r'"a\"}" == name', r'"a\"}" == name'),
        ("'''multi\n}line''' == name", "'''multi\n}line''' == name"),
        ('"""}""" == name', '"""}""" == name'),
        (r"r'\' == name || name == '}'", r"r'\' == name || name == '}'"),
        (r'b"}" == bytes(name)', r'b"}" == bytes(name)'),
        # Like SpiceDB, comments before the first and after the last token are not kept.
        ("name == 'x' // } in a comment\n", "name == 'x'"),
    ],
)
def test_braces_inside_cel_strings_and_comments_do_not_end_the_body(
    body: str, expression: str
) -> None:
    caveat = parse_schema(f"caveat is_ok(name string) {{ {body} }}").caveats[0]
    assert caveat.expression == expression


# --- expressions: precedence and associativity as SpiceDB's parser has them -----------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("aaa", ref("aaa")),
        ("nil", Nil()),
        ("aaa + bbb + ccc", Union(children=(ref("aaa"), ref("bbb"), ref("ccc")))),
        ("aaa & bbb & ccc", Intersection(children=(ref("aaa"), ref("bbb"), ref("ccc")))),
        (
            "aaa - bbb - ccc",
            Exclusion(
                base=Exclusion(base=ref("aaa"), subtracted=ref("bbb")), subtracted=ref("ccc")
            ),
        ),
        # `+` binds tighter than `-`: a - b + c is a - (b + c).
        (
            "aaa - bbb + ccc",
            Exclusion(base=ref("aaa"), subtracted=Union(children=(ref("bbb"), ref("ccc")))),
        ),
        (
            "aaa + bbb - ccc",
            Exclusion(base=Union(children=(ref("aaa"), ref("bbb"))), subtracted=ref("ccc")),
        ),
        # `+` binds tighter than `&`.
        (
            "aaa + bbb & ccc",
            Intersection(children=(Union(children=(ref("aaa"), ref("bbb"))), ref("ccc"))),
        ),
        (
            "aaa & bbb + ccc",
            Intersection(children=(ref("aaa"), Union(children=(ref("bbb"), ref("ccc"))))),
        ),
        # `&` binds tighter than `-`.
        (
            "aaa - bbb & ccc",
            Exclusion(base=ref("aaa"), subtracted=Intersection(children=(ref("bbb"), ref("ccc")))),
        ),
        (
            "aaa & bbb - ccc",
            Exclusion(base=Intersection(children=(ref("aaa"), ref("bbb"))), subtracted=ref("ccc")),
        ),
        # Parentheses override; same-kind groups collapse into one node, like SpiceDB's compiler.
        (
            "aaa - (bbb - ccc)",
            Exclusion(
                base=ref("aaa"), subtracted=Exclusion(base=ref("bbb"), subtracted=ref("ccc"))
            ),
        ),
        (
            "(aaa + bbb) + (ccc + (ddd))",
            Union(children=(ref("aaa"), ref("bbb"), ref("ccc"), ref("ddd"))),
        ),
        (
            "aaa & (bbb & ccc) & ddd",
            Intersection(children=(ref("aaa"), ref("bbb"), ref("ccc"), ref("ddd"))),
        ),
        (
            "(aaa - bbb) & ccc",
            Intersection(children=(Exclusion(base=ref("aaa"), subtracted=ref("bbb")), ref("ccc"))),
        ),
        (
            "aaa->ddd + bbb.any(ddd) & ccc.all(ddd)",
            Intersection(
                children=(
                    Union(
                        children=(
                            Arrow(tupleset="aaa", target="ddd"),
                            Arrow(tupleset="bbb", target="ddd"),
                        )
                    ),
                    Arrow(tupleset="ccc", target="ddd", function="all"),
                )
            ),
        ),
        ("((nil))", Nil()),
        (
            "aaa -\n bbb\n + ccc",
            Exclusion(base=ref("aaa"), subtracted=Union(children=(ref("bbb"), ref("ccc")))),
        ),
    ],
)
def test_expression_precedence(text: str, expected: Expression) -> None:
    assert expression_of(text) == expected


def test_expressions_may_not_nest_without_limit() -> None:
    deep = "(" * 101 + "aaa" + ")" * 101
    assert expression_of("(" * 100 + "aaa" + ")" * 100) == ref("aaa")
    with pytest.raises(Exception, match="more than 100 deep"):
        expression_of(deep)


def test_keywords_of_use_expiration_are_plain_names_without_it() -> None:
    schema = parse_schema(
        "caveat expiration(and int) { and > 1 }\n"
        "definition user {}\ndefinition doc { relation viewer: user with expiration }"
    )
    assert schema.caveats[0].parameters[0].name == "and"
    doc = schema.definition("doc")
    assert doc is not None
    assert doc.relations[0].allowed[0] == AllowedSubject(type="user", caveat="expiration")


def test_any_and_all_are_plain_names() -> None:
    schema = parse_schema(
        "definition user {}\ndefinition doc {\n relation any: doc\n relation all: user\n"
        " permission view = any.all(all) + all\n}"
    )
    doc = schema.definition("doc")
    assert doc is not None
    assert doc.permissions[0].expression == Union(
        children=(Arrow(tupleset="any", target="all", function="all"), ref("all"))
    )


def test_arrow_target_may_be_missing_on_the_subject_types() -> None:
    # SpiceDB does not check the right side of an arrow against the tupleset's subject types.
    schema = parse_schema(
        "definition user {}\ndefinition doc {\n relation owner: user\n"
        " permission view = owner->missing\n}"
    )
    assert schema.definitions[1].permissions[0].expression == Arrow(
        tupleset="owner", target="missing"
    )


def test_recursion_through_arrows_and_subject_relations_is_allowed() -> None:
    parse_schema(
        "definition user {}\n"
        "definition group { relation member: user | group#member\n"
        " permission members = member + parent->members\n relation parent: group }\n"
        "definition doc { relation viewer: doc#viewer | user\n permission view = viewer }"
    )


def test_wildcard_through_own_subject_relation_is_allowed() -> None:
    # SpiceDB applies the transitive wildcard rule only to other definitions' relations.
    parse_schema(
        "definition user {}\ndefinition doc {\n relation public: user:*\n"
        " relation viewer: doc#public\n}"
    )


def _definitions(count: int) -> str:
    parts = ["definition user {}"]
    for index in range(count):
        parent = f"doc{index - 1}" if index else "user"
        parts.append(
            f"definition doc{index} {{\n\trelation parent: {parent}\n\trelation viewer: user"
            f" | doc{index}#viewer\n\tpermission view = viewer + parent->view - (viewer & nil)\n}}"
        )
    return "\n".join(parts)


def test_parsing_grows_linearly_with_the_definitions() -> None:
    # Four times the definitions, about four times the CPU time (quadratic would be 16x);
    # compared within one run, so a busy machine slows both sides alike.
    small, large = _definitions(250), _definitions(1000)

    def cpu(text: str) -> float:
        best = float("inf")
        for _ in range(3):
            start = time.process_time()
            parse_schema(text)
            best = min(best, time.process_time() - start)
        return best

    assert len(parse_schema(large).definitions) == 1001
    ratio = cpu(large) / max(cpu(small), 1e-6)
    assert ratio < 8, f"4x the definitions took {ratio:.1f}x the time"
