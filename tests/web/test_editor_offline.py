"""The editor offline, in headless Chromium driven with the mouse (issue 14: "works offline like every page").

A planner opens the editor online (the service worker keeps the page, its scripts and the data), loses the
connection, opens the page again from the worker, moves a shared vertex twice — both areas follow, the edits wait
in the outbox and survive a reload — and, back online, the edits are saved in order and the server has exactly what
was drawn. Edits made offline on an area the same planner changed meanwhile from another device are refused (412),
not saved over it, and can be discarded.
"""

from __future__ import annotations

import re

import shapely

from tests.conftest import demo_password
from tests.web.browser import chromium_context, screenshot, served, sign_in
from tests.web.test_editor_browser import (
    GRID,
    _data,
    _drag,
    _shared_corner,
    _until,
    _wait_status,
    _zoom_to,
    site,
)

__all__ = ["site"]  # the fixture, shared with the editor's other browser test

OUTBOX = f"weige-editor-outbox:planner:{GRID}"


def _queued(page) -> list:
    return page.evaluate("(key) => (JSON.parse(localStorage.getItem(key) || 'null') || {items: []}).items", OUTBOX)


def _drawn(page, code) -> shapely.Geometry:
    geometry = page.evaluate(
        """(code) => { let found = null; window.editorMap.eachLayer(l => {
             if (l.feature && l.feature.properties && l.feature.properties.code === code && l.pm) {
               found = l.toGeoJSON(false).geometry; } }); return found; }""",
        code,
    )
    return shapely.geometry.shape(geometry)


def _open(page, url):
    page.goto(f"{url}/editor?area={GRID}", wait_until="domcontentloaded")
    page.wait_for_selector("#children tbody tr")
    _until(page, "() => !/加载|Loading/.test(document.getElementById('status').textContent)")


def test_vertex_edits_made_offline_are_saved_in_order_when_back_and_never_over_another_change(site):
    app, registry, client = site
    planner_api = client("planner")
    data, children, _, grid, (vx, vy), owners = _shared_corner(planner_api)
    with served(app) as url, chromium_context(url, viewport={"width": 1280, "height": 800}) as (context, page, log):
        sign_in(page, url, "planner", demo_password("planner"), f"/editor?area={GRID}")
        page.wait_for_selector("#children tbody tr")
        _until(page, "() => navigator.serviceWorker.controller !== null", timeout=20000)
        worker = client("planner").get("/editor-sw.js").get_data(as_text=True)
        cache = re.search(r'var CACHE = "([^"]+)"', worker)[1]
        _open(page, url)  # controlled now: the page and its data go through the worker and are kept
        assert cache in page.evaluate("caches.keys()")

        # -- offline: the page opens from the worker; a shared vertex is moved twice ------------------------------
        context.set_offline(True)
        _open(page, url)
        _zoom_to(page, children[owners[0]])
        page.click("[data-tool=edit]")
        page.wait_for_timeout(300)
        _drag(page, vx, vy, 30, 18)
        _wait_status(page, "离线", "Offline")
        assert len(_queued(page)) == 1
        moved = {tuple(p) for p in shapely.get_coordinates(_drawn(page, owners[0]).exterior)} - set(
            map(tuple, shapely.get_coordinates(children[owners[0]].exterior))
        )
        assert len(moved) == 1
        ((mx, my),) = moved
        _drag(page, mx, my, 40, 30)  # (less than the 15 px snap distance would snap back onto the neighbour's copy)
        _until(page, "(key) => (JSON.parse(localStorage.getItem(key)) || {items: []}).items.length === 2", OUTBOX)
        queued = _queued(page)
        assert {c["code"] for c in queued[0]["changes"]} >= set(owners)  # both areas sharing the vertex follow
        screenshot(page, "editor-offline-queued")
        _open(page, url)  # reloaded offline: the edits are still drawn, still waiting
        last = {c["code"]: shapely.geometry.shape(c["geometry"]) for c in queued[1]["changes"]}
        for code, geometry in last.items():
            assert shapely.equals_exact(_drawn(page, code), geometry, 1e-12), code
        _, server, _ = _data(planner_api)
        assert all(shapely.equals_exact(server[c], children[c], 0) for c in owners)  # nothing reached the server

        # -- back online: saved in order, the server has what was drawn --------------------------------------------
        context.set_offline(False)
        _wait_status(page, "已全部保存", "Every edit made offline is saved", timeout=20000)
        assert _queued(page) == []
        _, server, _ = _data(planner_api)
        for code, geometry in last.items():
            assert shapely.equals_exact(server[code], geometry, 1e-12), code

        # -- offline again, while the same planner changes the area from another device: refused, not overwritten --
        context.set_offline(True)
        _open(page, url)
        page.click("[data-tool=edit]")
        page.wait_for_timeout(300)
        _drag(page, *_shared_vertex(last, owners[0]), 30, -20)
        _until(page, "(key) => (JSON.parse(localStorage.getItem(key)) || {items: []}).items.length === 1", OUTBOX)
        assert planner_api.patch(f"/api/v1/areas/{owners[0]}", json={"name": "另一台设备改名"}).status_code == 200
        context.set_offline(False)
        _wait_status(page, "已在别处被修改", "changed elsewhere while you were offline", timeout=20000)
        screenshot(page, "editor-offline-stale")
        _, server, _ = _data(planner_api)
        assert shapely.equals_exact(server[owners[0]], last[owners[0]], 1e-12)  # not saved over the other change
        page.click("#status button >> nth=0")  # discard this edit (the rest would be saved)
        _until(page, "() => document.querySelector('#children').textContent.includes('另一台设备改名')")
        assert _queued(page) == []
        assert "weige-editor-data" in page.evaluate("caches.keys()")
        page.click("header .me.wide button:has-text('退出'), header .me.wide button:has-text('Sign out')")
        page.wait_for_load_state("networkidle")
        _until(page, "() => caches.keys().then(n => !n.includes('weige-editor-data'))")  # the planner's data is gone
        assert not log["blocked"] and not log["page_errors"], log


