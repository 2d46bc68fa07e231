"""The period and area of the staff's patrol page and its downloads (``?area=&since=&until=``), read strictly.

Dates are local dates in the deployment's zone (the end date included); :meth:`PatrolFilters.window` turns them
into UTC instants. Every bad parameter is named in one :class:`~core.errors.InvalidInputError`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from flask_babel import gettext as _

from core.errors import InvalidInputError

__all__ = ["PatrolFilters", "parse_filters", "DEFAULT_DAYS", "MAX_DAYS", "EARLIEST", "FILTER_KEYS"]

#: The period shown when none is asked for: this many days up to today.
DEFAULT_DAYS = 30
#: The longest period one request may ask for.
MAX_DAYS = 366
#: The earliest date a period may start or end on (before it no patrol was recorded, and year 1 overflows UTC).
EARLIEST = date(1970, 1, 1)
#: The query parameters the page and its downloads read.
FILTER_KEYS = ("area", "since", "until")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True)
class PatrolFilters:
    """An area (``None``: all the caller's) and a range of local dates, ``until`` included."""

    area: str | None
    since: date
    until: date

    def window(self, tz: str) -> tuple[datetime, datetime]:
        """The period as UTC instants: from ``since`` 00:00 local to the day after ``until`` 00:00 local."""
        zone = ZoneInfo(tz)
        start = datetime.combine(self.since, time(), tzinfo=zone).astimezone(timezone.utc)
        end = datetime.combine(self.until + timedelta(days=1), time(), tzinfo=zone).astimezone(timezone.utc)
        return start, end

    def query(self) -> dict[str, str]:
        """The filters as query parameters, for the downloads and the map's data of the same period."""
        values = {"area": self.area, "since": self.since.isoformat(), "until": self.until.isoformat()}
        return {k: v for k, v in values.items() if v}


def _date(text: str | None, label: str, problems: list[str]) -> date | None:
    if not text:
        return None
    if not _DATE.fullmatch(text):
        problems.append(_("%(field)s must be a date such as 2026-11-01.", field=label))
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        problems.append(_("%(field)s is not a date in the calendar.", field=label))
        return None


def parse_filters(args, default_area: str | None, today: date) -> PatrolFilters:
    """The filters from query ``args``, or :class:`InvalidInputError` naming every bad one.

    Parameters
    ----------
    args : mapping
        The query string (empty values count as absent).
    default_area : str or None
        The area when none is given.
    today : date
        Today in the deployment's zone: the default period is the :data:`DEFAULT_DAYS` days up to it.

    Returns
    -------
    PatrolFilters
    """
    values = {k: v for k, v in args.items() if v != ""}
    problems = [_("Unknown parameter %(name)s.", name=k[:32]) for k in sorted(values) if k not in FILTER_KEYS]
    area = values.get("area", default_area)
    if area is not None and len(area) > 32:
        problems.append(_("The area code must be at most 32 characters."))
    since = _date(values.get("since"), _("The start date"), problems)
    until = _date(values.get("until"), _("The end date"), problems)
    if any(d is not None and d < EARLIEST for d in (since, until)):
        problems.append(_("Dates must be from %(date)s on.", date=EARLIEST.isoformat()))
    if problems:
        raise InvalidInputError(" ".join(problems))
    until = until or max(today, since or today)
    since = since or until - timedelta(days=DEFAULT_DAYS - 1)
    if since > until:
        problems.append(_("The start date is after the end date."))
    elif (until - since).days >= MAX_DAYS:
        problems.append(_("The period must be at most %(n)s days.", n=MAX_DAYS))
    if until == date.max:
        problems.append(_("The end date must be before 9999-12-31."))
    if problems:
        raise InvalidInputError(" ".join(problems))
    return PatrolFilters(area, since, until)
