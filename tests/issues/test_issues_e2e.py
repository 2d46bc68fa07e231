"""End to end on the demo street: report in GCJ-02, land on the micro-grid, queue, workflow, escalation, stats."""

from __future__ import annotations

import base64
import io
from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest
import shapely
import sqlalchemy as sa
from PIL import Image

from accounts.tokens import create_token
from accounts.users import find_user
from boundaries.registry import Registry
from boundaries.storage import open_store
from core.storage import tables as t
from geo.crs import wgs84_to_gcj02
from tests.conftest import TEST_CONFIG, copy_demo, token_client
from tests.issues.conftest import COMMUNITY, WORKER_GRID, Clock


@pytest.fixture
def world(demo_db, demo_tokens, tmp_path):
    from web import create_app

    url = copy_demo(demo_db, tmp_path)
    registry = Registry(open_store(url))
    clock = Clock(datetime(2026, 11, 23, 1, 30, tzinfo=timezone.utc))  # Monday 09:30 in Beijing
    app = create_app(
        {**TEST_CONFIG, "DATABASE_URL": url, "REGISTRY": registry, "ISSUE_CLOCK": clock, "PHOTO_MAX_BYTES": 200_000}
    )
    clients = {
        name: token_client(app, create_token(registry, find_user(registry, name).id, "e2e", 1)[0])
        for name in ("admin", "staff", "worker", "wechat", "planner")
    }
    return app, registry, clock, clients


def _micro_grid_point(registry, grid=WORKER_GRID, index=0):
    row = registry.areas(parent_code=grid).iloc[index]
    p = shapely.point_on_surface(row.geometry)
    return row["code"], p.x, p.y


def _count(registry) -> int:
    with registry.store.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(t.issues)).scalar_one()


def _png(size=(16, 16)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, "blue").save(buffer, "PNG")
    return buffer.getvalue()


def _page_text(app, message: str) -> str:
    """A page's English message id as the app says it in the default language."""
    from flask_babel import force_locale, gettext

    with app.test_request_context(), force_locale("zh_CN"):
        return gettext(message)


