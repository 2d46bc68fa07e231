"""The SQLite R*Tree of building boxes (migration 0012): bbox reads use it, and it follows every write."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
import sqlalchemy as sa

from boundaries.storage import open_store
from boundaries.storage.geometry import encode as wkb_row
from boundaries.storage.store import _compiled
from tests.conftest import database_at


def _rows(n: int, seed: int = 5) -> list[dict]:
    rng = np.random.default_rng(seed)
    x, y = rng.uniform(104.0, 104.1, n), rng.uniform(30.6, 30.7, n)
    boxes = shapely.box(x, y, x + rng.uniform(1e-5, 3e-4, n), y + rng.uniform(1e-5, 3e-4, n))
    return [{"name": f"b{i}", "lon": float(x[i]), "lat": float(y[i]), **wkb_row(g)} for i, g in enumerate(boxes)]


def _brute(store, bbox) -> list[int]:
    window = shapely.box(*bbox)
    rows = store.buildings(bbox=None)
    return sorted(r["id"] for r in rows if shapely.box(r["minx"], r["miny"], r["maxx"], r["maxy"]).intersects(window))


@pytest.fixture
def store(tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'w.db'}")
    with store.transaction() as conn:
        store.insert_rows(conn, "buildings", _rows(3000))
    return store


WINDOWS = [(104.02, 30.62, 104.03, 30.63), (104.0, 30.6, 104.1, 30.7), (104.05, 30.65, 104.05, 30.65), (0, 0, 1, 1)]


def test_bbox_reads_go_through_the_rtree_and_equal_a_brute_force_window(store):
    assert store._building_window((0, 0, 1, 1)) is not None and store._rtree is True
    for bbox in WINDOWS:
        assert sorted(r["id"] for r in store.buildings(bbox=bbox)) == _brute(store, bbox), bbox
    from core.storage import tables

    statement = sa.select(tables.buildings.c.id).where(store._building_window(WINDOWS[0]))
    sql, params = _compiled(statement, store.engine.dialect)
    with store.engine.connect() as conn:
        plan = " ".join(str(row) for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", params))
    assert "VIRTUAL TABLE INDEX" in plan, plan


def test_the_rtree_follows_inserts_updates_and_deletes(store):
    moved_id = store.buildings(bbox=WINDOWS[0])[0]["id"]
    far = shapely.box(105.5, 31.5, 105.5001, 31.5001)
    with store.transaction() as conn:
        store.update_rows(conn, "buildings", [{"id": moved_id, **wkb_row(far)}])
        store.insert_rows(conn, "buildings", [{"name": "new", "lon": 105.6, "lat": 31.6, **wkb_row(far)}])
    assert moved_id not in {r["id"] for r in store.buildings(bbox=WINDOWS[0])}
    there = sorted(r["id"] for r in store.buildings(bbox=(105.4, 31.4, 105.6, 31.6)))
    assert len(there) == 2 and moved_id in there
    with store.transaction() as conn:
        store.delete_rows(conn, "buildings", there)
    assert store.buildings(bbox=(105.4, 31.4, 105.6, 31.6)) == []
    with store.engine.connect() as conn:
        count = conn.exec_driver_sql("SELECT count(*) FROM buildings_rtree").scalar()
        assert count == conn.exec_driver_sql("SELECT count(*) FROM buildings").scalar()


def test_a_database_from_before_the_rtree_gets_it_filled(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    rows = _rows(500, seed=9)
    with database_at(url, "0011") as connection:
        connection.execute(sa.table("buildings", *[sa.column(k) for k in rows[0]]).insert(), rows)
    store = open_store(url)  # migrates to the head: 0012 builds the R*Tree from the rows already there
    for bbox in WINDOWS:
        assert sorted(r["id"] for r in store.buildings(bbox=bbox)) == _brute(store, bbox)
    assert store._rtree is True
