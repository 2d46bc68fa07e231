"""The staff side of patrols (``/patrols``): compliance per worker and micro-grid, the period's patrols, their tracks.

- ``GET /patrols?area=&since=&until=`` — the page: an area of the caller's, a range of dates read in the
  deployment's zone (the end date included; default the last 30 days). It shows the figures of
  :func:`patrols.work.compliance` (the compliance API's) as tables — workers by display name, micro-grids by name
  with the code on hover, those not patrolled highlighted — a bar chart drawn from the workers' table, the
  period's patrols, and a map of their tracks drawn by ``static/js/patrols.js``.
- ``GET /patrols.xlsx?…`` — the shown tables as a workbook (times local, the zone in the headers).
- ``GET /patrols/tracks?…`` — the map's data: the cleaned tracks of at most :data:`MAX_TRACKS` of the period's
  patrols (newest first), with start and end times and out-of-area alerts; ``total`` says how many there are.
  Every read of a worker's track is recorded in the audit log (:meth:`patrols.service.PatrolDesk.tracks`).

Everything needs ``patrols:read`` (admins, staff: tracks are personal data) and is scoped to the caller's areas.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _

from accounts.users import list_users
from boundaries.levels import LEVELS
from core.errors import InvalidInputError, NotFoundError
from issues.worktime import local_text, zone_label
from patrols.work import compliance
from web.access import allow, caller, scoped
from web.errors import ApiError
from web.issues_api import desk
from web.patrol_filters import DEFAULT_DAYS, EARLIEST, FILTER_KEYS, PatrolFilters, parse_filters
from web.patrols_api import patrol_desk
from web.stats_pages import Table, area_options, xlsx_file

__all__ = [
    "patrol_pages",
    "PatrolFilters",
    "parse_filters",
    "patrol_figures",
    "period_figures",
    "MAX_TRACKS",
    "PALETTE",
]

patrol_pages = Blueprint("patrol_pages", __name__)

#: The most tracks one map shows (the newest patrols of the period); the page says when there are more.
MAX_TRACKS = 300
#: Fixes the map's bulk read of tracks draws at most, shared by its tracks (each thinned by Douglas–Peucker in
#: metres to its share, but never below :data:`MIN_TRACK_POINTS`); the answer says the budget.
MAP_POINT_BUDGET = 150_000
MIN_TRACK_POINTS = 200
#: Micro-grids not patrolled named before the folded table of every micro-grid (the rest behind "n more").
NOT_PATROLLED_SHOWN = 30
#: The period's patrols are listed unfolded up to this many (a phone scrolls past longer lists folded).
PATROLS_OPEN = 20
#: Worker colours on the map and beside their names in the tables (no red or orange: those mark alerts).
PALETTE = ("#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#393b79", "#637939",
           "#7f7f7f", "#1b9e77", "#7570b3")  # fmt: skip
#: The most patrols :meth:`patrols.service.PatrolDesk.list` answers: a count that reaches it means "at least".
_LIST_CAP = 500
_XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_MAP_ZOOM = {"district": 0, "street": 0, "community": 11, "grid": 13, "micro_grid": 15}


def _today(tz: str) -> date:
    return desk().clock().astimezone(ZoneInfo(tz)).date()


def _filters(view) -> PatrolFilters:
    """The request's filters with the area checked: unknown is :class:`InvalidInputError`, outside one's is 403."""
    filters = parse_filters(request.args, area_options(view)[1], _today(desk().calendar.tz))
    if filters.area is not None:
        try:
            view.area(filters.area)  # outside one's areas: OutOfScopeError, a 403 like every such request
        except NotFoundError:
            raise InvalidInputError(_("No such area: %(code)s.", code=filters.area)) from None
    return filters


def _names() -> dict[int, dict]:
    """Users by id: ``name`` (login) and ``shown`` (display name, else login name)."""
    return {u.id: {"name": u.name, "shown": u.display_name or u.name} for u in list_users(scoped().registry)}


def patrol_figures(figures: dict) -> dict:
    """The figures of an area for a period from :func:`patrols.work.compliance`'s micro-grids.

    Returns
    -------
    dict
        ``micro_grids_patrolled``, ``micro_grids_due``, ``households_visited``, ``households_due``,
        ``vulnerable_visited``, ``vulnerable_due``.
    """
    grids = figures["micro_grids"]
    return {
        "micro_grids_patrolled": sum(1 for g in grids if g["patrols"]),
        "micro_grids_due": len(grids),
        "households_visited": sum(g["households_visited"] for g in grids),
        "households_due": sum(g["households_due"] for g in grids),
        "vulnerable_visited": sum(g["vulnerable_visited"] for g in grids),
        "vulnerable_due": sum(g["vulnerable_due"] for g in grids),
    }


def period_figures(view, user, area: str | None, since: date | None, until: date | None) -> dict:
    """The patrol figures of an area for a range of local dates (the statistics page's patrol block).

    Missing dates are filled as on the patrol page (the :data:`DEFAULT_DAYS` days up to today or up to
    ``until``). Returns :func:`patrol_figures` with ``patrols`` (the period's patrols the caller may read;
    ``patrols_at_least`` when the count is capped), ``since``, ``until`` (dates) and ``link`` (the patrol page of
    the same area and period).
    """
    tz = desk().calendar.tz
    since, until = (max(d, EARLIEST) if d else None for d in (since, until))
    until = until or max(_today(tz), since or _today(tz))
    filters = PatrolFilters(area, since or until - timedelta(days=DEFAULT_DAYS - 1), until)
    start, end = filters.window(tz)
    count = len(patrol_desk().list(view, user, since=start, until=end, area=area))
    return {
        **patrol_figures(compliance(view, area, start, end, patrol_desk().rules, tz, now=patrol_desk().clock())),
        "patrols": count,
        "patrols_at_least": count >= _LIST_CAP,
        "since": filters.since,
        "until": filters.until,
        "link": url_for("patrol_pages.patrols_page", **filters.query()),
    }


def _colours(patrols: list[dict]) -> dict[int, str]:
    """A colour per worker of ``patrols`` (the same on the map and in the tables)."""
    ids = sorted({p["worker"] for p in patrols})
    return {uid: PALETTE[i % len(PALETTE)] for i, uid in enumerate(ids)}


def _local(value: str | None, tz: str) -> str:
    return local_text(datetime.fromisoformat(value), tz) if value else ""


@dataclass
class _Result:
    filters: PatrolFilters
    zone: str
    area_name: str
    figures: dict
    totals: dict
    tables: dict[str, Table]
    patrols: list[dict]
    colours: dict[int, str]
    unpatrolled: set[int]


def _result(view, filters: PatrolFilters) -> _Result:
    """Ask for the compliance figures and the period's patrols once, and lay them out as the page's tables."""
    tz = desk().calendar.tz
    zone = zone_label(tz)
    since, until = filters.window(tz)
    figures = compliance(view, filters.area, since, until, patrol_desk().rules, tz, now=patrol_desk().clock())
    patrols = patrol_desk().list(view, caller(), since=since, until=until, area=filters.area)
    users = _names()
    shown = [w for w in figures["workers"] if w["micro_grids_due"]]  # workers with micro-grids in this area
    colours = _colours(patrols[:MAX_TRACKS])
    joiner = "、" if str(get_locale() or "zh_CN").startswith("zh") else ", "

    workers = Table(
        "workers",
        _("Compliance per grid worker"),
        [
            _("Grid worker"),
            _("Micro-grids patrolled"),
            _("Micro-grids due"),
            _("Households visited"),
            _("Households due"),
            _("Vulnerable households visited"),
            _("Vulnerable households due"),
            _("Micro-grids not patrolled"),
        ],
    )
    for w in shown:
        workers.rows.append(
            [
                w["display_name"] or w["name"],
                w["micro_grids_patrolled"],
                w["micro_grids_due"],
                w["households_visited"],
                w["households_due"],
                w["vulnerable_visited"],
                w["vulnerable_due"],
                len(w["not_patrolled"]),
            ]
        )
        workers.hover.append(w["name"])
    shown_by_login = {w["name"]: w["display_name"] or w["name"] for w in figures["workers"]}
    grids = Table(
        "micro_grids",
        _("Compliance per micro-grid"),
        [
            _("Micro-grid"),
            _("Grid workers"),
            _("Patrols"),
            _("Last patrolled (%(zone)s)", zone=zone),
            _("Households visited"),
            _("Households due"),
            _("Vulnerable households visited"),
            _("Vulnerable households due"),
        ],
    )
    unpatrolled = set()
    for i, g in enumerate(figures["micro_grids"]):
        grids.rows.append(
            [
                g["name"] or g["code"],
                joiner.join(shown_by_login.get(n, n) for n in g["workers"]),
                g["patrols"],
                _local(g["last_patrolled"], tz),
                g["households_visited"],
                g["households_due"],
                g["vulnerable_visited"],
                g["vulnerable_due"],
            ]
        )
        grids.hover.append(g["code"])
        if not g["patrols"]:
            unpatrolled.add(i)
    listed = Table(
        "patrols",
        _("Patrols of the period"),
        [
            _("Grid worker"),
            _("Started (%(zone)s)", zone=zone),
            _("Ended (%(zone)s)", zone=zone),
            _("Distance (km)"),
            _("Micro-grids patrolled"),
            _("Out-of-area alerts"),
        ],
    )
    for p in patrols[:MAX_TRACKS]:
        summary = p["summary"] or {}
        km = round(sum((summary.get("distance_m") or {}).values()) / 1000, 2)
        listed.rows.append(
            [
                users.get(p["worker"], {}).get("shown", p["worker_name"]),
                _local(p["started_at"], tz),
                _local(p["ended_at"], tz) or _("Still running"),
                int(km) if float(km).is_integer() else km,
                len(summary.get("micro_grids", [])),
                len(summary.get("alerts", [])),
            ]
        )
        listed.hover.append(users.get(p["worker"], {}).get("name", p["worker_name"]))
    names = {code: node["name"] or code for code, node in view.registry.hierarchy().items()}
    area_name = names.get(filters.area, filters.area) if filters.area else _("All my areas")
    return _Result(
        filters,
        zone,
        area_name,
        figures,
        patrol_figures(figures),
        {"workers": workers, "micro_grids": grids, "patrols": listed},
        patrols,
        colours,
        unpatrolled,
    )


def _chart(workers: Table) -> dict:
    """The bar chart's data, taken from the workers' table (so the chart never differs from it)."""

    def share(done, due):
        return round(100 * done / due, 1) if due else 0

    return {
        "labels": [r[0] for r in workers.rows],
        "series": [
            {"label": _("Micro-grids patrolled (%)"), "data": [share(r[1], r[2]) for r in workers.rows]},
            {"label": _("Households visited (%)"), "data": [share(r[3], r[4]) for r in workers.rows]},
        ],
    }


def _map_config(view, result: _Result) -> dict:
    store, registry = view.registry.store, view.registry
    generation = view.resolve_generation(None)
    present = set(registry.levels_present(generation))
    if result.filters.area:
        extent = store.areas_extent(generation, codes=[result.filters.area])
    elif view.scope.unrestricted:
        extent = store.areas_extent(generation, level=registry.levels_present(generation)[0])
    else:
        extent = store.areas_extent(generation, codes=sorted(view.scope.roots))
    return {
        "extent": list(extent) if extent else [-180.0, -85.0, 180.0, 85.0],
        "generation": generation,
        "tiles": url_for("tiles.get_tile", layer="LAYER", z=0, x=0, y=0).replace("LAYER/0/0/0", "{layer}/{z}/{x}/{y}"),
        "levels": [{"name": lv, "minZoom": _MAP_ZOOM[lv]} for lv in LEVELS if lv in present and lv in _MAP_ZOOM],
        "tracksApi": url_for("patrol_pages.patrol_tracks", **result.filters.query()),
    }


def _strings() -> dict:
    """Every text the script shows, in the page's language."""
    return {
        "loading": _("Loading tracks…"),
        "loadFailed": _("The tracks could not be loaded."),
        "drawn": _("%(n)s tracks drawn."),
        "capped": _("The newest %(n)s of %(total)s patrols are drawn: choose a shorter period or a smaller area."),
        "none": _("No patrols in this period."),
        "started": _("Started: %(time)s"),
        "ended": _("Ended: %(time)s"),
        "running": _("Still running"),
        "alert": _("Out of the assigned area"),
        "outside": _("Outside from %(time)s for %(n)s min"),
        "share": _("Share (%)"),
        "noTrack": _("No track was kept for this patrol."),
    }


@patrol_pages.route("/patrols")
@allow("patrols:read")
def patrols_page():
    """Patrol compliance of the caller's areas for a period: tables, a chart, the patrols and a map of tracks."""
    view = scoped()
    options, default_area = area_options(view)
    zone = zone_label(desk().calendar.tz)
    context = {
        "options": options,
        "all_option": default_area is None,
        "zone": zone,
        "args": {k: request.args.get(k, "") for k in FILTER_KEYS},
        "result": None,
        "error": None,
    }
    try:
        filters = _filters(view)
        result = _result(view, filters)
    except InvalidInputError as exc:
        context["error"] = str(exc)
        return render_template("patrols.html", **context), 400
    context["args"] |= filters.query() | {"area": filters.area or ""}
    if filters.area and filters.area not in {o["code"] for o in options}:
        options.append({"code": filters.area, "name": result.area_name, "depth": 0})
    context.update(
        result=result,
        tables=result.tables,
        chart=_chart(result.tables["workers"]),
        config=_map_config(view, result),
        strings=_strings(),
        max_tracks=MAX_TRACKS,
        NOT_PATROLLED_SHOWN=NOT_PATROLLED_SHOWN,
        PATROLS_OPEN=PATROLS_OPEN,
        patrols_at_least=len(result.patrols) >= _LIST_CAP,
        download=url_for("patrol_pages.patrols_file", **filters.query()),
    )
    return render_template("patrols.html", **context)


def _about(result: _Result) -> list[list[str]]:
    f = result.filters
    return [
        [_("Patrol compliance"), local_text(desk().clock(), desk().calendar.tz) + f" ({result.zone})"],
        [_("Area"), result.area_name],
        [_("Start date (%(zone)s)", zone=result.zone), f.since.isoformat()],
        [_("End date, inclusive (%(zone)s)", zone=result.zone), f.until.isoformat()],
    ]


@patrol_pages.route("/patrols.xlsx")
@allow("patrols:read")
def patrols_file():
    """The tables the page shows for the same filters, as an Excel workbook (a sheet per table)."""
    view = scoped()
    try:
        result = _result(view, _filters(view))
    except InvalidInputError as exc:
        raise ApiError(str(exc), "bad_filter", 400) from None
    data = xlsx_file(list(result.tables.values()), _about(result))
    f = result.filters
    name = f"patrols-{re.sub(r'[^A-Za-z0-9_-]', '_', f.area or 'all')}-{f.since:%Y%m%d}-{f.until:%Y%m%d}.xlsx"
    return Response(data, mimetype=_XLSX, headers={"Content-Disposition": f"attachment; filename={name}"})


@patrol_pages.route("/patrols/tracks")
@allow("patrols:read")
def patrol_tracks():
    """The map's data: the tracks of the period's newest patrols (each read recorded in the audit log)."""
    view = scoped()
    try:
        filters = _filters(view)
    except InvalidInputError as exc:
        raise ApiError(str(exc), "bad_filter", 400) from None
    tz = desk().calendar.tz
    since, until = filters.window(tz)
    rows = patrol_desk().list(view, caller(), since=since, until=until, area=filters.area)
    shown = rows[:MAX_TRACKS]
    per_track = max(MIN_TRACK_POINTS, MAP_POINT_BUDGET // max(len(shown), 1))
    read = patrol_desk().tracks(view, caller(), [p["id"] for p in shown], max_points=per_track)
    tracks = {t["id"]: t for t in read}
    users = _names()
    colours = _colours(shown)
    out = []
    for p in shown:
        if p["id"] not in tracks:
            continue
        alerts = (p["summary"] or {}).get("alerts", [])
        out.append(
            {
                "id": p["id"],
                "worker": p["worker"],
                "worker_name": users.get(p["worker"], {}).get("shown", p["worker_name"]),
                "colour": colours[p["worker"]],
                "started": _local(p["started_at"], tz),
                "ended": _local(p["ended_at"], tz),
                "alerts": [
                    {
                        "lon": a["lon"],
                        "lat": a["lat"],
                        "at": _local(a["at"], tz),
                        "minutes": round(a["duration_s"] / 60),
                    }
                    for a in alerts
                ],
                "track": tracks[p["id"]]["track"],
                **({"simplified": tracks[p["id"]]["simplified"]} if "simplified" in tracks[p["id"]] else {}),
            }
        )
    return {
        "patrols": out,
        "total": len(rows),
        "at_least": len(rows) >= _LIST_CAP,
        "limit": MAX_TRACKS,
        "budget": {"points": MAP_POINT_BUDGET, "per_track": per_track},
    }
