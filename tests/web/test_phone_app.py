"""The grid workers' phone app (``/app``): manifest, service worker, pages, and in Chromium at 390×844 offline use.

The plain tests check what the server sends (types, the worker's list of URLs, who may open the pages). The
browser tests (mark ``browser``) install the service worker, go offline, queue a report with a photo and a patrol
of 50 positions, come back online and check the database: each arrives exactly once.
"""

from __future__ import annotations

import io
import json
import re
from urllib.parse import urlparse

import pytest
import shapely
from PIL import Image

from tests.conftest import demo_password, private_app
from tests.web.browser import ARTIFACTS, chromium_context, served, sign_in

#: The demo worker's grid (see tests/web/test_access_matrix.py).
WORKER_GRID = "510104001001001"
PAGES = ("/app/", "/app/work", "/app/report", "/app/building", "/app/patrol", "/app/outbox", "/app/offline")


def worker_point(registry) -> tuple[float, float]:
    """A point inside a micro-grid of the demo worker's grid (WGS84)."""
    code = registry.areas(parent_code=WORKER_GRID)["code"].iloc[0]
    point = shapely.point_on_surface(registry.area(code).geometry)
    return point.x, point.y


@pytest.fixture(scope="module")
def phone(demo_db, tmp_path_factory):
    """``(app, registry, client)`` over a private copy of the demo street."""
    return private_app(demo_db, tmp_path_factory.mktemp("phone"))


def test_manifest_is_served_as_a_web_app_manifest_with_icons_that_exist(phone):
    app, _, client = phone
    anonymous = app.test_client()
    answer = anonymous.get("/app/manifest.webmanifest")
    assert answer.status_code == 200
    assert answer.mimetype == "application/manifest+json"
    body = answer.get_json(force=True)
    assert body["name"] == "微格" and body["start_url"] == "/app/" and body["scope"] == "/app/"
    assert body["display"] == "standalone"
    sizes = set()
    for icon in body["icons"]:
        assert icon["src"].startswith("/static/app/icons/")
        got = anonymous.get(icon["src"])
        assert got.status_code == 200 and got.mimetype == "image/png"
        image = Image.open(io.BytesIO(got.data))
        assert f"{image.width}x{image.height}" == icon["sizes"]
        sizes.add(image.width)
    assert {192, 512} <= sizes


def test_service_worker_is_javascript_scoped_to_the_app_and_lists_only_same_origin_urls_that_exist(phone):
    app, _, client = phone
    answer = app.test_client().get("/app/sw.js")
    assert answer.status_code == 200
    assert answer.mimetype == "text/javascript"
    assert "Service-Worker-Allowed" not in answer.headers  # served from /app/, its scope is /app/ by default
    source = answer.get_data(as_text=True)
    cache = re.search(r'var CACHE = "(weige-app-[0-9a-f]{12})"', source).group(1)
    urls = json.loads(re.search(r"var PRECACHE = (\[.*?\]);", source).group(1))
    assert set(PAGES) <= set(urls)
    assert any(u.startswith("/vendor/leaflet/") and u.endswith("/leaflet.js") for u in urls)
    assert any(u.startswith("/static/app/app.js?v=") for u in urls)
    worker = client("worker")
    for url in urls:
        assert url.startswith("/") and not url.startswith("//"), url
        got = worker.get(url)
        assert got.status_code == 200, url
        got.close()
    assert cache in source


