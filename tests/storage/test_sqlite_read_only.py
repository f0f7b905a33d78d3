"""SQLite files this process may not write open for reads, and writes fail saying why.

Permissions are real here: each case runs ``clove.open`` in a child process that they bind.
Under root, which ignores file permissions, that child runs in a user namespace of its own
with no user mapped into it (``unshare --user``): it keeps its uid on the host, so it still
owns root's files, but holds no capability over them, so their permission bits apply to it
as to any owner. The read-only file system case mounts one in such a namespace, where not
even its root may write.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import clove

SCHEMA = "definition user {}\ndefinition doc { relation viewer: user }"

# Run in the child: open the file, check, try to write; print what happened as JSON.
PROBE = r"""
import json, sys
import clove

path = sys.argv[1]
try:
    db = clove.open(f"sqlite://{path}")
except clove.StorageError as error:
    print(json.dumps({"open_error": str(error)}))
    raise SystemExit(0)
found = {
    name: db.check(f"doc:{name}", "viewer", "user:u", consistency="full").permissionship
    for name in ("old", "fresh")
}
try:
    db.write_relationships(["doc:new#viewer@user:u"])
    found["write_error"] = None
except clove.StorageError as error:
    found["write_error"] = str(error)
db.close()
print(json.dumps(found))
"""

_RUNNING_AS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


@functools.cache
def _unshare_fails(*options: str) -> str | None:
    """Why ``unshare`` with ``options`` cannot run here, or None if it can."""
    if sys.platform != "linux" or shutil.which("unshare") is None:
        return "needs Linux and unshare(1)"
    tried = subprocess.run(
        ["unshare", *options, "true"], capture_output=True, text=True, check=False
    )
    return None if tried.returncode == 0 else f"no user namespaces: {tried.stderr.strip()}"


def _probe(path: Path, *, prefix: tuple[str, ...] | None = None) -> Any:
    """Run ``PROBE`` on ``path`` and return what it printed (a clean exit, nothing on stderr).

    ``prefix`` runs it through another command; by default, under root, one that takes the
    capabilities that ignore permissions away (see the module's docstring).
    """
    if prefix is None:
        prefix = ()
        if _RUNNING_AS_ROOT:
            problem = _unshare_fails("--user")
            if problem is not None:
                pytest.skip(f"running as root, which ignores permissions, and {problem}")
            prefix = ("unshare", "--user")
    command = [*prefix, sys.executable, "-c", PROBE, str(path)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    return json.loads(done.stdout)


@pytest.fixture
def directory() -> Iterator[Path]:
    """A scratch directory other users can reach (pytest's ``tmp_path`` is private to us)."""
    path = Path(tempfile.mkdtemp(prefix="clove-read-only-"))
    path.chmod(0o755)
    yield path
    path.chmod(0o755)
    shutil.rmtree(path)


def _store(path: Path) -> clove.Database:
    db = clove.open(f"sqlite://{path}")
    db.write_schema(SCHEMA)
    db.write_relationships(["doc:old#viewer@user:u"])
    return db


def _assert_read_only(found: dict[str, Any], path: Path, *, fresh: str = "no") -> None:
    assert "open_error" not in found, found
    assert found["old"] == "has"
    assert found["fresh"] == fresh
    message = found["write_error"]
    assert message is not None
    assert f"cannot write {str(path)!r}: it is read-only" in message
    assert "opened for reads only" in message


def test_a_read_only_file_opens_for_reads(directory: Path) -> None:
    path = directory / "authz.db"
    _store(path).close()
    directory.chmod(0o777)  # SQLite may create the -shm file next to it
    path.chmod(0o444)
    _assert_read_only(_probe(path), path)


def test_a_file_in_a_read_only_directory_opens_for_reads(directory: Path) -> None:
    path = directory / "authz.db"
    _store(path).close()
    path.chmod(0o444)
    directory.chmod(0o555)  # no -shm can be made: read as unchanging, as nobody may write it
    _assert_read_only(_probe(path), path)


def test_a_read_only_directory_with_a_live_writer_shows_its_latest_commits(
    directory: Path,
) -> None:
    path = directory / "authz.db"
    writer = _store(path)
    try:
        # Committed to the WAL, not yet to the file: a reader ignoring the WAL would miss it.
        writer.write_relationships(["doc:fresh#viewer@user:u"])
        assert os.path.getsize(f"{path}-wal") > 0
        directory.chmod(0o555)
        _assert_read_only(_probe(path), path, fresh="has")
    finally:
        directory.chmod(0o755)
        writer.close()


@pytest.mark.skipif(not _RUNNING_AS_ROOT, reason="needs to give a directory to another user")
def test_a_file_others_may_still_write_is_refused_with_the_reason(directory: Path) -> None:
    path = directory / "authz.db"
    _store(path).close()
    # The directory's owner may write there; the child, no owner of it, can make no -shm.
    os.chown(directory, 65534, 65534)
    found = _probe(path)
    message = found["open_error"]
    assert f"cannot read {str(path)!r}: it is read-only" in message
    assert "-shm" in message
    assert "its directory grants someone write permission" in message


def test_a_file_on_a_read_only_file_system_opens_for_reads(directory: Path) -> None:
    namespace = ("--user", "--map-root-user", "--mount")
    problem = _unshare_fails(*namespace)
    if problem is not None:
        pytest.skip(problem)
    path = directory / "authz.db"
    _store(path).close()
    # Bind the directory onto itself, read-only, in a mount namespace of the child's own.
    mount = (
        f'mount --bind {directory} {directory} && mount -o remount,bind,ro {directory} && exec "$@"'
    )
    assert stat.S_IMODE(directory.stat().st_mode) & stat.S_IWUSR  # writable but for the mount
    _assert_read_only(_probe(path, prefix=("unshare", *namespace, "sh", "-c", mount, "sh")), path)