def test_report_route_workflow_escalate_and_count(world):
    app, registry, clock, c = world
    code, lon, lat = _micro_grid_point(registry)
    glon, glat = (float(v) for v in wgs84_to_gcj02(lon, lat))
    gcj = c["wechat"].post(
        "/api/v1/issues",
        json={
            "category": "exposed_rubbish",
            "description": "楼下垃圾堆积",
            "lon": glon,
            "lat": glat,
            "crs": "gcj02",
            "external_id": "wx-1",
            "reporter_name": "张三",
            "reporter_phone": "13912345678",
            "photos": [{"filename": "a.png", "content_base64": base64.b64encode(_png()).decode()}],
        },
    )
    assert gcj.status_code == 201, gcj.get_json()
    issue = gcj.get_json()
    wgs = c["staff"].post("/api/v1/issues", json={"category": "exposed_rubbish", "lon": lon, "lat": lat}).get_json()
    assert issue["micro_grid_code"] == wgs["micro_grid_code"] == code
    assert issue["grid_code"] == WORKER_GRID and issue["community_code"] == COMMUNITY and issue["street_code"]
    assert issue["generation"] == registry.current_generation() and issue["level"] == "micro_grid"
    assert abs(issue["lon"] - lon) < 1e-6 and issue["crs_reported"] == "gcj02" and issue["lon_reported"] == glon
    workers = registry.store.workers(area_codes=[code])
    assert issue["assignee_name"] == workers[0]["name"]
    assert issue["reporter_phone"] == "139****5678"  # an intake channel sees its own report, phone masked
    assert len(issue["photos"]) == 1
    iid = issue["id"]

    # the grid worker's queue shows it; the other community's staff would not (scope), the planner may not read
    queue = c["worker"].get("/api/v1/issues?state=open").get_json()
    assert iid in [r["id"] for r in queue["issues"]]
    assert c["planner"].get(f"/api/v1/issues/{iid}").status_code == 403

    # transitions are enforced: by role, and by state
    def act(who, action, note=""):
        return c[who].post(f"/api/v1/issues/{iid}/actions", json={"action": action, "note": note})  # noqa: E731

    assert act("worker", "accept").status_code == 403  # a grid worker handles, staff accept
    assert act("staff", "start").status_code == 409
    for step in ("accept", "file", "dispatch"):
        clock.now += timedelta(minutes=20)
        r = act("staff", step)
        assert r.status_code == 200, r.get_json()
    assert act("staff", "close").status_code == 409
    assert act("staff", "void", "重复上报").status_code == 409  # dispatched cannot be voided

    # the handler does nothing: a simulated clock makes it overdue, and it climbs once per level
    moved, levels = [], []
    desk = app.extensions["weige.issues"]
    for _ in range(5):
        clock.now += timedelta(days=1)
        moved.append(desk.escalate_overdue())
        moved.append(desk.escalate_overdue())  # running again at the same moment changes nothing
        levels.append(c["staff"].get(f"/api/v1/issues/{iid}").get_json()["level"])
    # both open reports climb (the staff's own too), once per level, and stop at the street
    assert moved == [2, 0, 2, 0, 2, 0, 0, 0, 0, 0]
    assert levels[:3] == ["grid", "community", "street"] and levels[-1] == "street"
    detail = c["staff"].get(f"/api/v1/issues/{iid}").get_json()
    ladder = [(h["from_level"], h["to_level"]) for h in detail["history"] if h["action"] == "escalate"]
    assert ladder == [("micro_grid", "grid"), ("grid", "community"), ("community", "street")]
    assert detail["escalations"] == 3 and detail["overdue"] and detail["reporter_phone"] == "13912345678"

    # statistics count it
    stats = c["staff"].get(f"/api/v1/issues/stats?area={COMMUNITY}").get_json()
    assert stats["total"] == 2 and stats["open_by_state"] == {"dispatched": 1, "reported": 1}
    assert stats["overdue"] == 2 and iid in stats["overdue_ids"]
    assert stats["on_time_by_stage"]["reported"] == {"finished": 1, "on_time": 1, "rate": 1.0}
    assert {"code": WORKER_GRID, "total": 2, "open": 2, "overdue": 2} in stats["by_child_area"]
    assert sum(r["count"] for r in stats["by_category_over_time"]) == 2

    # handle, check, close; close again is refused; reopen needs a reason
    for who, step in (("worker", "start"), ("worker", "check"), ("staff", "close")):
        assert act(who, step).status_code == 200
    assert act("staff", "close").status_code == 409
    assert act("staff", "reopen").status_code == 400
    assert act("staff", "reopen", "居民反映又有垃圾").get_json()["state"] == "dispatched"
    closed = c["staff"].get(f"/api/v1/issues/stats?area={COMMUNITY}").get_json()
    assert closed["on_time_by_stage"]["in_progress"]["finished"] == 1

    # the export (a token client: the default language, Chinese) names columns and values as the pages do
    xlsx = c["staff"].get(f"/api/v1/issues/export?area={COMMUNITY}&format=xlsx")
    frame = pd.read_excel(io.BytesIO(xlsx.data))
    headers = [_page_text(app, m) for m in ("Micro-grid code", "Overdue now", "Hazard level")]
    assert {"编号", "类别", "状态", *headers} <= set(frame.columns)
    assert iid in frame["编号"].tolist() and "暴露垃圾" in frame["类别"].tolist()
    assert frame.loc[frame["编号"] == iid, "状态"].tolist() == ["已派遣"]  # the reopened issue, as the page says
    csv = c["staff"].get(f"/api/v1/issues/export?area={COMMUNITY}&format=csv").data.decode("utf-8-sig")
    assert csv.splitlines()[0].startswith("编号,类别,状态")

    # the photo comes back byte for byte
    sha = detail["photos"][0]
    assert c["wechat"].get(f"/api/v1/issues/{iid}/photos/{sha}").data == _png()


