"""Two web workers (two `python server.py` processes) on one database (issue 13 item 4).

Reports sent to both at once — each one twice, once to each worker — are stored once each; a publish made through
one worker is what the other answers on its next request. On PostgreSQL the workers also share the rate limits
(counters in the database: a client spread over both gets one quota) and, on PostGIS under the intake load, the
escalation schedule runs in one of them (the lease).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import re
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest
import shapely
import sqlalchemy as sa

from accounts.demo import create_demo_users
from accounts.tokens import create_token
from accounts.users import find_user
from bench.http_load import hammer, hammer_workers, served, served_workers
from boundaries.demo import load_demo
from boundaries.registry import Registry
from boundaries.storage import open_store
from core.storage.tables import issue_events as t_events
from core.storage.tables import issues as t_issues
from tests.conftest import copy_demo, demo_password
from tests.storage.pg import postgres_cluster

GRID = "510104001001001"


def request(port, token, method, path, body=None):
    """One JSON request to the worker on ``port``: its status and answer."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    conn.request(method, path, body=None if body is None else json.dumps(body), headers=headers)
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response.status, json.loads(data) if data else {}


def test_two_workers_store_each_report_once_and_see_each_others_publish(demo_db, tmp_path):
    url = copy_demo(demo_db, tmp_path)
    registry = Registry(open_store(url))
    wechat = create_token(registry, find_user(registry, "wechat").id, "two workers", 1)[0]
    admin = create_token(registry, find_user(registry, "admin").id, "two workers", 1)[0]
    leaf = registry.areas(parent_code=GRID).iloc[0]
    point = shapely.point_on_surface(leaf.geometry)
    n = 40

    def body_for(i):
        body = {"category": "exposed_rubbish", "lon": point.x, "lat": point.y, "description": f"两个进程 {i}",
                "external_id": f"two-workers-{i}"}  # fmt: skip
        return "POST", "/api/v1/issues", json.dumps(body)

    with served(url, tmp_path) as first, served(url, tmp_path) as second:
        results = [hammer(port, wechat, n, 4, body_for) for port in (first, second)]
        for _latencies, failures, errors, _wall in results:
            assert failures == [] and errors == []
        with registry.store.engine.connect() as conn:
            rows = conn.exec_driver_sql(
                "SELECT external_id, count(*) FROM issues WHERE external_id LIKE 'two-workers-%' GROUP BY external_id"
            ).all()
        assert len(rows) == n and all(count == 1 for _, count in rows)
        status, _ = request(first, admin, "PATCH", f"/api/v1/areas/{leaf['code']}", {"name": "两个进程"})
        assert status == 200
        status, published = request(first, admin, "POST", "/api/v1/generations/draft/publish")
        assert status == 200
        status, seen = request(second, admin, "GET", f"/api/v1/areas/{leaf['code']}")
        assert status == 200 and seen["properties"]["name"] == "两个进程"
        status, generations = request(second, admin, "GET", "/api/v1/generations")
        current = [g["id"] for g in generations["generations"] if g["current"]]
        assert current == [published["generation"]]


@pytest.fixture(scope="module")
def pg():
    """A private PostgreSQL server for this module (skips when its binaries are absent)."""
    with postgres_cluster() as server:
        yield server


def demo_database(server, name: str, postgis: bool) -> tuple[str, Registry]:
    """A database on ``server`` holding the demo street and its users: its URL and a registry over it."""
    url = server.database(name, postgis=postgis)
    registry = Registry(open_store(url))
    load_demo(registry)
    create_demo_users(registry, password=demo_password)
    return url, registry


def sign_in(port, cookie, csrf, name, password):
    """POST the sign-in form to the worker on ``port`` with the session cookie and CSRF token of an earlier GET."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    body = f"username={name}&password={password}&csrf_token={csrf}"
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie}
    conn.request("POST", "/login", body=body, headers=headers)
    status = conn.getresponse().status
    conn.close()
    return status


def login_form(port):
    """GET /login: the session cookie and the form's CSRF token."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("GET", "/login")
    response = conn.getresponse()
    html = response.read().decode()
    cookie = response.getheader("Set-Cookie").split(";")[0]
    conn.close()
    return cookie, re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def test_two_workers_on_postgresql_share_one_rate_limit_quota(pg, tmp_path):
    url, registry = demo_database(pg, "limits", postgis=False)
    token = create_token(registry, find_user(registry, "staff").id, "two workers", 1)[0]
    settings = {
        "SESSION_COOKIE_SECURE": False,
        "LOGIN_NAME_RATE_LIMIT": "3 per minute",
        "API_RATE_LIMIT": "6 per minute",
    }
    with served_workers(url, tmp_path, 2, settings) as workers:
        ports = [port for port, _pid in workers]
        # the API allowance: 6 requests a minute, spread over both workers, then 429 on either
        codes = [request(ports[i % 2], token, "GET", "/api/v1/me")[0] for i in range(8)]
        assert codes == [200] * 6 + [429, 429]
        # sign-in attempts for one name, alternating workers (one session: its key is shared too)
        cookie, csrf = login_form(ports[0])
        codes = [sign_in(ports[i % 2], cookie, csrf, "staff", "wrong-password-1") for i in range(5)]
        assert codes == [401, 401, 401, 429, 429]
        assert sign_in(ports[1], cookie, csrf, "admin", demo_password("admin")) == 302  # another name is free
    registry.store.engine.dispose()


