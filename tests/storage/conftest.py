"""Fixtures of the storage tests: one private PostgreSQL server for the whole session."""

from __future__ import annotations

import pytest

from tests.storage.pg import postgres_cluster


@pytest.fixture(scope="session")
def pg_server():
    """A private PostgreSQL server (skips when its binaries are absent); tests create their own databases on it."""
    with postgres_cluster() as server:
        yield server
