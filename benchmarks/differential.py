"""Differential testing: random schemas and data, every question asked of Clove and SpiceDB.

Each case is a random schema (``user`` plus 1-3 definitions with relations, subject sets,
wildcards, an optional caveat, and permissions over ``+ & -``, arrows, ``.any``/``.all`` and
``nil``, parenthesised at random) and 10-40 random relationships. Every check,
lookup_resources and lookup_subjects question over the case's objects is put to Clove in
process and to a real embedded SpiceDB (``peer_differential.py`` under ``$PEER_PY``, one
process for the whole run, a fresh SpiceDB per case).

A disagreement is shrunk: relationships are dropped (halves, then one at a time) and the schema
simplified (unused members, definitions and allowed types removed, permissions turned to
``nil`` or to one side of an operator) while the same question still disagrees the same way.
Reproductions that differ only in naming are reported once. A lookup whose differing ids
SpiceDB's own checks answer as Clove does is tagged "SpiceDB's own checks side with Clove".
Schemas or relationships only one side accepts are reported too.

Usage::

    eval "$(../shared/tools/spicedb-peer-setup /tmp/spicedb-peer)"
    .venv/bin/python benchmarks/differential.py --cases 200 --seed 1 [--seed 2 ...]
    .venv/bin/python benchmarks/differential.py --seed 1 --case 17   # one case again

No caveat context is sent, so caveated paths answer ``conditional`` unless the relationship's
own context decides them. Lookup answers are compared as sets; an id (or the wildcard)
SpiceDB lists both as ``has`` and ``conditional`` counts once, as ``has`` (see normalize).
Data is acyclic unless ``--cyclic`` asks for a share of cyclic cases (SpiceDB refuses those
questions with "max depth exceeded", or runs out of time on them).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import random
import re
import select
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import clove

PEER_SCRIPT = Path(__file__).resolve().parent / "peer_differential.py"
REPORT_PATH = Path("/tmp/differential-report.txt")
PEER_LOG_PATH = Path("/tmp/differential-peer.log")

USER = "user"
CAVEAT = "cv"
CAVEAT_TEXT = f"caveat {CAVEAT}(n int) {{\n  n > 3\n}}"
CAVEAT_SUFFIXES = (f"[{CAVEAT}]", f'[{CAVEAT}:{{"n":5}}]', f'[{CAVEAT}:{{"n":1}}]')
DEFINITION_NAMES = ("group", "folder", "document", "team")
RELATION_NAMES = ("member", "owner", "viewer", "editor", "parent", "banned", "reader")
PERMISSION_NAMES = ("view", "edit", "admin", "access", "manage")
ID_POOLS = {
    USER: ("u1", "u2", "u3", "u4"),
    "group": ("g1", "g2", "g3"),
    "folder": ("f1", "f2", "f3"),
    "document": ("d1", "d2", "d3"),
    "team": ("t1", "t2", "t3"),
}
CLOVE_TIMEOUT = 20.0  # seconds per question; a hang in Clove becomes an "error:" answer
KIND_ORDER = {"check": 0, "lr": 1, "ls": 2}

Json = Any


# --- the schema model -----------------------------------------------------------------------
#
# Expressions keep their parenthesisation so that a schema prints the same text every time,
# also after shrinking has rewritten parts of it.


@dataclass(slots=True)
class Name:
    name: str
    paren: bool = False


@dataclass(slots=True)
class Arrow:
    relation: str
    target: str
    form: str  # "->", "any" or "all"
    paren: bool = False


@dataclass(slots=True)
class Nil:
    paren: bool = False


@dataclass(slots=True)
class Binary:
    op: str  # "+", "&" or "-"
    left: Expr
    right: Expr
    paren: bool = False


Expr = Name | Arrow | Nil | Binary


def expr_text(expr: Expr) -> str:
    match expr:
        case Name(name=name):
            inner = name
        case Arrow(relation=relation, target=target, form="->"):
            inner = f"{relation}->{target}"
        case Arrow(relation=relation, target=target, form=form):
            inner = f"{relation}.{form}({target})"
        case Nil():
            inner = "nil"
        case Binary(op=op, left=left, right=right):
            inner = f"{expr_text(left)} {op} {expr_text(right)}"
    return f"({inner})" if expr.paren else inner


def walk(expr: Expr) -> Iterator[Expr]:
    yield expr
    if isinstance(expr, Binary):
        yield from walk(expr.left)
        yield from walk(expr.right)


@dataclass(slots=True)
class Definition:
    name: str
    relations: dict[str, list[str]] = field(default_factory=dict)  # name -> allowed types
    permissions: dict[str, Expr] = field(default_factory=dict)

    def members(self) -> list[str]:
        return [*self.relations, *self.permissions]


@dataclass(slots=True)
class Schema:
    definitions: list[Definition]
    caveat: bool

    def text(self) -> str:
        blocks = [CAVEAT_TEXT] if self.caveat else []
        for definition in self.definitions:
            lines = [f"  relation {n}: {' | '.join(a)}" for n, a in definition.relations.items()]
            lines += [
                f"  permission {n} = {expr_text(e)}" for n, e in definition.permissions.items()
            ]
            body = "".join(f"\n{line}" for line in lines) + "\n" if lines else ""
            blocks.append(f"definition {definition.name} {{{body}}}")
        return "\n\n".join(blocks) + "\n"

    def definition(self, name: str) -> Definition | None:
        return next((d for d in self.definitions if d.name == name), None)


def allowed_target(allowed: str) -> str:
    """The object type a relation's allowed type points at (``group#member`` -> ``group``)."""
    return allowed.partition(" ")[0].partition("#")[0].partition(":")[0]


def subject_set(allowed: str) -> tuple[str, str] | None:
    """(type, member) of a subject-set allowed type such as ``group#member``."""
    type_name, _, member = allowed.partition(" ")[0].partition("#")
    return (type_name, member) if member else None


# --- random generation ----------------------------------------------------------------------


