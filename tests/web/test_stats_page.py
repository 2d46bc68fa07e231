"""The statistics page (/stats) and its downloads: the API's figures, as names, for the caller's areas only."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import date, datetime, timedelta, timezone
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit
from zoneinfo import ZoneInfo

import openpyxl
import pytest
import shapely
from flask_babel import force_locale

from accounts.users import find_user, set_locale
from issues.categories import DEFAULT_CATEGORIES
from tests.conftest import demo_password, private_app
from tests.web.browser import chromium_page, screenshot, served, sign_in

TZ = ZoneInfo("Asia/Shanghai")
COMMUNITY, OTHER_COMMUNITY = "510104001001", "510104001002"  # staff's and planner's community, and another
GRIDS = ("510104001001001", "510104001001002", "510104001001003")
OUTSIDE_GRID = "510104001002001"
HTML = {"Accept": "text/html"}
#: Filter sets the page is checked against the API with (dates are local, ``until`` inclusive).
FILTERS = [
    {},
    {"period": "day"},
    {"period": "week", "category": "gas_hazard"},
    {"since": "2026-11-01", "until": "2026-11-03", "period": "day"},
    {"area": GRIDS[0]},
    {"area": "510104001", "period": "week"},
]


def local(text: str) -> datetime:
    """A local wall-clock time (Asia/Shanghai) as an aware UTC instant."""
    return datetime.fromisoformat(text).replace(tzinfo=TZ).astimezone(timezone.utc)


class Clock:
    """The issue desk's clock, moved by the fixture."""

    def __init__(self):
        self.now = local("2026-10-30 09:30")

    def __call__(self):
        return self.now


#: (local report time, grid, category, steps: list of (local time, action)) of the issues the fixture files.
FILED = [
    ("2026-10-30 09:30", GRIDS[0], "gas_hazard", [("2026-10-30 09:50", "accept"), ("2026-10-30 10:00", "file")]),
    ("2026-10-30 10:00", GRIDS[1], "dispute", []),
    # half an hour after midnight local: November here, still 31 October in UTC
    ("2026-11-01 00:30", GRIDS[1], "exposed_rubbish", []),
    (
        "2026-11-02 10:00",
        GRIDS[2],
        "gas_hazard",
        [
            ("2026-11-02 10:10", "accept"),
            ("2026-11-02 10:20", "file"),
            ("2026-11-02 10:30", "dispatch"),
            ("2026-11-02 11:00", "start"),
            ("2026-11-02 14:00", "check"),
            ("2026-11-02 15:00", "close"),
        ],
    ),
    ("2026-11-03 09:00", GRIDS[0], "dispute", [("2026-11-04 16:00", "accept")]),  # accepted late
    ("2026-11-03 11:00", OUTSIDE_GRID, "gas_hazard", [("2026-11-03 11:10", "accept")]),
]
NOW = "2026-11-05 12:00"


@pytest.fixture(scope="module")
def world(demo_db, tmp_path_factory):
    """An app over a private demo copy with the issues of :data:`FILED` filed and worked through the API."""
    clock = Clock()
    app, registry, client = private_app(demo_db, tmp_path_factory.mktemp("stats"), ISSUE_CLOCK=clock)
    for name in ("admin", "planner", "staff", "worker"):  # English pages: the tests read the page's words
        set_locale(registry, find_user(registry, name).id, "en")
    admin, wechat = client("admin"), client("wechat")
    ids = []
    for when, grid, category, steps in FILED:
        clock.now = local(when)
        leaf = registry.areas(parent_code=grid).iloc[0]
        p = shapely.point_on_surface(leaf.geometry)
        made = wechat.post("/api/v1/issues", json={"category": category, "lon": p.x, "lat": p.y})
        assert made.status_code == 201, made.get_data(as_text=True)
        ids.append(made.get_json()["id"])
        for at, action in steps:
            clock.now = local(at)
            done = admin.post(f"/api/v1/issues/{ids[-1]}/actions", json={"action": action})
            assert done.status_code == 200, done.get_data(as_text=True)
    clock.now = local(NOW)
    return app, registry, client, ids


