"""OGC API – Features at /ogc: every endpoint, stable paging over 100,000 buildings, CRS axis order, scope, tokens,
bad input, and GDAL's OAPIF driver as a real client."""

from __future__ import annotations

import contextlib
from datetime import datetime, timezone

import numpy as np
import pandas as pd
import pytest
import shapely

from accounts.tokens import create_token
from accounts.users import find_user
from boundaries.features import COLLECTIONS, features
from boundaries.scope import ScopedRegistry
from core.scope import Scope
from core.storage import tables as t
from issues.desk import IssueDesk
from tests.conftest import private_app, token_client
from web.ogc_api import CRS84, EPSG_4326, EPSG_4490

EXTRA = 100_000
#: Report times given to the test issues (UTC), in the order they are reported.
#: The last is 04:00 on 4 March in Shanghai but still 3 March in UTC.
TIMES = [datetime(2026, 3, d, h, 0, tzinfo=timezone.utc) for d, h in ((1, 2), (2, 2), (3, 2), (3, 20))]


def _add_buildings(registry, n: int) -> None:
    """``n`` small square buildings on a regular grid over the demo street, inserted in bulk."""
    minx, miny, maxx, maxy = registry.store.areas_extent(registry.current_generation())
    side = int(np.ceil(np.sqrt(n)))
    xs = np.linspace(minx + 1e-4, maxx - 1e-4, side)
    ys = np.linspace(miny + 1e-4, maxy - 1e-4, side)
    gx, gy = (a.ravel()[:n] for a in np.meshgrid(xs, ys))
    boxes = shapely.box(gx - 2e-5, gy - 2e-5, gx + 2e-5, gy + 2e-5)
    frame = pd.DataFrame(
        {
            "name": [f"测试楼{i}" for i in range(n)],
            "lon": gx,
            "lat": gy,
            "geometry": shapely.to_wkb(boxes),
            "minx": gx - 2e-5,
            "miny": gy - 2e-5,
            "maxx": gx + 2e-5,
            "maxy": gy + 2e-5,
        }
    )
    with registry.store.transaction() as conn:
        registry.store.bulk_insert(conn, "buildings", frame)


def _add_issues(registry) -> list[int]:
    """Four issues: three in the demo worker's grid, one in another community; report times :data:`TIMES`."""
    desk = IssueDesk(registry)
    admin = find_user(registry, "admin")
    view = ScopedRegistry(registry, Scope.everything(), admin.actor("test"))
    ids = []
    for i, grid in enumerate(("510104001001001", "510104001001001", "510104001001001", "510104001002001")):
        point = shapely.point_on_surface(registry.area(registry.areas(parent_code=grid)["code"].iloc[0]).geometry)
        made, _ = desk.report(view, "exposed_rubbish", f"垃圾{i}", lon=point.x, lat=point.y)
        ids.append(made["id"])
    with registry.store.transaction() as conn:
        for issue_id, when in zip(ids, TIMES, strict=True):
            conn.execute(t.issues.update().where(t.issues.c.id == issue_id).values(created_at=when))
    return ids


@pytest.fixture(scope="module")
def big(demo_db, tmp_path_factory):
    """A private demo database with 100,000 more buildings and four issues: ``(app, registry, client, issues)``."""
    app, registry, client = private_app(demo_db, tmp_path_factory.mktemp("ogc"))
    _add_buildings(registry, EXTRA)
    issue_ids = _add_issues(registry)
    return app, registry, client, issue_ids


def _view(registry, name: str) -> ScopedRegistry:
    user = find_user(registry, name)
    return ScopedRegistry(registry, user.scope(), user.actor("test"))


def _all_ids(client, url: str) -> tuple[list, int]:
    """Follow ``next`` links from ``url``; the ids in order and the first page's numberMatched."""
    ids, matched = [], None
    while url:
        body = client.get(url).get_json()
        matched = body["numberMatched"] if matched is None else matched
        assert body["numberReturned"] == len(body["features"])
        ids += [f["id"] for f in body["features"]]
        url = next((link["href"] for link in body["links"] if link["rel"] == "next"), None)
    return ids, matched