@contextlib.contextmanager
def lease_samples(store, at_least: float, every: float = 0.2):
    """Read the escalation lease's (holder, expiry) every ``every`` seconds, in a thread, while the block runs and
    for at least ``at_least`` seconds in all; yields the list the samples are appended to."""
    samples, stop, start = [], threading.Event(), time.monotonic()

    def sample():
        while not stop.is_set():
            samples.append(store.lease_holder("escalation"))
            stop.wait(every)

    thread = threading.Thread(target=sample)
    thread.start()
    try:
        yield samples
        time.sleep(max(0.0, at_least - (time.monotonic() - start)))
    finally:
        stop.set()
        thread.join()


def test_two_workers_on_postgis_under_the_intake_load(pg, tmp_path):
    """The must-show of issue 13: 0 errors, each report stored once, a publish seen by the other, one escalator."""
    if not pg.has_postgis():
        pytest.skip("PostGIS extension not installed (.ci/run installs Debian's postgresql-15-postgis-3)")
    url, registry = demo_database(pg, "intake", postgis=True)
    assert registry.store.spatial == "postgis"
    wechat = create_token(registry, find_user(registry, "wechat").id, "two workers", 1)[0]
    admin = create_token(registry, find_user(registry, "admin").id, "two workers", 1)[0]
    micro = registry.areas(level="micro_grid")
    points = [shapely.point_on_surface(g) for g in micro.geometry]
    categories = ["exposed_rubbish", "road_cleaning", "dispute", "damaged_facility", "fire_hazard"]
    n, again = 240, 60  # reports, and how many of them a client sends a second time to the other worker

    def report(i):
        j = i if i < n else (i - n) * (n // again)  # the repeats: every 4th report, sent once more
        point = points[j % len(points)]
        body = {"category": categories[j % 5], "lon": point.x, "lat": point.y, "description": f"压测 {j}",
                "external_id": f"load-{j}"}  # fmt: skip
        return "POST", "/api/v1/issues", json.dumps(body)

    interval = 2  # whole seconds; the lease lasts three intervals: a holder slowed by the load for 4 s keeps it
    settings = {"ESCALATION_INTERVAL_S": interval}
    with served_workers(url, tmp_path, 2, settings) as workers:
        (first, first_pid), (second, second_pid) = workers
        # some issues overdue, for the schedule to find during the load
        overdue = [request(first, wechat, "POST", "/api/v1/issues", json.loads(report(n + 1000 + k)[2]))[1]["id"]
                   for k in range(3)]  # fmt: skip
        with registry.store.transaction() as conn:
            past = datetime.now(timezone.utc) - timedelta(hours=1)
            conn.execute(t_issues.update().where(t_issues.c.id.in_(overdue)).values(due_at=past))
        started = time.monotonic()
        with lease_samples(registry.store, at_least=3.5 * interval) as samples:
            latencies, failures, errors, _wall = hammer_workers([first, second], wechat, n, 6, report)
            repeats = hammer_workers([second, first], wechat, again, 3, lambda i: report(n + i))
        sampled = time.monotonic() - started
        assert errors == [] and failures == [] and len(latencies) == n
        assert repeats[1] == [] and repeats[2] == []
        with registry.store.engine.connect() as conn:
            stored = dict(
                conn.execute(
                    sa.select(t_issues.c.external_id, sa.func.count())
                    .where(t_issues.c.external_id.like("load-%"))
                    .group_by(t_issues.c.external_id)
                ).all()
            )
            escalated = conn.execute(
                sa.select(t_events.c.issue_id, sa.func.count())
                .where(t_events.c.action == "escalate", t_events.c.issue_id.in_(overdue))
                .group_by(t_events.c.issue_id)
            ).all()
        assert len(stored) == n + 3 and set(stored.values()) == {1}  # none lost, none twice
        assert sorted(count for _, count in escalated) == [1, 1, 1]  # the schedule ran, each moved once
        samples = [sample for sample in samples if sample is not None]  # (taken once the first run began)
        assert len(samples) >= 10
        holders = {holder for holder, _ in samples}
        assert len(holders) == 1  # one escalator all along (the other worker's thread never got the lease)
        (holder,) = holders
        assert int(holder.split(":")[1]) in (first_pid, second_pid)
        runs = len({expires for _, expires in samples})  # each run renews the lease: a new expiry
        assert 2 <= runs <= sampled / interval + 1  # about once per interval across both workers

        # a publish through the first worker is what the second answers next
        leaf = micro.iloc[0]
        status, _ = request(first, admin, "PATCH", f"/api/v1/areas/{leaf['code']}", {"name": "两个进程 PostGIS"})
        assert status == 200
        status, published = request(first, admin, "POST", "/api/v1/generations/draft/publish")
        assert status == 200
        status, seen = request(second, admin, "GET", f"/api/v1/areas/{leaf['code']}")
        assert status == 200 and seen["properties"]["name"] == "两个进程 PostGIS"
        status, generations = request(second, admin, "GET", "/api/v1/generations")
        assert [g["id"] for g in generations["generations"] if g["current"]] == [published["generation"]]
        point, new = points[0], published["generation"]
        status, located = request(second, admin, "GET", f"/api/v1/locate?lon={point.x}&lat={point.y}&generation={new}")
        assert (
            status == 200 and located["codes"] == [leaf["code"]] and located["chain"][0]["name"] == "两个进程 PostGIS"
        )
    registry.store.engine.dispose()
