"""Every assertion of SpiceDB's own validation files passes, on every backend."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

import clove
from clove.validationfile import run_validation_file
from conformance_data import conformance_files, require_conformance

FILES = conformance_files("spicedb", "*.yaml")


@pytest.mark.parametrize("path", FILES, ids=[path.stem for path in FILES])
def test_validation_file(path: Path, open_database: Callable[[], clove.Database]) -> None:
    require_conformance()
    report = run_validation_file(str(path), open_database=open_database)
    failures = [o for o in report.outcomes if not o.passed]
    assert not failures, "\n".join(
        f"{o.kind} {o.text}: expected {o.expected}, got {o.actual} {o.error}" for o in failures
    )
