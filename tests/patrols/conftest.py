"""A small registry over the Yulin roads (../shared/data/chengdu): squares of micro-grids, buildings beside the roads,
a grid worker, staff of each community; and patrol tracks walked along the real roads with GPS noise and outliers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

import geopandas as gpd
import numpy as np
import pyproj
import pytest
import shapely
import shapely.ops

from accounts.tokens import create_token
from accounts.users import create_user
from boundaries import assets
from boundaries.importer import import_areas
from boundaries.registry import Registry
from boundaries.storage import open_store
from tests.conftest import TEST_CONFIG, shared_file, token_client

DISTRICT, STREET = "510107", "510107001"
#: The worker's grid: the south-west quarter of the roads' extent.
WORKER_GRID = "510107001001001"
ROADS = "chengdu/yulin_roads_wgs84.geojson"
TO_M = pyproj.Transformer.from_crs(4326, 4544, always_xy=True)
TO_LL = pyproj.Transformer.from_crs(4544, 4326, always_xy=True)


def _box(x0, y0, x1, y1):
    return shapely.box(x0, y0, x1, y1)


def _areas(bounds) -> dict[str, gpd.GeoDataFrame]:
    """district › street › 2 communities (west, east) › 2 grids each (south, north) › 4 × 4 micro-grids each."""
    x0, y0, x1, y1 = bounds
    xm, ym = (x0 + x1) / 2, (y0 + y1) / 2
    rows = {"district": [], "street": [], "community": [], "grid": [], "micro_grid": []}
    rows["district"].append((DISTRICT, "武侯区", None, _box(x0, y0, x1, y1)))
    rows["street"].append((STREET, "玉林街道", DISTRICT, _box(x0, y0, x1, y1)))
    for ci, (cx0, cx1) in enumerate(((x0, xm), (xm, x1)), start=1):
        community = f"{STREET}{ci:03d}"
        rows["community"].append((community, f"社区{ci}", STREET, _box(cx0, y0, cx1, y1)))
        for gi, (gy0, gy1) in enumerate(((y0, ym), (ym, y1)), start=1):
            grid = f"{community}{gi:03d}"
            rows["grid"].append((grid, f"网格{ci}-{gi}", community, _box(cx0, gy0, cx1, gy1)))
            xs, ys = np.linspace(cx0, cx1, 5), np.linspace(gy0, gy1, 5)
            for k, (i, j) in enumerate(((i, j) for j in range(4) for i in range(4)), start=1):
                box = _box(xs[i], ys[j], xs[i + 1], ys[j + 1])
                rows["micro_grid"].append((f"{grid}{k:03d}", f"微网格{ci}-{gi}-{k}", grid, box))
    return {
        level: gpd.GeoDataFrame(
            {"code": [r[0] for r in rs], "name": [r[1] for r in rs], "parent": [r[2] for r in rs]},
            geometry=[r[3] for r in rs],
            crs=4326,
        )
        for level, rs in rows.items()
    }


def _buildings(roads: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """A 12 m square footprint 14–30 m beside the roads every 120 m, alternately left and right."""
    lines = roads.to_crs(4544).geometry.values
    rng = np.random.default_rng(7)
    squares = []
    for line in lines:
        for d in np.arange(30.0, line.length - 30.0, 120.0):
            a, b = line.interpolate(d), line.interpolate(d + 1.0)
            nx, ny = -(b.y - a.y), b.x - a.x
            norm = np.hypot(nx, ny) or 1.0
            off = rng.uniform(14.0, 30.0) * (1 if len(squares) % 2 else -1)
            cx, cy = a.x + nx / norm * off, a.y + ny / norm * off
            squares.append(shapely.buffer(shapely.Point(cx, cy), 6.0, cap_style="square"))
    frame = gpd.GeoDataFrame(
        {"households": rng.integers(4, 40, len(squares)), "address": [f"玉林{i}号" for i in range(len(squares))]},
        geometry=squares,
        crs=4544,
    ).to_crs(4326)
    return frame


#: The desk's "now" in these tests: the day after the generated walks start (2026-11-27 01:00 UTC).
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=timezone.utc)


class Clock:
    """A settable clock (aware UTC) the app reads through ``ISSUE_CLOCK``."""

    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Yulin:
    """The registry, the roads, the app, clients per user and the desk's clock."""

    registry: Registry
    roads: gpd.GeoDataFrame
    app: object
    users: dict
    keys: dict
    clock: Clock

    def client(self, name: str):
        return token_client(self.app, self.keys[name])

    def area(self, code: str):
        return self.registry.area(code).geometry


