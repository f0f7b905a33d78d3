"""Storage: the MVCC storage protocol and its backends (memory, SQLite)."""

from clove.storage.protocol import Reader, SchemaRecord, Store

__all__ = ["Reader", "SchemaRecord", "Store"]
