"""A throwaway PostgreSQL server for the storage tests: one per test session, a fresh database per use.

initdb in a temporary folder, a Unix socket, a free port, run as the ``postgres`` system user (initdb refuses
root). ``.ci/run`` installs Debian's ``postgresql`` and ``postgresql-15-postgis-3`` packages when they are missing.
The session fixture ``pg_server`` lives in ``tests/storage/conftest.py``.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

__all__ = ["PostgresServer", "postgres_cluster", "postgres_server"]


def _binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


def _as_postgres(args: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return args
    runuser = shutil.which("runuser")
    if runuser is None:
        pytest.skip("running as root without runuser: cannot start PostgreSQL as the postgres user")
    return [runuser, "-u", "postgres", "--", *args]


class PostgresServer:
    """A running private server: :meth:`database` creates a fresh database on it and returns its URL."""

    def __init__(self, sockets: Path, port: int):
        self.sockets, self.port = sockets, port

    def url(self, name: str, user: str = "postgres") -> str:
        """The SQLAlchemy URL of database ``name`` as ``user``."""
        return f"postgresql+psycopg://{user}@/{name}?host={self.sockets}&port={self.port}"

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run ``sql`` as the superuser and return psql's output."""
        psql = [_binary("psql") or "psql", "-h", str(self.sockets), "-p", str(self.port), "-U", "postgres"]
        done = subprocess.run(_as_postgres([*psql, "-d", database, "-v", "ON_ERROR_STOP=1", "-Atc", sql]),
                              check=True, capture_output=True, text=True)  # fmt: skip
        return done.stdout.strip()

    def database(self, name: str, postgis: bool = True, owner: str = "postgres") -> str:
        """Create database ``name`` (owned by ``owner``) and return its URL.

        ``postgis=False`` sets the database's ``weige.postgis = off``, so the migrations leave it plain PostgreSQL
        even on a server that has PostGIS (the documented switch of migration 0018).
        """
        self.psql(f'CREATE DATABASE "{name}" OWNER "{owner}"')
        if not postgis:
            self.psql(f"ALTER DATABASE \"{name}\" SET weige.postgis = 'off'")
        return self.url(name, owner)

    def has_postgis(self) -> bool:
        """Whether this server can create the ``postgis`` extension (its files are installed)."""
        return self.psql("SELECT count(*) FROM pg_available_extensions WHERE name = 'postgis'") == "1"


@contextlib.contextmanager
def postgres_server():
    """Yield a SQLAlchemy URL of a fresh database on a private PostgreSQL server of its own."""
    with postgres_cluster() as server:
        yield server.database("weige")


@contextlib.contextmanager
def postgres_cluster():
    """Yield a :class:`PostgresServer` started in a temporary folder (stopped and removed afterwards)."""
    initdb, pg_ctl = _binary("initdb"), _binary("pg_ctl")
    if not initdb or not pg_ctl:
        pytest.skip("PostgreSQL server binaries not found (.ci/run installs Debian's postgresql package)")
    folder = Path(tempfile.mkdtemp(prefix="weige-pg-"))
    data, sockets = folder / "data", folder / "run"
    sockets.mkdir()
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres")
        shutil.chown(sockets, "postgres")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    subprocess.run(_as_postgres([initdb, "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8"]),
                   check=True, capture_output=True)  # fmt: skip
    options = f"-p {port} -k {sockets} -c listen_addresses='' -c fsync=off -c synchronous_commit=off"
    subprocess.run(_as_postgres([pg_ctl, "-D", str(data), "-o", options, "-w", "-l", str(folder / "log"), "start"]),
                   check=True, capture_output=True)  # fmt: skip
    try:
        yield PostgresServer(sockets, port)
    finally:
        subprocess.run(_as_postgres([pg_ctl, "-D", str(data), "-m", "fast", "stop"]), capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)
