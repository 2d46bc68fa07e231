"""XSS payloads in every free-text field render inert in every page, tooltip and popup (headless Chromium).

Each payload, if it ran, would set ``window.__xss`` or log a console error; an inline handler blocked by the
Content-Security-Policy would also log a console error. So the test asserts: the payload text is visible as
text, ``window.__xss`` is unset, and the console is clean. The maps set every text from the data as text.
"""

from __future__ import annotations

import pytest
import shapely

from accounts.tokens import create_token
from accounts.users import find_user
from boundaries.registry import Registry
from boundaries.storage import open_store
from tests.conftest import TEST_CONFIG, copy_demo, demo_password, token_client
from tests.web.browser import chromium_page, served, sign_in

PAYLOADS = {
    "img": "<img src=x onerror=\"window.__xss='img';console.error('XSS img')\">",
    "script": "<script>window.__xss='script'</script>",
    "break": "</script><script>window.__xss='break'</script>",
    "attr": "\"'><svg onload=\"window.__xss='attr'\">",
    "style": "<style>*{display:none}</style><a href=\"javascript:window.__xss='href'\">x</a>",
}

LEAF = "510104001001001001"


@pytest.fixture(scope="module")
def poisoned(demo_db, demo_tokens, tmp_path_factory):
    """A demo database with a payload in every free-text field, set through the API."""
    from web import create_app

    url = copy_demo(demo_db, tmp_path_factory.mktemp("xss"))
    registry = Registry(open_store(url))
    app = create_app({**TEST_CONFIG, "DATABASE_URL": url, "REGISTRY": registry})
    admin = token_client(app, create_token(registry, find_user(registry, "admin").id, "t", 1)[0])

    def ok(response):
        assert response.status_code in (200, 201), response.get_json()
        return response.get_json()

    ok(admin.patch(f"/api/v1/areas/{LEAF}", json={"name": "微网格" + PAYLOADS["img"]}))
    ok(admin.patch("/api/v1/areas/510104001001001002", json={"name": PAYLOADS["break"]}))
    ok(admin.post("/api/v1/generations/draft/publish"))
    ok(admin.patch("/api/v1/buildings/1", json={"name": PAYLOADS["script"], "address": PAYLOADS["attr"]}))
    point = admin.get(f"/api/v1/service-points?area={LEAF[:15]}").get_json()["features"][0]["properties"]["id"]
    ok(
        admin.patch(
            f"/api/v1/service-points/{point}",
            json={"name": PAYLOADS["img"], "address": PAYLOADS["style"], "opening_hours": PAYLOADS["break"]},
        )
    )
    staff = find_user(registry, "staff")
    ok(admin.patch(f"/api/v1/users/{staff.id}", json={"display_name": PAYLOADS["attr"]}))
    leaf = admin.get(f"/api/v1/areas/{LEAF}").get_json()["geometry"]
    x, y = shapely.point_on_surface(shapely.geometry.shape(leaf)).coords[0]
    issue = ok(
        admin.post(
            "/api/v1/issues",
            json={
                "category": "dispute", "lon": x, "lat": y, "description": PAYLOADS["img"],
                "address": PAYLOADS["break"], "reporter_name": PAYLOADS["attr"], "external_id": PAYLOADS["script"],
            },
        )
    )  # fmt: skip
    ok(admin.post(f"/api/v1/issues/{issue['id']}/actions", json={"action": "accept", "note": PAYLOADS["style"]}))
    app.config["XSS_ISSUE"] = issue["id"]
    ok(admin.post("/api/v1/tokens", json={"user_id": staff.id, "name": PAYLOADS["script"]}))
    return app


def _search(page, query: str) -> str:
    """Search the staff map for ``query`` and return the side panel's text once it changes."""
    before = page.inner_text("#panel")
    page.fill("#search input[name=q]", query)
    page.click("#search button")
    for _ in range(100):
        page.wait_for_timeout(100)
        now = page.inner_text("#panel")
        if now != before and "…" not in now:
            return now
    raise AssertionError(f"the panel did not change for {query!r}: {before!r}")


@pytest.mark.browser
def test_payloads_render_as_text_in_map_tooltips_popups_and_pages(poisoned):
    with served(poisoned) as url, chromium_page(url) as (page, log):
        sign_in(page, url, "admin", demo_password("admin"), target="/map")
        shown = _search(page, LEAF)  # the area's panel: its name set as text
        assert PAYLOADS["img"] in shown
        shown = _search(page, PAYLOADS["attr"])  # a building found by its address: name and address as text
        assert PAYLOADS["script"] in shown and PAYLOADS["attr"] in shown
        assert page.evaluate("() => window.__xss") is None

        page.goto(url + "/audit", wait_until="networkidle")
        text = page.inner_text("#audit")
        assert "&lt;" not in text and PAYLOADS["attr"].replace('"', '\\"') in text  # JSON-quoted, as text
        assert page.evaluate("() => window.__xss") is None

        for path in ("/issues", f"/issues/{poisoned.config['XSS_ISSUE']}"):
            page.goto(url + path, wait_until="networkidle")
            body = page.inner_text("main")
            assert PAYLOADS["img"] in body, path
            assert page.evaluate("() => window.__xss") is None
        assert PAYLOADS["break"] in body and PAYLOADS["attr"] in body and "*{display:none}" in body

        page.click("button[type=submit] >> text=退出")
        page.wait_for_load_state("networkidle")
        sign_in(page, url, "staff", demo_password("staff"), target="/map")
        assert page.inner_text("#whoami").startswith(PAYLOADS["attr"])
        assert PAYLOADS["img"] in _search(page, LEAF)
        assert page.evaluate("() => window.__xss") is None
    assert log["console_errors"] == [] and log["page_errors"] == []
    assert log["blocked"] == []
