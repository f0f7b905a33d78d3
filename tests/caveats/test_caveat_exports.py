"""The public surface of ``clove.caveats`` is exactly what the engine uses."""

import clove.caveats


def test_all_is_sorted_and_exact() -> None:
    assert clove.caveats.__all__ == sorted(clove.caveats.__all__)
    assert clove.caveats.__all__ == ["CompiledCaveat", "compile_caveat"]


def test_nothing_else_public() -> None:
    public = {
        name
        for name in vars(clove.caveats)
        if not name.startswith("_") and not isinstance(getattr(clove.caveats, name), type(clove))
    }
    assert public == set(clove.caveats.__all__)
