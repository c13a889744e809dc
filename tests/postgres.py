"""A real PostgreSQL for the tests: Debian's server binaries, a temporary data directory,
127.0.0.1 and a free port; started once per test session, a fresh database per test.

PostgreSQL refuses to run as root, so as root the server runs as the ``postgres`` user
(Debian's package creates it). ``.ci/run`` installs the package; where it is missing the
PostgreSQL tests are skipped, except under CI, where that is an error.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

START_SECONDS = 60


def binaries() -> Path | None:
    """The newest installed server's bin directory (Debian: /usr/lib/postgresql/N/bin)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
                   key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    if found:
        return Path(found[-1]).parent
    pg_ctl = shutil.which("pg_ctl")
    return Path(pg_ctl).parent if pg_ctl else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    """One PostgreSQL server in a temporary directory; ``dsn(name)`` for a database."""

    def __init__(self) -> None:
        bin_dir = binaries()
        if bin_dir is None:
            raise FileNotFoundError("no PostgreSQL server binaries (Debian: apt-get install postgresql)")
        self.bin = bin_dir
        self.root = Path(tempfile.mkdtemp(prefix="stigmer-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.user = "postgres" if os.geteuid() == 0 else None
        if self.user:
            entry = pwd.getpwnam(self.user)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        self._run("initdb", "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync",
                  "-D", str(self.data))
        self.start()

    def _run(self, tool: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        command = [str(self.bin / tool), *args]
        if self.user:
            command = ["runuser", "-u", self.user, "--", *command]
        return subprocess.run(command, capture_output=True, text=True, check=check, timeout=START_SECONDS)

    def start(self) -> None:
        options = (f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} "
                   "-c max_connections=300 -c shared_buffers=64MB")
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.root / "log"),
                  "-w", "-t", str(START_SECONDS), "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop", check=False)

    @property
    def pid(self) -> int:
        """The postmaster's process id (its children are the backends)."""
        return int((self.data / "postmaster.pid").read_text().split()[0])

    def kill(self) -> None:
        """SIGKILL the postmaster (a crash; its children follow)."""
        pid = self.pid
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + START_SECONDS
        while (self.data / "postmaster.pid").exists() and _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)  # polling for the process to be gone, with a deadline

    def dsn(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        name = f"t_{uuid.uuid4().hex[:12]}"
        with _connect(self.dsn()) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return name

    def drop_database(self, name: str) -> None:
        with _connect(self.dsn()) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def terminate_backends(self, database: str, application: str | None = None) -> int:
        """``pg_terminate_backend`` every session of ``database`` (of one application name)."""
        query = ("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                 "WHERE datname = %s AND pid <> pg_backend_pid()")
        args: list[str] = [database]
        if application is not None:
            query += " AND application_name = %s"
            args.append(application)
        with _connect(self.dsn()) as conn:
            return conn.execute(query, args).fetchone()[0]

    def close(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _connect(dsn: str):  # returns a psycopg connection (psycopg is imported here only)
    """An autocommit connection; psycopg is imported here so that importing this module
    (the conftest does) needs no ``postgres`` extra where no PostgreSQL test runs."""
    import psycopg

    return psycopg.connect(dsn, autocommit=True)
