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
from datetime import datetime

import gpxpy
import gpxpy.gpx
import numpy as np

from core.errors import InvalidInputError

__all__ = ["GpxError", "GpxTooLargeError", "read_gpx", "TIME_RANGE"]

_DECLARATION = re.compile(rb"^\s*<\?xml[^>]*encoding\s*=\s*[\"']([A-Za-z0-9._-]+)[\"']", re.S)
_CHINESE = {"gbk", "gb2312", "gb18030", "cp936"}
_TIME_TEXT = re.compile(r"<time>\s*([^<]*?)\s*</time>")
#: Seconds since the epoch a track point's time must lie in: 1970-01-01 to 2200-01-01 (UTC).
TIME_RANGE = (0.0, 7_258_118_400.0)


_OUT_OF_RANGE = (
    "GPX 时间超出范围（须在 1970 至 2200 年之间）track point times must lie between 1970-01-01 and 2200-01-01 (UTC)"
)


class GpxError(InvalidInputError):
    """A file that is not a usable GPX track."""

    code = "bad_gpx"


class GpxTooLargeError(GpxError):
    """A file with more tracks or track points than the deployment accepts in one upload."""

    code = "too_large"


def _text(data: bytes) -> str:
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf-16"
    else:
        found = _DECLARATION.match(data[:200].lstrip(codecs.BOM_UTF8))
        encoding = found.group(1).decode("ascii").lower() if found else "utf-8"
        encoding = "gb18030" if encoding in _CHINESE else encoding
    unsupported = f"不支持的文件编码 unsupported encoding {encoding!r} in the GPX file (not a text encoding)"
    try:
        found_codec = codecs.lookup(encoding)
    except LookupError as exc:
        raise GpxError(unsupported) from exc
    if not getattr(found_codec, "_is_text_encoding", True):  # base64, hex, rot13, zlib …: not text encodings
        raise GpxError(unsupported)
    try:
        text = data.decode("utf-8-sig" if encoding in ("utf-8", "utf8") else encoding)
    except LookupError as exc:
        raise GpxError(unsupported) from exc
    except UnicodeDecodeError as exc:
        raise GpxError(
            f"文件内容与其编码 {encoding} 不符 the GPX file is not valid {encoding} (byte {exc.start})"
        ) from exc
    return re.sub(r"^\s*<\?xml[^>]*\?>", "", text, count=1)  # the text is decoded: drop the declaration


def _bad_time(text: str) -> str | None:
    """The first ``<time>`` text of the file that is not an ISO 8601 time with a zone, if any."""
    for value in _TIME_TEXT.findall(text):
        try:
            datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            return value
    return None


def read_gpx(data: bytes, max_tracks: int = 20, max_points: int = 50_000, max_hours: float = 24.0) -> list[dict]:
    """The tracks of a GPX file: one dict of arrays (``t`` seconds, ``lon``, ``lat``, ``accuracy``) per track.

    Track points only (``trk``/``trkseg``/``trkpt``; segments of one track are joined). Accuracy comes from
    ``hdop`` × 5 m when given (a common rule of thumb), else unknown (``nan``). The limits are checked on the
    text before the file is parsed, so an oversized file costs a scan, not a parse.

    Parameters
    ----------
    data : bytes
        The file.
    max_tracks, max_points : int
        At most this many tracks and track points in the file (more: :class:`GpxTooLargeError`).
    max_hours : float
        A track may span at most this many hours from its first to its last point.

    Returns
    -------
    list of dict

    Raises
    ------
    GpxError
        Not XML or not GPX, a DTD (entities), no track point, a track point without a time, with a time that
        is not ISO 8601, without a zone or outside 1970–2200, coordinates out of range, a track too long.
    GpxTooLargeError
        More tracks or points than allowed.
    """
    text = _text(data)
    if re.search(r"<!\s*(DOCTYPE|ENTITY)", text, re.I):
        raise GpxError("GPX 文件不得包含 DTD 或实体声明 a GPX file must not declare a DTD or entities")
    n_tracks = len(re.findall(r"<(?:\w+:)?trk[\s>]", text))
    if n_tracks > max_tracks:
        raise GpxTooLargeError(
            f"GPX 文件有 {n_tracks} 条轨迹，每次最多 {max_tracks} 条 the GPX file holds {n_tracks} tracks; "
            f"at most {max_tracks} per upload"
        )
    n_points = len(re.findall(r"<(?:\w+:)?trkpt[\s>/]", text))
    if n_points > max_points:
        raise GpxTooLargeError(
            f"GPX 文件有 {n_points} 个轨迹点，每次最多 {max_points} 个 the GPX file holds {n_points} track points; "
            f"at most {max_points} per upload"
        )
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
            bad = _bad_time(text)
            if bad is not None:
                raise GpxError(
                    f"GPX 时间 {bad[:40]!r} 不是有效的 ISO 8601 时间 the track point time {bad[:40]!r} is not a valid "
                    "ISO 8601 time (e.g. 2026-11-27T01:00:00Z)"
                )
            raise GpxError("GPX 轨迹点缺少时间 every track point needs a <time>")
        if any(p.time.tzinfo is None or p.time.utcoffset() is None for p in points):
            raise GpxError("GPX 时间须带时区 track point times need a zone (e.g. 2026-11-27T01:00:00Z)")
        try:
            seconds = np.array([p.time.timestamp() for p in points], float)
        except (OverflowError, ValueError, OSError) as exc:
            raise GpxError(_OUT_OF_RANGE) from exc
        if not np.all((seconds >= TIME_RANGE[0]) & (seconds < TIME_RANGE[1])):
            raise GpxError(_OUT_OF_RANGE)
        hours = (seconds.max() - seconds.min()) / 3600
        if hours > max_hours:
            raise GpxError(
                f"GPX 轨迹长达 {hours:.1f} 小时，每条最多 {max_hours:g} 小时 a track spans {hours:.1f} h; "
                f"a track may span at most {max_hours:g} h (split it)"
            )
        lon = np.array([p.longitude for p in points], float)
        lat = np.array([p.latitude for p in points], float)
        if not (np.all(np.abs(lon) <= 180) and np.all(np.abs(lat) <= 90)):
            raise GpxError("GPX 坐标超出范围 track point coordinates out of range")
        hdop = np.array([np.nan if p.horizontal_dilution is None else p.horizontal_dilution for p in points], float)
        tracks.append({"t": seconds, "lon": lon, "lat": lat, "accuracy": hdop * 5})
    if not tracks:
        raise GpxError("GPX 文件中没有轨迹点 the GPX file holds no track points (<trkpt>)")
    return tracks