def test_unlocated_points_go_to_the_community_queue(world):
    app, registry, clock, c = world
    code, lon, lat = _micro_grid_point(registry, index=1)
    assert c["admin"].delete(f"/api/v1/areas/{code}").status_code == 200  # a gap where a micro-grid was
    for rule in ("gap", "building_unassigned"):  # publishing a gap takes a waiver of the planning rules
        assert (
            c["admin"].post(f"/api/v1/areas/{WORKER_GRID}/waivers", json={"rule": rule, "reason": "test"}).status_code
            == 201
        )
    assert c["admin"].post("/api/v1/generations/draft/publish").status_code == 200
    r = c["wechat"].post("/api/v1/issues", json={"category": "dispute", "lon": lon, "lat": lat})
    assert r.status_code == 201
    issue = r.get_json()
    assert issue["micro_grid_code"] is None and issue["unlocated"] and issue["location_status"] == "outside"
    assert issue["community_code"] == COMMUNITY and issue["level"] == "community" and issue["grid_code"] is None
    queue = c["staff"].get("/api/v1/issues?unlocated=true").get_json()
    assert [row["id"] for row in queue["issues"]] == [issue["id"]]
    assert c["worker"].get(f"/api/v1/issues/{issue['id']}").status_code == 404  # not in the worker's grid: as if absent
    # staff assign it to the micro-grid that now covers the place: the worker's grid gets it
    act = f"/api/v1/issues/{issue['id']}/actions"
    assert c["staff"].post(act, json={"action": "assign"}).status_code == 400
    other = "510104001002001001"
    assert c["staff"].post(act, json={"action": "assign", "area": other}).status_code == 403  # not staff's area
    neighbour = registry.areas(parent_code=WORKER_GRID).iloc[0]["code"]
    r = c["staff"].post(act, json={"action": "assign", "area": neighbour, "note": "并入相邻微网格"})
    assert r.status_code == 200, r.get_json()
    assigned = r.get_json()
    assert assigned["micro_grid_code"] == neighbour and assigned["grid_code"] == WORKER_GRID
    assert assigned["level"] == "micro_grid" and assigned["assignee_name"]
    assert assigned["community_code"] == COMMUNITY  # what was located stays
    assert c["worker"].get(f"/api/v1/issues/{issue['id']}").status_code == 200


def test_points_near_a_boundary_are_flagged(world):
    app, registry, clock, c = world
    row = registry.areas(parent_code=WORKER_GRID).iloc[0]
    inner = shapely.buffer(row.geometry, -0.00002)  # ~2 m inside the boundary
    x, y = shapely.get_coordinates(shapely.boundary(inner))[0]
    near = c["staff"].post("/api/v1/issues", json={"category": "dispute", "lon": x, "lat": y}).get_json()
    p = shapely.point_on_surface(row.geometry)
    far = c["staff"].post("/api/v1/issues", json={"category": "dispute", "lon": p.x, "lat": p.y}).get_json()
    assert near["near_boundary"] is True and near["micro_grid_code"] == row["code"]
    from geo.topology import boundary_distance_m

    assert far["near_boundary"] == bool(boundary_distance_m([row.geometry], [p.x], [p.y])[0] <= 10)


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"category": "dispute"}, 400, "lon and lat"),
        ({"category": "dispute", "lon": 104.07, "lat": 95}, 400, "lat"),
        ({"category": "dispute", "lon": 30.65, "lat": 104.07}, 400, "swap"),
        ({"category": "alien_landing", "lon": 104.07, "lat": 30.65}, 400, "unknown category"),
        ({"category": "dispute", "lon": 104.07, "lat": 30.65, "crs": "EPSG:99999"}, 400, "crs"),
        ({"category": "dispute", "lon": 116.4, "lat": 39.9}, 400, "outside every street"),
        ({"category": "dispute", "lon": "east", "lat": 30.65}, 422, "lon"),
        ({"category": "dispute", "building_id": 99999999}, 404, "building"),
        (
            {
                "category": "dispute",
                "lon": 104.07,
                "lat": 30.65,
                "photos": [
                    {"filename": "x.pdf", "content_base64": base64.b64encode(b"%PDF-1.4 not an image").decode()}
                ],
            },
            400,
            "not a readable image",
        ),
        (
            {
                "category": "dispute",
                "lon": 104.07,
                "lat": 30.65,
                "photos": [
                    {"filename": "big.png", "content_base64": base64.b64encode(b"\x89PNG" + b"0" * 300_000).decode()}
                ],
            },
            400,
            "limit",
        ),
        ({"category": "dispute", "lon": 104.07, "lat": 30.65, "photos": [{"content_base64": "***"}]}, 400, "base64"),
    ],
)
def test_bad_reports_get_clear_errors_and_store_nothing(world, body, status, words):
    app, registry, clock, c = world
    before = _count(registry)
    r = c["wechat"].post("/api/v1/issues", json=body)
    assert r.status_code == status, r.get_json()
    assert words.lower() in str(r.get_json()).lower()
    assert _count(registry) == before


