"""The export links of the issue pages give exactly the API's filtered list, for every filter combination.

From the queue page, for every combination of the filters its form offers (each empty or set to a representative
value), the page's xlsx and CSV links are followed as the signed-in user: the file's rows are the API's list for
the same filters (same ids, same order), its times are wall-clock times in the deployment's zone, which its
headers name. The issue map offers the same links for the same filters, and links back to the queue with them.
The files name columns and values as the pages do (states, levels, categories, hazard levels), in the page
language of a signed-in user; a token client gets the deployment's default language.
"""

from __future__ import annotations

import io
import itertools
import re
from datetime import datetime, timedelta, timezone
from html.parser import HTMLParser
from urllib.parse import parse_qsl, urlencode, urlsplit
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
import shapely

from accounts.tokens import create_token
from accounts.users import find_user
from boundaries.registry import Registry
from boundaries.storage import open_store
from tests.conftest import TEST_CONFIG, copy_demo, demo_password, token_client

ZONE = "Asia/Shanghai"
T0 = datetime(2026, 3, 2, 1, 30, tzinfo=timezone.utc)  # a Monday, 09:30 in Shanghai
CATEGORIES = ("gas_hazard", "exposed_rubbish", "dispute")
GRID = "510104001001001"


class _Form(HTMLParser):
    """The names of the fields of the page's filter form, and the links by id."""

    def __init__(self):
        super().__init__()
        self.fields: set[str] = set()
        self.links: dict[str, str] = {}
        self._in_form = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form" and a.get("id") == "filters":
            self._in_form = True
        elif self._in_form and tag in ("input", "select") and a.get("name") and a.get("type") != "hidden":
            self.fields.add(a["name"])
        if tag == "a" and a.get("id"):
            self.links[a["id"]] = a.get("href")

    def handle_endtag(self, tag):
        if tag == "form":
            self._in_form = False


def _parse(html: str) -> _Form:
    form = _Form()
    form.feed(html)
    return form


@pytest.fixture(scope="module")
def site(demo_db, tmp_path_factory):
    """An app over a private demo copy with issues reported a day apart, some handled, some overdue."""
    from web import create_app

    url = copy_demo(demo_db, tmp_path_factory.mktemp("exports"))
    registry = Registry(open_store(url))
    clock = [T0]
    app = create_app({**TEST_CONFIG, "DATABASE_URL": url, "REGISTRY": registry, "ISSUE_CLOCK": lambda: clock[0]})
    wechat = token_client(app, create_token(registry, find_user(registry, "wechat").id, "t", 1)[0])
    staff = token_client(app, create_token(registry, find_user(registry, "staff").id, "t", 1)[0])
    leaves = registry.areas(parent_code=GRID)
    other = registry.areas(parent_code="510104001001002")  # the staff's community, another grid
    ids = []
    for i in range(9):
        leaf = (leaves if i % 2 == 0 else other).iloc[i % 3]
        p = shapely.point_on_surface(leaf.geometry)
        clock[0] = T0 + timedelta(days=i, hours=i)
        made = wechat.post(
            "/api/v1/issues",
            json={"category": CATEGORIES[i % 3], "lon": p.x, "lat": p.y, "description": f"第{i}件 =1+1"},
        )
        assert made.status_code == 201, made.get_json()
        ids.append(made.get_json()["id"])
    clock[0] = T0 + timedelta(days=10)
    for issue_id, action in ((ids[1], "accept"), (ids[4], "accept"), (ids[2], "void"), (ids[7], "void")):
        r = staff.post(f"/api/v1/issues/{issue_id}/actions", json={"action": action, "note": "处理"})
        assert r.status_code == 200, r.get_json()
    return app, registry, ids


def _signed_in(app, name: str):
    client = app.test_client()
    html = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    r = client.post("/login", data={"username": name, "password": demo_password(name), "csrf_token": token})
    assert r.status_code == 302
    return client


#: A representative value per filter of the form (times as the form's datetime-local fields send them).
REPRESENTATIVE = {
    "state": "reported",
    "category": "gas_hazard",
    "since": "2026-03-04T12:00",  # Shanghai wall-clock time, between the third and fourth report
    "until": "2026-03-09T12:00",
    "overdue": "true",
    "area": GRID,
    "unlocated": "false",
}


def _api_ids(client, query: dict) -> list[int]:
    ids, page = [], 1
    while True:
        r = client.get("/api/v1/issues?" + urlencode({**query, "page": page, "per_page": 500}))
        assert r.status_code == 200, r.get_json()
        body = r.get_json()
        ids += [row["id"] for row in body["issues"]]
        if len(ids) >= body["total"]:
            return ids
        page += 1


