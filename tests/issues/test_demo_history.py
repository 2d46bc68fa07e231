"""The demo issues carry a realistic history written by the desk's own workflow: on-time rates to show, overdue
issues in the queue, and every step where the workflow allows it, in working hours, in order."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, time, timedelta, timezone

import pytest
import sqlalchemy as sa

from boundaries.registry import Registry
from boundaries.scope import ScopedRegistry
from boundaries.storage import open_store
from core.audit import Actor
from core.scope import Scope
from core.storage import tables as t
from issues.demo import load_demo_issues
from issues.desk import IssueDesk
from issues.queries import issue_stats, list_issues
from issues.workflow import ACTIONS, ACTIVE_STATES, LADDER
from issues.worktime import zone
from tests.conftest import copy_demo

NOW = datetime(2026, 11, 23, 6, 0, tzinfo=timezone.utc)  # Monday 14:00 in Beijing


@pytest.fixture(scope="module")
def demo(demo_db, tmp_path_factory):
    registry = Registry(open_store(copy_demo(demo_db, tmp_path_factory.mktemp("demo-history"))))
    desk = IssueDesk(registry, clock=lambda: NOW)
    report = load_demo_issues(desk, n=120)
    view = ScopedRegistry(registry, Scope.everything(), Actor(None, "test", ""))
    with registry.store.engine.connect() as conn:
        issues = {r["id"]: dict(r) for r in conn.execute(sa.select(t.issues)).mappings()}
        events = [dict(r) for r in conn.execute(sa.select(t.issue_events).order_by(t.issue_events.c.id)).mappings()]
    return desk, view, report, issues, events


def _utc(value):
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def test_on_time_rates_per_stage_exist_and_are_neither_all_nor_nothing(demo):
    desk, view, report, _, _ = demo
    assert report.imported == 120 and not report.errors
    stages = issue_stats(view, now=NOW)["on_time_by_stage"]
    assert set(stages) >= {"reported", "accepted", "filed", "dispatched", "in_progress", "checked"}
    mixed = [s for s, figures in stages.items() if 0 < figures["rate"] < 1]
    assert len(mixed) >= 2, stages
    assert all(figures["finished"] >= 10 for figures in stages.values())


def test_the_queue_has_overdue_issues_and_open_issues_in_several_states(demo):
    desk, view, _, issues, _ = demo
    overdue, total = list_issues(view, overdue=True, now=NOW, per_page=500)
    assert total >= 3 and all(r["overdue"] for r in overdue)
    states = Counter(i["state"] for i in issues.values())
    assert states["closed"] > len(issues) / 2  # most went the whole way
    assert len({s for s in states if s in ACTIVE_STATES}) >= 4, states
    assert states["void"] >= 1
    assert {i["level"] for i in issues.values()} > {"micro_grid"}  # some climbed the ladder when late
    assert all((i["due_at"] is None) == (i["state"] not in ACTIVE_STATES) for i in issues.values())


def test_every_step_follows_the_workflow_in_order(demo):
    desk, _, _, issues, events = demo
    by_issue: dict[int, list[dict]] = {}
    for event in events:
        by_issue.setdefault(event["issue_id"], []).append(event)
    assert set(by_issue) == set(issues)
    actions = Counter(e["action"] for e in events)
    assert {"report", "accept", "file", "dispatch", "start", "check", "close", "escalate"} <= set(actions)
    for issue_id, history in by_issue.items():
        first = history[0]
        assert (first["action"], first["from_state"], first["to_state"]) == ("report", None, "reported")
        state, level, at, parked_from = "reported", first["to_level"], _utc(first["at"]), None
        for event in history[1:]:
            assert event["from_state"] == state and event["from_level"] == level, (issue_id, event)
            assert _utc(event["at"]) >= at, (issue_id, event)
            if event["action"] in ("escalate", "assign"):
                assert event["to_state"] == state
                if event["action"] == "escalate":
                    assert LADDER.index(event["to_level"]) == LADDER.index(level) + 1
            else:
                step = ACTIONS[event["action"]]
                assert state in step.sources, (issue_id, event)
                assert event["to_state"] == (step.target or parked_from)
                assert event["to_level"] == level
                parked_from = state if step.target == "parked" else parked_from
            if event["stage"] is not None and event["action"] != "escalate":
                on_time = _utc(event["at"]) <= _utc(event["stage_due_at"])
                assert event["stage"] == state and event["on_time"] == on_time
            state, level, at = event["to_state"], event["to_level"], _utc(event["at"])
        issue = issues[issue_id]
        assert (issue["state"], issue["level"]) == (state, level)
        assert at <= NOW and _utc(first["at"]) >= NOW - timedelta(days=45)


def test_people_work_in_working_hours_over_past_weeks(demo):
    desk, _, _, _, events = demo
    calendar = desk.calendar
    periods = [(time.fromisoformat(a), time.fromisoformat(b)) for a, b in calendar.periods]
    worked = [e for e in events if e["action"] in ACTIONS]
    assert len(worked) > 400
    for event in worked:
        local = _utc(event["at"]).astimezone(zone(calendar.tz))
        assert calendar.is_workday(local.date()), event
        assert any(a <= local.time() <= b for a, b in periods), event
    weeks = {_utc(e["at"]).isocalendar()[:2] for e in worked}
    assert len(weeks) >= 4  # spread over past weeks, not one burst
    assert len({e["user_name"] for e in worked}) >= 5  # by the people of the street, not one "system"


def test_loading_the_demo_again_adds_nothing(demo):
    desk, view, _, issues, events = demo
    again = load_demo_issues(desk, n=120)
    assert (again.imported, again.skipped) == (0, 120)
    _, total = list_issues(view, now=NOW)
    assert total == len(issues)
