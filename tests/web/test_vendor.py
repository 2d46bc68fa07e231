"""The front-end libraries: pinned in package-lock.json, copied unchanged into web/static/vendor/, served by the app.

The tarball check downloads each package from its lockfile ``resolved`` URL (CI reaches the npm registry),
verifies it against the lockfile ``integrity`` and compares every vendored file with the file in the tarball.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import tarfile
import urllib.error
import urllib.request
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import shapely

from tests.conftest import demo_password, private_app

ROOT = Path(__file__).resolve().parents[2]
VENDOR = ROOT / "web" / "static" / "vendor"
LOCK = json.loads((ROOT / "package-lock.json").read_text(encoding="utf-8"))
PACKAGE = json.loads((ROOT / "package.json").read_text(encoding="utf-8"))
MANIFEST = json.loads((VENDOR / "manifest.json").read_text(encoding="utf-8"))
FILES = MANIFEST["files"]
#: what the pages of issue 11 need
REQUIRED = {
    "leaflet",
    "@geoman-io/leaflet-geoman-free",
    "leaflet.vectorgrid",
    "leaflet.markercluster",
    "leaflet.heat",
    "chart.js",
}


def _locked(name: str) -> dict:
    return LOCK["packages"][f"node_modules/{name}"]


def test_package_json_pins_exact_versions_that_the_lockfile_holds():
    deps = PACKAGE["dependencies"]
    assert set(deps) == REQUIRED
    for name, version in deps.items():
        assert re.fullmatch(r"\d+\.\d+\.\d+", version), f"{name}: {version!r} is not an exact version"
        assert _locked(name)["version"] == version
    assert _locked("leaflet")["version"].startswith("1.9.")
    for key, entry in LOCK["packages"].items():
        if key:  # every installed package comes from the npm registry with a sha512 integrity
            assert entry["resolved"].startswith("https://registry.npmjs.org/"), key
            assert entry["integrity"].startswith("sha512-"), key


def test_every_manifest_file_exists_with_its_sha256_and_the_locked_version():
    listed = set()
    for entry in FILES:
        path = VENDOR / entry["path"]
        assert path.is_file(), entry["path"]
        assert hashlib.sha256(path.read_bytes()).hexdigest() == entry["sha256"], entry["path"]
        key = f"node_modules/{entry['package']}"  # a package may be locked at two versions (nested copies)
        locked = [
            (v["version"], v["resolved"], v["integrity"])
            for k, v in LOCK["packages"].items()
            if k == key or k.endswith("/" + key)
        ]
        assert (entry["version"], entry["resolved"], entry["integrity"]) in locked, entry["path"]
        listed.add(entry["path"])
    on_disk = {p.relative_to(VENDOR).as_posix() for p in VENDOR.rglob("*") if p.is_file()}
    assert on_disk - {"manifest.json"} == listed  # nothing vendored that the manifest does not account for


def test_each_package_has_its_files_and_its_licence_in_its_versioned_folder():
    for name in REQUIRED:
        version = _locked(name)["version"]
        own = [e for e in FILES if e["path"].startswith(f"{name}/{version}/") and e["package"] == name]
        assert any(e["path"].endswith((".js",)) for e in own), name
        assert any(re.search(r"(LICEN[CS]E|README)[^/]*$", e["path"]) for e in own), f"{name} has no licence"
    paths = {e["path"] for e in FILES}
    for image in ("layers.png", "layers-2x.png", "marker-icon.png", "marker-icon-2x.png", "marker-shadow.png"):
        assert f"leaflet/{_locked('leaflet')['version']}/images/{image}" in paths


@pytest.fixture(scope="module")
def tarballs():
    """Each locked package the manifest names, downloaded from its ``resolved`` URL: resolved → bytes."""
    out = {}
    for resolved in sorted({e["resolved"] for e in FILES}):
        try:
            with urllib.request.urlopen(resolved, timeout=60) as response:  # noqa: S310 - registry URL from the lock
                out[resolved] = response.read()
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            pytest.skip(f"the npm registry is unreachable ({exc}); cannot re-verify the vendored files")
    return out


def test_vendored_files_equal_the_files_in_the_locked_tarballs(tarballs):
    by_tarball: dict[str, list[dict]] = {}
    for entry in FILES:
        by_tarball.setdefault(entry["resolved"], []).append(entry)
    for resolved, entries in by_tarball.items():
        data = tarballs[resolved]
        algorithm, expected = entries[0]["integrity"].split("-", 1)
        assert algorithm == "sha512"
        assert base64.b64encode(hashlib.sha512(data).digest()).decode() == expected, f"{resolved}: integrity"
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            members = {m.name.split("/", 1)[1]: m for m in tar.getmembers() if m.isfile() and "/" in m.name}
            for entry in entries:
                member = members.get(entry["source"])
                assert member is not None, f"{entry['source']} is not in {resolved}"
                packed = tar.extractfile(member).read()
                assert (VENDOR / entry["path"]).read_bytes() == packed, entry["path"]


def test_the_app_serves_vendored_files_with_their_type_and_a_long_cache(app):
    client = app.test_client()
    leaflet = _locked("leaflet")["version"]
    chart = _locked("chart.js")["version"]
    for path, kind in (
        (f"leaflet/{leaflet}/leaflet.js", "text/javascript"),
        (f"leaflet/{leaflet}/leaflet.css", "text/css"),
        (f"leaflet/{leaflet}/images/layers.png", "image/png"),
        (f"chart.js/{chart}/chart.umd.min.js", "text/javascript"),
    ):
        r = client.get(f"/vendor/{path}")
        assert r.status_code == 200, path
        assert r.mimetype == kind, path
        assert r.get_data() == (VENDOR / path).read_bytes()
        assert r.cache_control.max_age == 365 * 24 * 3600
        r.close()
    missing = client.get(f"/vendor/leaflet/{leaflet}/nothing.js")
    assert missing.status_code == 404 and missing.get_json()["error"]["code"]
    assert client.get("/vendor/../vendor.py").status_code == 404


def test_vendor_url_names_the_locked_version(app):
    from web.vendor import vendor_url

    with app.test_request_context():
        assert vendor_url("leaflet", "leaflet.js") == f"/vendor/leaflet/{_locked('leaflet')['version']}/leaflet.js"
        assert vendor_url("@geoman-io/leaflet-geoman-free", "leaflet-geoman.css").startswith(
            "/vendor/@geoman-io/leaflet-geoman-free/2."
        )


_OUTSIDE_URL = re.compile(r"""(?:src|href|srcdoc|url)\s*[=(]\s*["']?\s*(?:https?:)?//""", re.IGNORECASE)
_ASSET_URL = re.compile(r"""["'(](?:https?:)?//[^"')\s]+\.(?:js|css|png|svg|woff2?)\b""", re.IGNORECASE)


def test_no_template_or_web_module_names_another_host_for_a_script_or_style():
    """Only base-map tile templates (``web/basemaps.py``, off unless configured) may name another host."""
    sources = [*sorted((ROOT / "web" / "templates").rglob("*.html")), *sorted((ROOT / "web").glob("*.py"))]
    assert sources
    for path in sources:
        text = path.read_text(encoding="utf-8")
        if path.name == "basemaps.py":  # base-map tile templates: images a deployment may switch on, never scripts
            text = re.sub(r"https://[^\s\"']+\{[xyz]\}[^\s\"']*", "", text)
        assert not _OUTSIDE_URL.search(text), f"{path.name}: {_OUTSIDE_URL.search(text).group(0)}"
        assert not _ASSET_URL.search(text), f"{path.name}: {_ASSET_URL.search(text).group(0)}"
    for css in VENDOR.rglob("*.css"):  # the vendored styles load their images from beside them
        assert not re.search(r"url\(\s*[\"']?\s*(?:https?:)?//", css.read_text(encoding="utf-8")), css.name


class _Assets(HTMLParser):
    """Every URL a page loads: script src, link href, img src, and the same inside iframe srcdoc documents."""

    def __init__(self):
        super().__init__()  # convert_charrefs: attribute values arrive unescaped
        self.urls: list[str] = []
        self.documents = 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "script" and a.get("src"):
            self.urls.append(a["src"])
        elif tag == "link" and a.get("href"):
            self.urls.append(a["href"])
        elif tag in ("img", "iframe", "source") and a.get("src"):
            self.urls.append(a["src"])
        if tag == "iframe" and a.get("srcdoc"):
            inner = _Assets()
            inner.feed(a["srcdoc"])
            self.urls += inner.urls
            self.documents += 1 + inner.documents


def test_a_folium_page_loads_scripts_and_styles_only_from_the_app(demo_db, tmp_path):
    app, registry, signed_in = private_app(demo_db, tmp_path)
    point = shapely.point_on_surface(registry.areas(parent_code="510104001001001").iloc[0].geometry)
    report = {"category": "dispute", "description": "地图 map", "lon": point.x, "lat": point.y}
    issue = signed_in("admin").post("/api/v1/issues", json=report).get_json()["id"]
    client = app.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").get_data(as_text=True)).group(1)
    signed = client.post("/login", data={"username": "admin", "password": demo_password("admin"), "csrf_token": token})
    assert signed.status_code == 302
    page = client.get(f"/issues/{issue}")  # the issue page's map is folium's, pointed at the vendored copies
    assert page.status_code == 200
    assets = _Assets()
    assets.feed(page.get_data(as_text=True))
    assert assets.documents >= 1  # the map's own document was looked into
    assert any(u.startswith("/vendor/leaflet/") and u.endswith("/leaflet.js") for u in assets.urls), assets.urls
    for url in assets.urls:
        parts = urlsplit(url)
        assert not parts.scheme and not parts.netloc, f"the page loads {url} from another host"
        served = client.get(url)
        assert served.status_code == 200, url
        served.close()
