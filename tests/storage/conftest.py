"""The backends the storage conformance suite runs on, one ``store`` fixture per backend.

To add a backend, add an opener to ``OPENERS`` and, if it needs something from outside
(a server), a mark in ``_MARKS``; every test that takes ``store`` or ``make_store`` then
runs on it too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from clove.storage.cache import CachedStore
from clove.storage.memory import MemoryStore
from clove.storage.protocol import Store
from clove.storage.sqlite import SqliteStore

# Each opener gets an empty scratch directory of its own and returns an empty store.
OPENERS: dict[str, Callable[[Path], Store]] = {
    "memory": lambda directory: MemoryStore(),
    "sqlite": lambda directory: SqliteStore(directory / "clove.db"),
    # What clove.open("sqlite://...") runs: SQLite behind the shared read cache.
    "sqlite-cached": lambda directory: _cached(SqliteStore(directory / "clove.db")),
}


def _cached(store: SqliteStore) -> Store:
    return CachedStore(store, store)


# e.g. "postgres": [pytest.mark.postgres]
_MARKS: dict[str, list[pytest.MarkDecorator]] = {}


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
        for store in self._opened:
            store.close()


@pytest.fixture(
    params=[pytest.param(name, marks=_MARKS.get(name, []), id=name) for name in OPENERS]
)
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def make_store(backend: str, tmp_path: Path) -> Iterator[StoreFactory]:
    factory = StoreFactory(backend, tmp_path)
    yield factory
    factory.close_all()


@pytest.fixture
def store(make_store: StoreFactory) -> Store:
    return make_store()
