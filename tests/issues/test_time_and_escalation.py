"""Time: filters compare instants, imports read each time with its own offset, escalation keeps lateness and
never escalates imported history retroactively."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest
import sqlalchemy as sa

from core.errors import InvalidInputError
from core.storage import tables as t
from issues.bulk import import_issues
from issues.demo import load_demo_issues
from issues.queries import get_issue, issue_stats

UTC = timezone.utc


def _history(issue, action):
    return [h for h in issue["history"] if h["action"] == action]


# -- item 10: escalation keeps the stage's lateness ---------------------------------------------------------------
def test_escalating_a_late_stage_records_it_late_and_the_next_step_is_scored_against_its_deadline(world):
    _, lon, lat = world.point()
    issue, _ = world.desk.report(world.view, "road_cleaning", lon=lon, lat=lat)
    assert issue["due_at"] == "2026-11-23T02:30:00+00:00"  # 1 working hour to accept
    world.clock.now = datetime(2026, 11, 26, 1, 30, tzinfo=UTC)  # three days later
    world.desk.escalate(world.view, issue["id"], "需要网格协调")
    world.clock.now += timedelta(minutes=10)
    accepted = world.desk.act(world.view, issue["id"], "accept")
    (escalation,) = _history(accepted, "escalate")
    assert (escalation["stage"], escalation["on_time"]) == ("reported", False)
    assert escalation["stage_due_at"] == "2026-11-23T02:30:00+00:00"
    (accept,) = _history(accepted, "accept")
    assert (accept["stage"], accept["on_time"], accept["stage_due_at"]) == (
        "reported",
        False,
        "2026-11-23T02:30:00+00:00",
    )
    stats = issue_stats(world.view, now=world.clock.now)
    assert stats["on_time_by_stage"]["reported"] == {"finished": 1, "on_time": 0, "rate": 0.0}  # counted once


def test_an_escalation_in_time_keeps_the_stage_on_time(world):
    _, lon, lat = world.point()
    issue, _ = world.desk.report(world.view, "road_cleaning", lon=lon, lat=lat)
    world.clock.now += timedelta(minutes=20)
    world.desk.escalate(world.view, issue["id"], "需要网格协调")
    world.clock.now += timedelta(minutes=20)
    accepted = world.desk.act(world.view, issue["id"], "accept")
    assert [h["on_time"] for h in accepted["history"] if h["stage"]] == [True, True]


def test_scheduled_escalation_records_the_late_stage(world):
    _, lon, lat = world.point()
    issue, _ = world.desk.report(world.view, "road_cleaning", lon=lon, lat=lat)
    world.clock.now += timedelta(days=1)
    assert world.desk.escalate_overdue() == 1
    (escalation,) = _history(get_issue(world.view, issue["id"]), "escalate")
    assert (escalation["stage"], escalation["on_time"]) == ("reported", False)


# -- item 11: every time filter compares instants -----------------------------------------------------------------
def _issues_every_three_hours(world, n=5):
    _, lon, lat = world.point()
    start = world.clock.now
    for k in range(n):
        world.clock.now = start + timedelta(hours=3 * k)
        world.desk.report(world.view, "dispute", lon=lon, lat=lat)
    return start


@pytest.mark.parametrize(
    "since",
    ["2026-11-23T07:00:00Z", "2026-11-22T23:00:00-08:00", "2026-11-23T15:00:00+08:00", "2026-11-23 15:00:00"],
)
def test_stats_since_and_until_compare_instants(world, since):
    start = _issues_every_three_hours(world)  # 01:30, 04:30, 07:30, 10:30, 13:30 UTC
    assert start.hour == 1
    staff = world.clients["staff"]
    expected = 3  # 07:30, 10:30, 13:30 are at or after 07:00Z
    r = staff.get("/api/v1/issues/stats", query_string={"since": since})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["total"] == expected
    until = staff.get("/api/v1/issues/stats", query_string={"until": since}).get_json()
    assert until["total"] == 5 - expected
    queue = staff.get("/api/v1/issues", query_string={"since": since}).get_json()
    assert queue["total"] == expected
    o311 = world.app.test_client().get(
        "/open311/v2/requests.json", query_string={"api_key": world.keys["staff"], "start_date": since}
    )
    assert o311.status_code == 200 and len(o311.get_json()) == expected
    ended = world.app.test_client().get(
        "/open311/v2/requests.json",
        query_string={"api_key": world.keys["staff"], "start_date": "2026-11-01T00:00:00Z", "end_date": since},
    )
    assert len(ended.get_json()) == 5 - expected


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/issues/stats?since=0001-01-01T00:00:00%2B14:00",
        "/api/v1/issues/stats?until=9999-12-31T23:59:59-14:00",
        "/api/v1/issues?since=0001-01-01T00:00:00%2B14:00",
        "/open311/v2/requests.json?start_date=0001-01-01T00:00:00%2B14:00",
        "/open311/v2/requests.json?service_request_id=99999999999999999999",
        "/open311/v2/requests.json?service_request_id=0",
    ],
)
def test_out_of_range_times_and_ids_are_a_clear_400(world, path):
    if path.startswith("/open311/"):
        r = world.app.test_client().get(f"{path}&api_key={world.keys['staff']}")
    else:
        r = world.clients["staff"].get(path)
    assert r.status_code == 400, r.data
    assert "out of range" in r.get_data(as_text=True)


# -- item 12: imports with mixed offsets, an explicit time zone, rows named ----------------------------------------
def _frame(world, times, state="closed", closed=""):
    _, lon, lat = world.point()
    return pd.DataFrame(
        {
            "external_id": [f"tz-{i}" for i in range(len(times))],
            "category": "dispute",
            "lon": str(lon),
            "lat": str(lat),
            "reported_at": times,
            "state": state,
            "closed_at": closed,
        }
    )


def _stored(world, column="created_at"):
    c = t.issues.c
    with world.registry.store.engine.connect() as conn:
        rows = conn.execute(sa.select(c.external_id, getattr(c, column)).order_by(c.external_id)).all()
    return {e: v.replace(tzinfo=UTC) if v.tzinfo is None else v for e, v in rows}


def test_mixed_offsets_import_each_time_to_utc_with_the_named_zone(world):
    times = ["2024-01-05T09:00:00-08:00", "2024-07-05T09:00:00-07:00", "2024-07-05 09:00", "2024-01-05 09:00"]
    report = import_issues(world.desk, _frame(world, times, state="reported"), timezone="America/Los_Angeles")
    assert report.errors == [] and report.imported == 4 and report.timezone == "America/Los_Angeles"
    assert _stored(world) == {
        "tz-0": datetime(2024, 1, 5, 17, tzinfo=UTC),
        "tz-1": datetime(2024, 7, 5, 16, tzinfo=UTC),
        "tz-2": datetime(2024, 7, 5, 16, tzinfo=UTC),  # PDT
        "tz-3": datetime(2024, 1, 5, 17, tzinfo=UTC),  # PST
    }


def test_naive_times_default_to_the_deployment_zone(world):
    report = import_issues(world.desk, _frame(world, ["2024-07-05 09:00", "2024-07-05T09:00:00Z"]))
    assert report.timezone == world.desk.calendar.tz == "Asia/Shanghai"
    assert _stored(world) == {"tz-0": datetime(2024, 7, 5, 1, tzinfo=UTC), "tz-1": datetime(2024, 7, 5, 9, tzinfo=UTC)}


def test_bad_times_name_their_rows(world):
    times = ["2024-07-05T09:00:00-07:00", "2024-13-45 09:00", "2024-03-10 02:30", "2024-07-05 09:00+08:00"]
    report = import_issues(world.desk, _frame(world, times), timezone="America/Los_Angeles")
    assert report.imported == 0
    assert [(e["row"], e["column"]) for e in report.errors] == [(3, "reported_at"), (4, "reported_at")]
    assert "does not exist" in report.errors[1]["message"]  # the spring-forward gap in Los Angeles
    with pytest.raises(InvalidInputError, match="time zone"):
        import_issues(world.desk, _frame(world, times[:1]), timezone="Mars/Olympus_Mons")


# -- item 14: imports are routed and imported history is not escalated retroactively -------------------------------
def test_imported_open_issues_are_routed_and_not_escalated_retroactively(world):
    code, lon, lat = world.point()
    world.clock.now = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)
    frame = _frame(world, ["2026-11-02 09:00", "2026-11-02 10:00"], state="dispatched")
    frame.loc[1, ["state", "closed_at"]] = ["closed", "2026-11-03 10:00"]
    assert import_issues(world.desk, frame, source="history.csv").imported == 2
    assert load_demo_issues(world.desk, n=60).imported == 60
    fresh, _ = world.desk.report(world.view, "road_cleaning", lon=lon, lat=lat)
    c = t.issues.c
    with world.registry.store.engine.connect() as conn:
        imported = conn.execute(sa.select(t.issues).where(c.external_id == "tz-0")).mappings().one()
    worker = world.registry.store.workers(area_codes=[code])[0]
    assert (imported["assignee_name"], imported["assignee_worker_id"]) == (worker["name"], worker["id"])
    assert get_issue(world.view, imported["id"], now=world.clock.now)["overdue"]  # late, and shown so

    e = t.issue_events.c

    def escalations():
        with world.registry.store.engine.connect() as conn:
            return conn.execute(sa.select(e.id, e.issue_id, e.stage_due_at).where(e.action == "escalate")).all()

    assert world.desk.escalate_overdue() == 0  # the next start: no burst (the demo's own history is up to date)
    before = {r.id for r in escalations()}
    world.clock.now += timedelta(days=1)
    moved = world.desk.escalate_overdue()  # only issues that became late while in the system
    escalated = [(r.issue_id, r.stage_due_at) for r in escalations() if r.id not in before]
    with world.registry.store.engine.connect() as conn:
        entered = dict(conn.execute(sa.select(e.issue_id, e.at).where(e.action == "import")).all())
    assert moved == len(escalated) and fresh["id"] in {i for i, _ in escalated}
    everything = {r.issue_id for r in escalations()}
    assert imported["id"] not in everything  # late before it was imported: history
    assert all(due > entered[i] for i, due in escalated if i in entered)
    assert get_issue(world.view, fresh["id"])["level"] == "grid"
    assert get_issue(world.view, imported["id"])["level"] == "micro_grid"
    # once someone works the imported issue, its new stage runs on the clock like any other
    world.desk.act(world.view, imported["id"], "start")
    world.clock.now += timedelta(days=7)
    world.desk.escalate_overdue()
    assert get_issue(world.view, imported["id"])["level"] == "grid"
    events = get_issue(world.view, imported["id"])["history"]
    assert events[0]["action"] == "import" and "history.csv" in events[0]["note"]


def test_issues_imported_without_an_entry_mark_are_not_escalated_either(world):
    world.clock.now = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)
    import_issues(world.desk, _frame(world, ["2026-11-02 09:00"], state="dispatched"))
    with world.registry.store.transaction() as conn:  # as an import made before entries were marked
        conn.execute(t.issue_events.delete())
    assert world.desk.escalate_overdue() == 0
