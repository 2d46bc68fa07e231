"""Working time: time limits count working hours in the local time zone, skipping nights, weekends and holidays.

China's public holidays and the weekend days that become working days (调休) come from the
``chinesecalendar`` package, which carries the State Council's published schedule (through 2026 in the
installed version). For years it does not cover, Monday–Friday are working days, minus ``holidays`` and plus
``workdays`` from the configuration (``WORK_CALENDAR``). No library computes "start + N working hours"
over such a calendar, so that arithmetic is here: walk the working periods day by day.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import chinese_calendar

from core.errors import InvalidInputError

__all__ = ["WorkCalendar", "local_text", "zone_label", "to_utc", "zone"]


def zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name``, or :class:`InvalidInputError` naming it."""
    try:
        return ZoneInfo(str(name))
    except (ValueError, KeyError) as exc:  # ZoneInfoNotFoundError is a KeyError
        raise InvalidInputError(
            f"未知时区 unknown time zone {name!r}: give an IANA name such as Asia/Shanghai"
        ) from exc


def local_text(value, tz: str | ZoneInfo = "Asia/Shanghai", seconds: bool = False) -> str:
    """An instant (aware datetime or ISO text; naive means UTC, as stored) as wall-clock text in ``tz``.

    Parameters
    ----------
    value : datetime, str or None
    tz : str or ZoneInfo
        The deployment's zone.
    seconds : bool
        Keep the seconds.

    Returns
    -------
    str
        ``YYYY-MM-DD HH:MM`` (or with ``:SS``), ``""`` for ``None``.

    Examples
    --------
    >>> local_text("2026-11-27T13:52:10+00:00")
    '2026-11-27 21:52'
    """
    if value is None or value == "" or (isinstance(value, float) and value != value):  # None, "" or NaN
        return ""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    local = value.astimezone(tz if isinstance(tz, ZoneInfo) else zone(tz))
    return local.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def zone_label(tz: str | ZoneInfo = "Asia/Shanghai", when: datetime | None = None) -> str:
    """How a page or a file names the deployment's zone, e.g. ``Asia/Shanghai, UTC+08:00``."""
    tzinfo = tz if isinstance(tz, ZoneInfo) else zone(tz)
    offset = (when or datetime.now(timezone.utc)).astimezone(tzinfo).strftime("%z")
    return f"{tzinfo.key}, UTC{offset[:3]}:{offset[3:]}"


def to_utc(value: datetime | None, tz: str | ZoneInfo = "Asia/Shanghai", name: str = "time") -> datetime | None:
    """An instant as aware UTC; a naive ``value`` is read as wall-clock time in ``tz`` (the deployment's zone).

    Every time filter converts its parameter with this before comparing it with stored (UTC) times, so one
    instant written with any offset selects the same rows.

    Parameters
    ----------
    value : datetime or None
    tz : str or ZoneInfo
        Zone of naive values.
    name : str
        The parameter's name, for the error message.

    Returns
    -------
    datetime or None
        Aware, in UTC.

    Raises
    ------
    InvalidInputError
        When the instant lies outside the years 1–9999 in UTC (e.g. ``0001-01-01T00:00:00+14:00``).

    Examples
    --------
    >>> to_utc(datetime(2026, 11, 23, 15, 0)).isoformat()
    '2026-11-23T07:00:00+00:00'
    """
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=tz if isinstance(tz, ZoneInfo) else zone(tz))
    try:
        return value.astimezone(timezone.utc)
    except (OverflowError, ValueError) as exc:
        raise InvalidInputError(
            f"{name} 超出范围 {name} is out of range: the instant must fall within the years 1–9999 in UTC"
        ) from exc


def _parse_time(text) -> time:
    """``HH:MM`` as a time of day, or :class:`InvalidInputError` naming the text."""
    try:
        hours, minutes = str(text).split(":")
        if len(hours) not in (1, 2) or len(minutes) != 2:
            raise ValueError(text)
        return time(int(hours), int(minutes))
    except ValueError as exc:
        raise InvalidInputError(f"工作时段时间无效 working period time {text!r} is not HH:MM (e.g. 09:00)") from exc


