"""The public surface of ``clove.schema.spicedb`` is exactly what ``__all__`` lists."""

from __future__ import annotations

import types

from clove.schema import spicedb

# Names every module with deferred annotations and type-only imports carries.
_PLUMBING = {"annotations", "TYPE_CHECKING"}


def test_public_names_are_curated() -> None:
    assert spicedb.__all__ == sorted(spicedb.__all__)
    assert spicedb.__all__ == ["check_schema", "parse_schema", "print_schema"]
    public = {
        name
        for name, value in vars(spicedb).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert public - _PLUMBING == set(spicedb.__all__)
