"""OpenFGA test files: models, tuples and assertions in OpenFGA's own test-suite format.

A file holds ``tests:``, each a ``name`` and ``stages``. A stage writes its ``model`` (the
OpenFGA DSL) and its ``tuples``, then asks ``checkAssertions`` (``tuple`` → ``expectation``
true/false), ``listObjectsAssertions`` (``request`` user/type/relation → ``expectation``
objects; Clove's lookup_resources) and ``listUsersAssertions`` (``request``
object/relation/``filters`` → ``expectation`` users; Clove's lookup_subjects). Any assertion
may carry ``contextualTuples`` and ``context``, and may expect an ``errorCode`` instead of
a result. Each test runs on a fresh database; the stages of a test share it, as they share
one store in OpenFGA.

This module sits beside ``validationfile`` (SpiceDB's format) and reports in the same
``Report``, so ``clove validate`` counts the assertions of both formats together. Clove's
errors become OpenFGA's error codes here, in one place (``_error_code``), following the
checks OpenFGA's API applies to each request before evaluating it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

from clove.database import Database, Permissionship
from clove.engine.typesystem import TypeSystem
from clove.errors import (
    CloveError,
    InvalidInputError,
    ResourceExhaustedError,
    ValidationError,
)
from clove.relationships import WILDCARD, ObjectRef, Relationship, SubjectRef
from clove.schema.ir import ELLIPSIS
from clove.validationfile import Outcome, Report

# OpenFGA's error codes (openfga/api ``ErrorCode``) that its test suites expect.
VALIDATION_ERROR = 2000
RESOLUTION_TOO_COMPLEX = 2002
TYPE_NOT_FOUND = 2021
RELATION_NOT_FOUND = 2022
INVALID_TUPLE = 2027

_ASSERTION_KINDS = ("checkAssertions", "listObjectsAssertions", "listUsersAssertions")

Opener = Callable[[], Database]


class OpenFGARequestError(Exception):
    """A request OpenFGA refuses with ``code`` before evaluating it."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def is_openfga_tests(document: object) -> bool:
    """Whether a loaded YAML document is an OpenFGA test file (``tests:`` with ``stages``)."""
    if not isinstance(document, dict):
        return False
    tests = document.get("tests")
    return isinstance(tests, list) and all(
        isinstance(test, dict) and "stages" in test for test in tests
    )


def load_openfga_tests(path: str | Path) -> list[dict[str, Any]]:
    """The tests of the OpenFGA test file at ``path``; raises OSError or yaml.YAMLError."""
    document = yaml.safe_load(Path(path).read_text())
    if not is_openfga_tests(document):
        raise InvalidInputError(f"{path} is not an OpenFGA test file (no `tests:` with stages)")
    tests: list[dict[str, Any]] = document["tests"]
    return tests


def run_openfga_test_file(path: str | Path, *, open_database: Opener | None = None) -> Report:
    """Run every test of the OpenFGA test file at ``path``, each on a fresh database."""
    report = Report()
    try:
        tests = load_openfga_tests(path)
    except (OSError, yaml.YAMLError, CloveError) as error:
        report.outcomes.append(Outcome(str(path), 0, "file", str(path), False, error=str(error)))
        return report
    return run_openfga_tests(tests, file=str(path), open_database=open_database)


def run_openfga_tests(
    tests: list[Any], *, file: str = "", open_database: Opener | None = None
) -> Report:
    """Run loaded tests (the ``tests:`` list of a file), each on a fresh database."""
    report = Report()
    for index, test in enumerate(tests):
        if not isinstance(test, dict):
            report.outcomes.append(
                Outcome(file, index, "test", str(test), False, error="a test must be a mapping")
            )
            continue
        report.outcomes.extend(
            run_openfga_test(test, file=file, index=index, open_database=open_database)
        )
    return report


def count_assertions(test: Mapping[str, Any]) -> int:
    """How many assertions a test holds (each is one outcome when it runs)."""
    return sum(
        len(stage.get(kind) or ())
        for stage in test.get("stages") or ()
        if isinstance(stage, dict)
        for kind in _ASSERTION_KINDS
    )


def run_openfga_test(
    test: Mapping[str, Any],
    *,
    file: str = "",
    index: int = 0,
    open_database: Opener | None = None,
) -> list[Outcome]:
    """Every assertion of one test, in order; the test's stages share one fresh database."""
    import clove

    opener = open_database or (lambda: clove.open("memory"))
    name = str(test.get("name", f"test {index}"))
    outcomes: list[Outcome] = []
    with opener() as db:
        for number, stage in enumerate(test.get("stages") or ()):
            where = _Where(file, index, f"{name} stage {number}")
            if not isinstance(stage, dict):
                outcomes.append(where.outcome("stage", "", expected="", error="not a mapping"))
                continue
            outcomes.extend(_run_stage(db, where, stage))
    return outcomes