def test_every_page_script_and_style_is_precached(phone):
    """What a page links (scripts, styles, icons, the manifest) is in the worker's list, so it opens offline."""
    app, _, client = phone
    source = app.test_client().get("/app/sw.js").get_data(as_text=True)
    urls = set(json.loads(re.search(r"var PRECACHE = (\[.*?\]);", source).group(1)))
    worker = client("worker")
    for page in PAGES:
        html = worker.get(page).get_data(as_text=True)
        linked = set(re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', html))
        linked.discard("/app/manifest.webmanifest")  # fetched by the browser, not through the worker
        assert linked - urls == set(), page


def test_cache_name_changes_with_the_files(phone, monkeypatch):
    from web import app_pages

    app, _, _ = phone
    with app.test_request_context():
        before = app_pages.cache_name()
        monkeypatch.setattr(app_pages, "SCRIPTS", app_pages.SCRIPTS[:-1])
        assert app_pages.cache_name() != before


@pytest.mark.parametrize(
    ("name", "allowed"),
    [("worker", True), ("staff", True), ("admin", True), ("planner", False)],
)
def test_the_app_is_for_those_who_patrol_or_handle_issues(phone, name, allowed):
    _, _, client = phone
    answer = client(name).get("/app/")
    assert answer.status_code == (200 if allowed else 403)


def test_signed_out_the_app_sends_to_sign_in(phone):
    app, _, _ = phone
    answer = app.test_client().get("/app/work")
    assert answer.status_code == 302 and "/login?next=/app/work" in answer.headers["Location"]


def test_pages_are_chinese_by_default_with_the_tab_bar_and_their_strings(phone):
    _, _, client = phone
    html = client("worker").get("/app/report").get_data(as_text=True)
    assert '<html lang="zh-CN">' in html
    assert 'rel="manifest" href="/app/manifest.webmanifest"' in html
    assert html.count('class="tabs"') == 1 and html.count('<a href="/app/') >= 4
    strings = json.loads(re.search(r'<script type="application/json" id="page-strings">(.*?)</script>', html).group(1))
    assert "queued" in strings and "located_in" in strings
    assert re.search(r"<script>(?!</script>)", html) is None  # no inline script (CSP)
    assert 'capture="environment"' in html and 'accept="image/*"' in html


def test_report_page_offers_the_catalog_categories_by_name(phone, app):
    _, _, client = phone
    html = client("worker").get("/app/report").get_data(as_text=True)
    desk = app.extensions["weige.issues"]
    for category in desk.catalog:
        assert f'<option value="{category.code}">{category.name_zh}</option>' in html


def test_session_gives_a_fresh_csrf_token_never_cached(phone):
    _, _, client = phone
    answer = client("worker").get("/app/session")
    assert answer.status_code == 200 and answer.headers["Cache-Control"] == "no-store"
    assert answer.get_json()["user"] == "worker" and len(answer.get_json()["csrf_token"]) > 20


def test_issue_page_offers_the_steps_the_staff_page_offers(phone):
    """The same rule (issues.workflow.allowed_actions) decides the buttons on both pages."""
    app, registry, client = phone
    worker = client("worker")
    lon, lat = worker_point(registry)
    made = worker.post(
        "/api/v1/issues", json={"category": "road_cleaning", "description": "路面脏", "lon": lon, "lat": lat}
    )
    assert made.status_code == 201
    issues = worker.get("/api/v1/issues?state=open&per_page=5").get_json()["issues"]
    assert made.get_json()["id"] in {i["id"] for i in issues}
    for issue in issues:
        mine = worker.get(f"/app/issues/{issue['id']}").get_data(as_text=True)
        staff_page = worker.get(f"/issues/{issue['id']}").get_data(as_text=True)
        app_steps = set(re.findall(r'name="action" value="([a-z_]+)"', mine))
        desk_steps = set(re.findall(r'name="action" value="([a-z_]+)"', staff_page)) - {"assign"}
        assert app_steps == desk_steps
    assert worker.get("/app/issues/2147483647").status_code == 404


# -- in Chromium at 390×844 ---------------------------------------------------------------------------------------


def phone_page(base_url: str, lon: float, lat: float):
    """A 390×844 Chromium page allowed to use service workers and geolocation (at lon, lat); other hosts blocked."""
    return chromium_context(
        base_url,
        viewport={"width": 390, "height": 844},
        device_scale_factor=1,
        is_mobile=True,
        has_touch=True,
        geolocation={"longitude": lon, "latitude": lat, "accuracy": 8},
        permissions=["geolocation"],
        locale="zh-CN",
    )


def _chinese_app(demo_db: str, folder, monkeypatch):
    """``private_app`` with the Chinese catalog plus this topic's pending messages (web/translations/pending/),
    compiled into ``folder``, so the screenshots show the pages as they will be once the lead merges them."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    from web import i18n
    from web.i18n import TRANSLATIONS

    with open(TRANSLATIONS / "zh" / "LC_MESSAGES" / "messages.po", "rb") as fh:
        catalog = read_po(fh, locale="zh_CN")
    for pending in sorted((TRANSLATIONS / "pending").glob("*.json")):
        for message_id, text in json.loads(pending.read_text(encoding="utf-8")).items():
            if message_id not in catalog or not catalog[message_id].string:
                catalog.add(message_id, text)
    target = folder / "catalog" / "zh" / "LC_MESSAGES"
    target.mkdir(parents=True)
    with open(target / "messages.mo", "wb") as fh:
        write_mo(fh, catalog)
    monkeypatch.setattr(i18n, "TRANSLATIONS", folder / "catalog")  # read by create_app (not a deployment setting)
    return private_app(demo_db, folder)


def _jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 80, 40)).save(buffer, "JPEG")
    return buffer.getvalue()


def _badge(page) -> int:
    badge = page.locator("#badge")
    return 0 if badge.is_hidden() else int(badge.inner_text())


def _wait_controlled(page) -> None:
    page.wait_for_function("() => navigator.serviceWorker.controller !== null", timeout=20000)
    page.evaluate("navigator.serviceWorker.ready.then(() => true)")


def _patrols_api(app) -> bool:
    return any(rule.rule == "/api/v1/patrols" for rule in app.url_map.iter_rules())


@pytest.mark.browser
def test_offline_report_with_photo_and_patrol_of_50_positions_arrive_exactly_once(demo_db, tmp_path, monkeypatch):
    app, registry, client = _chinese_app(demo_db, tmp_path, monkeypatch)
    if not _patrols_api(app):
        pytest.skip("the patrol API (web/patrols_api.py) is not in this tree yet")
    lon, lat = worker_point(registry)
    text = "离线上报的井盖破损 offline report"
    with served(app) as url, phone_page(url, lon, lat) as (context, page, log):
        page.goto(url + "/login")
        page.evaluate("caches.open('weige-app-0123456789ab').then(() => true)")  # a cache of an older release
        sign_in(page, url, "worker", demo_password("worker"), "/app/")
        assert urlparse(page.url).path == "/app/"
        _wait_controlled(page)
        current = re.search(r'var CACHE = "([^"]+)"', client("worker").get("/app/sw.js").get_data(as_text=True))[1]
        names = page.evaluate("caches.keys()")
        assert current in names and "weige-app-0123456789ab" not in names  # the older cache is gone
        context.set_offline(True)
        page.reload(wait_until="domcontentloaded")  # the service worker answers
        assert page.locator("nav.tabs a").count() == 4 and page.locator("#map").is_visible()

        page.goto(url + "/app/report", wait_until="domcontentloaded")
        page.select_option("#category", "damaged_facility")
        page.fill("#description", text)
        page.set_input_files("#photo", files=[{"name": "p.jpg", "mimeType": "image/jpeg", "buffer": _jpeg()}])
        page.wait_for_selector("#previews img")
        page.click("#gps")
        page.wait_for_function("() => document.getElementById('place').textContent.includes(',')")
        page.click("#report button[type=submit]")
        page.wait_for_function("() => document.getElementById('badge').textContent === '1'")
        _viewport_shot(page, "app-report-offline")

        page.goto(url + "/app/patrol", wait_until="domcontentloaded")
        context.set_geolocation({"longitude": lon, "latitude": lat, "accuracy": 6})
        page.click("#start")  # the first fix is where the worker stands
        page.wait_for_function("() => document.getElementById('p-fixes').textContent === '1'")
        for i in range(1, 50):  # then a walk: about 0.5 m a step, 100 ms apart
            page.wait_for_timeout(100)
            context.set_geolocation({"longitude": lon + i * 0.000005, "latitude": lat, "accuracy": 6})
            page.wait_for_function(f"() => document.getElementById('p-fixes').textContent === '{i + 1}'", timeout=10000)
        page.click("#stop")
        # the report, the patrol's start, its 50 fixes (one batch) and its end
        page.wait_for_function("() => document.getElementById('badge').textContent === '4'")
        page.evaluate("window.scrollTo(0, 0)")
        _viewport_shot(page, "app-patrol-offline")

        page.goto(url + "/app/outbox", wait_until="domcontentloaded")
        page.wait_for_function("() => document.querySelectorAll('#items li').length === 4")
        kinds = page.eval_on_selector_all("#items li", "els => els.map(e => e.dataset.kind)")
        assert kinds == ["report", "patrol_start", "positions", "patrol_end"]
        assert "50" in page.locator("#items li[data-kind=positions]").inner_text()
        _viewport_shot(page, "app-outbox-offline")
        page.evaluate("WeigeApp.outbox.all().then(items => { window.sentOnce = items; })")  # to send them again

        context.set_offline(False)  # the online event sends the outbox
        page.wait_for_function("() => document.getElementById('badge').hidden", timeout=30000)
        page.evaluate("Promise.all(sentOnce.map(i => WeigeApp.data.put('outbox', i))).then(() => WeigeApp.flush())")
        page.wait_for_function("() => document.getElementById('badge').hidden", timeout=30000)
        assert page.evaluate("WeigeApp.outbox.all().then(i => i.length)") == 0

        worker = client("worker")
        found = [i for i in worker.get("/api/v1/issues?per_page=500").get_json()["issues"] if i["description"] == text]
        assert len(found) == 1, "sent twice, stored once"
        issue = worker.get(f"/api/v1/issues/{found[0]['id']}").get_json()
        assert len(issue["photos"]) == 1 and issue["external_id"] and issue["micro_grid_code"]
        patrols = worker.get("/api/v1/patrols").get_json()["patrols"]
        assert len(patrols) == 1 and patrols[0]["ended_at"] is not None
        assert patrols[0]["summary"]["fixes"] == 50

        page.goto(url + "/app/work", wait_until="networkidle")
        page.wait_for_selector(f"#queue a[data-id='{issue['id']}']")
        _viewport_shot(page, "app-work-after-sync")
        page.goto(url + "/app/", wait_until="networkidle")
        page.wait_for_function(
            """([lon, lat]) => Object.values(window.appMap._layers).some(l => l.getLatLng && l.options.radius === 9
                 && Math.abs(l.getLatLng().lng - lon) < 1e-6 && Math.abs(l.getLatLng().lat - lat) < 1e-6)""",
            arg=[issue["lon"], issue["lat"]],
            timeout=15000,
        )
        assert log["blocked"] == [] and log["page_errors"] == []


_LAYOUT = """() => {
  const inMap = e => e.closest('.leaflet-pane') !== null;
  const shown = e => { const r = e.getBoundingClientRect(); const s = getComputedStyle(e);
    return r.width > 0 && r.height > 0 && s.visibility !== 'hidden' && s.display !== 'none'; };
  const wide = [...document.querySelectorAll('body *')].filter(e => !inMap(e) && shown(e))
    .filter(e => { const r = e.getBoundingClientRect(); return r.right > innerWidth + 0.5 || r.left < -0.5; })
    .map(e => e.tagName + '#' + e.id + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right));
  const targets = [...document.querySelectorAll('a[href], button, select, summary, label.btn, .leaflet-bar a')]
    .filter(e => !inMap(e) && shown(e))
    .filter(e => e.getBoundingClientRect().height < 44)
    .map(e => e.tagName + ' ' + (e.textContent || '').trim().slice(0, 20) + ' ' + e.getBoundingClientRect().height);
  return {scroll: document.documentElement.scrollWidth, wide, targets};
}"""


def _viewport_shot(page, name: str) -> None:
    """The screen as the worker sees it (fixed header and tab bar in place): tests/artifacts/<name>.png."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=False)


