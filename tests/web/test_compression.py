"""Compressed answers, conditional requests through compression, and long-cached fingerprinted static files."""

from __future__ import annotations

import gzip
import re

import brotli
import pytest

from tests.conftest import private_app
from web.compression import StripCodingFromTags
from web.vendor import versions

LEAF = "510104001001001001"


@pytest.fixture
def fresh(demo_db, tmp_path):
    app, registry, client = private_app(demo_db, tmp_path)
    return app, client("planner")


def test_pages_and_api_answers_are_compressed_for_clients_that_accept_it(fresh):
    app, planner = fresh
    plain = app.test_client().get("/login")
    assert "Content-Encoding" not in plain.headers and "登录" in plain.get_data(as_text=True)
    zipped = app.test_client().get("/login", headers={"Accept-Encoding": "gzip"})
    assert zipped.headers["Content-Encoding"] == "gzip" and "Accept-Encoding" in zipped.headers["Vary"]
    same = re.compile(rb'name="csrf_token" value="[^"]*"')  # each client has its own token
    assert same.sub(b"", gzip.decompress(zipped.get_data())) == same.sub(b"", plain.get_data())
    layer = planner.get(
        "/api/v1/layers/micro_grid?bbox=104.05,30.63,104.09,30.66&zoom=15", headers={"Accept-Encoding": "br"}
    )
    assert layer.status_code == 200 and layer.headers["Content-Encoding"] == "br"
    body = brotli.decompress(layer.get_data())
    assert len(layer.get_data()) * 3 < len(body) and b'"FeatureCollection"' in body  # GeoJSON shrinks well


def test_an_etag_read_compressed_is_a_valid_if_match(fresh):
    """Flask-Compress answers ``"tag:gzip"``; sent back as If-Match it must apply, not fail with 412."""
    _app, planner = fresh
    read = planner.get(f"/api/v1/areas/{LEAF}", headers={"Accept-Encoding": "gzip"})
    assert read.headers["Content-Encoding"] == "gzip"
    tag = read.headers["ETag"]
    assert tag.endswith(':gzip"')
    changed = planner.patch(f"/api/v1/areas/{LEAF}", json={"name": "甲"}, headers={"If-Match": tag})
    assert changed.status_code == 200 and changed.get_json()["area"]["name"] == "甲"
    stale = planner.patch(f"/api/v1/areas/{LEAF}", json={"name": "乙"}, headers={"If-Match": tag})
    assert stale.status_code == 412  # still a real precondition: the old tag is stale now


def test_a_compressed_tile_revalidates_to_304(fresh):
    _app, planner = fresh
    url = "/tiles/micro_grid/16/53702/26744.mvt"
    first = planner.get(url, headers={"Accept-Encoding": "gzip"})
    assert first.status_code in (200, 204)
    again = planner.get(url, headers={"Accept-Encoding": "gzip", "If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304


@pytest.mark.parametrize(
    ("sent", "seen"),
    [
        ('"abc:gzip"', '"abc"'),
        ('"abc:br", W/"def:zstd"', '"abc", W/"def"'),
        ('"a:b"', '"a:b"'),  # not a coding suffix: left alone
        ("*", "*"),
    ],
)
def test_coding_suffixes_are_removed_from_conditional_headers(sent, seen):
    captured = {}

    def app(environ, start_response):
        captured.update(environ)
        return []

    StripCodingFromTags(app)({"HTTP_IF_MATCH": sent, "HTTP_IF_NONE_MATCH": sent}, None)
    assert captured["HTTP_IF_MATCH"] == seen and captured["HTTP_IF_NONE_MATCH"] == seen


def test_our_static_files_are_fingerprinted_and_vendor_files_cached_for_a_year(fresh):
    app, planner = fresh
    with app.test_request_context():
        from web.compression import static_url

        url = static_url("js/staffmap.js")
    assert re.fullmatch(r"/static/js/staffmap\.js\?v=[0-9a-f]{12}", url)
    fresh_copy = planner.get(url, headers={"Accept-Encoding": "gzip"})
    assert fresh_copy.status_code == 200 and fresh_copy.headers["Content-Encoding"] == "gzip"
    assert (
        "immutable" in fresh_copy.headers["Cache-Control"] and "max-age=31536000" in fresh_copy.headers["Cache-Control"]
    )
    assert "no-store" not in fresh_copy.headers["Cache-Control"]
    stale = planner.get("/static/js/staffmap.js?v=000000000000")
    assert "no-cache" in stale.headers["Cache-Control"] and "immutable" not in stale.headers["Cache-Control"]
    vendor = planner.get(f"/vendor/leaflet/{versions()['leaflet']}/leaflet.js", headers={"Accept-Encoding": "br"})
    assert vendor.headers["Content-Encoding"] == "br" and "max-age=31536000" in vendor.headers["Cache-Control"]
    assert len(brotli.decompress(vendor.get_data())) > 3 * len(vendor.get_data())
