"""Intake, workflow steps and escalation of issues. Every change writes its history event and audit entry.

``IssueDesk`` holds what the rules depend on — the registry, the categories, the working calendar and a clock
(tests pass a simulated one) — and every method takes the caller's :class:`~boundaries.scope.ScopedRegistry`.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from datetime import datetime, timezone

import numpy as np

from boundaries.assets import workers_of
from boundaries.registry import Registry
from boundaries.scope import ScopedRegistry
from core.audit import record
from core.errors import ConflictError, InvalidInputError, NotFoundError, OutOfScopeError
from geo.crs import check_lonlat, normalize_crs, to_wgs84
from issues import storage as st
from issues.categories import Catalog
from issues.escalation import SCHEDULER, Escalation, stage_deadline
from issues.locating import place_points
from issues.photos import MAX_PHOTO_BYTES, MAX_PHOTO_PIXELS, check_photos, store_photos
from issues.queries import get_issue, is_visible, issue_answer, issue_row
from issues.text import text_problem
from issues.workflow import ACTIVE_STATES, LADDER, STATE_NAMES_ZH, action_for, allowed_actions, permission_for
from issues.worktime import WorkCalendar

__all__ = ["IssueDesk", "HAZARD_LEVELS", "SCHEDULER", "ReusedKeyError", "check_text", "utcnow"]

#: Hazard levels (一般 / 较大 / 重大).
HAZARD_LEVELS = {"general": "一般", "major": "较大", "severe": "重大"}


class ReusedKeyError(ConflictError):
    """An external id (a channel's idempotency key) sent again with a different report."""

    def __init__(self, key: str, issue_id: int):
        super().__init__(
            f"外部编号已用于另一个不同的上报 external id {key!r} was already used for a different report "
            f"(issue {issue_id})"
        )
        self.key, self.issue_id = key, issue_id


#: What a repeated report must match of the first, column by column (with the photos sent with it).
_SAME_REPORT = ("category", "description", "address", "hazard_level", "reporter_name", "reporter_phone", "building_id")


def check_text(**values) -> None:
    """Refuse text an issue may not hold (see :mod:`issues.text`), naming the field."""
    for name, value in values.items():
        problem = text_problem(str(value))
        if problem:
            raise InvalidInputError(f"{name} 文本无效 {name} {problem}")


def utcnow() -> datetime:
    """The current time, aware UTC."""
    return datetime.now(timezone.utc)


class IssueDesk(Escalation):
    """The issue rules over a registry.

    Parameters
    ----------
    registry : Registry
    catalog : Catalog, optional
        Categories and their time limits (default: the built-in ones).
    calendar : WorkCalendar, optional
        Working hours (default: 09:00–12:00, 13:00–18:00 Beijing time on China's working days).
    near_boundary_m : float
        Points closer than this to their micro-grid's boundary are flagged ``near_boundary``.
    clock : callable
        Returns the current aware UTC time.
    photo_max_bytes, photo_max_pixels : int
        Largest photo accepted, in bytes and in pixels (width × height).
    """

    def __init__(
        self,
        registry: Registry,
        catalog: Catalog | None = None,
        calendar: WorkCalendar | None = None,
        near_boundary_m: float = 10.0,
        clock: Callable[[], datetime] = utcnow,
        photo_max_bytes: int = MAX_PHOTO_BYTES,
        photo_max_pixels: int = MAX_PHOTO_PIXELS,
    ):
        self.registry = registry
        self.catalog = catalog or Catalog()
        self.calendar = calendar or WorkCalendar()
        self.near_boundary_m = near_boundary_m
        self.clock = clock
        self.photo_max_bytes = photo_max_bytes
        self.photo_max_pixels = photo_max_pixels

    def due(self, category: str, state: str, start: datetime) -> datetime | None:
        """End of the time limit of ``state`` for a category, counted from ``start`` in working hours."""
        if state not in ACTIVE_STATES:
            return None
        hours = self.catalog.get(category).limit(state)
        return None if hours is None else self.calendar.add(start, hours)

    # -- intake ------------------------------------------------------------------------------------
    def _where(self, view: ScopedRegistry, lon, lat, crs, building_id):
        """``(lon, lat, crs, lon as given, lat as given, place)``: WGS84 and as reported.

        ``place`` is the chosen building's address, else its name (``""`` without a building).
        """
        if building_id is not None:
            # outside the caller's areas: the same 404 as an id that does not exist, so ids cannot be probed
            row = view.building(int(building_id))
            place = (row.get("address") or "").strip() or (row.get("name") or "").strip()
            return row["lon"], row["lat"], "wgs84", row["lon"], row["lat"], place
        if lon is None or lat is None:
            raise InvalidInputError("缺少位置 give lon and lat (with crs), or a building_id")
        try:
            lon, lat = float(lon), float(lat)
        except (TypeError, ValueError) as exc:
            raise InvalidInputError("经纬度必须是数字 lon and lat must be numbers") from exc
        if not (np.isfinite(lon) and np.isfinite(lat)):
            raise InvalidInputError("经纬度必须是有限数 lon and lat must be finite numbers")
        crs = normalize_crs(crs or "wgs84")
        check_lonlat(np.array([lon]), np.array([lat]), "事件位置 issue location")
        x, y = to_wgs84(np.array([lon]), np.array([lat]), crs)
        return float(x[0]), float(y[0]), str(crs), lon, lat, ""

    def _existing(self, conn, channel, created_by, external_id):
        return st.issue_id_by_external_id(conn, channel, created_by, external_id)

    @staticmethod
    def _fingerprint(values: dict, lon, lat, crs, photos) -> dict:
        """What identifies a report, in the form it is stored (to tell a repeat from a reused key)."""
        out = {k: values[k] for k in _SAME_REPORT}
        out["building_id"] = None if out["building_id"] is None else int(out["building_id"])
        if out["building_id"] is None:
            try:
                out["lon_reported"], out["lat_reported"] = float(lon), float(lat)
            except (TypeError, ValueError):
                out["lon_reported"], out["lat_reported"] = lon, lat
            out["crs_reported"] = str(normalize_crs(crs or "wgs84"))
        out["photos"] = sorted(hashlib.sha256(data).hexdigest() for _, data in photos)
        return out

    def _repeat(self, view, issue_id: int, external_id: str, wanted: dict) -> tuple[dict, bool]:
        """The answer to a repeated external id: the first issue if the report is the same, else ReusedKeyError."""
        with self.registry.store.engine.connect() as conn:
            row = st.issue_by_id(conn, issue_id)
            photos = st.report_photos(conn, issue_id)
            stored = {**{k: row[k] for k in wanted if k != "photos"}, "photos": sorted(photos)}
        if stored != wanted:
            raise ReusedKeyError(external_id, issue_id)
        return self._visible(view, issue_id), False

    def report(
        self,
        view: ScopedRegistry,
        category: str,
        description: str = "",
        lon=None,
        lat=None,
        crs: str = "wgs84",
        building_id: int | None = None,
        external_id: str | None = None,
        channel: str = "api",
        address: str = "",
        hazard_level: str = "general",
        reporter_name: str = "",
        reporter_phone: str = "",
        photos=(),
    ) -> tuple[dict, bool]:
        """Report an issue; returns ``(issue, created)`` — ``created`` is false for a repeated external id.

        The issue is located in the current generation (micro-grid, else its community's or street's unlocated
        queue), routed to the worker of its area (else up the ladder), and its first stage's clock starts.
        Everything is checked before anything is written; a refused report stores nothing. A report placed by
        ``building_id`` with no (or a blank) ``address`` takes the building's address, else its name; a resend of
        its ``external_id`` without an address is then the same report.
        """
        cat = self.catalog.get(category)
        if hazard_level not in HAZARD_LEVELS:
            raise InvalidInputError(f"未知隐患等级 unknown hazard level {hazard_level!r}: {', '.join(HAZARD_LEVELS)}")
        external_id = str(external_id).strip() if external_id not in (None, "") else None
        text = {"description": str(description), "address": str(address), "reporter_name": str(reporter_name)}
        text |= {"reporter_phone": str(reporter_phone), "external_id": external_id or ""}
        check_text(**text)
        photos = list(photos)
        created_by = view.actor.user_id
        if external_id:
            wanted = self._fingerprint(
                {**text, "category": cat.code, "hazard_level": hazard_level, "building_id": building_id},
                lon, lat, crs, photos,
            )  # fmt: skip
            if building_id is not None and not text["address"].strip():
                del wanted["address"]  # taken from the building: whatever it was then
            with self.registry.store.engine.connect() as conn:
                found = self._existing(conn, channel, created_by, external_id)
            if found is not None:
                return self._repeat(view, found, external_id, wanted)
        lon84, lat84, crs_name, lon_in, lat_in, place = self._where(view, lon, lat, crs, building_id)
        if not str(address).strip():
            address = place
        checked = check_photos(photos, self.photo_max_bytes, self.photo_max_pixels)
        generation = view.locating_generation(None)  # with the revisions, in one query for the whole report
        placed = place_points(self.registry, [lon84], [lat84], generation, self.near_boundary_m)
        where = placed.row(0)
        if where["level"] is None:
            raise InvalidInputError(
                f"位置不在任何街道内 ({lon84:.6f}, {lat84:.6f}) lies outside every street in the registry; "
                "check the coordinates and their crs"
            )
        now = self.clock()
        values = {
            "external_id": external_id,
            "channel": channel,
            "token": str(uuid.uuid4()),
            "category": cat.code,
            "description": str(description),
            "address": str(address),
            "hazard_level": hazard_level,
            "lon": lon84,
            "lat": lat84,
            "crs_reported": crs_name,
            "lon_reported": lon_in,
            "lat_reported": lat_in,
            "building_id": building_id,
            "generation": generation,
            **where,
            **self.routed(where, view.snapshot()["assets"]),
            "state": "reported",
            "reporter_name": str(reporter_name),
            "reporter_phone": str(reporter_phone),
            "created_by": created_by,
            "created_at": now,
            "updated_at": now,
            "stage_started_at": now,
            "due_at": self.due(cat.code, "reported", now),
        }
        # every statement built before the write lock is taken (intake's inserts are constants of issues.storage,
        # compiled once, cached); inside it: the idempotency check, three inserts (the issue and its first event
        # read back by RETURNING: no second round trip), photos, audit
        audit_after = {**values, "photos": [p.sha256 for p in checked]}
        try:
            with self.registry.store.transaction() as conn:
                if external_id and self._existing(conn, channel, created_by, external_id) is not None:
                    raise _DuplicateError()
                row = st.insert_issue(conn, values)
                event = self._event(
                    conn, row["id"], view.actor, "report", (None, "reported"), (None, where["level"]), "", now, row=True
                )
                store_photos(conn, row["id"], checked, event["id"])
                record(conn, view.actor, "create", "issue", row["id"], None, audit_after)
        except (_DuplicateError, st.IntegrityError):
            with self.registry.store.engine.connect() as conn:
                found = self._existing(conn, channel, created_by, external_id)
            if found is None:
                raise
            return self._repeat(view, found, external_id, wanted)
        if not is_visible(view, row):  # a worker reporting next door: the report stands, they cannot follow it
            return {"id": row["id"], "state": "reported", "visible": False}, True
        shots = [(sha, event["id"]) for sha in dict.fromkeys(p.sha256 for p in checked)]
        return issue_answer(view, row, [event], shots), True

    def _visible(self, view, issue_id) -> dict:
        try:
            return get_issue(view, issue_id)
        except NotFoundError:  # a worker reporting next door: the report stands, they just cannot follow it
            return {"id": issue_id, "state": "reported", "visible": False}

    def _assignee(self, code: str | None, assets_revision: int | None = None) -> dict:
        """The assignee columns for an area: its first worker, or nobody (the area's queue).

        With the database's ``assets_revision`` the workers come from the table cached under it (no query).
        """
        workers = workers_of(self.registry, [code], assets_revision) if code else []
        worker = workers[0] if workers else None
        return {
            "assignee_worker_id": worker["id"] if worker else None,
            "assignee_name": worker["name"] if worker else "",
        }

    def routed(self, where: dict, assets_revision: int | None = None) -> dict:
        """Routing (at intake and import): the worker of the issue's area, else of the next area up the ladder.

        ``where`` holds the issue's ``level`` and its ``*_code`` columns; the answer, its assignee columns.
        """
        for level in LADDER[LADDER.index(where["level"]) :]:
            assignee = self._assignee(where.get(f"{level}_code"), assets_revision)
            if assignee["assignee_worker_id"] is not None:
                return assignee
        return self._assignee(None)

    @staticmethod
    def _event(conn, issue_id, actor, action, states, levels, note, at, stage=None, row=False):
        """Write one history event; ``stage`` is ``(name, due_at, on_time)`` of the stage it ended.

        Returns the event's id, or with ``row`` the stored event row (read back by ``RETURNING``).
        """
        stage_name, stage_due, on_time = stage or (None, None, None)
        (from_state, to_state), (from_level, to_level) = states, levels
        params = {
            "issue_id": issue_id,
            "at": at,
            "user_id": actor.user_id,
            "user_name": actor.name,
            "action": action,
            "from_state": from_state,
            "to_state": to_state,
            "from_level": from_level,
            "to_level": to_level,
            "note": str(note),
            "stage": stage_name,
            "stage_due_at": stage_due,
            "on_time": on_time,
        }
        return st.insert_event(conn, params, returning=row)

    # -- workflow ----------------------------------------------------------------------------------
    def check_allowed(self, issue: dict, action: str, can=None) -> None:
        """Refuse ``action`` unless :func:`~issues.workflow.allowed_actions` offers it (the pages ask the same).

        A role without the permission gets :class:`OutOfScopeError` (403); a move the issue's state or level
        does not allow gets :class:`ConflictError` (409) naming the actions allowed now.
        """
        if can is not None and not can(permission_for(action)):
            raise OutOfScopeError(f"您的角色不能执行该操作 your role may not {action} issues")
        allowed = allowed_actions(issue, can)
        if action not in allowed:
            state = issue["state"]
            raise ConflictError(
                f"当前状态“{STATE_NAMES_ZH[state]}”不能执行该操作 cannot {action} an issue that is {state} "
                f"at level {issue['level']}; allowed now: {', '.join(allowed) or 'nothing'}"
            )

    def act(self, view: ScopedRegistry, issue_id: int, action: str, note: str = "", can=None, photos=()) -> dict:
        """Take a workflow step, or ``escalate``.

        Steps: ``accept``, ``file``, ``dispatch``, ``start``, ``check``, ``close``, ``reject``, ``void``, ``park``,
        ``unpark``, ``reopen``; ``can(permission)`` says what the caller's role may do. The stage a step ends is
        scored against the deadline it had when it started (an escalation on the way does not move it).
        """
        if action == "escalate":
            return self.escalate(view, issue_id, note, can)
        if action == "assign":
            raise InvalidInputError("分派需要区域编码 assign needs an area: use assign(…, area)")
        try:
            step = action_for(action)
        except KeyError as exc:
            raise InvalidInputError(str(exc.args[0])) from exc
        if can is not None and not can(step.permission):
            raise OutOfScopeError(f"您的角色不能执行“{step.name_zh}” your role may not {action} issues")
        check_text(note=note)
        if step.needs_note and not str(note).strip():
            raise InvalidInputError(f"“{step.name_zh}”需要填写原因 {action} needs a note giving the reason")
        checked = check_photos(photos, self.photo_max_bytes, self.photo_max_pixels)
        issue = issue_row(view, issue_id)
        self.check_allowed(issue, action, can)
        state = issue["state"]
        target = step.target or issue["parked_from"] or "filed"
        now = self.clock()
        values = {
            "state": target,
            "updated_at": now,
            "stage_started_at": now,
            "due_at": self.due(issue["category"], target, now),
            "parked_from": state if target == "parked" else None,
            "closed_at": now if target in ("closed", "void") else None,
        }
        with self.registry.store.transaction() as conn:
            if not st.update_issue(conn, issue["id"], {"state": state}, values):
                raise ConflictError("事件刚被他人处理 the issue changed meanwhile; reload it and try again")
            due_at = stage_deadline(conn, issue)
            stage = (state, due_at, None if due_at is None else now <= due_at) if state in ACTIVE_STATES else None
            event_id = self._event(
                conn, issue["id"], view.actor, action, (state, target), (issue["level"],) * 2, note, now, stage
            )
            store_photos(conn, issue["id"], checked, event_id)
            record(conn, view.actor, action, "issue", issue["id"], {"state": state}, {"state": target, "note": note})
        return get_issue(view, issue["id"])

    def assign(self, view: ScopedRegistry, issue_id: int, area: str, note: str = "", can=None) -> dict:
        """Hand an issue to an area's queue (e.g. an unlocated one to the micro-grid it belongs to).

        The area must lie in the caller's scope and agree with the codes the issue was located in; codes the
        location left empty (an unlocated issue's micro-grid and grid) are filled from the area's chain —
        nothing located is ever rewritten.
        """
        if can is not None and not can("issues:dispatch"):
            raise OutOfScopeError("您的角色不能分派事件 your role may not assign issues")
        check_text(note=note)
        issue = issue_row(view, issue_id)
        self.check_allowed(issue, "assign", can)
        row = view.area(area)  # 404 / 403
        if row["level"] not in LADDER:
            raise InvalidInputError(f"不能分派到{row['level']} issues are handled by {', '.join(LADDER)} areas")
        chain = {c["level"]: c["code"] for c in self.registry.chain(area)}
        values = {}
        for level, code in chain.items():
            column = f"{level}_code"
            if column not in issue:
                continue
            if issue[column] is None:
                values[column] = code
            elif issue[column] != code:
                raise ConflictError(
                    f"区域 {area} 不在事件所在的{level} {issue[column]} 内 the area is not inside the issue's {level}"
                )
        now = self.clock()
        values.update(
            level=row["level"],
            handler_code=area,
            **self._assignee(area),
            updated_at=now,
        )
        with self.registry.store.transaction() as conn:
            if not st.update_issue(conn, issue["id"], {"state": issue["state"]}, values):
                raise ConflictError("事件刚被他人处理 the issue changed meanwhile; reload it and try again")
            self._event(
                conn,
                issue["id"],
                view.actor,
                "assign",
                (issue["state"],) * 2,
                (issue["level"], row["level"]),
                note or area,
                now,
            )
            record(
                conn,
                view.actor,
                "assign",
                "issue",
                issue["id"],
                {k: issue[k] for k in values if k != "updated_at"},
                {**values, "updated_at": now},
            )
        return get_issue(view, issue["id"])


class _DuplicateError(Exception):
    """Another request with the same external id committed first."""
