"""Bulk import of historical issues from CSV or Excel.

All rows are checked first, every problem is reported with its row and column, and nothing is written unless
every row is good (one transaction for the file).

Columns (English or Chinese headers): ``external_id`` 外部编号, ``category`` 类别 (code or Chinese name),
``description`` 描述, ``lon`` 经度, ``lat`` 纬度, ``crs`` 坐标系, ``reported_at`` 上报时间, ``state`` 状态 (code or
Chinese name; default ``closed`` when ``closed_at`` is given, else ``reported``), ``closed_at`` 结案时间,
``address`` 地址, ``reporter_name`` 上报人, ``hazard_level`` 隐患等级. Rows whose external id was imported before are
skipped, so a file can be imported again after fixing its errors.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import sqlalchemy as sa

from boundaries.audit import SYSTEM, Actor, record
from boundaries.errors import InvalidInputError
from boundaries.storage import tables as t
from geo.crs import normalize_crs, to_wgs84
from geo.errors import GeoError
from issues.desk import HAZARD_LEVELS, IssueDesk
from issues.locating import place_points
from issues.workflow import ACTIVE_STATES, STATE_NAMES_ZH, STATES

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
_LOCAL = ZoneInfo("Asia/Shanghai")
_CHUNK = 20_000


@dataclass
class BulkReport:
    """What an import found and did."""

    rows: int = 0
    imported: int = 0
    skipped: int = 0
    unlocated: int = 0
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


def _times(values: pd.Series) -> pd.Series:
    parsed = pd.to_datetime(values.where(values != ""), errors="coerce", format="mixed")
    naive = parsed.dt.tz is None
    return (parsed.dt.tz_localize(_LOCAL) if naive else parsed).dt.tz_convert("UTC")


def _check(frame: pd.DataFrame, desk: IssueDesk, default_crs: str):
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
    reported, closed = _times(frame["reported_at"]), _times(frame["closed_at"])
    bad(reported.isna(), "reported_at", "时间无法识别 unreadable time (e.g. 2024-05-01 09:30)")
    bad((frame["closed_at"] != "") & closed.isna(), "closed_at", "时间无法识别 unreadable time")
    bad(closed.notna() & reported.notna() & (closed < reported), "closed_at", "结案早于上报 closed before reported")
    ext = frame["external_id"]
    bad((ext != "") & ext.duplicated(keep=False), "external_id", "外部编号重复 duplicate external id in the file")
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
) -> BulkReport:
    """Import historical issues (see the module text); ``progress(n)`` is called as rows are written."""
    registry = desk.registry
    frame = _columns(frame).reset_index(drop=True)
    report = BulkReport(rows=len(frame))
    errors, cols, lon, lat = _check(frame, desk, default_crs)
    if errors:
        report.errors = sorted(errors, key=lambda e: (e["row"], e["column"]))
        return report
    ext = frame["external_id"]
    known = set()
    c = t.issues.c
    mine = c.created_by.is_(None) if actor.user_id is None else c.created_by == actor.user_id
    with registry.store.engine.connect() as conn:
        wanted = [e for e in ext.unique() if e]
        for start in range(0, len(wanted), 5000):
            known |= set(
                conn.execute(
                    sa.select(c.external_id).where(
                        c.channel == "import", mine, c.external_id.in_(wanted[start : start + 5000])
                    )
                ).scalars()
            )
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
    report.unlocated = int(pd.isna(placed.codes["micro_grid_code"]).sum())
    rows = _rows(desk, frame, cols, lon, lat, keep, placed, generation, actor)
    with registry.store.transaction() as conn:
        for start in range(0, len(rows), _CHUNK):
            chunk = rows.iloc[start : start + _CHUNK]
            registry.store.bulk_insert(conn, "issues", chunk)
            if progress:
                progress(len(chunk))
        summary = {"source": source, "rows": report.rows, "imported": len(rows), "skipped": report.skipped}
        record(conn, actor, "import", "issue", source, None, summary)
    report.imported = len(rows)
    return report


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
        "assignee_name": np.full(n, "", dtype=object),
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
