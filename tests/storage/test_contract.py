"""One storage contract for every backend (issue 13 item 3): the same assertions on SQLite, PostgreSQL and PostGIS.

Each backend holds the demo street and its users: SQLite a copy of the session's demo database, PostgreSQL and
PostGIS a database each on one private server (``pg_server``, tests/storage/conftest.py). "postgresql" is a database
whose ``weige.postgis`` setting is off, so migration 0018 leaves it plain although the server has PostGIS: what a
server without PostGIS gets. A backend whose binaries or extension are absent is skipped with the reason.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest
import shapely
import sqlalchemy as sa
from alembic.script import ScriptDirectory

from accounts.demo import create_demo_users
from accounts.tokens import create_token, list_tokens, resolve_token, revoke_token
from accounts.users import authenticate, find_user
from boundaries import editing
from boundaries.demo import load_demo
from boundaries.registry import Registry
from boundaries.scope import ScopedRegistry
from boundaries.storage import open_store
from boundaries.storage.geometry import encode as wkb_row
from boundaries.storage.postgis import SPATIAL_TABLES
from core.audit import SYSTEM, Actor, entries
from core.errors import ChangeSetConflictError
from core.scope import Scope
from core.storage.schema import MIGRATIONS
from issues.bulk import import_issues
from issues.desk import IssueDesk
from issues.queries import issue_stats, list_issues
from serving.analysis import analyse
from tests.conftest import copy_demo, demo_password

BACKENDS = ("sqlite", "postgresql", "postgis")
GRID = "510104001001001"


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request, demo_db, tmp_path_factory) -> Registry:
    """A registry over the demo street on one backend (the tests of this module share it, in file order)."""
    kind = request.param
    if kind == "sqlite":
        registry = Registry(open_store(copy_demo(demo_db, tmp_path_factory.mktemp("contract"))))
    else:
        server = request.getfixturevalue("pg_server")
        if kind == "postgis" and not server.has_postgis():
            pytest.skip("PostGIS extension not installed (.ci/run installs Debian's postgresql-15-postgis-3)")
        registry = Registry(open_store(server.database(f"contract_{kind}", postgis=kind == "postgis")))
        load_demo(registry)
        create_demo_users(registry, password=demo_password)
    registry.kind = kind
    yield registry
    registry.store.engine.dispose()


def _geom_columns_and_indexes(engine) -> tuple[set[str], set[str]]:
    """The spatial tables having a ``geom`` column, and the names of their indexes."""
    if engine.dialect.name == "sqlite":
        inspector = sa.inspect(engine)
        tables = {n for n in SPATIAL_TABLES if "geom" in {c["name"] for c in inspector.get_columns(n)}}
        return tables, {i["name"] for n in SPATIAL_TABLES for i in inspector.get_indexes(n)}
    with engine.connect() as conn:  # (SQLAlchemy's inspector does not know PostGIS's types)
        tables = conn.execute(
            sa.text("SELECT table_name FROM information_schema.columns WHERE column_name = 'geom' "
                    "AND table_schema = current_schema()")
        ).scalars()  # fmt: skip
        indexes = conn.execute(sa.text("SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()"))
        return set(tables) & set(SPATIAL_TABLES), set(indexes.scalars())


def test_migrations_reach_the_head_and_postgis_columns_exist_only_on_postgis(backend):
    head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    with backend.store.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar_one() == head
    with_geom, indexes = _geom_columns_and_indexes(backend.store.engine)
    assert "ix_buildings_bbox" in indexes
    if backend.kind == "postgis":
        assert backend.store.spatial == "postgis"
        assert with_geom == set(SPATIAL_TABLES)
        assert {f"ix_{name}_geom" for name in SPATIAL_TABLES} <= indexes
    else:
        assert backend.store.spatial is None and with_geom == set()
        assert not any(name.endswith("_geom") for name in indexes)


def test_locate_answers_as_on_the_embedded_default(backend, demo_registry):
    micro = backend.areas(level="micro_grid")
    assert micro["code"].tolist() == demo_registry.areas(level="micro_grid")["code"].tolist()
    inner = shapely.point_on_surface(micro.geometry.values)
    minx, miny, maxx, maxy = micro.total_bounds
    rng = np.random.default_rng(13)
    lon = np.concatenate([shapely.get_x(inner), rng.uniform(minx - 0.002, maxx + 0.002, 400)])
    lat = np.concatenate([shapely.get_y(inner), rng.uniform(miny - 0.002, maxy + 0.002, 400)])
    here, there = backend.locate(lon, lat), demo_registry.locate(lon, lat)
    assert (here["code"].to_numpy()[: len(micro)] == micro["code"].to_numpy()).all()
    assert here["code"].fillna("").tolist() == there["code"].fillna("").tolist()
    assert here["status"].tolist() == there["status"].tolist()
    assert set(here["status"]) >= {"ok", "outside"}


def _windows(rows: list[dict], n: int, seed: int) -> list[tuple]:
    """Random windows over the rows' extent, and windows whose edges are exactly some rows' box edges."""
    rng = np.random.default_rng(seed)
    x0, y0 = min(r["minx"] for r in rows), min(r["miny"] for r in rows)
    x1, y1 = max(r["maxx"] for r in rows), max(r["maxy"] for r in rows)
    out = []
    for _ in range(n):
        cx, cy = rng.uniform(x0, x1), rng.uniform(y0, y1)
        w, h = rng.uniform(0, (x1 - x0) / 4), rng.uniform(0, (y1 - y0) / 4)
        out.append((cx - w, cy - h, cx + w, cy + h))
    for row in (rows[i] for i in rng.choice(len(rows), 4, replace=False)):
        out.append((row["maxx"], row["maxy"], row["maxx"] + 1e-3, row["maxy"] + 1e-3))  # touching a corner
        out.append((row["minx"] - 1e-3, row["miny"] - 1e-3, row["minx"], row["miny"]))
    return out + [(0.0, 0.0, 1.0, 1.0), (x0, y0, x1, y1)]


def _brute(rows: list[dict], bbox) -> list[int]:
    minx, miny, maxx, maxy = bbox
    return sorted(
        r["id"] for r in rows if r["maxx"] >= minx and r["minx"] <= maxx and r["maxy"] >= miny and r["miny"] <= maxy
    )


def _boxed(rows: list[dict]) -> list[dict]:
    """Point rows with their point as a box."""
    return [{**r, "minx": r["lon"], "maxx": r["lon"], "miny": r["lat"], "maxy": r["lat"]} for r in rows]


def _add_roads(store, n: int = 300, seed: int = 4) -> None:
    """Random road centre lines over the demo street (the demo has none)."""
    rng = np.random.default_rng(seed)
    x, y = rng.uniform(104.05, 104.09, n), rng.uniform(30.63, 30.67, n)
    dx, dy = rng.uniform(-2e-3, 2e-3, (2, n))
    lines = shapely.linestrings(np.stack([np.stack([x, x + dx, x + dx], 1), np.stack([y, y, y + dy], 1)], 2))
    with store.transaction() as conn:
        store.insert_rows(conn, "roads", [{"name": f"路{i}", "kind": "residential", **wkb_row(g)} for i, g in
                                          enumerate(lines)])  # fmt: skip


def test_bbox_windows_select_the_same_rows_on_every_backend(backend, demo_registry):
    store, default = backend.store, demo_registry.store
    generation = backend.current_generation()
    _add_roads(store)
    tables = {
        "buildings": (store.buildings(geometry=False), lambda b: store.buildings(bbox=b, geometry=False),
                      lambda b: default.buildings(bbox=b, geometry=False)),
        "service_points": (_boxed(store.service_points()), lambda b: store.service_points(bbox=b),
                           lambda b: default.service_points(bbox=b)),
        "roads": (store.roads(), lambda b: store.roads(bbox=b), None),
        "areas": (store.areas(generation, geometry=False), lambda b: store.areas(generation, bbox=b, geometry=False),
                  None),
    }  # fmt: skip
    assert len(tables["buildings"][0]) > 1000 and len(tables["roads"][0]) > 10 and len(tables["service_points"][0])
    seen = 0
    for name, (rows, read, read_default) in tables.items():
        for bbox in _windows(rows, 25, seed=len(name)):
            got = sorted(r["id"] for r in read(bbox))
            assert got == _brute(rows, bbox), (name, bbox)
            if read_default is not None:  # the demo's assets are the same rows on every backend
                assert got == sorted(r["id"] for r in read_default(bbox)), (name, bbox)
            seen += len(got)
    assert seen > 1000
    issue_rows = _boxed(store.feature_rows("issues"))
    for name, rows in (("buildings", tables["buildings"][0]), ("service_points", tables["service_points"][0])):
        for bbox in _windows(rows, 5, seed=7):
            expected = _brute(rows, bbox)
            assert [r[0] for r in store.feature_points(name, bbox=bbox)] == expected
            assert store.feature_count(name, bbox=bbox) == len(expected)
            assert [r["id"] for r in store.feature_rows(name, bbox=bbox, limit=50)] == expected[:50]
    if issue_rows:
        for bbox in _windows(issue_rows, 5, seed=8):
            assert [r[0] for r in store.feature_points("issues", bbox=bbox)] == _brute(issue_rows, bbox)


def test_windows_follow_inserts_updates_and_deletes(backend):
    store = backend.store
    far, there = shapely.box(121.5, 31.2, 121.5002, 31.2002), shapely.box(121.6, 31.3, 121.6002, 31.3002)
    with store.transaction() as conn:
        store.insert_rows(conn, "buildings", [{"name": "远", "lon": 121.5001, "lat": 31.2001, **wkb_row(far)}])
        point = store.insert_one(conn, "service_points", {"name": "远点", "kind": "clinic", "lon": 121.5, "lat": 31.2})
    window, other = (121.49, 31.19, 121.51, 31.21), (121.59, 31.29, 121.61, 31.31)
    [moved] = store.buildings(bbox=window, geometry=False)
    assert [p["id"] for p in store.service_points(bbox=window)] == [point]
    with store.transaction() as conn:
        store.update_rows(conn, "buildings", [{"id": moved["id"], **wkb_row(there)}])
        store.update_one(conn, "service_points", point, {"lon": 121.6, "lat": 31.3})
    assert store.buildings(bbox=window) == [] and store.service_points(bbox=window) == []
    assert [b["id"] for b in store.buildings(bbox=other)] == [moved["id"]]
    assert [p["id"] for p in store.service_points(bbox=other)] == [point]
    with store.transaction() as conn:
        store.delete_rows(conn, "buildings", [moved["id"]])
        store.delete_one(conn, "service_points", point)
    assert store.buildings(bbox=other) == [] and store.service_points(bbox=other) == []


def _view(registry, user_id: int, name: str) -> ScopedRegistry:
    return ScopedRegistry(registry, Scope.everything(), Actor(user_id, name, "contract"))


def test_generations_publish_discard_and_conflict(backend):
    leaves = backend.areas(parent_code=GRID)["code"].tolist()
    start = backend.current_generation()
    ours, theirs = _view(backend, 801, "planner-801"), _view(backend, 802, "planner-802")
    discarded = editing.update_area(ours, leaves[0], name="丢弃")["generation"]
    assert editing.discard(ours) == discarded
    assert backend.store.generation(discarded)["state"] == "discarded" and backend.current_generation() == start
    editing.update_area(ours, leaves[0], name="我的")
    editing.update_area(theirs, leaves[0], name="他的")
    published = editing.publish(theirs)
    assert published > start and backend.current_generation() == published
    with pytest.raises(ChangeSetConflictError) as info:
        editing.publish(ours)
    assert [c["code"] for c in info.value.conflicts] == [leaves[0]]
    assert backend.current_generation() == published and backend.area(leaves[0])["name"] == "他的"
    assert backend.area(leaves[0], generation=start)["name"] != "他的"  # history kept
    editing.discard(ours)


def test_audit_entries_of_an_edit(backend):
    planner = find_user(backend, "planner")
    view = ScopedRegistry(backend, planner.scope(), planner.actor("contract"))
    leaf = backend.areas(parent_code=GRID).iloc[-1]["code"]
    since = datetime.now(timezone.utc) - timedelta(seconds=1)
    editing.update_area(view, leaf, name="审计")
    generation = editing.publish(view)
    rows, total = entries(backend.store.engine, user="planner", since=since)
    assert total == 2 and [r["action"] for r in rows] == ["publish", "update"]
    assert rows[0]["object_id"] == str(generation) and rows[1]["after"]["name"] == "审计"
    at = datetime.fromisoformat(rows[1]["at"])
    assert at.tzinfo is not None and since <= at <= datetime.now(timezone.utc)
    assert entries(backend.store.engine, user="planner", since=datetime.now(timezone.utc) + timedelta(hours=1))[1] == 0


def test_accounts_users_and_tokens(backend):
    assert authenticate(backend, "staff", demo_password("staff")).role == "staff"
    assert authenticate(backend, "STAFF", demo_password("staff")).name == "staff"  # names compared without case
    assert authenticate(backend, "staff", "wrong-password") is None
    user = find_user(backend, "wechat")
    secret, token = create_token(backend, user.id, "contract", 1)
    assert resolve_token(backend, secret).name == "wechat"
    assert token["id"] in {t["id"] for t in list_tokens(backend, user.id)}
    revoke_token(backend, token["id"], SYSTEM)
    assert resolve_token(backend, secret) is None and resolve_token(backend, secret + "x") is None


def test_issues_intake_list_and_stats(backend):
    now = {"t": datetime(2026, 11, 23, 1, 30, tzinfo=timezone.utc)}
    desk = IssueDesk(backend, clock=lambda: now["t"])
    staff = find_user(backend, "staff")
    view = ScopedRegistry(backend, staff.scope(), staff.actor("contract"))
    leaf = backend.areas(parent_code="510104001001001").iloc[0]
    p = shapely.point_on_surface(leaf.geometry)
    issue, created = desk.report(view, "exposed_rubbish", "垃圾", lon=p.x, lat=p.y, external_id="contract-1")
    assert created and issue["micro_grid_code"] == leaf["code"]
    again, created = desk.report(view, "exposed_rubbish", "垃圾", lon=p.x, lat=p.y, external_id="contract-1")
    assert not created and again["id"] == issue["id"]
    for step in ("accept", "file", "dispatch"):
        desk.act(view, issue["id"], step, can=staff.can)
    now["t"] += timedelta(days=1)
    assert desk.escalate_overdue() == 1 and desk.escalate_overdue() == 0
    rows, total = list_issues(view, state="open", now=now["t"])
    assert total == 1 and rows[0]["level"] == "grid" and rows[0]["overdue"] is False
    frame = pd.DataFrame(
        {"category": ["dispute"] * 3, "lon": [p.x] * 3, "lat": [p.y] * 3, "reported_at": ["2025-01-02 09:00"] * 3,
         "closed_at": ["2025-01-03 09:00"] * 3, "external_id": ["a", "b", "c"]}
    )  # fmt: skip
    report = import_issues(desk, frame, actor=staff.actor("contract"))
    assert report.imported == 3 and not report.errors
    stats = issue_stats(view, area="510104001001", now=now["t"])
    assert stats["total"] == 4 and stats["closed"] == 3
    box = (p.x - 1e-6, p.y - 1e-6, p.x + 1e-6, p.y + 1e-6)
    assert backend.store.feature_count("issues", bbox=box) == 4


def test_coverage_analysis_as_on_the_embedded_default(backend, demo_registry):
    here = analyse(_view(backend, 803, "analyst"), "clinic", area="510104001001").summary()
    there = analyse(_view(demo_registry, 803, "analyst"), "clinic", area="510104001001").summary()
    assert here["households"] > 0 and here == there


def test_leases(backend):
    store = backend.store
    now = datetime(2026, 11, 27, 8, 0, tzinfo=timezone.utc)
    assert store.acquire_lease("contract", "a", 60, now=now)
    assert not store.acquire_lease("contract", "b", 60, now=now + timedelta(seconds=30))
    assert store.acquire_lease("contract", "a", 60, now=now + timedelta(seconds=50))  # renewed until 08:01:50
    assert not store.acquire_lease("contract", "b", 60, now=now + timedelta(seconds=100))
    assert store.acquire_lease("contract", "b", 60, now=now + timedelta(seconds=111))
    assert store.lease_holder("contract") == ("b", now + timedelta(seconds=171))
    assert store.lease_holder("contract-none") is None


def test_shared_secrets(backend):
    url = backend.store.engine.url.render_as_string(hide_password=False)
    first = backend.store.shared_secret("contract")
    other = open_store(url)  # another process's store on the same database
    try:
        assert other.shared_secret("contract") == first and len(first) >= 32
        assert other.shared_secret("contract-2") != first
    finally:
        other.engine.dispose()