class _Tables(HTMLParser):
    """The page's tables (``table-<key>``: rows of cell texts and each row's hover title), its charts' JSON."""

    def __init__(self):
        super().__init__()
        self.tables: dict[str, dict] = {}
        self.json: dict[str, str] = {}
        self.links: dict[str, str] = {}
        self._table = self._cell = self._script = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table" and a.get("id", "").startswith("table-"):
            self._table = self.tables.setdefault(a["id"][6:], {"head": [], "rows": [], "hover": []})
        elif tag == "tr" and self._table is not None:
            self._row, self._hover = [], None
        elif tag in ("td", "th") and self._table is not None:
            self._cell = ""
            if tag == "td" and not self._row and a.get("title"):
                self._hover = a["title"]
        elif tag == "script" and a.get("type") == "application/json":
            self._script = a["id"]
            self.json[self._script] = ""
        elif tag == "a" and a.get("id"):
            self.links[a["id"]] = a.get("href")

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data
        if self._script is not None:
            self.json[self._script] += data

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self._row.append(self._cell.strip())
            self._cell = None
        elif tag == "tr" and self._table is not None:
            if not self._table["head"]:
                self._table["head"] = self._row
            else:
                self._table["rows"].append(self._row)
                self._table["hover"].append(self._hover)
        elif tag == "table":
            self._table = None
        elif tag == "script":
            self._script = None


def shown(response) -> _Tables:
    parser = _Tables()
    parser.feed(response.get_data(as_text=True))
    return parser


def api_query(filters: dict) -> dict:
    """The API's parameters for the page's filters: local dates become local midnights, ``until`` exclusive."""
    out = {k: v for k, v in filters.items() if k in ("area", "period", "category")}
    if "since" in filters:
        out["since"] = f"{filters['since']}T00:00:00"
    if "until" in filters:
        out["until"] = f"{date.fromisoformat(filters['until']) + timedelta(days=1)}T00:00:00"
    return out


def number(text: str):
    return float(text) if "." in text else int(text)


def rows_of(page: _Tables, key: str) -> list[list[str]]:
    return page.tables[key]["rows"] if page.tables[key]["rows"] != [[page_no_rows(page, key)]] else []


def page_no_rows(page: _Tables, key: str) -> str:
    rows = page.tables[key]["rows"]
    return rows[0][0] if len(rows) == 1 and len(rows[0]) == 1 else "\0"


def names(registry) -> dict[str, str]:
    return {code: node["name"] for code, node in registry.hierarchy().items()}


