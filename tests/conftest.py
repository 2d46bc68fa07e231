"""Shared fixtures: real data from ../shared/data (skipped when absent), a demo registry, the app."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa

from accounts.demo import create_demo_users
from accounts.tokens import create_token
from accounts.users import list_users
from boundaries.demo import load_demo
from boundaries.registry import Registry
from boundaries.storage import open_store

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def shared_file(relative: str) -> Path:
    """Path of a file in ../shared/data, or skip the test with the reason."""
    path = SHARED / relative
    if not path.exists():
        pytest.skip(f"real data not available: {path} (the ../shared/data folder is absent)")
    return path


@pytest.fixture
def registry(tmp_path) -> Registry:
    """An empty registry on a fresh SQLite file."""
    return Registry(open_store(f"sqlite:///{tmp_path / 'weige.db'}"))


def demo_password(name: str) -> str:
    """The password the tests give each demo user."""
    return f"{name}-Test-Passw0rd"


@pytest.fixture(scope="session")
def demo_db(tmp_path_factory) -> str:
    """URL of a SQLite database holding the demo street and its users (built once per session; do not write)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('demo') / 'weige.db'}"
    registry = Registry(open_store(url))
    load_demo(registry)
    create_demo_users(registry, password=demo_password)
    return url


@pytest.fixture(scope="session")
def demo_tokens(demo_db, demo_registry) -> dict[str, str]:
    """A Bearer token per demo role (``admin``, ``planner``, ``staff``, ``grid_worker``, ``api_client``)."""
    out = {}
    for user in list_users(demo_registry):
        out[user.role], _ = create_token(demo_registry, user.id, "tests", 30)
    return out


def copy_demo(demo_db: str, folder: Path) -> str:
    """A private copy of the demo database for a test that writes."""
    target = folder / "weige.db"
    source = sqlite3.connect(demo_db.removeprefix("sqlite:///"))
    with sqlite3.connect(target) as dest:
        source.backup(dest)
    source.close()
    return f"sqlite:///{target}"


#: Settings of every test app: a fixed key, cookies over plain HTTP, limits out of the way of the tests.
TEST_CONFIG = {
    "TESTING": True,
    "SECRET_KEY": "test-secret-key",
    "SESSION_COOKIE_SECURE": False,
    "API_RATE_LIMIT": "100000 per minute",
    "LOGIN_RATE_LIMIT": "100000 per minute",
    "LOGIN_NAME_RATE_LIMIT": "100000 per minute",
}


@pytest.fixture(scope="session")
def demo_registry(demo_db) -> Registry:
    """A registry over the demo street (do not write to it)."""
    return Registry(open_store(demo_db))


@pytest.fixture(scope="session")
def app(demo_db, demo_registry):
    """The Flask app over the demo street."""
    from web import create_app

    return create_app({**TEST_CONFIG, "DATABASE_URL": demo_db, "REGISTRY": demo_registry})


@contextlib.contextmanager
def database_at(url: str, revision: str):
    """A connection (in one transaction) to a new database migrated only up to Alembic ``revision``: for tests
    that put old data in and check what the later migrations do with it (``open_store`` migrates the rest)."""
    from alembic import command
    from alembic.config import Config

    from core.storage.schema import MIGRATIONS

    engine = sa.create_engine(url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
            yield connection
    finally:
        engine.dispose()


def private_app(demo_db: str, folder: Path, **config):
    """An app over a private copy of the demo database: ``(app, registry, client)``, ``client(name)`` a test client
    signed in (by a fresh token) as the demo user ``name``."""
    from accounts.users import find_user
    from web import create_app

    url = copy_demo(demo_db, folder)
    registry = Registry(open_store(url))
    app = create_app({**TEST_CONFIG, "DATABASE_URL": url, "REGISTRY": registry, **config})

    def client(name: str):
        return token_client(app, create_token(registry, find_user(registry, name).id, "t", 1)[0])

    return app, registry, client


def token_client(app, token: str | None):
    """A test client that sends ``Authorization: Bearer <token>`` with every request."""
    client = app.test_client()
    if token:
        client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return client


@pytest.fixture
def client(app, demo_tokens):
    """A test client signed in as the demo administrator (by token)."""
    return token_client(app, demo_tokens["admin"])


def at_once(calls) -> list:
    """Run ``calls`` (functions of no argument) in threads released together; their results, in order."""
    import threading

    results, barrier = [None] * len(calls), threading.Barrier(len(calls))

    def run(i):
        barrier.wait()
        results[i] = calls[i]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results
