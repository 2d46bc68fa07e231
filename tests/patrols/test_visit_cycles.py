"""Visit cycles for vulnerable households: calendar boundaries in Asia/Shanghai (instants compared, stored UTC),
the mark on buildings (editable, checked), what is due in /me/work and vulnerable visited / due in compliance."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
import shapely

from patrols.cycles import cycle_start, cycles_between
from patrols.tracks import TrackRules
from tests.patrols.conftest import NOW, TO_LL, TO_M, WORKER_GRID
from web.settings import SettingsError, check_settings

SH = "Asia/Shanghai"
UTC = timezone.utc
#: Local midnight of 1 December 2026 in Shanghai, as an instant.
DEC_1 = datetime(2026, 11, 30, 16, 0, tzinfo=UTC)


def test_calendar_cycles_start_at_local_midnight():
    assert cycle_start("month", DEC_1, SH) == DEC_1
    assert cycle_start("month", DEC_1 - timedelta(seconds=1), SH) == datetime(2026, 10, 31, 16, 0, tzinfo=UTC)
    assert cycle_start("month", DEC_1 + timedelta(days=30), SH) == DEC_1  # 31 Dec, 00:00 local
    assert cycle_start("half_year", DEC_1, SH) == datetime(2026, 6, 30, 16, 0, tzinfo=UTC)
    assert cycle_start("half_year", datetime(2026, 6, 30, 15, 59, tzinfo=UTC), SH) == datetime(
        2025, 12, 31, 16, 0, tzinfo=UTC
    )
    assert cycle_start("quarter", DEC_1, SH) == datetime(2026, 9, 30, 16, 0, tzinfo=UTC)
    # 2026-11-30 is a Monday: the week starts at its local midnight, i.e. 2026-11-29 16:00 UTC
    assert cycle_start("week", DEC_1, SH) == datetime(2026, 11, 29, 16, 0, tzinfo=UTC)
    assert cycle_start("year", DEC_1, SH) == datetime(2025, 12, 31, 16, 0, tzinfo=UTC)
    assert cycle_start(30, DEC_1, SH) == DEC_1 - timedelta(days=30)
    # the same instant given in another offset: the same cycle
    assert cycle_start("month", DEC_1.astimezone(timezone(timedelta(hours=-5))), SH) == DEC_1


def test_cycles_of_a_period():
    since, until = datetime(2026, 10, 28, 16, 0, tzinfo=UTC), DEC_1 + timedelta(hours=1)  # 29 Oct – 1 Dec local
    months = cycles_between("month", since, until, SH)
    starts = [datetime(2026, 9, 30, 16, tzinfo=UTC), datetime(2026, 10, 31, 16, tzinfo=UTC), DEC_1]
    assert months == list(zip(starts, [*starts[1:], datetime(2026, 12, 31, 16, tzinfo=UTC)], strict=True))
    assert cycles_between("month", since, DEC_1, SH) == months[:2]  # until is excluded
    days = cycles_between(10, since, since + timedelta(days=25), SH)
    assert [a for a, _ in days] == [since + timedelta(days=10 * k) for k in range(3)]


def test_settings_accept_periods_and_the_older_key():
    check_settings({"VISIT_CYCLES": {"vulnerable_visit": "month"}})
    check_settings({"VISIT_CYCLES": {"vulnerable_visit": 14, "household_visit_days": 182}})
    for bad in ({"vulnerable_visit": "fortnight"}, {"household_visit_days": "month"}, {"vulnerable_visit": 0}):
        with pytest.raises(SettingsError):
            check_settings({"VISIT_CYCLES": bad})
    assert TrackRules.from_settings({}).visit_cycles["vulnerable_visit"] == "month"
    legacy = TrackRules.from_settings({"VISIT_CYCLES": {"vulnerable_visit_days": 21}}).visit_cycles
    assert legacy["vulnerable_visit"] == 21 and "vulnerable_visit_days" not in legacy


def _two_buildings(yulin):
    rows = yulin.registry.store.buildings()
    area = yulin.area(WORKER_GRID)
    inside = [r for r in rows if area.covers(shapely.Point(r["lon"], r["lat"]))]
    return inside[0], inside[1]


def _near(row):
    """A fix 10 m east of the building's footprint."""
    foot = row["geometry"]
    x, y = TO_M.transform(foot.centroid.x, foot.centroid.y)
    east = shapely.transform(foot, lambda xy: np.column_stack(TO_M.transform(*xy.T))).bounds[2]
    lon, lat = TO_LL.transform(east + 10, y)
    return float(lon), float(lat)


