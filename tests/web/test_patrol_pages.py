"""The patrol compliance page (/patrols), its workbook and its map's tracks, on the Yulin registry with patrols
walked along the real roads and recorded through the API: the API's figures, by name, for the caller's areas only;
every read of someone's track in the audit log."""

from __future__ import annotations

import io
import json
import re
import uuid
from datetime import date, datetime, timedelta, timezone
from html.parser import HTMLParser
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import openpyxl
import pytest
import shapely

from accounts.users import set_locale
from core.audit import entries
from issues.worktime import local_text
from tests.patrols.conftest import STREET, WORKER_GRID, road_path, walk, yulin  # noqa: F401 (the fixture)
from tests.web.browser import chromium_page, screenshot, served, sign_in

TZ = "Asia/Shanghai"
COMMUNITY, OTHER_COMMUNITY = f"{STREET}001", f"{STREET}002"
OTHER_GRID = f"{STREET}002001"
DAY = 86_400.0
#: 2026-11-27 09:00 in Shanghai.
START = 1_795_741_200.0
PERIOD = {"since": "2026-11-27", "until": "2026-11-28"}
HTML = {"Accept": "text/html"}
PASSWORDS = {name: f"{name}-Passw0rd!" for name in ("admin", "staff", "staff2", "worker", "worker2")}


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone(timedelta(hours=8))).isoformat()


def _record(world, name: str, grid: str, seed: int, start: float) -> int:
    """One patrol walked along the roads across ``grid``'s edge, sent through the API; its id."""
    client = world.client(name)
    w = walk(road_path(world.roads, world.area(grid), length_m=2000.0), seed=seed, start=start)
    made = client.post("/api/v1/patrols", json={"client_id": str(uuid.uuid4()), "started_at": _iso(w.t[0])})
    assert made.status_code == 201, made.json
    fixes = [
        {"t": _iso(t), "lon": float(a), "lat": float(b), "accuracy": float(c)}
        for t, a, b, c in zip(w.t, w.lon, w.lat, w.accuracy, strict=True)
    ]
    assert client.post(f"/api/v1/patrols/{made.json['id']}/positions", json={"positions": fixes}).status_code == 200
    ended = client.post(f"/api/v1/patrols/{made.json['id']}/end", json={"ended_at": _iso(w.t[-1] + 5)})
    assert ended.status_code == 200
    return made.json["id"]


@pytest.fixture(scope="module")
def world(yulin):  # noqa: F811
    """Three patrols of the worker of community 1 (two in the period, one before it), one of the worker of
    community 2, and a check-in at a building of the worker's grid in the period."""
    yulin.patrols = {
        "worker": [
            _record(yulin, "worker", WORKER_GRID, 21, START),
            _record(yulin, "worker", WORKER_GRID, 22, START + DAY + 3600),
            _record(yulin, "worker", WORKER_GRID, 23, START - 10 * DAY),
        ],
        "worker2": [_record(yulin, "worker2", OTHER_GRID, 24, START + 1800)],
    }
    rows = yulin.registry.store.buildings()
    area = yulin.area(WORKER_GRID)
    row = next(r for r in rows if area.covers(shapely.Point(r["lon"], r["lat"])))
    checkin = {"client_id": "visit-1", "building_id": row["id"], "lon": row["lon"], "lat": row["lat"]}
    made = yulin.client("worker").post("/api/v1/checkins", json=checkin | {"accuracy": 5, "at": _iso(START + 600)})
    assert made.status_code == 201, made.json
    return yulin