@pytest.mark.parametrize("role", ["staff", "admin", "planner"])
@pytest.mark.parametrize("filters", FILTERS, ids=lambda f: "&".join(f"{k}={v}" for k, v in f.items()) or "default")
def test_the_page_shows_the_api_figures_by_name(world, role, filters):
    app, registry, client, _ = world
    c = client(role)
    page_answer = c.get("/stats", query_string=filters, headers=HTML)
    if role != "admin" and not filters.get("area", COMMUNITY).startswith(COMMUNITY):  # above their community
        assert page_answer.status_code == 403
        assert c.get("/api/v1/issues/stats", query_string=api_query(filters)).status_code == 403
        return
    assert page_answer.status_code == 200, page_answer.get_data(as_text=True)[-800:]
    page = shown(page_answer)
    query = api_query(filters)
    if "area" not in filters and role != "admin":
        query["area"] = COMMUNITY  # the one area they are bound to: all they see
    if "area" not in filters and role == "admin":
        query["area"] = "510104"  # the admin sees the whole demo district, the one area at the top
    stats = c.get("/api/v1/issues/stats", query_string=query).get_json()
    area_names = names(registry)

    summary = dict(rows_of(page, "summary"))
    assert [number(v) for v in list(summary.values())[:4]] == [
        stats["total"],
        sum(stats["open_by_state"].values()),
        stats["overdue"],
        stats["closed"],
    ]
    hours = list(summary.values())[4]
    assert (hours == "—") if stats["mean_hours_to_close"] is None else number(hours) == stats["mean_hours_to_close"]
    assert {s: int(n) for s, n in rows_of(page, "by_state")} == {
        _state_name(app, s): n for s, n in stats["by_state"].items()
    }

    # periods × categories, by the categories' names
    table = page.tables["by_category"]
    header = table["head"]
    assert "Asia/Shanghai" in header[0] and header[-1]
    by_name = {c.name_en: c.code for c in DEFAULT_CATEGORIES.values()}  # English pages
    cells = {}
    for row in rows_of(page, "by_category"):
        values = [int(v) for v in row[1:]]
        assert values[-1] == sum(values[:-1])
        for name, count in zip(header[1:-1], values[:-1], strict=True):
            if count:
                cells[(row[0].replace(" – ", "/"), by_name[name])] = count
    assert cells == {(c["period"], c["category"]): c["count"] for c in stats["by_category_over_time"]}

    # the areas below, by name with the code on hover
    rows = rows_of(page, "by_area")
    assert page.tables["by_area"]["hover"][: len(rows)] == [c["code"] for c in stats["by_child_area"]]
    assert [r[0] for r in rows] == [
        area_names.get(c["code"], "") or "Not located at this level" for c in stats["by_child_area"]
    ]
    assert [[int(v) for v in r[1:]] for r in rows] == [
        [c["total"], c["open"], c["overdue"]] for c in stats["by_child_area"]
    ]

    # on time per stage, by the stage's name
    got = {r[0]: [int(r[1]), int(r[2]), float(r[3])] for r in rows_of(page, "on_time")}
    want = {
        _state_name(app, s): [v["finished"], v["on_time"], round(v["rate"] * 100, 1)]
        for s, v in stats["on_time_by_stage"].items()
    }
    assert got == want

    # the charts draw the tables' numbers
    chart = json.loads(page.json["stats-data"])
    assert chart["by_category"]["labels"] == [r[0] for r in rows_of(page, "by_category")]
    assert [s["label"] for s in chart["by_category"]["series"]] == header[1:-1]
    for i, series in enumerate(chart["by_category"]["series"], start=1):
        assert series["data"] == [int(r[i]) for r in rows_of(page, "by_category")]
    assert chart["by_area"]["series"][0]["data"] == [c["total"] for c in stats["by_child_area"]]
    assert chart["on_time"]["series"][0]["data"] == [v[2] for v in got.values()]


def _state_name(app, state: str) -> str:
    from web.names import STATE_NAMES

    with app.test_request_context(), force_locale("en"):
        return str(STATE_NAMES[state])


def test_figures_of_the_fixture(world):
    """The page's numbers are the filed issues', counted by hand: the zone decides the day and the month."""
    app, registry, client, _ = world
    staff = client("staff")
    inside = [f for f in FILED if f[1] != OUTSIDE_GRID]
    page = shown(staff.get("/stats", headers=HTML))
    summary = dict(rows_of(page, "summary"))
    assert int(summary["Issues reported"]) == len(inside)
    assert int(summary["Closed"]) == 1 and float(summary["Mean hours to close"]) == 5.0
    months = {r[0]: int(r[-1]) for r in rows_of(page, "by_category")}
    assert months == {"2026-10": 2, "2026-11": len(inside) - 2}  # 1 November 00:30 local counts in November
    november = shown(staff.get("/stats?since=2026-11-01&until=2026-11-01&period=day", headers=HTML))
    assert {r[0]: int(r[-1]) for r in rows_of(november, "by_category")} == {"2026-11-01": 1}
    october = shown(staff.get("/stats?until=2026-10-31", headers=HTML))
    assert int(dict(rows_of(october, "summary"))["Issues reported"]) == 2
    stages = {r[0]: (int(r[1]), int(r[2])) for r in rows_of(page, "on_time")}
    assert stages[_state_name(app, "reported")] == (3, 2)  # two accepted in minutes, one the next day
    assert stages[_state_name(app, "checked")] == (1, 1)


