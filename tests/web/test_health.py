"""``GET /healthz``: 200 with the generation and revisions when the database answers, 503 (no details) otherwise."""

from __future__ import annotations

import threading
import time

import pytest
import sqlalchemy as sa

from boundaries.registry import Registry
from boundaries.storage import open_store
from tests.conftest import TEST_CONFIG, private_app
from tests.storage.pg import postgres_cluster
from web import create_app

SECRET_URL = "postgresql+psycopg://weige:s3cret-pa55@db.internal:5432/weige"


def test_healthz_answers_the_generation_and_revisions_without_sign_in(app, demo_registry):
    client = app.test_client()
    response = client.get("/healthz")
    store = demo_registry.store
    assert response.status_code == 200
    assert response.get_json() == {
        "status": "ok",
        "database": "ok",
        "generation": store.current_generation_id(),
        "revision": {"areas": store.revision("areas"), "assets": store.revision("assets")},
    }
    assert store.current_generation_id() is not None
    assert "Set-Cookie" not in response.headers  # a probe every few seconds must not make sessions
    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize(
    "authorization", ["Bearer garbage", "Basic ????", "Bearer " + "x" * 5000], ids=["bearer", "basic", "long"]
)
def test_healthz_reads_no_credentials(app, authorization):
    """A monitor that sends credentials everywhere gets the same answer, and no session (it got 401 before)."""
    response = app.test_client().get("/healthz", headers={"Authorization": authorization})
    assert response.status_code == 200 and response.get_json()["status"] == "ok"
    assert "Set-Cookie" not in response.headers


def test_healthz_is_not_rate_limited(demo_db, tmp_path):
    app, _, _ = private_app(demo_db, tmp_path, API_RATE_LIMIT="2 per minute")
    client = app.test_client()
    statuses = [client.get("/healthz").status_code for _ in range(6)]
    assert statuses == [200] * 6
    assert [client.get("/api/v1/me").status_code for _ in range(3)][-1] == 429  # the API limit is this tight


def test_healthz_is_503_without_the_error_text_when_the_database_fails(demo_db, tmp_path, monkeypatch):
    app, registry, _ = private_app(demo_db, tmp_path)

    def refuse():
        raise sa.exc.OperationalError("SELECT 1", {}, Exception(f"could not connect to {SECRET_URL}"))

    monkeypatch.setattr(registry.store, "snapshot", refuse)
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "unavailable" and body["database"] == "error"
    assert body["error"]["code"] == "database_unavailable"
    text = response.get_data(as_text=True)
    assert "s3cret" not in text and "db.internal" not in text and "Traceback" not in text
    assert "Set-Cookie" not in response.headers


@pytest.fixture(scope="module")
def pg_app():
    """An app on a database of its own private PostgreSQL server (which the test may lock and lock out)."""
    with postgres_cluster() as server:
        url = server.database("health")
        registry = Registry(open_store(url))
        yield create_app({**TEST_CONFIG, "DATABASE_URL": url, "REGISTRY": registry}), server
        registry.store.engine.dispose()


def test_healthz_on_postgresql_times_out_on_a_hung_database_and_recovers(pg_app, monkeypatch):
    app, server = pg_app
    monkeypatch.setattr("web.health.TIMEOUT_S", 0.5)
    client = app.test_client()
    assert client.get("/healthz").get_json()["status"] == "ok"
    store = app.extensions["weige.registry"].store
    locked, release = threading.Event(), threading.Event()

    def hold_lock():  # another session holds the revisions table: the check's query waits behind it
        with store.engine.connect() as conn, conn.begin():
            conn.exec_driver_sql("LOCK TABLE revisions IN ACCESS EXCLUSIVE MODE")
            locked.set()
            release.wait(30)

    holder = threading.Thread(target=hold_lock)
    holder.start()
    try:
        assert locked.wait(10)
        started = time.perf_counter()
        response = client.get("/healthz")
        assert response.status_code == 503 and response.get_json()["database"] == "timeout"
        assert 0.4 < time.perf_counter() - started < 3
        started = time.perf_counter()
        assert client.get("/healthz").status_code == 503  # the hung check is not joined by another
        assert time.perf_counter() - started < 0.4
    finally:
        release.set()
        holder.join(10)
    for _ in range(50):  # the hung check answers once the lock is gone; then the next check is a new one
        response = client.get("/healthz")
        if response.status_code == 200:
            break
        time.sleep(0.1)
    assert response.status_code == 200 and response.get_json()["revision"]["areas"] == store.revision("areas")


def test_healthz_on_postgresql_is_503_while_the_database_refuses_connections(pg_app):
    app, server = pg_app
    client = app.test_client()
    assert client.get("/healthz").status_code == 200
    server.psql("ALTER DATABASE health ALLOW_CONNECTIONS false")
    server.psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = 'health'")
    try:
        response = client.get("/healthz")
        assert response.status_code == 503
        assert response.get_json()["database"] == "error"
        assert "health" not in response.get_json()["error"]["message"]
    finally:
        server.psql("ALTER DATABASE health ALLOW_CONNECTIONS true")
    assert client.get("/healthz").status_code == 200
