"""Bulk import of historical issues from CSV or Excel.

All rows are checked first, every problem is reported with its row and column, and nothing is written unless
every row is good (one transaction for the file).

Columns (English or Chinese headers): ``external_id`` 外部编号, ``category`` 类别 (code or Chinese name),
``description`` 描述, ``lon`` 经度, ``lat`` 纬度, ``crs`` 坐标系, ``reported_at`` 上报时间, ``state`` 状态 (code or
Chinese name; default ``closed`` when ``closed_at`` is given, else ``reported``), ``closed_at`` 结案时间 (only
for a closed or void issue: on an open state it is an error of the row), ``address`` 地址, ``reporter_name`` 上报人,
``hazard_level`` 隐患等级. Rows whose external id was imported before are skipped, so a file can be imported again
after fixing its errors; the ids are checked again inside the write transaction (and the database keeps them
unique), so two imports of one file at once write each row once, and the later one reports it as skipped.

Times are read one by one, each with its own UTC offset (a file may mix PST and PDT, or +08:00 and Z); times
without an offset are read in the import's ``timezone`` (default: the deployment's, the work calendar's zone),
and everything is stored in UTC, to the microsecond (nanoseconds are dropped). Imported open issues are routed
like reports (to the worker of their area, else up the ladder) and get one ``import`` history event at the moment
they entered the system: stages that were already overdue then are history, and the schedule does not escalate
them retroactively.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from core.audit import SYSTEM, Actor, record
from core.errors import InvalidInputError
from geo.crs import normalize_crs, to_wgs84
from geo.errors import GeoError
from issues import storage as st
from issues.desk import HAZARD_LEVELS, IssueDesk
from issues.escalation import IMPORT_ACTION
from issues.locating import place_points
from issues.text import FORBIDDEN_CHARACTERS, TEXT_LIMITS, text_problem
from issues.workflow import ACTIVE_STATES, LADDER, STATE_NAMES_ZH, STATES
from issues.worktime import zone

__all__ = ["BulkReport", "import_issues", "read_issue_table", "ALIASES"]

#: Accepted headers of each column.
ALIASES = {
    "external_id": ("external_id", "外部编号", "编号", "id"),
    "category": ("category", "类别", "事件类别"),
    "description": ("description", "描述", "事件描述"),
    "lon": ("lon", "经度", "longitude", "x"),
    "lat": ("lat", "纬度", "latitude", "y"),
    "crs": ("crs", "坐标系"),
    "reported_at": ("reported_at", "上报时间", "created_at"),
    "state": ("state", "状态"),
    "closed_at": ("closed_at", "结案时间"),
    "address": ("address", "地址"),
    "reporter_name": ("reporter_name", "上报人"),
    "hazard_level": ("hazard_level", "隐患等级"),
}
_REQUIRED = ("category", "lon", "lat", "reported_at")
_CHUNK = 20_000
#: How often the write is tried when a concurrent import of the same ids wins the race (PostgreSQL).
_ATTEMPTS = 3
#: Times before this year are refused (the People's Republic's records start in 1949; earlier years are typos).
EARLIEST_YEAR = 1949
#: How far after "now" a time may lie (clocks of phones and servers differ a little).
FUTURE_SLACK = pd.Timedelta(days=1)
#: States of an issue that has ended (only these keep a closing time).
_ENDED = ("closed", "void")
_UNREADABLE = "时间无法识别 unreadable time (e.g. 2024-05-01 09:30, or 2024-05-01T09:30:00-07:00)"


@dataclass
class BulkReport:
    """What an import found and did."""

    rows: int = 0
    imported: int = 0
    skipped: int = 0
    unlocated: int = 0
    routed: int = 0
    timezone: str = ""
    errors: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        """JSON-ready."""
        return asdict(self)


def read_issue_table(path: str | Path, encoding: str | None = None, sheet=0) -> pd.DataFrame:
    """Read a CSV (UTF-8 with or without BOM, else GB18030) or Excel file as text columns."""
    path = Path(path)
    if path.suffix.lower() in (".xlsx", ".xls"):
        return pd.read_excel(path, sheet_name=sheet, dtype=str)
    for enc in [encoding] if encoding else ["utf-8-sig", "gb18030"]:
        try:
            return pd.read_csv(path, dtype=str, encoding=enc, keep_default_na=False)
        except UnicodeDecodeError:
            continue
    raise InvalidInputError(f"无法识别编码 cannot decode {path}: give --encoding")


def _columns(frame: pd.DataFrame) -> pd.DataFrame:
    rename = {}
    lowered = {str(c).strip().lower(): c for c in frame.columns}
    for name, aliases in ALIASES.items():
        for alias in aliases:
            if alias.lower() in lowered:
                rename[lowered[alias.lower()]] = name
                break
    out = frame.rename(columns=rename)
    missing = [c for c in _REQUIRED if c not in out.columns]
    if missing:
        wanted = "; ".join(f"{c} ({'/'.join(ALIASES[c][:2])})" for c in missing)
        raise InvalidInputError(f"缺少列 missing columns: {wanted}; found: {', '.join(map(str, frame.columns))}")
    for name in ALIASES:
        if name not in out.columns:
            out[name] = ""
    return out[list(ALIASES)].fillna("").astype(str).apply(lambda s: s.str.strip())


def _times(values: pd.Series, tz: ZoneInfo, now: datetime) -> tuple[pd.Series, pd.Series]:
    """Each time to UTC, with its own offset, or read in ``tz`` without one; and a problem per row (or "").

    A time before :data:`EARLIEST_YEAR` or more than :data:`FUTURE_SLACK` after ``now`` is implausible (a
    mistyped year, or a year the local zone only knows in local mean time) and is an error of its row, as is
    any time pandas or Python cannot represent; such a time is never converted, so it can neither overflow nor
    come out shifted.
    """
    text = values.where(values != "")
    try:
        parsed = pd.to_datetime(text, errors="coerce", format="mixed")
    except (ValueError, TypeError, OverflowError):  # offsets differ between rows, or only some have one
        parsed = None
    if parsed is None:
        one = {v: _one_time(v, tz, now) for v in text.dropna().unique()}
        stamps = [one.get(v) if isinstance(v, str) else None for v in text]
        readable = pd.Series([s is not _BAD for s in stamps], index=values.index)
        implausible = pd.Series([s is _IMPLAUSIBLE for s in stamps], index=values.index)
        good = [s.as_unit("us") if isinstance(s, pd.Timestamp) else None for s in stamps]
        utc = pd.to_datetime(pd.Series(good, index=values.index, dtype=object), utc=True)
    else:
        readable = parsed.notna()
        implausible = readable & ~parsed.dt.year.between(EARLIEST_YEAR, now.year + 1)
        parsed = parsed.where(~implausible)  # never converted: no overflow near year 1 or 9999
        if isinstance(parsed.dtype, pd.DatetimeTZDtype):
            utc = parsed.dt.tz_convert("UTC")
        else:
            utc = parsed.dt.tz_localize(tz, ambiguous="NaT", nonexistent="NaT").dt.tz_convert("UTC")
    earliest = pd.Timestamp(datetime(EARLIEST_YEAR, 1, 1), tz=tz)
    out_of_range = utc.notna() & ((utc < earliest) | (utc > pd.Timestamp(now) + FUTURE_SLACK))
    implausible |= out_of_range
    utc = utc.where(~out_of_range).dt.floor("us")  # stored to the microsecond: nanoseconds are dropped here
    problem = pd.Series("", index=values.index, dtype=object)
    problem[text.notna() & ~readable] = _UNREADABLE
    problem[text.notna() & readable & implausible] = (
        f"时间不合理 implausible time: it must fall between {EARLIEST_YEAR} and one day from now "
        "(check the year and the UTC offset)"
    )
    problem[text.notna() & readable & ~implausible & utc.isna()] = (
        f"该时刻在时区 {tz.key} 不存在或有歧义（夏令时切换） the time does not exist or is ambiguous in {tz.key} "
        "(a daylight-saving change): give its UTC offset"
    )
    return utc, problem


_BAD = object()
_IMPLAUSIBLE = object()


def _one_time(value: str, tz: ZoneInfo, now: datetime):
    """One time as a UTC Timestamp.

    ``_BAD`` if unreadable, ``_IMPLAUSIBLE`` outside the years accepted, ``None`` if it does not exist or is
    ambiguous in ``tz``.
    """
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError, OverflowError):
        return _BAD
    if pd.isna(stamp):
        return _BAD
    if not EARLIEST_YEAR <= stamp.year <= now.year + 1:
        return _IMPLAUSIBLE
    if stamp.tzinfo is None:
        try:
            stamp = stamp.tz_localize(tz, ambiguous="raise", nonexistent="raise")
        except (ValueError, OverflowError):  # pytz-style AmbiguousTimeError / NonExistentTimeError are ValueErrors
            return None
    return stamp.tz_convert("UTC")


def _check(frame: pd.DataFrame, desk: IssueDesk, default_crs: str, tz: ZoneInfo, now: datetime):
    errors: list[dict] = []

    def bad(mask, column, message):
        for i in np.flatnonzero(np.asarray(mask)):
            errors.append({"row": int(i) + 2, "column": column, "value": frame[column].iat[i], "message": message})

    names = {c.name_zh: c.code for c in desk.catalog}
    category = frame["category"].replace(names)
    bad(~category.isin(list(desk.catalog.categories)), "category", "未知类别 unknown category")
    states = frame["state"].replace({zh: s for s, zh in STATE_NAMES_ZH.items()})
    states = states.where(states != "", np.where(frame["closed_at"] != "", "closed", "reported"))
    bad(~states.isin(STATES), "state", f"未知状态 unknown state; use {', '.join(STATES)}")
    hazard = (
        frame["hazard_level"].replace("", "general").map(lambda v: {z: k for k, z in HAZARD_LEVELS.items()}.get(v, v))
    )
    bad(~hazard.isin(list(HAZARD_LEVELS)), "hazard_level", "未知隐患等级 unknown hazard level")
    lon, lat = pd.to_numeric(frame["lon"], errors="coerce"), pd.to_numeric(frame["lat"], errors="coerce")
    bad(lon.isna() | ~np.isfinite(lon.fillna(np.nan)), "lon", "经度不是数字 longitude is not a number")
    bad(lat.isna() | ~np.isfinite(lat.fillna(np.nan)), "lat", "纬度不是数字 latitude is not a number")
    swapped = lon.between(-90, 90) & ~lat.between(-90, 90) & lat.between(-180, 180)
    bad(swapped, "lat", "纬度超出范围，经纬度可能颠倒 latitude out of range: lat/long look swapped")
    bad(~swapped & lat.notna() & ~lat.between(-90, 90), "lat", "纬度超出范围 latitude out of range")
    bad(lon.notna() & ~lon.between(-180, 180), "lon", "经度超出范围 longitude out of range")
    (reported, reported_problem), (closed, closed_problem) = (
        _times(frame["reported_at"], tz, now),
        _times(frame["closed_at"], tz, now),
    )
    bad(frame["reported_at"] == "", "reported_at", "缺少上报时间 the time reported is missing")
    for column, problem in (("reported_at", reported_problem), ("closed_at", closed_problem)):
        for message in problem[problem != ""].unique():
            bad(problem == message, column, message)
    bad(closed.notna() & reported.notna() & (closed < reported), "closed_at", "结案早于上报 closed before reported")
    open_closed = (frame["closed_at"] != "") & states.isin(STATES) & ~states.isin(_ENDED)
    for state in states[open_closed].unique():
        bad(
            open_closed & (states == state),
            "closed_at",
            f"状态为{STATE_NAMES_ZH[state]}的事件不能有结案时间 a {state} issue has no closing time: "
            "give state closed, or leave closed_at empty",
        )
    ext = frame["external_id"]
    bad((ext != "") & ext.duplicated(keep=False), "external_id", "外部编号重复 duplicate external id in the file")
    for column, limit in TEXT_LIMITS.items():
        if column not in frame.columns:
            continue
        bad(frame[column].str.len() > limit, column, f"文本过长 longer than {limit} characters")
        forbidden = frame[column].str.contains(FORBIDDEN_CHARACTERS.pattern, regex=True)
        for i in np.flatnonzero(forbidden.to_numpy(bool)):
            bad(np.arange(len(frame)) == i, column, f"文本无效 {text_problem(frame[column].iat[i])}")
    crs = frame["crs"].replace("", default_crs)
    x, y = lon.to_numpy(float).copy(), lat.to_numpy(float).copy()
    usable = np.isfinite(x) & np.isfinite(y) & lon.between(-180, 180).to_numpy() & lat.between(-90, 90).to_numpy()
    for name in crs.unique():
        rows = (crs == name).to_numpy()
        try:
            code = normalize_crs(name)
        except GeoError as exc:
            bad(rows, "crs", str(exc))
            continue
        sel = rows & usable
        if sel.any():
            x[sel], y[sel] = to_wgs84(x[sel], y[sel], code)
    columns = {
        "category": category,
        "state": states,
        "hazard_level": hazard,
        "reported_at": reported,
        "closed_at": closed,
    }
    return errors, columns, x, y


def import_issues(
    desk: IssueDesk,
    frame: pd.DataFrame,
    default_crs: str = "wgs84",
    actor: Actor = SYSTEM,
    progress=None,
    source: str = "",
    timezone: str | None = None,
) -> BulkReport:
    """Import historical issues (see the module text).

    Parameters
    ----------
    desk : IssueDesk
    frame : pandas.DataFrame
        The rows as text (see :func:`read_issue_table`).
    default_crs : str
        CRS of rows whose ``crs`` column is empty.
    actor : Actor
    progress : callable, optional
        ``progress(n)`` is called as rows are written.
    source : str
        Where the rows came from (in the audit entry and the issues' history).
    timezone : str, optional
        IANA zone of times written without a UTC offset (default: the deployment's, ``desk.calendar.tz``).

    Returns
    -------
    BulkReport
        Counts, the zone used, and every problem by row and column (then nothing was written).
    """
    registry = desk.registry
    tz = zone(timezone or desk.calendar.tz)
    frame = _columns(frame).reset_index(drop=True)
    report = BulkReport(rows=len(frame), timezone=tz.key)
    errors, cols, lon, lat = _check(frame, desk, default_crs, tz, desk.clock())
    if errors:
        report.errors = sorted(errors, key=lambda e: (e["row"], e["column"]))
        return report
    ext = frame["external_id"]
    with registry.store.engine.connect() as conn:
        known = _imported(conn, ext, actor)
    keep = ~ext.isin(known).to_numpy()
    report.skipped = int((~keep).sum())
    generation = registry.current_generation()
    placed = place_points(registry, lon[keep], lat[keep], generation, desk.near_boundary_m)
    outside = np.flatnonzero(pd.isna(placed.level))
    if len(outside):
        rows = np.flatnonzero(keep)[outside]
        report.errors = [
            {"row": int(i) + 2, "column": "lon/lat", "value": f"{frame['lon'].iat[i]}, {frame['lat'].iat[i]}",
             "message": "位置不在任何街道内 outside every street in the registry"}
            for i in rows
        ]  # fmt: skip
        return report
    rows = _rows(desk, frame, cols, lon, lat, keep, placed, generation, actor)
    for attempt in range(_ATTEMPTS):
        try:
            with registry.store.transaction() as conn:
                # Another import of the same ids may have committed since the first look: checked again here,
                # where no other writer can add them (SQLite's one writer; on PostgreSQL the unique index
                # makes a concurrent insert of the same id wait for this one and then fail, and it retries).
                taken = rows["external_id"].isin(_imported(conn, rows["external_id"], actor)).to_numpy()
                written = rows[~taken].reset_index(drop=True)
                for start in range(0, len(written), _CHUNK):
                    chunk = written.iloc[start : start + _CHUNK]
                    st.insert_issue_rows(registry.store, conn, chunk)
                    if progress:
                        progress(len(chunk))
                _mark_entry(conn, registry, written, actor, source, desk.clock())
                summary = {
                    "source": source,
                    "rows": report.rows,
                    "imported": len(written),
                    "skipped": report.skipped + int(taken.sum()),
                    "timezone": report.timezone,
                }
                record(conn, actor, "import", "issue", source, None, summary)
            break
        except st.IntegrityError:
            with registry.store.engine.connect() as conn:
                if attempt == _ATTEMPTS - 1 or not _imported(conn, rows["external_id"], actor):
                    raise  # not a concurrent import of the same ids
    report.skipped += int(taken.sum())
    report.routed = int((written["assignee_name"] != "").sum())
    report.unlocated = int(written["micro_grid_code"].isna().sum())
    report.imported = len(written)
    return report


def _imported(conn, external_ids: pd.Series, actor: Actor) -> set[str]:
    """The external ids among ``external_ids`` that ``actor`` imported before (empty and missing ids are none)."""
    wanted = [e for e in pd.unique(external_ids.dropna()) if e]
    return st.imported_external_ids(conn, wanted, actor.user_id)


def _mark_entry(conn, registry, rows: pd.DataFrame, actor: Actor, source: str, now: datetime) -> None:
    """One ``import`` event per imported open issue: when it entered the system (escalation starts from there)."""
    open_ = rows[~rows["state"].isin(["closed", "void"])]
    if open_.empty:
        return
    prefix = str(open_["token"].iat[0]).rsplit("-", 1)[0] + "-"
    found = st.open_issues_by_token_prefix(conn, prefix)
    events = pd.DataFrame(
        {
            "issue_id": [issue_id for issue_id, _, _ in found],
            "at": pd.Series([now] * len(found), dtype=object),
            "user_id": pd.Series([actor.user_id] * len(found), dtype=object),
            "user_name": actor.name,
            "action": IMPORT_ACTION,
            "from_state": pd.Series([None] * len(found), dtype=object),
            "to_state": [state for _, state, _ in found],
            "from_level": pd.Series([None] * len(found), dtype=object),
            "to_level": [level for _, _, level in found],
            "note": f"导入 imported from {source or 'a file'}",
        }
    )
    st.insert_event_rows(registry.store, conn, events)


def _routing(desk: IssueDesk, state, placed) -> dict:
    """The assignee columns: imported open issues are routed as reports are; closed ones keep nobody."""
    n = len(state)
    worker_id, name = np.full(n, None, dtype=object), np.full(n, "", dtype=object)
    cache: dict[tuple, dict] = {}
    for j in np.flatnonzero(~np.isin(state, ["closed", "void"])):
        where = {"level": placed.level[j], **{f"{lvl}_code": placed.codes[f"{lvl}_code"][j] for lvl in LADDER}}
        key = (where["level"], *(where[f"{lvl}_code"] for lvl in LADDER))
        if key not in cache:
            cache[key] = desk.routed(where)
        worker_id[j], name[j] = cache[key]["assignee_worker_id"], cache[key]["assignee_name"]
    return {"assignee_worker_id": worker_id, "assignee_name": name}


def _rows(desk, frame, cols, lon, lat, keep, placed, generation, actor) -> pd.DataFrame:
    """The issue rows to insert, built column by column."""
    idx = np.flatnonzero(keep)
    n = len(idx)
    state = cols["state"].to_numpy(dtype=object)[idx]
    category = cols["category"].to_numpy(dtype=object)[idx]
    created = cols["reported_at"].iloc[idx]
    closed = cols["closed_at"].iloc[idx]
    ended = np.isin(state, ["closed", "void"])
    due = np.full(n, None, dtype=object)
    for j in np.flatnonzero(np.isin(state, ACTIVE_STATES)):  # open historical issues are few; closed need no clock
        due[j] = desk.due(category[j], state[j], created.iat[j].to_pydatetime())
    created_py = np.array(created.dt.to_pydatetime(), dtype=object)
    closed_py = np.array([None if pd.isna(v) else v.to_pydatetime() for v in closed], dtype=object)
    text = {k: frame[k].to_numpy(dtype=object)[idx] for k in ("external_id", "description", "address", "reporter_name")}
    columns = {
        "external_id": np.where(text["external_id"] == "", None, text["external_id"]),
        "channel": np.full(n, "import", dtype=object),
        # Open311 tokens: unique, and ordered within the batch so the index takes them in sequence
        "token": np.char.add(f"imp-{uuid.uuid4().hex[:12]}-", np.arange(n).astype(str)).astype(object),
        "category": category,
        "description": text["description"],
        "address": text["address"],
        "hazard_level": cols["hazard_level"].to_numpy(dtype=object)[idx],
        "lon": lon[idx].astype(float),
        "lat": lat[idx].astype(float),
        "crs_reported": frame["crs"].replace("", "wgs84").to_numpy(dtype=object)[idx],
        "lon_reported": pd.to_numeric(frame["lon"]).to_numpy(float)[idx],
        "lat_reported": pd.to_numeric(frame["lat"]).to_numpy(float)[idx],
        "generation": np.full(n, generation),
        **{k: v for k, v in placed.codes.items()},
        "location_status": placed.status,
        "on_boundary": placed.on_boundary,
        "near_boundary": placed.near_boundary,
        "level": placed.level,
        "handler_code": placed.handler,
        **_routing(desk, state, placed),
        "state": state,
        "reporter_name": text["reporter_name"],
        "created_by": np.full(n, actor.user_id, dtype=object),
        "created_at": created_py,
        "updated_at": np.where(ended & (closed_py != None), closed_py, created_py),  # noqa: E711
        "stage_started_at": created_py,
        "due_at": due,
        "closed_at": np.where(ended, closed_py, None),
    }
    return pd.DataFrame({k: pd.Series(v, dtype=object) for k, v in columns.items()})
