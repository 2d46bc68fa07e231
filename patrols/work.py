"""A worker's day (``/me/work``) and patrol compliance for staff, from the patrol and check-in history.

Visit cycles (``VISIT_CYCLES``): every micro-grid in a worker's areas is due for a patrol when the worker has
not patrolled it (an ended patrol whose kept fixes lie in it) within ``micro_grid_patrol_days``; every building
with households is due for a visit when nobody has checked in there within ``household_visit_days``; a building
with vulnerable households (``vulnerable_households`` > 0) is due on the short cycle ``vulnerable_visit`` as well
(default ``"month"``: since local midnight on the 1st, :mod:`patrols.cycles`). One check-in counts for both.
"""

from __future__ import annotations

import bisect
import io
from datetime import datetime, timedelta

import openpyxl

from boundaries.scope import ScopedRegistry
from issues.queries import list_issues
from issues.workflow import STATE_NAMES_ZH
from issues.worktime import local_text, zone_label
from patrols import storage as st
from patrols.cycles import cycle_start, cycles_between
from patrols.tracks import TrackRules

__all__ = ["my_work", "compliance", "compliance_xlsx"]


def _last_patrolled(rows: list[dict]) -> dict[str, datetime]:
    last: dict[str, datetime] = {}
    for row in rows:
        when = row["ended_at"] or row["started_at"]
        for code in (row["summary"] or {}).get("micro_grids", []):
            if code not in last or when > last[code]:
                last[code] = when
    return last


def my_work(view: ScopedRegistry, user, desk, patrols, now: datetime) -> dict:
    """The signed-in worker's queue, areas and what is due (see the module docstring).

    Parameters
    ----------
    view : ScopedRegistry
        The worker's view.
    user : accounts.users.User
    desk : issues.desk.IssueDesk
        For the categories and the working calendar.
    patrols : patrols.service.PatrolDesk
    now : datetime
        Aware UTC.
    """
    rows, _ = list_issues(view, state="open", per_page=500, now=now, tz=desk.calendar.tz)
    names = {c.code: c for c in desk.catalog}
    nodes = view.registry.hierarchy()
    queue = []
    for issue in rows:
        if issue["handler_code"] is not None and not view.covers(issue["handler_code"]):
            continue  # escalated above the worker's areas: someone else's now
        due = st.utc(datetime.fromisoformat(issue["due_at"])) if issue["due_at"] else None
        if due is None:
            hours = None
        elif due >= now:
            hours = round(desk.calendar.between(now, due), 2)
        else:
            hours = -round(desk.calendar.between(due, now), 2)
        category = names.get(issue["category"])
        queue.append(
            {
                "id": issue["id"],
                "category": issue["category"],
                "category_name": category.name_zh if category is not None else issue["category"],
                "state": issue["state"],
                "state_name": STATE_NAMES_ZH[issue["state"]],
                "area": issue["handler_code"],
                "area_name": nodes.get(issue["handler_code"], {}).get("name", ""),
                "due_at": issue["due_at"],
                "hours_left": hours,
                "lon": issue["lon"],
                "lat": issue["lat"],
            }
        )
    queue.sort(key=lambda q: (q["hours_left"] is None, q["hours_left"] if q["hours_left"] is not None else 0))
    cycles = patrols.rules.visit_cycles
    since = now - timedelta(days=cycles["micro_grid_patrol_days"])
    visit_since = now - timedelta(days=cycles["household_visit_days"])
    vulnerable_since = cycle_start(cycles["vulnerable_visit"], now, desk.calendar.tz)
    with view.registry.store.engine.connect() as conn:
        last = _last_patrolled(st.patrol_rows(conn, [user.id], ended=True))
        buildings = view.buildings() if user.areas else view.buildings().iloc[0:0]
        buildings = buildings[buildings["households"] > 0]
        checkins = st.checkin_rows(conn, buildings["id"].tolist(), since=min(visit_since, vulnerable_since))
    visited = {r["building_id"] for r in checkins if r["at"] >= visit_since}
    visited_vulnerable = {r["building_id"] for r in checkins if r["at"] >= vulnerable_since}
    micro = view.areas(level="micro_grid") if user.areas else None
    due_grids = []
    if micro is not None:
        for code, name in zip(micro["code"], micro["name"], strict=True):
            when = last.get(code)
            if when is None or when < since:
                due_grids.append({"code": code, "name": name, "last_patrolled": when.isoformat() if when else None})
    due_buildings = []
    columns = (buildings["id"], buildings["address"], buildings["households"], buildings["vulnerable_households"])
    for i, a, h, v in zip(*columns, strict=True):
        vulnerable_due = int(v) > 0 and int(i) not in visited_vulnerable
        if vulnerable_due or int(i) not in visited:
            entry = {"id": int(i), "address": a, "households": int(h), "vulnerable_households": int(v)}
            due_buildings.append({**entry, "due": "vulnerable" if vulnerable_due else "visit"})
    due_buildings.sort(key=lambda b: b["due"] != "vulnerable")  # the short cycle first
    return {
        "queue": queue,
        "areas": list(user.areas),
        "due": {
            "micro_grids": due_grids,
            "buildings": due_buildings,
            "cycles": {
                "micro_grid_patrol_since": since.isoformat(),
                "household_visit_since": visit_since.isoformat(),
                "vulnerable_visit_since": vulnerable_since.isoformat(),
            },
        },
    }


