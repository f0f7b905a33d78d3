"""A throwaway PostgreSQL primary with one streaming standby, on loopback, for replica tests.

Built from the server binaries under ``/usr/lib/postgresql/*/bin`` in a temporary directory:
``initdb`` the primary, ``pg_basebackup -R`` the standby, start both, wait for streaming.
PostgreSQL refuses to run as root, so as root the servers run as the ``postgres`` user.
Everything is stopped and deleted by ``stop`` (also when starting fails half-way).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg


def find_bin_dir() -> Path | None:
    """The newest installed PostgreSQL server's ``bin`` directory, if any."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda path: int(path.split("/")[4]) if path.split("/")[4].isdigit() else 0,
    )
    return Path(found[-1]).parent if found else None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Cluster:
    """A primary and a standby; ``primary_url`` and ``standby_url`` reach them."""

    def __init__(self, bin_dir: Path) -> None:
        self._bin = bin_dir
        self._root = Path(tempfile.mkdtemp(prefix="clove-replicas-"))
        self._as_postgres = os.geteuid() == 0
        if self._as_postgres:
            user = pwd.getpwnam("postgres")
            os.chown(self._root, user.pw_uid, user.pw_gid)
        self.primary_port = _free_port()
        self.standby_port = _free_port()
        self._primary = self._root / "primary"
        self._standby = self._root / "standby"
        self.primary_url = f"postgresql://postgres@127.0.0.1:{self.primary_port}/postgres"
        self.standby_url = f"postgresql://postgres@127.0.0.1:{self.standby_port}/postgres"

    def start(self) -> None:
        try:
            self._run("initdb", "-D", self._primary, "-U", "postgres", "--auth=trust",
                      "-E", "UTF8", "--no-sync")  # fmt: skip
            settings = [
                "listen_addresses = '127.0.0.1'",
                f"port = {self.primary_port}",
                f"unix_socket_directories = '{self._root}'",
                "wal_level = replica",
                "max_wal_senders = 4",
                "hot_standby = on",
                "fsync = off",
                "full_page_writes = off",
                "shared_buffers = 16MB",
            ]
            self._append(self._primary / "postgresql.conf", settings)
            self._pg_ctl(self._primary, "start")
            self._run("pg_basebackup", "-h", "127.0.0.1", "-p", str(self.primary_port),
                      "-U", "postgres", "-D", self._standby, "-R", "-X", "stream",
                      "--no-sync")  # fmt: skip
            self._append(self._standby / "postgresql.conf", [f"port = {self.standby_port}"])
            self.start_standby()
        except BaseException:
            self.stop()
            raise

    def start_standby(self) -> None:
        self._pg_ctl(self._standby, "start")
        self.wait_streaming()

    def stop_standby(self) -> None:
        self._pg_ctl(self._standby, "stop", "-m", "immediate")

    def wait_streaming(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            with psycopg.connect(self.primary_url, autocommit=True) as connection:
                row = connection.execute(
                    "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'"
                ).fetchone()
            if row is not None and row[0] > 0:
                return
            if time.monotonic() > deadline:
                raise TimeoutError("the standby did not start streaming")
            time.sleep(0.1)

    def standby_sql(self, statement: str) -> object:
        with psycopg.connect(self.standby_url, autocommit=True) as connection:
            row = connection.execute(statement).fetchone()
            return None if row is None else row[0]

    def pause_replay(self) -> None:
        self.standby_sql("SELECT pg_wal_replay_pause()")
        deadline = time.monotonic() + 10
        while self.standby_sql("SELECT pg_get_wal_replay_pause_state()") != "paused":
            if time.monotonic() > deadline:
                raise TimeoutError("replay did not pause")
            time.sleep(0.02)

    def resume_replay(self) -> None:
        self.standby_sql("SELECT pg_wal_replay_resume()")

    def wait_replayed(self, timeout: float = 10.0) -> None:
        """Until the standby has replayed everything the primary has written so far."""
        with psycopg.connect(self.primary_url, autocommit=True) as connection:
            row = connection.execute("SELECT pg_current_wal_lsn()::text").fetchone()
        assert row is not None
        target = row[0]
        deadline = time.monotonic() + timeout
        query = f"SELECT pg_last_wal_replay_lsn() >= '{target}'::pg_lsn"
        while self.standby_sql(query) is not True:
            if time.monotonic() > deadline:
                raise TimeoutError("the standby did not catch up")
            time.sleep(0.02)

    def stop(self) -> None:
        for data in (self._standby, self._primary):
            if (data / "postmaster.pid").exists():
                with contextlib.suppress(subprocess.CalledProcessError):
                    self._pg_ctl(data, "stop", "-m", "immediate")
        shutil.rmtree(self._root, ignore_errors=True)

    def _pg_ctl(self, data: Path, action: str, *options: str) -> None:
        self._run("pg_ctl", "-D", data, "-l", data.with_suffix(".log"), "-w", action, *options)

    def _append(self, path: Path, lines: list[str]) -> None:
        with path.open("a") as config:
            config.write("\n" + "\n".join(lines) + "\n")

    def _run(self, program: str, *args: str | Path) -> None:
        command = [str(self._bin / program), *map(str, args)]
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120, cwd=self._root)
