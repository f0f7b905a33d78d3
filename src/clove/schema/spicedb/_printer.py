"""Canonical SpiceDB schema text for a schema IR.

The layout: ``use expiration`` first if set, then caveats and definitions in source order (by
span; caveats first when positions are unknown), separated by blank lines; inside a definition
relations come before permissions, one per line, indented by a tab. Expressions get only the
parentheses the parser's precedence requires (``+`` binds tightest, then ``&``, then ``-``; all
left-associative).
"""

from __future__ import annotations

from clove.errors import CloveInternalError
from clove.schema.ir import (
    Arrow,
    Caveat,
    Definition,
    Exclusion,
    Expression,
    Intersection,
    Nil,
    Permission,
    Relation,
    RelationRef,
    Schema,
    Union,
)
from clove.schema.spicedb._checker import in_source_order, subject_source

# Binding strength: an operand needs parentheses when it binds less tightly than its slot.
_EXCLUSION = 1
_INTERSECTION = 2
_UNION = 3
_ATOM = 4

_INDENT = "\t"


def print_schema(schema: Schema) -> str:
    """Canonical text for ``schema``; ``parse_schema`` of it gives back an equal schema."""
    blocks = ["use expiration"] if schema.use_expiration else []
    for item in in_source_order(schema):
        if isinstance(item, Caveat):
            blocks.append(_print_caveat(item))
        else:
            blocks.append(_print_definition(item))
    return "\n\n".join(blocks) + "\n" if blocks else ""


def _print_doc(doc: str | None, indent: str) -> str:
    if not doc:
        return ""
    lines = doc.replace("*/", "* /").splitlines()
    if len(lines) == 1:
        return f"{indent}/** {lines[0]} */\n"
    body = "".join(f"{indent} *{' ' + line if line else ''}\n" for line in lines)
    return f"{indent}/**\n{body}{indent} */\n"


def _print_caveat(caveat: Caveat) -> str:
    parameters = ", ".join(f"{parameter.name} {parameter.type}" for parameter in caveat.parameters)
    # Only the first line is indented: later lines belong to the CEL source and are kept as is.
    return (
        f"{_print_doc(caveat.doc, '')}caveat {caveat.name}({parameters}) {{\n"
        f"{_INDENT}{caveat.expression}\n}}"
    )


def _print_definition(definition: Definition) -> str:
    header = f"{_print_doc(definition.doc, '')}definition {definition.name} {{"
    members = [_print_relation(relation) for relation in definition.relations]
    members += [_print_permission(permission) for permission in definition.permissions]
    if not members:
        return header + "}"
    return header + "\n" + "\n".join(members) + "\n}"


def _print_relation(relation: Relation) -> str:
    subjects = " | ".join(subject_source(subject) for subject in relation.allowed)
    return f"{_print_doc(relation.doc, _INDENT)}{_INDENT}relation {relation.name}: {subjects}"


def _print_permission(permission: Permission) -> str:
    expression = _print_expression(permission.expression)
    return (
        f"{_print_doc(permission.doc, _INDENT)}{_INDENT}permission {permission.name} = {expression}"
    )


def _print_expression(expression: Expression) -> str:
    match expression:
        case Union(children=(only,)) | Intersection(children=(only,)):
            return _print_expression(only)
        case Union(children=children):
            return _join(children, " + ", _ATOM, "union")
        case Intersection(children=children):
            return _join(children, " & ", _UNION, "intersection")
        case Exclusion(base=base, subtracted=subtracted):
            left = _print_operand(base, _EXCLUSION)
            return f"{left} - {_print_operand(subtracted, _INTERSECTION)}"
        case RelationRef(name=name):
            return name
        case Arrow(tupleset=tupleset, target=target, function="any"):
            return f"{tupleset}->{target}"
        case Arrow(tupleset=tupleset, target=target, function=function):
            return f"{tupleset}.{function}({target})"
        case Nil():
            return "nil"
        case _:
            raise CloveInternalError(f"unknown expression node {expression!r}")


def _join(children: tuple[Expression, ...], operator: str, slot: int, kind: str) -> str:
    if not children:
        raise ValueError(f"cannot print an empty {kind}")
    return operator.join(_print_operand(child, slot) for child in children)


def _print_operand(expression: Expression, slot: int) -> str:
    text = _print_expression(expression)
    return text if _binding(expression) >= slot else f"({text})"


def _binding(expression: Expression) -> int:
    match expression:
        case Union(children=(only,)) | Intersection(children=(only,)):
            return _binding(only)
        case Union():
            return _UNION
        case Intersection():
            return _INTERSECTION
        case Exclusion():
            return _EXCLUSION
        case _:
            return _ATOM