def _checkin(client, row, at: datetime, key: str):
    lon, lat = _near(row)
    body = {"client_id": key, "building_id": row["id"], "lon": lon, "lat": lat, "accuracy": 5, "at": at.isoformat()}
    answer = client.post("/api/v1/checkins", json=body)
    assert answer.status_code == 201, answer.json


def test_marking_vulnerable_households(yulin):
    admin = yulin.client("admin")
    vulnerable, _ = _two_buildings(yulin)
    url = f"/api/v1/buildings/{vulnerable['id']}"
    households = admin.get(url).json["properties"]["households"]
    too_many = admin.patch(url, json={"vulnerable_households": households + 1})
    assert too_many.status_code == 400 and too_many.json["error"]["code"]
    assert admin.patch(url, json={"vulnerable_households": -1}).status_code in (400, 422)
    assert admin.patch(url, json={"vulnerable_households": "two"}).status_code in (400, 422)
    done = admin.patch(url, json={"vulnerable_households": 2})
    assert done.status_code == 200, done.json
    assert admin.get(url).json["properties"]["vulnerable_households"] == 2
    assert yulin.registry.store.buildings(ids=[vulnerable["id"]], geometry=False)[0]["vulnerable_households"] == 2
    # households lowered below the mark: refused too
    assert admin.patch(url, json={"households": 1}).status_code == 400


def _due(client) -> dict[int, str]:
    return {b["id"]: b["due"] for b in client.get("/api/v1/me/work").json["due"]["buildings"]}


def test_vulnerable_buildings_are_due_monthly_at_the_local_boundary(yulin):
    admin, worker = yulin.client("admin"), yulin.client("worker")
    vulnerable, plain = _two_buildings(yulin)
    assert admin.patch(f"/api/v1/buildings/{vulnerable['id']}", json={"vulnerable_households": 3}).status_code == 200
    try:
        yulin.clock.now = DEC_1 + timedelta(minutes=30)  # 1 December, 00:30 in Shanghai
        before = DEC_1 - timedelta(seconds=1)  # 30 November, 23:59:59 local: last month
        _checkin(worker, vulnerable, before, "vc-1")
        _checkin(worker, plain, before, "vc-2")
        due = _due(worker)
        assert due[vulnerable["id"]] == "vulnerable"  # visited in November: due again in December
        assert plain["id"] not in due  # the household cycle (182 days) is met
        work = worker.get("/api/v1/me/work").json
        entry = next(b for b in work["due"]["buildings"] if b["id"] == vulnerable["id"])
        assert entry["vulnerable_households"] == 3
        assert work["due"]["buildings"][0]["due"] == "vulnerable"  # the short cycle listed first
        assert datetime.fromisoformat(work["due"]["cycles"]["vulnerable_visit_since"]) == DEC_1
        _checkin(worker, vulnerable, DEC_1, "vc-3")  # exactly local midnight: this month's visit
        assert vulnerable["id"] not in _due(worker)

        # compliance for November and December (local): one cycle each, the November visit at 23:59:59 counts
        staff = yulin.client("staff")
        since = datetime(2026, 10, 31, 16, tzinfo=UTC)
        query = f"area={WORKER_GRID}&since={since.isoformat()}&until={(DEC_1 + timedelta(hours=1)).isoformat()}"
        figures = staff.get(f"/api/v1/patrols/compliance?{query}".replace("+", "%2B")).json
        row = next(r for r in figures["workers"] if r["name"] == "worker")
        assert (row["vulnerable_visited"], row["vulnerable_due"]) == (6, 6)
        assert len(figures["vulnerable_cycles"]) == 2
        # December only: one cycle, visited at its first instant
        query = f"area={WORKER_GRID}&since={DEC_1.isoformat()}&until={(DEC_1 + timedelta(hours=1)).isoformat()}"
        figures = staff.get(f"/api/v1/patrols/compliance?{query}".replace("+", "%2B")).json
        row = next(r for r in figures["workers"] if r["name"] == "worker")
        assert (row["vulnerable_visited"], row["vulnerable_due"]) == (3, 3)
        # October and November: the October cycle was missed
        october = datetime(2026, 9, 30, 16, tzinfo=UTC)
        query = f"area={WORKER_GRID}&since={october.isoformat()}&until={DEC_1.isoformat()}"
        figures = staff.get(f"/api/v1/patrols/compliance?{query}".replace("+", "%2B")).json
        row = next(r for r in figures["workers"] if r["name"] == "worker")
        assert (row["vulnerable_visited"], row["vulnerable_due"]) == (3, 6)
        grid_sum = sum(g["vulnerable_due"] for g in figures["micro_grids"])
        assert grid_sum == 6
    finally:
        yulin.clock.now = NOW
        admin.patch(f"/api/v1/buildings/{vulnerable['id']}", json={"vulnerable_households": 0})
