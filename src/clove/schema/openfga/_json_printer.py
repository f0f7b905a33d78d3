"""OpenFGA's JSON authorization model (schema 1.1) for a schema IR.

The shape is the one OpenFGA's API and tools exchange (``schema_version``,
``type_definitions`` with ``relations`` and ``metadata.relations[*].directly_related_user_types``,
``conditions``), relations and condition parameters in IR order. Unlike the DSL, the JSON
form writes any rewrite tree: ``this`` may appear anywhere and more than once, and may be
subtracted. What no OpenFGA model can express is refused as by the DSL printer.
"""

from __future__ import annotations

import json
from typing import Any

from clove.errors import CloveInternalError
from clove.schema._expressible import members_in_order
from clove.schema.ir import (
    AllowedSubject,
    Arrow,
    Caveat,
    CaveatType,
    Definition,
    Exclusion,
    Expression,
    Intersection,
    Permission,
    Relation,
    RelationRef,
    Schema,
    This,
    Union,
)
from clove.schema.openfga._json_model import parse_openfga_json
from clove.schema.openfga._printer import check_openfga_expressible, check_openfga_rules
from clove.schema.spicedb._checker import in_source_order

TARGET = "an OpenFGA JSON model"


def print_openfga_json(schema: Schema) -> str:
    """The JSON model for ``schema``, indented by two spaces, ending with a newline.

    Raises ``SchemaConversionError`` for constructs OpenFGA cannot express.
    """
    check_openfga_expressible(schema, target=TARGET, language="openfga-json")
    text = json.dumps(openfga_model(schema), indent=2, ensure_ascii=False) + "\n"
    check_openfga_rules(text, parse_openfga_json, target=TARGET, language="openfga-json")
    return text


def openfga_model(schema: Schema) -> dict[str, Any]:
    """The JSON model as Python data (without the expressibility checks)."""
    items = in_source_order(schema)
    model: dict[str, Any] = {
        "schema_version": "1.1",
        "type_definitions": [_type(item) for item in items if isinstance(item, Definition)],
    }
    caveats = [item for item in items if isinstance(item, Caveat)]
    if caveats:
        model["conditions"] = {caveat.name: _condition(caveat) for caveat in caveats}
    return model


def _type(definition: Definition) -> dict[str, Any]:
    members = members_in_order(definition)
    if not members:
        return {"type": definition.name, "relations": {}, "metadata": None}
    return {
        "type": definition.name,
        "relations": {member.name: _member_userset(member) for member in members},
        "metadata": {
            "relations": {
                member.name: {
                    "directly_related_user_types": [
                        _subject(subject)
                        for subject in (member.allowed if isinstance(member, Relation) else ())
                    ]
                }
                for member in members
            }
        },
    }


def _member_userset(member: Relation | Permission) -> dict[str, Any]:
    if isinstance(member, Permission):
        return _userset(member.expression)
    return _userset(member.rewrite if member.rewrite is not None else This())


def _userset(expression: Expression) -> dict[str, Any]:
    match expression:
        case This():
            return {"this": {}}
        case RelationRef(name=name):
            return {"computedUserset": {"object": "", "relation": name}}
        case Arrow(tupleset=tupleset, target=target):
            return {
                "tupleToUserset": {
                    "tupleset": {"object": "", "relation": tupleset},
                    "computedUserset": {"object": "", "relation": target},
                }
            }
        case Union(children=children):
            return {"union": {"child": [_userset(child) for child in children]}}
        case Intersection(children=children):
            return {"intersection": {"child": [_userset(child) for child in children]}}
        case Exclusion(base=base, subtracted=subtracted):
            return {"difference": {"base": _userset(base), "subtract": _userset(subtracted)}}
        case _:
            raise CloveInternalError(f"cannot print {expression!r} in an OpenFGA JSON model")


def _subject(subject: AllowedSubject) -> dict[str, Any]:
    reference: dict[str, Any] = {"type": subject.type}
    if subject.wildcard:
        reference["wildcard"] = {}
    elif subject.relation != "...":
        reference["relation"] = subject.relation
    if subject.caveat is not None:
        reference["condition"] = subject.caveat
    return reference


def _condition(caveat: Caveat) -> dict[str, Any]:
    return {
        "name": caveat.name,
        "expression": caveat.expression,
        "parameters": {
            parameter.name: _parameter_type(parameter.type) for parameter in caveat.parameters
        },
    }


def _parameter_type(parameter_type: CaveatType) -> dict[str, Any]:
    reference: dict[str, Any] = {"type_name": f"TYPE_NAME_{parameter_type.name.upper()}"}
    if parameter_type.args:
        reference["generic_types"] = [_parameter_type(arg) for arg in parameter_type.args]
    return reference