def _file(client, href: str) -> pd.DataFrame:
    r = client.get(href)
    assert r.status_code == 200, r.get_data(as_text=True)[:300]
    if "format=csv" in href:
        return pd.read_csv(io.BytesIO(r.data), encoding="utf-8-sig", dtype=str, keep_default_na=False)
    return pd.read_excel(io.BytesIO(r.data), dtype=str, keep_default_na=False)


def _local(instant: str) -> str:
    return datetime.fromisoformat(instant).astimezone(ZoneInfo(ZONE)).strftime("%Y-%m-%d %H:%M")


def test_every_filter_combination_exports_the_api_list(site):
    app, _, ids = site
    client = _signed_in(app, "staff")
    offered = _parse(client.get("/issues").get_data(as_text=True)).fields
    assert offered == set(REPRESENTATIVE), "a filter of the form has no representative value here"
    created = {}
    for row in client.get("/api/v1/issues?per_page=500").get_json()["issues"]:
        created[row["id"]] = row["created_at"]
    assert set(ids) <= set(created)
    zone_header = _in_locale(app, "zh_CN", "Reported at") + " (Asia/Shanghai, UTC+08:00)"
    number = _in_locale(app, "zh_CN", "No.")
    sizes = set()
    names = list(REPRESENTATIVE)
    for chosen in itertools.product((False, True), repeat=len(names)):
        query = {n: REPRESENTATIVE[n] for n, on in zip(names, chosen, strict=True) if on}
        page = client.get("/issues?" + urlencode(query))
        assert page.status_code == 200, query
        links = _parse(page.get_data(as_text=True)).links
        expected = _api_ids(client, query)
        sizes.add(len(expected))
        for fmt in ("xlsx", "csv"):
            href = links[f"export-{fmt}"]
            assert dict(_pairs(href)) == {"format": fmt, **query}  # exactly the page's filters
            frame = _file(client, href)
            assert [int(v) for v in frame[number]] == expected, (fmt, query)
            assert zone_header in frame.columns
            assert list(frame[zone_header]) == [_local(created[i]) for i in expected]
        # the map takes the same query string and offers the same exports, and links back to this queue
        shown = _parse(client.get("/issues/map?" + urlencode(query)).get_data(as_text=True)).links
        assert shown["export-csv"] == links["export-csv"] and shown["export-xlsx"] == links["export-xlsx"]
        assert _pairs(shown["queue-link"]) == _pairs("/issues?" + urlencode(query))
        assert _pairs(links["map-link"]) == _pairs("/issues/map?" + urlencode(query))
    assert len(sizes) >= 4  # the filters really select different sets (not all empty, not all everything)
    assert max(sizes) == len(ids)


def _pairs(href: str) -> list[tuple[str, str]]:
    return sorted(parse_qsl(urlsplit(href).query))


def test_exported_times_differ_from_utc_and_name_the_zone(site):
    app, _, ids = site
    client = _signed_in(app, "staff")
    href = _parse(client.get("/issues").get_data(as_text=True)).links["export-csv"]
    frame = _file(client, href)
    first = frame[frame[_in_locale(app, "zh_CN", "No.")] == str(ids[0])].iloc[0]
    assert (
        first[_in_locale(app, "zh_CN", "Reported at") + " (Asia/Shanghai, UTC+08:00)"] == "2026-03-02 09:30"
    )  # 01:30 UTC
    assert first["描述"] == "第0件 =1+1"  # text that does not start with = is left alone


@pytest.mark.parametrize("target", ["/issues", "/issues/map", f"/issues?area={GRID}&state=reported"])
def test_a_grid_worker_is_not_shown_an_export_link_they_cannot_follow(site, target):
    app, _, _ = site
    worker = _signed_in(app, "worker")
    page = worker.get(target)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    links = _parse(html).links
    assert "export-csv" not in links and "export-xlsx" not in links and "/api/v1/issues/export" not in html
    followed = worker.get("/api/v1/issues/export?format=csv")
    assert followed.status_code == 403  # the link would not have worked
    for href in links.values():  # every link the page does show can be followed
        if href and href.startswith("/issues"):
            assert worker.get(href).status_code == 200, href


