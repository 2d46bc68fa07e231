"""PostGIS specifics (migration 0018): the windows go through the GiST index, the migration's switches and downgrade.

The same answers on every backend are the contract suite's (``test_contract.py``); these tests need a server with
the PostGIS extension files and are skipped without them.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest
import shapely
import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from boundaries.storage import open_store
from boundaries.storage.geometry import encode as wkb_row
from boundaries.storage.postgis import SPATIAL_TABLES
from boundaries.storage.store import Store, _compiled
from core.storage import tables as t
from core.storage.schema import MIGRATIONS


@pytest.fixture(scope="module")
def server(pg_server):
    if not pg_server.has_postgis():
        pytest.skip("PostGIS extension not installed (.ci/run installs Debian's postgresql-15-postgis-3)")
    return pg_server


def _boxes(n: int, seed: int = 3) -> list[dict]:
    rng = np.random.default_rng(seed)
    x, y = rng.uniform(104.0, 104.2, n), rng.uniform(30.6, 30.8, n)
    boxes = shapely.box(x, y, x + rng.uniform(1e-5, 3e-4, n), y + rng.uniform(1e-5, 3e-4, n))
    return [{"name": f"b{i}", "lon": float(x[i]), "lat": float(y[i]), **wkb_row(g)} for i, g in enumerate(boxes)]


def _geom_tables(store) -> set[str]:
    with store.engine.connect() as conn:
        found = conn.execute(
            sa.text("SELECT table_name FROM information_schema.columns WHERE column_name = 'geom' "
                    "AND table_schema = current_schema()")
        ).scalars()  # fmt: skip
        return set(found)


def test_a_building_window_is_answered_by_the_gist_index(server):
    store = open_store(server.database("plan"))
    try:
        with store.transaction() as conn:
            store.insert_rows(conn, "buildings", _boxes(20_000))
        with store.engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE buildings")
        window = (104.1, 30.7, 104.102, 30.702)
        statement = sa.select(t.buildings.c.id).where(store._window(t.buildings, window))
        sql, params = _compiled(statement, store.engine.dialect)
        assert "&&" in sql and "ST_MakeEnvelope" in sql
        with store.engine.connect() as conn:
            plan = "\n".join(row[0] for row in conn.exec_driver_sql(f"EXPLAIN {sql}", params))
        assert "ix_buildings_geom" in plan, plan
        rows = store.buildings(bbox=window, geometry=False)
        minx, miny, maxx, maxy = window
        brute = [r["id"] for r in store.buildings(geometry=False)
                 if r["maxx"] >= minx and r["minx"] <= maxx and r["maxy"] >= miny and r["miny"] <= maxy]  # fmt: skip
        assert [r["id"] for r in rows] == brute and len(brute) > 0
    finally:
        store.engine.dispose()


def _alembic(store, action, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with store.engine.begin() as connection:
        config.attributes["connection"] = connection
        action(config, revision)


def test_the_migration_downgrades_and_upgrades_with_the_rows_already_there(server):
    url = server.database("downgrade")
    store = open_store(url)
    try:
        with store.transaction() as conn:
            store.insert_rows(conn, "buildings", _boxes(500, seed=8))
        window = (104.05, 30.65, 104.15, 30.75)
        before = [r["id"] for r in store.buildings(bbox=window, geometry=False)]
        assert store.spatial == "postgis" and _geom_tables(store) == set(SPATIAL_TABLES) and before
        _alembic(store, command.downgrade, "0017")
        plain = Store(store.engine)
        assert plain.spatial is None and _geom_tables(store) == set()
        assert [r["id"] for r in plain.buildings(bbox=window, geometry=False)] == before
        _alembic(store, command.upgrade, "head")  # the columns are generated from the rows already stored
        again = Store(store.engine)
        assert again.spatial == "postgis" and _geom_tables(store) == set(SPATIAL_TABLES)
        assert [r["id"] for r in again.buildings(bbox=window, geometry=False)] == before
    finally:
        store.engine.dispose()


def test_a_user_who_may_not_create_the_extension_gets_plain_postgresql_and_one_it_was_created_for_postgis(
    server, caplog
):
    server.psql("CREATE ROLE weige_app LOGIN")
    caplog.set_level(logging.WARNING, logger="alembic.runtime.migration")
    refused = open_store(server.database("unprivileged", owner="weige_app"))
    try:
        assert refused.spatial is None and _geom_tables(refused) == set()
        assert "cannot create the postgis extension" in caplog.text
        with refused.transaction() as conn:
            refused.insert_rows(conn, "buildings", _boxes(50, seed=2))
        assert len(refused.buildings(bbox=(104.0, 30.6, 104.2, 30.8), geometry=False)) == 50
    finally:
        refused.engine.dispose()
    caplog.clear()
    caplog.set_level(logging.WARNING, logger="weige.storage")
    again = open_store(server.url("unprivileged", user="weige_app"))  # a later start: still plain, and says why
    again.engine.dispose()
    assert again.spatial is None and "CREATE EXTENSION postgis" in caplog.text
    server.psql("CREATE EXTENSION postgis", database="unprivileged")  # then a DBA creates it; the next start
    late = open_store(server.url("unprivileged", user="weige_app"))  # adds the columns migration 0018 could not
    try:
        assert late.spatial == "postgis" and _geom_tables(late) == set(SPATIAL_TABLES)
        assert len(late.buildings(bbox=(104.0, 30.6, 104.2, 30.8), geometry=False)) == 50  # rows computed
    finally:
        late.engine.dispose()
    url = server.database("granted", owner="weige_app")
    server.psql("CREATE EXTENSION postgis", database="granted")  # what a DBA does for the deployment's user
    granted = open_store(url)
    try:
        assert granted.spatial == "postgis" and _geom_tables(granted) == set(SPATIAL_TABLES)
    finally:
        granted.engine.dispose()
