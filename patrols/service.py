"""Recording and reading patrols and check-ins: every write in its own transaction with its audit entry.

Each write is idempotent by the client's id (``client_id``, per user): a resend finds the stored object and
answers it (``created`` false) instead of storing another. Positions are idempotent by their instant within a
patrol. Who may read a patrol: its own worker; a caller with ``patrols:read`` when the worker is bound to an
area inside the caller's areas (administrators: everyone's).
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from datetime import datetime, timedelta, timezone

import numpy as np
import shapely

from boundaries import assets
from boundaries.scope import ScopedRegistry
from core.audit import record
from core.errors import ConflictError, InvalidInputError, NotFoundError
from patrols import storage as st
from patrols.analysis import BuildingIndex, analyse, inside_areas, micro_grids_at, thin_track, track_geojson
from patrols.tracks import TrackRules, clean_track, project

__all__ = ["PatrolDesk", "TooFarError", "NO_SUCH_PATROL", "NOT_YOUR_PATROL", "MAX_POSITIONS"]

#: The answer for a patrol that does not exist or that the caller may not see (the same for both).
NO_SUCH_PATROL = "巡查不存在或无权查看 no such patrol that you may see"
#: The answer for a write to a patrol that does not exist or is not the caller's own.
NOT_YOUR_PATROL = "巡查不存在或不是您的 no such patrol of yours"
#: ``areas`` not given: the patrol's own worker's (see :meth:`PatrolDesk.analysed`).
_WORKERS_OWN = object()
#: Positions per request at most.
MAX_POSITIONS = 5000
#: The longest a patrol may last (fixes and its end after this are refused; a day's track longer than this is two).
MAX_PATROL = timedelta(hours=24)
#: Fixes farther than this (degrees, about 55 km) from the box of the worker's areas are refused.
NEAR_DEGREES = 0.5
#: A fix's accuracy counts towards a check-in's reach up to this many metres.
CHECKIN_ACCURACY_CAP_M = 30.0
#: Analyses of running patrols kept (see :meth:`PatrolDesk.analysed`).
ANALYSIS_CACHE_SIZE = 64


class TooFarError(InvalidInputError):
    """A check-in farther from the building than its reach."""

    code = "too_far"

    def __init__(self, message: str, distance_m: float):
        super().__init__(message)
        self.distance_m = distance_m


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(timezone.utc).isoformat()


class PatrolDesk:
    """Patrols and check-ins over one registry, by the deployment's :class:`TrackRules`.

    Parameters
    ----------
    registry : boundaries.registry.Registry
    rules : TrackRules, optional
    clock : callable, optional
        Returns aware UTC "now".
    """

    def __init__(self, registry, rules: TrackRules | None = None, clock=None):
        self.registry = registry
        self.rules = rules or TrackRules()
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        self._analyses: OrderedDict = OrderedDict()  # key → (track, summary), least recently used first
        self._analyses_lock = threading.Lock()

    @property
    def engine(self):
        """The database engine."""
        return self.registry.store.engine

    # -- reading -----------------------------------------------------------------------------------
    def may_read(self, view: ScopedRegistry, user, worker_id: int, worker_areas) -> bool:
        """Whether ``user`` (seeing through ``view``) may read the tracks of the worker ``worker_id``."""
        if user.id == worker_id:
            return True
        if not user.can("patrols:read"):
            return False
        codes = view.codes()
        return codes is None or any(c in codes for c in worker_areas or ())  # an admin (None): admins only

    def _areas_of(self, conn, user_id: int) -> list[str] | None:
        return st.worker_areas(conn, user_id)

    def _near_areas(self, areas: list[str] | None, lon, lat) -> None:
        """Refuse fixes farther than :data:`NEAR_DEGREES` from the box of the worker's areas.

        A GPS glitch or a file from elsewhere (a track in the Gulf of Guinea) would otherwise be stored as a patrol
        of this deployment and stretch every map of tracks to the whole world.
        """
        if not areas or len(lon) == 0:
            return
        current = self.registry.store.current_generation_id()
        box = self.registry.store.areas_extent(current, codes=areas) if current is not None else None
        if box is None:
            return
        lon, lat = np.asarray(lon, float), np.asarray(lat, float)
        far = (lon < box[0] - NEAR_DEGREES) | (lon > box[2] + NEAR_DEGREES)
        far |= (lat < box[1] - NEAR_DEGREES) | (lat > box[3] + NEAR_DEGREES)
        if far.any():
            i = int(np.flatnonzero(far)[0])
            raise InvalidInputError(
                f"位置远离您的网格 position {i + 1} ({lon[i]:.5f}, {lat[i]:.5f}) lies more than about "
                f"{NEAR_DEGREES * 111:.0f} km from your areas: check the device's coordinates (WGS84 longitude, "
                "latitude)"
            )

    def _not_future(self, at: datetime, zh: str, en: str) -> None:
        """Refuse an instant later than the desk's "now" plus the clock tolerance (``zh``, ``en``: what it is)."""
        latest = self.clock() + timedelta(seconds=self.rules.tolerance_s)
        if at > latest:
            raise InvalidInputError(
                f"{zh}晚于当前时间 {en} {at.astimezone(timezone.utc).isoformat()} is in the future "
                f"(at most {self.rules.tolerance_s:g} s ahead of the server's clock)"
            )

    def _readable(self, conn, view, user, patrol_id: int) -> dict:
        row = st.patrol_by_id(conn, patrol_id)
        if row is None or not self.may_read(view, user, row["user_id"], self._areas_of(conn, row["user_id"])):
            raise NotFoundError(NO_SUCH_PATROL)
        return row

    def _own(self, conn, user, patrol_id: int) -> dict:
        row = st.patrol_by_id(conn, patrol_id)
        if row is None or row["user_id"] != user.id:
            raise NotFoundError(NOT_YOUR_PATROL)
        return row

    def public(self, row: dict, summary: dict | None = None, worker_name: str | None = None) -> dict:
        """A patrol as the API answers it."""
        return {
            "id": row["id"],
            "client_id": row["client_id"],
            "worker": row["user_id"],
            "worker_name": worker_name or row.get("worker_name"),
            "started_at": _iso(row["started_at"]),
            "ended_at": _iso(row["ended_at"]),
            "source": row["source"],
            "summary": summary if summary is not None else row.get("summary"),
        }

    def analysed(self, conn, row: dict, areas=_WORKERS_OWN):
        """``(track, summary)`` of a patrol's stored positions against its worker's areas.

        Kept for the last :data:`ANALYSIS_CACHE_SIZE` patrols, keyed by the patrol, its positions (count and
        highest id: a new batch or a purge changes them), the areas it is measured against and the revision of
        buildings and areas, so reading a running patrol again does not clean and analyse it again.
        """
        areas = self._areas_of(conn, row["user_id"]) if areas is _WORKERS_OWN else areas
        key = (
            row["id"],
            st.position_stamp(conn, row["id"]),
            None if areas is None else tuple(areas),
            st.assets_revision(conn),
        )
        with self._analyses_lock:
            found = self._analyses.get(key)
            if found is not None:
                self._analyses.move_to_end(key)
                return found
        found = self.analyse_fixes(st.positions(conn, row["id"]), areas)
        with self._analyses_lock:
            self._analyses[key] = found
            while len(self._analyses) > ANALYSIS_CACHE_SIZE:
                self._analyses.popitem(last=False)
        return found

    def analyse_fixes(self, fixes: dict, areas):
        """``(track, summary)`` of fixes (arrays ``t``, ``lon``, ``lat``, ``accuracy``) against ``areas``.

        ``areas`` ``None`` means every area (an administrator's): every fix is inside. The summary says which
        (``areas``: ``"all"``, ``"assigned"``, or ``"none"`` for a worker bound to no area, who gets no alerts).
        """
        track = clean_track(fixes["t"], fixes["lon"], fixes["lat"], fixes["accuracy"], self.rules)
        if areas is None:
            inside = np.ones(len(track.t), bool)
        else:
            inside = inside_areas(self.registry, areas, track.lon, track.lat)
        micro = micro_grids_at(self.registry, track.lon, track.lat)
        index = None
        if track.kept.any():
            lon, lat = track.lon[track.kept], track.lat[track.kept]
            pad = self.rules.pass_m / 80_000 + 1e-4  # degrees: more than pass_m at any latitude below 70°
            pad_lon = pad / max(math.cos(math.radians(float(np.max(np.abs(lat))))), 0.3)
            bbox = (lon.min() - pad_lon, lat.min() - pad, lon.max() + pad_lon, lat.max() + pad)
            frame = assets.buildings(self.registry, bbox=bbox)
            index = BuildingIndex(frame["id"].to_numpy(), frame.geometry.values, track.crs)
        summary = analyse(track, inside, micro, index, self.rules)
        summary["areas"] = "all" if areas is None else "assigned" if areas else "none"
        if not areas and areas is not None:
            summary["alerts"] = []
        return track, summary

    def get(self, view: ScopedRegistry, user, patrol_id: int, max_points: int | None = None) -> dict:
        """One patrol with its summary, its cleaned track (GeoJSON) and the dropped fixes by reason.

        A track of more than ``max_points`` kept fixes is thinned evenly (each segment keeps its ends) and the
        answer says so: ``simplified`` ``{"points": shown, "of": kept}``. An ended patrol's stored summary is
        answered as stored (its track is only cleaned, not analysed again). Reading another worker's track
        (personal data) is recorded in the audit log (``read_track``).
        """
        with self.engine.connect() as conn:
            row = self._readable(conn, view, user, patrol_id)
            if row["summary"] is not None:
                fixes = st.positions(conn, row["id"])
                track = clean_track(fixes["t"], fixes["lon"], fixes["lat"], fixes["accuracy"], self.rules)
                summary = row["summary"]
            else:
                track, summary = self.analysed(conn, row)
            name = st.users_in(conn, None, role=None).get(row["user_id"], {}).get("name")
        self._record_reads(view, user, [row])
        out = self.public(row, summary, name)
        out["track"], shown = track_geojson(track, max_points)
        if shown < int(track.kept.sum()):
            out["simplified"] = {"points": shown, "of": int(track.kept.sum())}
        out["dropped"] = track.dropped()
        return out

    def tracks(self, view: ScopedRegistry, user, patrol_ids, max_points: int | None = None) -> list[dict]:
        """The cleaned tracks of patrols the caller may read (others are left out), in the order asked.

        Each is ``{"id", "worker", "track"}`` with ``track`` as in :meth:`get` (GeoJSON, ``times`` per segment).
        With ``max_points``, a track of more kept fixes is thinned by Douglas–Peucker in metres to at most that
        many (:func:`~patrols.analysis.thin_track`) and says so: ``simplified`` ``{points, of, tolerance_m}``.
        Every read of another worker's track is recorded in the audit log (``read_track``), as in :meth:`get`.
        """
        out, rows = [], []
        with self.engine.connect() as conn:
            workers = st.users_in(conn, None, role=None)
            for patrol_id in dict.fromkeys(int(p) for p in patrol_ids):
                row = st.patrol_by_id(conn, patrol_id)
                areas = workers.get(row["user_id"], {}).get("areas", []) if row is not None else []
                if row is None or not self.may_read(view, user, row["user_id"], areas):
                    continue
                fixes = st.positions(conn, patrol_id)
                track = clean_track(fixes["t"], fixes["lon"], fixes["lat"], fixes["accuracy"], self.rules)
                entry = {"id": patrol_id, "worker": row["user_id"]}
                if max_points is not None and int(track.kept.sum()) > max_points:
                    show, tolerance = thin_track(track, max_points)
                    entry["track"], shown = track_geojson(track, show=show)
                    entry["simplified"] = {"points": shown, "of": int(track.kept.sum()), "tolerance_m": tolerance}
                else:
                    entry["track"] = track_geojson(track)[0]
                out.append(entry)
                rows.append(row)
        self._record_reads(view, user, rows)
        return out

    def _record_reads(self, view: ScopedRegistry, user, rows: list[dict]) -> None:
        """Record in the audit log each read of a track that is not the caller's own (tracks are personal data)."""
        others = [row for row in rows if row["user_id"] != user.id]
        if not others:
            return
        with self.registry.store.transaction() as conn:
            for row in others:
                record(conn, view.actor, "read_track", "patrol", row["id"], after={"worker": row["user_id"]})

    def list(self, view: ScopedRegistry, user, worker=None, since=None, until=None, area=None) -> list[dict]:
        """Patrols the caller may read (newest first, at most 500), each with its summary.

        ``worker`` is a user id; ``area`` keeps the workers bound to that area or below it (the area must be in
        the caller's areas); ``since`` / ``until`` bound the start time (instants).
        """
        if area is not None:
            view.require(area)
        with self.engine.connect() as conn:
            workers = st.users_in(conn, None, role=None)
            ids = [
                uid
                for uid, w in workers.items()
                if self.may_read(view, user, uid, w["areas"]) and (worker is None or uid == int(worker))
            ]
            if user.id not in ids and (worker is None or int(worker) == user.id):
                ids.append(user.id)  # a caller with no areas still reads their own
            if area is not None:
                below = {c for c, chain in self.registry.ancestors().items() if area in chain.values()}
                ids = [u for u in ids if below & set(workers.get(u, {}).get("areas", []))]
            rows = st.patrol_rows(conn, ids, since, until, limit=500)
            out = []
            for row in rows:
                summary = row["summary"]
                if summary is None:  # still running: analysed now
                    summary = self.analysed(conn, row)[1]
                out.append(self.public(row, summary))
        return out

    # -- writing -----------------------------------------------------------------------------------
    def start(self, view: ScopedRegistry, user, client_id: str, started_at: datetime, source: str = "app"):
        """Start a patrol: ``(patrol, created)``; a resend of ``client_id`` answers the stored one.

        ``started_at`` may not lie in the future (beyond the clock tolerance).
        """
        self._not_future(started_at, "开始时间", "started_at")
        with self.registry.store.transaction() as conn:
            found = st.patrol_by_client(conn, user.id, client_id)
            if found is not None:
                if abs((found["started_at"] - started_at).total_seconds()) > 1e-3:
                    raise ConflictError(
                        f"client_id 已用于另一次巡查 client_id {client_id!r} is already the patrol started at "
                        f"{found['started_at'].isoformat()}: use a new client_id"
                    )
                return self.public(found, worker_name=user.name), False
            values = {
                "user_id": user.id,
                "client_id": client_id,
                "source": source,
                "started_at": started_at.astimezone(timezone.utc),
                "created_at": self.clock(),
            }
            patrol_id = st.insert_patrol(conn, **values)
            record(conn, view.actor, "create", "patrol", patrol_id, after=values)
            row = st.patrol_by_id(conn, patrol_id)
        return self.public(row, worker_name=user.name), True

    def add_positions(self, view: ScopedRegistry, user, patrol_id: int, fixes: list[dict]) -> dict:
        """Add fixes (``t`` aware, ``lon``, ``lat``, ``accuracy``) to one's own running patrol.

        Returns ``{"accepted", "duplicates"}``: a fix whose instant the patrol holds already is a duplicate.
        Every fix must lie between the patrol's start and the desk's "now", each widened by the clock tolerance;
        otherwise the whole batch is refused, naming the first fix outside.
        """
        if len(fixes) > MAX_POSITIONS:
            raise InvalidInputError(f"每次最多 {MAX_POSITIONS} 个位置 at most {MAX_POSITIONS} positions per request")
        rows = [
            {"t": f["t"].astimezone(timezone.utc), "lon": f["lon"], "lat": f["lat"], "accuracy": f.get("accuracy")}
            for f in fixes
        ]
        with self.registry.store.transaction() as conn:
            row = self._own(conn, user, patrol_id)
            if row["ended_at"] is not None:
                raise ConflictError("巡查已结束，不能再添加位置 the patrol has ended: no positions can be added")
            self._within_patrol(row, [r["t"] for r in rows])
            self._near_areas(self._areas_of(conn, user.id), [r["lon"] for r in rows], [r["lat"] for r in rows])
            accepted = st.insert_positions(conn, row["id"], rows)
            if accepted:
                record(conn, view.actor, "add_positions", "patrol", row["id"], after={"accepted": accepted})
        return {"accepted": accepted, "duplicates": len(rows) - accepted}

    def _within_patrol(self, row: dict, times: list[datetime]) -> None:
        """Refuse fixes before the patrol's start or after "now" (each widened by the clock tolerance)."""
        if not times:
            return
        tolerance = timedelta(seconds=self.rules.tolerance_s)
        first = row["started_at"] - tolerance
        last = min(self.clock(), row["started_at"] + MAX_PATROL) + tolerance
        for i, at in enumerate(times):
            if not first <= at <= last:
                raise InvalidInputError(
                    f"第 {i + 1} 个位置的时间不在巡查期间 position {i + 1} at {at.isoformat()} lies outside the patrol "
                    f"(from {first.isoformat()} to now, at most {MAX_PATROL.total_seconds() / 3600:g} h after its "
                    f"start, {self.rules.tolerance_s:g} s of clock tolerance)"
                )

    def end(self, view: ScopedRegistry, user, patrol_id: int, ended_at: datetime) -> dict:
        """End one's own patrol and store its summary; ending it again answers the stored patrol.

        The track is analysed before the write transaction; inside it, the summary is stored only if the patrol
        still holds the same positions (else it is analysed again there: a batch arrived meanwhile).
        """
        with self.engine.connect() as conn:
            row = self._own(conn, user, patrol_id)
            if row["ended_at"] is not None:
                return self.public(row, worker_name=user.name)
            if ended_at < row["started_at"]:
                raise InvalidInputError("结束时间早于开始时间 ended_at is before the patrol's started_at")
            self._not_future(ended_at, "结束时间", "ended_at")
            if ended_at > row["started_at"] + MAX_PATROL + timedelta(seconds=self.rules.tolerance_s):
                raise InvalidInputError(
                    f"巡查时长超过 {MAX_PATROL.total_seconds() / 3600:g} 小时 a patrol lasts at most "
                    f"{MAX_PATROL.total_seconds() / 3600:g} h: ended_at is too late"
                )
            fixes, areas = st.positions(conn, row["id"]), self._areas_of(conn, user.id)
            self._after_last_fix(ended_at, fixes)
        track, summary = self.analyse_fixes(fixes, areas)
        with self.registry.store.transaction() as conn:
            row = self._own(conn, user, patrol_id)
            if row["ended_at"] is not None:
                return self.public(row, worker_name=user.name)
            if st.position_count(conn, row["id"]) != len(track.t):
                summary = self.analysed(conn, row, areas)[1]
            st.end_patrol_row(conn, row["id"], ended_at.astimezone(timezone.utc), summary)
            record(conn, view.actor, "end", "patrol", row["id"], after={"ended_at": ended_at, **summary})
            row = st.patrol_by_id(conn, row["id"])
        return self.public(row, worker_name=user.name)

    def _after_last_fix(self, ended_at: datetime, fixes) -> None:
        """Refuse an end before the patrol's last fix (its summary would count time after it ended)."""
        times = fixes["t"]  # seconds since the epoch (storage.positions)
        if len(times) == 0:
            return
        last = datetime.fromtimestamp(float(np.max(times)), timezone.utc)
        if ended_at < last - timedelta(seconds=self.rules.tolerance_s):
            raise InvalidInputError(
                f"结束时间早于最后一个位置 ended_at {ended_at.astimezone(timezone.utc).isoformat()} is before the "
                f"patrol's last position at {last.isoformat()}"
            )

    def import_tracks(self, view: ScopedRegistry, user, tracks: list[dict], client_id: str) -> tuple[list, bool]:
        """Store uploaded tracks (each ``{"t", "lon", "lat", "accuracy"}`` arrays) as ended patrols (``gpx``).

        The patrol of track ``i`` has client id ``{client_id}:{i}``, so uploading the same file again answers
        the stored patrols. Times may not lie in the future (beyond the clock tolerance). Every track is
        cleaned and analysed before the write transaction, which only inserts. Returns ``(patrols, created)``.
        """
        latest = self.clock().timestamp() + self.rules.tolerance_s
        for fixes in tracks:
            if len(fixes["t"]) and float(np.max(fixes["t"])) > latest:
                self._not_future(
                    datetime.fromtimestamp(float(np.max(fixes["t"])), timezone.utc), "GPX 时间", "the GPX time"
                )
        with self.engine.connect() as conn:
            areas = self._areas_of(conn, user.id)
            for fixes in tracks:
                self._near_areas(areas, fixes["lon"], fixes["lat"])
            stored = {i for i in range(len(tracks)) if st.patrol_by_client(conn, user.id, f"{client_id}:{i}"[:64])}
        summaries = {i: self.analyse_fixes(fixes, areas)[1] for i, fixes in enumerate(tracks) if i not in stored}
        out, created = [], False
        with self.registry.store.transaction() as conn:
            for i, fixes in enumerate(tracks):
                key = f"{client_id}:{i}"[:64]
                found = st.patrol_by_client(conn, user.id, key)
                if found is not None:
                    out.append(self.public(found, worker_name=user.name))
                    continue
                times = [datetime.fromtimestamp(v, timezone.utc) for v in fixes["t"]]
                values = {
                    "user_id": user.id,
                    "client_id": key,
                    "source": "gpx",
                    "started_at": min(times),
                    "created_at": self.clock(),
                }
                patrol_id = st.insert_patrol(conn, **values)
                rows = [
                    {"t": tt, "lon": float(a), "lat": float(b), "accuracy": None if np.isnan(c) else float(c)}
                    for tt, a, b, c in zip(times, fixes["lon"], fixes["lat"], fixes["accuracy"], strict=True)
                ]
                st.insert_positions(conn, patrol_id, rows)
                summary = summaries.get(i)
                if summary is None:  # stored by a concurrent upload then removed: analysed here, rarely
                    summary = self.analyse_fixes(fixes, areas)[1]
                st.end_patrol_row(conn, patrol_id, max(times), summary)
                record(conn, view.actor, "import", "patrol", patrol_id, after={**values, **summary})
                out.append(self.public(st.patrol_by_id(conn, patrol_id), worker_name=user.name))
                created = True
        return out, created

    def checkin(
        self, view: ScopedRegistry, user, client_id: str, building_id: int, lon, lat, at: datetime, accuracy=None
    ) -> tuple[dict, bool]:
        """A check-in at a building in the caller's areas: ``(checkin, created)``.

        Raises :class:`TooFarError` when the fix lies farther from the footprint than ``checkin_reach_m`` plus
        its accuracy (at most 30 m of it); a building outside the caller's areas is "not found". ``at`` may not
        lie in the future (beyond the clock tolerance) nor be older than ``checkin_max_age_days``. A resend
        of ``client_id`` for another building is a conflict.
        """
        self._not_future(at, "签到时间", "the check-in time")
        oldest = self.clock() - timedelta(days=self.rules.checkin_max_age_days)
        if at < oldest:
            raise InvalidInputError(
                f"签到时间早于 {self.rules.checkin_max_age_days:g} 天前 the check-in time {at.isoformat()} is "
                f"more than {self.rules.checkin_max_age_days:g} days ago"
            )
        with self.registry.store.transaction() as conn:
            found = st.checkin_by_client(conn, user.id, client_id)
            if found is not None:
                same_place = abs(found["lon"] - float(lon)) < 1e-9 and abs(found["lat"] - float(lat)) < 1e-9
                if (
                    found["building_id"] != int(building_id)
                    or not same_place
                    or abs((found["at"] - at).total_seconds()) > 1e-3
                ):
                    raise ConflictError(
                        f"client_id 已用于建筑 {found['building_id']} 的签到 client_id {client_id!r} is already the "
                        f"check-in at building {found['building_id']}, not {int(building_id)}: use a new client_id"
                    )
                return self._checkin_public(found), False
            view.building(building_id, conn=conn)  # NotFoundError outside the caller's areas
            footprint = self.registry.store.buildings(ids=[building_id], conn=conn)[0]["geometry"]
            x, y, crs = project([lon], [lat])
            metric = shapely.transform(footprint, lambda xy: np.column_stack(project(xy[:, 0], xy[:, 1], crs)[:2]))
            distance = float(shapely.distance(metric, shapely.points(x[0], y[0])))
            reach = self.rules.checkin_reach_m + min(float(accuracy or 0.0), CHECKIN_ACCURACY_CAP_M)
            if distance > reach:
                raise TooFarError(
                    f"距离建筑 {distance:.0f} 米，超出签到范围 {reach:.0f} 米 you are {distance:.0f} m from the "
                    f"building; a check-in must be within {reach:.0f} m",
                    round(distance, 1),
                )
            values = {
                "user_id": user.id,
                "client_id": client_id,
                "building_id": int(building_id),
                "lon": float(lon),
                "lat": float(lat),
                "accuracy": None if accuracy is None else float(accuracy),
                "at": at.astimezone(timezone.utc),
                "distance_m": round(distance, 2),
                "created_at": self.clock(),
            }
            checkin_id = st.insert_checkin(conn, **values)
            record(conn, view.actor, "create", "checkin", checkin_id, after=values)
            stored = st.checkin_by_client(conn, user.id, client_id)
        return self._checkin_public(stored), True

    @staticmethod
    def _checkin_public(row: dict) -> dict:
        return {
            "id": row["id"],
            "client_id": row["client_id"],
            "building_id": row["building_id"],
            "distance_m": row["distance_m"],
            "at": _iso(row["at"]),
            "accepted": True,
        }

    def purge(self, actor, now: datetime | None = None) -> int:
        """Delete positions older than ``retention_days``; how many (recorded in the audit log)."""
        before = (now or self.clock()) - timedelta(days=self.rules.retention_days)
        with self.registry.store.transaction() as conn:
            removed = st.purge_positions(conn, before)
            record(conn, actor, "purge", "patrol_positions", "", after={"before": before, "removed": removed})
        return removed
