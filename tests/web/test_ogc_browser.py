"""The OGC API's HTML pages in Chromium: signed in through the login page, a map of the features, no other host,
no console error, nothing wider than a phone's screen."""

from __future__ import annotations

import pytest

from tests.conftest import demo_password, private_app
from tests.web.browser import chromium_page, screenshot, served, sign_in


@pytest.mark.parametrize("size", [(1440, 900), (390, 844)])
def test_items_page_shows_a_map_of_the_features(demo_db, tmp_path, size):
    app, registry, _ = private_app(demo_db, tmp_path)
    with served(app) as base, chromium_page(base) as (page, log):
        page.set_viewport_size({"width": size[0], "height": size[1]})
        sign_in(page, base, "planner", demo_password("planner"), "/ogc/collections/areas-grid/items?f=html&limit=20")
        page.wait_for_selector("#ogc-map .leaflet-interactive")
        shapes = page.locator("#ogc-map path.leaflet-interactive").count()
        rows = page.locator("#ogc-features tbody tr").count()
        assert shapes == rows > 0
        assert page.locator("text=Next page").count() + page.locator("text=下一页").count() == 1
        width = page.evaluate("document.documentElement.scrollWidth")
        screenshot(page, f"ogc-items-{size[0]}")
        page.goto(base + "/ogc/collections?f=html", wait_until="networkidle")
        assert page.locator("main table tbody tr").count() == 6  # planners read no issues
        screenshot(page, f"ogc-collections-{size[0]}")
    assert width <= size[0]
    assert not log["blocked"] and not log["console_errors"] and not log["page_errors"], log
