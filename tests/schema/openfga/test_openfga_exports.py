"""The public surface of ``clove.schema.openfga`` is exactly what ``__all__`` lists."""

from __future__ import annotations

import types

from clove.schema import openfga

# Names every module with deferred annotations carries.
_PLUMBING = {"annotations"}


def test_public_names_are_curated() -> None:
    assert openfga.__all__ == sorted(openfga.__all__)
    assert openfga.__all__ == [
        "load_openfga_modules",
        "looks_like_openfga",
        "parse_openfga_dsl",
        "parse_openfga_json",
    ]
    public = {
        name
        for name, value in vars(openfga).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert public - _PLUMBING == set(openfga.__all__)
