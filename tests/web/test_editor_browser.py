"""The planners' editor in headless Chromium, driven with the mouse (issue 14's must-show).

A planner removes a micro-grid and draws it again with one vertex pushed into a neighbour: the new area shows its
household count, is saved, the overlap is flagged on the map, the snap tool fixes it, and the change set is
published. A second planner's page, loaded before a publish, has its stale save refused (412) with a reload
offered; their change set, overtaken by another publish of the same area, is refused (409) and offered a rebase,
after which it publishes.
"""

from __future__ import annotations

import math

import pytest
import shapely

from accounts.users import create_user
from tests.conftest import demo_password, private_app
from tests.web.browser import chromium_page, screenshot, served, sign_in

GRID = "510104001001001"
PASSWORD3 = "planner-three-42"


@pytest.fixture
def site(demo_db, tmp_path):
    app, registry, client = private_app(demo_db, tmp_path)
    create_user(registry, "planner3", "planner", areas=("510104001001",), password=PASSWORD3)
    return app, registry, client


def _pixel(page, lon, lat):
    return page.evaluate(
        """([lat, lon]) => { const m = window.editorMap, p = m.latLngToContainerPoint([lat, lon]);
           const r = m.getContainer().getBoundingClientRect(); return [r.left + p.x, r.top + p.y]; }""",
        [lat, lon],
    )


def _zoom_to(page, geometry, max_zoom=19):
    minx, miny, maxx, maxy = geometry.bounds
    page.evaluate(
        "([b, z]) => new Promise(done => { const m = window.editorMap; m.once('moveend', () => done());"
        " m.fitBounds(b, {maxZoom: z, animate: false}); setTimeout(done, 500); })",
        [[[miny, minx], [maxy, maxx]], max_zoom],
    )
    page.wait_for_timeout(300)


def _drag(page, lon, lat, dx, dy):
    x, y = _pixel(page, lon, lat)
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + dx / 2, y + dy / 2, steps=4)
    page.mouse.move(x + dx, y + dy, steps=4)
    page.mouse.up()


def _interior_vertex(children, grid, skip=()):
    """A vertex two or more micro-grids share, at least ~10 m inside the grid, with those micro-grids."""
    edge = grid.boundary
    for code, geom in children.items():
        if code in skip:
            continue
        for x, y in shapely.get_coordinates(geom.exterior)[:-1]:
            point = shapely.Point(x, y)
            owners = [c for c, g in children.items() if g.exterior.distance(point) < 1e-10]
            if len(owners) >= 2 and edge.distance(point) > 1e-4 and not set(owners) & set(skip):
                return (x, y), owners
    raise AssertionError("no shared interior vertex")


def _pushed_out(shape, grid, ring, vertex, distance):
    """``vertex`` moved ``distance`` out of ``shape`` (into a neighbour, inside the grid), the ring staying valid."""
    for step in range(24):
        angle = math.radians(step * 15)
        moved = (vertex[0] + distance * math.cos(angle), vertex[1] + distance * math.sin(angle))
        candidate = shapely.Polygon([moved if p == vertex else p for p in ring])
        point = shapely.Point(moved)
        if (
            candidate.is_valid
            and not shape.intersects(point)
            and grid.contains(point)
            and candidate.contains(shape.buffer(-1e-7))
        ):
            return moved
    raise AssertionError("no direction pushes the vertex out of the area")


def _status(page):
    return page.inner_text("#status")