def test_the_overdue_link_opens_the_queue_of_exactly_those_issues(world):
    app, registry, client, _ = world
    staff = client("staff")
    for filters in ({}, {"category": "dispute", "since": "2026-11-01", "until": "2026-11-04"}):
        page = shown(staff.get("/stats", query_string=filters, headers=HTML))
        link = page.links["overdue-link"]
        assert urlsplit(link).path == "/issues"
        query = dict(parse_qsl(urlsplit(link).query))
        assert query["overdue"] == "true"
        overdue = int(dict(rows_of(page, "summary"))["Overdue now"])
        listed = staff.get("/api/v1/issues", query_string=query).get_json()["total"]
        assert listed == overdue and overdue > 0
        assert staff.get(link, headers=HTML).status_code == 200
    planner = shown(client("planner").get("/stats", headers=HTML))  # planners see figures, not the queue
    assert "overdue-link" not in planner.links and int(dict(rows_of(planner, "summary"))["Overdue now"]) > 0


def _csv_tables(data: bytes) -> tuple[list[list[str]], dict[str, list[list[str]]]]:
    """The filter rows at the top, and each table by title: its header row then its rows."""
    assert data.startswith(b"\xef\xbb\xbf")  # UTF-8 with a BOM, for Excel
    blocks = data.decode("utf-8-sig").split("\r\n\r\n")
    about = list(csv.reader(io.StringIO(blocks[0])))
    tables = {}
    for block in blocks[1:]:
        rows = list(csv.reader(io.StringIO(block)))
        tables[rows[0][0]] = rows[1:]
    return about, tables


def _shown_by_title(response) -> dict[str, list[list[str]]]:
    html = response.get_data(as_text=True)
    titles = dict(re.findall(r'<table id="table-(\w+)" data-title="([^"]*)"', html))
    page = shown(response)
    return {titles[key].replace("&amp;", "&"): [t["head"], *rows_of(page, key)] for key, t in page.tables.items()}


@pytest.mark.parametrize(
    "filters", [{}, {"period": "week", "category": "gas_hazard"}, {"area": GRIDS[1], "period": "day"}]
)
def test_downloads_hold_exactly_the_shown_tables(world, filters):
    app, registry, client, _ = world
    staff = client("staff")
    answer = staff.get("/stats", query_string=filters, headers=HTML)
    page = shown(answer)
    expected = _shown_by_title(answer)
    assert len(expected) == 5
    for fmt in ("csv", "xlsx"):
        link = page.links[f"download-{fmt}"]
        assert dict(parse_qsl(urlsplit(link).query)).items() >= {k: v for k, v in filters.items()}.items()
        got = staff.get(link)
        assert got.status_code == 200
        assert f"filename=stats-{filters.get('area', COMMUNITY)}-20261105.{fmt}" in got.headers["Content-Disposition"]
        if fmt == "csv":
            assert got.mimetype == "text/csv" and got.mimetype_params["charset"] == "utf-8"
            about, tables = _csv_tables(got.data)
        else:
            book = openpyxl.load_workbook(io.BytesIO(got.data))
            sheets = [[["" if v is None else str(v) for v in r] for r in s.iter_rows(values_only=True)] for s in book]
            about = sheets[0]
            tables = {s.title: rows for s, rows in zip(book.worksheets[1:], sheets[1:], strict=True)}
            expected = {title[:31]: rows for title, rows in expected.items()}
        assert tables == expected, fmt
        about = dict(about)
        assert about["Area"] == registry.hierarchy()[filters.get("area", COMMUNITY)]["name"]  # the name, not the code
        assert "Asia/Shanghai" in about["Issue statistics"]
        assert any("Asia/Shanghai" in k for k in about)  # the dates are labelled with their zone


def test_a_caller_sees_only_their_own_areas(world):
    app, registry, client, _ = world
    staff = client("staff")
    page_answer = staff.get("/stats", headers=HTML)
    html = page_answer.get_data(as_text=True)
    options = re.findall(r'<option value="(\d+)"', html)
    assert options and all(code.startswith(COMMUNITY) for code in options)
    assert "All my areas" not in html  # bound to one community: that community is everything they see
    page = shown(page_answer)
    assert int(dict(rows_of(page, "summary"))["Issues reported"]) == sum(f[1] != OUTSIDE_GRID for f in FILED)
    assert all(code.startswith(COMMUNITY) for code in page.tables["by_area"]["hover"])
    for path in ("/stats", "/stats.csv", "/stats.xlsx"):
        refused = staff.get(path, query_string={"area": OTHER_COMMUNITY}, headers=HTML)
        assert refused.status_code == 403, path
        assert "510104001002" not in refused.get_data(as_text=True).replace(f"'{OTHER_COMMUNITY}'", "")
    admin = shown(client("admin").get("/stats", query_string={"area": OTHER_COMMUNITY}, headers=HTML))
    assert int(dict(rows_of(admin, "summary"))["Issues reported"]) == sum(f[1] == OUTSIDE_GRID for f in FILED)
    assert client("worker").get("/stats", headers=HTML).status_code == 403  # no statistics for grid workers


