"""Leases: a job meant to run once per deployment runs in one process at a time (issue 13, several web workers)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from boundaries.registry import Registry
from boundaries.storage import open_store
from issues.desk import IssueDesk
from issues.scheduler import EscalationThread
from tests.conftest import at_once, copy_demo


def test_one_holder_at_a_time_across_stores_and_expiry(tmp_path):
    url = f"sqlite:///{tmp_path / 'w.db'}"
    first, second = open_store(url), open_store(url)  # two processes' stores on one database
    now = datetime(2026, 11, 27, 8, 0, tzinfo=timezone.utc)
    assert first.acquire_lease("job", "a", 60, now=now)
    assert not second.acquire_lease("job", "b", 60, now=now + timedelta(seconds=30))
    assert first.acquire_lease("job", "a", 60, now=now + timedelta(seconds=50))  # renewed: until 08:01:50
    assert not second.acquire_lease("job", "b", 60, now=now + timedelta(seconds=100))
    assert second.acquire_lease("job", "b", 60, now=now + timedelta(seconds=111))  # a stopped renewing
    assert not first.acquire_lease("job", "a", 60, now=now + timedelta(seconds=112))
    assert first.lease_holder("job") == ("b", now + timedelta(seconds=171))
    assert first.lease_holder("other") is None


def test_racing_processes_get_the_lease_once(tmp_path):
    url = f"sqlite:///{tmp_path / 'r.db'}"
    stores = [open_store(url) for _ in range(6)]
    got = at_once([lambda i=i: stores[i].acquire_lease("job", f"worker-{i}", 60) for i in range(len(stores))])
    assert sorted(got) == [False] * 5 + [True]


def test_two_workers_escalation_threads_run_once_per_interval(demo_db, tmp_path):
    url = copy_demo(demo_db, tmp_path)
    desks = [IssueDesk(Registry(open_store(url))) for _ in range(2)]
    threads = [EscalationThread(d, interval=60, holder=f"worker-{i}") for i, d in enumerate(desks)]
    assert [t.run_once() for t in threads] == [True, False]
    assert [t.run_once() for t in threads] == [True, False]  # the holder renews, the other keeps waiting
    assert [t.runs for t in threads] == [2, 0]
