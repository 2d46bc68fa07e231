"""The issue map in headless Chromium: clusters, heat layer, choropleth legend, safe popups, offline, fits a phone."""

from __future__ import annotations

import re

import pytest
import shapely

from accounts.tokens import create_token
from accounts.users import find_user, set_locale
from boundaries.registry import Registry
from boundaries.storage import open_store
from tests.conftest import TEST_CONFIG, copy_demo, demo_password, token_client
from tests.web.browser import chromium_page, screenshot, served

HOSTILE = "<img src=x onerror=alert(1)>"
CATEGORIES = ("gas_hazard", "exposed_rubbish", "dispute", "road_cleaning")


@pytest.fixture(scope="module")
def mapped(demo_db, tmp_path_factory):
    """An app over a private demo copy with issues in several micro-grids, and one category named with markup."""
    import json

    from web import create_app

    folder = tmp_path_factory.mktemp("issuemap")
    categories = folder / "categories.json"
    categories.write_text(
        json.dumps({"hostile": {"name_zh": HOSTILE, "name_en": HOSTILE, "group": "测试"}}, ensure_ascii=False),
        encoding="utf-8",
    )
    url = copy_demo(demo_db, folder)
    registry = Registry(open_store(url))
    app = create_app({**TEST_CONFIG, "DATABASE_URL": url, "REGISTRY": registry, "ISSUE_CATEGORIES": str(categories)})
    wechat = token_client(app, create_token(registry, find_user(registry, "wechat").id, "t", 1)[0])
    for name in ("admin", "staff", "worker"):  # pages in English, whatever the catalogs hold
        set_locale(registry, find_user(registry, name).id, "en")
    leaves = registry.areas(level="micro_grid")
    leaves = leaves[leaves["code"].str.startswith("510104001001")]  # the staff's community
    made = []
    for i in range(24):
        leaf = leaves.iloc[i % len(leaves)]
        p = shapely.point_on_surface(leaf.geometry)
        body = {"category": CATEGORIES[i % 4], "lon": p.x, "lat": p.y, "description": f"事件 {i}"}
        if i == 0:
            body = {**body, "category": "hostile", "description": HOSTILE}
        r = wechat.post("/api/v1/issues", json=body)
        assert r.status_code == 201, r.get_json()
        made.append(r.get_json()["id"])
    return app, made


def sign_in(page, base_url: str, name: str, target: str) -> None:
    """Open ``target``, sign in on the form it sends us to, and come back to it."""
    page.goto(base_url + target, wait_until="domcontentloaded")
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", demo_password(name))
    page.click("main button[type=submit]")
    page.wait_for_load_state("networkidle")
    assert "/login" not in page.url, f"sign-in failed: still on {page.url}"


def _check_map(page, log, width: int) -> None:
    page.wait_for_selector(".legend-box .legend-class", timeout=15000)
    page.wait_for_function("document.querySelectorAll('.marker-cluster, .issue-dot').length > 0", timeout=15000)
    assert page.locator(".leaflet-marker-icon").count() >= 1
    assert page.locator(".legend-box .legend-class").count() >= 1  # the choropleth's classes
    assert page.locator("path.leaflet-interactive").count() >= 1  # the area polygons
    # the heat layer is off until its box is ticked
    assert page.locator("canvas.leaflet-heatmap-layer").count() == 0
    page.locator(".leaflet-control-layers-overlays label", has_text="Heat map").locator("input").check()
    page.wait_for_selector("canvas.leaflet-heatmap-layer", timeout=5000)
    page.locator(".leaflet-control-layers-overlays label", has_text="Heat map").locator("input").uncheck()
    assert page.locator("canvas.leaflet-heatmap-layer").count() == 0
    scroll = page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= width, f"the page is {scroll} px wide in a {width} px window"


def _open_a_popup(page) -> str:
    """Zoom into clusters until a single marker shows, open its popup and return its text."""
    for _ in range(8):
        dots = page.locator(".issue-dot")
        if dots.count():
            dots.first.click(force=True)
            page.wait_for_selector(".leaflet-popup-content .issue-popup", timeout=5000)
            return page.inner_text(".leaflet-popup-content")
        page.locator(".marker-cluster").first.click(force=True)
        page.wait_for_timeout(700)
    raise AssertionError("no single issue marker after zooming into the clusters")