BAD = [
    ({"period": "year"}, "period"),
    ({"since": "2026-13-01"}, "start date"),
    ({"since": "yesterday"}, "start date"),
    ({"until": "2026-02-30"}, "end date"),
    ({"since": "2026-11-05", "until": "2026-11-01"}, "after the end date"),
    ({"until": "9999-12-31"}, "end date"),
    ({"since": "0001-01-01"}, "since"),
    ({"category": "no_such_thing"}, "Unknown category"),
    ({"area": "x" * 40}, "32 characters"),
    ({"area": "999999"}, "No such area"),
    ({"colour": "red"}, "Unknown parameter colour"),
]


@pytest.mark.parametrize(("filters", "said"), BAD, ids=[str(b[0])[:30] for b in BAD])
def test_bad_filters_are_a_clear_400(world, filters, said):
    app, registry, client, _ = world
    staff = client("staff")
    answer = staff.get("/stats", query_string=filters, headers=HTML)
    assert answer.status_code == 400
    html = answer.get_data(as_text=True)
    error = re.search(r'<p class="error" role="alert" id="stats-error">(.*?)</p>', html, re.S).group(1)
    assert said in error
    assert 'id="table-summary"' not in html and "stats-data" not in html  # no figures for a filter not understood
    for fmt in ("csv", "xlsx"):
        refused = staff.get(f"/stats.{fmt}", query_string=filters)
        assert refused.status_code == 400
        assert refused.get_json()["error"]["code"] == "bad_filter" and said in refused.get_json()["error"]["message"]


def test_api_statistics_take_a_category(world):
    app, registry, client, _ = world
    admin = client("admin")
    total = admin.get("/api/v1/issues/stats").get_json()["total"]
    gas = admin.get("/api/v1/issues/stats?category=gas_hazard").get_json()
    assert gas["total"] == sum(f[2] == "gas_hazard" for f in FILED) < total
    assert {c["category"] for c in gas["by_category_over_time"]} == {"gas_hazard"}


def test_every_page_text_has_its_chinese():
    """Every message id of the page's code and template has Chinese: in pending/stats.json until it is merged."""
    from babel.messages.extract import extract_from_file
    from babel.messages.pofile import read_po

    root = Path(__file__).resolve().parents[2]
    pending_file = root / "web/translations/pending/stats.json"
    chinese = json.loads(pending_file.read_text("utf-8")) if pending_file.exists() else {}
    for po in (root / "web/translations").glob("*/LC_MESSAGES/messages.po"):
        with po.open("rb") as fh:
            chinese |= {
                str(m.id): m.string for m in read_po(fh) if m.id and m.string and not m.fuzzy and m.id not in chinese
            }
    ids = set()
    keywords = {"_": None, "gettext": None, "_l": None, "lazy_gettext": None}
    for path, method in (("web/stats_pages.py", "python"), ("web/templates/stats.html", "jinja2")):
        for _, message, _, _ in extract_from_file(method, root / path, keywords=keywords):
            ids.add(message if isinstance(message, str) else message[0])
    assert ids and {m for m in ids if m not in chinese} == set()
    for message in ids:
        assert re.search(r"[\u4e00-\u9fff]", chinese[message]), message
        assert sorted(re.findall(r"%\(\w+\)s", message)) == sorted(re.findall(r"%\(\w+\)s", chinese[message])), message


@pytest.mark.browser
@pytest.mark.parametrize("role", ["admin", "staff"])
@pytest.mark.parametrize("size", [(1440, 900), (390, 844)])
def test_the_charts_draw_offline_on_a_desk_and_a_phone(world, role, size):
    app, registry, client, _ = world
    set_locale(registry, find_user(registry, role).id, "zh_CN")  # the default language, as staff see it
    try:
        _charts_in_browser(app, role, size)
    finally:
        set_locale(registry, find_user(registry, role).id, "en")