def generate_schema(rng: random.Random) -> Schema:
    names = sorted(rng.sample(DEFINITION_NAMES, rng.randint(1, 3)), key=DEFINITION_NAMES.index)
    schema = Schema([Definition(USER)], caveat=rng.random() < 0.35)
    for name in names:
        definition = Definition(name)
        for relation in rng.sample(RELATION_NAMES, rng.randint(1, 3)):
            definition.relations[relation] = []
        for permission in rng.sample(PERMISSION_NAMES, rng.randint(1, 3)):
            definition.permissions[permission] = Nil()
        schema.definitions.append(definition)
    others = schema.definitions[1:]
    for definition in others:
        for relation in definition.relations:
            definition.relations[relation] = _allowed_types(rng, schema, others)
    _drop_wildcard_subject_sets(schema)
    wild = _wildcard_bearing(schema)
    for definition in others:
        earlier: list[str] = []
        arrows = _arrow_relations(schema, definition, wild)
        for permission in definition.permissions:
            expr = _expression(rng, definition, earlier, arrows, depth=0)
            expr.paren = rng.random() < 0.05
            definition.permissions[permission] = expr
            earlier.append(permission)
    return schema


def _allowed_types(rng: random.Random, schema: Schema, others: list[Definition]) -> list[str]:
    chosen: list[str] = []
    for _ in range(rng.choice((1, 1, 2, 2, 3))):
        kinds = ["user", "wildcard", "object", "subject_set"]
        weights = [5, 1, 2, 3]
        if schema.caveat:
            kinds += ["caveated", "caveated_wildcard", "caveated_subject_set"]
            weights += [2, 0.3, 0.3]
        kind = rng.choices(kinds, weights)[0]
        match kind.removeprefix("caveated_"):
            case "user" | "caveated":
                allowed = USER
            case "wildcard":
                allowed = f"{USER}:*"
            case "object":
                allowed = rng.choice(others).name
            case _:
                target = rng.choice(others)
                allowed = f"{target.name}#{rng.choice(target.members())}"
        if kind.startswith("caveated"):
            allowed += f" with {CAVEAT}"
        if allowed not in chosen:
            chosen.append(allowed)
    return chosen


def _drop_wildcard_subject_sets(schema: Schema) -> None:
    """Both systems refuse a subject set naming a relation that (transitively) allows a
    wildcard: drop such allowed types, and repeat while that changes what reaches one."""
    while True:
        wild = _wildcard_bearing(schema)
        changed = False
        for definition in schema.definitions:
            for relation, allowed_types in definition.relations.items():
                kept = [a for a in allowed_types if subject_set(a) not in wild]
                if kept != allowed_types:
                    definition.relations[relation] = kept or [USER]
                    changed = True
        if not changed:
            return


def _wildcard_bearing(schema: Schema) -> set[tuple[str, str]]:
    """Members that may reach a wildcard through subject sets (both systems ban arrows there).

    A permission counts when any relation of its definition does: an over-approximation.
    """
    wild: set[tuple[str, str]] = set()
    changed = True
    while changed:
        changed = False
        for definition in schema.definitions:
            for relation, allowed_types in definition.relations.items():
                if (definition.name, relation) in wild:
                    continue
                for allowed in allowed_types:
                    if _allows_wildcard(schema, allowed, wild):
                        wild.add((definition.name, relation))
                        changed = True
                        break
    return wild


def _allows_wildcard(schema: Schema, allowed: str, wild: set[tuple[str, str]]) -> bool:
    if ":*" in allowed:
        return True
    pair = subject_set(allowed)
    if pair is None:
        return False
    type_name, member = pair
    target = schema.definition(type_name)
    if target is None:
        return False
    if member in target.relations:
        return (type_name, member) in wild
    return any((type_name, relation) in wild for relation in target.relations)


def _arrow_relations(
    schema: Schema, definition: Definition, wild: set[tuple[str, str]]
) -> dict[str, list[str]]:
    """Relations usable left of an arrow, with the members reachable on their right."""
    arrows: dict[str, list[str]] = {}
    for relation, allowed_types in definition.relations.items():
        if (definition.name, relation) in wild:
            continue
        targets: list[str] = []
        for allowed in allowed_types:
            target = schema.definition(allowed_target(allowed))
            if target is not None:
                targets += [m for m in target.members() if m not in targets]
        if targets:
            arrows[relation] = targets
    return arrows


def _expression(
    rng: random.Random,
    definition: Definition,
    earlier: list[str],
    arrows: dict[str, list[str]],
    depth: int,
) -> Expr:
    if depth < 3 and rng.random() < (0.6, 0.35, 0.2)[depth]:
        left = _expression(rng, definition, earlier, arrows, depth + 1)
        right = _expression(rng, definition, earlier, arrows, depth + 1)
        for child in (left, right):
            if isinstance(child, Binary):
                child.paren = rng.random() < 0.6
            else:
                child.paren = rng.random() < 0.05
        return Binary(rng.choices(("+", "&", "-"), (3, 2, 2))[0], left, right)
    kinds = ["relation", "nil"]
    weights = [4.0, 0.3]
    if earlier:
        kinds.append("permission")
        weights.append(2)
    if arrows:
        kinds.append("arrow")
        weights.append(3)
    match rng.choices(kinds, weights)[0]:
        case "relation":
            return Name(rng.choice(list(definition.relations)))
        case "permission":
            return Name(rng.choice(earlier))
        case "arrow":
            relation = rng.choice(sorted(arrows))
            form = rng.choices(("->", "any", "all"), (3, 1, 1))[0]
            return Arrow(relation, rng.choice(arrows[relation]), form)
        case _:
            return Nil()


