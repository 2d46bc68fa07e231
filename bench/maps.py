"""Benchmark: the staff map and its map data over a socket, at city scale.

    python bench/maps.py [--cells 126000] [--tiles 200]

``--cells`` Voronoi micro-grids (as in ``bench/locate.py``) are published in SQLite and ``python server.py``
serves them in its own process (waitress, 8 threads). Measured over the socket, one client:

* the staff map page ``/map``: HTML size (plain and gzip) and server time;
* vector tiles ``/tiles/micro_grid/{z}/{x}/{y}.mvt`` at zooms 14–18 over the city: cold (first request of each
  tile; the first request of each zoom also simplifies the whole layer) and cached (the same tiles again),
  p50/p95; the features of every tile are checked against a shapely query of the same tile first;
* bbox GeoJSON ``/api/v1/layers/micro_grid?bbox=&zoom=16`` for the same windows, cold and cached;
* baseline in this process, side by side: geopandas ``GeoDataFrame.cx[...]`` + ``to_json()`` of the same windows
  (what a page inlining its data pays per view, without any HTTP).
"""

from __future__ import annotations

import argparse
import gzip
import sys
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import mapbox_vector_tile
import mercantile
import numpy as np
import shapely

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from api import city_database  # noqa: E402
from http_load import served  # noqa: E402

from accounts.tokens import create_token  # noqa: E402
from accounts.users import create_user, find_user  # noqa: E402
from boundaries.layers import TILE_BUFFER, TILE_EXTENT  # noqa: E402
from boundaries.registry import Registry  # noqa: E402
from boundaries.storage import open_store  # noqa: E402


def get(port: int, token: str, path: str) -> tuple[int, bytes, float]:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    t = time.perf_counter()
    conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
    response = conn.getresponse()
    body = response.read()
    elapsed = time.perf_counter() - t
    conn.close()
    return response.status, body, elapsed


def pct(values, q) -> float:
    return float(np.percentile(np.asarray(values) * 1000, q))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=126_000)
    parser.add_argument("--tiles", type=int, default=200, help="tiles per run (spread over zooms 14-18)")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(9)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        url, polys = city_database(folder, args.cells)
        registry = Registry(open_store(url), index_dir=False)
        create_user(registry, "admin", "admin", password="bench-Passw0rd-2026")
        token = create_token(registry, find_user(registry, "admin").id, "bench", 1)[0]
        codes = np.array([f"510104{i:09d}" for i in range(len(polys))], dtype=object)
        tree = shapely.STRtree(polys)
        minx, miny, maxx, maxy = shapely.total_bounds(polys)
        tiles = []
        while len(tiles) < args.tiles:
            z = int(rng.integers(14, 19))
            tiles.append(mercantile.tile(rng.uniform(minx, maxx), rng.uniform(miny, maxy), z))
        frame = gpd.GeoDataFrame({"code": codes}, geometry=polys, crs="EPSG:4326")
        with served(url, folder) as port:
            status, page, page_s = get(port, token, "/map")
            assert status == 200, page[:300]
            results = {}
            for run in ("cold", "cached"):
                times = []
                for i, t in enumerate(tiles):
                    status, body, elapsed = get(port, token, f"/tiles/micro_grid/{t.z}/{t.x}/{t.y}.mvt")
                    assert status == 200, body[:200]
                    times.append(elapsed)
                    if run == "cold" and i < 50:  # features equal a shapely query of the tile and its buffer
                        west, south, east, north = mercantile.bounds(t)
                        pad_x = (east - west) * TILE_BUFFER / TILE_EXTENT
                        pad_y = (north - south) * TILE_BUFFER / TILE_EXTENT
                        window = shapely.box(west - pad_x, south - pad_y, east + pad_x, north + pad_y)
                        hits = tree.query(window, predicate="intersects")
                        unit = (east - west) / TILE_EXTENT  # a tile unit: slivers smaller than 2x2 units may vanish
                        expected = {codes[j] for j in hits if polys[j].intersection(window).area > 4 * unit * unit}
                        got = {
                            f["properties"]["code"]
                            for f in mapbox_vector_tile.decode(body).get("micro_grid", {}).get("features", [])
                        }
                        assert expected <= got and got <= {codes[j] for j in hits}, (t, expected ^ got)
                results[f"tile {run}"] = times
                times = []
                for t in tiles:
                    west, south, east, north = mercantile.bounds(t)
                    path = f"/api/v1/layers/micro_grid?bbox={west},{south},{east},{north}&zoom=16"
                    status, body, elapsed = get(port, token, path)
                    assert status == 200, body[:200]
                    times.append(elapsed)
                results[f"bbox GeoJSON {run}"] = times
        baseline = []
        for t in tiles:
            west, south, east, north = mercantile.bounds(t)
            start = time.perf_counter()
            frame.cx[west:east, south:north].to_json()
            baseline.append(time.perf_counter() - start)
        results["baseline: GeoDataFrame.cx + to_json (in process)"] = baseline
    print(f"\n{len(polys):,} micro-grids; {len(tiles)} tiles at zooms 14-18; one client over a socket")
    print(
        f"staff map /map: {len(page):,} bytes ({len(gzip.compress(page)):,} gzip), server time {page_s * 1000:.0f} ms"
    )
    print("| request | p50 ms | p95 ms | max ms |")
    print("|---|---|---|---|")
    for name, times in results.items():
        print(f"| {name} | {pct(times, 50):.1f} | {pct(times, 95):.1f} | {max(times) * 1000:.0f} |")


if __name__ == "__main__":
    main()
