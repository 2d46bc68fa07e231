"""Demo issues for the demo street, with the history real use would have written.

Invented reports of the past weeks in every category, each taken through the closed loop by the desk's own
workflow code (:meth:`IssueDesk.report`, :meth:`IssueDesk.act`, :meth:`IssueDesk.escalate_overdue`) on a
simulated clock: every step is what the desk itself records — states, levels, stage deadlines, on time or late —
so the queue, the statistics (on-time rate per stage), the issue map and the detail pages have something real to
show on first start.

How the history is drawn (deterministic for a seed):

- reports at any hour of the day, spread over ``days`` days before now; steps by the street's staff (accept,
  file, dispatch, close) and by the area's worker (start, check) in working hours, each stage taking a random
  share of its time limit (``issues/categories.py``) — now and then more than the limit (late), and a few
  issues stall in one stage for days, so some are overdue now;
- most issues are closed; some are voided (a duplicate, not our matter), parked and resumed, sent back after a
  failed check, reopened after closing, or escalated by their worker; those reported lately are still open at
  whatever step the clock has reached;
- the escalation schedule runs as the service's would: an issue whose stage passes its deadline moves one level
  up a minute later.
"""

from __future__ import annotations

import copy
import heapq
from datetime import datetime, timedelta, timezone
from itertools import count

import numpy as np
import shapely

from boundaries.demo import GIVEN, SURNAMES, DemoStreet, load_demo
from boundaries.scope import ScopedRegistry
from core.audit import SYSTEM, Actor, record
from core.errors import ConflictError
from core.scope import Scope
from issues import storage
from issues.bulk import BulkReport
from issues.desk import IssueDesk
from issues.queries import list_issues
from issues.workflow import ACTIONS, LADDER
from issues.worktime import zone

__all__ = ["load_demo_issues", "rebuild_demo", "DEMO_CHANNEL"]

#: The channel of the demo's reports (their external ids are ``demo-<n>``, so loading twice adds nothing).
DEMO_CHANNEL = "demo"

_TEXTS = {
    "dispute": ("邻里噪音纠纷，需要调解", "楼上装修噪音扰民，双方争执"),
    "gas_hazard": ("楼道闻到燃气味", "燃气管道老化锈蚀"),
    "fire_hazard": ("消防通道堆放杂物", "楼道电动车充电，存在火灾隐患"),
    "exposed_rubbish": ("小区门口垃圾堆积", "垃圾桶满溢未及时清运"),
    "road_cleaning": ("路面油污未清扫", "人行道落叶堆积"),
    "green_space": ("绿地枯死需补种", "行道树枝杈遮挡路灯"),
    "street_order": ("占道经营", "店外乱摆摊点"),
    "damaged_facility": ("路灯不亮", "井盖破损"),
    "resident_request": ("独居老人需要上门服务", "居民咨询医保办理"),
}
#: Share of the stages that end late (the rest end within their limit).
_LATE = {"reported": 0.08, "accepted": 0.04, "filed": 0.06, "dispatched": 0.12, "in_progress": 0.18, "checked": 0.08}
#: The main line of the closed loop: stage → (action that ends it, who takes it).
_MAIN = {
    "reported": ("accept", "staff"),
    "accepted": ("file", "staff"),
    "filed": ("dispatch", "staff"),
    "dispatched": ("start", "worker"),
    "in_progress": ("check", "worker"),
    "checked": ("close", "staff"),
}
#: Hazard levels of the gas and fire reports, with their shares.
HAZARDS = {"general": 0.6, "major": 0.3, "severe": 0.1}
_STAFF = ("李淑芬", "王建华", "陈海燕", "赵立新", "周文斌")
_NOTES = {
    "void": ("重复上报，已合并处理", "经核实不属于本辖区事项"),
    "park": ("等待燃气公司上门维修", "需产权单位出资，协调中"),
    "reject": ("核查未通过，现场仍有问题", "居民反映未处理到位"),
    "reopen": ("居民反映问题再次出现",),
    "escalate": ("需要社区协调处理", "涉及多个网格，需上级协调"),
    "check": ("现场核查已处理完毕", ""),
    "close": ("居民满意，结案", ""),
}


