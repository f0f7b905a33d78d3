"""Hypothesis strategies for Clove's inputs: SpiceDB schemas, relationships valid for a schema,
caveat contexts of the declared types, well-typed CEL, and mutations of any text.

``FUZZ`` is the settings every fuzz property uses: a few derandomized examples, so CI is
deterministic and quick. ``HYPOTHESIS_PROFILE=long`` multiplies the examples by 50 and draws
fresh ones each run (see benchmarks/README.md, "Fuzzing").
"""

from __future__ import annotations

import base64
import functools
import json
import os
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

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
    Union,
)

LONG = os.environ.get("HYPOTHESIS_PROFILE") == "long"


def fuzz_settings(max_examples: int) -> settings:
    """``max_examples`` derandomized examples in CI; 50 times as many, random, when long."""
    return settings(
        max_examples=max_examples * 50 if LONG else max_examples,
        deadline=None,
        derandomize=not LONG,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


# --- names -------------------------------------------------------------------------------

# Never used as names: the keywords, including those of `use expiration`.
RESERVED = {"definition", "caveat", "relation", "permission", "nil", "with", "and", "expiration"}

LOWER = "abcdefghijklmnopqrstuvwxyz"
DIGITS = "0123456789"


def words(
    first: str, rest: str, min_rest: int, max_rest: int, last: str = ""
) -> st.SearchStrategy[str]:
    parts = [st.sampled_from(first), st.text(alphabet=rest, min_size=min_rest, max_size=max_rest)]
    if last:
        parts.append(st.sampled_from(last))
    return st.tuples(*parts).map("".join).filter(lambda name: name not in RESERVED)


member_names = words(LOWER, LOWER + DIGITS + "_", 1, 6, LOWER + DIGITS)
definition_names = st.lists(member_names, min_size=1, max_size=3).map("/".join)
caveat_names = st.lists(
    words(LOWER + LOWER.upper() + "_", LOWER + DIGITS + "_", 0, 6), min_size=1, max_size=2
).map("/".join)
parameter_names = words(LOWER + "_", LOWER + DIGITS + "_", 0, 6)
# Docs as the parser normalises them: trimmed lines, no leading `*` gutter, no `*/`.
docs = st.none() | st.lists(
    words(LOWER, LOWER + " */", 0, 8).map(str.strip).filter(lambda line: "*/" not in line),
    min_size=1,
    max_size=3,
).map("\n".join)

# --- caveat types, values and CEL ----------------------------------------------------------

SCALAR_TYPES = (
    "any",
    "bool",
    "bytes",
    "double",
    "duration",
    "int",
    "ipaddress",
    "string",
    "timestamp",
    "uint",
)
scalar_types = st.sampled_from(SCALAR_TYPES).map(lambda name: CaveatType(name=name))
caveat_types = st.recursive(
    scalar_types,
    lambda inner: st.builds(
        lambda name, arg: CaveatType(name=name, args=(arg,)),
        st.sampled_from(["list", "map"]),
        inner,
    ),
    max_leaves=3,
)

_json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**60), 2**60)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=8,
)
_instants = st.datetimes(
    min_value=datetime(1970, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
)


def _duration_text(seconds: int, millis: int) -> str:
    return f"{seconds}s" if not millis else f"{seconds}.{millis:03d}s"


def values_of(caveat_type: CaveatType) -> st.SearchStrategy[object]:
    """JSON values that convert to ``caveat_type`` (as a request or relationship sends them)."""
    name = caveat_type.name
    if name == "list":
        return st.lists(values_of(caveat_type.args[0]), max_size=3)
    if name == "map":
        return st.dictionaries(st.text(max_size=4), values_of(caveat_type.args[0]), max_size=3)
    match name:
        case "any":
            return _json_values
        case "bool":
            return st.booleans()
        case "bytes":
            return st.binary(max_size=8).map(lambda raw: base64.b64encode(raw).decode())
        case "double":
            return st.floats(allow_nan=False, allow_infinity=False, width=64) | st.integers(
                -(2**53), 2**53
            )
        case "duration":
            return st.builds(_duration_text, st.integers(-(10**6), 10**6), st.integers(0, 999))
        case "int":
            return st.integers(-(2**53), 2**53)
        case "uint":
            return st.integers(0, 2**53)
        case "ipaddress":
            return st.ip_addresses().map(str)
        case "string":
            return st.text(max_size=10)
        case "timestamp":
            return _instants.map(lambda at: at.isoformat().replace("+00:00", "Z"))
    raise ValueError(f"no values for caveat type {caveat_type}")


@st.composite
def contexts(
    draw: st.DrawFn, parameters: Sequence[CaveatParameter], *, complete: bool = False
) -> dict[str, object]:
    """A context giving some (``complete``: all) parameters a value of their type."""
    context: dict[str, object] = {}
    for parameter in parameters:
        if complete or draw(st.booleans()):
            context[parameter.name] = draw(values_of(parameter.type))
    return context


garbage_contexts = st.dictionaries(st.text(max_size=6), _json_values, max_size=4)

# CEL over typed parameters: ``_TERMS[kind]`` builds a term of that kind, given the names of
# the parameters of each kind. Only total operations (no division, no indexing) and literals
# that type-check, so every expression compiles.
_Kinds = Mapping[str, Sequence[str]]


def _kind(caveat_type: CaveatType) -> str:
    if caveat_type.args:
        return f"{caveat_type.name}<{_kind(caveat_type.args[0])}>"
    return "int" if caveat_type.name == "uint" else caveat_type.name


_LITERALS = {
    "bool": ["true", "false"],
    "int": ["0", "1", "-7", "42"],
    "double": ["0.5", "-2.0", "1e3"],
    "string": ["''", "'a'", '"héllo"', "'}{'"],
    "bytes": ["b''", "b'ab'"],
    "duration": ["duration('1h')", "duration('-1.5s')"],
    "timestamp": ["timestamp('2024-01-01T00:00:00Z')"],
    "list<int>": ["[]", "[1, 2, 3]"],
    "list<string>": ["['a', 'b']"],
    "map<int>": ["{'a': 1}"],
}


def _term(draw: st.DrawFn, kind: str, kinds: _Kinds, depth: int) -> str:
    """A CEL term of ``kind`` over the parameters of ``kinds``."""
    choices: list[str] = []
    if kinds.get(kind):
        choices.append("parameter")
    if kind in _LITERALS:
        choices.append("literal")
    if depth < 3:
        choices.extend(_COMPOUND.get(kind, ()))
    if not choices:
        raise ValueError(f"no term of kind {kind}")
    choice = draw(st.sampled_from(choices))
    if choice == "parameter":
        return draw(st.sampled_from(list(kinds[kind])))
    if choice == "literal":
        return draw(st.sampled_from(_LITERALS[kind]))
    rule = _RULES[choice]
    return rule(draw, kinds, depth + 1)


def _sub(kind: str) -> object:
    return lambda draw, kinds, depth: _term(draw, kind, kinds, depth)


def _available(kinds: _Kinds, kind: str) -> bool:
    return bool(kinds.get(kind)) or kind in _LITERALS


def _comparison(draw: st.DrawFn, kinds: _Kinds, depth: int) -> str:
    kind = draw(st.sampled_from(["int", "double", "string", "duration", "timestamp", "bytes"]))
    operator = draw(st.sampled_from(["==", "!=", "<", "<=", ">", ">="]))
    return f"({_term(draw, kind, kinds, depth)} {operator} {_term(draw, kind, kinds, depth)})"


def _list_kind(draw: st.DrawFn, kinds: _Kinds) -> str:
    options = [kind for kind in kinds if kind.startswith("list<") and kinds[kind]]
    return draw(st.sampled_from([*options, "list<int>", "list<string>"]))


def _membership(draw: st.DrawFn, kinds: _Kinds, depth: int) -> str:
    kind = _list_kind(draw, kinds)
    element = kind[5:-1]
    if not _available(kinds, element):
        return "true"
    return f"({_term(draw, element, kinds, depth)} in {_term(draw, kind, kinds, depth)})"


def _quantifier(draw: st.DrawFn, kinds: _Kinds, depth: int) -> str:
    kind = _list_kind(draw, kinds)
    element = kind[5:-1]
    # A name of its own at each depth: CEL lets an inner macro shadow an outer variable.
    variable = f"v{depth}"
    inner = {**kinds, element: [variable]}
    macro = draw(st.sampled_from(["all", "exists", "exists_one"]))
    body = _term(draw, "bool", inner, depth)
    return f"{_term(draw, kind, kinds, depth)}.{macro}({variable}, {body})"


def _map_key(draw: st.DrawFn, kinds: _Kinds, depth: int) -> str:
    options = [kind for kind in kinds if kind.startswith("map<") and kinds[kind]]
    kind = draw(st.sampled_from([*options, "map<int>"]))
    return f"({_term(draw, 'string', kinds, depth)} in {_term(draw, kind, kinds, depth)})"


def _size_of(draw: st.DrawFn, kinds: _Kinds, depth: int) -> str:
    kind = draw(st.sampled_from(["string", "bytes", _list_kind(draw, kinds)]))
    return f"size({_term(draw, kind, kinds, depth)})"


def _in_cidr(draw: st.DrawFn, kinds: _Kinds, depth: int) -> str:
    address = draw(st.sampled_from(list(kinds["ipaddress"])))
    prefix = draw(st.sampled_from(["'10.0.0.0/8'", "'::/0'", "'192.168.1.0/24'"]))
    return f"{address}.in_cidr({prefix})"


_RULES = {
    "not": lambda draw, kinds, depth: f"!({_term(draw, 'bool', kinds, depth)})",
    "and": lambda draw, kinds, depth: (
        f"({_term(draw, 'bool', kinds, depth)} && {_term(draw, 'bool', kinds, depth)})"
    ),
    "or": lambda draw, kinds, depth: (
        f"({_term(draw, 'bool', kinds, depth)} || {_term(draw, 'bool', kinds, depth)})"
    ),
    "ternary": lambda draw, kinds, depth: (
        f"({_term(draw, 'bool', kinds, depth)} ? {_term(draw, 'bool', kinds, depth)}"
        f" : {_term(draw, 'bool', kinds, depth)})"
    ),
    "compare": _comparison,
    "in_list": _membership,
    "in_map": _map_key,
    "quantifier": _quantifier,
    "starts": lambda draw, kinds, depth: (
        f"{_term(draw, 'string', kinds, depth)}.startsWith({_term(draw, 'string', kinds, depth)})"
    ),
    "contains": lambda draw, kinds, depth: (
        f"{_term(draw, 'string', kinds, depth)}.contains({_term(draw, 'string', kinds, depth)})"
    ),
    "in_cidr": _in_cidr,
    "add_int": lambda draw, kinds, depth: (
        f"({_term(draw, 'int', kinds, depth)} + {_term(draw, 'int', kinds, depth)})"
    ),
    "size": _size_of,
    "add_double": lambda draw, kinds, depth: (
        f"({_term(draw, 'double', kinds, depth)} * {_term(draw, 'double', kinds, depth)})"
    ),
    "concat": lambda draw, kinds, depth: (
        f"({_term(draw, 'string', kinds, depth)} + {_term(draw, 'string', kinds, depth)})"
    ),
    "string_of": lambda draw, kinds, depth: f"string({_term(draw, 'int', kinds, depth)})",
    "shift": lambda draw, kinds, depth: (
        f"({_term(draw, 'timestamp', kinds, depth)} + {_term(draw, 'duration', kinds, depth)})"
    ),
    "any_null": lambda draw, kinds, depth: f"({draw(st.sampled_from(list(kinds['any'])))} != null)",
}
_COMPOUND: dict[str, tuple[str, ...]] = {
    "bool": (
        "not",
        "and",
        "or",
        "ternary",
        "compare",
        "in_list",
        "in_map",
        "quantifier",
        "starts",
        "contains",
    ),
    "int": ("add_int", "size"),
    "double": ("add_double",),
    "string": ("concat", "string_of"),
    "timestamp": ("shift",),
}


@st.composite
def cel_expressions(draw: st.DrawFn, parameters: Sequence[CaveatParameter]) -> str:
    """A boolean CEL expression that type-checks against ``parameters``."""
    kinds: dict[str, list[str]] = {}
    for parameter in parameters:
        kinds.setdefault(_kind(parameter.type), []).append(parameter.name)
    extra = []
    if kinds.get("ipaddress"):
        extra.append("in_cidr")
    if kinds.get("any"):
        extra.append("any_null")
    if extra and draw(st.booleans()):
        return str(_RULES[draw(st.sampled_from(extra))](draw, kinds, 1))
    return _term(draw, "bool", kinds, 0)


@st.composite
def caveats(draw: st.DrawFn, name: str, bodies: st.SearchStrategy[str] | None = None) -> Caveat:
    """A caveat with typed parameters and a well-typed expression over them (or one of
    ``bodies``, which need not type-check)."""
    names = draw(st.lists(parameter_names, min_size=1, max_size=4, unique=True))
    parameters = tuple(
        CaveatParameter(name=parameter, type=draw(caveat_types)) for parameter in names
    )
    expression = draw(bodies if bodies is not None else cel_expressions(parameters))
    return Caveat(name=name, parameters=parameters, expression=expression, doc=draw(docs))


# --- schemas -------------------------------------------------------------------------------


def union_of(children: list[Expression]) -> Expression:
    flat: list[Expression] = []
    for child in children:
        flat.extend(child.children if isinstance(child, Union) else [child])
    return Union(children=tuple(flat))


def intersection_of(children: list[Expression]) -> Expression:
    flat: list[Expression] = []
    for child in children:
        flat.extend(child.children if isinstance(child, Intersection) else [child])
    return Intersection(children=tuple(flat))


@functools.cache
def expressions(
    references: tuple[str, ...], tuplesets: tuple[str, ...], targets: tuple[str, ...] = ()
) -> st.SearchStrategy[Expression]:
    """Canonical permission expressions (as the parser builds them) over the given names;
    arrows walk ``tuplesets`` to one of ``targets`` (any name, if none are given)."""
    leaves: st.SearchStrategy[Expression] = st.just(Nil())
    if references:
        leaves = leaves | st.sampled_from(references).map(lambda name: RelationRef(name=name))
    if tuplesets:
        leaves = leaves | st.builds(
            lambda tupleset, target, function: Arrow(
                tupleset=tupleset, target=target, function=function
            ),
            st.sampled_from(tuplesets),
            st.sampled_from(targets) if targets else member_names,
            st.sampled_from(["any", "all"]),
        )
    return st.recursive(
        leaves,
        lambda inner: st.one_of(
            st.lists(inner, min_size=2, max_size=3).map(union_of),
            st.lists(inner, min_size=2, max_size=3).map(intersection_of),
            st.builds(lambda base, sub: Exclusion(base=base, subtracted=sub), inner, inner),
        ),
        max_leaves=6,
    )


@st.composite
def schemas(
    draw: st.DrawFn,
    *,
    cycles: bool = False,
    direct_cycles: bool = False,
    with_caveats: bool = True,
    max_definitions: int = 4,
    caveat_bodies: st.SearchStrategy[str] | None = None,
) -> Schema:
    """Valid SpiceDB schemas by construction.

    Relations named ``pub...`` are the only ones that may allow wildcards; ``type#rel``
    subjects and arrows only use the others, so no wildcard is ever reached transitively.
    Permission ``i`` refers to relations and to permissions before it; with ``cycles``,
    arrows name any member of any definition, so permissions may recurse through data;
    ``direct_cycles`` lets a permission name any member of its definition, itself included
    (an invalid schema when that closes a cycle without an arrow). Caveat expressions are
    well-typed CEL unless ``caveat_bodies`` says otherwise.
    """
    use_expiration = draw(st.booleans())
    names = draw(st.lists(definition_names, min_size=1, max_size=max_definitions, unique=True))
    caveat_list = []
    if with_caveats:
        caveat_list = [
            draw(caveats(name, caveat_bodies))
            for name in draw(
                st.lists(caveat_names.filter(lambda n: n not in names), max_size=2, unique=True)
            )
        ]
    members: dict[str, tuple[list[str], list[str]]] = {}
    for name in names:
        member_list = draw(st.lists(member_names, max_size=6, unique=True))
        split = draw(st.integers(min_value=0, max_value=len(member_list)))
        members[name] = (member_list[:split], member_list[split:])
    every_member = tuple(sorted({m for rels, perms in members.values() for m in rels + perms}))

    definitions = []
    for name in names:
        relation_names, permission_names = members[name]
        relations = tuple(
            Relation(
                name=relation,
                allowed=draw(allowed_subjects(members, caveat_list, use_expiration, relation)),
                doc=draw(docs),
            )
            for relation in relation_names
        )
        tuplesets = tuple(name for name in relation_names if not name.startswith("pub"))
        permissions = []
        for index, permission in enumerate(permission_names):
            visible = permission_names if direct_cycles else permission_names[:index]
            strategy = expressions(
                tuple(relation_names + visible), tuplesets, every_member if cycles else ()
            )
            permissions.append(
                Permission(name=permission, expression=draw(strategy), doc=draw(docs))
            )
        definitions.append(
            Definition(
                name=name, relations=relations, permissions=tuple(permissions), doc=draw(docs)
            )
        )
    return Schema(
        definitions=tuple(definitions), caveats=tuple(caveat_list), use_expiration=use_expiration
    )


@st.composite
def allowed_subjects(
    draw: st.DrawFn,
    members: dict[str, tuple[list[str], list[str]]],
    caveat_list: list[Caveat],
    use_expiration: bool,
    relation: str,
) -> tuple[AllowedSubject, ...]:
    subjects: dict[tuple[str, str, bool, str | None, bool], AllowedSubject] = {}
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        target = draw(st.sampled_from(sorted(members)))
        target_relations, target_permissions = members[target]
        safe = [name for name in target_relations if not name.startswith("pub")]
        kinds = ["plain"]
        if relation.startswith("pub"):
            kinds.append("wildcard")
        if safe or target_permissions:
            kinds.append("subject relation")
        kind = draw(st.sampled_from(kinds))
        subject_relation = ELLIPSIS
        if kind == "subject relation":
            subject_relation = draw(st.sampled_from(safe + target_permissions))
        caveat: str | None = None
        if caveat_list:
            caveat = draw(st.none() | st.sampled_from([c.name for c in caveat_list]))
        expiration = draw(st.booleans()) if use_expiration else False
        subject = AllowedSubject(
            type=target,
            relation=subject_relation,
            wildcard=kind == "wildcard",
            caveat=caveat,
            expiration=expiration,
        )
        key = (target, subject_relation, subject.wildcard, caveat, expiration)
        subjects.setdefault(key, subject)
    return tuple(subjects.values())


# --- relationships ---------------------------------------------------------------------------

OBJECT_IDS = ("a", "b", "c")
FAR_FUTURE = datetime(2300, 1, 1, tzinfo=UTC)


def objects(schema: Schema) -> list[tuple[str, str]]:
    """Every (type, id) the relationship strategies use, in rank order."""
    return [(definition.name, oid) for definition in schema.definitions for oid in OBJECT_IDS]


@st.composite
def relationships(
    draw: st.DrawFn,
    schema: Schema,
    *,
    acyclic: bool = False,
    min_size: int = 0,
    max_size: int = 25,
) -> list[str]:
    """Relationship strings the schema allows, over the ids of ``OBJECT_IDS``.

    Caveated ones carry a context of the caveat's types (complete or not), expiring ones an
    instant in the far future. With ``acyclic``, a relationship's subject always ranks below
    its resource (see ``objects``), so no evaluation can come back to where it started.
    """
    rank = {obj: index for index, obj in enumerate(objects(schema))}
    caveats_by_name = {caveat.name: caveat for caveat in schema.caveats}
    choices: list[tuple[str, str, str, AllowedSubject, str]] = []
    for definition in schema.definitions:
        for relation in definition.relations:
            for allowed in relation.allowed:
                for rid in OBJECT_IDS:
                    sids = ("*",) if allowed.wildcard else OBJECT_IDS
                    for sid in sids:
                        # A wildcard reaches no object, so it closes no cycle.
                        below = sid == "*" or (
                            rank[(allowed.type, sid)] < rank[(definition.name, rid)]
                        )
                        if acyclic and not below:
                            continue
                        choices.append((definition.name, rid, relation.name, allowed, sid))
    if not choices:
        return []
    distinct = len({_key(choice) for choice in choices})
    picked = draw(
        st.lists(
            st.sampled_from(choices),
            min_size=min(min_size, distinct),
            max_size=max_size,
            unique_by=_key,
        )
    )
    texts = []
    for rtype, rid, relation, allowed, sid in picked:
        text = f"{rtype}:{rid}#{relation}@{allowed.type}:{sid}"
        if allowed.relation != ELLIPSIS:
            text += f"#{allowed.relation}"
        if allowed.caveat is not None:
            context = draw(contexts(caveats_by_name[allowed.caveat].parameters))
            text += f"[{allowed.caveat}"
            if context:
                text += ":" + json.dumps(context, separators=(",", ":"))
            text += "]"
        if allowed.expiration:
            at = FAR_FUTURE - timedelta(days=draw(st.integers(0, 1000)))
            text += f"[expiration:{at.isoformat().replace('+00:00', 'Z')}]"
        texts.append(text)
    return texts


def _key(choice: tuple[str, str, str, AllowedSubject, str]) -> tuple[str, ...]:
    rtype, rid, relation, allowed, sid = choice
    return (rtype, rid, relation, allowed.type, sid, allowed.relation)


# --- mutations -------------------------------------------------------------------------------

_NOISE = st.text(
    alphabet=st.sampled_from(list("{}()[]<>#@:;,.*/\\\"'`-+=|&!?$%^~ \n\t\r\x00é\u2028"))
    | st.characters(),
    min_size=1,
    max_size=4,
)


@st.composite
def mutated(draw: st.DrawFn, text: str) -> str:
    """``text`` with a few characters deleted, inserted, replaced or duplicated."""
    for _ in range(draw(st.integers(1, 4))):
        start = draw(st.integers(0, len(text)))
        end = draw(st.integers(start, min(len(text), start + 8)))
        match draw(st.sampled_from(["delete", "insert", "replace", "duplicate"])):
            case "delete":
                text = text[:start] + text[end:]
            case "insert":
                text = text[:start] + draw(_NOISE) + text[start:]
            case "replace":
                text = text[:start] + draw(_NOISE) + text[end:]
            case _:
                text = text[:end] + text[start:end] + text[end:]
    return text