class _Page(HTMLParser):
    """The page's tables (``table-<key>``: head, rows of cell texts, each row's first-cell title, class and
    ``data-patrol``), its JSON elements and the texts of elements with an id."""

    def __init__(self):
        super().__init__()
        self.tables: dict[str, dict] = {}
        self.json: dict[str, str] = {}
        self.ids: dict[str, str] = {}
        self.attrs: dict[str, dict] = {}
        self._table = self._cell = self._script = None
        self._open: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get("id"):
            self.attrs[a["id"]] = a
        if tag in ("span", "p", "a"):
            self._open.append(a.get("id"))
            if a.get("id"):
                self.ids[a["id"]] = ""
        if tag == "table" and a.get("id", "").startswith("table-"):
            self._table = self.tables.setdefault(a["id"][6:], {"head": [], "rows": [], "hover": [], "meta": []})
        elif tag == "tr" and self._table is not None:
            self._row, self._hover, self._meta = [], None, {"class": a.get("class"), "patrol": a.get("data-patrol")}
        elif tag in ("td", "th") and self._table is not None:
            self._cell = ""
            if tag == "td" and not self._row:
                self._hover = a.get("title")
        elif tag == "script" and a.get("type") == "application/json":
            self._script = a["id"]
            self.json[self._script] = ""

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data
        if self._script is not None:
            self.json[self._script] += data
        for key in self._open:
            if key:
                self.ids[key] += data

    def handle_endtag(self, tag):
        if tag in ("span", "p", "a") and self._open:
            self._open.pop()
        if tag in ("td", "th") and self._cell is not None:
            self._row.append(self._cell.strip())
            self._cell = None
        elif tag == "tr" and self._table is not None:
            if not self._table["head"]:
                self._table["head"] = self._row
            elif len(self._row) > 1:  # not the "nothing here" row
                self._table["rows"].append(self._row)
                self._table["hover"].append(self._hover)
                self._table["meta"].append(self._meta)
        elif tag == "table":
            self._table = None
        elif tag == "script":
            self._script = None


def page_of(response) -> _Page:
    parser = _Page()
    parser.feed(response.get_data(as_text=True))
    return parser


def api_window(filters: dict) -> dict:
    """The API's query for the page's filters: local midnights, ``until`` the day after the last day."""
    since, until = date.fromisoformat(filters["since"]), date.fromisoformat(filters["until"]) + timedelta(days=1)
    out = {"since": f"{since}T00:00:00+08:00", "until": f"{until}T00:00:00+08:00"}
    return out | ({"area": filters["area"]} if filters.get("area") else {})


def number(text: str):
    return float(text) if "." in text else int(text)


def _local(value: str | None) -> str:
    return local_text(datetime.fromisoformat(value), TZ) if value else ""


FILTERS = [
    PERIOD,
    PERIOD | {"area": COMMUNITY},
    PERIOD | {"area": WORKER_GRID},
    {"since": "2026-11-01", "until": "2026-11-30"},
]


