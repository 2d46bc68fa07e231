"""Every page × every role at a desk (1440×900) and on a phone (390×844) in headless Chromium.

Each page a role may open is loaded signed in as that role: no request leaves the app, no console or page error,
nothing is wider than the window, the header names the user and offers exactly the pages the role may open, and
the page's own content is there. Screenshots go to ``tests/artifacts/pages-<role>-<width>-<page>.png``.
"""

from __future__ import annotations

import pytest
import shapely

from accounts.tokens import create_token
from accounts.users import find_user
from tests.conftest import demo_password, private_app, token_client
from tests.web.browser import chromium_page, screenshot, served, sign_in

#: page → (path, roles that may open it, a selector its content must show)
PAGES = {
    "map": ("/map", {"admin", "planner", "staff", "worker"}, "#map.leaflet-container"),
    "issues": ("/issues", {"admin", "staff", "worker"}, "main"),
    "issue": ("/issues/{issue}", {"admin", "staff", "worker"}, "main h2"),
    "issuemap": ("/issues/map", {"admin", "staff", "worker"}, "#issuemap.leaflet-container"),
    "stats": ("/stats", {"admin", "planner", "staff"}, "main"),
    "coverage": ("/coverage", {"admin", "planner", "staff"}, "main form"),
    "audit": ("/audit", {"admin"}, "#audit"),
    "patrols": ("/patrols", {"admin", "staff"}, "main"),
    "history": ("/history", {"admin", "planner", "staff", "worker"}, "main h2"),
    "editor": ("/editor", {"admin", "planner"}, "#children tbody tr"),
}
#: navigation label (zh-CN) → page
NAV = {
    "地图": "map",
    "事件": "issues",
    "事件地图": "issuemap",
    "统计": "stats",
    "覆盖分析": "coverage",
    "巡查": "patrols",
    "网格沿革": "history",
    "网格编辑": "editor",
    "审计日志": "audit",
}
SIZES = [(1440, 900), (390, 844)]


@pytest.fixture(scope="module")
def site(demo_db, tmp_path_factory):
    app, registry, _ = private_app(demo_db, tmp_path_factory.mktemp("pages"))
    wechat = token_client(app, create_token(registry, find_user(registry, "wechat").id, "t", 1)[0])
    leaf = registry.areas(parent_code="510104001001001").iloc[0]
    ids = []
    for n, category in enumerate(("gas_hazard", "dispute", "exposed_rubbish")):
        p = shapely.point_on_surface(leaf.geometry)
        answer = wechat.post(
            "/api/v1/issues",
            json={"category": category, "lon": p.x + n * 1e-5, "lat": p.y, "description": f"现场情况 {n}"},
        )
        assert answer.status_code == 201, answer.get_json()
        ids.append(answer.get_json()["id"])
    return app, ids[0]


@pytest.mark.browser
@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}px")
@pytest.mark.parametrize("role", ["admin", "planner", "staff", "worker"])
def test_every_page_the_role_may_open_works_and_fits(site, role, size):
    app, issue = site
    width, height = size
    with served(app) as url, chromium_page(url) as (page, log):
        page.set_viewport_size({"width": width, "height": height})
        sign_in(page, url, role, demo_password(role), target="/")
        home = "/app/" if role == "worker" else "/map"  # grid workers' home is their phone app
        assert page.url.endswith(home), page.url
        page.goto(url + "/map", wait_until="domcontentloaded")
        offered = (
            {NAV[a.inner_text().strip()] for a in page.locator("header nav.wide a").all()} if width > 640 else None
        )
        if offered is not None:
            assert offered == {name for name, (_p, roles, _s) in PAGES.items() if role in roles and name != "issue"}
        for name, (path, roles, selector) in PAGES.items():
            if role not in roles:
                continue
            page.goto(url + path.format(issue=issue), wait_until="domcontentloaded")
            page.wait_for_load_state("networkidle")
            assert page.locator(selector).first.is_visible(), (name, page.url)
            assert page.locator("header button", has_text="退出").count() >= 1  # in the menu on a phone
            wide = page.evaluate("document.documentElement.scrollWidth")
            assert wide <= width, f"{name}: {wide} px wide in a {width} px window"
            screenshot(page, f"pages-{role}-{width}-{name}")
        if width <= 640:  # the phone menu opens and lists the same pages
            page.click("#menu summary")
            links = {NAV[a.inner_text().strip()] for a in page.locator("#menu nav a").all()}
            assert links == {name for name, (_p, roles, _s) in PAGES.items() if role in roles and name != "issue"}
            screenshot(page, f"pages-{role}-{width}-menu")
    assert log["blocked"] == [], log["blocked"]
    assert log["console_errors"] == [] and log["page_errors"] == [], (log["console_errors"], log["page_errors"])