@pytest.mark.browser
@pytest.mark.parametrize(
    ("name", "width", "height"), [("admin", 1440, 900), ("staff", 1440, 900), ("worker", 390, 844)]
)
def test_issue_map_as_each_role(mapped, name, width, height):
    app, _ = mapped
    with served(app) as url, chromium_page(url) as (page, log):
        page.set_viewport_size({"width": width, "height": height})
        sign_in(page, url, name, "/issues/map?measure=count")
        _check_map(page, log, width)
        text = _open_a_popup(page)
        names = page.evaluate("JSON.parse(document.getElementById('page-strings').textContent).categories")
        assert any(n in text for n in names.values()), text  # the category by its name
        assert "#" in text
        page.wait_for_timeout(400)  # the popup's fade-in
        screenshot(page, f"issuemap-{name}-{width}")
    assert log["blocked"] == [] and log["console_errors"] == [] and log["page_errors"] == []


@pytest.mark.browser
def test_markup_in_a_category_or_description_shows_as_text(mapped):
    app, made = mapped
    with served(app) as url, chromium_page(url) as (page, log):
        page.set_viewport_size({"width": 1440, "height": 900})
        sign_in(page, url, "staff", "/issues/map?category=hostile")
        page.on("dialog", lambda d: log["page_errors"].append("dialog: " + d.message) or d.dismiss())
        page.wait_for_selector(".issue-dot", timeout=15000)
        text = _open_a_popup(page)
        assert HOSTILE in text  # shown as text, not as an image
        assert page.locator(".leaflet-popup-content img").count() == 0
        page.wait_for_timeout(400)
        screenshot(page, "issuemap-hostile-1440")
        page.goto(url + "/issues?category=hostile", wait_until="networkidle")
        assert HOSTILE in page.inner_text("#queue") and page.locator("#queue img").count() == 0
        page.goto(url + f"/issues/{made[0]}", wait_until="networkidle")
        assert page.inner_text("#description") == HOSTILE and page.locator("main img[src=x]").count() == 0
    assert log["page_errors"] == [] and log["console_errors"] == [] and log["blocked"] == []


@pytest.fixture(scope="module")
def worked(demo_db, tmp_path_factory):
    """An app over a private demo copy with the demo issues and their history (closed, open, overdue, late)."""
    from issues.demo import load_demo_issues
    from web import create_app

    url = copy_demo(demo_db, tmp_path_factory.mktemp("issuemap-worked"))
    registry = Registry(open_store(url))
    app = create_app({**TEST_CONFIG, "DATABASE_URL": url, "REGISTRY": registry})
    assert load_demo_issues(app.extensions["weige.issues"]).imported == 120
    for name in ("staff", "worker"):
        set_locale(registry, find_user(registry, name).id, "en")
    return app


def _layer_box(page, label: str):
    return page.locator(".leaflet-control-layers-overlays label", has_text=label).locator("input")


@pytest.mark.browser
def test_the_legend_follows_its_layers_and_no_data_is_hatched(worked):
    with served(worked) as url, chromium_page(url) as (page, log):
        page.set_viewport_size({"width": 1440, "height": 900})
        sign_in(page, url, "staff", "/issues/map?level=micro_grid&measure=on_time_rate")
        page.wait_for_selector("#legend-classes .legend-class", timeout=15000)
        page.wait_for_function("document.querySelectorAll('path.leaflet-interactive').length > 10", timeout=15000)
        fills = page.eval_on_selector_all("path.leaflet-interactive", "ps => ps.map(p => p.getAttribute('fill'))")
        assert "url(#issuemap-no-data)" in fills and len(set(fills)) >= 3  # hatched, and classes in colour
        assert page.locator("#issuemap-no-data").count() == 1
        swatch = page.eval_on_selector("#legend-classes .legend-no-data i", "i => getComputedStyle(i).backgroundImage")
        assert "repeating-linear-gradient" in swatch
        class_swatches = page.eval_on_selector_all(
            "#legend-classes .legend-class i", "is => is.map(i => getComputedStyle(i).backgroundColor)"
        )
        assert all(c.startswith("rgb") for c in class_swatches)  # every class a plain colour, unlike the hatch
        screenshot(page, "issuemap-on-time-1440")
        _layer_box(page, "Areas:").uncheck()
        assert page.locator("#legend-classes").is_hidden()  # no legend of a layer that is not shown
        assert page.locator("#legend-states").is_visible()
        _layer_box(page, "Issues").uncheck()
        assert page.locator("#legend").is_hidden()
        _layer_box(page, "Areas:").check()
        _layer_box(page, "Issues").check()
        assert page.locator("#legend-classes").is_visible() and page.locator("#legend-states").is_visible()
        assert page.locator(".leaflet-control-scale-line").count() == 1  # metres only
        assert page.inner_text(".leaflet-control-scale-line").strip().endswith("m")
    assert log["blocked"] == [] and log["console_errors"] == [] and log["page_errors"] == []


