"""Benchmark: bounding-box windows of buildings on PostGIS's GiST index against the box columns, and on SQLite.

    python bench/windows.py [--buildings 300000] [--windows 200] [--postgis URL]

``--buildings`` random footprints (10–40 m) over a 20 km square are stored once in a PostGIS database (a private
throwaway server from ``tests/storage/pg.py`` unless ``--postgis`` names one; its buildings are replaced) and once
in a SQLite file. The same random windows, three sizes (a zoom-18 tile, a zoom-16 tile, a community), are then read
side by side through ``Store.buildings(bbox=…, geometry=False)`` (what callers do) and ``Store.feature_count``
(the database alone):

* **PostGIS**: ``geom && ST_MakeEnvelope(…)`` on the GiST index, then the exact box columns (``Store.spatial``);
* **box columns**: the same database and rows with the PostGIS filter off (what plain PostgreSQL runs: the B-tree
  ``ix_buildings_bbox`` narrows by its first column only);
* **SQLite**: the R*Tree of building boxes (migration 0012), then the box columns.

Every window's ids are checked equal on the three paths before any figure is printed. Warm: each path reads every
window once before it is timed; figures are p50 and p95 in milliseconds.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import shapely

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from boundaries.storage import open_store  # noqa: E402
from boundaries.storage.geometry import encode as wkb_row  # noqa: E402
from core.storage import tables as t  # noqa: E402

#: Window sizes in degrees (about 150 m, 600 m and 2.5 km at Chengdu's latitude).
SIZES = {"z18 tile (~150 m)": 0.0015, "z16 tile (~600 m)": 0.006, "community (~2.5 km)": 0.025}
X0, Y0, SPAN = 103.95, 30.55, 0.2


def buildings(n: int, seed: int = 7) -> list[dict]:
    """``n`` random rectangular footprints over the square, as building rows."""
    rng = np.random.default_rng(seed)
    x, y = rng.uniform(X0, X0 + SPAN, n), rng.uniform(Y0, Y0 + SPAN, n)
    w, h = rng.uniform(1e-4, 4e-4, n), rng.uniform(1e-4, 4e-4, n)
    boxes = shapely.box(x, y, x + w, y + h)
    return [
        {"name": f"楼{i}", "lon": float(x[i] + w[i] / 2), "lat": float(y[i] + h[i] / 2), **wkb_row(g)}
        for i, g in enumerate(boxes)
    ]


def windows(count: int, size: float, seed: int) -> list[tuple]:
    """``count`` random square windows of ``size`` degrees inside the square."""
    rng = np.random.default_rng(seed)
    x, y = rng.uniform(X0, X0 + SPAN - size, count), rng.uniform(Y0, Y0 + SPAN - size, count)
    return [(float(a), float(b), float(a + size), float(b + size)) for a, b in zip(x, y, strict=True)]


def fill(store, rows: list[dict]) -> float:
    """Replace the store's buildings by ``rows``; seconds taken (the statistics refreshed after)."""
    start = time.perf_counter()
    with store.transaction() as conn:
        conn.execute(t.buildings.delete())
        store.insert_rows(conn, "buildings", rows)
    with store.engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE" if store.engine.dialect.name == "sqlite" else "ANALYZE buildings")
        conn.commit()
    return time.perf_counter() - start


def timed(read, boxes: list[tuple]) -> tuple[list, np.ndarray]:
    """Each window's answer and its time in ms (after one untimed pass over all windows)."""
    for box in boxes:
        read(box)
    answers, ms = [], []
    for box in boxes:
        start = time.perf_counter()
        answers.append(read(box))
        ms.append((time.perf_counter() - start) * 1000)
    return answers, np.array(ms)


@contextlib.contextmanager
def postgis_url(url: str | None):
    """The given URL, or one of a database on a private throwaway server."""
    if url:
        yield url
        return
    from tests.storage.pg import postgres_cluster

    with postgres_cluster() as server:
        if not server.has_postgis():
            raise SystemExit("PostGIS not installed (Debian: postgresql-15-postgis-3)")
        yield server.database("bench_windows")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--buildings", type=int, default=300_000)
    parser.add_argument("--windows", type=int, default=200)
    parser.add_argument("--postgis", help="SQLAlchemy URL of a PostGIS database to use (its buildings are replaced)")
    args = parser.parse_args(argv)
    rows = buildings(args.buildings)
    with postgis_url(args.postgis) as url, tempfile.TemporaryDirectory() as tmp:
        gis = open_store(url)
        if gis.spatial != "postgis":
            raise SystemExit(f"{url}: no PostGIS columns (Store.spatial is {gis.spatial!r})")
        plain = open_store(url)
        plain.spatial = None  # the same database read through the box columns only
        lite = open_store(f"sqlite:///{Path(tmp) / 'windows.db'}")
        print(f"{args.buildings:,} buildings stored: PostGIS {fill(gis, rows):.1f} s, SQLite {fill(lite, rows):.1f} s")
        paths = {"PostGIS (GiST)": gis, "box columns (PostgreSQL)": plain, "SQLite (R*Tree)": lite}
        print("\n| window | rows per window (mean) | " + " | ".join(f"{p}: p50 / p95 ms" for p in paths) + " |")
        print("|---|---|" + "---|" * len(paths))
        for i, (label, size) in enumerate(SIZES.items()):
            boxes = windows(args.windows, size, seed=i)
            for what, read in (
                ("rows", lambda s: lambda b: [r["id"] for r in s.buildings(bbox=b, geometry=False)]),
                ("count", lambda s: lambda b: s.feature_count("buildings", bbox=b)),
            ):
                results = {name: timed(read(store), boxes) for name, store in paths.items()}
                answers = [a for a, _ in results.values()]
                if any(a != answers[0] for a in answers[1:]):
                    raise SystemExit(f"answers differ for {label} ({what})")
                mean = np.mean([len(a) if isinstance(a, list) else a for a in answers[0]])
                cells = " | ".join(f"{np.percentile(ms, 50):.2f} / {np.percentile(ms, 95):.2f}" for _, ms in
                                   results.values())  # fmt: skip
                print(f"| {label}, {what} | {mean:,.0f} | {cells} |")
        print(f"\nanswers agree on all three paths for {len(SIZES) * args.windows} windows")
        for store in (gis, plain, lite):
            store.engine.dispose()


if __name__ == "__main__":
    main()
