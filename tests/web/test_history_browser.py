"""The history page in headless Chromium (every other host blocked) at a desk (1280×800) and on a phone
(390×844): the tables of the diff, the two maps drawn from the diff API with every area coloured by its change and
their views kept in sync, nothing wider than the window. Screenshots: ``tests/artifacts/history-<width>.png``."""

from __future__ import annotations

import pytest
import shapely

from boundaries.editing import retire_area, update_area
from boundaries.scope import ScopedRegistry
from core.audit import SYSTEM
from core.scope import Scope
from tests.conftest import demo_password, private_app
from tests.web.browser import chromium_page, screenshot, served, sign_in

GRID = "510104001001001"  # in the demo planner's community
SIZES = [(1280, 800), (390, 844)]


@pytest.fixture(scope="module")
def site(demo_db, tmp_path_factory):
    """The demo street and a second generation: two micro-grids of GRID merged, a third renamed."""
    app, registry, _client = private_app(demo_db, tmp_path_factory.mktemp("history-browser"))
    view = ScopedRegistry(registry, Scope.everything(), SYSTEM)
    children = registry.areas(parent_code=GRID).set_index("code")
    a, b, c = children.index[:3]
    retire_area(view, b)
    update_area(view, a, geometry=shapely.union(children.at[a, "geometry"], children.at[b, "geometry"]))
    update_area(view, c, name="新名称微网格")
    first, second = registry.current_generation(), registry.publish(SYSTEM)
    return app, first, second, a, b


@pytest.mark.browser
@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}px")
def test_history_page_tables_and_synchronised_maps(site, size):
    app, first, second, a, b = site
    width, height = size
    with served(app) as url, chromium_page(url) as (page, log):
        page.set_viewport_size({"width": width, "height": height})
        sign_in(page, url, "planner", demo_password("planner"), target="/map")
        if width > 640:
            assert page.locator("header nav.wide a[href='/history']").count() == 1
        page.goto(f"{url}/history?area={GRID}&old={first}&new={second}", wait_until="domcontentloaded")
        page.wait_for_load_state("networkidle")
        page.wait_for_function("() => document.getElementById('map-status').textContent === ''")
        assert page.locator("html").get_attribute("lang") == "zh-CN" and page.locator("main h2").is_visible()
        assert page.locator("#removed td[title]").evaluate_all("cells => cells.map(c => c.title)") == [b]
        assert page.locator("#merged td[title]").first.get_attribute("title") == a
        assert page.locator("#changed td").nth(3).inner_text() == "新名称微网格"
        assert page.locator("#moved tbody tr").count() >= 1
        drawn = page.evaluate(
            """() => Object.fromEntries(Object.entries(window.historyMaps).map(([side, map]) => {
                const changes = {};
                map.eachLayer(l => { if (l.feature) { const p = l.feature.properties;
                    changes[p.code || ('building ' + p.id)] = p.change; } });
                return [side, changes];
            }))"""
        )
        assert drawn["before"][b] == "removed" and drawn["after"][a] == "merged"
        assert drawn["before"][a] == "unchanged" or drawn["before"][a] == "reshaped"
        assert any(v == "moved" for v in drawn["after"].values())
        page.evaluate("() => window.historyMaps.before.panBy([40, 30], {animate: false})")
        centres = page.evaluate(
            "() => ['before', 'after'].map(s => { const c = window.historyMaps[s].getCenter(); "
            "return [c.lat, c.lng, window.historyMaps[s].getZoom()]; })"
        )
        assert centres[0] == pytest.approx(centres[1], abs=1e-9)
        wide = page.evaluate("document.documentElement.scrollWidth")
        assert wide <= width, f"{wide} px wide in a {width} px window"
        screenshot(page, f"history-{width}")
    assert log["blocked"] == [], log["blocked"]
    assert log["console_errors"] == [] and log["page_errors"] == [], (log["console_errors"], log["page_errors"])
