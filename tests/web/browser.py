"""A headless Chromium harness for map pages: the app served on loopback, every other host blocked.

Reused by every map page's test: ``with served(app) as url, chromium_page() as (page, log): ...``.
"""

from __future__ import annotations

import contextlib
import shutil
import threading
from pathlib import Path
from urllib.parse import urlparse

import pytest
from werkzeug.serving import make_server

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
#: Screenshots of the pages the browser tests visit (look at them: a page can pass and still look wrong).
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


def screenshot(page, name: str) -> None:
    """Save the whole page as ``tests/artifacts/<name>.png``."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@contextlib.contextmanager
def served(app):
    """Serve ``app`` on a free loopback port in a thread; yields the base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(5)


@contextlib.contextmanager
def chromium_page(base_url: str):
    """A 1280×800 Chromium page that aborts (and records) every request to a host other than the app's."""
    with chromium_context(base_url, viewport={"width": 1280, "height": 800}) as (_, page, log):
        yield page, log


@contextlib.contextmanager
def chromium_context(base_url: str, **options):
    """A Chromium browser context (``options`` as ``new_context`` takes them: service workers allowed by default) and
    a page in it; every request to a host other than the app's is aborted and recorded. Yields context, page, log."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is installed by the test extra")
    if not shutil.which("chromium") and not shutil.which(CHROMIUM):
        pytest.skip("Debian chromium is not installed (.ci/run installs it)")
    allowed = urlparse(base_url).netloc
    log = {"blocked": [], "console_errors": [], "page_errors": [], "requests": []}
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        context = browser.new_context(**{"service_workers": "allow", **options})

        def route(route_):
            url = route_.request.url
            log["requests"].append(url)
            if url.startswith(("data:", "about:", "blob:")) or urlparse(url).netloc == allowed:
                route_.continue_()
            else:
                log["blocked"].append(url)
                route_.abort()

        context.route("**/*", route)
        page = context.new_page()
        page.on("console", lambda m: log["console_errors"].append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: log["page_errors"].append(str(e)))
        try:
            yield context, page, log
        finally:
            browser.close()


def sign_in(page, base_url: str, name: str, password: str, target: str = "/") -> None:
    """Open ``target``, get sent to the sign-in form, fill it in and come back signed in."""
    page.goto(base_url + target, wait_until="domcontentloaded")
    assert "/login" in page.url, f"expected the sign-in page, got {page.url}"
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", password)
    page.click("main button[type=submit]")
    page.wait_for_load_state("networkidle")
    assert "/login" not in page.url, f"sign-in failed: still on {page.url}"