@pytest.mark.parametrize("role", ["admin", "staff"])
@pytest.mark.parametrize("filters", FILTERS, ids=lambda f: "&".join(f"{k}={v}" for k, v in f.items()))
def test_the_tables_are_the_compliance_api_by_name(world, role, filters):
    client = world.client(role)
    response = client.get("/patrols", query_string=filters, headers=HTML)
    assert response.status_code == 200, response.get_data(as_text=True)[-800:]
    page = page_of(response)
    query = api_window(filters)
    if role == "staff" and "area" not in filters:
        query["area"] = COMMUNITY  # the one area they are bound to: all they see
    api = client.get("/api/v1/patrols/compliance", query_string=query).json
    shown = {w["name"]: w["display_name"] or w["name"] for w in api["workers"]}
    workers = [w for w in api["workers"] if w["micro_grids_due"]]
    assert workers, "the fixture's workers have micro-grids in every area asked"
    expected = [
        [shown[w["name"]], *(w[k] for k in ("micro_grids_patrolled", "micro_grids_due")), w["households_visited"],
         w["households_due"], w["vulnerable_visited"], w["vulnerable_due"], len(w["not_patrolled"])]
        for w in workers
    ]  # fmt: skip
    table = page.tables["workers"]
    assert [[r[0], *map(number, r[1:])] for r in table["rows"]] == expected
    assert table["hover"] == [w["name"] for w in workers]
    grids = page.tables["micro_grids"]
    names = "、".join
    assert [[r[0], r[1], number(r[2]), r[3], *map(number, r[4:])] for r in grids["rows"]] == [
        [g["name"], names(shown[n] for n in g["workers"]), g["patrols"], _local(g["last_patrolled"]),
         g["households_visited"], g["households_due"], g["vulnerable_visited"], g["vulnerable_due"]]
        for g in api["micro_grids"]
    ]  # fmt: skip
    assert grids["hover"] == [g["code"] for g in api["micro_grids"]]
    highlighted = [g["code"] for g, meta in zip(api["micro_grids"], grids["meta"], strict=True) if meta["class"]]
    assert highlighted == api["not_patrolled"] and highlighted
    patrolled = sum(1 for g in api["micro_grids"] if g["patrols"])
    assert 0 < patrolled < len(api["micro_grids"])
    assert page.ids["n-micro-grids"] == f"{patrolled} / {len(api['micro_grids'])}"
    visited = sum(g["households_visited"] for g in api["micro_grids"])
    due = sum(g["households_due"] for g in api["micro_grids"])
    assert page.ids["n-households"] == f"{visited} / {due}"
    vulnerable = [sum(g[k] for g in api["micro_grids"]) for k in ("vulnerable_visited", "vulnerable_due")]
    assert page.ids["n-vulnerable"] == "{} / {}".format(*vulnerable)
    assert visited > 0  # the check-in
    listed = client.get("/api/v1/patrols", query_string=query).json["patrols"]
    assert [int(m["patrol"]) for m in page.tables["patrols"]["meta"]] == [p["id"] for p in listed]
    assert [r[1] for r in page.tables["patrols"]["rows"]] == [_local(p["started_at"]) for p in listed]
    assert page.ids["n-patrols"] == str(len(listed))
    if role == "admin" and filters == PERIOD:  # everyone's patrols but the one before the period
        assert {p["id"] for p in listed} == {*world.patrols["worker"][:2], *world.patrols["worker2"]}


def test_the_default_period_is_the_last_30_days(world):
    page = page_of(world.client("staff").get("/patrols", headers=HTML))
    since, until = (date.fromisoformat(page.attrs[k]["value"]) for k in ("since", "until"))
    assert (until - since).days == 29
    today = datetime.now(ZoneInfo(TZ)).date()
    assert until == today


def test_the_workbook_holds_the_shown_tables(world):
    client = world.client("staff")
    filters = PERIOD | {"area": COMMUNITY}
    page = page_of(client.get("/patrols", query_string=filters, headers=HTML))
    link = page.attrs["download-xlsx"]["href"]
    response = client.get(link)
    assert response.status_code == 200 and response.mimetype.endswith("spreadsheetml.sheet")
    book = openpyxl.load_workbook(io.BytesIO(response.data))
    about = [[c.value for c in row] for row in book.worksheets[0].iter_rows()]
    assert ["2026-11-27", "2026-11-28"] == [about[2][1], about[3][1]] and "UTC+08:00" in about[2][0]
    for key in ("workers", "micro_grids", "patrols"):
        table = page.tables[key]
        sheet = next(s for s in book.worksheets[1:] if s.title == page.attrs[f"table-{key}"].get("data-title", s.title))
        rows = [["" if v is None else str(v) for v in row] for row in sheet.iter_rows(values_only=True)]
        assert rows[0] == table["head"], key
        assert rows[1:] == table["rows"], key
    assert any("UTC+08:00" in h for h in page.tables["patrols"]["head"])


