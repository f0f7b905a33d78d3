"""Storage-format migrations as a deployment step: what a database needs, and applying it.

``clove.open`` migrates by default; deployments that keep schema changes out of the serving
path open with ``migrate=False`` and run ``clove migrate`` (this module) beforehand.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from clove.errors import InvalidInputError


@dataclass(frozen=True, slots=True)
class MigrationStatus:
    """A database's storage format (``current``; 0: not a store yet) and this Clove's."""

    current: int
    latest: int

    @property
    def pending(self) -> int:
        """How many migrations ``migrate`` would apply."""
        return max(0, self.latest - self.current)


def migration_status(url: str) -> MigrationStatus:
    """The storage format of the database at ``url``, read without changing anything."""
    if url in ("memory", "memory://", ":memory:"):
        return MigrationStatus(0, 0)  # nothing persists, nothing to migrate
    if url.startswith(("postgresql://", "postgres://")):
        from clove.storage import postgres

        return MigrationStatus(*postgres.migration_status(url))
    from clove.storage import sqlite

    return MigrationStatus(*sqlite.migration_status(_sqlite_file(url)))


def migrate(url: str) -> MigrationStatus:
    """Apply every pending migration to the database at ``url``; return its new status.

    Safe to run from several processes at once: they take turns, and later ones find
    nothing left to do.
    """
    from clove.database import open as open_database

    open_database(url, migrate=True).close()
    return migration_status(url)


def _sqlite_file(url: str) -> Path:
    path = url[len("sqlite://") :] if url.startswith("sqlite://") else url
    if not path or "://" in path:
        raise InvalidInputError(
            f"unsupported database URL {url!r}: use memory, sqlite:///path or postgresql://..."
        )
    return Path(path).expanduser()
