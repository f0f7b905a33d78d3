"""The HTTP surface of ``clove serve``: AuthZEN 1.0, Clove's JSON API, OpenAPI and metrics.

``create_app`` returns a plain ASGI application (serve it with any ASGI server); the
endpoints, their authentication and their body types are listed in ``_routes``.
"""

from __future__ import annotations

from clove.database import Database
from clove.server.http._asgi import HttpApp
from clove.server.http._settings import HttpSettings
from clove.server.protocols import Gate, Metrics


def create_app(
    database: Database,
    *,
    gate: Gate,
    metrics: Metrics,
    settings: HttpSettings | None = None,
) -> HttpApp:
    """An ASGI app serving ``database``; ``gate`` admits callers, ``metrics`` records them."""
    return HttpApp(database, gate=gate, metrics=metrics, settings=settings or HttpSettings())


__all__ = ["HttpApp", "HttpSettings", "create_app"]