def test_the_map_data_are_the_tracks_and_reading_them_is_audited(world):
    staff = world.client("staff")
    engine = world.registry.store.engine
    mine = world.patrols["worker"][0]
    before = len(entries(engine, user="staff", object_type="patrol", object_id=str(mine))[0])
    answer = staff.get("/patrols/tracks", query_string=PERIOD)
    assert answer.status_code == 200
    data = answer.json
    listed = staff.get("/api/v1/patrols", query_string=api_window(PERIOD)).json["patrols"]
    assert [p["id"] for p in data["patrols"]] == [p["id"] for p in listed] and data["total"] == len(listed)
    assert set(world.patrols["worker2"]).isdisjoint(p["id"] for p in data["patrols"])  # another community's
    for drawn in data["patrols"]:
        one = world.client("admin").get(f"/api/v1/patrols/{drawn['id']}").json
        assert drawn["track"] == one["track"]
        assert drawn["started"] == _local(one["started_at"]) and drawn["ended"] == _local(one["ended_at"])
        assert [(a["lon"], a["lat"], a["at"]) for a in drawn["alerts"]] == [
            (a["lon"], a["lat"], _local(a["at"])) for a in one["summary"]["alerts"]
        ]
    assert any(p["alerts"] for p in data["patrols"]), "the walks leave the worker's grid for more than 5 minutes"
    reads = entries(engine, user="staff", object_type="patrol", object_id=str(mine))[0]
    assert len(reads) == before + 1 and reads[0]["action"] == "read_track"
    staff.get(f"/api/v1/patrols/{mine}")  # the API's read of one track is recorded too
    assert [e["action"] for e in entries(engine, user="staff", object_type="patrol", object_id=str(mine))[0]][:2] == [
        "read_track",
        "read_track",
    ]
    world.client("worker").get(f"/api/v1/patrols/{mine}")  # reading one's own track is not someone's data
    assert entries(engine, user="worker", object_type="patrol", object_id=str(mine))[0][0]["action"] == "end"


def test_the_map_data_thin_each_track_to_its_budget(world, monkeypatch):
    import web.patrol_pages as pages
    from patrols.tracks import project

    monkeypatch.setattr(pages, "MAP_POINT_BUDGET", 1)
    monkeypatch.setattr(pages, "MIN_TRACK_POINTS", 40)
    admin = world.client("admin")
    data = admin.get("/patrols/tracks", query_string=PERIOD).json
    assert data["budget"] == {"points": 1, "per_track": 40}
    assert data["patrols"]
    for drawn in data["patrols"]:
        full = admin.get(f"/api/v1/patrols/{drawn['id']}").json["track"]["features"]
        kept = sum(len(f["properties"]["times"]) for f in full)
        shown = sum(len(f["properties"]["times"]) for f in drawn["track"]["features"])
        assert kept > 40 and shown <= 40
        assert drawn["simplified"]["points"] == shown and drawn["simplified"]["of"] == kept
        tolerance = drawn["simplified"]["tolerance_m"]
        crs = None
        for whole, thin in zip(full, drawn["track"]["features"], strict=True):  # the same segments, thinned
            assert thin["properties"]["times"][0] == whole["properties"]["times"][0]
            assert thin["properties"]["times"][-1] == whole["properties"]["times"][-1]
            if thin["geometry"]["type"] == "Point":
                continue
            a = np.array(whole["geometry"]["coordinates"])
            b = np.array(thin["geometry"]["coordinates"])
            xa, ya, crs = project(a[:, 0], a[:, 1], crs)
            xb, yb, _ = project(b[:, 0], b[:, 1], crs)
            far = shapely.distance(shapely.linestrings(xb, yb), shapely.points(xa, ya)).max()
            assert far <= tolerance + 0.05, (drawn["id"], far, tolerance)  # coordinates are rounded to 1e-7°