class _Where:
    """Where an assertion comes from, for its ``Outcome``."""

    __slots__ = ("file", "index", "label")

    def __init__(self, file: str, index: int, label: str) -> None:
        self.file = file
        self.index = index
        self.label = label

    def outcome(
        self, kind: str, text: str, *, expected: str, actual: str = "", error: str = ""
    ) -> Outcome:
        passed = not error and expected == actual
        return Outcome(
            self.file, self.index, kind, f"{self.label}: {text}", passed, expected, actual, error
        )


def _run_stage(db: Database, where: _Where, stage: Mapping[str, Any]) -> Iterator[Outcome]:
    try:
        db.write_schema(str(stage.get("model") or ""), syntax="openfga")
        tuples = [_tuple(item) for item in stage.get("tuples") or ()]
        if tuples:
            db.write_relationships(tuples)
        types = TypeSystem(db.schema(consistency="full"))
    except (CloveError, OpenFGARequestError) as error:
        for kind in _ASSERTION_KINDS:
            for number, _ in enumerate(stage.get(kind) or ()):
                yield where.outcome(kind, f"#{number}", expected="", error=f"setup: {error}")
        return
    for assertion in stage.get("checkAssertions") or ():
        yield _run_check(db, types, where, assertion)
    for assertion in stage.get("listObjectsAssertions") or ():
        yield _run_list_objects(db, types, where, assertion)
    for assertion in stage.get("listUsersAssertions") or ():
        yield _run_list_users(db, types, where, assertion)


# --- the three kinds of assertion ------------------------------------------------------


def _expected(assertion: Mapping[str, Any], result: Callable[[Any], str]) -> str:
    if "errorCode" in assertion:
        return f"error {assertion['errorCode']}"
    return result(assertion.get("expectation"))


def _run_check(
    db: Database, types: TypeSystem, where: _Where, assertion: Mapping[str, Any]
) -> Outcome:
    key = assertion.get("tuple") or {}
    text = f"check {key.get('object')}#{key.get('relation')}@{key.get('user')}"
    expected = _expected(assertion, lambda value: str(bool(value)).lower())
    try:
        contextual = _contextual(types, assertion)
        obj = _object(str(key.get("object", "")), VALIDATION_ERROR)
        relation = str(key.get("relation", ""))
        user = _user(str(key.get("user", "")), VALIDATION_ERROR)
        _require_relation(types, obj.type, relation, VALIDATION_ERROR, VALIDATION_ERROR)
        _require_user(types, user, VALIDATION_ERROR, VALIDATION_ERROR)
        result = db.check(
            obj,
            relation,
            user,
            context=_context(assertion),
            consistency="full",
            contextual_relationships=contextual,
        )
    except (CloveError, OpenFGARequestError) as error:
        return where.outcome("check", text, expected=expected, actual=_error_text(error))
    actual = str(result.permissionship is Permissionship.HAS).lower()
    return where.outcome("check", text, expected=expected, actual=actual)


def _run_list_objects(
    db: Database, types: TypeSystem, where: _Where, assertion: Mapping[str, Any]
) -> Outcome:
    request = assertion.get("request") or {}
    resource_type = str(request.get("type", ""))
    relation = str(request.get("relation", ""))
    text = f"list objects {resource_type}#{relation}@{request.get('user')}"
    expected = _expected(assertion, _listed)
    try:
        contextual = _contextual(types, assertion)
        _require_relation(types, resource_type, relation, TYPE_NOT_FOUND, RELATION_NOT_FOUND)
        user = _user(str(request.get("user", "")), VALIDATION_ERROR)
        _require_user(types, user, VALIDATION_ERROR, VALIDATION_ERROR)
        found = db.lookup_resources(
            resource_type,
            relation,
            user,
            context=_context(assertion),
            consistency="full",
            contextual_relationships=contextual,
        )
    except (CloveError, OpenFGARequestError) as error:
        return where.outcome("list_objects", text, expected=expected, actual=_error_text(error))
    actual = _listed([f"{resource_type}:{r.resource_id}" for r in found])
    return where.outcome("list_objects", text, expected=expected, actual=actual)


def _run_list_users(
    db: Database, types: TypeSystem, where: _Where, assertion: Mapping[str, Any]
) -> Outcome:
    request = assertion.get("request") or {}
    relation = str(request.get("relation", ""))
    filters = [str(item) for item in request.get("filters") or ()]
    text = f"list users {request.get('object')}#{relation} filters {', '.join(filters)}"
    expected = _expected(assertion, _listed)
    try:
        contextual = _contextual(types, assertion)
        obj = _object(str(request.get("object", "")), VALIDATION_ERROR)
        _require_relation(types, obj.type, relation, TYPE_NOT_FOUND, RELATION_NOT_FOUND)
        users: list[str] = []
        for user_filter in filters:
            subject_type, _, subject_relation = user_filter.partition("#")
            _require_filter(types, subject_type, subject_relation)
            for subject in db.lookup_subjects(
                obj,
                relation,
                subject_type,
                subject_relation=subject_relation or None,
                context=_context(assertion),
                consistency="full",
                contextual_relationships=contextual,
            ):
                suffix = f"#{subject_relation}" if subject_relation else ""
                users.append(f"{subject_type}:{subject.subject_id}{suffix}")
    except (CloveError, OpenFGARequestError) as error:
        return where.outcome("list_users", text, expected=expected, actual=_error_text(error))
    return where.outcome("list_users", text, expected=expected, actual=_listed(users))