class _Clock:
    """The simulated time the demo's desk reads, and how far the escalation schedule has run."""

    def __init__(self, now: datetime):
        self.now = now
        self.escalated_to = datetime.min.replace(tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        return self.now


def _reported_times(rng, now: datetime, n: int, days: int, tz) -> list[datetime]:
    """Report times over the past ``days`` days, at the hours residents report (07:00–21:00 local)."""
    out = []
    for back, hour in zip(rng.uniform(0.05, days, n), rng.uniform(7, 21, n), strict=True):
        day = (now - timedelta(days=float(back))).astimezone(tz).date()
        local = datetime.combine(day, datetime.min.time(), tz) + timedelta(hours=float(hour))
        out.append(min(local.astimezone(timezone.utc), now - timedelta(minutes=30)).replace(microsecond=0))
    return out


def _reports(rng, registry, n: int, now: datetime, days: int, tz) -> list[dict]:
    """What residents report: category, text, place, hazard level, who, and when (drawn before any step).

    One in ten reports comes from the first grid of the street (the grid the demo's grid worker answers for), so
    its worker has a queue; the others from anywhere.
    """
    micro = registry.areas(level="micro_grid")
    first = micro[micro["parent_code"] == micro["parent_code"].min()]
    picks = micro.iloc[rng.integers(0, len(micro), n)].geometry.values
    focus = rng.choice(n, n // 10, replace=False)
    picks[focus] = first.iloc[rng.integers(0, len(first), len(focus))].geometry.values
    points = shapely.point_on_surface(picks)
    reported = _reported_times(rng, now, n, days, tz)
    categories = [str(c) for c in rng.choice(list(_TEXTS), n)]
    hazards = rng.choice(list(HAZARDS), n, p=list(HAZARDS.values()))
    people = rng.integers(0, [len(SURNAMES), len(GIVEN)], (n, 2))
    texts, phones = rng.integers(0, 2, n), rng.integers(0, 10, (n, 9))
    return [
        {
            "at": reported[i],
            "category": category,
            "description": _TEXTS[category][texts[i] % len(_TEXTS[category])],
            "lon": float(shapely.get_x(points[i])),
            "lat": float(shapely.get_y(points[i])),
            "hazard_level": str(hazards[i]) if "hazard" in category else "general",
            "reporter_name": SURNAMES[people[i, 0]] + GIVEN[people[i, 1]],
            "reporter_phone": "13" + "".join(map(str, phones[i])),
        }
        for i, category in enumerate(categories)
    ]


def _plan(rng, desk: IssueDesk, category: str, start: datetime, stall: float) -> list[tuple[datetime, str, str, str]]:
    """The steps one issue would go through after its report: ``(at, action, who, note)``, in time order.

    ``who`` is a staff member's name, or ``worker`` for the worker the issue is routed to when the step comes.

    With probability ``stall`` one stage takes many times its limit (the issue is overdue until it moves on).
    """
    steps: list[tuple[datetime, str, str, str]] = []
    cat, calendar = desk.catalog.get(category), desk.calendar
    stalled = rng.choice(list(_MAIN)) if rng.random() < stall else None
    at, state, parked = start, "reported", False

    def take(hours: float, action: str, who: str, note: str = "") -> None:
        nonlocal at
        at = calendar.add(at, hours).replace(microsecond=0)
        steps.append((at, action, str(_STAFF[rng.integers(len(_STAFF))]) if who == "staff" else who, note))

    def note(action: str) -> str:
        options = _NOTES[action]
        return str(options[rng.integers(len(options))])

    reopened = False
    while state != "closed":
        limit = cat.limit(state) or 1.0
        if state in ("reported", "accepted") and rng.random() < 0.04:
            take(limit * rng.uniform(0.2, 0.9), "void", "staff", note("void"))
            return steps
        if state in ("dispatched", "in_progress") and not parked and rng.random() < 0.05:
            parked = True
            take(limit * rng.uniform(0.1, 0.5), "park", "staff", note("park"))
            take(rng.uniform(4, 24), "unpark", "staff")
        if state == "in_progress" and rng.random() < 0.05:
            take(limit * rng.uniform(0.1, 0.4), "escalate", "worker", note("escalate"))
        share = rng.uniform(1.05, 2.0) if rng.random() < _LATE[state] else rng.uniform(0.15, 0.95)
        if state == stalled:
            share, stalled = rng.uniform(6, 40), None
        action, who = _MAIN[state]
        if state == "checked" and rng.random() < 0.08:
            action = "reject"
        written = note(action) if action in _NOTES else ""
        take(limit * share, action, who, written)
        state = ACTIONS[action].target
        if state == "closed" and not reopened and rng.random() < 0.03:
            reopened = True
            take(rng.uniform(8, 40), "reopen", "staff", note("reopen"))
            state = "dispatched"
    return steps


def _catch_up(desk: IssueDesk, clock: _Clock, view: ScopedRegistry, until: datetime) -> None:
    """Run the escalation schedule up to ``until``: each late stage moves up a minute after its deadline.

    A deadline the schedule has passed already is not looked at again (the schedule leaves some late issues
    where they are, e.g. history imported late), so this ends.
    """
    while clock.escalated_to < until:
        late, _total = list_issues(view, state="open", overdue=True, now=until, per_page=10**6)
        dues = [datetime.fromisoformat(r["due_at"]) for r in late if r["level"] != LADDER[-1]]
        dues = [d for d in dues if d >= clock.escalated_to]
        if not dues:
            return
        clock.now = clock.escalated_to = min(min(dues) + timedelta(minutes=1), until)
        desk.escalate_overdue(now=clock.now)


def rebuild_demo(registry, seed: int = 2026, progress=None, actor: Actor = SYSTEM) -> DemoStreet:
    """Replace the demo street and clear every issue, in one transaction (the command line's ``demo``).

    The registry clears only its own rows (:func:`boundaries.demo.load_demo`); the issues' are cleared here by
    their own storage (:func:`issues.storage.wipe`) in the same transaction. Users, tokens, the audit log and
    patrols are kept.

    Parameters
    ----------
    registry : boundaries.registry.Registry
    seed : int
        Seed of the demo street.
    progress : callable, optional
        Called with 1 per worker written.
    actor : Actor
        Recorded in the audit log.

    Returns
    -------
    boundaries.demo.DemoStreet
    """
    return load_demo(registry, seed=seed, progress=progress, actor=actor, clear=(storage.wipe,))


def load_demo_issues(
    desk: IssueDesk, n: int = 120, seed: int = 2026, actor: Actor = SYSTEM, days: int = 30
) -> BulkReport:
    """Report ``n`` invented issues at places of the demo street over the past ``days`` days and work them.

    Parameters
    ----------
    desk : IssueDesk
        The desk (its registry, catalog, calendar); its clock gives "now". Its rules write every step.
    n : int
        How many issues.
    seed : int
        The random seed: the same seed and clock give the same history.
    actor : Actor
        Who loads the demo, recorded once in the audit log (each step is recorded by the person who takes it).
    days : int
        How far back the reports go.

    Returns
    -------
    BulkReport
        ``imported``: issues written; ``skipped``: demo issues that were already there; ``routed``: issues that
        reached a worker.
    """
    rng = np.random.default_rng(seed)
    registry, everything = desk.registry, Scope.everything()
    now = desk.clock().replace(microsecond=0)
    clock = _Clock(now)
    sim = copy.copy(desk)  # the same rules, on the simulated clock
    sim.clock = clock
    reports = _reports(rng, registry, n, now, days, zone(desk.calendar.tz))
    system_view = ScopedRegistry(registry, everything, Actor(None, "scheduler", "demo"))
    queue = [(r["at"], i, i, "report", "", "") for i, r in enumerate(reports)]  # (at, order, issue, action, who, note)
    heapq.heapify(queue)
    order = count(n)
    plans: dict[int, list] = {}
    issue_ids: dict[int, int] = {}
    assignees: dict[int, str] = {}
    report = BulkReport(rows=n, timezone=desk.calendar.tz)
    while queue and queue[0][0] <= now:
        at, _, i, action, who, note = heapq.heappop(queue)
        _catch_up(sim, clock, system_view, at)
        clock.now = at
        if action == "report":
            values = {k: v for k, v in reports[i].items() if k != "at"}
            reporter = ScopedRegistry(registry, everything, Actor(None, values["reporter_name"], "demo"))
            issue, created = sim.report(reporter, external_id=f"demo-{i}", channel=DEMO_CHANNEL, **values)
            if not created:
                report.skipped += 1
                continue
            report.imported += 1
            report.routed += bool(issue["assignee_name"])
            issue_ids[i], assignees[i] = issue["id"], issue["assignee_name"]
            own = np.random.default_rng([seed, i])
            recent = now - at < timedelta(days=7)
            plans[i] = _plan(own, desk, values["category"], at, 0.3 if recent else 0.08)
            if recent and own.random() < 0.3:  # nobody has taken its next step yet: it waits, overdue soon
                plans[i] = plans[i][: int(own.integers(0, 5))]
        else:
            name = (assignees[i] or _STAFF[0]) if who == "worker" else who
            try:
                issue = sim.act(
                    ScopedRegistry(registry, everything, Actor(None, name, "demo")), issue_ids[i], action, note
                )
            except ConflictError:  # an escalation asked for at the top of the ladder (the schedule got there first)
                if action != "escalate":
                    raise
            else:
                assignees[i] = issue["assignee_name"]
        if plans.get(i):
            heapq.heappush(queue, (plans[i][0][0], next(order), i, *plans[i].pop(0)[1:]))
    _catch_up(sim, clock, system_view, now)
    with registry.store.transaction() as conn:  # the steps carry their own people; the loader is logged once
        record(conn, actor, "load_demo", "issue", "", None, {"issues": report.imported, "seed": seed, "days": days})
    return report
