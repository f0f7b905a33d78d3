"""Key scopes: the key syntax, the one table of scopes, and its enforcement on a real server.

Every gRPC method the server offers and every HTTP endpoint is called with a key of each
scope: the matching scope gets past the gate, the others get PERMISSION_DENIED / 403 naming
the scope needed.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator

import grpc
import pytest
from authzed.api.v1 import WriteSchemaRequest
from google.protobuf import descriptor_pool
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from clove.errors import InvalidInputError, PermissionDeniedError
from clove.server.config import parse_keys
from clove.server.gate import ClientKey, KeyGate
from clove.server.http._routes import ROUTES
from clove.server.limits import Limits
from clove.server.scopes import GRPC_SCOPES, HTTP_SCOPES, OPEN_GRPC_PREFIXES, SCOPES
from server.serve_process import SCOPED, Server, running_server

SCHEMA = "definition user {}\ndefinition document { relation viewer: user }"
KEY = "k-0123456789abcdef"


def test_keys_without_scopes_hold_every_scope_and_scoped_keys_hold_theirs() -> None:
    keys = parse_keys(
        f"legacy={KEY}1\napp:read+write={KEY}2\n ops : admin = {KEY}3\n",
        separator="\n",
        source="keys",
    )
    assert keys == {
        "legacy": ClientKey(key=f"{KEY}1", scopes=frozenset(SCOPES), scoped=False),
        "app": ClientKey(key=f"{KEY}2", scopes=frozenset({"read", "write"}), scoped=True),
        "ops": ClientKey(key=f"{KEY}3", scopes=frozenset({"admin"}), scoped=True),
    }


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (f"app:reed={KEY}", "client 'app': unknown scope 'reed'; scopes are read, write, admin"),
        (f"app:={KEY}", "client 'app': unknown scope ''"),
        (f"app:read++write={KEY}", "unknown scope ''"),
        (f":read={KEY}", "entry 1 is not `client=key` or `client:scopes=key`"),
    ],
)
def test_bad_scopes_are_refused(entry: str, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message.replace("+", r"\+")):
        parse_keys(entry, separator=",", source="CLOVE_KEYS")


def test_the_gate_names_the_scope_needed_and_the_scopes_held() -> None:
    gate = KeyGate(
        {"app": ClientKey(key=KEY, scopes=frozenset({"read", "admin"}), scoped=True)}, Limits()
    )
    gate.authorize("app", "read", operation="CheckPermission")
    with pytest.raises(PermissionDeniedError) as denied:
        gate.authorize("app", "write", operation="WriteRelationships")
    assert str(denied.value) == (
        "WriteRelationships needs the 'write' scope; the key of client 'app' has read+admin"
    )
    assert (denied.value.client, denied.value.scope) == ("app", "write")
    with pytest.raises(PermissionDeniedError, match="not covered by any scope"):
        gate.authorize("app", None, operation="NewMethod")


def test_every_http_endpoint_has_a_scope() -> None:
    assert {(route.method, route.path) for route in ROUTES} == set(HTTP_SCOPES)


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    with running_server("memory") as running:
        running.client().WriteSchema(WriteSchemaRequest(schema=SCHEMA))
        yield running


def _served_methods(server: Server) -> dict[str, tuple[bool, bool]]:
    """Every method the server offers (by reflection): path -> (client, server) streaming."""
    metadata = (("authorization", f"Bearer {server.keys['alice']}"),)
    with grpc.insecure_channel(server.address) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        answers = stub.ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")]), metadata=metadata
        )
        names = [s.name for answer in answers for s in answer.list_services_response.service]
    pool = descriptor_pool.Default()
    methods = {}
    for name in names:
        for method in pool.FindServiceByName(name).methods:
            path = f"/{name}/{method.name}"
            methods[path] = (method.client_streaming, method.server_streaming)
    return methods


def test_every_grpc_method_the_server_offers_has_a_scope(server: Server) -> None:
    served = _served_methods(server)
    scoped = {path for path in served if not path.startswith(OPEN_GRPC_PREFIXES)}
    assert scoped == set(GRPC_SCOPES)


def _call_grpc(
    channel: grpc.Channel, path: str, streaming: tuple[bool, bool], key: str
) -> tuple[grpc.StatusCode, str]:
    metadata = (("authorization", f"Bearer {key}"),)
    client_streaming, server_streaming = streaming
    try:
        if client_streaming and server_streaming:
            list(channel.stream_stream(path)(iter(()), metadata=metadata, timeout=2))
        elif client_streaming:
            channel.stream_unary(path)(iter(()), metadata=metadata, timeout=2)
        elif server_streaming:
            list(channel.unary_stream(path)(b"", metadata=metadata, timeout=2))
        else:
            channel.unary_unary(path)(b"", metadata=metadata, timeout=2)
    except grpc.RpcError as error:
        return error.code(), error.details()  # type: ignore[attr-defined]
    return grpc.StatusCode.OK, ""


def test_each_grpc_method_takes_exactly_its_scope(server: Server) -> None:
    served = _served_methods(server)
    with grpc.insecure_channel(server.address) as channel:
        for path, scope in GRPC_SCOPES.items():
            method = path.rsplit("/", 1)[-1]
            for client, held in SCOPED.items():
                code, message = _call_grpc(channel, path, served[path], server.keys[client])
                if held == scope:
                    assert code not in (
                        grpc.StatusCode.PERMISSION_DENIED,
                        grpc.StatusCode.UNAUTHENTICATED,
                    ), (path, client, message)
                else:
                    assert code == grpc.StatusCode.PERMISSION_DENIED, (path, client, code)
                    assert message == (
                        f"{method} needs the {scope!r} scope; "
                        f"the key of client {client!r} has {held}"
                    )
        # Health needs no key at all.
        health = channel.unary_unary("/grpc.health.v1.Health/Check")
        assert health(b"", timeout=2) == b"\x08\x01"  # SERVING


def _http(server: Server, method: str, path: str, key: str | None) -> tuple[int, bytes]:
    headers = {"content-type": "application/json"}
    if key is not None:
        headers["authorization"] = f"Bearer {key}"
    data = b"{}" if method in ("POST", "PUT") else None
    request = urllib.request.Request(
        f"http://{server.http_address}{path}", data=data, headers=headers, method=method
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_each_http_endpoint_takes_exactly_its_scope(server: Server) -> None:
    for (method, path), scope in HTTP_SCOPES.items():
        if scope is None:
            status, _ = _http(server, method, path, None)
            assert status == 200, (method, path)
            continue
        for client, held in SCOPED.items():
            status, body = _http(server, method, path, server.keys[client])
            if held == scope:
                assert status not in (401, 403), (method, path, client, body)
            else:
                assert status == 403, (method, path, client, status)
                assert json.loads(body) == {
                    "code": "permission_denied",
                    "message": f"{method} {path} needs the {scope!r} scope; "
                    f"the key of client {client!r} has {held}",
                }


def test_metrics_need_admin_and_a_full_key_still_reads_them(server: Server) -> None:
    assert _http(server, "GET", "/metrics", server.keys["reader"])[0] == 403
    for client in ("operator", "alice"):
        status, body = _http(server, "GET", "/metrics", server.keys[client])
        assert status == 200
        assert b"clove_" in body


def test_the_server_warns_of_keys_without_scopes(server: Server) -> None:
    warnings = [
        json.loads(line)
        for line in server.log().splitlines()
        if line.startswith("{") and "without scopes" in line
    ]
    assert [warning["clients"] for warning in warnings] == ["alice,bob"]
