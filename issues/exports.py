"""The issue queue as a file: Excel or CSV, every cell safe to open (see :func:`issues.text.spreadsheet_cell`)."""

from __future__ import annotations

import io

import pandas as pd

from issues.text import spreadsheet_cell

__all__ = ["EXPORT_TYPES", "export_file"]

#: File format → content type.
EXPORT_TYPES = {"xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "csv": "text/csv"}


def export_file(frame: pd.DataFrame, fmt: str) -> bytes:
    """``frame`` (from :func:`issues.queries.export_frame`) as an xlsx workbook or CSV file.

    Every text cell passes :func:`~issues.text.spreadsheet_cell`: characters a workbook cannot hold (in text
    stored before intake refused them) become U+FFFD instead of failing the export, and text starting with
    ``=``, ``+``, ``-``, ``@``, tab or CR gets a leading ``'`` so that Excel or LibreOffice shows it rather than
    running it as a formula. The CSV starts with a BOM so Excel reads the Chinese headers.

    Parameters
    ----------
    frame : pandas.DataFrame
    fmt : {"xlsx", "csv"}

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
    safe.to_excel(buffer, index=False, sheet_name="事件")
    return buffer.getvalue()
