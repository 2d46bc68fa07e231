"""Compressed answers (Flask-Compress) and fingerprinted, long-cached static files.

Flask-Compress gives a compressed answer's strong ETag a suffix naming the coding (``"v1"`` becomes
``"v1:gzip"``), so the tag a client sends back in ``If-Match`` or ``If-None-Match`` is not the one our views
issued. :class:`StripCodingFromTags` removes that suffix from the request's conditional headers before any view
sees them: an edit made with the tag of a compressed read applies (no false 412), and a cached tile revalidates
to 304 without being rendered.

Our own scripts and styles under ``/static`` are linked as ``/static/<file>?v=<hash of the file>`` by
:func:`static_url`; a request carrying the current hash is answered with a one-year ``immutable`` lifetime, any
other with ``no-cache``, so a new release is never hidden behind a stale copy.
"""

from __future__ import annotations

import hashlib
import re
from functools import cache
from pathlib import Path

from flask import Flask, request, url_for
from flask_compress import Compress

__all__ = ["StripCodingFromTags", "init_compression", "static_url", "COMPRESSED_TYPES"]

#: What is worth compressing: pages, scripts, styles, JSON/GeoJSON, vector tiles, CSV, SVG.
COMPRESSED_TYPES = [
    "text/html",
    "text/css",
    "text/csv",
    "text/plain",
    "text/javascript",
    "application/javascript",
    "application/json",
    "application/geo+json",
    "application/vnd.mapbox-vector-tile",
    "image/svg+xml",
]
_CODING_SUFFIX = re.compile(r':(?:zstd|br|gzip|deflate)"')
_STATIC = Path(__file__).resolve().parent / "static"
_YEAR = 365 * 24 * 3600
#: Endpoints answering with one of our small files (read whole so they can be compressed and closed at once).
_FILES = ("static", "vendor.file", "pages.favicon")


class StripCodingFromTags:
    """WSGI middleware: ``"tag:gzip"`` → ``"tag"`` in ``If-Match``, ``If-None-Match`` and ``If-Range``."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        """Rewrite the conditional headers, then call the app."""
        for key in ("HTTP_IF_MATCH", "HTTP_IF_NONE_MATCH", "HTTP_IF_RANGE"):
            value = environ.get(key)
            if value and ":" in value:
                environ[key] = _CODING_SUFFIX.sub('"', value)
        return self.app(environ, start_response)


@cache
def _digest(filename: str) -> str:
    return hashlib.sha256((_STATIC / filename).read_bytes()).hexdigest()[:12]


def static_url(filename: str) -> str:
    """The URL of our own static file with its content hash (``/static/js/map.js?v=…``), cacheable for a year.

    Parameters
    ----------
    filename : str
        The path under ``web/static/``, e.g. ``"js/staffmap.js"``.

    Returns
    -------
    str
    """
    return url_for("static", filename=filename, v=_digest(filename))


def init_compression(app: Flask) -> None:
    """Compress answers for clients that accept it; fingerprint and cache our static files."""
    app.config.setdefault("COMPRESS_MIMETYPES", COMPRESSED_TYPES)
    app.config.setdefault("COMPRESS_ALGORITHM", ["br", "gzip", "deflate"])
    app.config.setdefault("COMPRESS_MIN_SIZE", 500)
    app.config.setdefault("COMPRESS_STREAMS", False)
    Compress(app)
    app.wsgi_app = StripCodingFromTags(app.wsgi_app)
    app.jinja_env.globals["static_url"] = static_url

    @app.after_request
    def _static_lifetime(response):
        if request.endpoint in _FILES and response.is_streamed and response.status_code == 200:
            source = response.response  # our files are small: read them whole (and close them) to compress them
            response.direct_passthrough = False
            data = b"".join(response.iter_encoded())
            getattr(source, "close", lambda: None)()
            response.set_data(data)
        if request.endpoint == "static" and response.status_code in (200, 304):
            filename = (request.view_args or {}).get("filename", "")
            fresh = request.args.get("v") and (_STATIC / filename).is_file() and request.args["v"] == _digest(filename)
            response.cache_control.max_age = _YEAR if fresh else 0
            response.cache_control.public = True
            response.cache_control.immutable = bool(fresh)
            response.cache_control.no_cache = None if fresh else True
            response.cache_control.no_store = None
        return response