# -- landing, conformance, collections -----------------------------------------------------------
def test_landing_page_links_and_conformance(big):
    app = big[0]
    anonymous = token_client(app, None)
    body = anonymous.get("/ogc").get_json()
    rels = {link["rel"]: link["href"] for link in body["links"]}
    assert {"self", "service-desc", "conformance", "data"} <= set(rels)
    assert rels["service-desc"].endswith("/ogc/api") and rels["data"].endswith("/ogc/collections")
    classes = anonymous.get("/ogc/conformance").get_json()["conformsTo"]
    for part in ("conf/core", "conf/geojson", "conf/html", "conf/oas30", "ogcapi-features-2/1.0/conf/crs"):
        assert any(c.endswith(part) for c in classes), part
    api = anonymous.get("/ogc/api").get_json()
    limit = next(
        p for p in api["paths"]["/collections/{collectionId}/items"]["get"]["parameters"] if p["name"] == "limit"
    )
    assert limit["schema"]["maximum"] == 10_000 and limit["schema"]["default"] == 100


def test_collections_by_role(big):
    app, registry, client, _ = big
    assert token_client(app, None).get("/ogc/collections").status_code == 401
    ids = {
        name: [c["id"] for c in client(name).get("/ogc/collections").get_json()["collections"]]
        for name in ("admin", "planner", "staff")
    }
    assert ids["admin"] == list(COLLECTIONS)
    assert "issues" not in ids["planner"] and "buildings" in ids["planner"]  # planners may not read issues
    assert "issues" in ids["staff"]
    assert client("wechat").get("/ogc/collections").status_code == 403  # an intake channel reads no layers
    assert client("planner").get("/ogc/collections/issues/items").status_code == 403


def test_collection_extent_crs_and_temporal(big):
    app, registry, client, _ = big
    body = client("admin").get("/ogc/collections/issues").get_json()
    assert body["crs"] == [CRS84, EPSG_4326, EPSG_4490] and body["storageCrs"] == CRS84
    assert body["extent"]["temporal"]["interval"] == [[TIMES[0].isoformat(), TIMES[-1].isoformat()]]
    grids = client("admin").get("/ogc/collections/areas-grid").get_json()
    expected = registry.store.areas_extent(registry.current_generation(), level="grid")
    assert grids["extent"]["spatial"]["bbox"] == [list(expected)]
    assert {link["rel"] for link in grids["links"]} >= {"self", "items"}
    assert client("admin").get("/ogc/collections/nothing").status_code == 404


# -- items ---------------------------------------------------------------------------------------
def test_paging_returns_every_building_exactly_once(big):
    app, registry, client, _ = big
    stored = [b["id"] for b in registry.store.buildings(geometry=False)]
    assert len(stored) > EXTRA
    ids, matched = _all_ids(client("admin"), "/ogc/collections/buildings/items?limit=10000")
    assert matched == len(stored)
    assert ids == stored  # every id once, in id order


def test_prev_and_next_links(big):
    client = big[2]("admin")
    body = client.get("/ogc/collections/areas-micro_grid/items?limit=5&offset=5").get_json()
    links = {link["rel"]: link["href"] for link in body["links"]}
    assert "offset=0" in links["prev"] and "offset=10" in links["next"] and "limit=5" in links["next"]
    last = client.get(f"/ogc/collections/areas-micro_grid/items?limit=5&offset={body['numberMatched'] - 2}")
    assert "next" not in {link["rel"] for link in last.get_json()["links"]}
    assert last.get_json()["numberReturned"] == 2


