"""OpenFGA DSL (schema 1.1) for a schema IR.

Layout: the ``model`` header, then each type in source order (``type user``; relations under
``relations`` as ``define name: ...``), then conditions; docs become ``#`` comments.
The DSL gives its operators no precedence: ``a or b and c`` is an error. Every operand that is
itself an ``or``/``and``/``but not`` is therefore parenthesised, which also keeps the IR's
tree shape. The DSL further requires a relation's direct type restriction (``[user, ...]``,
the IR's ``This``) at most once and first: inside a union or intersection the operand holding
it is written first (both are commutative), and it must sit in the base of a ``but not``.

What the OpenFGA model cannot express is refused with ``SchemaConversionError``: ``nil``,
``.all()`` arrows, expiring relationships, arrows over permissions or rewritten relations,
caveat parameters of type ``bytes`` or ``any`` (DSL), nested generics, and names the DSL cannot
spell.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from clove.errors import CloveInternalError, SchemaConversionError, SchemaError
from clove.schema._expressible import (
    check_rewrites_and_arrows,
    count_this,
    members_in_order,
    subexpressions,
)
from clove.schema.ir import (
    ELLIPSIS,
    AllowedSubject,
    Arrow,
    Caveat,
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
from clove.schema.openfga._dsl import parse_openfga_dsl
from clove.schema.openfga._dsl_parser import RESERVED_WORDS
from clove.schema.spicedb._checker import in_source_order, subject_source

TARGET = "the OpenFGA DSL"
# Relation names OpenFGA reserves.
RESERVED_RELATIONS = frozenset({"self", "this"})
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_DSL_PARAMETER_TYPES = frozenset(
    {"bool", "string", "int", "uint", "double", "duration", "timestamp", "ipaddress"}
)
_INDENT = "  "

# Builds the error for (construct, where, what cannot be written).
_Refuse = Callable[[str, str, str, str], SchemaConversionError]


def print_openfga_dsl(schema: Schema) -> str:
    """OpenFGA DSL text for ``schema``; the OpenFGA DSL parser gives an equal schema back.

    Raises ``SchemaConversionError`` for constructs the DSL cannot express.
    """
    check_openfga_expressible(schema, target=TARGET, language="openfga")
    blocks = ["model\n  schema 1.1"]
    items = in_source_order(schema)
    blocks += [_type(item) for item in items if isinstance(item, Definition)]
    blocks += [_condition(item) for item in items if isinstance(item, Caveat)]
    text = "\n\n".join(blocks) + "\n"
    check_openfga_rules(text, parse_openfga_dsl, target=TARGET, language="openfga")
    return text


def check_openfga_rules(
    text: str, parse: Callable[[str], Schema], *, target: str, language: str
) -> None:
    """Hold the printed model to OpenFGA's own validation (as the OpenFGA parser applies it).

    The checks above name the constructs OpenFGA lacks; this catches the rest of OpenFGA's
    model rules (unused conditions, relations no tuple can reach, repeated operands ...).
    """
    try:
        parse(text)
    except SchemaError as error:
        where = f" (line {error.line} of the converted model)" if error.line else ""
        raise SchemaConversionError(
            f"cannot write the schema in {target}: {error.message}{where}",
            construct="OpenFGA model rule",
            where=f"{error.line}:{error.column}",
            target=language,
        ) from None


# --- what OpenFGA can express ------------------------------------------------------------


def check_openfga_expressible(schema: Schema, *, target: str, language: str) -> None:
    """Refuse what an OpenFGA model (DSL or JSON, as ``language`` says) cannot express."""
    dsl = language == "openfga"
    check_rewrites_and_arrows(schema, target)

    def refuse(construct: str, where: str, what: str, reason: str) -> SchemaConversionError:
        return SchemaConversionError(
            f"cannot write {what} in {target}: {reason}",
            construct=construct,
            where=where,
            target=language,
        )

    for caveat in schema.caveats:
        _check_name(caveat.name, "condition", caveat.name, dsl, refuse)
        for parameter in caveat.parameters:
            problem = _parameter_type_problem(parameter.type, dsl=dsl)
            if problem is not None:
                raise refuse(
                    "condition parameter type",
                    caveat.name,
                    f"parameter `{parameter.name}: {parameter.type}` of condition `{caveat.name}`",
                    problem,
                )
    for definition in schema.definitions:
        _check_name(definition.name, "type", definition.name, dsl, refuse)
        for member in members_in_order(definition):
            where = f"{definition.name}#{member.name}"
            _check_name(member.name, "relation", where, dsl, refuse)
            if member.name in RESERVED_RELATIONS:
                raise refuse(
                    "reserved name",
                    where,
                    f"relation `{where}`",
                    f"OpenFGA reserves the name `{member.name}`",
                )
        for relation in definition.relations:
            _check_subjects(definition, relation, refuse)
        for member in members_in_order(definition):
            expression = member.rewrite if isinstance(member, Relation) else member.expression
            if expression is not None:
                _check_expression(definition, member, expression, dsl, refuse)


def _check_name(name: str, kind: str, where: str, dsl: bool, refuse: _Refuse) -> None:
    if dsl and (_IDENTIFIER.fullmatch(name) is None or name in RESERVED_WORDS):
        raise refuse(
            "name",
            where,
            f"{kind} name `{name}`",
            "the DSL spells names with letters, digits, _ and - (starting with a letter or _),"
            " and not as keywords",
        )
    if not dsl and (not name or re.search(r"[:#@\s]", name) or len(name) > 254):
        raise refuse(
            "name", where, f"{kind} name `{name}`", "OpenFGA names exclude : # @ and spaces"
        )


def _check_subjects(definition: Definition, relation: Relation, refuse: _Refuse) -> None:
    where = f"{definition.name}#{relation.name}"
    if not relation.allowed:
        raise refuse(
            "relation without subject types",
            where,
            f"relation `{where}`",
            "it allows no subject type",
        )
    for subject in relation.allowed:
        if subject.expiration:
            raise refuse(
                "expiration",
                where,
                f"`{subject_source(subject)}` on relation `{where}`",
                "OpenFGA relationships do not expire",
            )


def _check_expression(
    definition: Definition,
    member: Relation | Permission,
    expression: Expression,
    dsl: bool,
    refuse: _Refuse,
) -> None:
    where = f"{definition.name}#{member.name}"
    for node in subexpressions(expression):
        if isinstance(node, Nil):
            raise refuse("nil", where, f"`nil` in `{where}`", "OpenFGA has no empty set")
        if isinstance(node, Arrow) and node.function == "all":
            raise refuse(
                "all arrow",
                where,
                f"the arrow `{node.tupleset}.all({node.target})` of `{where}`",
                "OpenFGA's `from` is satisfied by any related object, never by all of them",
            )
        if isinstance(node, Arrow):
            _check_tupleset(definition, where, node, refuse)
        if isinstance(node, Union | Intersection) and not node.children:
            raise refuse(
                "empty set operation",
                where,
                f"an empty set operation in `{where}`",
                "OpenFGA needs at least one operand",
            )
    if dsl and isinstance(member, Relation) and expression is not None:
        if count_this(expression) > 1:
            raise refuse(
                "direct type restriction twice",
                where,
                f"relation `{where}`",
                "the DSL writes its direct type restriction once (the JSON form allows more)",
            )
        if not _this_can_lead(expression):
            raise refuse(
                "subtracted direct type restriction",
                where,
                f"relation `{where}`",
                "the DSL cannot subtract the direct type restriction (`... but not [types]`);"
                " the JSON form can",
            )


def _check_tupleset(definition: Definition, where: str, arrow: Arrow, refuse: _Refuse) -> None:
    tupleset = definition.relation(arrow.tupleset)
    if tupleset is None:
        return  # a permission or a missing name: check_rewrites_and_arrows words it
    for subject in tupleset.allowed:
        if subject.wildcard or subject.relation != ELLIPSIS:
            raise refuse(
                "arrow over subject sets",
                where,
                f"`{arrow.target} from {arrow.tupleset}` in `{where}`",
                f"OpenFGA's `from` needs a relation of plain types, and"
                f" `{definition.name}#{arrow.tupleset}` allows `{subject_source(subject)}`",
            )


def _this_can_lead(expression: Expression) -> bool:
    """Whether the DSL can write ``This`` first, as its grammar demands."""
    match expression:
        case This():
            return True
        case Union(children=children) | Intersection(children=children):
            return any(count_this(child) and _this_can_lead(child) for child in children)
        case Exclusion(base=base):
            return count_this(base) > 0 and _this_can_lead(base)
        case _:
            return False


def _parameter_type_problem(parameter_type: CaveatType, *, dsl: bool) -> str | None:
    name = parameter_type.name
    if name in ("list", "map"):
        (element,) = parameter_type.args
        if element.args:
            return "OpenFGA has no nested generic types"
        return _parameter_type_problem(element, dsl=dsl)
    if name in _DSL_PARAMETER_TYPES or (name == "any" and not dsl):
        return None
    return f"OpenFGA conditions have no `{name}` parameters"


# --- text --------------------------------------------------------------------------------


def _comment(doc: str | None, indent: str) -> str:
    if not doc:
        return ""
    return "".join(f"{indent}#{' ' + line if line else ''}\n" for line in doc.splitlines())


def _type(definition: Definition) -> str:
    text = f"{_comment(definition.doc, '')}type {definition.name}"
    members = members_in_order(definition)
    if not members:
        return text
    lines = [text, f"{_INDENT}relations"]
    lines += [_define(member) for member in members]
    return "\n".join(lines)


def _define(member: Relation | Permission) -> str:
    indent = _INDENT * 2
    if isinstance(member, Relation):
        expression: Expression = member.rewrite if member.rewrite is not None else This()
        body = _expression(expression, member.allowed)
    else:
        body = _expression(member.expression, ())
    return f"{_comment(member.doc, indent)}{indent}define {member.name}: {body}"


def _expression(expression: Expression, allowed: tuple[AllowedSubject, ...]) -> str:
    match expression:
        case Union(children=(only,)) | Intersection(children=(only,)):
            return _expression(only, allowed)
        case Union(children=children):
            return " or ".join(_operand(child, allowed) for child in _this_first(children))
        case Intersection(children=children):
            return " and ".join(_operand(child, allowed) for child in _this_first(children))
        case Exclusion(base=base, subtracted=subtracted):
            return f"{_operand(base, allowed)} but not {_operand(subtracted, allowed)}"
        case This():
            return "[" + ", ".join(subject_source(subject) for subject in allowed) + "]"
        case RelationRef(name=name):
            return name
        case Arrow(tupleset=tupleset, target=target):
            return f"{target} from {tupleset}"
        case _:
            raise CloveInternalError(f"cannot print {expression!r} in the OpenFGA DSL")


def _operand(expression: Expression, allowed: tuple[AllowedSubject, ...]) -> str:
    match expression:
        case Union(children=(only,)) | Intersection(children=(only,)):
            return _operand(only, allowed)
        case Union() | Intersection() | Exclusion():
            return f"({_expression(expression, allowed)})"
        case _:
            return _expression(expression, allowed)


def _this_first(children: tuple[Expression, ...]) -> list[Expression]:
    return sorted(children, key=lambda child: count_this(child) == 0)


def _condition(caveat: Caveat) -> str:
    parameters = ", ".join(f"{parameter.name}: {parameter.type}" for parameter in caveat.parameters)
    return (
        f"{_comment(caveat.doc, '')}condition {caveat.name}({parameters}) {{\n"
        f"{_INDENT}{caveat.expression}\n}}"
    )
