"""QGIS itself (Debian's python3-qgis, QGIS 3.22's OAPIF provider) as a client of /ogc over a socket: it lists the
collections, pages through every building exactly once and reads only what the token's user may see.

QGIS runs under /usr/bin/python3 (``bench/qgis_client.py``); without ``qgis.core`` there the tests skip.
"""

from __future__ import annotations

import math
from urllib.parse import parse_qs, urlsplit

import pytest
import shapely

from accounts.tokens import create_token
from accounts.users import find_user
from bench.http_load import served
from bench.qgis_client import check, listed_typenames, qgis_missing, run_qgis, served_ids
from boundaries.features import COLLECTIONS
from boundaries.registry import Registry
from boundaries.scope import ScopedRegistry
from boundaries.storage import open_store
from tests.conftest import copy_demo
from tests.web.test_ogc_api import _add_buildings, _add_issues

EXTRA, PAGE = 2_500, 500


@pytest.fixture(scope="module")
def qgis(demo_db, tmp_path_factory):
    """What QGIS read from a served demo database with 2,500 more buildings: ``(registry, issue ids, found)``."""
    folder = tmp_path_factory.mktemp("qgis")
    reason = qgis_missing(folder)
    if reason:
        pytest.skip(reason)
    url = copy_demo(demo_db, folder)
    registry = Registry(open_store(url))
    _add_buildings(registry, EXTRA)
    issue_ids = _add_issues(registry)
    tokens = {n: create_token(registry, find_user(registry, n).id, "qgis", 1)[0] for n in ("admin", "staff", "planner")}
    layers = [
        {"typename": "buildings", "user": "admin", "page_size": PAGE},
        {"typename": "issues", "user": "staff", "page_size": 0},
        {"typename": "buildings", "user": "planner", "page_size": PAGE},
    ]
    with served(url, folder) as port:
        found = run_qgis(f"http://127.0.0.1:{port}/ogc", tokens, layers, folder, timeout=300)
    return registry, issue_ids, found


def _layer(found, typename: str, user: str) -> dict:
    layer = next(x for x in found["layers"] if x["typename"] == typename and x["user"] == user)
    assert layer["valid"], layer["requests"][:6]
    return layer


def test_qgis_lists_every_collection(qgis):
    found = qgis[2]
    assert found["qgis"].startswith("3.")
    assert listed_typenames(found) == list(COLLECTIONS)
    assert [item["title"] for item in found["collections"]] == [f"{c.title_zh} {c.title}" for c in COLLECTIONS.values()]


def test_qgis_pages_through_every_building_once(qgis):
    registry, _, found = qgis
    layer = _layer(found, "buildings", "admin")
    stored = registry.store.buildings()
    ids = [b["id"] for b in stored]
    assert len(layer["keys"]) == layer["feature_count"] == len(ids) > EXTRA
    match = served_ids(registry, "admin", layer)
    assert sorted(match["ids"]) == ids  # every served feature once, by its place and name
    # QGIS asked for pages of PAGE and followed every `next` link to the end
    pages = [url for url in layer["requests"] if "/items?" in url and not url.endswith("/items?limit=10")]
    queries = [parse_qs(urlsplit(url).query) for url in pages]
    assert len(pages) == math.ceil(len(ids) / PAGE)
    assert [q["limit"] for q in queries] == [[str(PAGE)]] * len(pages)
    assert [int(q.get("offset", ["0"])[0]) for q in queries] == list(range(0, len(ids), PAGE))
    # CRS84 as served: QGIS 3.22 calls it EPSG:4326 and keeps longitude first
    assert layer["crs"] == "EPSG:4326"
    box = shapely.total_bounds([b["geometry"] for b in stored])
    assert layer["extent"] == pytest.approx(box.tolist(), abs=1e-9)
    assert check(registry, "admin", layer)["distinct ids"] == len(ids)  # the benchmark's own check agrees


def test_qgis_reads_only_the_staff_users_issues(qgis):
    registry, issue_ids, found = qgis
    layer = _layer(found, "issues", "staff")
    match = served_ids(registry, "staff", layer)
    assert layer["feature_count"] == len(layer["keys"]) == 3
    assert sorted(match["ids"]) == sorted(issue_ids[:3])  # the fourth is in another community


def test_qgis_reads_only_the_planners_buildings(qgis):
    registry, _, found = qgis
    layer = _layer(found, "buildings", "planner")
    planner = find_user(registry, "planner")
    mine = ScopedRegistry(registry, planner.scope(), planner.actor("test")).buildings()["id"]
    assert 0 < len(layer["keys"]) < len(registry.store.buildings(geometry=False))
    assert sorted(served_ids(registry, "planner", layer)["ids"]) == sorted(int(i) for i in mine)
