"""Fixtures of the issue tests: a private demo database with an app and a desk driven by a simulated clock."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
import shapely

from accounts.tokens import create_token
from accounts.users import find_user
from boundaries.registry import Registry
from boundaries.scope import ScopedRegistry
from boundaries.storage import open_store
from core.audit import Actor
from core.scope import Scope
from tests.conftest import TEST_CONFIG, copy_demo, token_client

#: The demo worker's grid and its community.
WORKER_GRID = "510104001001001"
COMMUNITY = "510104001001"


class Clock:
    """A simulated clock (aware UTC) the app reads through ``ISSUE_CLOCK``."""

    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class Desk:
    """A private demo database: its registry, the app over it, the issue desk, a clock and clients per user."""

    def __init__(self, demo_db, folder):
        from web import create_app

        url = copy_demo(demo_db, folder)
        self.registry = Registry(open_store(url))
        self.clock = Clock(datetime(2026, 11, 23, 1, 30, tzinfo=timezone.utc))  # Monday 09:30 in Beijing
        self.app = create_app(
            {**TEST_CONFIG, "DATABASE_URL": url, "REGISTRY": self.registry, "ISSUE_CLOCK": self.clock}
        )
        self.desk = self.app.extensions["weige.issues"]
        self.view = ScopedRegistry(self.registry, Scope.everything(), Actor(None, "test", ""))
        self.keys = {
            name: create_token(self.registry, find_user(self.registry, name).id, "t", 1)[0]
            for name in ("admin", "staff", "worker", "wechat")
        }
        self.clients = {name: token_client(self.app, key) for name, key in self.keys.items()}

    def page_text(self, message: str, locale: str = "zh_CN") -> str:
        """``message`` (a page's English message id) as the app says it in ``locale`` (the default: zh_CN)."""
        from flask_babel import force_locale, gettext

        with self.app.test_request_context(), force_locale(locale):
            return gettext(message)

    def point(self, grid: str = WORKER_GRID, index: int = 0) -> tuple[str, float, float]:
        """A micro-grid of ``grid`` and a point inside it."""
        row = self.registry.areas(parent_code=grid).iloc[index]
        p = shapely.point_on_surface(row.geometry)
        return row["code"], p.x, p.y


@pytest.fixture
def world(demo_db, demo_tokens, tmp_path) -> Desk:
    """A private demo database with the app, the desk and a simulated clock (Monday 23 Nov 2026, 09:30 Beijing)."""
    return Desk(demo_db, tmp_path)
