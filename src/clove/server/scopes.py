"""Who may call what: the scope every gRPC method and HTTP endpoint needs, in one table.

A bearer key holds any set of three scopes; none implies another:

- ``read``: questions and reads: checks, lookups, expand, reading relationships, exporting,
  watching, reading (reflecting, diffing) the schema, AuthZEN evaluations and searches.
- ``write``: changing relationships: write, delete, bulk import.
- ``admin``: writing the schema, and ``/metrics`` (its labels name every client).

Health checks (gRPC health, ``/healthz``, ``/readyz``), AuthZEN discovery and
``/openapi.json`` need no key at all. A method or endpoint missing from these tables is
refused to every key (the surfaces fail closed), and a test fails when one is missing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, get_args

Scope = Literal["read", "write", "admin"]
SCOPES: tuple[Scope, ...] = get_args(Scope)

# gRPC methods that pass without a key, as load balancers expect of health checks.
OPEN_GRPC_PREFIXES = ("/grpc.health.v1.Health/",)

_PERMISSIONS = "/authzed.api.v1.PermissionsService/"
_SCHEMA = "/authzed.api.v1.SchemaService/"

GRPC_SCOPES: Mapping[str, Scope] = {
    _PERMISSIONS + "CheckPermission": "read",
    _PERMISSIONS + "CheckBulkPermissions": "read",
    _PERMISSIONS + "ExpandPermissionTree": "read",
    _PERMISSIONS + "LookupResources": "read",
    _PERMISSIONS + "LookupSubjects": "read",
    _PERMISSIONS + "ReadRelationships": "read",
    _PERMISSIONS + "ExportBulkRelationships": "read",
    _PERMISSIONS + "WriteRelationships": "write",
    _PERMISSIONS + "DeleteRelationships": "write",
    _PERMISSIONS + "ImportBulkRelationships": "write",
    _SCHEMA + "ReadSchema": "read",
    _SCHEMA + "ReflectSchema": "read",
    _SCHEMA + "ComputablePermissions": "read",
    _SCHEMA + "DependentRelations": "read",
    _SCHEMA + "DiffSchema": "read",
    _SCHEMA + "WriteSchema": "admin",
    "/authzed.api.v1.WatchService/Watch": "read",
    # Reflection describes the services, not the data; tools such as grpcurl need it.
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo": "read",
}

# (method, path) -> the scope it needs; None: public, no key needed.
HTTP_SCOPES: Mapping[tuple[str, str], Scope | None] = {
    ("POST", "/access/v1/evaluation"): "read",
    ("POST", "/access/v1/evaluations"): "read",
    ("POST", "/access/v1/search/subject"): "read",
    ("POST", "/access/v1/search/resource"): "read",
    ("POST", "/access/v1/search/action"): "read",
    ("GET", "/.well-known/authzen-configuration"): None,
    ("GET", "/v1/schema"): "read",
    ("PUT", "/v1/schema"): "admin",
    ("POST", "/v1/relationships/write"): "write",
    ("POST", "/v1/relationships/read"): "read",
    ("POST", "/v1/relationships/delete"): "write",
    ("POST", "/v1/check"): "read",
    ("POST", "/v1/check/bulk"): "read",
    ("POST", "/v1/lookup/resources"): "read",
    ("POST", "/v1/lookup/subjects"): "read",
    ("POST", "/v1/expand"): "read",
    ("GET", "/healthz"): None,
    ("GET", "/readyz"): None,
    ("GET", "/metrics"): "admin",
    ("GET", "/openapi.json"): None,
}


def parse_scopes(text: str) -> frozenset[Scope]:
    """``read+write`` as a set of scopes; raises ``ValueError`` naming an unknown one."""
    scopes: set[Scope] = set()
    for word in text.split("+"):
        scope = _BY_NAME.get(word.strip())
        if scope is None:
            raise ValueError(f"unknown scope {word.strip()!r}; scopes are {', '.join(SCOPES)}")
        scopes.add(scope)
    return frozenset(scopes)


_BY_NAME: Mapping[str, Scope] = {scope: scope for scope in SCOPES}
