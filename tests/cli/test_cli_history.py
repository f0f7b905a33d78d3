"""``clove watch``, ``clove gc`` and ``clove migrate``, run as a user would."""

from __future__ import annotations

import json
import os
import re
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import clove
from clove.cli.main import main
from clove.errors import StorageError
from clove.storage import postgres, sqlite
from storage.postgres_server import drop_schemas, new_schema, require_postgres

SCHEMA = """
definition user {}
definition doc {
    relation viewer: user
    relation owner: user
}
"""


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite://{tmp_path}/clove.db"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


# --- watch --------------------------------------------------------------------------------


def test_watch_prints_each_update_with_its_token(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with clove.open(url) as db:
        start = db.write_schema(SCHEMA)
        t1 = db.write_relationships(["doc:1#viewer@user:a", "doc:2#owner@user:b"])
        t2 = db.delete_relationships("doc:1")
        t3 = db.write_schema(SCHEMA + "definition folder {}")
    code, out, err = run(capsys, "watch", "--db", url, "--after", start, "--timeout", "0.3")
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        f"{t1}\tcreate\tdoc:1#viewer@user:a",
        f"{t1}\tcreate\tdoc:2#owner@user:b",
        f"{t2}\tdelete\tdoc:1#viewer@user:a",
        f"{t3}\tschema\t7 lines",
    ]
    code, out, _ = run(
        capsys, "watch", "--db", url, "--after", start, "--timeout", "0.3", "--relation", "owner"
    )
    assert out.splitlines() == [f"{t1}\tcreate\tdoc:2#owner@user:b", f"{t3}\tschema\t7 lines"]
    code, out, _ = run(
        capsys, "watch", "--db", url, "--after", start, "--timeout", "0.3", "--type", "doc",
        "--no-schema", "--json",
    )  # fmt: skip
    records = [json.loads(line) for line in out.splitlines()]
    assert [(r["token"], r["schema"]) for r in records] == [(t1, None), (t2, None)]
    assert records[0]["updates"] == [
        {"operation": "create", "relationship": "doc:1#viewer@user:a"},
        {"operation": "create", "relationship": "doc:2#owner@user:b"},
    ]
    assert records[0]["committed_at"].endswith("+00:00")


def test_watch_refuses_bad_and_collected_tokens(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "watch", "--db", url, "--after", "nonsense")
    assert code == 1 and err.startswith("error: malformed consistency token")
    with clove.open(url) as db:
        old = db.write_schema(SCHEMA)
        db.write_relationships(["doc:1#viewer@user:a"])
    code, out, err = run(capsys, "gc", "--db", url, "--window", "0s")
    assert code == 0 and out.startswith("kept revisions from 2 (window 0s); removed 0 old")
    code, _, err = run(capsys, "watch", "--db", url, "--after", old)
    assert code == 1
    assert "older than the garbage-collection window" in err
    assert "Traceback" not in err


def test_gc_rejects_a_malformed_window(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["gc", "--db", url, "--window", "soon"])
    assert exit_info.value.code == 2
    assert "not a duration" in capsys.readouterr().err


