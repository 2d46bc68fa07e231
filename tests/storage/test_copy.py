"""Bulk writes by ``COPY`` on PostgreSQL (``boundaries.storage.copying``): the same rows as the ``INSERT`` path.

Each test writes the same rows into two fresh databases of the private server, one through ``COPY`` (the store's
path on PostgreSQL) and one through the portable ``INSERT`` path, and reads every column back from both.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest
import shapely
import sqlalchemy as sa

from boundaries.storage import open_store
from boundaries.storage import store as store_module
from boundaries.storage.postgis import SPATIAL_TABLES
from core.storage import tables as t

#: Text a COPY stream must escape: its delimiters, escapes and end marker, quotes, Chinese, an emoji.
HOSTILE = [
    "tab\there",
    "new\nline",
    "carriage\rreturn",
    "back\\slash",
    "\\N",
    "\\.",
    "end\\",
    "微格 网格 社区",
    "quote ' and \" both",
    "",
    "emoji 😀 ok",
    "comma, semi; pipe | \x7f",
]
UTC8 = timezone(timedelta(hours=8))


@pytest.fixture(scope="module")
def stores(pg_server):
    """Two fresh stores: ``copy`` (the PostgreSQL path) and ``insert`` (forced onto the INSERT path)."""
    out = {name: open_store(pg_server.database(f"copy_{name}")) for name in ("copy", "insert")}
    yield out
    for store in out.values():
        store.engine.dispose()


def _write(store, write, monkeypatch, copy: bool) -> None:
    with monkeypatch.context() as m:
        if not copy:
            m.setattr(store_module, "_copies", lambda conn: False)
        with store.transaction() as conn:
            write(store, conn)


def _both(stores, write, monkeypatch) -> None:
    _write(stores["copy"], write, monkeypatch, copy=True)
    _write(stores["insert"], write, monkeypatch, copy=False)


def _table(store, table: sa.Table) -> list[dict]:
    """Every column of every row, ordered by id, as psycopg reads them (plus PostGIS's ``geom`` as EWKB)."""
    with store.engine.connect() as conn:
        rows = [dict(r) for r in conn.execute(sa.select(table).order_by(table.c.id)).mappings()]
        if store.spatial == "postgis" and table.name in SPATIAL_TABLES:
            geoms = conn.exec_driver_sql(f"SELECT ST_AsEWKB(geom) FROM {table.name} ORDER BY id").scalars().all()
            for row, geom in zip(rows, geoms, strict=True):
                row["geom"] = bytes(geom)
    return rows


def _building(i: int) -> dict:
    x = 104.0 + i * 1.234567890123e-4
    return {
        "ref": None if i % 3 == 0 else f"B-{i}",
        "name": HOSTILE[i % len(HOSTILE)],
        "address": HOSTILE[(i + 5) % len(HOSTILE)],
        "floors": None if i % 4 == 0 else i % 30,
        "households": i % 60,
        "vulnerable_households": i % 3,
        "use": "住宅 residential" if i % 2 else "",
        "lon": x + 5e-6,
        "lat": 30.6 + 1e-9 * i,
        "geometry": shapely.box(x, 30.6, x + 1e-5, 30.60001),
    }


def test_copy_writes_buildings_service_points_and_roads_as_insert_does(stores, monkeypatch):
    buildings = [_building(i) for i in range(40)]
    points = [
        {"ref": f"S-{i}", "name": HOSTILE[i % len(HOSTILE)], "kind": "toilet", "opening_hours": HOSTILE[-i],
         "capacity": None if i % 2 else i, "address": "成都 \\ 路\t1号", "lon": 104.1 + i / 7, "lat": 30.5 - i / 9}
        for i in range(12)
    ]  # fmt: skip
    roads = [
        {"ref": None, "name": HOSTILE[i], "kind": "path", "walkable": i % 3 != 1,
         "geometry": shapely.LineString([(104 + i / 100, 30.6), (104.001 + i / 100, 30.601), (104.002, 30.6 + i)])}
        for i in range(len(HOSTILE))
    ]  # fmt: skip

    def write(store, conn):
        store.insert_rows(conn, "buildings", buildings)
        store.insert_rows(conn, "service_points", points)
        store.insert_rows(conn, "roads", roads)

    _both(stores, write, monkeypatch)
    for table in (t.buildings, t.service_points, t.roads):
        copied, inserted = _table(stores["copy"], table), _table(stores["insert"], table)
        assert len(copied) == {"buildings": 40, "service_points": 12, "roads": len(HOSTILE)}[table.name]
        assert copied == inserted, table.name
    names = [row["name"] for row in _table(stores["copy"], t.roads)]
    assert names == HOSTILE  # the hostile text itself, not only the same on both paths
    assert [r["walkable"] for r in _table(stores["copy"], t.roads)][:3] == [True, False, True]
    first = _table(stores["copy"], t.buildings)[1]
    assert shapely.from_wkb(first["geometry"]).equals(buildings[1]["geometry"])
    assert (first["ref"], first["floors"], first["lon"]) == ("B-1", 1, buildings[1]["lon"])


def _issue_frame(n: int) -> pd.DataFrame:
    """Issue rows shaped as ``issues.bulk`` builds them: object columns of Python values and None."""
    base = datetime(2024, 3, 1, 8, 30, 15, 123456, tzinfo=UTC)
    created = [base + timedelta(hours=i) if i % 2 else (base + timedelta(hours=i)).astimezone(UTC8) for i in range(n)]
    columns = {
        "external_id": [None if i % 5 == 0 else f"E{i}" for i in range(n)],
        "channel": ["import"] * n,
        "token": [f"imp-copy-{i}" for i in range(n)],
        "category": ["exposed_rubbish"] * n,
        "description": [HOSTILE[i % len(HOSTILE)] for i in range(n)],
        "address": [HOSTILE[(i + 3) % len(HOSTILE)] for i in range(n)],
        "hazard_level": ["", "high"] * (n // 2),
        "lon": np.linspace(104.0, 104.1, n),
        "lat": np.linspace(30.5, 30.6, n),
        "crs_reported": ["wgs84"] * n,
        "lon_reported": np.linspace(104.0, 104.1, n) - 0.0025,
        "lat_reported": np.linspace(30.5, 30.6, n) + 0.0025,
        "generation": [1] * n,
        "micro_grid_code": [None if i % 7 == 0 else f"5101040010010010010{i % 10}" for i in range(n)],
        "location_status": ["located"] * n,
        "on_boundary": [i % 2 == 0 for i in range(n)],
        "near_boundary": [bool(i % 3) for i in range(n)],
        "level": ["micro_grid"] * n,
        "assignee_worker_id": [None] * n,
        "assignee_name": ["张三\t(wang)"] * n,
        "state": ["closed" if i % 4 else "submitted" for i in range(n)],
        "reporter_name": ["李四 \\ 5"] * n,
        "created_by": [None if i % 2 else 7 for i in range(n)],
        "created_at": created,
        "updated_at": created,
        "stage_started_at": created,
        "due_at": [None if i % 4 else created[i] + timedelta(days=2) for i in range(n)],
        "closed_at": [created[i] + timedelta(days=1) if i % 4 else None for i in range(n)],
    }
    return pd.DataFrame({k: pd.Series(v, dtype=object) for k, v in columns.items()})


def _event_frame(n: int) -> pd.DataFrame:
    at = datetime(2024, 3, 2, tzinfo=UTC8)
    return pd.DataFrame(
        {
            "issue_id": list(range(1, n + 1)),
            "at": pd.Series([at + timedelta(seconds=i) for i in range(n)], dtype=object),
            "user_id": pd.Series([None] * n, dtype=object),
            "user_name": "系统 system",
            "action": "import",
            "from_state": pd.Series([None] * n, dtype=object),
            "to_state": "submitted",
            "on_time": pd.Series([[True, False, None][i % 3] for i in range(n)], dtype=object),
            "note": [HOSTILE[i % len(HOSTILE)] for i in range(n)],
        }
    )


def test_copy_writes_issues_and_events_as_insert_does(stores, monkeypatch):
    issues, events = _issue_frame(30), _event_frame(30)

    def write(store, conn):
        store.bulk_insert(conn, "issues", issues)
        store.bulk_insert(conn, "issue_events", events)

    _both(stores, write, monkeypatch)
    for table in (t.issues, t.issue_events):
        copied, inserted = _table(stores["copy"], table), _table(stores["insert"], table)
        assert len(copied) == 30
        assert copied == inserted, table.name
    copied = _table(stores["copy"], t.issues)
    assert [r["description"] for r in copied[: len(HOSTILE)]] == HOSTILE
    assert [r["created_at"] for r in copied] == list(issues["created_at"])  # the same instants (aware datetimes)
    assert copied[0]["closed_at"] is None and copied[0]["external_id"] is None and copied[0]["on_boundary"] is True
    assert [r["on_time"] for r in _table(stores["copy"], t.issue_events)][:3] == [True, False, None]


def test_copy_writes_pandas_missing_markers_as_null(stores):
    store = stores["copy"]
    frame = _issue_frame(4)
    frame["token"] = [f"imp-na-{i}" for i in range(4)]
    frame["external_id"] = pd.Series(["x", pd.NA, None, "y"], dtype=object)
    frame["closed_at"] = pd.Series([pd.NaT, None, datetime(2024, 1, 1, tzinfo=UTC), pd.NaT], dtype=object)
    with store.transaction() as conn:
        store.bulk_insert(conn, "issues", frame)
    c = t.issues.c
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(c.external_id, c.closed_at).where(c.token.like("imp-na-%")).order_by(c.id)).all()
    assert [tuple(r) for r in rows] == [
        ("x", None), (None, None), (None, datetime(2024, 1, 1, tzinfo=UTC)), ("y", None)
    ]  # fmt: skip


def test_bulk_writes_on_postgresql_send_no_insert_statement(pg_server):
    store = open_store(pg_server.database("copy_statements"))
    statements: list[str] = []
    sa.event.listen(store.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    try:
        with store.transaction() as conn:
            store.insert_rows(conn, "buildings", [_building(i) for i in range(2500)])
            store.bulk_insert(conn, "issues", _issue_frame(10))
        assert not [s for s in statements if s.lstrip().upper().startswith("INSERT")]
        assert len(store.buildings(geometry=False)) == 2500
    finally:
        store.engine.dispose()


def test_a_copy_rolls_back_with_the_callers_transaction_and_bumps_the_revision(pg_server):
    store = open_store(pg_server.database("copy_rollback"))
    try:
        before = store.revision("assets")
        with pytest.raises(RuntimeError), store.transaction() as conn:
            store.insert_rows(conn, "buildings", [_building(i) for i in range(100)])
            store.bulk_insert(conn, "issues", _issue_frame(10))
            assert len(store.buildings(geometry=False, conn=conn)) == 100  # written in this transaction
            raise RuntimeError("the caller fails after the COPY")
        assert store.buildings(geometry=False) == []
        with store.engine.connect() as conn:
            assert conn.execute(sa.select(sa.func.count()).select_from(t.issues)).scalar_one() == 0
        assert store.revision("assets") == before

        with store.transaction() as conn:
            store.insert_rows(conn, "buildings", [_building(i) for i in range(100)])
            store.insert_rows(conn, "roads", [{"ref": "r", "name": "路", "kind": "path", "walkable": True,
                                              "geometry": shapely.LineString([(104, 30), (104.1, 30.1)])}])  # fmt: skip
        assert len(store.buildings(geometry=False)) == 100
        assert store.revision("assets") == before + 2  # the statement trigger fires once per COPY
    finally:
        store.engine.dispose()


def test_a_failed_copy_raises_sqlalchemys_error_and_leaves_nothing(pg_server):
    store = open_store(pg_server.database("copy_unique"))
    try:
        frame = _issue_frame(4)
        frame["external_id"] = ["dup", "a", "dup", "b"]  # one import may not bring the same external id twice
        with pytest.raises(sa.exc.IntegrityError, match="uq_issues_external"), store.transaction() as conn:
            store.bulk_insert(conn, "issues", frame)
        with store.engine.connect() as conn:
            assert conn.execute(sa.select(sa.func.count()).select_from(t.issues)).scalar_one() == 0
    finally:
        store.engine.dispose()


def test_nothing_to_write_sends_no_copy_and_bumps_nothing(stores):
    store = stores["copy"]
    before = store.revision("assets")
    with store.transaction() as conn:
        store.insert_rows(conn, "buildings", [])
        store.bulk_insert(conn, "issue_events", _event_frame(0))
    assert store.revision("assets") == before


def test_copy_writes_areas_as_insert_does(stores, monkeypatch):
    """A city's import writes its areas by ``COPY`` (ids in row order); the rows read back equal the INSERT path's."""
    copied_tables = []
    copy_dicts = store_module.copy_dicts
    monkeypatch.setattr(
        store_module,
        "copy_dicts",
        lambda conn, table, rows: copied_tables.append(table.name) or copy_dicts(conn, table, rows),
    )
    areas = [
        {
            "code": f"510104{i:06d}",
            "level": "micro_grid" if i % 5 else "grid",
            "name": HOSTILE[i % len(HOSTILE)],
            "kind": "general",
            "parent_code": None if i % 5 == 0 else f"510104{i - i % 5:06d}",
            "geometry": shapely.MultiPolygon([shapely.box(104 + i / 1e3, 30.6, 104.0009 + i / 1e3, 30.6009)])
            if i % 7 == 0
            else shapely.box(104 + i / 1e3, 30.6, 104.0009 + i / 1e3, 30.6009),
        }
        for i in range(store_module._COPY_FROM + 70)
    ]

    def write(store, conn):
        generation = store.create_generation(conn, "copy test")
        store.insert_areas(conn, [{**a, "generation_low": generation} for a in areas])

    _both(stores, write, monkeypatch)
    assert copied_tables == ["areas"]  # the copy store's one COPY; the other went by INSERT
    copied, inserted = _table(stores["copy"], t.areas), _table(stores["insert"], t.areas)
    assert len(copied) == len(areas) and copied == inserted
    assert [r["code"] for r in copied] == [a["code"] for a in areas]  # ids follow the rows' order
    generation = copied[0]["generation_low"]
    read = stores["copy"].areas(generation)
    assert [shapely.equals_exact(r["geometry"], a["geometry"], 0) for r, a in zip(read, areas, strict=True)] == [
        True
    ] * len(areas)
