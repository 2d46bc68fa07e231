"""Benchmark: the staff map and its map data over a socket, at city scale.

    python bench/maps.py [--cells 126000] [--buildings 2000000] [--tiles 200]

A synthetic city is published in SQLite: ``--cells`` Voronoi micro-grids (as in ``bench/locate.py``) grouped into
grids, communities and streets (each the union of its children, codes following the code layout) and
``--buildings`` rectangular footprints (12 × 20 m) spread over it. ``python server.py`` serves it in its own
process (waitress, 8 threads); every request goes over the socket, one client, asking for gzip as a browser does.

Measured:

* the staff map page ``/map`` for a community's staff, a street's staff and the admin (the whole city): HTML
  bytes plain and on the wire (gzip), server time (median of 10); baseline, side by side: the page as it was
  built before the map API (folium, every area and building of the user's areas inlined), rendered in this
  process for the same community and street (the city is left out: it does not fit in a page);
* vector tiles of micro-grids (zooms 14–18) and buildings (16–18) over the city: cold (first request of each
  tile; the first tile of a zoom also simplifies the whole layer once) and cached, p50/p95; every tile's
  features are checked against a shapely query of the same tile first;
* bbox GeoJSON ``/api/v1/layers/micro_grid?bbox=&zoom=16`` for the same windows, cold and cached; baseline in this
  process: geopandas ``GeoDataFrame.cx[...]`` + ``to_json()`` of the same windows.
"""

from __future__ import annotations

import argparse
import gzip
import http.client
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

from citygen import building_frame, plan_city, write_city  # noqa: E402
from http_load import served  # noqa: E402

from accounts.tokens import create_token  # noqa: E402
from accounts.users import create_user, find_user  # noqa: E402
from boundaries import assets  # noqa: E402
from boundaries.layers import TILE_BUFFER, TILE_EXTENT  # noqa: E402
from boundaries.registry import Registry  # noqa: E402
from boundaries.storage import open_store  # noqa: E402

PASSWORD = "bench-Passw0rd-2026"


def city(folder: Path, cells: int, buildings: int, seed: int = 3) -> dict:
    """Publish the synthetic city of ``bench/citygen.py``; returns its URL, the micro-grids and two area codes."""
    t = time.perf_counter()
    plan = plan_city(cells)
    url = f"sqlite:///{folder / 'weige.db'}"
    registry = Registry(open_store(url), index_dir=False)
    timings = write_city(registry, plan, building_frame(plan, buildings, seed))
    print(
        f"city: {plan.count('street')} streets, {plan.count('community')} communities, {plan.count('grid')} grids, "
        f"{plan.count('micro_grid'):,} micro-grids in {time.perf_counter() - t - timings['buildings'][1]:.0f} s; "
        f"{buildings:,} buildings in {timings['buildings'][1]:.0f} s"
    )
    return {
        "url": url,
        "registry": registry,
        "micro": plan.geometry["micro_grid"],
        "micro_codes": plan.codes["micro_grid"],
        "street": plan.middle("street"),
        "community": plan.middle("community"),
    }


def get(port: int, token: str, path: str) -> tuple[int, bytes, int, float]:
    """GET over a new connection asking for gzip: status, decoded body, bytes on the wire, seconds."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    t = time.perf_counter()
    conn.request("GET", path, headers={"Authorization": f"Bearer {token}", "Accept-Encoding": "gzip"})
    response = conn.getresponse()
    wire = response.read()
    elapsed = time.perf_counter() - t
    conn.close()
    body = gzip.decompress(wire) if response.getheader("Content-Encoding") == "gzip" else wire
    return response.status, body, len(wire), elapsed


def pct(values, q) -> float:
    """The ``q``-th percentile of ``values`` (seconds) in milliseconds."""
    return float(np.percentile(np.asarray(values) * 1000, q))


def inlined_page(url: str, registry: Registry, code: str) -> tuple[int, int, float]:
    """Baseline: the page as built before the map API, every area and building of ``code`` inlined (folium)."""
    from web import create_app
    from web.maps import add_areas, add_buildings, offline_map

    app = create_app({"DATABASE_URL": url, "REGISTRY": registry, "TESTING": True, "SECRET_KEY": "bench"})
    with app.test_request_context():
        t = time.perf_counter()
        frame = registry.areas()
        chosen = frame[frame["code"].str.startswith(code)]
        fmap = offline_map(tuple(chosen.total_bounds))
        for level in ("community", "grid", "micro_grid"):
            part = chosen[chosen["level"] == level]
            if not part.empty:
                add_areas(fmap, part, level, level, ["code", "name"], ["code", "name"])
        add_buildings(fmap, assets.buildings(registry, bbox=tuple(chosen.total_bounds)))
        html = fmap.get_root().render().encode()
        elapsed = time.perf_counter() - t
    return len(html), len(gzip.compress(html)), elapsed


def check_tile(body: bytes, layer: str, tile, tree, geoms, codes) -> None:
    """The tile's features are exactly what a shapely query of the tile and its buffer finds (slivers aside)."""
    west, south, east, north = mercantile.bounds(tile)
    pad_x, pad_y = (east - west) * TILE_BUFFER / TILE_EXTENT, (north - south) * TILE_BUFFER / TILE_EXTENT
    window = shapely.box(west - pad_x, south - pad_y, east + pad_x, north + pad_y)
    hits = tree.query(window, predicate="intersects")
    unit = (east - west) / TILE_EXTENT  # a tile unit: slivers smaller than 2x2 units may vanish
    expected = {codes[j] for j in hits if geoms[j].intersection(window).area > 4 * unit * unit}
    got = {f["properties"]["code"] for f in mapbox_vector_tile.decode(body).get(layer, {}).get("features", [])}
    assert expected <= got <= {codes[j] for j in hits}, (tile, sorted(expected ^ got)[:5])


