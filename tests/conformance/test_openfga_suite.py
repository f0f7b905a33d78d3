"""Every assertion of OpenFGA's consolidated test suite passes, on every backend.

One pytest test per OpenFGA test and backend (``open_database`` in ``conftest.py``), so a
failure names both. The suite's check,
list-objects and list-users assertions (925 of them) include expected error codes, which the
runner (``clove.openfga_tests``) maps from Clove's errors.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import yaml

import clove
from clove.openfga_tests import count_assertions, run_openfga_test
from conformance_data import CONFORMANCE, require_conformance

SUITE = CONFORMANCE / "openfga" / "consolidated_1_1_tests.yaml"
TESTS: list[dict[str, Any]] = yaml.safe_load(SUITE.read_text())["tests"] if SUITE.is_file() else []


@pytest.mark.parametrize("test", TESTS, ids=[str(test["name"]) for test in TESTS])
def test_openfga_suite_test(
    test: dict[str, Any], open_database: Callable[[], clove.Database]
) -> None:
    require_conformance()
    outcomes = run_openfga_test(test, file=SUITE.name, open_database=open_database)
    assert len(outcomes) == count_assertions(test)
    failures = [o for o in outcomes if not o.passed]
    assert not failures, "\n".join(
        f"{o.text}: expected {o.expected}, got {o.actual} {o.error}" for o in failures
    )


def test_the_suite_holds_every_kind_of_assertion() -> None:
    require_conformance()
    assert sum(count_assertions(test) for test in TESTS) == 925