def compliance(
    view: ScopedRegistry,
    area: str | None,
    since: datetime,
    until: datetime,
    rules: TrackRules | None = None,
    tz: str = "Asia/Shanghai",
    now: datetime | None = None,
) -> dict:
    """Patrol compliance in ``[since, until)`` per worker and per micro-grid of ``area`` (default: the scope).

    With ``now``, vulnerable visits are due only in cycles that began before it (a period reaching into the
    future asks nothing of cycles that have not started).

    A micro-grid counts as patrolled when one of its workers' ended patrols started in the period passed
    through it; a building's households count as visited when someone checked in there in the period.
    Each micro-grid is due for a patrol once per ``micro_grid_patrol_days`` window of the period that has begun
    (``patrol_cycles_kept`` / ``patrol_cycles_due``: windows in which a patrol passed through it — the worker's
    own for a worker, anyone's for a micro-grid). Vulnerable households are due once per vulnerable cycle
    overlapping the period (``rules.visit_cycles``
    ``vulnerable_visit``, calendar periods in ``tz``; a month touched by the period counts whole): each is
    visited in a cycle when someone checked in at its building within that cycle.

    Returns
    -------
    dict
        ``workers`` (``micro_grids_patrolled`` / ``micro_grids_due``, ``households_visited`` /
        ``households_due``, ``vulnerable_visited`` / ``vulnerable_due``, ``not_patrolled``), ``micro_grids``
        (``patrols``, ``last_patrolled``, ``households_visited`` / ``households_due``, ``vulnerable_visited`` /
        ``vulnerable_due``, ``workers``), ``not_patrolled`` (codes) and ``vulnerable_cycles`` (``[start, end]``).
    """
    rules = rules or TrackRules()
    due_until = until if now is None else min(until, now)
    cycles = cycles_between(rules.visit_cycles["vulnerable_visit"], since, due_until, tz) if due_until > since else []
    if area is not None:
        view.require(area)
    registry = view.registry
    micro = view.areas(level="micro_grid")
    if area is not None:
        below = {c for c, chain in registry.ancestors().items() if area in chain.values()}
        micro = micro[micro["code"].isin(below)]
    ancestors = registry.ancestors()
    grids = {code: set(ancestors.get(code, {}).values()) for code in micro["code"]}
    buildings = view.buildings(area_code=area) if area is not None else view.buildings()
    located = registry.locate(buildings["lon"].to_numpy(float), buildings["lat"].to_numpy(float), level="micro_grid")
    building_grid = dict(zip(buildings["id"].astype(int), located["code"], strict=True))
    households = dict(zip(buildings["id"].astype(int), buildings["households"].astype(int), strict=True))
    vulnerable = dict(zip(buildings["id"].astype(int), buildings["vulnerable_households"].astype(int), strict=True))
    vulnerable = {bid: n for bid, n in vulnerable.items() if n > 0}
    with registry.store.engine.connect() as conn:
        workers = {uid: w for uid, w in st.users_in(conn, None).items() if any(view.covers(c) for c in w["areas"])}
        rows = st.patrol_rows(conn, list(workers), since, until, ended=True)
        visited = {r["building_id"] for r in st.checkin_rows(conn, list(households), since=since, until=until)}
        wide = (
            st.checkin_rows(conn, list(vulnerable), since=cycles[0][0], until=cycles[-1][1])
            if vulnerable and cycles
            else []
        )
    # vulnerable households visited / due per building, over the cycles: (visited, due)
    starts = [a for a, _ in cycles]
    cycles_visited: dict[int, set] = {}
    for r in wide:
        k = bisect.bisect_right(starts, r["at"]) - 1  # cycles are consecutive: the last one starting by then
        if 0 <= k and r["at"] < cycles[k][1]:
            cycles_visited.setdefault(r["building_id"], set()).add(k)
    vulnerable_counts = {bid: (n * len(cycles_visited.get(bid, ())), n * len(cycles)) for bid, n in vulnerable.items()}
    per_grid = {code: {"patrols": 0, "last": None, "workers": set()} for code in micro["code"]}
    patrolled_by: dict[int, set] = {uid: set() for uid in workers}
    # the patrol cycle (micro_grid_patrol_days) windows of the period that have begun, and which were kept
    windows = (
        cycles_between(rules.visit_cycles["micro_grid_patrol_days"], since, due_until, tz) if due_until > since else []
    )
    window_starts = [a for a, _ in windows]
    kept_by: dict[int, set] = {uid: set() for uid in workers}  # (code, window) a worker's own patrols kept
    kept: set = set()  # (code, window) anyone's patrols kept
    for row in rows:
        k = bisect.bisect_right(window_starts, row["started_at"]) - 1
        in_window = 0 <= k < len(windows) and row["started_at"] < windows[k][1]
        for code in (row["summary"] or {}).get("micro_grids", []):
            if in_window:
                kept.add((code, k))
                kept_by.setdefault(row["user_id"], set()).add((code, k))
            if code in per_grid:
                entry = per_grid[code]
                entry["patrols"] += 1
                when = row["ended_at"] or row["started_at"]
                entry["last"] = when if entry["last"] is None or when > entry["last"] else entry["last"]
                patrolled_by[row["user_id"]].add(code)
    grid_households: dict[str, list[int]] = {code: [0, 0, 0, 0] for code in per_grid}
    for bid, code in building_grid.items():
        if code in grid_households:
            grid_households[code][1] += households[bid]
            grid_households[code][0] += households[bid] if bid in visited else 0
            grid_households[code][2] += vulnerable_counts.get(bid, (0, 0))[0]
            grid_households[code][3] += vulnerable_counts.get(bid, (0, 0))[1]
    worker_rows = []
    for uid, w in sorted(workers.items()):
        mine = [code for code, chain in grids.items() if chain & set(w["areas"])]
        for code in mine:
            per_grid[code]["workers"].add(w["name"])
        hh = [grid_households[c] for c in mine]
        worker_rows.append(
            {
                "worker": uid,
                "name": w["name"],
                "display_name": w["display_name"],
                "micro_grids_patrolled": len(patrolled_by[uid] & set(mine)),
                "micro_grids_due": len(mine),
                "patrol_cycles_kept": sum(1 for code, _k in kept_by[uid] if code in set(mine)),
                "patrol_cycles_due": len(mine) * len(windows),
                "households_visited": sum(h[0] for h in hh),
                "households_due": sum(h[1] for h in hh),
                "vulnerable_visited": sum(h[2] for h in hh),
                "vulnerable_due": sum(h[3] for h in hh),
                "not_patrolled": sorted(set(mine) - patrolled_by[uid]),
            }
        )
    grid_rows = [
        {
            "code": code,
            "name": name,
            "workers": sorted(per_grid[code]["workers"]),
            "patrols": per_grid[code]["patrols"],
            "patrol_cycles_kept": sum(1 for k in range(len(windows)) if (code, k) in kept),
            "patrol_cycles_due": len(windows),
            "last_patrolled": per_grid[code]["last"].isoformat() if per_grid[code]["last"] else None,
            "households_visited": grid_households[code][0],
            "households_due": grid_households[code][1],
            "vulnerable_visited": grid_households[code][2],
            "vulnerable_due": grid_households[code][3],
        }
        for code, name in zip(micro["code"], micro["name"], strict=True)
    ]
    return {
        "area": area,
        "since": since.isoformat(),
        "until": until.isoformat(),
        "workers": worker_rows,
        "micro_grids": grid_rows,
        "not_patrolled": [g["code"] for g in grid_rows if g["patrols"] == 0],
        "vulnerable_cycles": [[a.isoformat(), b.isoformat()] for a, b in cycles],
        "patrol_cycles": [[a.isoformat(), b.isoformat()] for a, b in windows],
    }


