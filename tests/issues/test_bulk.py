"""Bulk import of historical issues: row-level errors, nothing written on any error, idempotent re-runs."""

from __future__ import annotations

import pytest
import shapely
import sqlalchemy as sa

import server
from boundaries.registry import Registry
from boundaries.storage import open_store
from core.storage import tables as t
from geo.crs import wgs84_to_gcj02
from tests.conftest import copy_demo


def _count(registry) -> int:
    with registry.store.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(t.issues)).scalar_one()


def _points(registry, n):
    micro = registry.areas(level="micro_grid").head(n)
    pts = shapely.point_on_surface(micro.geometry.values)
    return micro["code"].tolist(), shapely.get_x(pts), shapely.get_y(pts)


def test_a_file_with_errors_imports_nothing_and_reports_every_row(demo_db, tmp_path, capsys):
    url = copy_demo(demo_db, tmp_path)
    registry = Registry(open_store(url))
    codes, xs, ys = _points(registry, 3)
    path = tmp_path / "history.csv"
    path.write_text(
        "外部编号,类别,描述,经度,纬度,上报时间,状态,结案时间\n"
        f"h1,暴露垃圾,好的一行,{xs[0]},{ys[0]},2025-03-01 09:00,,2025-03-01 15:00\n"
        f"h2,外星人,未知类别,{xs[1]},{ys[1]},2025-03-02 09:00,,\n"
        f"h3,dispute,经纬度颠倒,{ys[2]},{xs[2]},2025-03-03 09:00,,\n"
        f"h4,dispute,时间坏,{xs[2]},{ys[2]},昨天,,\n"
        f"h1,dispute,编号重复,{xs[2]},{ys[2]},2025-03-04 09:00,,\n",
        encoding="gb18030",
    )
    with pytest.raises(SystemExit) as exit_info:
        server.main(["--db", url, "import-issues", str(path)])
    assert "nothing imported: 5 error(s) in 5 rows" in str(exit_info.value)
    assert _count(registry) == 0
    report = (tmp_path / "history.csv.errors.csv").read_text("utf-8-sig")
    for row, column in (
        ("3", "category"),
        ("4", "lat"),
        ("5", "reported_at"),
        ("2", "external_id"),
        ("6", "external_id"),
    ):
        assert f"{row},{column}," in report, report
    assert "swapped" in report and "第 3 行" in capsys.readouterr().out


def test_good_rows_import_located_and_a_rerun_skips_them(demo_db, tmp_path, capsys):
    url = copy_demo(demo_db, tmp_path)
    registry = Registry(open_store(url))
    codes, xs, ys = _points(registry, 4)
    gx, gy = wgs84_to_gcj02(xs, ys)
    lines = ["external_id,category,description,lon,lat,crs,reported_at,state,closed_at"]
    for i in range(4):
        crs, lon, lat = ("gcj02", gx[i], gy[i]) if i % 2 else ("wgs84", xs[i], ys[i])
        state, closed = ("closed", "2025-06-02T10:00:00+08:00") if i < 2 else ("dispatched", "")
        lines.append(f"r{i},road_cleaning,历史事件 {i},{lon},{lat},{crs},2025-06-01T09:00:00+08:00,{state},{closed}")
    path = tmp_path / "ok.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert server.main(["--db", url, "import-issues", str(path)]) == 0
    assert "imported 4 issues" in capsys.readouterr().out
    with registry.store.engine.connect() as conn:
        rows = conn.execute(sa.select(t.issues).order_by(t.issues.c.external_id)).mappings().all()
    assert [r["micro_grid_code"] for r in rows] == codes
    assert [r["state"] for r in rows] == ["closed", "closed", "dispatched", "dispatched"]
    assert rows[0]["closed_at"] is not None and rows[2]["due_at"] is not None and rows[1]["crs_reported"] == "gcj02"
    assert server.main(["--db", url, "import-issues", str(path)]) == 0
    assert "imported 0 issues (4 already imported" in capsys.readouterr().out
    assert _count(registry) == 4


def test_demo_issues_cover_every_state_and_land_in_micro_grids(demo_db, tmp_path):
    from issues.demo import load_demo_issues
    from issues.desk import IssueDesk

    registry = Registry(open_store(copy_demo(demo_db, tmp_path)))
    report = load_demo_issues(IssueDesk(registry), n=120)
    assert report.imported == 120 and not report.errors
    with registry.store.engine.connect() as conn:
        rows = conn.execute(sa.select(t.issues.c.state, t.issues.c.micro_grid_code, t.issues.c.due_at)).all()
    assert {r.state for r in rows} >= {"closed", "void", "in_progress", "checked"}
    assert all(r.micro_grid_code for r in rows)
    assert all((r.due_at is None) == (r.state in ("closed", "void", "parked")) for r in rows)


# -- outside finding 5: out-of-range times are row errors, never a traceback or a silent shift ------------------------
BAD_TIMES = [
    "0001-01-01T00:00:00+14:00",
    "0000-01-01",
    "9999-12-31T23:59:59-14:00",
    "1500-01-01 09:00",
    "2999-01-01 09:00",
    "1948-12-31T23:00:00+08:00",
    "2026-11-25T09:00:00+08:00",  # two days after the clock of the tests
]


