"""Visit cycles: when the current cycle began, and the cycles of a period.

A cycle is either a number of days (a rolling window: "within the last N days") or a calendar period
(:data:`PERIODS`) in the deployment's time zone: ``"month"`` starts at local midnight on the 1st, ``"half_year"``
on 1 January and 1 July, ``"week"`` on Monday. Instants are aware UTC in and out; only the boundaries are local.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

__all__ = ["PERIODS", "cycle_start", "cycles_between", "valid_cycle"]

#: Calendar periods a cycle may be, and their length in months (``week``: none).
PERIODS = {"week": 0, "month": 1, "quarter": 3, "half_year": 6, "year": 12}


def valid_cycle(value) -> bool:
    """Whether ``value`` is a cycle: a period name or a number of days from 1 to 3660."""
    if isinstance(value, str):
        return value in PERIODS
    return isinstance(value, int | float) and not isinstance(value, bool) and 1 <= value <= 3660


def _local_start(cycle: str, local: datetime) -> datetime:
    """The local start of the calendar period ``cycle`` holding the local time ``local``."""
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    if cycle == "week":
        return midnight - timedelta(days=midnight.weekday())
    months = PERIODS[cycle]
    return midnight.replace(day=1, month=(local.month - 1) // months * months + 1)


def _local_next(cycle: str, start: datetime) -> datetime:
    """The local start of the period after the one starting at ``start``."""
    if cycle == "week":
        return start + timedelta(days=7)
    month = start.month - 1 + PERIODS[cycle]
    return start.replace(year=start.year + month // 12, month=month % 12 + 1)


def _utc(local: datetime, zone: ZoneInfo) -> datetime:
    return local.replace(tzinfo=zone).astimezone(timezone.utc)


def cycle_start(cycle, now: datetime, tz: str) -> datetime:
    """The instant the current cycle began (aware UTC).

    Parameters
    ----------
    cycle : str or float
        A period name (:data:`PERIODS`) or a number of days.
    now : datetime
        Aware.
    tz : str
        The deployment's IANA time zone (``TIMEZONE``), for calendar periods.
    """
    if not isinstance(cycle, str):
        return now.astimezone(timezone.utc) - timedelta(days=float(cycle))
    zone = ZoneInfo(tz)
    local = now.astimezone(zone).replace(tzinfo=None)
    return _utc(_local_start(cycle, local), zone)


def cycles_between(cycle, since: datetime, until: datetime, tz: str) -> list[tuple[datetime, datetime]]:
    """The cycles overlapping ``[since, until)``, whole (not clipped): ``[(start, end), ...]`` in aware UTC.

    A number of days cuts the period into windows of that many days from ``since`` (the last one whole too).
    """
    since, until = since.astimezone(timezone.utc), until.astimezone(timezone.utc)
    out = []
    if not isinstance(cycle, str):
        step = timedelta(days=float(cycle))
        start = since
        while start < until:
            out.append((start, start + step))
            start += step
        return out
    zone = ZoneInfo(tz)
    local = _local_start(cycle, since.astimezone(zone).replace(tzinfo=None))
    start = _utc(local, zone)
    while start < until:
        try:
            local = _local_next(cycle, local)
            end = _utc(local, zone)
        except (ValueError, OverflowError):  # past the year 9999: the last cycle ends with the period
            out.append((start, until))
            break
        out.append((start, end))
        start = end
    return out