def _periods(periods) -> list[tuple[time, time]]:
    """Working periods as sorted ``(start, end)`` times: at least one, each ending after it starts, none overlapping."""
    if not isinstance(periods, list | tuple) or not periods:
        raise InvalidInputError(
            '工作时段不能为空 periods must list at least one working period, e.g. [["09:00", "12:00"]]'
        )
    out = []
    for period in periods:
        if not isinstance(period, list | tuple) or len(period) != 2:
            raise InvalidInputError(f"工作时段应为 [开始, 结束] each of periods must be [start, end], not {period!r}")
        start, end = _parse_time(period[0]), _parse_time(period[1])
        if end <= start:
            raise InvalidInputError(
                f"工作时段结束早于开始 working period {period[0]}–{period[1]} ends before it starts "
                "(a period may not cross midnight)"
            )
        out.append((start, end))
    out.sort()
    for (_, end), (start, _) in zip(out, out[1:], strict=False):
        if start < end:
            raise InvalidInputError(
                f"工作时段重叠 working periods overlap at {start:%H:%M}: hours would be counted twice"
            )
    return out


def _dates(values, name: str) -> set[date]:
    if not isinstance(values, list | tuple):
        raise InvalidInputError(f"{name} 应为日期列表 {name} must be a list of ISO dates (2026-10-01)")
    out = set()
    for value in values:
        try:
            out.add(date.fromisoformat(str(value)))
        except ValueError as exc:
            raise InvalidInputError(f"{name} 日期无效 {name}: {value!r} is not an ISO date (2026-10-01)") from exc
    return out


@dataclass
class WorkCalendar:
    """Working periods of a day, in a time zone, with holidays.

    Parameters
    ----------
    tz : str
        IANA time zone (default ``Asia/Shanghai``).
    periods : list of (str, str)
        Working periods of a working day, ``HH:MM`` (default 09:00–12:00 and 13:00–18:00: 8 hours).
    holidays, workdays : list of str
        ISO dates added as holidays / as working days, on top of the official calendar.
    """

    tz: str = "Asia/Shanghai"
    periods: list = field(default_factory=lambda: [("09:00", "12:00"), ("13:00", "18:00")])
    holidays: list = field(default_factory=list)
    workdays: list = field(default_factory=list)

    def __post_init__(self):
        self._zone = zone(self.tz)
        self._periods = _periods(self.periods)
        self._holidays = _dates(self.holidays, "holidays")
        self._workdays = _dates(self.workdays, "workdays")
        both = sorted(self._holidays & self._workdays)
        if both:
            raise InvalidInputError(
                f"同一天既是节假日又是工作日 {both[0].isoformat()} is both in holidays and in workdays: keep it in one"
            )

    @classmethod
    def from_config(cls, config: dict | None) -> WorkCalendar:
        """A calendar from the ``WORK_CALENDAR`` setting (a dict of the constructor's parameters).

        Raises
        ------
        InvalidInputError
            On an unknown key, a bad zone or date, and periods that are empty, inverted or overlapping.
        """
        config = config or {}
        unknown = sorted(set(config) - {"tz", "periods", "holidays", "workdays"})
        if unknown:
            raise InvalidInputError(
                f"未知日历参数 unknown calendar key(s) {', '.join(map(str, unknown))}; known: tz, periods, "
                "holidays, workdays"
            )
        return cls(**config)

    def is_workday(self, day: date) -> bool:
        """Whether ``day`` is a working day."""
        if day in self._workdays:
            return True
        if day in self._holidays:
            return False
        try:
            return chinese_calendar.is_workday(day)
        except NotImplementedError:  # a year the package has no schedule for
            return day.weekday() < 5

    def _spans(self, day: date):
        for start, end in self._periods:
            yield (
                datetime.combine(day, start, self._zone).astimezone(timezone.utc),
                datetime.combine(day, end, self._zone).astimezone(timezone.utc),
            )

    def add(self, start: datetime, hours: float) -> datetime:
        """The moment ``hours`` working hours after ``start`` (UTC, aware)."""
        left = timedelta(hours=hours)
        day = start.astimezone(self._zone).date()
        for _ in range(3660):  # ten years of days: a limit never reaches that far
            if self.is_workday(day):
                for a, b in self._spans(day):
                    a = max(a, start)
                    if a >= b:
                        continue
                    if b - a >= left:
                        return a + left
                    left -= b - a
            day += timedelta(days=1)
        raise ValueError(f"no working time within ten years of {start}")

    def between(self, a: datetime, b: datetime) -> float:
        """Working hours from ``a`` to ``b`` (0 when ``b`` is not after ``a``)."""
        if b <= a:
            return 0.0
        total = timedelta()
        day, last = a.astimezone(self._zone).date(), b.astimezone(self._zone).date()
        while day <= last:
            if self.is_workday(day):
                for s, e in self._spans(day):
                    lo, hi = max(s, a), min(e, b)
                    if hi > lo:
                        total += hi - lo
            day += timedelta(days=1)
        return total.total_seconds() / 3600