@pytest.mark.browser
def test_every_app_page_fits_390_px_with_tap_targets_of_44_px(demo_db, tmp_path, monkeypatch):
    app, registry, client = _chinese_app(demo_db, tmp_path, monkeypatch)
    lon, lat = worker_point(registry)
    worker = client("worker")
    made = worker.post(
        "/api/v1/issues", json={"category": "street_order", "description": "占道经营，影响通行", "lon": lon, "lat": lat}
    )
    issue_id = made.get_json()["id"]
    building = worker.get(f"/api/v1/buildings?area={WORKER_GRID}").get_json()["features"][0]
    building = worker.get(f"/api/v1/buildings/{building['properties']['id']}").get_json()  # a representative point
    b_lon, b_lat = building["geometry"]["coordinates"]
    pages = {
        "map": "/app/",
        "work": "/app/work",
        "issue": f"/app/issues/{issue_id}",
        "report": f"/app/report?building={building['properties']['id']}",
        "building": f"/app/building?id={building['properties']['id']}",
        "patrol": "/app/patrol",
        "outbox": "/app/outbox",
        "offline": "/app/offline",
    }
    with served(app) as url, phone_page(url, b_lon, b_lat) as (context, page, log):
        sign_in(page, url, "worker", demo_password("worker"), "/app/")
        for name, path in pages.items():
            page.goto(url + path, wait_until="networkidle")
            page.wait_for_timeout(300)
            found = page.evaluate(_LAYOUT)
            assert found["scroll"] <= 390, (name, found)
            assert found["wide"] == [], (name, found["wide"])
            assert found["targets"] == [], (name, found["targets"])
            _viewport_shot(page, f"app-{name}")
        page.goto(url + pages["building"], wait_until="networkidle")
        page.click("#checkin")  # standing at the building: accepted
        page.wait_for_selector("#checkin-status.ok", timeout=15000)
        _viewport_shot(page, "app-building-checked-in")
        assert "weige-app-data" in page.evaluate("caches.keys()")  # pages and answers kept for offline use
        page.goto(url + "/app/outbox", wait_until="networkidle")
        page.click("form[data-sign-out] button")
        page.wait_for_url("**/login")
        assert "weige-app-data" not in page.evaluate("caches.keys()")  # forgotten when the worker signs out
        assert log["blocked"] == [] and log["page_errors"] == [] and log["console_errors"] == []