def _rgb(hex_colour: str) -> str:
    h = hex_colour.lstrip("#")
    return "rgb({}, {}, {})".format(*(int(h[i : i + 2], 16) for i in (0, 2, 4)))


@pytest.mark.browser
def test_clusters_take_the_colour_of_their_most_urgent_state(worked):
    with served(worked) as url, chromium_page(url) as (page, log):
        page.set_viewport_size({"width": 1440, "height": 900})
        sign_in(page, url, "staff", "/issues/map?measure=count")
        page.wait_for_selector(".issue-cluster div", timeout=15000)
        legend = dict(
            page.eval_on_selector_all(
                "#legend-states i.dot", "ds => ds.map(d => [d.dataset.state, getComputedStyle(d).backgroundColor])"
            )
        )
        assert len(legend) == 9
        clusters = page.eval_on_selector_all(
            ".issue-cluster div",
            "ds => ds.map(d => [d.dataset.state, getComputedStyle(d).backgroundColor, d.textContent])",
        )
        assert clusters
        for state, colour, count in clusters:
            assert legend[state] == colour and int(count) >= 2  # the legend's colour, with the count
            assert colour not in ("rgba(110, 204, 57, 0.6)", "rgba(181, 226, 140, 0.6)")  # not markercluster green
        # the most urgent state wins: a map of open issues only has no closed-coloured cluster, and a map of
        # closed issues only has nothing else
        page.goto(url + "/issues/map?state=closed&measure=count", wait_until="networkidle")
        page.wait_for_selector(".issue-cluster div", timeout=15000)
        states = set(page.eval_on_selector_all(".issue-cluster div", "ds => ds.map(d => d.dataset.state)"))
        assert states == {"closed"}
        page.goto(url + "/issues/map?state=open&measure=count", wait_until="networkidle")
        page.wait_for_selector(".issue-cluster div, .issue-dot", timeout=15000)
        states = set(page.eval_on_selector_all(".issue-cluster div", "ds => ds.map(d => d.dataset.state)"))
        assert "closed" not in states
        screenshot(page, "issuemap-clusters-1440")
    assert log["blocked"] == [] and log["console_errors"] == [] and log["page_errors"] == []


@pytest.mark.browser
def test_a_closed_issue_says_when_it_closed_and_how_long_it_took(worked):
    with served(worked) as url, chromium_page(url) as (page, log):
        page.set_viewport_size({"width": 1440, "height": 900})
        sign_in(page, url, "staff", "/issues/map?state=closed&measure=count")
        page.wait_for_selector(".issue-cluster div, .issue-dot", timeout=15000)
        text = _open_a_popup(page)
        assert "Closed at" in text and "Took" in text and "Age" not in text, text
        assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d", text), text  # a wall-clock time in the deployment's zone
        page.goto(url + "/issues/map?state=open&measure=count", wait_until="networkidle")
        page.wait_for_selector(".issue-cluster div, .issue-dot", timeout=15000)
        text = _open_a_popup(page)
        assert "Age" in text and "Took" not in text, text
    assert log["blocked"] == [] and log["console_errors"] == [] and log["page_errors"] == []


@pytest.mark.browser
def test_the_workers_map_opens_where_the_heat_layer_shows(worked):
    with served(worked) as url, chromium_page(url) as (page, log):
        page.set_viewport_size({"width": 390, "height": 844})
        sign_in(page, url, "worker", "/issues/map")
        page.wait_for_selector("#issuemap[data-zoom]", timeout=15000)
        assert int(page.get_attribute("#issuemap", "data-zoom")) <= 17  # the heat layer's full-strength zoom
        _layer_box(page, "Heat map").check()
        page.wait_for_selector("canvas.leaflet-heatmap-layer", timeout=5000)
        screenshot(page, "issuemap-worker-heat-390")
    assert log["blocked"] == [] and log["console_errors"] == [] and log["page_errors"] == []
