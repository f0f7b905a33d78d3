"""SpiceDB's golden answers through the AuthZEN endpoints of a real server.

Every check whose subject is an object (AuthZEN subjects cannot be subject sets) goes
through ``/access/v1/evaluations``, and every lookup through the paged search endpoints
(small pages, so that paging is exercised everywhere). SpiceDB's
``has`` must be a permit, ``no`` a plain deny, ``conditional`` a deny naming the missing context.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from clove.schema.spicedb import parse_schema
from conformance_data import conformance_files, require_conformance
from server.http.conftest import Server, start_server, stop_server
from server.http.http_support import HttpClient

FILES = conformance_files("spicedb-golden", "*.json")
BATCH = 50


@pytest.fixture(scope="module")
def golden_client() -> Iterator[HttpClient]:
    server: Server = start_server("memory")
    client = server.client()
    yield client
    client.close()
    stop_server(server)


def _load(client: HttpClient, document: dict[str, Any]) -> None:
    """Empty the store of the previous document's data, then write this one's."""
    current = client.get("/v1/schema")
    if current.status == 200:
        for definition in parse_schema(current.json()["schema"]).definitions:
            filter_ = {"filter": {"resource_type": definition.name}}
            assert client.post("/v1/relationships/delete", filter_).status == 200
    reply = client.request("PUT", "/v1/schema", {"schema": document["schema"]})
    assert reply.status == 200, reply.body
    rels = document["relationships"]
    for start in range(0, len(rels), BATCH):
        updates = [
            {"operation": "touch", "relationship": rel} for rel in rels[start : start + BATCH]
        ]
        reply = client.post("/v1/relationships/write", {"updates": updates})
        assert reply.status == 200, reply.body


def _entity(text: str) -> dict[str, str]:
    type_, _, id_ = text.partition(":")
    return {"type": type_, "id": id_}


def _expected_decision(permissionship: str) -> tuple[bool, str | None]:
    return permissionship == "has", "conditional" if permissionship == "conditional" else None


def _check_disagreements(client: HttpClient, checks: list[Any]) -> list[str]:
    wrong = []
    plain = [check for check in checks if "#" not in check[2]]
    for start in range(0, len(plain), BATCH):
        batch = plain[start : start + BATCH]
        items = [
            {
                "subject": _entity(subject),
                "action": {"name": permission},
                "resource": _entity(resource),
            }
            for resource, permission, subject, _ in batch
        ]
        reply = client.post(
            "/access/v1/evaluations",
            {"evaluations": items, "options": {"evaluations_semantic": "execute_all"}},
            headers={"Clove-Consistency": "full"},
        )
        assert reply.status == 200, reply.body
        answers = reply.json()["evaluations"]
        assert len(answers) == len(batch)
        for (resource, permission, subject, expected), answer in zip(batch, answers, strict=True):
            got = (answer["decision"], (answer.get("context") or {}).get("reason"))
            if got != _expected_decision(expected):
                wrong.append(
                    f"check {resource}#{permission}@{subject}: {answer}, SpiceDB {expected}"
                )
    return wrong


def _search(client: HttpClient, path: str, body: dict[str, Any]) -> list[Any]:
    results: list[Any] = []
    token = ""
    while True:
        page: dict[str, Any] = {"limit": 4}
        if token:
            page["token"] = token
        reply = client.post(path, {**body, "page": page}, headers={"Clove-Consistency": "full"})
        assert reply.status == 200, reply.body
        results.extend(reply.json()["results"])
        token = reply.json()["page"]["next_token"]
        if not token:
            return results


def _lookup_disagreements(client: HttpClient, lookups: list[Any]) -> list[str]:
    wrong = []
    for lookup in lookups:
        if lookup[0] == "resources":
            _, resource_type, permission, subject, expected = lookup
            if "#" in subject:
                continue
            body = {
                "subject": _entity(subject),
                "action": {"name": permission},
                "resource": {"type": resource_type},
            }
            got = [r["id"] for r in _search(client, "/access/v1/search/resource", body)]
            want = sorted({entry[0] for entry in expected if entry[1] == "has"})
        else:
            _, resource, permission, subject_type, expected = lookup
            body = {
                "subject": {"type": subject_type},
                "action": {"name": permission},
                "resource": _entity(resource),
            }
            found = _search(client, "/access/v1/search/subject", body)
            got = [[s["id"], s.get("properties", {}).get("excluded_ids", [])] for s in found]
            want = []
            for entry in expected:
                if entry[1] == "has" and [entry[0], entry[2]] not in want:
                    want.append([entry[0], entry[2]])
            want.sort()
        if got != want:
            wrong.append(f"{lookup[:4]}: {got}, SpiceDB {want}")
    return wrong


@pytest.mark.parametrize("path", FILES, ids=[path.name.split(".")[0] for path in FILES])
def test_golden_through_authzen(path: Path, golden_client: HttpClient) -> None:
    require_conformance()
    golden = json.loads(path.read_text())
    wrong = []
    for document in golden["documents"]:
        _load(golden_client, document)
        wrong.extend(_check_disagreements(golden_client, document["checks"]))
        wrong.extend(_lookup_disagreements(golden_client, document["lookups"]))
    assert not wrong, f"{len(wrong)} disagreements:\n" + "\n".join(wrong[:40])