@pytest.mark.browser
def test_a_report_sent_online_is_resized_on_the_phone_and_shows_its_micro_grid(demo_db, tmp_path, monkeypatch):
    app, registry, client = _chinese_app(demo_db, tmp_path, monkeypatch)
    lon, lat = worker_point(registry)
    big = io.BytesIO()
    Image.new("RGB", (3200, 2400), (30, 120, 200)).save(big, "JPEG", quality=90)
    with served(app) as url, phone_page(url, lon, lat) as (context, page, log):
        sign_in(page, url, "worker", demo_password("worker"), "/app/report")
        page.select_option("#category", "exposed_rubbish")
        page.fill("#description", "垃圾桶满溢")
        page.set_input_files("#photo", files=[{"name": "big.jpg", "mimeType": "image/jpeg", "buffer": big.getvalue()}])
        page.wait_for_selector("#previews img")
        page.click("#gps")
        page.wait_for_function("() => document.getElementById('place').textContent.includes(',')")
        page.click("#report button[type=submit]")
        page.wait_for_selector("#result.ok a[href^='/app/issues/']", timeout=15000)
        page.wait_for_function("() => document.querySelector('#result span[title]') !== null", timeout=15000)
        _viewport_shot(page, "app-report-sent")
        issue_id = int(page.get_attribute("#result a", "href").rsplit("/", 1)[1])
        shown = page.inner_text("#result")
        assert log["blocked"] == [] and log["page_errors"] == [] and log["console_errors"] == []
    worker = client("worker")
    issue = worker.get(f"/api/v1/issues/{issue_id}").get_json()
    assert issue["external_id"] and issue["lon"] == pytest.approx(lon, abs=1e-6)
    name = worker.get(f"/api/v1/areas/{issue['micro_grid_code']}").get_json()["properties"]["name"]
    assert name in shown
    (sha,) = issue["photos"]
    stored = Image.open(io.BytesIO(worker.get(f"/api/v1/issues/{issue_id}/photos/{sha}").data))
    assert stored.format == "JPEG" and (stored.width, stored.height) == (1600, 1200)  # longest side 1600 px
