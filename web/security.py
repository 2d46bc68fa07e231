"""Security headers, with a Content-Security-Policy that lets only our own scripts run.

The folium map pages carry inline scripts (the map set-up folium writes). Rather than allowing inline script
in general, each page lists the SHA-256 hashes of exactly the scripts it rendered (:func:`allow_scripts_in`),
so an injected ``<script>`` or ``onerror=`` attribute never runs even if text escaped our escaping.
We set these headers ourselves instead of using Flask-Talisman because its CSP supports nonces but not
per-response script hashes, and nonces would have to be written into folium's generated HTML.
"""

from __future__ import annotations

import base64
import hashlib
from html.parser import HTMLParser
from urllib.parse import urlsplit

from flask import Flask, current_app, g, request

__all__ = ["inline_scripts", "allow_scripts_in", "init_security_headers"]


class _Scripts(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=False)
        self.scripts: list[str] = []
        self._inside = False

    def handle_starttag(self, tag, attrs):
        if tag == "script" and not dict(attrs).get("src"):
            self._inside = True
            self.scripts.append("")

    def handle_endtag(self, tag):
        if tag == "script":
            self._inside = False

    def handle_data(self, data):
        if self._inside:
            self.scripts[-1] += data


def inline_scripts(html: str) -> list[str]:
    """The text of every inline ``<script>`` element in ``html``, exactly as the browser hashes it."""
    parser = _Scripts()
    parser.feed(html)
    parser.close()
    return parser.scripts


def allow_scripts_in(html: str) -> None:
    """Allow the inline scripts of ``html`` (our own rendered page) to run in this response."""
    hashes = g.setdefault("csp_hashes", set())
    for script in inline_scripts(html):
        digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii")
        hashes.add(f"'sha256-{digest}'")


def _policy() -> str:
    img = ["'self'", "data:"]
    tiles = current_app.config.get("WEIGE_TILES")
    if tiles:
        parts = urlsplit(tiles.replace("{s}", "a"))
        if parts.scheme and parts.netloc:
            img.append(f"{parts.scheme}://{parts.netloc.split('{')[0] or parts.netloc}")
    img += [source for source in g.get("csp_img_sources", ()) if source not in img]  # a page's base maps
    scripts = ["'self'", *sorted(g.get("csp_hashes", ()))]
    return "; ".join(
        [
            "default-src 'self'",
            f"script-src {' '.join(scripts)}",
            "style-src 'self' 'unsafe-inline'",  # Leaflet positions map panes with inline styles
            f"img-src {' '.join(img)}",
            "connect-src 'self'",
            "frame-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'self'",
        ]
    )


def init_security_headers(app: Flask) -> None:
    """Add the security headers to every response."""

    @app.after_request
    def _headers(response):
        headers = response.headers
        headers.setdefault("Content-Security-Policy", _policy())
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("X-Frame-Options", "SAMEORIGIN")
        headers.setdefault("Referrer-Policy", "same-origin")
        headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=(self)")
        headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        if request.is_secure:
            headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        if request.path.startswith("/api/") or g.get("caller") is not None:
            headers.setdefault("Cache-Control", "no-store")
        return response