# --- requests as OpenFGA validates them ------------------------------------------------


def _listed(values: Any) -> str:
    """A list expectation or result, order-free, as text."""
    return json.dumps(sorted({str(value) for value in values or ()}))


def _error_code(error: CloveError | OpenFGARequestError) -> int:
    """The OpenFGA error code for an error met while answering."""
    if isinstance(error, OpenFGARequestError):
        return error.code
    if isinstance(error, ResourceExhaustedError):
        return RESOLUTION_TOO_COMPLEX
    if isinstance(error, ValidationError | InvalidInputError):
        return VALIDATION_ERROR
    return 0


def _error_text(error: CloveError | OpenFGARequestError) -> str:
    return f"error {_error_code(error)}"


def _context(assertion: Mapping[str, Any]) -> dict[str, Any] | None:
    context = assertion.get("context")
    if context is None:
        return None
    if not isinstance(context, dict):
        raise OpenFGARequestError(VALIDATION_ERROR, "context must be a mapping")
    return context


def _object(text: str, code: int) -> ObjectRef:
    """``type:id`` as OpenFGA accepts it (ids may hold characters SpiceDB refuses)."""
    type_name, colon, object_id = text.partition(":")
    if not colon or not type_name or not object_id or ":" in object_id or "#" in text:
        raise OpenFGARequestError(code, f"invalid object {text!r}")
    return ObjectRef(type=type_name, id=object_id)


def _user(text: str, code: int) -> SubjectRef:
    """``type:id``, ``type:id#relation`` or ``type:*``."""
    obj, _, relation = text.partition("#")
    parsed = _object(obj, code)
    if relation and parsed.id == WILDCARD:
        raise OpenFGARequestError(code, f"invalid user {text!r}")
    return SubjectRef(type=parsed.type, id=parsed.id, relation=relation or ELLIPSIS)


def _require_relation(
    types: TypeSystem, type_name: str, relation: str, type_code: int, relation_code: int
) -> None:
    if type_name not in types.members:
        raise OpenFGARequestError(type_code, f"type `{type_name}` not found")
    if types.member(type_name, relation) is None:
        raise OpenFGARequestError(relation_code, f"relation `{type_name}#{relation}` not found")


def _require_user(types: TypeSystem, user: SubjectRef, type_code: int, relation_code: int) -> None:
    if user.type not in types.members:
        raise OpenFGARequestError(type_code, f"type `{user.type}` not found")
    if user.relation != ELLIPSIS and types.member(user.type, user.relation) is None:
        raise OpenFGARequestError(
            relation_code, f"relation `{user.type}#{user.relation}` not found"
        )


def _require_filter(types: TypeSystem, subject_type: str, subject_relation: str) -> None:
    if subject_type not in types.members:
        raise OpenFGARequestError(TYPE_NOT_FOUND, f"type `{subject_type}` not found")
    if subject_relation and types.member(subject_type, subject_relation) is None:
        raise OpenFGARequestError(
            RELATION_NOT_FOUND, f"relation `{subject_type}#{subject_relation}` not found"
        )


def _tuple(item: Any) -> Relationship:
    """An OpenFGA tuple (``object``, ``relation``, ``user``, optional ``condition``)."""
    if not isinstance(item, dict):
        raise OpenFGARequestError(INVALID_TUPLE, f"a tuple must be a mapping, not {item!r}")
    try:
        obj = _object(str(item.get("object", "")), INVALID_TUPLE)
        user = _user(str(item.get("user", "")), INVALID_TUPLE)
    except OpenFGARequestError:
        raise
    condition = item.get("condition") or {}
    if not isinstance(condition, dict):
        raise OpenFGARequestError(INVALID_TUPLE, f"a condition must be a mapping: {item!r}")
    return Relationship(
        resource_type=obj.type,
        resource_id=obj.id,
        relation=str(item.get("relation", "")),
        subject_type=user.type,
        subject_id=user.id,
        subject_relation=user.relation,
        caveat_name=condition.get("name"),
        caveat_context=condition.get("context") or None,
    )


def _contextual(types: TypeSystem, assertion: Mapping[str, Any]) -> list[Relationship]:
    """The assertion's contextual tuples, each checked against the model (else 2027)."""
    found = []
    for item in assertion.get("contextualTuples") or ():
        rel = _tuple(item)
        try:
            types.validate_relationship(rel)
        except CloveError as error:
            raise OpenFGARequestError(INVALID_TUPLE, f"invalid contextual tuple: {error}") from None
        found.append(rel)
    return found


__all__ = [
    "OpenFGARequestError",
    "count_assertions",
    "is_openfga_tests",
    "load_openfga_tests",
    "run_openfga_test",
    "run_openfga_test_file",
    "run_openfga_tests",
]
