"""Writes that break off part-way: the caller's updates fail, or the writing process dies.

Shared by the storage conformance suite and the PostgreSQL tests; ``die_while_writing`` runs
in a spawned child process, so the store is opened there from a picklable ``open_store``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Sequence
from multiprocessing.synchronize import Event
from typing import overload

from clove.relationships import (
    Operation,
    RelationshipFilter,
    RelationshipUpdate,
    parse_relationship,
)
from clove.storage.protocol import Store


class Interrupting(Sequence[RelationshipUpdate]):
    """Updates that call ``interrupt`` when a backend reaches the one at ``at``."""

    def __init__(
        self, updates: list[RelationshipUpdate], *, at: int, interrupt: Callable[[], None]
    ) -> None:
        self._updates = updates
        self._at = at
        self._interrupt = interrupt

    def __len__(self) -> int:
        return len(self._updates)

    @overload
    def __getitem__(self, index: int) -> RelationshipUpdate: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[RelationshipUpdate]: ...
    def __getitem__(self, index: int | slice) -> RelationshipUpdate | Sequence[RelationshipUpdate]:
        return self._updates[index]

    def __iter__(self) -> Iterator[RelationshipUpdate]:
        for position, update in enumerate(self._updates):
            if position == self._at:
                self._interrupt()
            yield update


def die_while_writing(open_store: Callable[[], Store], how: str, inside: Event) -> None:
    """Run in a child process: start a large write and die in the middle of it.

    ``how`` is ``"exit"`` (the process exits with status 3) or ``"sigkill"`` (it sets
    ``inside`` and waits for the parent to kill it). The write replaces the schema with
    ``"v2"`` and deletes ``resource_id="keep"`` before the 25,000th of 30,000 updates, so
    that enough is under way (SQLite spills pages into the WAL, PostgreSQL has sent two
    chunks) for a half-applied write to show if storage let one.
    """

    def die() -> None:
        if how == "exit":
            os._exit(3)
        inside.set()  # the parent kills us now
        time.sleep(120)

    store = open_store()
    big = [
        RelationshipUpdate(
            operation=Operation.TOUCH,
            relationship=parse_relationship(f"doc:big{i}#viewer@user:u{i}"),
        )
        for i in range(30_000)
    ]
    store.write(
        Interrupting(big, at=25_000, interrupt=die),
        delete_filters=[RelationshipFilter(resource_id="keep")],
        schema_text="v2",
    )