def test_malformed_json_and_duplicate_external_ids(world):
    app, registry, clock, c = world
    r = c["wechat"].post("/api/v1/issues", data=b'{"category": ', headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.get_json()["error"]["code"] == "malformed_json"
    code, lon, lat = _micro_grid_point(registry)
    body = {"category": "dispute", "lon": lon, "lat": lat, "external_id": "wx-77"}
    first, second = (c["wechat"].post("/api/v1/issues", json=body) for _ in range(2))
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.get_json()["id"] == second.get_json()["id"]
    other = c["staff"].post("/api/v1/issues", json=body)  # another channel's wx-77 is another issue
    assert other.status_code == 201 and other.get_json()["id"] != first.get_json()["id"]
    assert _count(registry) == 2


def test_multipart_intake_with_a_photo(world):
    app, registry, clock, c = world
    code, lon, lat = _micro_grid_point(registry)
    r = c["worker"].post(
        "/api/v1/issues",
        data={
            "category": "fire_hazard",
            "lon": str(lon),
            "lat": str(lat),
            "description": "楼道堆放杂物",
            "photos": (io.BytesIO(_png((32, 24))), "scene.png"),
        },
        content_type="multipart/form-data",
    )
    assert r.status_code == 201, r.get_json()
    issue = r.get_json()
    assert issue["micro_grid_code"] == code and len(issue["photos"]) == 1
    with registry.store.engine.connect() as conn:
        row = conn.execute(sa.select(t.photos).where(t.photos.c.sha256 == issue["photos"][0])).mappings().one()
    assert (row["width"], row["height"], row["content_type"]) == (32, 24, "image/png")


def test_intake_is_rate_limited_per_caller(demo_db, demo_tokens, tmp_path):
    from web import create_app

    url = copy_demo(demo_db, tmp_path)
    registry = Registry(open_store(url))
    app = create_app({**TEST_CONFIG, "DATABASE_URL": url, "REGISTRY": registry, "INTAKE_RATE_LIMIT": "2 per minute"})
    app.extensions["weige.limiter"].reset()
    code, lon, lat = _micro_grid_point(registry)
    body = {"category": "dispute", "lon": lon, "lat": lat}
    wechat = token_client(app, demo_tokens["api_client"])
    assert [wechat.post("/api/v1/issues", json=body).status_code for _ in range(3)] == [201, 201, 429]
    staff = token_client(app, demo_tokens["staff"])  # another caller has its own allowance
    assert staff.post("/api/v1/issues", json=body).status_code == 201
    form = {"service_code": "dispute", "lat": str(lat), "long": str(lon)}
    open311 = app.test_client()
    codes = [
        open311.post(f"/open311/v2/requests.json?api_key={demo_tokens['staff']}", data=form).status_code
        for _ in range(2)
    ]
    assert codes == [201, 429]  # the same caller, through Open311
    assert _count(registry) == 4