def _until(page, script, arg=None, timeout=15000):
    """Poll ``script`` (a JS function of ``arg``) until it is true: the page's CSP forbids wait_for_function's eval."""
    for _ in range(timeout // 100):
        if page.evaluate(script, arg):
            return
        page.wait_for_timeout(100)
    screenshot(page, "editor-timeout")
    raise AssertionError(f"timed out waiting for {script} (status: {page.inner_text('#status')!r})")


def _wait_status(page, *needles, timeout=15000):
    _until(page, "(ns) => ns.some(n => document.getElementById('status').textContent.includes(n))", list(needles),
           timeout)  # fmt: skip


def _data(client):
    data = client.get(f"/api/v1/editor/{GRID}").get_json()
    children = {f["properties"]["code"]: shapely.geometry.shape(f["geometry"]) for f in data["children"]["features"]}
    households = {f["properties"]["code"]: f["properties"]["households"] for f in data["children"]["features"]}
    return data, children, households


def _shared_corner(planner_api):
    """The grid's data and children, the grid, and a vertex micro-grids share inside it with those micro-grids."""
    data, children, households = _data(planner_api)
    grid = shapely.geometry.shape(data["parent"]["geometry"])
    return data, children, households, grid, *_interior_vertex(children, grid)


def _second_page(page, base_url):
    """Another signed-in browser context (its own cookies) in the same Chromium, outside hosts blocked too."""
    context = page.context.browser.new_context(viewport={"width": 1280, "height": 800})
    other = context.new_page()
    errors = []
    other.route("**/*", lambda r: r.continue_() if r.request.url.startswith(base_url) else r.abort())
    other.on("pageerror", lambda e: errors.append(str(e)))
    return other, errors


def test_a_planner_draws_sees_households_fixes_an_overlap_and_publishes(site):
    app, registry, client = site
    planner_api = client("planner")
    data, children, households, grid, (vx, vy), owners = _shared_corner(planner_api)
    target = owners[0]
    before = registry.current_generation()
    with served(app) as url, chromium_page(url) as (page, log):
        # -- a second planner's page, loaded before anything is published ------------------------------------
        second, second_errors = _second_page(page, url)
        sign_in(second, url, "planner3", PASSWORD3, f"/editor?area={GRID}")
        second.wait_for_selector("#children tbody tr")
        # meanwhile the first planner renames an area through the API and publishes it
        stale_code = owners[1]
        assert planner_api.patch(f"/api/v1/areas/{stale_code}", json={"name": "改名"}).status_code == 200
        assert planner_api.post("/api/v1/generations/draft/publish").status_code == 200
        # the second planner drags a vertex of that area: refused as stale, a reload offered
        _zoom_to(second, children[stale_code])
        second.click("[data-tool=edit]")
        second.wait_for_timeout(300)
        _drag(second, vx, vy, 40, 24)
        _wait_status(second, "Reload", "重新加载")
        assert second.locator("#status button").count() >= 1
        screenshot(second, "editor-stale-412")
        second.click("#status button")  # reload: the page now shows the published version
        _until(second, "() => document.querySelector('#children').textContent.includes('改名')")

        # -- the first planner: remove a micro-grid and draw it again with one vertex pushed out ------------------
        sign_in(page, url, "planner", demo_password("planner"), f"/editor?area={GRID}")
        page.wait_for_selector("#children tbody tr")
        rows = page.locator("#children tbody tr").count()
        name = registry.store.areas(registry.current_generation(), codes=[target])[0]["name"]
        page.click(f"#children button[title='{target}']")
        page.once("dialog", lambda d: d.accept())
        page.click("[data-action=delete]")
        _until(page, f"() => document.querySelectorAll('#children tbody tr').length === {rows - 1}")
        assert name not in page.inner_text("#children")
        shape = children[target]
        _zoom_to(page, shape)
        ring = [tuple(p) for p in shapely.get_coordinates(shape.exterior)[:-1]]
        ring[ring.index((vx, vy))] = _pushed_out(shape, grid, ring, (vx, vy), 6.0 / 111_000)  # ~6 m into a neighbour
        page.click("[data-tool=draw]")
        page.once("dialog", lambda d: d.accept("新画的微网格"))
        for x, y in ring:
            page.mouse.click(*_pixel(page, x, y))
            page.wait_for_timeout(150)
        page.mouse.click(*_pixel(page, *ring[0]))
        _until(page, f"() => document.querySelectorAll('#children tbody tr').length === {rows}")
        drawn = page.locator("#children tr", has_text="新画的微网格")
        shown = int(drawn.locator("td.num").inner_text())
        _, after, counted = _data(planner_api)
        new_code = next(c for c in after if c not in children)
        assert shown == counted[new_code] and abs(shown - households[target]) <= households[target] // 2
        # -- the overlap is flagged on the map and in the list ----------------------------------------------------
        _until(page, "() => /重叠|overlap/.test(document.getElementById('failures').textContent)")
        assert page.locator("path[stroke='#c1121f']").count() > 0
        found = planner_api.get(f"/api/v1/areas/{GRID}/rules?generation=draft").get_json()
        assert "overlap" in {f["properties"]["rule"] for f in found["features"]}
        screenshot(page, "editor-overlap")
        # -- the snap tool fixes it, then the change set is published -------------------------------------------
        page.fill("#tolerance", "10")
        page.click("#fix-form button[type=submit]")
        page.wait_for_selector("#fix-apply:not([hidden])")
        page.click("#fix-apply")
        _until(page, "() => document.querySelectorAll('#failures li').length === 0", timeout=20000)
        fixed = planner_api.get(f"/api/v1/areas/{GRID}/rules?generation=draft").get_json()
        assert fixed["errors"] == 0
        page.click("[data-action=publish]")
        _wait_status(page, "generation", "版本")
        current = registry.current_generation()
        assert current > before and registry.store.areas(current, codes=[new_code])
        assert not registry.store.areas(current, codes=[target])
        screenshot(page, "editor-published")

        # -- the second planner's change set, overtaken by a publish of the same area, is offered a rebase -------
        second.reload()
        second.wait_for_selector("#children tbody tr")
        second.click("[data-tool=edit]")
        second.wait_for_timeout(300)
        _data_now, now, _ = _data(client("planner3"))
        (wx, wy), shared = _interior_vertex(now, grid, skip=(new_code,))
        _zoom_to(second, now[shared[0]])
        _drag(second, wx, wy, 40, 24)
        _wait_status(second, "Saved", "已保存")
        mine = client("planner3").get("/api/v1/generations/draft").get_json()
        assert set(shared) <= set(mine["added_or_changed"]), (shared, mine)
        assert planner_api.patch(f"/api/v1/areas/{shared[0]}", json={"name": "又改名"}).status_code == 200
        assert planner_api.post("/api/v1/generations/draft/publish").status_code == 200
        second.click("[data-action=publish]")
        _wait_status(second, "Rebase", "变基", "基于")
        screenshot(second, "editor-conflict")
        second.click("#status button")  # rebase
        _wait_status(second, "builds on generation", "现已基于")  # not "基于现行版本" of the conflict itself
        second.click("[data-action=publish]")
        _wait_status(second, "Published", "已发布")
        assert registry.current_generation() > current
        assert second_errors == [] and log["page_errors"] == [] and log["blocked"] == []


def _outline_vertex(children, grid):
    """A vertex two micro-grids share on the grid's outline."""
    for geom in children.values():
        for x, y in shapely.get_coordinates(geom.exterior)[:-1]:
            point = shapely.Point(x, y)
            owners = [c for c, g in children.items() if g.exterior.distance(point) < 1e-10]
            if len(owners) >= 2 and grid.exterior.distance(point) < 1e-10:
                return (x, y), owners
    raise AssertionError("no shared vertex on the outline")


def test_outline_vertices_slide_along_it_undo_redo_and_a_split_across_neighbours(site):
    """Outside test: a vertex on the parent's outline dragged inward opened a gap; redo saved the undone state;
    a split line could not be drawn over other areas (a click on one selected it instead)."""
    app, registry, client = site
    planner_api = client("planner")
    data, children, _ = _data(planner_api)
    grid = shapely.geometry.shape(data["parent"]["geometry"])
    (vx, vy), owners = _outline_vertex(children, grid)
    with served(app) as url, chromium_page(url) as (page, log):
        sign_in(page, url, "planner", demo_password("planner"), f"/editor?area={GRID}")
        page.wait_for_selector("#children tbody tr")
        _zoom_to(page, children[owners[0]])
        page.click("[data-tool=edit]")
        page.wait_for_timeout(300)
        x, y = _pixel(page, vx, vy)
        cx, cy = _pixel(page, grid.centroid.x, grid.centroid.y)
        length = math.hypot(cx - x, cy - y)
        _drag(page, vx, vy, (cx - x) / length * 40, (cy - y) / length * 40)  # inward, off the outline
        _wait_status(page, "已保存", "Saved")
        rules = planner_api.get(f"/api/v1/areas/{GRID}/rules?generation=draft").get_json()
        assert [f["properties"]["rule"] for f in rules["features"] if not f["properties"]["waived"]
                and f["properties"]["rule"] in ("gap", "sliver", "overlap", "outside_parent")] == []  # fmt: skip
        _, dragged, _ = _data(planner_api)
        assert dragged[owners[0]] != children[owners[0]]  # it moved — along the outline
        page.click("[data-tool=edit]")  # tool off
        page.click("[data-action=undo]")
        _until(page, "() => !document.getElementById('status').textContent.includes('…')")
        page.wait_for_timeout(500)
        _, undone, _ = _data(planner_api)
        assert undone[owners[0]].equals(children[owners[0]])
        page.click("[data-action=redo]")
        page.wait_for_timeout(1500)
        _, redone, _ = _data(planner_api)
        assert redone[owners[0]].equals(dragged[owners[0]]) and not redone[owners[0]].equals(children[owners[0]])
        # a split line drawn across the neighbours of the selected micro-grid
        rows = page.locator("#children tbody tr").count()
        target = sorted(children)[1]
        shape = children[target]
        page.click(f"#children button[title='{target}']")
        _zoom_to(page, grid, max_zoom=18)
        page.click("[data-tool=split]")
        minx, miny, maxx, maxy = shape.bounds
        xmid, pad = (minx + maxx) / 2, (maxy - miny) * 0.15
        start, end = (xmid, maxy + pad), (xmid, miny - pad)
        for point in (start, end):
            page.mouse.click(*_pixel(page, *point))
            page.wait_for_timeout(200)
        page.mouse.click(*_pixel(page, *end))  # a second click on the last point finishes the line
        _until(page, f"() => document.querySelectorAll('#children tbody tr').length === {rows + 1}")
        assert log["page_errors"] == [] and log["blocked"] == []


def test_suggested_micro_grids_previewed_and_used(site):
    app, registry, client = site
    planner_api = client("planner")
    with served(app) as url, chromium_page(url) as (page, log):
        sign_in(page, url, "planner", demo_password("planner"), f"/editor?area={GRID}")
        page.wait_for_selector("#children tbody tr")
        page.click("#suggest-form button[type=submit]")
        page.wait_for_selector("#suggest-apply:not([hidden])", timeout=20000)
        preview = planner_api.post(f"/api/v1/areas/{GRID}/suggest", json={"apply": False}).get_json()
        assert str(preview["summary"]["groups"]) in _status(page)
        assert page.locator("path[stroke='#7b2cbf']").count() == preview["summary"]["groups"]
        page.click("#suggest-apply")
        _until(page, f"() => document.querySelectorAll('#children tbody tr').length === {preview['summary']['groups']}")
        _until(page, "() => document.querySelectorAll('#failures li').length === 0")
        assert planner_api.get(f"/api/v1/areas/{GRID}/rules?generation=draft").get_json()["errors"] == 0
        screenshot(page, "editor-suggested")
        assert log["page_errors"] == [] and log["blocked"] == []
