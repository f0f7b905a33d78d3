"""SpiceDB validation files: schema, relationships, assertions and expected relations.

(``run_validation_file`` also runs OpenFGA test files, recognised by their top-level
``tests:``, through ``clove.openfga_tests``; both count into one ``Report``.)

A file holds one or more YAML documents, each with ``schema`` (or ``schemaFile``),
``relationships`` (one per line), ``assertions`` (``assertTrue`` / ``assertFalse`` /
``assertCaveated``, each ``resource#permission@subject [with {json context}]``) and an
optional ``validation`` block mapping ``resource#permission`` to the expected subjects.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from clove.database import Database, Permissionship
from clove.errors import CloveError, InvalidInputError

_EXPECTATIONS = {
    "assertTrue": Permissionship.HAS,
    "assertFalse": Permissionship.NO,
    "assertCaveated": Permissionship.CONDITIONAL,
}
_ASSERTION_RE = re.compile(
    r"^(?P<resource>[^#\s]+)#(?P<permission>[^@\s]+)@(?P<subject>\S+?)(?:\s+with\s+(?P<context>\{.*\}))?\s*$",
    re.DOTALL,
)
_EXPECTED_SUBJECT_RE = re.compile(r"^\s*\[(?P<subject>[^\]\[]+(?:\[\.\.\.\])?)(?P<rest>[^\]]*)\]")


@dataclass(frozen=True, slots=True)
class Outcome:
    """One assertion or validation entry and how it went."""

    file: str
    document: int
    kind: str
    text: str
    passed: bool
    expected: str = ""
    actual: str = ""
    error: str = ""


@dataclass(slots=True)
class Report:
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def passed(self) -> int:
        return sum(1 for outcome in self.outcomes if outcome.passed)

    @property
    def failed(self) -> int:
        return sum(1 for outcome in self.outcomes if not outcome.passed)

    @property
    def ok(self) -> bool:
        return self.failed == 0

    def as_json(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "failed": self.failed,
            "failures": [
                {
                    "file": o.file,
                    "document": o.document,
                    "kind": o.kind,
                    "assertion": o.text,
                    "expected": o.expected,
                    "actual": o.actual,
                    "error": o.error,
                }
                for o in self.outcomes
                if not o.passed
            ],
        }


def run_validation_file(
    path: str | Path, *, open_database: Callable[[], Database] | None = None
) -> Report:
    """Run every document of the file at ``path``, each on a fresh database."""
    import clove

    opener = open_database or (lambda: clove.open("memory"))
    source = Path(path)
    report = Report()
    try:
        documents = list(yaml.safe_load_all(source.read_text()))
    except (OSError, yaml.YAMLError) as error:
        report.outcomes.append(
            Outcome(str(source), 0, "file", str(source), False, error=str(error))
        )
        return report
    if len(documents) == 1 and _is_openfga_tests(documents[0]):
        from clove.openfga_tests import run_openfga_tests

        tests = documents[0]["tests"]
        return run_openfga_tests(tests, file=str(source), open_database=open_database)
    for index, document in enumerate(d for d in documents if d is not None):
        with opener() as db:
            report.outcomes.extend(_run_document(db, source, index, document))
    return report


def _is_openfga_tests(document: object) -> bool:
    """An OpenFGA test file (``tests:`` with ``stages``) rather than a SpiceDB document."""
    from clove.openfga_tests import is_openfga_tests

    return is_openfga_tests(document)


def _run_document(db: Database, source: Path, index: int, document: Any) -> Iterator[Outcome]:
    name = str(source)
    if not isinstance(document, dict):
        yield Outcome(name, index, "document", "", False, error="a document must be a mapping")
        return
    try:
        schema = document.get("schema")
        if schema is None and "schemaFile" in document:
            schema = (source.parent / str(document["schemaFile"])).read_text()
        if not schema:
            raise InvalidInputError("the document has no schema")
        db.write_schema(str(schema))
        lines = [line.strip() for line in str(document.get("relationships") or "").splitlines()]
        relationships = [line for line in lines if line and not line.startswith("//")]
        if relationships:
            db.write_relationships(relationships)
    except (CloveError, OSError) as error:
        yield Outcome(name, index, "setup", "", False, error=str(error))
        return
    assertions = document.get("assertions") or {}
    for kind, expected in _EXPECTATIONS.items():
        for text in assertions.get(kind) or ():
            yield _run_assertion(db, name, index, kind, str(text), expected)
    for key, subjects in (document.get("validation") or {}).items():
        yield _run_expected_relation(db, name, index, str(key), subjects or [])


def _run_assertion(
    db: Database, name: str, index: int, kind: str, text: str, expected: Permissionship
) -> Outcome:
    match = _ASSERTION_RE.match(text.strip())
    if match is None:
        return Outcome(name, index, kind, text, False, expected, error="malformed assertion")
    try:
        context = json.loads(match["context"]) if match["context"] else None
        result = db.check(
            match["resource"],
            match["permission"],
            match["subject"],
            context=context,
            consistency="full",
        )
    except (CloveError, json.JSONDecodeError) as error:
        return Outcome(name, index, kind, text, False, expected, error=str(error))
    actual = result.permissionship
    return Outcome(name, index, kind, text, actual is expected, expected, actual)


def _found_subjects(db: Database, resource: str, permission: str) -> set[str]:
    """Every subject of ``resource#permission`` as SpiceDB's validation lists them.

    As in SpiceDB's fully recursive expansion, subject sets met on the way
    (``group:eng#member``) are listed as well as the objects inside them; a wildcard is
    written ``user:* - {user:a, user:b}`` with what it excludes; ``[...]`` marks a
    conditional subject.
    """
    found = set()
    for definition in db.schema(consistency="full").definitions:
        relations = [None] + [r.name for r in definition.relations]
        relations += [p.name for p in definition.permissions]
        for relation in relations:
            suffix = f"#{relation}" if relation else ""
            for subject in db.lookup_subjects(
                resource,
                permission,
                definition.name,
                subject_relation=relation,
                consistency="full",
            ):
                text = f"{definition.name}:{subject.subject_id}{suffix}"
                if subject.excluded_subject_ids:
                    excluded = ", ".join(
                        f"{definition.name}:{sid}" for sid in subject.excluded_subject_ids
                    )
                    text += f" - {{{excluded}}}"
                if subject.permissionship is Permissionship.CONDITIONAL:
                    text += "[...]"
                found.add(text)
    return found


def _run_expected_relation(
    db: Database, name: str, index: int, key: str, subjects: list[Any]
) -> Outcome:
    """Compare the subjects of ``resource#permission`` (every subject type) with the list."""
    resource, _, permission = key.partition("#")
    expected = set()
    for entry in subjects:
        match = _EXPECTED_SUBJECT_RE.match(str(entry))
        if match is None:
            return Outcome(
                name, index, "validation", key, False, error=f"malformed entry {entry!r}"
            )
        expected.add(match["subject"].strip())
    try:
        actual = _found_subjects(db, resource, permission)
    except CloveError as error:
        return Outcome(name, index, "validation", key, False, error=str(error))
    return Outcome(
        name,
        index,
        "validation",
        key,
        expected == actual,
        ", ".join(sorted(expected)),
        ", ".join(sorted(actual)),
    )
