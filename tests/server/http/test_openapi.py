"""The OpenAPI document served at /openapi.json: valid OpenAPI 3.1, and it lists every route."""

from __future__ import annotations

from typing import Any

import pytest
from openapi_spec_validator import validate
from openapi_spec_validator.versions.shortcuts import get_spec_version

from clove.server.http._routes import ROUTES
from server.http.conftest import Server


@pytest.fixture(scope="module")
def document(server: Server) -> Any:
    anonymous = server.client(None)
    reply = anonymous.get("/openapi.json")
    anonymous.close()
    assert reply.status == 200
    assert reply.headers["content-type"] == "application/json"
    return reply.json()


def test_the_document_is_valid_openapi_3_1(document: Any) -> None:
    validate(document)
    assert str(get_spec_version(document)) == "OpenAPIV3.1"


def test_every_route_is_documented_and_nothing_else(document: Any) -> None:
    documented = {
        (method.upper(), path) for path, item in document["paths"].items() for method in item
    }
    served = {(route.method, route.path) for route in ROUTES}
    assert documented == served
    expected = {
        ("POST", "/access/v1/evaluation"),
        ("POST", "/access/v1/evaluations"),
        ("POST", "/access/v1/search/subject"),
        ("POST", "/access/v1/search/resource"),
        ("POST", "/access/v1/search/action"),
        ("GET", "/.well-known/authzen-configuration"),
        ("GET", "/v1/schema"),
        ("PUT", "/v1/schema"),
        ("POST", "/v1/relationships/write"),
        ("POST", "/v1/relationships/read"),
        ("POST", "/v1/relationships/delete"),
        ("POST", "/v1/check"),
        ("POST", "/v1/check/bulk"),
        ("POST", "/v1/lookup/resources"),
        ("POST", "/v1/lookup/subjects"),
        ("POST", "/v1/expand"),
        ("GET", "/healthz"),
        ("GET", "/readyz"),
        ("GET", "/metrics"),
        ("GET", "/openapi.json"),
    }
    assert served == expected


def test_bodies_reference_their_schemas(document: Any) -> None:
    schemas = document["components"]["schemas"]
    evaluation = document["paths"]["/access/v1/evaluation"]["post"]
    request = evaluation["requestBody"]["content"]["application/json"]["schema"]
    assert request == {"$ref": "#/components/schemas/EvaluationRequest"}
    assert set(schemas["EvaluationRequest"]["required"]) == {"subject", "action", "resource"}
    semantic = schemas["EvaluationsOptions"]["properties"]["evaluations_semantic"]
    assert set(semantic["enum"]) == {"execute_all", "deny_on_first_deny", "permit_on_first_permit"}
    assert "429" in evaluation["responses"]
    assert "security" not in evaluation  # the document-wide bearer requirement applies
    assert document["security"] == [{"bearer": []}]


def test_public_routes_say_they_need_no_key(document: Any) -> None:
    public = {route.path for route in ROUTES if route.public}
    assert public == {"/healthz", "/readyz", "/openapi.json", "/.well-known/authzen-configuration"}
    for path in public:
        assert document["paths"][path]["get"]["security"] == []
        assert "401" not in document["paths"][path]["get"]["responses"]
