"""The issue pages say things once, in the page's language, by name: notes the system wrote, the reported CRS, and
逾期 (never 超时) for an issue past its time limit."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from html import unescape
from pathlib import Path

import pandas as pd
import pytest
import shapely
from babel.messages.pofile import read_po

from accounts.users import find_user, set_locale
from geo.crs import from_wgs84
from issues.bulk import import_issues
from tests.conftest import demo_password, private_app

T0 = datetime(2026, 11, 23, 1, 30, tzinfo=timezone.utc)  # Monday 09:30 in Beijing
TRANSLATIONS = Path(__file__).resolve().parents[2] / "web" / "translations"


@pytest.fixture
def site(demo_db, demo_tokens, tmp_path):
    """An app on a simulated clock over a private demo copy; ``signed_in(name, locale)`` gives a page client."""
    clock = [T0]
    app, registry, client = private_app(demo_db, tmp_path, ISSUE_CLOCK=lambda: clock[0])
    leaf = registry.areas(parent_code="510104001001001").iloc[0]
    point = shapely.point_on_surface(leaf.geometry)

    def signed_in(name: str, locale: str):
        set_locale(registry, find_user(registry, name).id, locale)
        page = app.test_client()
        html = page.get("/login").get_data(as_text=True)
        token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
        r = page.post("/login", data={"username": name, "password": demo_password(name), "csrf_token": token})
        assert r.status_code == 302
        return page

    return app, registry, client, clock, point, signed_in


def _text(html: str, element_id: str | None = None) -> str:
    """The visible text of the page's main part (or of one element), tags removed."""
    if element_id is not None:
        html = html.split(f'id="{element_id}"', 1)[1].split("</table>", 1)[0]
    else:
        html = html.split("<main", 1)[1].split("</main>", 1)[0]
    html = re.sub(r"<(script|style)\b.*?</\1>", "", html, flags=re.S)
    return unescape(re.sub(r"<[^>]+>", " ", html))


def test_a_note_the_system_wrote_is_shown_in_the_page_language_only(site):
    app, registry, _, clock, point, signed_in = site
    clock[0] = T0 + timedelta(days=2)
    frame = pd.DataFrame(
        {
            "external_id": ["old-1"],
            "category": "dispute",
            "lon": str(point.x),
            "lat": str(point.y),
            "reported_at": "2026-11-20 10:00",
            "state": "dispatched",
            "closed_at": "",
        }
    )
    desk = app.extensions["weige.issues"]
    assert import_issues(desk, frame, source="history.csv").imported == 1
    staff = signed_in("staff", "en")
    issue_id = staff.get("/api/v1/issues?per_page=5").get_json()["issues"][0]["id"]
    english = _text(staff.get(f"/issues/{issue_id}").get_data(as_text=True), "history")
    assert "imported from history.csv" in english and "导入" not in english
    chinese = _text(signed_in("staff", "zh_CN").get(f"/issues/{issue_id}").get_data(as_text=True), "history")
    assert "导入" in chinese and "imported from" not in chinese


@pytest.mark.parametrize(("crs", "name"), [("wgs84", "WGS84"), ("gcj02", "GCJ-02"), ("bd09", "BD-09")])
def test_the_reported_crs_is_named_not_given_as_an_identifier(site, crs, name):
    app, registry, client, clock, point, signed_in = site
    lon, lat = (float(v[0]) for v in from_wgs84([point.x], [point.y], crs))
    made = client("wechat").post("/api/v1/issues", json={"category": "dispute", "lon": lon, "lat": lat, "crs": crs})
    assert made.status_code == 201, made.get_json()
    assert made.get_json()["crs_reported"] == crs
    for locale in ("zh_CN", "en"):
        html = signed_in("staff", locale).get(f"/issues/{made.get_json()['id']}").get_data(as_text=True)
        location = _text(html).split("\n")
        line = next(t for t in location if "WGS84" in t)
        assert name in line and crs not in line, line


def test_overdue_is_yu_qi_on_every_issue_page(site):
    app, registry, client, clock, point, signed_in = site
    made = client("wechat").post("/api/v1/issues", json={"category": "road_cleaning", "lon": point.x, "lat": point.y})
    issue_id = made.get_json()["id"]
    clock[0] = T0 + timedelta(days=3)  # the stage to accept (1 working hour) long past
    assert client("staff").post(f"/api/v1/issues/{issue_id}/actions", json={"action": "accept"}).status_code == 200
    clock[0] = T0 + timedelta(days=6)  # and the next one too: overdue now
    assert app.extensions["weige.issues"].escalate_overdue() == 1  # the schedule's note, by the page's words
    english = _text(signed_in("staff", "en").get(f"/issues/{issue_id}").get_data(as_text=True), "history")
    assert "Overdue: stage “Accepted” was due 2026-11-26 10:30" in english, english
    assert "逾期" not in english and "accepted" not in english
    clock[0] = T0 + timedelta(days=8)  # the grid's own clock has run out too: overdue now
    staff = signed_in("staff", "zh_CN")
    pages = {
        "issue": staff.get(f"/issues/{issue_id}"),
        "queue": staff.get("/issues?overdue=true"),
        "map": staff.get("/issues/map?overdue=true&measure=overdue_rate"),
        "bad filter": staff.get("/issues?overdue=maybe"),
    }
    for name, page in pages.items():
        html = page.get_data(as_text=True)
        shown = _text(html) + "".join(re.findall(r'id="page-strings">(.*?)</script>', html, re.S))
        assert "超时" not in shown, name
    assert "逾期" in _text(pages["issue"].get_data(as_text=True))  # the badge by the state
    queue = _text(pages["queue"].get_data(as_text=True), "queue")
    assert str(issue_id) in queue and "逾期" in queue


def _pending() -> dict[str, str]:
    out = {}
    for path in sorted((TRANSLATIONS / "pending").glob("*.json")):
        out.update(json.loads(path.read_text("utf-8")))
    return out


def test_the_issue_pages_messages_about_lateness_say_yu_qi():
    """The catalog (or a pending translation not merged yet) says 逾期 for every message the issue pages use."""
    with (TRANSLATIONS / "zh" / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        catalog = read_po(fh)
    pending = _pending()
    sources = [Path("web/templates") / n for n in ("issue.html", "issues.html", "_issue_filters.html", "issuemap.html")]
    sources += [Path("web") / n for n in ("issue_pages.py", "issue_map_pages.py", "issue_exports.py")]
    root = Path(__file__).resolve().parents[2]
    ids = set()
    for source in sources:
        text = (root / source).read_text("utf-8")
        ids |= {m for m in re.findall(r"_l?\(\s*['\"]([^'\"]+)['\"]", text) if re.search(r"overdue|\blate\b", m, re.I)}
    assert len(ids) >= 3, ids
    for msgid in ids:
        found = catalog.get(msgid)
        chinese = found.string if found is not None and found.string else pending.get(msgid, "")
        assert "逾期" in chinese and "超时" not in chinese, (msgid, chinese)


def test_the_issue_pages_small_map_has_a_metric_scale_only(site):
    app, registry, client, clock, point, signed_in = site
    made = client("wechat").post("/api/v1/issues", json={"category": "dispute", "lon": point.x, "lat": point.y})
    html = unescape(signed_in("staff", "en").get(f"/issues/{made.get_json()['id']}").get_data(as_text=True))
    assert "L.control.scale({imperial: false})" in html and "L.control.scale()" not in html
