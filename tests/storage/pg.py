"""A throwaway PostgreSQL server for the storage contract tests.

initdb in a temporary folder, a Unix socket, a free port, run as the ``postgres`` system user (initdb refuses
root). ``.ci/run`` installs Debian's ``postgresql`` package when it is missing.
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

__all__ = ["postgres_server"]


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


@contextlib.contextmanager
def postgres_server():
    """Yield a SQLAlchemy URL of a fresh database on a private PostgreSQL server."""
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
    options = f"-p {port} -k {sockets} -c listen_addresses=''"
    subprocess.run(_as_postgres([pg_ctl, "-D", str(data), "-o", options, "-w", "-l", str(folder / "log"), "start"]),
                   check=True, capture_output=True)  # fmt: skip
    try:
        createdb = [_binary("createdb") or "createdb", "-h", str(sockets), "-p", str(port), "-U", "postgres", "weige"]
        subprocess.run(_as_postgres(createdb), check=True, capture_output=True)
        yield f"postgresql+psycopg://postgres@/weige?host={sockets}&port={port}"
    finally:
        subprocess.run(_as_postgres([pg_ctl, "-D", str(data), "-m", "fast", "stop"]), capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)