def main(argv=None) -> None:
    """Build the city, serve it, measure, print a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=126_000)
    parser.add_argument("--buildings", type=int, default=2_000_000)
    parser.add_argument("--tiles", type=int, default=200, help="tiles per layer per run")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(9)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        c = city(folder, args.cells, args.buildings)
        registry = c["registry"]
        create_user(registry, "admin", "admin", password=PASSWORD)
        create_user(registry, "street", "staff", areas=[c["street"]], password=PASSWORD)
        create_user(registry, "community", "staff", areas=[c["community"]], password=PASSWORD)
        tokens = {
            n: create_token(registry, find_user(registry, n).id, "bench", 1)[0]
            for n in ("admin", "street", "community")
        }
        micro, codes = c["micro"], c["micro_codes"]
        tree = shapely.STRtree(micro)
        minx, miny, maxx, maxy = shapely.total_bounds(micro)
        tiles = {"micro_grid": [], "buildings": []}
        for layer, zooms in (("micro_grid", (14, 19)), ("buildings", (16, 19))):
            while len(tiles[layer]) < args.tiles:
                z = int(rng.integers(*zooms))
                tiles[layer].append(mercantile.tile(rng.uniform(minx, maxx), rng.uniform(miny, maxy), z))
        pages, results = {}, {}
        with served(c["url"], folder) as port:
            for who in ("community", "street", "admin"):
                runs = [get(port, tokens[who], "/map") for _ in range(10)]
                assert all(r[0] == 200 for r in runs), runs[0][1][:300]
                pages[who] = (len(runs[0][1]), runs[0][2], [r[3] for r in runs])
            for layer, layer_tiles in tiles.items():
                for run in ("cold", "cached"):
                    times = []
                    for i, t in enumerate(layer_tiles):
                        status, body, _wire, elapsed = get(
                            port, tokens["admin"], f"/tiles/{layer}/{t.z}/{t.x}/{t.y}.mvt"
                        )
                        assert status in (200, 204), body[:200]
                        times.append(elapsed)
                        if layer == "micro_grid" and run == "cold" and i < 50:
                            check_tile(body, layer, t, tree, micro, codes)
                    results[f"{layer} tile z{'14' if layer == 'micro_grid' else '16'}-18, {run}"] = times
            for run in ("cold", "cached"):
                times = []
                for t in tiles["micro_grid"]:
                    west, south, east, north = mercantile.bounds(t)
                    path = f"/api/v1/layers/micro_grid?bbox={west},{south},{east},{north}&zoom=16"
                    status, body, _wire, elapsed = get(port, tokens["admin"], path)
                    assert status == 200, body[:200]
                    times.append(elapsed)
                results[f"micro_grid bbox GeoJSON zoom 16, {run}"] = times
        frame = gpd.GeoDataFrame({"code": codes}, geometry=micro, crs="EPSG:4326")
        baseline = []
        for t in tiles["micro_grid"]:
            west, south, east, north = mercantile.bounds(t)
            start = time.perf_counter()
            frame.cx[west:east, south:north].to_json()
            baseline.append(time.perf_counter() - start)
        results["baseline: GeoDataFrame.cx + to_json, same windows (in process, no HTTP)"] = baseline
        inlined = {who: inlined_page(c["url"], registry, c[who]) for who in ("community", "street")}
    print(f"\n{len(micro):,} micro-grids, {args.buildings:,} buildings; one client over a socket, gzip accepted")
    print("| staff map page | HTML bytes | gzip (on the wire) | server p50 ms | inlined page: bytes, gzip, time |")
    print("|---|---|---|---|---|")
    for who, label in (("community", "a community's staff"), ("street", "a street's staff"), ("admin", "admin (city)")):
        size, wire, times = pages[who]
        base = inlined.get(who)
        base_text = f"{base[0]:,}, {base[1]:,}, {base[2] * 1000:.0f} ms" if base else "does not fit in a page"
        print(f"| {label} | {size:,} | {wire:,} | {pct(times, 50):.0f} | {base_text} |")
    print("\n| request | p50 ms | p95 ms | max ms |")
    print("|---|---|---|---|")
    for name, times in results.items():
        print(f"| {name} | {pct(times, 50):.1f} | {pct(times, 95):.1f} | {max(times) * 1000:.0f} |")


if __name__ == "__main__":
    main()