def test_bbox_selects_buildings_meeting_it(big):
    app, registry, client, _ = big
    minx, miny, maxx, maxy = registry.store.areas_extent(registry.current_generation(), level="grid")
    box = (minx, miny, minx + (maxx - minx) / 10, miny + (maxy - miny) / 10)
    body = client("admin").get("/ogc/collections/buildings/items?limit=10000&bbox=" + ",".join(map(str, box)))
    found = body.get_json()
    expected = [b["id"] for b in registry.store.buildings(bbox=box, geometry=False)]
    assert 0 < found["numberMatched"] == len(expected) < EXTRA
    assert [f["id"] for f in found["features"]] == expected
    probe = shapely.box(*box)
    assert all(shapely.intersects(shapely.geometry.shape(f["geometry"]).envelope, probe) for f in found["features"])


def test_epsg_4326_is_latitude_first(big):
    client = big[2]("admin")
    plain = client.get("/ogc/collections/service-points/items?limit=3")
    for uri in (EPSG_4326, EPSG_4490):
        swapped = client.get(f"/ogc/collections/service-points/items?limit=3&crs={uri}")
        assert swapped.headers["Content-Crs"] == f"<{uri}>"
        for a, b in zip(plain.get_json()["features"], swapped.get_json()["features"], strict=True):
            lon, lat = a["geometry"]["coordinates"]
            assert b["geometry"]["coordinates"] == [lat, lon]
            assert 30 < b["geometry"]["coordinates"][0] < 31  # Chengdu: latitude ≈ 30.6, longitude ≈ 104
    assert plain.headers["Content-Crs"] == f"<{CRS84}>"
    lon, lat = plain.get_json()["features"][0]["geometry"]["coordinates"]
    d = 1e-6
    by_lonlat = client.get(f"/ogc/collections/service-points/items?bbox={lon - d},{lat - d},{lon + d},{lat + d}")
    by_latlon = client.get(
        f"/ogc/collections/service-points/items?bbox={lat - d},{lon - d},{lat + d},{lon + d}&bbox-crs={EPSG_4326}"
    )
    ids = [f["id"] for f in by_lonlat.get_json()["features"]]
    assert ids and ids == [f["id"] for f in by_latlon.get_json()["features"]]


def test_areas_of_any_generation(big):
    app, registry, client, _ = big
    admin = client("admin")
    current = registry.current_generation()
    assert admin.get(f"/ogc/collections/areas-grid/items?generation={current + 50}").status_code == 404
    named = admin.get(f"/ogc/collections/areas-grid/items?generation={current}&limit=1000").get_json()
    default = admin.get("/ogc/collections/areas-grid/items?limit=1000").get_json()
    assert [f["id"] for f in named["features"]] == [f["id"] for f in default["features"]]
    assert named["numberMatched"] == len(registry.areas(level="grid", generation=current))
    assert all(f"generation={current}" in link["href"] for link in named["links"])


def test_one_feature_and_its_crs(big):
    client = big[2]("admin")
    first = client.get("/ogc/collections/areas-grid/items?limit=1").get_json()["features"][0]
    one = client.get(f"/ogc/collections/areas-grid/items/{first['id']}")
    assert one.status_code == 200 and one.get_json()["properties"] == first["properties"]
    assert one.get_json()["geometry"] == first["geometry"]
    flipped = client.get(f"/ogc/collections/areas-grid/items/{first['id']}?crs={EPSG_4490}").get_json()
    assert flipped["geometry"]["coordinates"][0][0] == first["geometry"]["coordinates"][0][0][::-1]
    assert client.get("/ogc/collections/buildings/items/999999999").status_code == 404
    assert client.get("/ogc/collections/buildings/items/abc").status_code == 404


def test_planner_sees_only_their_buildings(big):
    app, registry, client, _ = big
    planner = client("planner")
    ids, matched = _all_ids(planner, "/ogc/collections/buildings/items?limit=10000")
    expected = sorted(int(i) for i in _view(registry, "planner").buildings()["id"])
    assert ids == expected and matched == len(expected)
    assert 0 < len(expected) < len(registry.store.buildings(geometry=False))
    outside = sorted(set(b["id"] for b in registry.store.buildings(geometry=False)) - set(expected))[0]
    assert planner.get(f"/ogc/collections/buildings/items/{outside}").status_code == 404
    assert planner.get(f"/ogc/collections/buildings/items/{expected[0]}").status_code == 200
    grids = planner.get("/ogc/collections/areas-grid/items").get_json()
    assert {f["id"] for f in grids["features"]} == set(_view(registry, "planner").areas(level="grid")["code"])


