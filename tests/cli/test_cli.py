"""The command line, run as a user would: exit codes, reports, errors without tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from clove.cli.main import main
from conformance_data import conformance_files, require_conformance


def _clove(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "clove.cli.main", *args],
        capture_output=True,
        text=True,
        input=stdin,
        check=False,
    )


def test_validate_passes_spicedb_files_and_reports_json() -> None:
    require_conformance()
    files = [str(p) for p in conformance_files("spicedb", "*.yaml")]
    done = _clove("validate", "--json", *files)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["failed"] == 0
    assert report["passed"] > 200


def test_validate_fails_on_a_wrong_assertion(tmp_path: Path) -> None:
    path = tmp_path / "wrong.yaml"
    path.write_text(
        "schema: |\n  definition user {}\n  definition doc { relation viewer: user }\n"
        "relationships: doc:1#viewer@user:a\n"
        "assertions:\n  assertTrue:\n    - doc:1#viewer@user:b\n  assertFalse:\n"
        "    - doc:1#viewer@user:c\n"
    )
    done = _clove("validate", str(path))
    assert done.returncode == 1
    assert "1 passed, 1 failed" in done.stdout
    assert "doc:1#viewer@user:b" in done.stdout


def test_bad_schema_prints_position_not_traceback(tmp_path: Path) -> None:
    path = tmp_path / "bad.zed"
    path.write_text("definition user {}\ndefinition doc {\n  relation viewer: usr\n}\n")
    done = _clove("schema", "validate", str(path))
    assert done.returncode == 1
    assert "3:" in done.stderr
    assert "Traceback" not in done.stderr


def test_round_trip_through_a_sqlite_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = f"sqlite://{tmp_path}/cli.db"
    schema = tmp_path / "schema.zed"
    schema.write_text(
        "definition user {}\ndefinition doc { relation viewer: user\n permission view = viewer }"
    )
    assert main(["schema", "write", str(schema), "--db", db]) == 0
    assert main(["relationships", "write", "doc:1#viewer@user:a", "--db", db]) == 0
    assert main(["check", "doc:1", "view", "user:a", "--db", db]) == 0
    assert main(["check", "doc:1", "view", "user:b", "--db", db]) == 1
    assert main(["lookup-resources", "doc", "view", "user:a", "--db", db]) == 0
    assert main(["lookup-subjects", "doc:1", "view", "user", "--db", db]) == 0
    assert main(["expand", "doc:1", "view", "--db", db]) == 0
    assert main(["relationships", "read", "doc", "--db", db]) == 0
    out = capsys.readouterr().out
    assert "doc:1\thas" in out
    assert "user:a\thas" in out
    assert main(["relationships", "write", "doc:1#nosuch@user:a", "--db", db]) == 1
    assert "not found" in capsys.readouterr().err
    assert main(["relationships", "delete", "doc:1#viewer", "--db", db]) == 0
    assert main(["check", "doc:1", "view", "user:a", "--db", db]) == 1


def test_demo_runs(tmp_path: Path) -> None:
    done = _clove("demo", "--db", f"sqlite://{tmp_path}/demo.db")
    assert done.returncode == 0, done.stderr
    assert "check document:readme#view@user:alice: has" in done.stdout
    assert "missing client_ip" in done.stdout
