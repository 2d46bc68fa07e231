"""Shared fixtures: real data from ../shared/data (skipped when absent), a demo registry, the app."""

from __future__ import annotations

from pathlib import Path

import pytest

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


@pytest.fixture(scope="session")
def demo_db(tmp_path_factory) -> str:
    """URL of a SQLite database holding the demo street (built once per session)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('demo') / 'weige.db'}"
    load_demo(Registry(open_store(url)))
    return url


@pytest.fixture(scope="session")
def demo_registry(demo_db) -> Registry:
    """A registry over the demo street (do not write to it)."""
    return Registry(open_store(demo_db))


@pytest.fixture(scope="session")
def app(demo_db, demo_registry):
    """The Flask app over the demo street."""
    from web import create_app

    return create_app({"TESTING": True, "DATABASE_URL": demo_db, "REGISTRY": demo_registry})


@pytest.fixture
def client(app):
    return app.test_client()