def test_issues_scope_and_datetime(big):
    app, registry, client, issue_ids = big
    staff = client("staff")  # bound to the community holding the first three issues
    seen = staff.get("/ogc/collections/issues/items").get_json()
    assert [f["id"] for f in seen["features"]] == issue_ids[:3]
    admin = client("admin")
    assert [f["id"] for f in admin.get("/ogc/collections/issues/items").get_json()["features"]] == issue_ids
    assert staff.get(f"/ogc/collections/issues/items/{issue_ids[3]}").status_code == 404

    def ids(query: str) -> list[int]:
        response = admin.get("/ogc/collections/issues/items?datetime=" + query)
        assert response.status_code == 200, response.get_data(as_text=True)
        return [f["id"] for f in response.get_json()["features"]]

    assert ids("2026-03-02T02:00:00Z") == [issue_ids[1]]  # an instant
    assert ids("2026-03-02T10:00:00%2B08:00") == [issue_ids[1]]  # the same instant in another zone
    assert ids("2026-03-02T00:00:00Z/2026-03-03T02:00:00Z") == issue_ids[1:3]  # inclusive ends
    assert ids("../2026-03-01T02:00:00Z") == issue_ids[:1]
    assert ids("2026-03-03T00:00:00Z/..") == issue_ids[2:]
    assert ids("2026-03-04") == [issue_ids[3]]  # a date: that day in the deployment's zone (Asia/Shanghai)
    assert ids("2026-03-03") == [issue_ids[2]]


def test_a_scoped_callers_collection_extent_covers_only_what_it_may_read(big):
    """The extent of a collection leaked what lay outside a scoped caller's areas (outside test, QGIS): staff saw
    a box and a time span that held the fourth issue, planners the box of every building."""
    app, registry, client, issue_ids = big
    rows = {r["id"]: r for r in registry.store.feature_rows("issues", ids=issue_ids)}
    extent = client("staff").get("/ogc/collections/issues").get_json()["extent"]
    lon = [rows[i]["lon"] for i in issue_ids[:3]]
    lat = [rows[i]["lat"] for i in issue_ids[:3]]
    assert extent["spatial"]["bbox"][0] == pytest.approx([min(lon), min(lat), max(lon), max(lat)])
    first, last = extent["temporal"]["interval"][0]
    assert datetime.fromisoformat(last) == TIMES[2]  # the fourth issue's day is not shown
    planner = _view(registry, "planner")
    points = registry.store.feature_points("buildings")
    inside = planner.covers_points([p[1] for p in points], [p[2] for p in points])
    mine = registry.store.feature_rows("buildings", ids=[p[0] for p, k in zip(points, inside, strict=True) if k])
    want = [min(r["minx"] for r in mine), min(r["miny"] for r in mine), max(r["maxx"] for r in mine),
            max(r["maxy"] for r in mine)]  # fmt: skip
    box = client("planner").get("/ogc/collections/buildings").get_json()["extent"]["spatial"]["bbox"][0]
    assert box == pytest.approx(want)
    everything = client("admin").get("/ogc/collections/buildings").get_json()["extent"]["spatial"]["bbox"][0]
    assert everything != pytest.approx(want)  # the planner's box is smaller than the whole table's


