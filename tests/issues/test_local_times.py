"""Times are stored in UTC and shown and exported in the deployment's zone, with the zone named."""

from __future__ import annotations

import csv
import io

from issues.worktime import local_text, zone_label


def test_pages_and_exports_show_times_in_the_deployment_zone(world):
    code, lon, lat = world.point()
    staff = world.clients["staff"]
    created = staff.post("/api/v1/issues", json={"category": "dispute", "description": "时间", "lon": lon, "lat": lat})
    assert created.status_code == 201, created.get_json()
    issue_id = created.get_json()["id"]
    assert created.get_json()["created_at"].startswith("2026-11-23T01:30")  # the API: UTC, with its offset

    page = staff.get("/issues").get_data(as_text=True)
    assert "2026-11-23 09:30" in page and "Asia/Shanghai, UTC+08:00" in page
    name = world.registry.hierarchy()[code]["name"]
    assert f">{name}" in page and f'title="{code}"' in page  # names first, the code on hover
    assert ">micro_grid " not in page and "微网格 " in page  # the level by its Chinese name
    assert "2026-11-23T01:30" not in page
    detail = staff.get(f"/issues/{issue_id}").get_data(as_text=True)
    assert "2026-11-23 09:30:00" in detail and "Asia/Shanghai, UTC+08:00" in detail

    exported = staff.get("/api/v1/issues/export?format=csv")
    rows = list(csv.DictReader(io.StringIO(exported.get_data(as_text=True).lstrip("\ufeff"))))
    mine = next(r for r in rows if r["编号"] == str(issue_id))
    assert mine[world.page_text("Reported at") + " (Asia/Shanghai, UTC+08:00)"] == "2026-11-23 09:30"


def test_local_text_reads_stored_naive_times_as_utc_and_labels_the_zone():
    assert local_text("2026-11-23T01:30:00") == "2026-11-23 09:30"
    assert local_text("2026-07-01T12:00:00+00:00", "America/Los_Angeles", seconds=True) == "2026-07-01 05:00:00"
    assert local_text(None) == ""
    assert zone_label("Asia/Shanghai") == "Asia/Shanghai, UTC+08:00"


def test_exports_of_open_and_closed_issues_together_and_text_with_carriage_returns(world):
    """Second outside test: the whole queue (open and closed mixed) failed with a 500; a bare CR broke CSV rows."""
    code, lon, lat = world.point()
    staff = world.clients["staff"]
    made = [
        staff.post("/api/v1/issues", json={"category": "dispute", "description": text, "lon": lon, "lat": lat})
        for text in ("甲\r乙\r丙", "开放")
    ]
    assert [m.status_code for m in made] == [201, 201]
    closed = made[1].get_json()["id"]
    for action in ("accept", "file", "dispatch", "start", "check", "close"):
        world.desk.act(world.view, closed, action)
    xlsx = staff.get("/api/v1/issues/export?format=xlsx")
    assert xlsx.status_code == 200
    exported = staff.get("/api/v1/issues/export?format=csv")
    assert exported.status_code == 200
    rows = list(csv.reader(io.StringIO(exported.get_data(as_text=True).lstrip("\ufeff"), newline="")))
    assert len({len(r) for r in rows}) == 1 and len(rows) == 3  # a header and two issues, each one whole row
    by_id = {r[0]: r for r in rows[1:]}
    assert "甲\r乙\r丙" in by_id[str(made[0].get_json()["id"])]
    closed_row = dict(zip(rows[0], by_id[str(closed)], strict=True))
    assert closed_row[world.page_text("Closed at") + " (Asia/Shanghai, UTC+08:00)"].startswith("2026-11-23")


def test_planners_see_statistics_but_cannot_export_the_rows(world, demo_tokens):
    from tests.conftest import token_client

    planner = token_client(world.app, demo_tokens["planner"])
    assert planner.get("/api/v1/issues/stats").status_code == 200
    assert planner.get("/api/v1/issues/export?format=csv").status_code == 403


def test_weekly_statistics_run_monday_to_sunday(world):
    import datetime as dt

    code, lon, lat = world.point()
    staff = world.clients["staff"]
    # Sunday 2026-11-22 23:30 in Beijing: the week of Monday 16 November
    world.clock.now = dt.datetime(2026, 11, 22, 15, 30, tzinfo=dt.timezone.utc)
    assert staff.post("/api/v1/issues", json={"category": "dispute", "lon": lon, "lat": lat}).status_code == 201
    stats = staff.get("/api/v1/issues/stats?period=week").get_json()
    periods = {row["period"] for row in stats["by_category_over_time"]}
    assert periods == {"2026-11-16/2026-11-22"}
    for period in periods:
        start, end = (dt.date.fromisoformat(d) for d in period.split("/"))
        assert start.weekday() == 0 and end.weekday() == 6, period
