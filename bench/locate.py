"""Benchmark: bulk locate against geopandas.sjoin, and single-point API latency.

    python bench/locate.py [--cells 126000] [--points 1000000]

A Voronoi tessellation of ``--cells`` micro-grids over a 60 km square around Chengdu (EPSG:4544 metres,
converted to WGS84 like stored data) and ``--points`` uniform random points. Both methods run in this process
on the same data; results are checked equal before timing is reported.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from boundaries.registry import Registry, wkb_row  # noqa: E402
from boundaries.storage import open_store  # noqa: E402
from geo.crs import geometries_to_wgs84, to_wgs84  # noqa: E402
from geo.locate import PolygonIndex  # noqa: E402


def tessellation(n: int, size: float = 60_000.0, seed: int = 1):
    rng = np.random.default_rng(seed)
    x0, y0 = 500_000 - size / 2, 3_392_000 - size / 2  # around 104.0 E, 30.65 N in EPSG:4544
    frame = shapely.box(x0, y0, x0 + size, y0 + size)
    seeds = shapely.multipoints(np.column_stack([rng.uniform(x0, x0 + size, n), rng.uniform(y0, y0 + size, n)]))
    cells = np.asarray(shapely.intersection(shapely.get_parts(shapely.voronoi_polygons(seeds, extend_to=frame)), frame))
    return geometries_to_wgs84(cells, "EPSG:4544"), (x0, y0, size)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cells", type=int, default=126_000)
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--api-queries", type=int, default=2000)
    args = parser.parse_args()

    t = time.perf_counter()
    polys, (x0, y0, size) = tessellation(args.cells)
    print(f"tessellation: {len(polys):,} micro-grids in {time.perf_counter() - t:.1f}s")
    rng = np.random.default_rng(2)
    lon, lat = to_wgs84(rng.uniform(x0, x0 + size, args.points), rng.uniform(y0, y0 + size, args.points), "EPSG:4544")

    t = time.perf_counter()
    index = PolygonIndex(polys)
    build = time.perf_counter() - t
    print(f"Weige index build: {build:.1f}s, {index.nx}x{index.ny} cells, {index.memory_bytes / 1e6:.0f} MB")

    t = time.perf_counter()
    ours = index.locate(lon, lat)
    ours_s = time.perf_counter() - t

    areas = gpd.GeoDataFrame(geometry=polys, crs="EPSG:4326")
    points = gpd.GeoDataFrame(geometry=gpd.points_from_xy(lon, lat), crs="EPSG:4326")
    areas.sindex  # noqa: B018 - build the tree outside the timing, as ours is
    t = time.perf_counter()
    joined = gpd.sjoin(points, areas, predicate="within", how="left")
    sjoin_s = time.perf_counter() - t

    joined = joined[~joined.index.duplicated(keep="first")]
    theirs = joined["index_right"].fillna(-1).to_numpy().astype(int)
    interior = ~ours.on_boundary & (ours.index >= -1)
    agree = (theirs[interior] == ours.index[interior]).mean()
    print(f"agreement with sjoin on {interior.sum():,} points: {agree * 100:.4f}%")
    n = args.points
    print(f"Weige bulk locate : {ours_s:6.2f}s  {n / ours_s:12,.0f} points/s")
    print(f"geopandas.sjoin   : {sjoin_s:6.2f}s  {n / sjoin_s:12,.0f} points/s")
    print(f"ratio             : {sjoin_s / ours_s:.1f}x sjoin")

    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(f"sqlite:///{tmp}/bench.db")
        with store.transaction() as conn:
            gen = store.create_generation(conn, "bench")
            rows = [
                {
                    "code": f"{i:09d}",
                    "level": "micro_grid",
                    "name": f"微网格{i}",
                    "kind": "general",
                    "parent_code": None,
                    "generation_low": gen,
                    **wkb_row(g),
                }
                for i, g in enumerate(polys)
            ]
            store.insert_areas(conn, rows)
            store.set_generation_state(conn, gen, "published")
        from web import create_app

        app = create_app({"DATABASE_URL": f"sqlite:///{tmp}/bench.db", "REGISTRY": Registry(store)})
        client = app.test_client()
        t = time.perf_counter()
        client.get(f"/api/v1/locate?lon={lon[0]}&lat={lat[0]}")
        print(f"API first query (loads and indexes {len(polys):,} micro-grids): {time.perf_counter() - t:.1f}s")
        latencies = []
        for i in range(args.api_queries):
            t = time.perf_counter()
            r = client.get(f"/api/v1/locate?lon={lon[i]}&lat={lat[i]}")
            latencies.append(time.perf_counter() - t)
            assert r.status_code == 200
        ms = np.array(latencies) * 1000
        print(
            f"API single-point locate (in-process WSGI, {args.api_queries} queries): "
            f"median {np.median(ms):.2f} ms, p99 {np.percentile(ms, 99):.2f} ms"
        )


if __name__ == "__main__":
    main()