def test_a_caller_sees_only_their_areas_workers(world):
    other = world.client("staff2")
    page = page_of(other.get("/patrols", query_string=PERIOD, headers=HTML))
    assert [r[0] for r in page.tables["workers"]["rows"]] == ["worker2"]
    assert {int(m["patrol"]) for m in page.tables["patrols"]["meta"]} == set(world.patrols["worker2"])
    html = other.get("/patrols", query_string=PERIOD, headers=HTML).get_data(as_text=True)
    assert ">worker<" not in html and WORKER_GRID not in html
    tracks = other.get("/patrols/tracks", query_string=PERIOD).json["patrols"]
    assert [p["id"] for p in tracks] == world.patrols["worker2"]
    for path in ("/patrols", "/patrols.xlsx", "/patrols/tracks"):
        assert other.get(path, query_string=PERIOD | {"area": COMMUNITY}).status_code == 403, path
        assert world.client("worker").get(path, query_string=PERIOD).status_code == 403, path


@pytest.mark.parametrize(
    ("filters", "said"),
    [
        ({"since": "2026-1-1"}, "2026-11-01"),
        ({"until": "2026-13-01"}, "calendar"),
        ({"since": "2026-02-30"}, "calendar"),
        ({"since": "2026-11-28", "until": "2026-11-27"}, "after"),
        ({"since": "2025-01-01", "until": "2026-11-27"}, "366"),
        ({"area": "999999"}, "999999"),
        ({"period": "week"}, "period"),
        ({"area": "x" * 40}, "32"),
        ({"since": "0001-01-01", "until": "0001-01-02"}, "1970-01-01"),  # year 1 at +08:00 is before UTC's year 1
        ({"until": "9999-12-31"}, "9999-12-31"),
    ],
)
def test_bad_filters_are_a_clear_400(world, filters, said):
    staff = world.client("staff")
    set_locale(world.registry, world.users["staff"].id, "en")
    try:
        page = staff.get("/patrols", query_string=filters, headers=HTML)
    finally:
        set_locale(world.registry, world.users["staff"].id, "zh_CN")
    assert page.status_code == 400
    html = page.get_data(as_text=True)
    assert 'id="patrol-error"' in html and said in html and 'id="table-workers"' not in html
    for path in ("/patrols.xlsx", "/patrols/tracks"):
        refused = staff.get(path, query_string=filters)
        assert refused.status_code == 400 and refused.json["error"]["code"] == "bad_filter", path


def test_the_statistics_page_block_takes_every_date_the_page_takes(world):
    staff = world.client("staff")
    for filters in ({"since": "1900-01-01", "until": "1900-01-02"}, {"since": "9999-12-30"}, PERIOD):
        html = staff.get("/stats", query_string=filters, headers=HTML).get_data(as_text=True)
        assert 'id="patrol-count"' in html, filters
    assert 'id="patrol-count">2<' in staff.get("/stats", query_string=PERIOD, headers=HTML).get_data(as_text=True)


def test_every_page_text_has_its_chinese():
    """Every message id of the page's code, template and navigation has Chinese (pending/patrols*.json or catalog)."""
    from babel.messages.extract import extract_from_file
    from babel.messages.pofile import read_po

    root = Path(__file__).resolve().parents[2]
    chinese = {}
    for name in ("patrols.json", "patrols2.json"):
        pending = root / "web/translations/pending" / name
        chinese |= json.loads(pending.read_text("utf-8")) if pending.exists() else {}
    for po in (root / "web/translations").glob("*/LC_MESSAGES/messages.po"):
        with po.open("rb") as fh:
            chinese |= {str(m.id): m.string for m in read_po(fh) if m.id and m.string and m.id not in chinese}
    ids = {"Patrols"}
    keywords = {"_": None, "gettext": None, "_l": None, "lazy_gettext": None}
    for path, method in (("web/patrol_pages.py", "python"), ("web/templates/patrols.html", "jinja2")):
        for _, message, _, _ in extract_from_file(method, root / path, keywords=keywords):
            ids.add(message if isinstance(message, str) else message[0])
    assert {m for m in ids if m not in chinese} == set()
    for message in ids:
        assert re.search(r"[\u4e00-\u9fff]", chinese[message]), message
        assert sorted(re.findall(r"%\(\w+\)s", message)) == sorted(re.findall(r"%\(\w+\)s", chinese[message])), message


