"""A real PostgreSQL server for the tests: Debian's binaries, a cluster in a temporary
folder, on a free port, started once per test session and stopped (by its PID) at the end.

initdb and postgres refuse to run as root: as root they run as Debian's ``postgres``
system user, otherwise as the current user.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import free_port

INSTALL_HINT = "PostgreSQL is not installed: run `python3 scripts/test.py` (it installs Debian's postgresql package)"


def binaries() -> Path | None:
    """The newest ``/usr/lib/postgresql/<version>/bin`` that has initdb and postgres."""
    found = [
        d for d in Path("/usr/lib/postgresql").glob("*/bin") if (d / "initdb").is_file() and (d / "postgres").is_file()
    ]
    return max(found, key=lambda d: int(d.parent.name) if d.parent.name.isdigit() else 0) if found else None


class PostgresServer:
    """One cluster: ``start()``, ``create_database()`` as often as needed, ``stop()``."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.port = free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="ruschat-pg-"))
        self.data = self.folder / "data"
        self.log = self.folder / "postgres.log"
        self.user = "postgres" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name
        self.proc: subprocess.Popen[bytes] | None = None

    def _as_user(self, *command: str | Path) -> list[str]:
        words = [str(c) for c in command]
        return ["runuser", "-u", self.user, "--", *words] if os.geteuid() == 0 else words

    def start(self, timeout: float = 60) -> PostgresServer:
        if os.geteuid() == 0:
            account = pwd.getpwnam(self.user)
            os.chown(self.folder, account.pw_uid, account.pw_gid)
        initdb = self._as_user(
            self.bin_dir / "initdb",
            "-D",
            self.data,
            "-A",
            "trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
            "--no-sync",
        )
        done = subprocess.run(initdb, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed:\n{done.stdout}\n{done.stderr}")
        command = self._as_user(
            self.bin_dir / "postgres",
            "-D",
            self.data,
            "-p",
            str(self.port),
            "-k",
            self.folder,
            "-h",
            "127.0.0.1",
            "-c",
            "fsync=off",  # a throwaway cluster: durability is not what these tests measure
            "-c",
            "max_connections=200",
        )
        self._log = self.log.open("ab")
        self.proc = subprocess.Popen(command, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"postgres exited with {self.proc.returncode}:\n{self.log.read_text()[-3000:]}")
            ready = subprocess.run(
                [self.bin_dir / "pg_isready", "-h", "127.0.0.1", "-p", str(self.port), "-q"], capture_output=True
            )
            if ready.returncode == 0:
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"postgres not ready after {timeout} s:\n{self.log.read_text()[-3000:]}")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, prefix: str = "t") -> str:
        """A new, empty database; its SQLAlchemy URL."""
        import psycopg

        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def server_pid(self) -> int | None:
        """The postmaster's PID (under runuser it is not our child's PID)."""
        try:
            return int((self.data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def stop(self) -> None:
        pid = self.server_pid()
        if pid is not None and self.proc is not None and self.proc.poll() is None:
            os.kill(pid, signal.SIGINT)  # fast shutdown: ends the sessions, then exits
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.kill(pid, signal.SIGKILL)
                self.proc.wait(5)
        elif self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        if self.proc is not None:
            self._log.close()
        shutil.rmtree(self.folder, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """The session's PostgreSQL server; fails (not skips) when PostgreSQL is not installed."""
    bin_dir = binaries()
    if bin_dir is None:
        pytest.fail(INSTALL_HINT)
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            pytest.fail("running as root, the tests start PostgreSQL as the 'postgres' user, which is missing")
        if not shutil.which("runuser"):
            pytest.fail("running as root, the tests need runuser (util-linux) to start PostgreSQL")
    server = PostgresServer(bin_dir).start()
    try:
        yield server
    finally:
        server.stop()
