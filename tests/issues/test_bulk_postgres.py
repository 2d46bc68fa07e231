"""Two imports of the same rows at once on PostgreSQL (read committed, many writers): each row is written once."""

from __future__ import annotations

import threading

import pandas as pd
import pytest
import shapely
import sqlalchemy as sa

from boundaries.demo import load_demo
from boundaries.registry import Registry
from boundaries.storage import open_store
from core.storage import tables as t
from tests.storage.pg import postgres_server


@pytest.fixture(scope="module")
def pg_registry():
    pytest.importorskip("psycopg")
    with postgres_server() as url:
        registry = Registry(open_store(url))
        load_demo(registry)
        yield registry
        registry.store.engine.dispose()


def test_two_imports_at_once_write_each_external_id_once(pg_registry, monkeypatch):
    import issues.bulk as bulk
    from issues.desk import IssueDesk

    micro = pg_registry.areas(level="micro_grid").head(3)
    pts = shapely.point_on_surface(micro.geometry.values)
    frame = pd.DataFrame(
        {
            "external_id": [f"pg-race{i}" for i in range(60)],
            "category": "dispute",
            "lon": [str(pts[i % 3].x) for i in range(60)],
            "lat": [str(pts[i % 3].y) for i in range(60)],
            "reported_at": "2025-06-01T09:00:00+08:00",
        }
    )
    both_looked = threading.Barrier(2, timeout=60)
    place = bulk.place_points

    def after_both_looked(*args, **kwargs):  # both saw none of the ids before either writes
        both_looked.wait()
        return place(*args, **kwargs)

    monkeypatch.setattr(bulk, "place_points", after_both_looked)
    reports, failures = [], []

    def run():
        try:
            reports.append(bulk.import_issues(IssueDesk(pg_registry), frame))
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            failures.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert failures == []
    assert sorted((r.imported, r.skipped) for r in reports) == [(0, 60), (60, 0)]
    c = t.issues.c
    with pg_registry.store.engine.connect() as conn:
        count, distinct = conn.execute(
            sa.select(sa.func.count(), sa.func.count(sa.distinct(c.external_id))).where(c.channel == "import")
        ).one()
    assert (count, distinct) == (60, 60)
