"""Benchmark: the HTTP API over a socket with a city's micro-grids published.

    python bench/api.py [--cells 126000] [--requests 3000] [--concurrency 8]

``--cells`` Voronoi micro-grids (as in ``bench/locate.py``) are published in a SQLite database and
``python server.py`` serves it in its own process (waitress, 8 threads), as ``serve`` runs. Client threads
in this process send, side by side:

* ``GET /api/v1/me`` — an authenticated request that does no work: the floor of this server;
* ``GET /api/v1/locate?lon=&lat=`` — one point, with its chain and workers;
* ``POST /api/v1/issues`` — intake: located, routed, stored with history and audit.

Cold: the first locate after a start, when the server builds the point index (no saved index), and again
after a restart, when it loads the index the first start saved. The codes the API answers are checked
against ``geopandas.sjoin`` before any figure is printed.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from http_load import hammer, print_rows, request, served  # noqa: E402
from locate import tessellation  # noqa: E402

from accounts.tokens import create_token  # noqa: E402
from accounts.users import create_user, find_user  # noqa: E402
from boundaries.registry import Registry  # noqa: E402
from boundaries.storage import open_store  # noqa: E402
from boundaries.storage.geometry import encode as wkb_row  # noqa: E402
from geo.crs import to_wgs84  # noqa: E402


def city_database(folder: Path, cells: int) -> tuple[str, np.ndarray]:
    """A SQLite database with ``cells`` micro-grids published; its URL and the polygons."""
    url = f"sqlite:///{folder / 'weige.db'}"
    store = open_store(url)
    polys, _ = tessellation(cells)
    with store.transaction() as conn:
        generation = store.create_generation(conn, "bench")
        rows = [
            {
                "code": f"510104{i:09d}",
                "level": "micro_grid",
                "name": f"微网格{i}",
                "kind": "general",
                "parent_code": None,
                "generation_low": generation,
                **wkb_row(g),
            }
            for i, g in enumerate(polys)
        ]
        store.insert_areas(conn, rows)
        store.set_generation_state(conn, generation, "published")
    return url, polys


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=126_000)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(4)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        t = time.perf_counter()
        url, polys = city_database(folder, args.cells)
        registry = Registry(open_store(url), index_dir=False)
        create_user(registry, "admin", "admin", password="bench-Passw0rd-2026")
        token = create_token(registry, find_user(registry, "admin").id, "bench", 1)[0]
        print(f"{len(polys):,} micro-grids published in {time.perf_counter() - t:.1f}s")
        x0, y0, size = 500_000 - 30_000, 3_392_000 - 30_000, 60_000
        n = args.requests + 500
        lon, lat = to_wgs84(rng.uniform(x0, x0 + size, n), rng.uniform(y0, y0 + size, n), "EPSG:4544")
        codes = np.array([f"510104{i:09d}" for i in range(len(polys))], dtype=object)
        joined = gpd.sjoin(
            gpd.GeoDataFrame(geometry=gpd.points_from_xy(lon, lat), crs="EPSG:4326"),
            gpd.GeoDataFrame(geometry=polys, crs="EPSG:4326"),
            predicate="within",
            how="left",
        )
        joined = joined[~joined.index.duplicated()]
        expected = codes[joined["index_right"].to_numpy().astype(int)]

        def locate(i):
            return "GET", f"/api/v1/locate?lon={lon[i]:.7f}&lat={lat[i]:.7f}", None

        def report(i):
            body = {"category": "dispute", "description": f"压测 {i}", "lon": lon[i], "lat": lat[i]}
            return "POST", "/api/v1/issues", json.dumps(body)

        def me(_i):
            return "GET", "/api/v1/me", None

        cold = {}
        for start in ("build", "load"):  # the first start builds and saves the index; the second loads it
            with served(url, folder) as port:
                t = time.perf_counter()
                status, answer = request(port, token, *locate(0)[:2])
                cold[start] = time.perf_counter() - t
                assert status == 200 and answer["codes"] == [expected[0]], answer
                if start == "build":
                    continue
                for i in range(1, 201):  # answers agree with sjoin before any figure
                    status, answer = request(port, token, *locate(i)[:2])
                    assert status == 200 and answer["codes"] == [expected[i]], (i, answer, expected[i])
                hammer(port, token, 300, args.concurrency, locate)  # warm the connections and caches
                results = []
                for clients in sorted({1, args.concurrency}):
                    for name, body in (
                        ("GET /api/v1/me (floor)", me),
                        ("GET /api/v1/locate", lambda i: locate(i % n)),
                        ("POST /api/v1/issues", lambda i: report(i % n)),
                    ):
                        results.append((name, clients, *hammer(port, token, args.requests, clients, body)))
        print(
            f"first locate after a start: {cold['build']:.2f}s building the index, "
            f"{cold['load']:.2f}s loading the index the first start saved"
        )
        rates = print_rows(f"{len(polys):,} micro-grids, waitress (8 threads) + SQLite in its own process", results)
        for clients in sorted({1, args.concurrency}):
            floor = rates[("GET /api/v1/me (floor)", clients)]
            for name in ("GET /api/v1/locate", "POST /api/v1/issues"):
                print(f"{name} with {clients} client(s): {rates[(name, clients)] / floor:.2f} x the floor's rate")


if __name__ == "__main__":
    main()