def compliance_xlsx(figures: dict, tz: str) -> bytes:
    """The compliance figures as a workbook: a sheet per worker and per micro-grid, times local and labelled."""
    book = openpyxl.Workbook()
    zone = zone_label(tz)
    sheet = book.active
    sheet.title = "网格员 workers"
    sheet.append(
        ["网格员 worker", "姓名 name", "已巡微网格 patrolled", "应巡微网格 due", "已走访户 visited", "应走访户 due"]
        + ["已走访重点关爱户 vulnerable visited", "应走访重点关爱户 vulnerable due"]
    )
    for w in figures["workers"]:
        sheet.append(
            [
                w["name"],
                w["display_name"],
                w["micro_grids_patrolled"],
                w["micro_grids_due"],
                w["households_visited"],
                w["households_due"],
                w["vulnerable_visited"],
                w["vulnerable_due"],
            ]
        )
    grids = book.create_sheet("微网格 micro-grids")
    grids.append(
        ["编码 code", "名称 name", "网格员 workers", "巡查次数 patrols", f"最近巡查 last patrolled ({zone})"]
        + ["已走访户 visited", "应走访户 due", "已走访重点关爱户 vulnerable visited", "应走访重点关爱户 vulnerable due"]
    )
    for g in figures["micro_grids"]:
        last = local_text(datetime.fromisoformat(g["last_patrolled"]), tz) if g["last_patrolled"] else ""
        grids.append(
            [g["code"], g["name"], "、".join(g["workers"]), g["patrols"], last]
            + [g["households_visited"], g["households_due"], g["vulnerable_visited"], g["vulnerable_due"]]
        )
    period = book.create_sheet("时段 period")
    period.append(["区域 area", figures["area"] or ""])
    period.append([f"开始 since ({zone})", local_text(datetime.fromisoformat(figures["since"]), tz)])
    period.append([f"结束 until ({zone})", local_text(datetime.fromisoformat(figures["until"]), tz)])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
