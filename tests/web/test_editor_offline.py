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
from tests.web.test_editor_browser import GRID, _data, _drag, _interior_vertex, _until, _wait_status, _zoom_to, site

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
    data, children, _ = _data(planner_api)
    grid = shapely.geometry.shape(data["parent"]["geometry"])
    (vx, vy), owners = _interior_vertex(children, grid)
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
        page.once("dialog", lambda d: d.accept())
        page.click("#status button >> nth=0")  # discard my offline edits
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
