"""Agreement with every check and lookup a real SpiceDB computed over its validation files."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import clove
from conformance_data import conformance_files, require_conformance

FILES = conformance_files("spicedb-golden", "*.json")


def _distinct(entries: list[Any]) -> list[Any]:
    """SpiceDB's answers, each entry once.

    SpiceDB streams a caveated result once per branch that reaches it, so two of its golden
    lookups list the same entry twice (same id, same permissionship); Clove answers each once.
    """
    seen: list[Any] = []
    for entry in entries:
        if entry not in seen:
            seen.append(entry)
    return seen


def _disagreements(db: clove.Database, document: dict[str, Any]) -> list[str]:
    wrong = []
    for resource, permission, subject, expected in document["checks"]:
        got = db.check(resource, permission, subject, consistency="full").permissionship
        if got != expected:
            wrong.append(f"check {resource}#{permission}@{subject}: {got}, SpiceDB {expected}")
    for lookup in document["lookups"]:
        if lookup[0] == "resources":
            _, resource_type, permission, subject, expected = lookup
            got = [
                [r.resource_id, str(r.permissionship)]
                for r in db.lookup_resources(resource_type, permission, subject, consistency="full")
            ]
        else:
            _, resource, permission, subject_type, expected = lookup
            got = [
                [s.subject_id, str(s.permissionship), list(s.excluded_subject_ids)]
                for s in db.lookup_subjects(resource, permission, subject_type, consistency="full")
            ]
        if got != _distinct(expected):
            wrong.append(f"{lookup[:4]}: {got}, SpiceDB {expected}")
    return wrong


@pytest.mark.parametrize("path", FILES, ids=[path.name.split(".")[0] for path in FILES])
def test_golden(path: Path, open_database: Callable[[], clove.Database]) -> None:
    require_conformance()
    golden = json.loads(path.read_text())
    wrong = []
    for document in golden["documents"]:
        with open_database() as db:
            db.write_schema(document["schema"])
            if document["relationships"]:
                db.write_relationships(document["relationships"])
            wrong.extend(_disagreements(db, document))
    assert not wrong, f"{len(wrong)} disagreements:\n" + "\n".join(wrong[:40])
