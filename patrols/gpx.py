"""Reading GPX 1.0 / 1.1 files from workers' GPS devices, safely.

gpxpy parses with the standard library's ElementTree (lxml when installed), which expands entities declared
in a DTD: a few hundred bytes can become gigabytes ("billion laughs"). GPX needs no DTD, so a file declaring
one (``<!DOCTYPE`` or ``<!ENTITY``) is refused before any parsing, as defusedxml's ``forbid_dtd`` does. The text
is decoded here, by its XML declaration (UTF-8 by default; GBK, GB2312 and GB18030 read as GB18030; UTF-16 by
its byte-order mark), so a Chinese device's file is read correctly and bytes wrong for the encoding are a clear
error rather than a crash.
"""

from __future__ import annotations

import codecs
import re

import gpxpy
import gpxpy.gpx
import numpy as np

from boundaries.errors import InvalidInputError

__all__ = ["GpxError", "read_gpx"]

_DECLARATION = re.compile(rb"^\s*<\?xml[^>]*encoding\s*=\s*[\"']([A-Za-z0-9._-]+)[\"']", re.S)
_CHINESE = {"gbk", "gb2312", "gb18030", "cp936"}


class GpxError(InvalidInputError):
    """A file that is not a usable GPX track."""

    code = "bad_gpx"


def _text(data: bytes) -> str:
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf-16"
    else:
        found = _DECLARATION.match(data[:200].lstrip(codecs.BOM_UTF8))
        encoding = found.group(1).decode("ascii").lower() if found else "utf-8"
        encoding = "gb18030" if encoding in _CHINESE else encoding
    try:
        codecs.lookup(encoding)
    except LookupError as exc:
        raise GpxError(f"不支持的文件编码 unsupported encoding {encoding!r} in the GPX file") from exc
    try:
        text = data.decode("utf-8-sig" if encoding in ("utf-8", "utf8") else encoding)
    except UnicodeDecodeError as exc:
        raise GpxError(
            f"文件内容与其编码 {encoding} 不符 the GPX file is not valid {encoding} (byte {exc.start})"
        ) from exc
    return re.sub(r"^\s*<\?xml[^>]*\?>", "", text, count=1)  # the text is decoded: drop the declaration


def read_gpx(data: bytes) -> list[dict]:
    """The tracks of a GPX file: one dict of arrays (``t`` seconds, ``lon``, ``lat``, ``accuracy``) per track.

    Track points only (``trk``/``trkseg``/``trkpt``; segments of one track are joined). Accuracy comes from
    ``hdop`` × 5 m when given (a common rule of thumb), else unknown (``nan``).

    Parameters
    ----------
    data : bytes
        The file.

    Returns
    -------
    list of dict

    Raises
    ------
    GpxError
        Not XML or not GPX, a DTD (entities), no track point, a track point without a time or with a time
        without a zone, coordinates out of range.
    """
    text = _text(data)
    if re.search(r"<!\s*(DOCTYPE|ENTITY)", text, re.I):
        raise GpxError("GPX 文件不得包含 DTD 或实体声明 a GPX file must not declare a DTD or entities")
    try:
        parsed = gpxpy.parse(text)
    except (gpxpy.gpx.GPXException, ValueError, TypeError, AttributeError, IndexError) as exc:
        raise GpxError("不是有效的 GPX 文件 not a valid GPX 1.0/1.1 file") from exc
    tracks = []
    for track in parsed.tracks:
        points = [p for segment in track.segments for p in segment.points]
        if not points:
            continue
        if any(p.time is None for p in points):
            raise GpxError("GPX 轨迹点缺少时间 every track point needs a <time>")
        if any(p.time.tzinfo is None or p.time.utcoffset() is None for p in points):
            raise GpxError("GPX 时间须带时区 track point times need a zone (e.g. 2026-11-27T01:00:00Z)")
        lon = np.array([p.longitude for p in points], float)
        lat = np.array([p.latitude for p in points], float)
        if not (np.all(np.abs(lon) <= 180) and np.all(np.abs(lat) <= 90)):
            raise GpxError("GPX 坐标超出范围 track point coordinates out of range")
        hdop = np.array([np.nan if p.horizontal_dilution is None else p.horizontal_dilution for p in points], float)
        tracks.append(
            {"t": np.array([p.time.timestamp() for p in points], float), "lon": lon, "lat": lat, "accuracy": hdop * 5}
        )
    if not tracks:
        raise GpxError("GPX 文件中没有轨迹点 the GPX file holds no track points (<trkpt>)")
    return tracks