@pytest.mark.browser
@pytest.mark.parametrize("role", ["admin", "staff"])
@pytest.mark.parametrize("size", [(1440, 900), (390, 844)])
def test_tracks_and_chart_draw_on_a_desk_and_a_phone(world, role, size):
    with served(world.app) as url, chromium_page(url) as (page, log):
        page.set_viewport_size({"width": size[0], "height": size[1]})
        target = "/patrols?since=2026-11-27&until=2026-11-28"
        sign_in(page, url, role, PASSWORDS[role], target=target)
        page.wait_for_selector("#patrol-map[data-drawn]", timeout=20_000)
        page.wait_for_load_state("networkidle")
        drawn = int(page.get_attribute("#patrol-map", "data-drawn"))
        expected = len(world.client(role).get("/patrols/tracks", query_string=PERIOD).json["patrols"])
        assert drawn == expected >= 2
        assert page.locator("#patrol-map path.leaflet-interactive").count() >= drawn  # a line per segment
        assert page.locator("#patrol-map .alert-icon").count() >= 1
        painted = page.evaluate(
            """() => [...document.querySelectorAll('[data-chart] canvas')].map(c => {
                 const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                 let n = 0; for (let i = 3; i < d.length; i += 4) { if (d[i] > 0) n++; } return n; })"""
        )
        assert len(painted) == 1 and painted[0] > 500, painted
        page.locator("button.show-track").first.click()
        page.wait_for_selector(".leaflet-popup-content .track-tip")
        page.wait_for_function("() => getComputedStyle(document.querySelector('.leaflet-popup')).opacity === '1'")
        tip = page.inner_text(".leaflet-popup-content .track-tip")
        assert "worker" in tip and "2026-11-2" in tip
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= size[0], f"{width} px wide in a {size[0]} px window"
        page.evaluate("window.scrollTo(0, 0)")
        screenshot(page, f"patrols-{role}-{size[0]}")
    assert any("/tiles/micro_grid/" in r for r in log["requests"])  # the outlines come from the vector tiles
    assert log["blocked"] == [] and log["console_errors"] == [] and log["page_errors"] == []


@pytest.mark.browser
def test_the_page_fits_a_phone_with_the_not_patrolled_first(world):
    """At 390×844 the micro-grid table (every micro-grid of the area) is folded away behind a summary and the
    micro-grids not patrolled come first, so the page stays a few screens long and nothing is wider than it."""
    admin = world.client("admin")
    api = admin.get("/api/v1/patrols/compliance", query_string=api_window(PERIOD)).json
    missed = [g for g in api["micro_grids"] if not g["patrols"]]
    assert len(api["micro_grids"]) >= 60 and missed
    with served(world.app) as url, chromium_page(url) as (page, log):
        page.set_viewport_size({"width": 390, "height": 844})
        sign_in(page, url, "admin", PASSWORDS["admin"], target="/patrols?since=2026-11-27&until=2026-11-28")
        page.wait_for_selector("#patrol-map[data-drawn]", timeout=20_000)
        page.wait_for_load_state("networkidle")
        height = page.evaluate("document.documentElement.scrollHeight")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"{width} px wide in a 390 px window"
        assert height <= 3 * 844, f"{height} px tall"  # 3,421 px with the table unfolded
        assert not page.locator("#table-micro_grids").is_visible()  # folded
        shown = page.locator("#not-patrolled li").all_inner_texts()
        assert [t.strip() for t in shown[: len(missed)]][:5] == [g["name"] for g in missed][:5]
        box = page.locator("#not-patrolled").bounding_box()
        folded = page.locator("#all-micro-grids").bounding_box()
        assert box["y"] < folded["y"]
        page.evaluate("window.scrollTo(0, 0)")
        screenshot(page, "patrols-admin-390-folded")
        page.locator("#all-micro-grids summary").click()
        assert page.locator("#table-micro_grids").is_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert log["blocked"] == [] and log["console_errors"] == [] and log["page_errors"] == []
