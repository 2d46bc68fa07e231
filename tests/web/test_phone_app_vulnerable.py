"""The phone app marks buildings with vulnerable households (重点关爱户): on the map's list of what is due, first
and tagged, and on the building page; 390×844, nothing wider than the screen, tap targets of 44 px."""

from __future__ import annotations

import pytest

from tests.conftest import demo_password
from tests.web.browser import served, sign_in
from tests.web.test_phone_app import _LAYOUT, WORKER_GRID, _chinese_app, _viewport_shot, phone_page


@pytest.mark.browser
def test_a_vulnerable_building_is_marked_first_on_the_map_and_on_its_page(demo_db, tmp_path, monkeypatch):
    app, registry, client = _chinese_app(demo_db, tmp_path, monkeypatch)
    worker, admin = client("worker"), client("admin")
    features = worker.get(f"/api/v1/buildings?area={WORKER_GRID}").get_json()["features"]
    chosen = next(f["properties"] for f in features[3:] if f["properties"]["households"] >= 2)
    marked = admin.patch(f"/api/v1/buildings/{chosen['id']}", json={"vulnerable_households": 2})
    assert marked.status_code == 200, marked.get_json()
    due = worker.get("/api/v1/me/work").get_json()["due"]["buildings"]
    assert due[0]["id"] == chosen["id"] and due[0]["due"] == "vulnerable"
    point = worker.get(f"/api/v1/buildings/{chosen['id']}").get_json()["geometry"]["coordinates"]
    with served(app) as url, phone_page(url, point[0], point[1]) as (context, page, log):
        sign_in(page, url, "worker", demo_password("worker"), "/app/")
        page.goto(url + "/app/", wait_until="networkidle")
        page.wait_for_selector("#due .tag.vulnerable", timeout=15000)
        first = page.locator("#due li").first
        assert first.locator(".tag.vulnerable").inner_text() == "关爱"
        assert "重点关爱户待走访" in first.inner_text()
        assert page.locator("#due .tag.vulnerable").count() == 1
        found = page.evaluate(_LAYOUT)
        assert found["scroll"] <= 390 and found["wide"] == [] and found["targets"] == [], found
        _viewport_shot(page, "app-map-vulnerable")
        page.goto(url + f"/app/building?id={chosen['id']}", wait_until="networkidle")
        page.wait_for_selector("#b-due .tag.vulnerable", timeout=15000)
        assert "重点关爱户待走访" in page.inner_text("#b-due")
        assert "重点关爱户数" in page.inner_text("#b-facts") and "2" in page.inner_text("#b-facts")
        found = page.evaluate(_LAYOUT)
        assert found["scroll"] <= 390 and found["wide"] == [] and found["targets"] == [], found
        _viewport_shot(page, "app-building-vulnerable")
    assert log["blocked"] == [] and log["page_errors"] == [] and log["console_errors"] == []
