"""Every conformance test runs on every storage backend.

PostgreSQL runs as ``clove.open`` opens it, from a URL; each database gets a schema of its own
through the URL's ``schema`` parameter, dropped when the test ends (see
``storage/postgres_server.py`` for the server and when its absence skips or fails).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from itertools import count

import pytest

import clove
from storage.postgres_server import drop_schemas, new_schema, require_postgres, url_with_schema


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def open_database(
    request: pytest.FixtureRequest, tmp_path: object
) -> Iterator[Callable[[], clove.Database]]:
    numbers = count()
    schemas: list[str] = []
    if request.param == "postgres":
        require_postgres()

    def opener() -> clove.Database:
        if request.param == "memory":
            return clove.open("memory")
        if request.param == "postgres":
            schemas.append(new_schema())
            return clove.open(url_with_schema(schemas[-1]))
        return clove.open(f"sqlite://{tmp_path}/clove-{next(numbers)}.db")

    yield opener
    drop_schemas(schemas)
