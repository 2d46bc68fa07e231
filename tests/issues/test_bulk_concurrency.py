"""Two imports of the same file at once: each external id is imported once, the later import skips it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from boundaries.registry import Registry
from boundaries.storage import open_store
from core.storage import tables as t
from tests.conftest import copy_demo, database_at

ROOT = Path(__file__).resolve().parents[2]


def _race_file(registry, path: Path, n: int) -> None:
    import shapely

    micro = registry.areas(level="micro_grid").head(5)
    pts = shapely.point_on_surface(micro.geometry.values)
    lines = ["external_id,category,description,lon,lat,reported_at"]
    for i in range(n):
        p = pts[i % len(pts)]
        lines.append(f"race{i},dispute,并发导入 {i},{p.x},{p.y},2025-06-01T09:00:00+08:00")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _external_ids(registry) -> tuple[int, int]:
    c = t.issues.c
    with registry.store.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count(), sa.func.count(sa.distinct(c.external_id)))).one()


def test_two_processes_importing_the_same_file_at_once_import_each_row_once(demo_db, tmp_path):
    url = copy_demo(demo_db, tmp_path)
    registry = Registry(open_store(url))
    path = tmp_path / "race.csv"
    _race_file(registry, path, 300)
    env = {**os.environ, "PYTHONWARNINGS": "error::UserWarning"}
    command = [sys.executable, str(ROOT / "server.py"), "--db", url, "import-issues", str(path)]
    runs = [subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(2)]  # fmt: skip
    outputs = [run.communicate(timeout=300) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    assert _external_ids(registry) == (300, 300)
    said = sorted(out for out, _ in outputs)
    imported = [int(s.split("imported ")[1].split()[0]) for s in said]
    assert sum(imported) == 300, said  # what one did not import, it reports as already imported
    assert all(f"({300 - k} already imported" in s for k, s in zip(imported, said, strict=True)), said


def test_rows_another_import_wrote_meanwhile_are_skipped(world, monkeypatch):
    """Another import commits between this import's first look and its write: re-checked in the write."""
    import issues.bulk as bulk

    _, lon, lat = world.point()
    frame = pd.DataFrame(
        {
            "external_id": ["a", "b", "c"],
            "category": "dispute",
            "lon": str(lon),
            "lat": str(lat),
            "reported_at": "2025-03-01T09:00:00+08:00",
        }
    )
    place = bulk.place_points
    calls = []

    def meanwhile(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            other = bulk.import_issues(world.desk, frame.iloc[1:])  # b and c, committed before our write
            assert other.imported == 2
        return place(*args, **kwargs)

    monkeypatch.setattr(bulk, "place_points", meanwhile)
    report = bulk.import_issues(world.desk, frame)
    assert (report.imported, report.skipped) == (1, 2)
    assert _external_ids(world.registry) == (3, 3)


def _issue(external_id: str, created_by=None) -> dict:
    from datetime import datetime, timezone

    now = datetime(2025, 3, 1, tzinfo=timezone.utc)
    return {
        "external_id": external_id, "channel": "import", "token": f"t-{external_id}-{created_by}-{now.timestamp()}",
        "category": "dispute", "lon": 104.0, "lat": 30.6, "lon_reported": 104.0, "lat_reported": 30.6,
        "location_status": "ok", "level": "micro_grid", "state": "closed", "created_by": created_by,
        "created_at": now, "updated_at": now, "stage_started_at": now,
    }  # fmt: skip


def test_the_database_refuses_a_second_import_of_an_id_without_a_user(registry):
    import pytest

    with registry.store.transaction() as conn:
        conn.execute(t.issues.insert(), [_issue("x1"), _issue("x1", created_by=7)])
    with pytest.raises(sa.exc.IntegrityError), registry.store.transaction() as conn:
        conn.execute(t.issues.insert().values(**{**_issue("x1"), "token": "other"}))


def test_ids_repeated_before_the_migration_stay_on_their_first_issue(tmp_path, caplog):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    with database_at(url, "0008") as connection:
        rows = [_issue("d1"), _issue("d2"), _issue("d1"), _issue("d1", created_by=3)]
        for i, row in enumerate(rows):
            connection.execute(t.issues.insert().values(**{**row, "token": f"tok{i}"}))
    registry = Registry(open_store(url))  # migrates to head
    with registry.store.engine.connect() as conn:
        kept = conn.execute(sa.select(t.issues.c.id, t.issues.c.external_id).order_by(t.issues.c.id)).all()
    assert [tuple(r) for r in kept] == [(1, "d1"), (2, "d2"), (3, None), (4, "d1")]
    assert "3" in caplog.text and "external id" in caplog.text