def _shared_vertex(geometries, code):
    """A vertex of ``code``'s outline that a neighbour's outline passes through."""
    for x, y in shapely.get_coordinates(geometries[code].exterior)[:-1]:
        if any(g.exterior.distance(shapely.Point(x, y)) < 1e-10 for c, g in geometries.items() if c != code):
            return float(x), float(y)
    raise AssertionError("no shared vertex")


def _moved_vertex(page, code, original) -> tuple[float, float]:
    ((x, y),) = {tuple(p) for p in shapely.get_coordinates(_drawn(page, code).exterior)} - set(
        map(tuple, shapely.get_coordinates(original.exterior))
    )
    return x, y


def test_two_tabs_a_lost_answer_and_an_unreadable_outbox(site):
    """Outside test: (1) two tabs of one planner editing one area offline shared the outbox, and the second tab's
    edit, drawn without the first's, was saved over it on the server while both said all was well; (2) a save whose
    answer was lost stayed queued and was refused (412) for good; (3) a malformed outbox kept the page loading."""
    app, registry, client = site
    planner_api = client("planner")
    data, children, _, grid, (vx, vy), owners = _shared_corner(planner_api)
    code = owners[0]
    ring = [tuple(p) for p in shapely.get_coordinates(children[code].exterior)[:-1]]
    wx, wy = max((p for p in ring if p != (vx, vy)), key=lambda p: shapely.Point(p).distance(shapely.Point(vx, vy)))
    with served(app) as url, chromium_context(url, viewport={"width": 1280, "height": 800}) as (context, page, log):
        sign_in(page, url, "planner", demo_password("planner"), f"/editor?area={GRID}")
        page.wait_for_selector("#children tbody tr")
        _until(page, "() => navigator.serviceWorker.controller !== null", timeout=20000)
        _open(page, url)
        other = context.new_page()
        _open(other, url)
        # -- (1) two tabs, offline: each moves a vertex of the same area, neither holds the other's move ---------
        context.set_offline(True)
        for tab, (x, y) in ((page, (vx, vy)), (other, (wx, wy))):
            _zoom_to(tab, children[code])
            tab.click("[data-tool=edit]")
            tab.wait_for_timeout(300)
            _drag(tab, x, y, 30, 18)
            _wait_status(tab, "离线", "Offline")
        first, second = _drawn(page, code), _drawn(other, code)
        assert not shapely.equals_exact(first, second, 1e-12)
        context.set_offline(False)
        for tab in (page, other):
            tab.evaluate("() => window.dispatchEvent(new Event('online'))")
        for _ in range(200):  # one tab saves (the other waits for it), and is refused the second edit
            stale = [t for t in (page, other) if "已在别处被修改" in t.inner_text("#status")]
            if stale:
                break
            page.wait_for_timeout(100)
        assert stale, "the second tab's edit must be refused, not saved over the first"
        _, server, _ = _data(planner_api)
        assert shapely.equals_exact(server[code], first, 1e-12)  # the first tab's edit, not overwritten by the second
        stale[0].once("dialog", lambda d: d.accept())
        stale[0].click("#status button >> nth=1")  # discard all offline edits
        _until(page, "(key) => localStorage.getItem(key) === null", OUTBOX)
        other.close()

        # -- (2) a save that goes through but whose answer is lost is recognised when sent again ----------------
        _open(page, url)
        lost = {"n": 0}

        def lose_answer(route):
            if route.request.method == "POST" and route.request.url.endswith("/api/v1/editor/save") and not lost["n"]:
                lost["n"] += 1
                route.fetch()  # the server saves it ...
                route.abort()  # ... and the page never hears back
            else:
                route.continue_()

        page.route("**/api/v1/editor/save", lose_answer)
        current = _data(planner_api)[1][code]
        _zoom_to(page, current)
        page.click("[data-tool=edit]")
        page.wait_for_timeout(300)
        x, y = _shared_vertex({c: g for c, g in _data(planner_api)[1].items()}, code)
        _drag(page, x, y, 26, 16)
        _wait_status(page, "离线", "Offline")
        assert lost["n"] == 1 and len(_queued(page)) == 1
        drawn = _drawn(page, code)
        page.unroute("**/api/v1/editor/save")
        page.evaluate("() => window.dispatchEvent(new Event('online'))")
        _wait_status(page, "已全部保存", "Every edit made offline is saved", timeout=20000)
        assert _queued(page) == [] and shapely.equals_exact(_data(planner_api)[1][code], drawn, 1e-12)

        # -- (3) an unreadable outbox is dropped and said, the page loads ---------------------------------------
        page.evaluate(
            "(key) => localStorage.setItem(key, JSON.stringify({items: [null, {id: 'x', changes: 'no'}, "
            "{id: 'y', changes: [{code: 'A', geometry: {type: 'Polygon', coordinates: 'bad'}, version: 1}]}]}))",
            OUTBOX,
        )
        _open(page, url)
        _wait_status(page, "无法读取", "unreadable")
        assert not log["page_errors"], log["page_errors"]
