"""The toggling race of ``toggling`` through ``clove serve``, with the official authzed client.

Readers ask CheckPermission, CheckBulkPermissions, LookupResources and LookupSubjects at each
of SpiceDB's consistencies (minimize latency, fully consistent, at least as fresh as a token,
at an exact snapshot) on connections of their own, which the kernel spreads over the workers;
one writer toggles documents with WriteRelationships. Every allow is a false allow.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterator

from authzed.api.v1 import (
    CheckBulkPermissionsRequest,
    CheckBulkPermissionsRequestItem,
    CheckPermissionRequest,
    CheckPermissionResponse,
    Client,
    Consistency,
    LookupResourcesRequest,
    LookupSubjectsRequest,
    ObjectReference,
    RelationshipUpdate,
    SubjectReference,
    WriteRelationshipsRequest,
    WriteSchemaRequest,
    ZedToken,
)
from authzed.api.v1 import Relationship as RelationshipMessage

from concurrency import toggling
from concurrency.toggling import DOCUMENTS, SCHEMA, USERS, Tally, fixed, toggled

NO = CheckPermissionResponse.PERMISSIONSHIP_NO_PERMISSION


def _message(text: str) -> RelationshipMessage:
    resource, _, subject = text.partition("@")
    obj, _, relation = resource.partition("#")
    resource_type, _, resource_id = obj.partition(":")
    subject_obj, _, subject_relation = subject.partition("#")
    subject_type, _, subject_id = subject_obj.partition(":")
    return RelationshipMessage(
        resource=ObjectReference(object_type=resource_type, object_id=resource_id),
        relation=relation,
        subject=SubjectReference(
            object=ObjectReference(object_type=subject_type, object_id=subject_id),
            optional_relation=subject_relation,
        ),
    )


def _write(client: Client, texts: list[str], operation: int) -> str:
    updates = [RelationshipUpdate(operation=operation, relationship=_message(t)) for t in texts]
    written = client.WriteRelationships(WriteRelationshipsRequest(updates=updates))
    return str(written.written_at.token)


def load(client: Client) -> str:
    client.WriteSchema(WriteSchemaRequest(schema=SCHEMA))
    rels = [rel for document in range(DOCUMENTS) for rel in fixed(document) + toggled(document)]
    return _write(client, rels, RelationshipUpdate.OPERATION_TOUCH)


def write_until(client: Client, stop: threading.Event, seed: int, tokens: list[str]) -> int:
    rng = random.Random(seed)
    present = [True] * DOCUMENTS
    writes = 0
    while not stop.is_set():
        document = rng.randrange(DOCUMENTS)
        present[document] = not present[document]
        operation = (
            RelationshipUpdate.OPERATION_TOUCH
            if present[document]
            else RelationshipUpdate.OPERATION_DELETE
        )
        tokens.append(_write(client, toggled(document), operation))
        del tokens[:-8]
        writes += 1
    return writes


def _consistencies(rng: random.Random, tokens: list[str]) -> Iterator[tuple[str, Consistency]]:
    while True:
        token = ZedToken(token=rng.choice(tokens[-8:]))
        yield from (
            ("minimize_latency", Consistency(minimize_latency=True)),
            ("fully_consistent", Consistency(fully_consistent=True)),
            ("at_least_as_fresh", Consistency(at_least_as_fresh=token)),
            ("at_exact_snapshot", Consistency(at_exact_snapshot=token)),
        )


def _document(number: int) -> ObjectReference:
    return ObjectReference(object_type="document", object_id=f"d{number}")


def _user(name: str) -> SubjectReference:
    return SubjectReference(object=ObjectReference(object_type="user", object_id=name))


def ask(client: Client, rng: random.Random, questions: int, tokens: list[str]) -> Tally:
    tally = Tally()
    modes = _consistencies(rng, tokens)
    items = [
        CheckBulkPermissionsRequestItem(resource=_document(d), permission="view", subject=_user(u))
        for d in range(DOCUMENTS)
        for u in USERS
    ]
    while tally.questions < questions:
        mode, consistency = next(modes)
        kind = rng.random()
        document = rng.randrange(DOCUMENTS)
        user = rng.choice(USERS)
        where = f"d{document} {user} at {mode}"
        if kind < 0.7:
            answer = client.CheckPermission(
                CheckPermissionRequest(
                    consistency=consistency,
                    resource=_document(document),
                    permission="view",
                    subject=_user(user),
                )
            )
            tally.questions += 1
            if answer.permissionship != NO:
                tally.wrong(f"CheckPermission {where}: {answer.permissionship}")
        elif kind < 0.85:
            bulk = client.CheckBulkPermissions(
                CheckBulkPermissionsRequest(consistency=consistency, items=items)
            )
            tally.questions += len(bulk.pairs)
            for pair in bulk.pairs:
                if pair.HasField("error") or pair.item.permissionship != NO:
                    tally.wrong(f"CheckBulkPermissions {pair.request.resource} at {mode}: {pair}")
        elif kind < 0.93:
            found = list(
                client.LookupResources(
                    LookupResourcesRequest(
                        consistency=consistency,
                        resource_object_type="document",
                        permission="view",
                        subject=_user(user),
                    )
                )
            )
            tally.questions += 1
            if found:
                tally.wrong(f"LookupResources {user} at {mode}: {found[0].resource_object_id}")
        else:
            subjects = list(
                client.LookupSubjects(
                    LookupSubjectsRequest(
                        consistency=consistency,
                        resource=_document(document),
                        permission="view",
                        subject_object_type="user",
                    )
                )
            )
            tally.questions += 1
            if subjects:
                tally.wrong(f"LookupSubjects {where}: {subjects[0].subject.subject_object_id}")
    return tally


def race(
    new_client: Callable[[], Client], *, readers: int, questions: int, seed: int
) -> tuple[Tally, int]:
    """Readers, each on a connection of its own, race one writer; (tally, writes)."""
    tokens = [load(new_client())]
    return toggling.race(
        readers,
        lambda n: ask(new_client(), random.Random(seed * 100 + n), questions, tokens),
        lambda stop: write_until(new_client(), stop, seed, tokens),
    )
