"""Two web workers (two `python server.py` processes) on one database (issue 13 item 4).

Reports sent to both at once — each one twice, once to each worker — are stored once each; a publish made through
one worker is what the other answers on its next request.
"""

from __future__ import annotations

import http.client
import json

import shapely

from accounts.tokens import create_token
from accounts.users import find_user
from bench.http_load import hammer, served
from boundaries.registry import Registry
from boundaries.storage import open_store
from tests.conftest import copy_demo

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