def generate_relationships(rng: random.Random, schema: Schema, *, cyclic: bool) -> list[str]:
    """10-40 relationships the schema allows.

    Unless ``cyclic``, objects get a random rank and a relationship only points from an object
    to lower-ranked ones, so the data has no cycles: on cyclic data SpiceDB answers checks with
    "max depth exceeded", and its lookups can run for minutes while eating gigabytes.
    """
    slots = [(d, r) for d in schema.definitions for r in d.relations]
    objects = [f"{d.name}:{i}" for d in schema.definitions[1:] for i in ID_POOLS[d.name]]
    rng.shuffle(objects)
    rank = {obj: position for position, obj in enumerate(objects)}
    wanted = rng.randint(10, 40)
    found: dict[str, str] = {}
    for _ in range(wanted * 6):
        if len(found) >= wanted:
            break
        definition, relation = rng.choice(slots)
        allowed = rng.choice(definition.relations[relation])
        resource = f"{definition.name}:{rng.choice(ID_POOLS[definition.name])}"
        subject, suffix = _subject_for(rng, allowed)
        target = subject.partition("#")[0]
        if not cyclic and target in rank and rank[target] >= rank[resource]:
            continue
        key = f"{resource}#{relation}@{subject}"
        found.setdefault(key, key + suffix)
    return list(found.values())


def _subject_for(rng: random.Random, allowed: str) -> tuple[str, str]:
    type_name = allowed_target(allowed)
    pair = subject_set(allowed)
    if ":*" in allowed:
        subject = f"{type_name}:*"
    elif pair is not None:
        subject = f"{type_name}:{rng.choice(ID_POOLS[type_name])}#{pair[1]}"
    else:
        subject = f"{type_name}:{rng.choice(ID_POOLS[type_name])}"
    suffix = rng.choice(CAVEAT_SUFFIXES) if " with " in allowed else ""
    return subject, suffix


def generate_questions(schema: Schema, relationships: list[str]) -> list[dict[str, str]]:
    """Every check, lookup_resources and lookup_subjects question over the case's objects."""
    subjects = [
        f"{definition.name}:{object_id}"
        for definition in schema.definitions
        for object_id in ID_POOLS[definition.name]
    ]
    for text in relationships:
        subject = text.partition("@")[2].partition("[")[0]
        if "#" in subject and subject not in subjects:
            subjects.append(subject)
    questions: list[dict[str, str]] = []
    for definition in schema.definitions:
        for member in definition.members():
            for object_id in ID_POOLS[definition.name]:
                resource = f"{definition.name}:{object_id}"
                for subject in subjects:
                    questions.append(
                        {
                            "k": "check",
                            "resource": resource,
                            "permission": member,
                            "subject": subject,
                        }
                    )
                for target in schema.definitions:
                    questions.append(
                        {
                            "k": "ls",
                            "resource": resource,
                            "permission": member,
                            "subject_type": target.name,
                        }
                    )
            for subject in subjects:
                questions.append(
                    {"k": "lr", "type": definition.name, "permission": member, "subject": subject}
                )
    return questions


# --- asking Clove ---------------------------------------------------------------------------


def to_relationship(text: str) -> clove.Relationship:
    """A structured relationship, as the peer builds its protobufs (no string parser)."""
    caveat_name = None
    context = None
    if text.endswith("]"):
        text, _, suffix = text[:-1].partition("[")
        caveat_name, _, raw = suffix.partition(":")
        context = json.loads(raw) if raw else None
    resource, _, subject = text.partition("@")
    obj, _, relation = resource.partition("#")
    resource_type, _, resource_id = obj.partition(":")
    subject_obj, _, subject_relation = subject.partition("#")
    subject_type, _, subject_id = subject_obj.partition(":")
    return clove.Relationship(
        resource_type=resource_type,
        resource_id=resource_id,
        relation=relation,
        subject_type=subject_type,
        subject_id=subject_id,
        subject_relation=subject_relation or "...",
        caveat_name=caveat_name,
        caveat_context=context,
    )


@dataclass(slots=True)
class Outcome:
    """One side's answers, or the stage ("schema", "relationships", "peer") that failed."""

    answers: list[Json] = field(default_factory=list)
    failed: str | None = None
    error: str = ""


def ask_clove(
    schema_text: str, relationships: list[str], questions: list[dict[str, str]]
) -> Outcome:
    db = clove.open()
    try:
        try:
            db.write_schema(schema_text)
        except Exception as exc:
            return Outcome(failed="schema", error=f"{type(exc).__name__}: {exc}")
        try:
            db.write_relationships([to_relationship(text) for text in relationships])
        except Exception as exc:
            return Outcome(failed="relationships", error=f"{type(exc).__name__}: {exc}")
        return Outcome(answers=[_clove_answer(db, question) for question in questions])
    finally:
        db.close()


class CloveTimeoutError(Exception):
    """Clove took longer than CLOVE_TIMEOUT seconds on one question."""


def _alarm(signum: int, frame: object) -> None:
    raise CloveTimeoutError(f"no answer within {CLOVE_TIMEOUT}s")


def _clove_answer(db: clove.Database, question: dict[str, str]) -> Json:
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, CLOVE_TIMEOUT)
    try:
        match question["k"]:
            case "check":
                result = db.check(question["resource"], question["permission"], question["subject"])
                return result.permissionship.value
            case "lr":
                found = db.lookup_resources(
                    question["type"], question["permission"], question["subject"]
                )
                return [[r.resource_id, r.permissionship.value] for r in found]
            case _:
                subjects = db.lookup_subjects(
                    question["resource"], question["permission"], question["subject_type"]
                )
                return [
                    [s.subject_id, s.permissionship.value, list(s.excluded_subject_ids)]
                    for s in subjects
                ]
    except Exception as exc:
        return f"error: {type(exc).__name__}: {exc}"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# --- asking SpiceDB -------------------------------------------------------------------------