def test_ctrl_c_ends_watch_quietly(tmp_path: Path) -> None:
    url = f"sqlite://{tmp_path}/clove.db"
    with clove.open(url) as db:
        db.write_schema(SCHEMA)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    child = subprocess.Popen(
        [sys.executable, "-m", "clove.cli.main", "watch", "--db", url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert child.stdout is not None
        line = ""
        deadline = time.monotonic() + 60
        with clove.open(url) as db:
            # Until the child watches, writes happen before its "now": keep writing.
            while not line and time.monotonic() < deadline:
                db.write_relationships(["doc:1#viewer@user:a"])
                line = _line_within(child, 1.0)
        # The child may start watching after the first write, which created the relationship.
        assert line.split("\t")[1:] in (
            ["create", "doc:1#viewer@user:a"],
            ["touch", "doc:1#viewer@user:a"],
        )
        assert line.split("\t")[0].startswith("CLV1")
        child.send_signal(signal.SIGINT)
        _, err = child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == 0
    assert err == ""


def _line_within(child: subprocess.Popen[str], seconds: float) -> str:
    """The child's next output line, or "" if none comes within ``seconds``."""
    assert child.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(child.stdout, selectors.EVENT_READ)
        if selector.select(timeout=seconds):
            return child.stdout.readline().rstrip("\n")
    return ""


# --- migrate ------------------------------------------------------------------------------


def test_migrate_reports_applies_and_is_idempotent(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "migrate", "--db", url, "--status")
    assert code == 0
    assert out.strip() == (
        f"{url}: no Clove store yet; pending: 1 migration(s) to reach format 1"
        f" (run `clove migrate --db {url}`)"
    )
    code, out, _ = run(capsys, "migrate", "--db", url, "--dry-run")
    assert out.strip() == f"{url}: no Clove store yet; would apply 1 migration(s) to reach format 1"
    assert not (tmp_path / "clove.db").exists()
    code, out, _ = run(capsys, "migrate", "--db", url)
    assert (code, out.strip()) == (0, f"{url}: applied 1 migration(s); storage format is now 1")
    code, out, _ = run(capsys, "migrate", "--db", url)
    assert out.strip() == f"{url}: storage format 1, up to date"
    code, out, _ = run(capsys, "migrate", "--db", "memory")
    assert out.strip() == "memory: in-memory databases need no migration"


def test_open_without_migrate_refuses_a_missing_store(tmp_path: Path) -> None:
    path = tmp_path / "absent.db"
    expected = f"create it with `clove migrate --db sqlite://{path}`"
    with pytest.raises(StorageError, match=re.escape(expected)):
        clove.open(f"sqlite://{path}", migrate=False)
    assert not path.exists()


def test_a_store_behind_is_refused_until_migrated(
    url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with clove.open(url) as db:
        token = db.write_schema(SCHEMA)
    # A harmless second migration, standing in for the next release's, puts the file behind.
    step = ("CREATE TABLE migration_probe (x INTEGER)",)
    monkeypatch.setattr(sqlite, "_MIGRATIONS", (*sqlite._MIGRATIONS, step))
    with pytest.raises(StorageError) as refused:
        clove.open(url, migrate=False)
    assert "has storage format 1; this version of Clove needs format 2" in str(refused.value)
    assert f"run `clove migrate --db {url}`" in str(refused.value)
    code, out, _ = run(capsys, "migrate", "--db", url, "--status")
    assert code == 0
    assert "storage format 1; pending: 1 migration(s) to reach format 2" in out
    code, out, _ = run(capsys, "migrate", "--db", url)
    assert out.strip() == f"{url}: applied 1 migration(s); storage format is now 2"
    with clove.open(url, migrate=False) as db:
        assert db.read_schema(consistency=clove.Consistency.at_exact_snapshot(token)) == SCHEMA


@pytest.mark.postgres
def test_postgres_migrate_and_refusal(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    dsn = require_postgres()
    schema = new_schema()
    pg_url = f"{dsn}?schema={schema}"
    try:
        with pytest.raises(StorageError, match=r"create it with `clove migrate --db .*\?schema="):
            clove.open(pg_url, migrate=False)
        code, out, _ = run(capsys, "migrate", "--db", pg_url, "--status")
        assert "no Clove store yet; pending: 1 migration(s)" in out
        code, out, _ = run(capsys, "migrate", "--db", pg_url)
        assert out.strip() == f"{pg_url}: applied 1 migration(s); storage format is now 1"
        step = ("CREATE TABLE {s}.migration_probe (x integer)",)
        monkeypatch.setattr(postgres, "_MIGRATIONS", (*postgres._MIGRATIONS, step))
        with pytest.raises(
            StorageError, match="has storage format 1; this version of Clove needs 2"
        ):
            clove.open(pg_url, migrate=False)
        code, out, _ = run(capsys, "migrate", "--db", pg_url)
        assert code == 0
        assert out.strip() == f"{pg_url}: applied 1 migration(s); storage format is now 2"
        clove.open(pg_url, migrate=False).close()
    finally:
        drop_schemas([schema])
