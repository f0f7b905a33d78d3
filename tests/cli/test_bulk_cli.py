"""``clove relationships import`` and ``export``: files, stdin, progress, errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def _clove(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "clove.cli.main", *args],
        capture_output=True,
        text=True,
        input=stdin,
        check=False,
    )


def _database(tmp_path: Path) -> str:
    schema = tmp_path / "schema.zed"
    schema.write_text("definition user {}\ndefinition doc { relation viewer: user }\n")
    db = f"sqlite://{tmp_path / 'authz.db'}"
    assert _clove("schema", "write", str(schema), "--db", db).returncode == 0
    return db


def test_import_a_file_and_export_it_again(tmp_path: Path) -> None:
    db = _database(tmp_path)
    source = tmp_path / "rels.txt"
    lines = [f"doc:d{i:04}#viewer@user:u{i}" for i in range(3000)]
    source.write_text("// a comment\n\n" + "\n".join(lines) + "\n")
    done = _clove("relationships", "import", str(source), "--db", db, "--progress")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("CLV1")
    assert "imported 3,000 relationships" in done.stderr
    output = tmp_path / "out.txt"
    done = _clove("relationships", "export", "--db", db, "--output", str(output))
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # no progress when stderr is not a terminal
    assert output.read_text().splitlines() == sorted(lines)
    done = _clove("relationships", "export", "doc:d0001", "--db", db)
    assert done.stdout == "doc:d0001#viewer@user:u1\n"


def test_import_from_stdin_fails_whole_on_a_bad_row(tmp_path: Path) -> None:
    db = _database(tmp_path)
    stdin = "doc:a#viewer@user:ann\ndoc:b#viewer@doc:a\n"
    done = _clove("relationships", "import", "-", "--db", db, stdin=stdin)
    assert done.returncode == 1
    assert done.stderr.startswith("error: row 2: subjects of type `doc` are not allowed")
    assert "Traceback" not in done.stderr
    assert _clove("relationships", "export", "--db", db).stdout == ""


def test_import_refuses_duplicates(tmp_path: Path) -> None:
    db = _database(tmp_path)
    stdin = "doc:a#viewer@user:ann\ndoc:a#viewer@user:ann\n"
    done = _clove("relationships", "import", "-", "--db", db, stdin=stdin)
    assert done.returncode == 1
    assert "row 2: relationship doc:a#viewer@user:ann is repeated (first at row 1)" in done.stderr
