"""Every conformance test runs on every storage backend."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from itertools import count

import pytest

import clove


@pytest.fixture(params=["memory", "sqlite"])
def open_database(
    request: pytest.FixtureRequest, tmp_path: object
) -> Iterator[Callable[[], clove.Database]]:
    numbers = count()

    def opener() -> clove.Database:
        if request.param == "memory":
            return clove.open("memory")
        return clove.open(f"sqlite://{tmp_path}/clove-{next(numbers)}.db")

    yield opener
