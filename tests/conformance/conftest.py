"""Where the shared conformance data lives, and the backends every conformance test runs on."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import clove

CONFORMANCE = Path(__file__).resolve().parents[3] / "shared" / "conformance"


def require_conformance() -> Path:
    if not CONFORMANCE.is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail(f"conformance data missing at {CONFORMANCE}")
        pytest.skip(f"conformance data not found at {CONFORMANCE} (../shared beside the repo)")
    return CONFORMANCE


@pytest.fixture(params=["memory", "sqlite"])
def open_database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[[], clove.Database]]:
    counter = iter(range(1_000_000))

    def opener() -> clove.Database:
        if request.param == "memory":
            return clove.open("memory")
        path = tmp_path_factory.mktemp("db") / f"clove-{next(counter)}.db"
        return clove.open(f"sqlite://{path}")

    yield opener