@pytest.mark.parametrize(
    "query",
    [
        "bbox=1,2,3",
        "bbox=a,b,c,d",
        "bbox=0,0,200,10",
        "bbox=0,-91,1,1",
        "bbox=10,0,5,1",
        "bbox=nan,0,1,1",
        "bbox-crs=EPSG:3857&bbox=0,0,1,1",
        "crs=http://www.opengis.net/def/crs/EPSG/0/3857",
        "limit=0",
        "limit=10001",
        "limit=ten",
        "offset=-1",
        "datetime=yesterday",
        "datetime=2026-03-02T02:00:00",
        "datetime=2026-03-05T00:00:00Z/2026-03-01T00:00:00Z",
        "datetime=../..%2F..",
        "f=xml",
        "generation=abc",
        "generation=0",
        "datetime=9999-12-31T23:59:59-23:59",
        "datetime=0001-01-01T00:00:00%2B23:59",
        "colour=red",
    ],
)
def test_bad_input_is_an_ogc_exception(big, query):
    response = big[2]("admin").get(f"/ogc/collections/issues/items?{query}")
    assert response.status_code == 400, response.get_data(as_text=True)
    body = response.get_json()
    assert body["code"] and body["description"]


def test_tokens_and_anonymous(big):
    app, registry, client, _ = big
    assert token_client(app, None).get("/ogc/collections/buildings/items").status_code == 401
    assert token_client(app, "not-a-token").get("/ogc/collections/buildings/items").status_code == 401
    assert token_client(app, None).get("/ogc/collections/buildings/items").get_json()["code"] == "unauthenticated"
    assert client("worker").get("/ogc/collections/buildings/items?limit=1").status_code == 200


def test_domain_pages_partition_the_collection(big):
    """The domain layer's pages, offset by offset, are the whole collection once (no web layer involved)."""
    registry = big[1]
    view = _view(registry, "worker")
    whole = features(view, COLLECTIONS["buildings"], limit=10_000).features
    pieces = [
        f[0]
        for start in range(0, len(whole), 7)
        for f in features(view, COLLECTIONS["buildings"], limit=7, offset=start).features
    ]
    assert pieces == [f[0] for f in whole] and len(whole) > 7


# -- GDAL as a real client -----------------------------------------------------------------------
def _gdal():
    pyogrio = pytest.importorskip("pyogrio")
    if "OAPIF" not in pyogrio.list_drivers():
        pytest.skip("GDAL has no OAPIF driver (built without libcurl)")
    return pyogrio


@pytest.fixture
def gdal_as(big):
    """``read(base, name, layer)``: a GeoDataFrame read by GDAL's OAPIF driver with ``name``'s Bearer token."""
    pyogrio = _gdal()
    registry = big[1]

    def read(base: str, name: str, layer: str, **options):
        token = create_token(registry, find_user(registry, name).id, "gdal", 1)[0]
        pyogrio.set_gdal_config_options({"GDAL_HTTP_AUTH": "BEARER", "GDAL_HTTP_BEARER": token})
        try:
            return pyogrio.read_dataframe(f"OAPIF:{base}/ogc", layer=layer, fid_as_index=True, **options)
        finally:
            pyogrio.set_gdal_config_options({"GDAL_HTTP_AUTH": None, "GDAL_HTTP_BEARER": None})

    return read


@contextlib.contextmanager
def _served(big, folder):
    """The app over ``big``'s database as a real server process (``server.py``, waitress); yields its base URL.

    Not a thread of this process: pyogrio holds the GIL while GDAL fetches the pages, so a server thread here
    could never answer them.
    """
    from bench.http_load import served

    with served(str(big[1].store.engine.url), folder) as port:
        yield f"http://127.0.0.1:{port}"


def _store_count(registry, name: str, collection_id: str) -> int:
    return features(_view(registry, name), COLLECTIONS[collection_id], limit=1).matched