@pytest.fixture(scope="module")
def yulin(tmp_path_factory) -> Yulin:
    from web import create_app

    roads = gpd.read_file(shared_file(ROADS))
    url = f"sqlite:///{tmp_path_factory.mktemp('yulin') / 'weige.db'}"
    registry = Registry(open_store(url))
    levels = _areas(tuple(roads.total_bounds + np.array([-1e-4, -1e-4, 1e-4, 1e-4])))
    for level, frame in levels.items():
        import_areas(registry, frame, level, code_field="code", name_field="name", parent_field="parent")
    registry.publish()
    assets.import_buildings(registry, _buildings(roads), households_field="households", address_field="address")
    users = {
        "worker": create_user(registry, "worker", "grid_worker", [WORKER_GRID], password="worker-Passw0rd!"),
        "worker2": create_user(registry, "worker2", "grid_worker", [f"{STREET}002001"], password="worker2-Passw0rd!"),
        "staff": create_user(registry, "staff", "staff", [f"{STREET}001"], password="staff-Passw0rd!"),
        "staff2": create_user(registry, "staff2", "staff", [f"{STREET}002"], password="staff2-Passw0rd!"),
        "admin": create_user(registry, "admin", "admin", password="admin-Passw0rd!"),
    }
    keys = {name: create_token(registry, u.id, "t", 1)[0] for name, u in users.items()}
    clock = Clock(NOW)
    app = create_app({**TEST_CONFIG, "DATABASE_URL": url, "REGISTRY": registry, "ISSUE_CLOCK": clock})
    return Yulin(registry, roads, app, users, keys, clock)


@dataclass
class Walk:
    """A generated track: fixes (t, lon, lat, accuracy) and what each one is (``real``, ``jump``, ``accuracy``,
    ``standing``), with the true positions (metres, EPSG:4544)."""

    t: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    accuracy: np.ndarray
    kind: np.ndarray


def road_path(roads: gpd.GeoDataFrame, through=None, length_m: float = 3000.0) -> shapely.LineString:
    """A walk along connected road lines (merged), in metres: the longest merged line crossing the outline of
    ``through`` (a WGS84 polygon; default any), ``length_m`` long around a crossing."""
    merged = shapely.line_merge(shapely.union_all(roads.to_crs(4544).geometry.values))
    parts = list(shapely.get_parts(merged))
    centre = 0.0
    if through is not None:
        edge = shapely.transform(through.boundary, lambda xy: np.column_stack(TO_M.transform(*xy.T)))
        parts = [g for g in parts if g.intersects(edge)]
    longest = max(parts, key=lambda g: g.length)
    if through is not None:
        crossing = shapely.get_parts(longest.intersection(edge))[0]
        centre = longest.project(shapely.point_on_surface(crossing))
    start = min(max(0.0, centre - length_m / 2), max(0.0, longest.length - length_m))
    return shapely.ops.substring(longest, start, min(start + length_m, longest.length))


def walk(path: shapely.LineString, seed: int = 1, start: float = 1_795_741_200.0) -> Walk:
    """1.2 m/s along ``path``, a fix every 5 s with 5 m Gaussian noise; a 5-minute stand half way (1 m noise);
    injected jumps of 500 m and fixes with 200 m accuracy."""
    rng = np.random.default_rng(seed)
    d = np.arange(0.0, path.length, 6.0)
    half = len(d) // 2
    pts = shapely.line_interpolate_point(path, d)
    x, y = shapely.get_x(pts), shapely.get_y(pts)
    kind = np.full(len(d), "real", dtype=object)
    stand = 60
    x = np.concatenate([x[:half], np.full(stand, x[half]), x[half:]])
    y = np.concatenate([y[:half], np.full(stand, y[half]), y[half:]])
    kind = np.concatenate([kind[:half], np.full(stand, "standing", dtype=object), kind[half:]])
    n = len(x)
    sigma = np.where(kind == "standing", 1.0, 5.0)
    x = x + rng.normal(0, 1, n) * sigma
    y = y + rng.normal(0, 1, n) * sigma
    accuracy = rng.uniform(4.0, 15.0, n)
    candidates = np.flatnonzero(kind == "real")[5:-5]
    picks = rng.choice(candidates, 16, replace=False)
    for i in picks[:8]:
        angle = rng.uniform(0, 2 * np.pi)
        x[i] += 500 * np.cos(angle)
        y[i] += 500 * np.sin(angle)
        kind[i] = "jump"
    for i in picks[8:]:
        accuracy[i] = 200.0
        x[i] += rng.normal(0, 60)
        y[i] += rng.normal(0, 60)
        kind[i] = "accuracy"
    lon, lat = TO_LL.transform(x, y)
    return Walk(start + 5.0 * np.arange(n), np.asarray(lon), np.asarray(lat), accuracy, kind)
