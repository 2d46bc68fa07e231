"""Rate-limit counters in the database (``weige-db://``): apps over one database share one quota (issue 13 item 4).

Two apps over one SQLite file stand for two web workers here (the PostgreSQL case, with two real processes, is in
``test_two_workers.py``).
"""

from __future__ import annotations

import pytest

from accounts.tokens import create_token
from accounts.users import find_user
from boundaries.registry import Registry
from boundaries.storage import open_store
from boundaries.storage.rate_limits import RateCounters
from tests.conftest import TEST_CONFIG, private_app, token_client
from web import create_app
from web.limits import DatabaseLimitStorage, storage_uri
from web.settings import SettingsError


def test_two_apps_over_one_database_share_the_api_quota(demo_db, tmp_path):
    config = {"RATELIMIT_STORAGE_URI": "weige-db://", "API_RATE_LIMIT": "4 per minute"}
    first, registry, _ = private_app(demo_db, tmp_path, **config)
    url = first.config["DATABASE_URL"]
    second = create_app({**TEST_CONFIG, **config, "DATABASE_URL": url, "REGISTRY": Registry(open_store(url))})
    assert isinstance(first.extensions["weige.limiter"].storage, DatabaseLimitStorage)
    token = create_token(registry, find_user(registry, "staff").id, "t", 1)[0]
    clients = [token_client(app, token) for app in (first, second)]
    answers = [clients[i % 2].get("/api/v1/me") for i in range(6)]
    assert [r.status_code for r in answers] == [200, 200, 200, 200, 429, 429]
    assert [r.headers["X-RateLimit-Remaining"] for r in answers[:4]] == ["3", "2", "1", "0"]
    assert RateCounters(registry.store).rows() == 1  # one window: this caller's, on the API limit


def test_where_the_counters_live():
    assert storage_uri({"DATABASE_URL": "sqlite:////srv/weige/weige.db"}) == "memory://"
    assert storage_uri({"DATABASE_URL": "postgresql+psycopg://weige@db/weige"}) == "weige-db://"
    redis = {"DATABASE_URL": "postgresql+psycopg://weige@db/weige", "RATELIMIT_STORAGE_URI": "redis://cache:6379"}
    assert storage_uri(redis) == "redis://cache:6379"
    asked = {"DATABASE_URL": "sqlite:////srv/weige/weige.db", "RATELIMIT_STORAGE_URI": "weige-db://"}
    assert storage_uri(asked) == "weige-db://"


def test_the_limiter_reset_clears_the_database_counters(demo_db, tmp_path):
    app, registry, client = private_app(
        demo_db, tmp_path, RATELIMIT_STORAGE_URI="weige-db://", API_RATE_LIMIT="2 per minute"
    )
    staff = client("staff")
    assert [staff.get("/api/v1/me").status_code for _ in range(3)] == [200, 200, 429]
    app.extensions["weige.limiter"].reset()
    assert staff.get("/api/v1/me").status_code == 200


def _anonymous_codes(client, forwarded: list[str]) -> list[int]:
    """Statuses of anonymous API calls, one per ``X-Forwarded-For`` value (as a proxy in front would send)."""
    return [client.get("/api/v1/me", headers={"X-Forwarded-For": f}).status_code for f in forwarded]


def test_behind_a_proxy_each_client_address_has_its_own_allowance(demo_db, tmp_path):
    app, _, _ = private_app(demo_db, tmp_path, API_RATE_LIMIT="2 per minute", RATELIMIT_PROXY_HOPS=1)
    client = app.test_client()  # every request comes from the proxy's own address (127.0.0.1)
    assert _anonymous_codes(client, ["10.0.0.1", "10.0.0.2", "10.0.0.1", "10.0.0.2"]) == [401] * 4
    assert _anonymous_codes(client, ["10.0.0.1", "10.0.0.2"]) == [429, 429]
    # a client writing its own X-Forwarded-For gets the proxy's entry appended: the last one counts
    assert _anonymous_codes(client, ["1.1.1.1, 10.0.0.1", "2.2.2.2, 10.0.0.1"]) == [429, 429]
    assert _anonymous_codes(client, ["10.0.0.1, 10.0.0.3"]) == [401]


def test_without_trusted_proxies_a_forwarded_header_is_ignored(demo_db, tmp_path):
    app, _, _ = private_app(demo_db, tmp_path, API_RATE_LIMIT="2 per minute")
    client = app.test_client()
    assert _anonymous_codes(client, ["10.0.0.1", "10.0.0.2", "10.0.0.3"]) == [401, 401, 429]


def test_proxy_hops_must_be_a_small_integer(demo_db, tmp_path):
    with pytest.raises(SettingsError, match="RATELIMIT_PROXY_HOPS"):
        private_app(demo_db, tmp_path, RATELIMIT_PROXY_HOPS="1")


def test_a_key_longer_than_the_column_is_stored_by_digest(tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'keys.db'}")
    storage = DatabaseLimitStorage("weige-db://", store=store)
    long_a, long_b = "LIMITER/login:" + "a" * 400, "LIMITER/login:" + "a" * 399 + "b"
    assert [storage.incr(long_a, 60), storage.incr(long_a, 60), storage.incr(long_b, 60)] == [1, 2, 1]
    assert storage.get(long_a) == 2 and storage.get(long_b) == 1
    with store.engine.connect() as conn:
        lengths = conn.exec_driver_sql("SELECT length(name) FROM rate_limits").scalars().all()
    assert lengths and max(lengths) <= 255
    storage.clear(long_a)
    assert storage.get(long_a) == 0 and storage.get(long_b) == 1
    store.engine.dispose()


def test_a_counter_store_that_fails_lets_requests_through_and_logs_it(demo_db, tmp_path, monkeypatch, caplog):
    """A locked or lost counter table must not turn every API read into a 500 (outside test: 30 s, then 500)."""
    import sqlalchemy as sa

    app, _registry, client = private_app(
        demo_db, tmp_path, RATELIMIT_STORAGE_URI="weige-db://", API_RATE_LIMIT="100 per minute"
    )

    def locked(self, name, expiry, amount=1):
        raise sa.exc.OperationalError("INSERT INTO rate_limits …", {}, Exception("database is locked"))

    monkeypatch.setattr(RateCounters, "hit", locked)
    response = client("staff").get("/api/v1/me")
    assert response.status_code == 200  # counted nowhere this time, answered all the same
    assert "database is locked" in caplog.text
