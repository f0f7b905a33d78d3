"""Storage: the MVCC protocol, its backends (memory, SQLite, PostgreSQL) and a read cache."""

from clove.storage.protocol import Reader, SchemaRecord, Store

__all__ = ["Reader", "SchemaRecord", "Store"]