def test_gdal_reads_every_collection(big, gdal_as, tmp_path):
    registry = big[1]
    pyogrio = _gdal()
    with _served(big, tmp_path) as base:
        token = create_token(registry, find_user(registry, "admin").id, "gdal", 1)[0]
        pyogrio.set_gdal_config_options({"GDAL_HTTP_AUTH": "BEARER", "GDAL_HTTP_BEARER": token})
        try:
            layers = [name for name, _ in pyogrio.list_layers(f"OAPIF:{base}/ogc")]
        finally:
            pyogrio.set_gdal_config_options({"GDAL_HTTP_AUTH": None, "GDAL_HTTP_BEARER": None})
        assert layers == list(COLLECTIONS)
        for collection_id in COLLECTIONS:
            if collection_id == "buildings":
                continue  # 100,000 rows: read once, below
            frame = gdal_as(base, "admin", collection_id)
            assert len(frame) == _store_count(registry, "admin", collection_id) > 0, collection_id
            assert frame.crs.to_string() == "OGC:CRS84", frame.crs  # the storage CRS, longitude first
        staff = gdal_as(base, "staff", "issues")
        assert sorted(staff.index) == sorted(big[3][:3])
        planner = gdal_as(base, "planner", "buildings")
        assert sorted(planner.index) == sorted(int(i) for i in _view(registry, "planner").buildings()["id"])


def test_gdal_pages_through_100000_buildings_once(big, gdal_as, tmp_path):
    registry = big[1]
    stored = [b["id"] for b in registry.store.buildings(geometry=False)]
    with _served(big, tmp_path) as base:
        frame = gdal_as(base, "admin", "buildings")
    assert len(frame) == len(stored) > EXTRA
    assert sorted(frame.index) == stored  # every feature once
    assert frame.crs.to_string() == "OGC:CRS84"
    first = registry.store.buildings(ids=[stored[-1]])[0]
    assert frame.loc[stored[-1]].geometry.equals_exact(first["geometry"], 1e-12)


def test_gdal_without_a_token_is_refused(big, tmp_path):
    pyogrio = _gdal()
    with _served(big, tmp_path) as base, pytest.raises(Exception, match="401|Unauthorized|sign in"):
        pyogrio.read_dataframe(f"OAPIF:{base}/ogc/collections/buildings")


# -- HTML ----------------------------------------------------------------------------------------
def private_english(app, registry):
    """A test client of a staff member who chose English (kept on their account)."""
    from accounts.users import create_user

    user = create_user(registry, "english-reader", "admin", password="english-Passw0rd!")
    with registry.store.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE users SET locale = 'en' WHERE id = ?", (user.id,))
    return token_client(app, create_token(registry, user.id, "t", 1)[0])


def test_html_pages_in_one_language(big):
    app, registry, client, _ = big
    admin = client("admin")
    listing = admin.get("/ogc/collections?f=html")  # zh-CN, the deployment's default
    assert listing.status_code == 200 and listing.mimetype == "text/html"
    text = listing.get_data(as_text=True)
    assert "微网格" in text and "Micro-grids" not in text
    english = private_english(app, registry).get("/ogc/collections?f=html").get_data(as_text=True)
    assert "Micro-grids" in english and "微网格" not in english
    page = admin.get("/ogc/collections/areas-grid/items?f=html&limit=2").get_data(as_text=True)
    assert "ogc_items" in page and "/vendor/leaflet/" in page and "510104001001001" in page
    browser = app.test_client()  # a signed-out browser is sent to sign in
    answer = browser.get("/ogc/collections/buildings/items?f=html")
    assert answer.status_code == 302 and "/login?next=" in answer.headers["Location"]
    assert admin.get("/ogc/collections/buildings/items", headers={"Accept": "text/html"}).mimetype == "text/html"


def test_gdal_reads_cgcs2000_with_the_right_axis_order(big, gdal_as, tmp_path):
    """GDAL asks for EPSG:4490 (latitude first on the wire) and gets the same places as in CRS84."""
    registry = big[1]
    with _served(big, tmp_path) as base:
        frame = gdal_as(base, "admin", "service-points", CRS="EPSG:4490")
    assert frame.crs.to_epsg() == 4490
    stored = {row["id"]: (row["lon"], row["lat"]) for row in registry.store.service_points()}
    assert len(frame) == len(stored)
    for fid, geometry in frame.geometry.items():
        assert (geometry.x, geometry.y) == pytest.approx(stored[fid], abs=1e-12)
