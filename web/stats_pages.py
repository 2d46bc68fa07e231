"""The statistics page (``/stats``) and its downloads (``/stats.xlsx``, ``/stats.csv``) for staff.

The figures are :func:`issues.queries.issue_stats` for the caller's scope: the page parses its filters (an area
of the caller's, a range of dates read in the deployment's zone, a period, a category), asks for the figures
once, and lays them out as :class:`Table` objects. The HTML tables, the chart data the script draws and the
downloaded files are all written from those same tables, so they always show the same numbers, with names in
the page's language (never ids; area codes only on hover).
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from flask import Blueprint, Response, current_app, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from openpyxl import Workbook

from boundaries.levels import LEVELS, child_level
from core.errors import InvalidInputError, NotFoundError
from issues.queries import issue_stats
from issues.text import spreadsheet_cell
from issues.workflow import ACTIVE_STATES, STATES
from issues.worktime import local_text, zone_label
from web.access import AUTHENTICATED, PUBLIC, access_of, allow, caller, scoped
from web.errors import ApiError
from web.issues_api import desk
from web.names import LEVEL_NAMES, STATE_NAMES

__all__ = [
    "stats_pages",
    "Table",
    "area_options",
    "StatsFilters",
    "parse_filters",
    "stats_tables",
    "csv_file",
    "xlsx_file",
]

stats_pages = Blueprint("stats_pages", __name__)

#: The periods the figures are counted by, with their names.
PERIODS = {"day": _l("Day"), "week": _l("Week"), "month": _l("Month")}
_KNOWN = ("area", "since", "until", "period", "category")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
#: The area select lists the caller's areas down to grids; beyond this many options it stops at communities.
_MAX_OPTIONS = 2000
_XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@dataclass(frozen=True)
class StatsFilters:
    """The filters of one statistics request: ``until`` is the last day included (local dates)."""

    area: str | None
    since: date | None
    until: date | None
    period: str
    category: str | None

    def instants(self) -> tuple[datetime | None, datetime | None]:
        """The report-time window as naive local times: from ``since`` 00:00 to the day after ``until`` 00:00."""
        since = datetime.combine(self.since, time()) if self.since else None
        until = datetime.combine(self.until + timedelta(days=1), time()) if self.until else None
        return since, until

    def query(self) -> dict[str, str]:
        """The filters as query parameters (only those set), for links and downloads of the same figures."""
        values = {
            "area": self.area,
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            "period": self.period,
            "category": self.category,
        }
        return {k: v for k, v in values.items() if v}


@dataclass
class Table:
    """One table of figures: its id, title, column headers and rows (cells are text or numbers).

    ``hover`` holds, per row, the text shown on hovering its first cell (an area's code), or ``None``.
    """

    key: str
    title: str
    columns: list[str]
    rows: list[list] = field(default_factory=list)
    hover: list[str | None] = field(default_factory=list)


def _problem(messages: list[str]) -> InvalidInputError:
    return InvalidInputError(" ".join(messages))


def _date(text: str | None, label: str) -> tuple[date | None, str | None]:
    if not text:
        return None, None
    if not _DATE.fullmatch(text):
        return None, _("%(field)s must be a date such as 2026-11-01.", field=label)
    try:
        return date.fromisoformat(text), None
    except ValueError:
        return None, _("%(field)s is not a date in the calendar.", field=label)


def parse_filters(args, catalog, default_area: str | None) -> StatsFilters:
    """The page's filters from query ``args``, or :class:`InvalidInputError` naming every bad one.

    Parameters
    ----------
    args : mapping
        The query string (empty values count as absent).
    catalog : issues.categories.Catalog
        The categories a ``category`` may name.
    default_area : str or None
        The area when none is given (the caller's single area, or ``None``: all they see).

    Returns
    -------
    StatsFilters
    """
    values = {k: v for k, v in args.items() if v != ""}
    problems = [_("Unknown parameter %(name)s.", name=k[:32]) for k in sorted(values) if k not in _KNOWN]
    area = values.get("area", default_area)
    if area is not None and len(area) > 32:
        problems.append(_("The area code must be at most 32 characters."))
    since, problem = _date(values.get("since"), _("The start date"))
    problems += [problem] if problem else []
    until, problem = _date(values.get("until"), _("The end date"))
    problems += [problem] if problem else []
    if since and until and since > until:
        problems.append(_("The start date is after the end date."))
    if until == date.max:
        problems.append(_("The end date must be before 9999-12-31."))
    period = values.get("period", "month")
    if period not in PERIODS:
        problems.append(_("The period must be day, week or month."))
    category = values.get("category")
    if category is not None and category not in catalog:
        problems.append(_("Unknown category %(code)s.", code=category[:32]))
    if problems:
        raise _problem(problems)
    return StatsFilters(area, since, until, period, category)


def area_options(view) -> tuple[list[dict], str | None]:
    """The caller's areas for the select (depth first, indented by depth) and the default area.

    The default is the caller's one area when they have exactly one (all they see); else ``None`` (all of them).
    """
    roots = view.tree()
    levels = LEVELS[:-1]  # micro-grids have no areas below them to compare
    options: list[dict] = []
    for deepest in ("grid", "community", "street"):
        options = []
        stack = [(node, 0) for node in reversed(roots)]
        while stack:
            node, depth = stack.pop()
            options.append({"code": node["code"], "name": node["name"] or node["code"], "depth": depth})
            keep = levels[: levels.index(deepest) + 1]
            stack += [(child, depth + 1) for child in reversed(node["children"]) if child["level"] in keep]
        if len(options) <= _MAX_OPTIONS:
            break
    return options, roots[0]["code"] if len(roots) == 1 else None


def _category_name(catalog, code: str) -> str:
    if code not in catalog:
        return code
    found = catalog.get(code)
    return found.name_zh if str(get_locale() or "zh_CN").startswith("zh") else found.name_en


def _num(value: float) -> int | float:
    """A figure as shown and written: whole numbers without ``.0`` (as a workbook stores them)."""
    return int(value) if float(value).is_integer() else value


def _period_label(period: str) -> str:
    return period.replace("/", " – ")  # a week is "first day/last day"


def stats_tables(figures: dict, catalog, area_names: dict[str, str], zone: str) -> list[Table]:
    """The figures of :func:`issues.queries.issue_stats` as the tables the page shows and the files hold.

    Parameters
    ----------
    figures : dict
        The statistics.
    catalog : issues.categories.Catalog
        For category names.
    area_names : dict
        Area code → name (the child areas').
    zone : str
        The label of the deployment's zone (periods are local).

    Returns
    -------
    list of Table
        ``summary``, ``by_state``, ``by_category`` (periods × categories), ``by_area`` and ``on_time``.
    """
    hours = figures["mean_hours_to_close"]
    summary = Table("summary", _("Summary"), [_("Figure"), _("Value")])
    summary.rows = [
        [_("Issues reported"), figures["total"]],
        [_("Open now"), sum(figures["open_by_state"].values())],
        [_("Overdue now"), figures["overdue"]],
        [_("Closed"), figures["closed"]],
        [_("Mean hours to close"), "—" if hours is None else _num(hours)],
    ]
    by_state = Table("by_state", _("Issues by state"), [_("State"), _("Issues")])
    by_state.rows = [[str(STATE_NAMES.get(s, s)), n] for s in STATES if (n := figures["by_state"].get(s))]

    cells = figures["by_category_over_time"]
    periods = sorted({c["period"] for c in cells})
    present = {c["category"] for c in cells}
    codes = [c.code for c in catalog if c.code in present] + sorted(present - {c.code for c in catalog})
    counts = {(c["period"], c["category"]): c["count"] for c in cells}
    by_category = Table(
        "by_category",
        _("Issues by category per period"),
        [_("Period (%(zone)s)", zone=zone), *[_category_name(catalog, c) for c in codes], _("Total")],
    )
    for p in periods:
        row = [counts.get((p, c), 0) for c in codes]
        by_category.rows.append([_period_label(p), *row, sum(row)])

    by_area = Table("by_area", _("Issues per area below"), [_("Area"), _("Issues"), _("Open"), _("Overdue")])
    for child in figures["by_child_area"]:
        code = child["code"]
        name = area_names.get(code, code) if code else _("Not located at this level")
        by_area.rows.append([name, child["total"], child["open"], child["overdue"]])
        by_area.hover.append(code)

    on_time = Table(
        "on_time",
        _("On-time rate per stage"),
        [_("Stage"), _("Finished"), _("Finished on time"), _("On-time rate (%)")],
    )
    stages = figures["on_time_by_stage"]
    for stage in [s for s in ACTIVE_STATES if s in stages] + sorted(set(stages) - set(ACTIVE_STATES)):
        s = stages[stage]
        on_time.rows.append(
            [str(STATE_NAMES.get(stage, stage)), s["finished"], s["on_time"], _num(round(s["rate"] * 100, 1))]
        )
    return [summary, by_state, by_category, by_area, on_time]


def _chart_data(tables: dict[str, Table]) -> dict:
    """What the script draws, taken from the tables themselves (so a chart never differs from its table)."""
    by_category, by_area, on_time = tables["by_category"], tables["by_area"], tables["on_time"]
    return {
        "by_category": {
            "labels": [r[0] for r in by_category.rows],
            "series": [
                {"label": name, "data": [r[i] for r in by_category.rows]}
                for i, name in enumerate(by_category.columns[1:-1], start=1)
            ],
        },
        "by_area": {
            "labels": [r[0] for r in by_area.rows],
            "series": [
                {"label": by_area.columns[i], "data": [r[i] for r in by_area.rows]}
                for i in range(1, len(by_area.columns))
            ],
        },
        "on_time": {
            "labels": [r[0] for r in on_time.rows],
            "series": [{"label": on_time.columns[3], "data": [r[3] for r in on_time.rows]}],
        },
    }


def _may_call(endpoint: str) -> bool:
    """Whether the caller may open ``endpoint`` (by the rule the route declares), so links are offered only then."""
    need, user = access_of(current_app, endpoint), caller()
    if need == PUBLIC:
        return True
    if need is None or user is None:
        return False
    return need == AUTHENTICATED or any(user.can(n) for n in ((need,) if isinstance(need, str) else need))


def _overdue_link(filters: StatsFilters) -> str | None:
    """The queue of the issues counted as overdue (the same area, category and window), if the caller may open it."""
    if not _may_call("issue_pages.queue"):
        return None
    since, until = filters.instants()
    params = {"overdue": "true", "area": filters.area, "category": filters.category}
    params |= {"since": since.isoformat() if since else None, "until": until.isoformat() if until else None}
    return url_for("issue_pages.queue", **{k: v for k, v in params.items() if v})


@dataclass
class _Result:
    filters: StatsFilters
    tables: list[Table]
    zone: str
    area_name: str
    chain: list[dict]


def _figures(view, filters: StatsFilters) -> _Result:
    """Ask for the figures once and lay them out; a bad area or window is :class:`InvalidInputError`."""
    issues_desk = desk()
    tz = issues_desk.calendar.tz
    if filters.area is not None:
        try:
            view.area(filters.area)  # outside one's areas: OutOfScopeError, answered 403 like every such request
        except NotFoundError:
            raise InvalidInputError(_("No such area: %(code)s.", code=filters.area)) from None
    since, until = filters.instants()
    figures = issue_stats(
        view,
        area=filters.area,
        since=since,
        until=until,
        period=filters.period,
        now=issues_desk.clock(),
        tz=tz,
        category=filters.category,
    )
    hierarchy = view.registry.hierarchy()
    names = {code: (node["name"] or code) for code, node in hierarchy.items()}
    zone = zone_label(tz)
    tables = stats_tables(figures, issues_desk.catalog, names, zone)
    chain = [a for a in view.chain(filters.area) if view.covers(a["code"])] if filters.area else []
    if filters.area is not None:
        below = child_level(hierarchy[filters.area]["level"])
        tables[3].title = (
            _("Issues per %(level)s in %(area)s", level=str(LEVEL_NAMES[below]).lower(), area=names[filters.area])
            if below
            else _("Issues per area below %(area)s", area=names[filters.area])
        )
    area_name = names.get(filters.area, filters.area) if filters.area else _("All my areas")
    return _Result(filters, tables, zone, area_name, list(reversed(chain)))


def _patrol_block(view, filters: StatsFilters) -> dict | None:
    """The patrol figures of the same area and dates, for callers who may read patrols (else ``None``)."""
    if not _may_call("patrol_pages.patrols_page"):
        return None
    from web.patrol_pages import period_figures  # the patrol page imports this module's tables

    return period_figures(view, caller(), filters.area, filters.since, filters.until)


def _bad_filter(exc: InvalidInputError) -> ApiError:
    return ApiError(str(exc), "bad_filter", 400)


@stats_pages.route("/stats")
@allow("stats:read")
def stats_page():
    """Issue statistics of the caller's areas: charts and the same figures as tables, with downloads."""
    view, catalog = scoped(), desk().catalog
    options, default_area = area_options(view)
    context = {
        "user": caller(),
        "options": options,
        "all_option": default_area is None,
        "catalog": [(c.code, _category_name(catalog, c.code)) for c in catalog],
        "periods": PERIODS,
        "zone": zone_label(desk().calendar.tz),
        "args": {k: request.args.get(k, "") for k in _KNOWN},
        "result": None,
        "error": None,
    }
    try:
        filters = parse_filters(request.args, catalog, default_area)
        context["args"] |= {"area": filters.area or "", "period": filters.period}
        result = _figures(view, filters)
    except InvalidInputError as exc:
        context["error"] = str(exc)
        return render_template("stats.html", **context), 400
    if filters.area and filters.area not in {o["code"] for o in options}:
        options.append({"code": filters.area, "name": result.area_name, "depth": 0})  # e.g. a micro-grid's link
    by_key = {t.key: t for t in result.tables}
    context.update(
        result=result,
        tables=by_key,
        chart=_chart_data(by_key),
        strings={"issues": _("Issues"), "rate": _("On-time rate (%)"), "period": _("Period")},
        overdue=by_key["summary"].rows[2][1],
        overdue_link=_overdue_link(filters),
        patrols=_patrol_block(view, filters),
        downloads={fmt: url_for("stats_pages.stats_file", fmt=fmt, **filters.query()) for fmt in ("xlsx", "csv")},
        breadcrumbs=[
            (a["name"] or a["code"], url_for("stats_pages.stats_page", **(filters.query() | {"area": a["code"]})))
            for a in result.chain
        ],
    )
    return render_template("stats.html", **context)


def _about(result: _Result, catalog) -> list[list[str]]:
    """The filters the figures were computed with, as label/value rows at the top of a file."""
    f = result.filters
    return [
        [_("Issue statistics"), local_text(desk().clock(), desk().calendar.tz) + f" ({result.zone})"],
        [_("Area"), result.area_name],
        [_("Start date (%(zone)s)", zone=result.zone), f.since.isoformat() if f.since else _("Any")],
        [_("End date, inclusive (%(zone)s)", zone=result.zone), f.until.isoformat() if f.until else _("Any")],
        [_("Period"), str(PERIODS[f.period])],
        [_("Category"), _category_name(catalog, f.category) if f.category else _("All categories")],
    ]


def csv_file(tables: list[Table], about: list[list[str]]) -> bytes:
    """The tables one after another (a title row, the headers, the rows, a blank line), UTF-8 with a BOM.

    Parameters
    ----------
    tables : list of Table
    about : list of list of str
        Rows describing the filters, written first.

    Returns
    -------
    bytes
        CSV with CRLF line ends; the BOM lets Excel read the Chinese names.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    for row in about:
        writer.writerow([spreadsheet_cell(v) for v in row])
    for table in tables:
        writer.writerow([])
        writer.writerow([spreadsheet_cell(table.title)])
        writer.writerow([spreadsheet_cell(v) for v in table.columns])
        for row in table.rows:
            writer.writerow([spreadsheet_cell(v) for v in row])
    return buffer.getvalue().encode("utf-8-sig")


def _sheet_title(title: str, used: set[str]) -> str:
    name = re.sub(r"[\[\]:*?/\\]", " ", title)[:31].strip() or "Sheet"
    base, n = name, 2
    while name in used:
        name = f"{base[:28]} {n}"
        n += 1
    used.add(name)
    return name


def xlsx_file(tables: list[Table], about: list[list[str]]) -> bytes:
    """A workbook: the filters on the first sheet, then one sheet per table (headers in the first row).

    Parameters
    ----------
    tables : list of Table
    about : list of list of str

    Returns
    -------
    bytes
    """
    book = Workbook()
    sheet = book.active
    used: set[str] = set()
    sheet.title = _sheet_title(_("Filters"), used)
    for row in about:
        sheet.append([spreadsheet_cell(v) for v in row])
    for table in tables:
        sheet = book.create_sheet(_sheet_title(table.title, used))
        sheet.append([spreadsheet_cell(v) for v in table.columns])
        for row in table.rows:
            sheet.append([spreadsheet_cell(v) for v in row])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


@stats_pages.route("/stats.<any(xlsx, csv):fmt>")
@allow("stats:read")
def stats_file(fmt):
    """The figures the page shows for the same filters, as an Excel workbook or CSV."""
    view, catalog = scoped(), desk().catalog
    try:
        filters = parse_filters(request.args, catalog, area_options(view)[1])
        result = _figures(view, filters)
    except InvalidInputError as exc:
        raise _bad_filter(exc) from None
    about = _about(result, catalog)
    data = xlsx_file(result.tables, about) if fmt == "xlsx" else csv_file(result.tables, about)
    stamp = local_text(desk().clock(), desk().calendar.tz)[:10].replace("-", "")
    name = f"stats-{re.sub(r'[^A-Za-z0-9_-]', '_', filters.area or 'all')}-{stamp}.{fmt}"
    return Response(
        data,
        mimetype=_XLSX if fmt == "xlsx" else "text/csv",  # Flask adds charset=utf-8
        headers={"Content-Disposition": f"attachment; filename={name}"},
    )
