"""The backends the storage conformance suite runs on, one ``store`` fixture per backend.

To add a backend, add an opener to ``OPENERS`` and, if it needs something from outside
(a server), a mark in ``_MARKS``; every test that takes ``store`` or ``make_store`` then
runs on it too. The PostgreSQL backends need a server (see ``postgres_server``): each store
gets a schema of its own, dropped when the test ends.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from clove.storage.cache import CachedStore
from clove.storage.memory import MemoryStore
from clove.storage.postgres import PostgresStore
from clove.storage.protocol import Store
from clove.storage.sqlite import SqliteStore
from storage.postgres_server import drop_schemas, new_schema, require_postgres


def _postgres() -> PostgresStore:
    return PostgresStore(require_postgres(), schema=new_schema())


# Each opener gets an empty scratch directory of its own and returns an empty store.
OPENERS: dict[str, Callable[[Path], Store]] = {
    "memory": lambda directory: MemoryStore(),
    "sqlite": lambda directory: SqliteStore(directory / "clove.db"),
    # What clove.open("sqlite://...") runs: SQLite behind the shared read cache.
    "sqlite-cached": lambda directory: _cached(SqliteStore(directory / "clove.db")),
    "postgres": lambda directory: _postgres(),
    # What clove.open("postgresql://...") runs.
    "postgres-cached": lambda directory: _cached(_postgres()),
}


def _cached(store: SqliteStore | PostgresStore) -> Store:
    return CachedStore(store, store)


_MARKS: dict[str, list[pytest.MarkDecorator]] = {
    "postgres": [pytest.mark.postgres],
    "postgres-cached": [pytest.mark.postgres],
}


class StoreFactory:
    """Opens fresh, empty stores of one backend and closes whatever is left open at the end.

    Property tests open one store per example, which one function-scoped ``store`` cannot do.
    """

    def __init__(self, backend: str, root: Path) -> None:
        self.backend = backend
        self._root = root
        self._opened: list[Store] = []

    def __call__(self) -> Store:
        directory = self._root / f"store-{len(self._opened)}"
        directory.mkdir()
        store = OPENERS[self.backend](directory)
        self._opened.append(store)
        return store

    def close_all(self) -> None:
        schemas: list[str] = []
        for store in self._opened:
            store.close()
            inner = store.inner if isinstance(store, CachedStore) else store
            if isinstance(inner, PostgresStore):
                schemas.append(inner.schema)
        drop_schemas(schemas)


@pytest.fixture(
    params=[pytest.param(name, marks=_MARKS.get(name, []), id=name) for name in OPENERS]
)
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    if any(mark.name == "postgres" for mark in _MARKS.get(name, [])):
        # Before the test body: a property test cannot skip from inside an example.
        require_postgres()
    return name


@pytest.fixture
def make_store(backend: str, tmp_path: Path) -> Iterator[StoreFactory]:
    factory = StoreFactory(backend, tmp_path)
    yield factory
    factory.close_all()


@pytest.fixture
def store(make_store: StoreFactory) -> Store:
    return make_store()
