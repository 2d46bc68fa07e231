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
    assert "2026-11-23T01:30" not in page
    detail = staff.get(f"/issues/{issue_id}").get_data(as_text=True)
    assert "2026-11-23 09:30:00" in detail and "Asia/Shanghai, UTC+08:00" in detail

    exported = staff.get("/api/v1/issues/export?format=csv")
    rows = list(csv.DictReader(io.StringIO(exported.get_data(as_text=True).lstrip("\ufeff"))))
    mine = next(r for r in rows if r["事件编号"] == str(issue_id))
    assert mine["上报时间 (Asia/Shanghai, UTC+08:00)"] == "2026-11-23 09:30"


def test_local_text_reads_stored_naive_times_as_utc_and_labels_the_zone():
    assert local_text("2026-11-23T01:30:00") == "2026-11-23 09:30"
    assert local_text("2026-07-01T12:00:00+00:00", "America/Los_Angeles", seconds=True) == "2026-07-01 05:00:00"
    assert local_text(None) == ""
    assert zone_label("Asia/Shanghai") == "Asia/Shanghai, UTC+08:00"