class Peer:
    """The long-lived peer process; restarted when it dies or stops answering."""

    def __init__(self, python: str, timeout: float) -> None:
        self._python = python
        self._timeout = timeout
        self._process: subprocess.Popen[str] | None = None
        self._log = PEER_LOG_PATH.open("a")
        self.loaded: tuple[str, tuple[str, ...]] | None = None  # schema text and types in force

    def close(self) -> None:
        if self._process is not None:
            assert self._process.stdin is not None
            self._process.stdin.close()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None
        self._log.close()

    def _spawn(self) -> subprocess.Popen[str]:
        self.loaded = None
        self._process = subprocess.Popen(
            [self._python, str(PEER_SCRIPT)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            bufsize=1,
        )
        return self._process

    def _kill(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None
        self.loaded = None

    def request(self, request: dict[str, Any]) -> dict[str, Any]:
        process = self._process
        if process is None or process.poll() is not None:
            process = self._spawn()
        assert process.stdin is not None and process.stdout is not None
        try:
            process.stdin.write(json.dumps(request) + "\n")
            process.stdin.flush()
        except BrokenPipeError:
            self._kill()
            return {"error": f"peer died (see {PEER_LOG_PATH})"}
        ready, _, _ = select.select([process.stdout], [], [], self._timeout)
        if not ready:
            self._kill()
            return {"error": f"peer gave no answer within {self._timeout:.0f}s"}
        line = process.stdout.readline()
        if not line:
            code = process.wait()
            self._kill()
            return {"error": f"peer exited with status {code} (see {PEER_LOG_PATH})"}
        return dict(json.loads(line))

    def ask(
        self,
        schema: Schema,
        relationships: list[str],
        questions: list[dict[str, str]],
        *,
        fresh: bool,
        bulk: bool = False,
    ) -> Outcome:
        """Answers from SpiceDB; ``fresh`` starts a new instance, else the current one is reused.

        ``bulk`` asks all checks in one CheckBulkPermissions call rather than CheckPermission.
        """
        text = schema.text()
        types = tuple(d.name for d in schema.definitions)
        request: dict[str, Any] = {
            "relationships": relationships,
            "questions": questions,
            "bulk": bulk,
        }
        if fresh or self.loaded is None:
            request |= {"op": "case", "schema": text, "types": list(types)}
        else:
            request |= {"op": "rewrite", "types": list(types)}
            if self.loaded[0] != text:
                request["schema"] = text
        reply = self.request(request)
        if "answers" in reply:
            self.loaded = (text, types)
            return Outcome(answers=reply["answers"])
        self.loaded = None
        return Outcome(failed=reply.get("stage", "peer"), error=reply["error"])

    def accepts_schema(self, text: str) -> tuple[bool, str]:
        reply = self.request({"op": "schema", "schema": text})
        return "error" not in reply, reply.get("error", "")


# --- comparing ------------------------------------------------------------------------------


def normalize(question: dict[str, str], answer: Json) -> Json:
    """Lookups as sorted sets in which each resource or subject appears once.

    ``has`` wins over ``conditional`` for one id; several unconditional wildcards become one
    that excludes only what all of them exclude, and a conditional wildcard that excludes at
    least as much as the unconditional one is dropped (SpiceDB may list the wildcard per path).
    """
    if isinstance(answer, str) or question["k"] == "check":
        return answer
    best: dict[str, str] = {}
    wildcards: set[tuple[str, tuple[str, ...]]] = set()
    for item in answer:
        if question["k"] == "ls" and item[0] == "*":
            wildcards.add((item[1], tuple(sorted(item[2]))))
        elif best.get(item[0]) != "has":
            best[item[0]] = item[1]
    if question["k"] == "lr":
        return sorted([[key, value] for key, value in best.items()])
    unconditional = [set(excluded) for perm, excluded in wildcards if perm == "has"]
    if unconditional:
        excluded = set.intersection(*unconditional)
        wildcards = {w for w in wildcards if w[0] != "has" and not excluded <= set(w[1])}
        wildcards.add(("has", tuple(sorted(excluded))))
    entries: list[Json] = sorted([[key, value, []] for key, value in best.items()])
    entries += [["*", perm, list(excluded)] for perm, excluded in sorted(wildcards)]
    return entries


def lookup_statuses(question: dict[str, str], answer: Json) -> dict[str, str] | None:
    """Each concrete id a lookup returned, with its permissionship; None when not comparable
    with checks (an error, or a wildcard that covers ids the lookup does not list)."""
    normal = normalize(question, answer)
    if isinstance(normal, str) or any(item[0] == "*" for item in normal):
        return None
    return {item[0]: item[1] for item in normal}


def check_for(question: dict[str, str], object_id: str) -> tuple[str, str, str]:
    """The check that asks, for one id, what a lookup question asks for all."""
    if question["k"] == "lr":
        return (f"{question['type']}:{object_id}", question["permission"], question["subject"])
    return (question["resource"], question["permission"], f"{question['subject_type']}:{object_id}")


SELF_CONTRADICTION = "SpiceDB's own checks side with Clove"


def companions(question: dict[str, str]) -> list[dict[str, str]]:
    """The checks that ask, one id at a time, what a lookup question asks."""
    if question["k"] == "check":
        return []
    type_name = question["type"] if question["k"] == "lr" else question["subject_type"]
    return [
        {"k": "check", "resource": r, "permission": p, "subject": s}
        for r, p, s in (check_for(question, i) for i in ID_POOLS[type_name])
    ]


def check_index(questions: list[dict[str, str]], answers: list[Json]) -> dict[Any, Json]:
    return {
        (q["resource"], q["permission"], q["subject"]): answer
        for q, answer in zip(questions, answers, strict=True)
        if q["k"] == "check"
    }


def verdict(
    question: dict[str, str], ours: Json, theirs: Json, spicedb_checks: dict[Any, Json]
) -> str | None:
    """None when both agree (or SpiceDB refused), else how they disagree.

    A lookup where SpiceDB's own checks give Clove's answer for every id the two lookups
    disagree on is tagged: SpiceDB contradicts itself there, and Clove matches its checks.
    """
    a = normalize(question, ours)
    b = normalize(question, theirs)
    if isinstance(b, str) and b.startswith("error:"):
        return None
    if a == b:
        return None
    mine = lookup_statuses(question, ours)
    peer = lookup_statuses(question, theirs)
    if question["k"] == "check" or mine is None or peer is None:
        return question["k"]
    differing = {i for i in mine.keys() | peer.keys() if mine.get(i) != peer.get(i)}
    if all(spicedb_checks.get(check_for(question, i)) == mine.get(i, "no") for i in differing):
        return f"{question['k']} ({SELF_CONTRADICTION})"
    return question["k"]


def compare(
    questions: list[dict[str, str]], ours: list[Json], theirs: list[Json]
) -> tuple[dict[int, str], list[int]]:
    """The disagreeing questions (index -> verdict), and the questions only SpiceDB refused."""
    spicedb_checks = check_index(questions, theirs)
    differ: dict[int, str] = {}
    refused: list[int] = []
    for index, question in enumerate(questions):
        a, b = ours[index], theirs[index]
        if isinstance(b, str) and b.startswith("error:"):
            if not (isinstance(a, str) and a.startswith("error:")):
                refused.append(index)
            continue
        found = verdict(question, a, b, spicedb_checks)
        if found is not None:
            differ[index] = found
    return differ, refused


def as_set(question: dict[str, str], answer: Json) -> Json:
    """A lookup answer as a plain set, without normalize's merging of repeated ids."""
    if isinstance(answer, str) or question["k"] == "check":
        return answer
    return {(item[0], item[1], *(tuple(sorted(part)) for part in item[2:])) for item in answer}


def question_text(question: dict[str, str]) -> str:
    match question["k"]:
        case "check":
            return f"check {question['resource']}#{question['permission']}@{question['subject']}"
        case "lr":
            return (
                f"lookup_resources {question['type']}#{question['permission']}"
                f"@{question['subject']}"
            )
        case _:
            return (
                f"lookup_subjects {question['resource']}#{question['permission']}"
                f" -> {question['subject_type']}"
            )


def answer_text(question: dict[str, str], answer: Json) -> str:
    answer = normalize(question, answer)
    if isinstance(answer, str):
        return answer
    if not answer:
        return "(none)"
    parts = []
    for item in answer:
        text = f"{item[0]} {item[1]}"
        if len(item) > 2 and item[2]:
            text += f" (excluding {', '.join(item[2])})"
        parts.append(text)
    return ", ".join(parts)


# --- one case -------------------------------------------------------------------------------


@dataclass(slots=True)
class Case:
    label: str
    schema: Schema
    relationships: list[str]
    questions: list[dict[str, str]]


@dataclass(slots=True)
class Finding:
    """Something to report: a shrunk disagreement, or a setup step only one side refused."""

    label: str
    title: str
    schema_text: str
    relationships: list[str]
    lines: list[str]
    verdicts: frozenset[str] = frozenset()
    size: int = 0
    also: list[str] = field(default_factory=list)  # cases that shrank to the same shape


@dataclass(slots=True)
class Stats:
    cases: int = 0
    cyclic_cases: int = 0
    questions: int = 0
    disagreeing_cases: int = 0
    disagreeing_questions: int = 0
    refused_questions: int = 0
    merged: int = 0
    peer_errors: int = 0
    schema_retries: int = 0
    by_verdict: Counter[str] = field(default_factory=Counter)
    clove_refusals: Counter[str] = field(default_factory=Counter)


def build_case(
    rng: random.Random, label: str, peer: Peer, report: Reporter, *, cyclic_share: float
) -> Case | None:
    """A schema Clove accepts (schemas Clove refuses are offered to SpiceDB too) and data."""
    for _ in range(100):
        schema = generate_schema(rng)
        text = schema.text()
        outcome = ask_clove(text, [], [])
        if outcome.failed is None:
            cyclic = rng.random() < cyclic_share
            report.stats.cyclic_cases += cyclic
            relationships = generate_relationships(rng, schema, cyclic=cyclic)
            return Case(label, schema, relationships, generate_questions(schema, relationships))
        report.stats.schema_retries += 1
        report.stats.clove_refusals[_reason(outcome.error)] += 1
        accepted, _ = peer.accepts_schema(text)
        if accepted:
            title = "schema accepted by SpiceDB, refused by Clove"
            report.add(Finding(label, title, text, [], [f"clove: {outcome.error}"]))
    return None


def _reason(error: str) -> str:
    """An error message without positions and names, to count refusals by kind."""
    words = error.split(": ", 2)[-1].split()
    return " ".join("`…`" if w.startswith("`") else w for w in words)[:90]


def run_case(
    case: Case, peer: Peer, report: Reporter, shrink_budget: list[int], *, bulk: bool
) -> None:
    stats = report.stats
    stats.cases += 1
    text = case.schema.text()
    ours = ask_clove(text, case.relationships, case.questions)
    theirs = peer.ask(case.schema, case.relationships, case.questions, fresh=True, bulk=bulk)
    for rel in case.relationships:
        try:
            clove.parse_relationship(rel)
        except clove.CloveError as exc:
            report.note_once(
                f"Clove's relationship parser refuses {rel!r}, which SpiceDB writes: {exc}",
                key=f"parse:{rel.partition('[')[2][:3]}",
            )
    if ours.failed or theirs.failed:
        _setup_failure(case, ours, theirs, report)
        return
    stats.questions += len(case.questions)
    differ, refused = compare(case.questions, ours.answers, theirs.answers)
    stats.merged += sum(
        as_set(q, a) != as_set(q, b)
        for i, (q, a, b) in enumerate(
            zip(case.questions, ours.answers, theirs.answers, strict=True)
        )
        if i not in differ and i not in refused
    )
    stats.refused_questions += len(refused)
    for index in refused[:1]:
        question = case.questions[index]
        message = str(theirs.answers[index])
        report.note_once(
            f"SpiceDB refused a question Clove answered (case {case.label}, cyclic data?): "
            f"{question_text(question)}: clove {answer_text(question, ours.answers[index])}; "
            f"spicedb {message}",
            key=f"refused:{message[:50]}",
        )
    if not differ:
        return
    stats.disagreeing_cases += 1
    stats.disagreeing_questions += len(differ)
    stats.by_verdict.update(differ.values())
    if shrink_budget[0] <= 0:
        index = min(differ)
        first = case.questions[index]
        lines = [
            f"{len(differ)} questions disagree, e.g. {question_text(first)}",
            f"  clove:   {answer_text(first, ours.answers[index])}",
            f"  spicedb: {answer_text(first, theirs.answers[index])}",
        ]
        title = "disagreement (not shrunk: --shrink budget spent)"
        report.add(Finding(case.label, title, text, case.relationships, lines, size=10**6))
        return
    shrink_budget[0] -= 1
    explained: set[str] = set()
    for index in sorted(differ, key=lambda i: (KIND_ORDER[case.questions[i]["k"]], i)):
        if differ[index] in explained:
            continue
        question = case.questions[index]
        finding = shrink(case, question, differ[index], peer)
        explained.add(differ[index])
        if finding is None and bulk and question["k"] == "check":
            report.note_once(
                f"CheckBulkPermissions and CheckPermission differ in case {case.label}: "
                f"{question_text(question)}: clove {ours.answers[index]}, "
                f"bulk {theirs.answers[index]}",
                key=f"bulk:{case.label}",
            )
        elif finding is not None:
            explained.update(finding.verdicts)
            report.add(finding)


def _setup_failure(case: Case, ours: Outcome, theirs: Outcome, report: Reporter) -> None:
    if theirs.failed == "schema" and ours.failed is None:
        title = "schema accepted by Clove, refused by SpiceDB"
    elif theirs.failed == "relationships" and ours.failed is None:
        title = "relationships accepted by Clove, refused by SpiceDB"
    elif ours.failed == "relationships" and theirs.failed is None:
        title = "relationships accepted by SpiceDB, refused by Clove"
    else:
        title = "peer error"
        report.stats.peer_errors += 1
    lines = []
    if ours.failed:
        lines.append(f"clove ({ours.failed}): {ours.error}")
    if theirs.failed:
        lines.append(f"spicedb ({theirs.failed}): {theirs.error}")
    report.add(Finding(case.label, title, case.schema.text(), case.relationships, lines))


# --- shrinking ------------------------------------------------------------------------------


def shrink(case: Case, question: dict[str, str], wanted: str, peer: Peer) -> Finding | None:
    """Fewer relationships and a simpler schema on which ``question`` still disagrees the
    same way (the same ``verdict``)."""
    asked = [question, *companions(question)]

    def fails(schema: Schema, relationships: list[str]) -> bool:
        text = schema.text()
        ours = ask_clove(text, relationships, asked)
        if ours.failed:
            return False
        theirs = peer.ask(schema, relationships, asked, fresh=False)
        if theirs.failed:
            return False
        checks = check_index(asked, theirs.answers)
        return verdict(question, ours.answers[0], theirs.answers[0], checks) == wanted

    schema = copy.deepcopy(case.schema)
    relationships = list(case.relationships)
    if not fails(schema, relationships):
        return None  # answers are pure, so this would be a bug in the tester
    relationships = shrink_relationships(schema, relationships, fails)
    for _ in range(200):
        smaller = shrink_schema(schema, relationships, question, fails)
        if smaller is None:
            break
        schema = smaller
        relationships = shrink_relationships(schema, relationships, fails)
    return describe(case.label, schema, relationships, peer)


def shrink_relationships(
    schema: Schema, relationships: list[str], fails: Callable[[Schema, list[str]], bool]
) -> list[str]:
    """Drop chunks, then single relationships, while the disagreement persists."""
    chunk = max(1, len(relationships) // 2)
    while True:
        removed = False
        start = 0
        while start < len(relationships):
            candidate = relationships[:start] + relationships[start + chunk :]
            if fails(schema, candidate):
                relationships = candidate
                removed = True
            else:
                start += chunk
        if chunk == 1 and not removed:
            return relationships
        if not removed:
            chunk = max(1, chunk // 2)


def shrink_schema(
    schema: Schema,
    relationships: list[str],
    question: dict[str, str],
    fails: Callable[[Schema, list[str]], bool],
) -> Schema | None:
    """The first simpler schema that still fails, or None when no single step helps."""
    for candidate in schema_candidates(schema, relationships, question):
        if fails(candidate, relationships):
            return candidate
    return None


def schema_candidates(
    schema: Schema, relationships: list[str], question: dict[str, str]
) -> Iterator[Schema]:
    asked = {
        (question.get("type") or question["resource"].partition(":")[0], question["permission"])
    }
    used_types = {question.get("subject", question.get("subject_type", "")).partition(":")[0]}
    used_relations: set[tuple[str, str]] = set()
    used_allowed: set[tuple[str, str, str]] = set()
    for text in relationships:
        resource, _, subject = text.partition("@")
        obj, _, relation = resource.partition("#")
        rtype = obj.partition(":")[0]
        used_relations.add((rtype, relation))
        sobj, _, srel = subject.partition("[")[0].partition("#")
        stype, _, sid = sobj.partition(":")
        shape = f"{stype}:*" if sid == "*" else (f"{stype}#{srel}" if srel else stype)
        if "[" in subject:
            shape += f" with {CAVEAT}"
        used_allowed.add((rtype, relation, shape))
        used_types.update({rtype, stype})
    referenced = _referenced_members(schema)
    # Remove whole members that nothing needs.
    for d_index, definition in enumerate(schema.definitions):
        for permission in definition.permissions:
            key = (definition.name, permission)
            if key not in asked and key not in referenced:
                candidate = copy.deepcopy(schema)
                del candidate.definitions[d_index].permissions[permission]
                yield candidate
        for relation in definition.relations:
            key = (definition.name, relation)
            if key not in asked and key not in referenced and key not in used_relations:
                candidate = copy.deepcopy(schema)
                del candidate.definitions[d_index].relations[relation]
                yield candidate
    # Remove definitions nobody uses.
    for d_index, definition in enumerate(schema.definitions):
        if (
            definition.name not in used_types
            and not definition.members()
            and not any(t == definition.name for t, _ in referenced)
            and not _type_referenced(schema, definition.name)
        ):
            candidate = copy.deepcopy(schema)
            del candidate.definitions[d_index]
            yield candidate
    # Drop unused allowed types.
    for d_index, definition in enumerate(schema.definitions):
        for relation, allowed_types in definition.relations.items():
            if len(allowed_types) < 2:
                continue
            for allowed in allowed_types:
                if (definition.name, relation, allowed) not in used_allowed:
                    candidate = copy.deepcopy(schema)
                    candidate.definitions[d_index].relations[relation].remove(allowed)
                    yield candidate
    if schema.caveat and not any(f" with {CAVEAT}" in shape for *_, shape in used_allowed):
        candidate = copy.deepcopy(schema)
        candidate.caveat = False
        for definition in candidate.definitions:
            for relation, allowed_types in definition.relations.items():
                kept = [a for a in allowed_types if " with " not in a]
                definition.relations[relation] = kept or [USER]
        yield candidate
    # Simplify expressions: a permission becomes nil, a binary node becomes one of its sides.
    for d_index, definition in enumerate(schema.definitions):
        for permission, expr in definition.permissions.items():
            if not isinstance(expr, Nil):
                candidate = copy.deepcopy(schema)
                candidate.definitions[d_index].permissions[permission] = Nil()
                yield candidate
            for path in _binary_paths(expr):
                for side in ("left", "right"):
                    candidate = copy.deepcopy(schema)
                    perms = candidate.definitions[d_index].permissions
                    perms[permission] = _replace_with_side(perms[permission], path, side)
                    yield candidate
            for path in _paren_paths(expr):
                candidate = copy.deepcopy(schema)
                perms = candidate.definitions[d_index].permissions
                node = _at(perms[permission], path)
                node.paren = False
                yield candidate


def _referenced_members(schema: Schema) -> set[tuple[str, str]]:
    """Members named by expressions, arrows or subject-set types anywhere in the schema
    (a relation naming only itself, as in ``relation member: group#member``, does not count)."""
    found: set[tuple[str, str]] = set()
    for definition in schema.definitions:
        for relation, allowed_types in definition.relations.items():
            found.update(
                pair
                for pair in map(subject_set, allowed_types)
                if pair is not None and pair != (definition.name, relation)
            )
        for expr in definition.permissions.values():
            for node in walk(expr):
                if isinstance(node, Name):
                    found.add((definition.name, node.name))
                elif isinstance(node, Arrow):
                    found.add((definition.name, node.relation))
                    for allowed in definition.relations.get(node.relation, []):
                        found.add((allowed_target(allowed), node.target))
    return found


def _type_referenced(schema: Schema, name: str) -> bool:
    return any(
        allowed_target(allowed) == name
        for definition in schema.definitions
        for allowed_types in definition.relations.values()
        for allowed in allowed_types
    )


def _binary_paths(expr: Expr, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    if isinstance(expr, Binary):
        yield path
        yield from _binary_paths(expr.left, (*path, "left"))
        yield from _binary_paths(expr.right, (*path, "right"))


def _paren_paths(expr: Expr, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    if expr.paren and (not path or not isinstance(expr, Binary)):
        yield path  # parentheses that cannot change the meaning
    if isinstance(expr, Binary):
        yield from _paren_paths(expr.left, (*path, "left"))
        yield from _paren_paths(expr.right, (*path, "right"))


def _at(expr: Expr, path: tuple[str, ...]) -> Expr:
    for step in path:
        assert isinstance(expr, Binary)
        expr = getattr(expr, step)
    return expr


def _replace_with_side(expr: Expr, path: tuple[str, ...], side: str) -> Expr:
    node = _at(expr, path)
    assert isinstance(node, Binary)
    replacement: Expr = getattr(node, side)
    replacement.paren = replacement.paren or node.paren
    if not path:
        return replacement
    parent = _at(expr, path[:-1])
    setattr(parent, path[-1], replacement)
    return expr


def describe(label: str, schema: Schema, relationships: list[str], peer: Peer) -> Finding | None:
    """Every question that disagrees on the shrunk case, with both answers."""
    text = schema.text()
    questions = generate_questions(schema, relationships)
    ours = ask_clove(text, relationships, questions)
    theirs = peer.ask(schema, relationships, questions, fresh=True)
    if ours.failed or theirs.failed:
        return None
    differ, _ = compare(questions, ours.answers, theirs.answers)
    if not differ:
        return None
    spicedb_checks = check_index(questions, theirs.answers)
    clove_checks = check_index(questions, ours.answers)
    order = sorted(differ, key=lambda i: (KIND_ORDER[questions[i]["k"]], i))
    lines = []
    for index in order[:8]:
        question = questions[index]
        lines += [
            question_text(question),
            f"  clove:   {answer_text(question, ours.answers[index])}",
            f"  spicedb: {answer_text(question, theirs.answers[index])}",
        ]
        mine = lookup_statuses(question, ours.answers[index]) or {}
        peer_found = lookup_statuses(question, theirs.answers[index]) or {}
        for object_id in sorted(mine.keys() ^ peer_found.keys() | _changed(mine, peer_found)):
            key = check_for(question, object_id)
            lines.append(
                f"  (check {key[0]}#{key[1]}@{key[2]}: clove {clove_checks.get(key)}, "
                f"spicedb {spicedb_checks.get(key)})"
            )
    if len(order) > 8:
        lines.append(f"... and {len(order) - 8} more disagreeing questions")
    verdicts = frozenset(differ.values())
    title = "disagreement: " + "; ".join(
        sorted(verdicts, key=lambda v: KIND_ORDER[v.partition(" ")[0]])
    )
    size = len(relationships) * 10 + len(text)
    return Finding(label, title, text, relationships, lines, verdicts, size)


def _changed(mine: dict[str, str], theirs: dict[str, str]) -> set[str]:
    return {i for i in mine.keys() & theirs.keys() if mine[i] != theirs[i]}


NAME_KINDS = (
    ("T", set(DEFINITION_NAMES)),
    ("m", set(RELATION_NAMES) | set(PERMISSION_NAMES)),
    ("o", {object_id for ids in ID_POOLS.values() for object_id in ids}),
)
WORD = re.compile(r"[a-z][a-z0-9_]*")


def canonical(finding: Finding) -> str:
    """The finding's text with definition, member and object names numbered in order of
    first appearance, so that two reproductions that differ only in naming compare equal."""
    text = "\n".join([finding.title, finding.schema_text, *finding.relationships, *finding.lines])
    renamed: dict[str, str] = {}

    def rename(match: re.Match[str]) -> str:
        word = match.group()
        for prefix, names in NAME_KINDS:
            if word in names:
                count = sum(new.startswith(prefix) for new in renamed.values())
                return renamed.setdefault(word, f"{prefix}{count + 1}")
        return word

    return WORD.sub(rename, text)


# --- the report -----------------------------------------------------------------------------


class Reporter:
    def __init__(self) -> None:
        self.stats = Stats()
        self.findings: list[Finding] = []
        self.notes: dict[str, str] = {}

    def add(self, finding: Finding) -> None:
        """Keep one finding per shape: the same reproduction up to renaming is not news."""
        shape = canonical(finding)
        for seen in self.findings:
            if canonical(seen) == shape:
                seen.also.append(finding.label)
                return
        self.findings.append(finding)

    def note_once(self, text: str, *, key: str) -> None:
        self.notes.setdefault(key, text)

    def render(self, seconds: float, seeds: list[int]) -> str:
        stats = self.stats
        out = [
            "Clove vs SpiceDB differential test",
            f"seeds {', '.join(map(str, seeds))}; {seconds:.0f}s",
            f"cases run:              {stats.cases} ({stats.cyclic_cases} with cyclic data)",
            f"questions compared:     {stats.questions}",
            f"disagreeing questions:  {stats.disagreeing_questions}",
        ]
        out += [f"  {count:6}  {v}" for v, count in sorted(stats.by_verdict.items())]
        out += [
            f"disagreeing cases:      {stats.disagreeing_cases}",
            f"questions only SpiceDB refused (max depth, deadline): {stats.refused_questions}",
            f"lookups equal only once an id listed as has and conditional counts as has: "
            f"{stats.merged}",
            f"cases the peer failed:  {stats.peer_errors}",
            f"schemas Clove refused (regenerated; SpiceDB refused them too unless reported): "
            f"{stats.schema_retries}",
        ]
        out += [f"  {count:6}  {why}" for why, count in stats.clove_refusals.most_common(8)]
        out.append(f"findings:               {len(self.findings)}")
        if self.notes:
            out += ["", "Notes:"]
            out += [f"- {note}" for note in self.notes.values()]
        ordered = sorted(self.findings, key=lambda f: (f.size >= 10**6, bool(f.verdicts), f.size))
        for number, finding in enumerate(ordered, 1):
            cases = f"case {finding.label}"
            if finding.also:
                cases += f"; the same shape in {len(finding.also)} more: {', '.join(finding.also)}"
            out += ["", f"=== {number}. {finding.title} ({cases}) ==="]
            if finding.title == "peer error":  # the case number reproduces it (see --case)
                out += [f"  {line}" for line in finding.lines]
                continue
            out.append("schema:")
            out += [f"  {line}" for line in finding.schema_text.rstrip().splitlines()]
            out.append(f"relationships ({len(finding.relationships)}):")
            out += [f"  {rel}" for rel in finding.relationships]
            out.append("answers:" if finding.verdicts else "details:")
            out += [f"  {line}" for line in finding.lines]
        return "\n".join(out) + "\n"


# --- main -----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=200, help="cases per seed")
    parser.add_argument("--seed", type=int, action="append", help="repeatable; default 0")
    parser.add_argument("--case", type=int, help="run only this case index (to reproduce one)")
    parser.add_argument("--shrink", type=int, default=30, help="disagreeing cases to shrink")
    parser.add_argument(
        "--cyclic",
        type=float,
        default=0.0,
        help="share of cases whose data may have cycles (SpiceDB may time out on them)",
    )
    parser.add_argument(
        "--bulk-checks",
        action="store_true",
        help="ask SpiceDB's checks in one CheckBulkPermissions call per case (about 2x faster;"
        " reproductions are still confirmed with CheckPermission)",
    )
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per peer request")
    parser.add_argument("--peer-python", default=os.environ.get("PEER_PY"))
    parser.add_argument("--report", type=Path, default=REPORT_PATH)
    args = parser.parse_args(argv)
    if not args.peer_python:
        parser.error(
            'no peer: run  eval "$(../shared/tools/spicedb-peer-setup /tmp/spicedb-peer)"  '
            "or pass --peer-python"
        )
    seeds = args.seed or [0]
    report = Reporter()
    peer = Peer(args.peer_python, args.timeout)
    shrink_budget = [args.shrink]
    started = time.perf_counter()
    try:
        for seed in seeds:
            indices = [args.case] if args.case is not None else range(args.cases)
            for index in indices:
                label = f"{seed}/{index}"
                rng = random.Random(label)
                case = None
                try:
                    case = build_case(rng, label, peer, report, cyclic_share=args.cyclic)
                    if case is not None:
                        run_case(case, peer, report, shrink_budget, bulk=args.bulk_checks)
                except Exception as exc:  # a bug in this tester: report it and go on
                    text = case.schema.text() if case else ""
                    rels = case.relationships if case else []
                    lines = [f"{type(exc).__name__}: {exc}"]
                    report.add(Finding(label, "tester error", text, rels, lines))
                done = report.stats.cases
                if done % 25 == 0:
                    print(
                        f"  {done} cases, {report.stats.questions} questions, "
                        f"{report.stats.disagreeing_cases} disagreeing cases, "
                        f"{time.perf_counter() - started:.0f}s",
                        file=sys.stderr,
                    )
    finally:
        peer.close()
    text = report.render(time.perf_counter() - started, seeds)
    args.report.write_text(text)
    print(text)
    print(f"report written to {args.report}", file=sys.stderr)
    return 1 if report.findings else 0


if __name__ == "__main__":
    sys.exit(main())