def _charts_in_browser(app, role, size):
    with served(app) as url, chromium_page(url) as (page, log):
        page.set_viewport_size({"width": size[0], "height": size[1]})
        sign_in(page, url, role, demo_password(role), target="/stats")
        page.wait_for_load_state("networkidle")
        assert page.locator("canvas").count() == 3
        painted = page.evaluate(
            """() => [...document.querySelectorAll('canvas')].map(c => {
                 const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                 let n = 0; for (let i = 3; i < d.length; i += 4) { if (d[i] > 0) n++; } return n; })"""
        )
        assert all(n > 500 for n in painted), painted
        for box in page.locator("canvas").all():
            assert box.bounding_box()["width"] <= size[0]
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= size[0], f"{width} px wide in a {size[0]} px window"
        screenshot(page, f"stats-{role}-{size[0]}")
    assert log["blocked"] == [] and log["console_errors"] == [] and log["page_errors"] == []


def test_the_patrol_block_is_the_compliance_api_for_the_same_area_and_dates(world):
    app, registry, client, _ = world
    leaf = registry.areas(parent_code=GRIDS[0]).iloc[0]
    p = shapely.point_on_surface(leaf.geometry)
    worker = client("worker")
    made = worker.post("/api/v1/patrols", json={"client_id": "stats-1", "started_at": "2026-11-02T09:00:00+08:00"})
    fixes = [
        {"t": f"2026-11-02T09:{i:02d}:00+08:00", "lon": p.x + i * 2e-5, "lat": p.y, "accuracy": 5} for i in range(20)
    ]
    worker.post(f"/api/v1/patrols/{made.get_json()['id']}/positions", json={"positions": fixes})
    worker.post(f"/api/v1/patrols/{made.get_json()['id']}/end", json={"ended_at": "2026-11-02T09:30:00+08:00"})
    filters = {"area": GRIDS[0], "since": "2026-11-01", "until": "2026-11-03"}
    window = {"area": GRIDS[0], "since": "2026-11-01T00:00:00+08:00", "until": "2026-11-04T00:00:00+08:00"}
    grids = client("staff").get("/api/v1/patrols/compliance", query_string=window).get_json()["micro_grids"]
    html = client("staff").get("/stats", query_string=filters, headers=HTML).get_data(as_text=True)
    block = dict(re.findall(r'id="patrol-(count|micro-grids|households)">([^<]*)<', html))
    assert block == {
        "count": "1",
        "micro-grids": f"{sum(1 for g in grids if g['patrols'])} / {len(grids)}",
        "households": f"{sum(g['households_visited'] for g in grids)} / {sum(g['households_due'] for g in grids)}",
    } and block["micro-grids"].startswith("1 / ")
    assert 'id="patrol-block"' not in client("planner").get("/stats", query_string=filters, headers=HTML).get_data(
        as_text=True
    )  # planners may not read patrols


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ({"category": "nope"}, 400),  # the page says 400; the API answered 200 with every count 0
        ({"since": "2026-12-01", "until": "2026-11-01"}, 400),  # start after end
        ({"since": "2026-11-01T00:00:00", "until": "2026-11-01T00:00:00+08:00"}, 400),  # the same instant, naive
        ({"since": "2026-11-01T00:00:00Z", "until": "2026-11-01T08:00:01+08:00"}, 200),  # one second apart
    ],
)
def test_the_api_refuses_what_the_page_refuses(world, query, status):
    _app, _registry, client, _ = world
    response = client("admin").get("/api/v1/issues/stats", query_string=query)
    assert response.status_code == status, response.get_data(as_text=True)[:300]
    if status == 400:
        assert response.get_json()["error"]["code"] == "invalid_input"


def test_an_empty_category_is_every_category_in_the_api_as_on_the_page(world):
    _app, _registry, client, _ = world
    c = client("admin")
    every = c.get("/api/v1/issues/stats").get_json()
    assert every["total"] > 0
    assert c.get("/api/v1/issues/stats", query_string={"category": ""}).get_json()["total"] == every["total"]
