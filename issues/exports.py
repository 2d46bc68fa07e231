"""The issue queue as a file: Excel or CSV, named like the pages, every cell safe to open.

:func:`export_frame` reads the queue (the same filters and order as the API's list) and labels it with the names
the caller's pages use — the web layer passes the headers and the value names in the page's language, so the
domain keeps identifiers and no language of its own. :func:`export_file` writes it (see
:func:`issues.text.spreadsheet_cell`).
"""

from __future__ import annotations

import io
from collections.abc import Mapping

import pandas as pd

from boundaries.scope import ScopedRegistry
from issues.queries import list_issues
from issues.text import spreadsheet_cell
from issues.worktime import local_text, zone_label

__all__ = ["EXPORT_TYPES", "EXPORT_COLUMNS", "TIME_COLUMNS", "export_frame", "export_file"]

#: File format → content type.
EXPORT_TYPES = {"xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "csv": "text/csv"}

#: The columns of the export, in order (issue fields; ``overdue`` is whether the issue is overdue now).
EXPORT_COLUMNS = (
    "id",
    "category",
    "state",
    "hazard_level",
    "description",
    "address",
    "lon",
    "lat",
    "micro_grid_code",
    "grid_code",
    "community_code",
    "street_code",
    "level",
    "assignee_name",
    "created_at",
    "due_at",
    "closed_at",
    "overdue",
    "escalations",
    "reporter_name",
    "reporter_phone",
)

#: Columns that hold instants: written as wall-clock times in the deployment's zone, which their headers name.
TIME_COLUMNS = ("created_at", "due_at", "closed_at")


def export_frame(
    view: ScopedRegistry,
    headers: Mapping[str, str],
    names: Mapping[str, Mapping] | None = None,
    **filters,
) -> pd.DataFrame:
    """Every issue matching the queue filters, labelled for a spreadsheet.

    Parameters
    ----------
    view : ScopedRegistry
        The caller's view: only the issues they may see.
    headers : mapping
        Column of :data:`EXPORT_COLUMNS` → its header (every column needs one). The headers of
        :data:`TIME_COLUMNS` get the zone appended, e.g. ``上报时间 (Asia/Shanghai, UTC+08:00)``.
    names : mapping, optional
        Column → ``{value: name}``: values are shown by these names (a value without a name as it is), e.g.
        ``{"state": {"reported": "已上报"}, "overdue": {True: "是", False: "否"}}``.
    **filters
        The filters of :func:`issues.queries.list_issues` (``tz`` is the deployment's zone).

    Returns
    -------
    pandas.DataFrame
        One row per issue, newest first, with the headers as column names.
    """
    missing = [c for c in EXPORT_COLUMNS if c not in headers]
    if missing:
        raise ValueError(f"export headers missing for {', '.join(missing)}")
    rows, _ = list_issues(view, per_page=10**9, **filters)
    frame = pd.DataFrame(rows, columns=list(EXPORT_COLUMNS))
    for column, named in (names or {}).items():
        frame[column] = [named.get(v, v) for v in frame[column]]
    tz = filters.get("tz", "Asia/Shanghai")
    label = zone_label(tz)
    titles = {c: str(headers[c]) for c in EXPORT_COLUMNS}
    for column in TIME_COLUMNS:
        frame[column] = [local_text(v, tz) for v in frame[column]]
        titles[column] = f"{titles[column]} ({label})"
    return frame.rename(columns=titles)


def export_file(frame: pd.DataFrame, fmt: str, sheet: str = "事件") -> bytes:
    """``frame`` (from :func:`export_frame`) as an xlsx workbook or CSV file.

    Every text cell passes :func:`~issues.text.spreadsheet_cell`: characters a workbook cannot hold (in text
    stored before intake refused them) become U+FFFD instead of failing the export, and text starting with
    ``=``, ``+``, ``-``, ``@``, tab or CR gets a leading ``'`` so that Excel or LibreOffice shows it rather than
    running it as a formula. The CSV starts with a BOM so Excel reads Chinese headers.

    Parameters
    ----------
    frame : pandas.DataFrame
    fmt : {"xlsx", "csv"}
    sheet : str
        The workbook's sheet name (at most 31 characters).

    Returns
    -------
    bytes
    """
    safe = frame.astype(object).map(spreadsheet_cell) if len(frame) else frame
    if fmt == "csv":
        # CRLF rows, as RFC 4180 says: a field holding a bare CR or LF is then quoted
        return safe.to_csv(index=False, lineterminator="\r\n").encode("utf-8-sig")
    if fmt != "xlsx":
        raise ValueError(f"unknown export format {fmt!r}")
    buffer = io.BytesIO()
    safe.to_excel(buffer, index=False, sheet_name=str(sheet)[:31] or "Sheet1")
    return buffer.getvalue()