@pytest.mark.parametrize("bad", BAD_TIMES)
@pytest.mark.parametrize("neighbour", [None, "2025-03-01T09:00:00+08:00", "2025-03-01 09:00", "2025-03-01T01:00:00Z"])
def test_implausible_times_are_row_errors(world, bad, neighbour):
    import pandas as pd

    from issues.bulk import import_issues

    _, lon, lat = world.point()
    times = [bad] if neighbour is None else [neighbour, bad]
    frame = pd.DataFrame(
        {"category": "dispute", "lon": str(lon), "lat": str(lat), "reported_at": times, "state": "reported"}
    )
    report = import_issues(world.desk, frame)
    bad_row = len(times) + 1
    assert [(e["row"], e["column"]) for e in report.errors] == [(bad_row, "reported_at")], report.errors
    assert report.errors[0]["value"] == bad and report.imported == 0
    assert "1949" in report.errors[0]["message"] or "unreadable" in report.errors[0]["message"]
    assert _count(world.registry) == 0


def test_implausible_closing_times_are_row_errors_and_plausible_ones_pass(world):
    import pandas as pd

    from issues.bulk import import_issues

    _, lon, lat = world.point()
    frame = pd.DataFrame(
        {
            "category": "dispute",
            "lon": str(lon),
            "lat": str(lat),
            "reported_at": ["1949-10-01T10:00:00+08:00", "2026-11-23T10:00:00+08:00", "2020-01-01 09:00"],
            "closed_at": ["1949-10-02T10:00:00+08:00", "", "0000-01-01"],
        }
    )
    report = import_issues(world.desk, frame)
    assert [(e["row"], e["column"]) for e in report.errors] == [(4, "closed_at")]
    assert "1949" in report.errors[0]["message"]
    report = import_issues(world.desk, frame.iloc[:2])
    assert report.errors == [] and report.imported == 2
    with world.registry.store.engine.connect() as conn:
        created = sorted(conn.execute(sa.select(t.issues.c.created_at)).scalars())
    assert [c.replace(tzinfo=None).isoformat() for c in created] == ["1949-10-01T02:00:00", "2026-11-23T02:00:00"]


def test_text_is_checked_as_at_intake(world):
    import pandas as pd

    from issues.bulk import import_issues

    _, lon, lat = world.point()
    frame = pd.DataFrame(
        {
            "category": "dispute",
            "lon": str(lon),
            "lat": str(lat),
            "reported_at": "2025-03-01 09:00",
            "description": ["好", "nul\x00x", "好"],
            "reporter_name": ["张三", "李四", "名" * 101],
        }
    )
    report = import_issues(world.desk, frame)
    assert [(e["row"], e["column"]) for e in report.errors] == [(3, "description"), (4, "reporter_name")]
    assert "U+0000" in report.errors[0]["message"] and _count(world.registry) == 0


# -- second outside test: closing times of open rows, nanoseconds ------------------------------------------------------
def test_a_closing_time_on_a_row_that_is_not_closed_is_a_row_error(world):
    import pandas as pd

    from issues.bulk import import_issues

    _, lon, lat = world.point()
    frame = pd.DataFrame(
        {
            "category": "dispute",
            "lon": str(lon),
            "lat": str(lat),
            "reported_at": "2025-03-01T09:00:00+08:00",
            "state": ["reported", "closed", "", "dispatched"],
            "closed_at": ["2025-03-02T09:00:00+08:00", "2025-03-02T09:00:00+08:00", "2025-03-02T09:00:00+08:00", ""],
        }
    )
    report = import_issues(world.desk, frame)
    errors = [(e["row"], e["column"], e["value"]) for e in report.errors]
    assert errors == [(2, "closed_at", "2025-03-02T09:00:00+08:00")]
    assert "reported" in report.errors[0]["message"] and _count(world.registry) == 0
    report = import_issues(world.desk, frame.iloc[1:])
    assert report.errors == [] and report.imported == 3


def test_nanosecond_times_are_read_without_a_warning(world):
    import warnings

    import pandas as pd

    from issues.bulk import import_issues

    _, lon, lat = world.point()
    frame = pd.DataFrame(
        {
            "category": "dispute",
            "lon": str(lon),
            "lat": str(lat),
            "reported_at": ["2025-03-01T09:00:00.123456789+08:00", "2025-03-01 09:00:00.000000001"],
            "closed_at": ["2025-03-01T10:00:00.999999999+08:00", ""],
        }
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        report = import_issues(world.desk, frame)
    assert report.errors == [] and report.imported == 2
    with world.registry.store.engine.connect() as conn:
        rows = conn.execute(sa.select(t.issues.c.created_at, t.issues.c.closed_at).order_by(t.issues.c.id)).all()
    assert [r.created_at.replace(tzinfo=None).isoformat() for r in rows] == [
        "2025-03-01T01:00:00.123456",
        "2025-03-01T01:00:00",
    ]
    assert rows[0].closed_at.replace(tzinfo=None).isoformat() == "2025-03-01T02:00:00.999999"
