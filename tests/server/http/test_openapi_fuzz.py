"""Schemathesis against a real ``clove serve``: what ``/openapi.json`` documents, the server takes.

Every operation gets a fixed, small number of inputs generated from the document (positive
mode, derandomized: the same inputs every run). Each answer must not be a 5xx, must conform to
the documented responses, and a documented-valid input must never be refused as malformed
(400 ``invalid_argument``). Refusals that depend on the stored schema (an unknown definition is
404, a relationship the schema forbids or schema text that does not compile is a 400 with
another code) are not the document's to describe.

Negative mode breaks the document in each case (a wrong type, a pattern or an enum violated, a
batch over ``maxItems``): every such request with a body must be refused with a 4xx, never
answered (``negative_data_rejection``) nor a 5xx.

Opaque tokens (documented with the formats ``clove-consistency-token`` and ``clove-page-token``)
are drawn from tokens this server issued. The one rule the document states only in prose, that
``Clove-Consistency: at_least_as_fresh|at_exact_snapshot`` needs a ``Clove-Consistency-Token``
header and the other modes take none, is applied to the generated headers.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from clove.server.http._routes import OPENAPI_PATH, ROUTES
from server.serve_process import Server, running_server

SCHEMA = """definition user {}
definition group { relation member: user | group#member }
definition document {
    relation viewer: user | group#member | user:*
    permission view = viewer
}"""
EXAMPLES = 12
NEGATIVE_EXAMPLES = 8
_TOKENS: list[str] = []
_WITH_BODY = {(route.method, route.path) for route in ROUTES if route.request is not None}
_NEEDS_TOKEN = ("at_least_as_fresh", "at_exact_snapshot")

schemathesis.openapi.format(
    "clove-consistency-token", st.deferred(lambda: st.sampled_from(_TOKENS))
)
schemathesis.openapi.format("clove-page-token", st.just(""))


def _request(server: Server, method: str, path: str, body: Any) -> dict[str, Any]:
    request = urllib.request.Request(
        f"http://{server.http_address}{path}",
        data=json.dumps(body).encode(),
        method=method,
        headers={"authorization": f"Bearer {server.keys['alice']}"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        answer: dict[str, Any] = json.loads(response.read())
    return answer


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[Server, Any]]:
    with running_server("memory") as server:
        _TOKENS.append(
            _request(server, "PUT", "/v1/schema", {"schema": SCHEMA})["consistency_token"]
        )
        written = _request(
            server,
            "POST",
            "/v1/relationships/write",
            {"updates": [{"operation": "touch", "relationship": "document:d1#viewer@user:a1"}]},
        )
        _TOKENS.append(written["consistency_token"])
        yield server, schemathesis.openapi.from_url(f"http://{server.http_address}/openapi.json")


def _operations(document: Any) -> list[Any]:
    return [result.ok() for result in document.get_all_operations()]


def _consistent_headers(headers: dict[str, str]) -> None:
    mode = headers.get("Clove-Consistency", "")
    if mode in _NEEDS_TOKEN and not headers.get("Clove-Consistency-Token"):
        headers["Clove-Consistency-Token"] = _TOKENS[-1]
    elif mode not in _NEEDS_TOKEN:
        headers.pop("Clove-Consistency-Token", None)


def _consistent_properties(body: Any) -> None:
    """AuthZEN merges the members' properties and the context: a key must agree across them."""
    if not isinstance(body, dict):
        return
    seen: dict[str, Any] = {}
    for holder, member in (
        (body.get("subject"), "properties"),
        (body.get("resource"), "properties"),
        (body.get("action"), "properties"),
        (body, "context"),
    ):
        values = holder.get(member) if isinstance(holder, dict) else None
        if not isinstance(values, dict):
            continue
        for key in [key for key in values if key in seen and seen[key] != values[key]]:
            del values[key]
        seen.update(values)


def test_every_operation_is_fuzzed(served: tuple[Server, Any]) -> None:
    _, document = served
    labels = {f"{op.method.upper()} {op.path}" for op in _operations(document)}
    assert labels == {f"{r.method} {r.path}" for r in ROUTES if r.path != OPENAPI_PATH}


def _fuzz(
    served: tuple[Server, Any], mode: GenerationMode, checks: list[Any], examples: int
) -> list[tuple[Any, Any]]:
    """Every operation's ``examples`` derandomized cases in ``mode``, each answer checked."""
    server, document = served
    auth = {"Authorization": f"Bearer {server.keys['alice']}"}
    answered: list[tuple[Any, Any]] = []
    for operation in _operations(document):
        if mode is GenerationMode.NEGATIVE and (operation.method.upper(), operation.path) not in (
            _WITH_BODY
        ):
            continue  # nothing to break: an X-Request-ID header is any string
        strategy = operation.as_strategy(generation_mode=mode)

        @settings(
            max_examples=examples,
            derandomize=True,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=strategy)
        def fuzz(case: Any) -> None:
            case.headers = dict(case.headers or {})
            _consistent_headers(case.headers)
            if case.path.startswith("/access/") and mode is GenerationMode.POSITIVE:
                _consistent_properties(case.body)
            response = case.call(headers=auth)
            case.validate_response(response, checks=checks)
            answered.append((case, response))

        fuzz()
    return answered


def _describe(case: Any, response: Any) -> str:
    return (
        f"{case.method} {case.path}: {response.status_code} {response.content!r} for "
        f"body={case.body!r} headers={case.headers!r}"
    )


def test_documented_inputs_are_accepted_and_answers_match_the_document(
    served: tuple[Server, Any],
) -> None:
    checks = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
    ]
    answered = _fuzz(served, GenerationMode.POSITIVE, checks, EXAMPLES)
    refused = [
        _describe(case, response)
        for case, response in answered
        if response.status_code == 400
        and json.loads(response.content)["code"] == "invalid_argument"
    ]
    assert not refused, "\n".join(refused)


def test_inputs_the_document_forbids_are_refused_with_a_4xx(served: tuple[Server, Any]) -> None:
    """Negative mode: each case breaks the document somewhere; the server must say 4xx.

    ``negative_data_rejection`` judges what counts as broken (a mutation that serializes back
    to a valid request is not), so the cases are not asserted on again here.
    """
    checks = [not_a_server_error, negative_data_rejection, content_type_conformance]
    answered = _fuzz(served, GenerationMode.NEGATIVE, checks, NEGATIVE_EXAMPLES)
    assert {case.path for case, _ in answered} == {path for _, path in _WITH_BODY}