class _Queue(HTMLParser):
    """The queue page's rows: issue id → the text of each cell, by the cell's ``data-label``."""

    def __init__(self):
        super().__init__()
        self.rows: dict[int, dict[str, str]] = {}
        self._row: dict[str, str] | None = None
        self._label: str | None = None
        self._id: int | None = None
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "tr":
            self._row, self._id = {}, None
        elif tag == "td" and self._row is not None:
            self._label = a.get("data-label")
            self._row[self._label] = ""
        elif tag == "strong" and self._label is not None:
            self._skip += 1  # the overdue badge is not part of the state's name
        elif tag == "a" and self._label is not None and a.get("href", "").startswith("/issues/"):
            self._id = int(a["href"].rsplit("/", 1)[1])

    def handle_endtag(self, tag):
        if tag == "strong" and self._skip:
            self._skip -= 1
        elif tag == "td":
            self._label = None
        elif tag == "tr" and self._row is not None and self._id is not None:
            self.rows[self._id] = {k: v.strip() for k, v in self._row.items()}
            self._row = None

    def handle_data(self, data):
        if self._label is not None and not self._skip:
            self._row[self._label] += data


def _queue_rows(client, query: str = "") -> dict[int, dict[str, str]]:
    parser = _Queue()
    parser.feed(client.get("/issues?per_page=500" + query).get_data(as_text=True))
    return parser.rows


def _in_locale(app, locale: str, message: str) -> str:
    """``message`` (an English message id) as the app's pages say it in ``locale``."""
    from flask_babel import force_locale, gettext

    with app.test_request_context(), force_locale(locale):
        return gettext(message)


def test_export_states_levels_and_categories_read_as_on_the_queue_page(site):
    app, registry, ids = site
    client = _signed_in(app, "staff")  # the default page language, zh_CN
    shown = _queue_rows(client)
    assert set(ids) <= set(shown)
    state, category, level = (_in_locale(app, "zh_CN", m) for m in ("State", "Category", "Level"))
    assert (state, category) == ("状态", "类别")  # the catalog's Chinese, as on the page
    for fmt in ("csv", "xlsx"):
        frame = _file(client, f"/api/v1/issues/export?format={fmt}").set_index(_in_locale(app, "zh_CN", "No."))
        for issue_id, cells in shown.items():
            row = frame.loc[str(issue_id)]
            assert row[state] == cells[state], (fmt, issue_id)  # 已上报, 已受理, 作废 … as the page says them
            assert row[category] == cells[category]
            assert cells[level].startswith(row[level])  # the page adds the handler area's name
        assert set(frame[state]) >= {"已上报", "已受理", "作废"}
        assert not {"reported", "accepted", "void", "上报", "受理"} & set(frame[state])
        assert set(frame[level]) == {"微网格"} and "micro_grid" not in frame.to_string()
        hazard = _in_locale(app, "zh_CN", "Hazard level")
        assert set(frame[hazard]) == {_in_locale(app, "zh_CN", "General")}  # a name, never ``general``


def test_an_english_user_gets_english_headers_and_names_and_a_token_client_the_default(site):
    from accounts.users import set_locale

    app, registry, ids = site
    admin = find_user(registry, "admin")
    set_locale(registry, admin.id, "en")
    try:
        client = _signed_in(app, "admin")
        shown = _queue_rows(client)
        frame = _file(client, "/api/v1/issues/export?format=csv")
        assert list(frame.columns[:4]) == ["No.", "Category", "State", "Hazard level"]
        assert "Reported at (Asia/Shanghai, UTC+08:00)" in frame.columns  # zone-labelled times kept
        assert "Escalations" in frame.columns and "Overdue now" in frame.columns
        assert not any(re.search(r"[\u4e00-\u9fff]", c) for c in frame.columns)  # one language
        for _, row in frame.iterrows():
            assert row["State"] == shown[int(row["No."])]["State"]
        assert {"Reported", "Accepted", "Void"} <= set(frame["State"]) and set(frame["Level"]) == {"Micro-grid"}
        assert set(frame["Category"]) <= {"Gas safety hazard", "Exposed rubbish", "Dispute"}
        assert set(frame["Overdue now"]) <= {"Yes", "No"} and set(frame["Hazard level"]) == {"General"}
        xlsx = _file(client, "/api/v1/issues/export?format=xlsx")
        assert list(xlsx.columns) == list(frame.columns)
        # the same user through an API token: the deployment's default language, whatever the user chose
        token = token_client(app, create_token(registry, admin.id, "t", 1)[0])
        by_token = _file(token, "/api/v1/issues/export?format=csv")
        assert "状态" in by_token.columns and "State" not in by_token.columns
        assert set(by_token["状态"]) >= {"已上报", "已受理", "作废"}
    finally:
        set_locale(registry, admin.id, None)
