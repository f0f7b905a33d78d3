"""``clove validate`` on OpenFGA test files, alone and mixed with SpiceDB validation files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from clove.validationfile import run_validation_file
from conformance_data import CONFORMANCE, conformance_files, require_conformance

SUITE = CONFORMANCE / "openfga" / "consolidated_1_1_tests.yaml"

WRONG = """\
tests:
  - name: wrong_expectations
    stages:
      - model: |
          model
            schema 1.1
          type user
          type document
            relations
              define viewer: [user]
        tuples:
          - object: document:1
            relation: viewer
            user: user:anne
        checkAssertions:
          - tuple: {object: document:1, relation: viewer, user: user:anne}
            expectation: true
          - tuple: {object: document:1, relation: viewer, user: user:bob}
            expectation: true
        listObjectsAssertions:
          - request: {user: user:anne, type: document, relation: viewer}
            expectation: [document:1]
        listUsersAssertions:
          - request: {object: document:1, relation: viewer, filters: [user]}
            expectation: [user:anne]
          - request: {object: document:1, relation: nope, filters: [user]}
            errorCode: 2000
"""


def _clove(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "clove.cli.main", *args],
        capture_output=True,
        text=True,
        check=False,
    )


def test_validate_json_counts_every_openfga_and_spicedb_assertion() -> None:
    require_conformance()
    spicedb = conformance_files("spicedb", "*.yaml")[:3]
    spicedb_passed = sum(run_validation_file(path).passed for path in spicedb)
    done = _clove("validate", "--json", str(SUITE), *map(str, spicedb))
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr
    report = json.loads(done.stdout)
    assert report == {"passed": 925 + spicedb_passed, "failed": 0, "failures": []}


def test_validate_reports_each_failed_openfga_assertion(tmp_path: Path) -> None:
    path = tmp_path / "wrong.yaml"
    path.write_text(WRONG)
    done = _clove("validate", "--json", str(path))
    assert done.returncode == 1
    report = json.loads(done.stdout)
    assert (report["passed"], report["failed"]) == (3, 2)
    check, list_users = report["failures"]
    assert check["kind"] == "check"
    assert "document:1#viewer@user:bob" in check["assertion"]
    assert (check["expected"], check["actual"]) == ("true", "false")
    assert list_users["kind"] == "list_users"
    assert (list_users["expected"], list_users["actual"]) == ("error 2000", "error 2022")


def test_validate_text_report_names_the_test_and_stage(tmp_path: Path) -> None:
    path = tmp_path / "wrong.yaml"
    path.write_text(WRONG)
    done = _clove("validate", str(path))
    assert done.returncode == 1
    assert "wrong_expectations stage 0: check document:1#viewer@user:bob" in done.stdout
    assert done.stdout.strip().endswith("3 passed, 2 failed")
