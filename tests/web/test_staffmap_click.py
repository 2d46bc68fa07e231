"""Outside-test defects of the staff map, in headless Chromium: a click on a building shows the building, and a
search that cannot be run says why in the page's language without a console error."""

from __future__ import annotations

import pytest

from boundaries import assets
from tests.conftest import demo_password
from tests.web.browser import chromium_page, screenshot, served, sign_in


def _wait_for_text(page, selector: str, text: str, seconds: float = 10.0) -> str:
    """The element's text once it holds ``text`` (polled: the page's CSP forbids evaluating strings)."""
    for _ in range(int(seconds * 10)):
        found = page.inner_text(selector)
        if text in found:
            return found
        page.wait_for_timeout(100)
    raise AssertionError(f"{selector} never showed {text!r}: {found!r}")


@pytest.mark.browser
def test_a_click_on_a_building_shows_the_building_and_a_bad_search_says_why(app, demo_registry):
    building = assets.buildings(demo_registry).iloc[0]
    at = building.geometry.representative_point()
    with served(app) as url, chromium_page(url) as (page, log):
        page.set_viewport_size({"width": 1440, "height": 900})
        sign_in(page, url, "staff", demo_password("staff"), target="/map")
        page.evaluate(f"staffMap.setView([{at.y}, {at.x}], 18)")
        page.wait_for_selector(".leaflet-buildings-pane .leaflet-tile-loaded", state="attached", timeout=15_000)
        page.wait_for_load_state("networkidle")
        x, y = page.evaluate(
            f"(() => {{ const p = staffMap.latLngToContainerPoint([{at.y}, {at.x}]);"
            " const r = document.getElementById('map').getBoundingClientRect();"
            " return [p.x + r.left, p.y + r.top]; })()"
        )
        page.mouse.click(x, y)
        panel = _wait_for_text(page, "#panel", building["address"])
        assert "住宅" in panel and "residential" not in panel  # the use by its name
        screenshot(page, "staffmap-building-click")
        page.fill("#search input[name=q]", "200,30")
        page.click("#search button")
        status = _wait_for_text(page, "#search-status", "坐标")
        assert "坐标" in status and "out of range" not in status, status  # one language: the page's
    assert log["console_errors"] == [] and log["page_errors"] == [] and log["blocked"] == []
