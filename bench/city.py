"""Benchmark: the synthetic city on SQLite and PostGIS side by side, in one run.

    python bench/city.py                   # full scale: 126,000 micro-grids, 2,000,000 buildings, 1,000,000 issues
    python bench/city.py --scale 0.05      # a quick run
    python bench/city.py --pg postgresql+psycopg://user@host/db   # an empty PostGIS database instead of a private one

``bench/citygen.py`` plans the city once; it is then written into a SQLite file and into a PostGIS database (a
private throwaway server from ``tests/storage/pg.py`` unless ``--pg`` names one), and the same questions are asked
of both (``--backends`` picks):

* **import**: areas (``Store.insert_areas``), buildings (``import_buildings``) and issues (``import_issues``):
  seconds and rows per second per table;
* **bulk locate** of ``--points`` points in the micro-grids with Weige's index: cold with the build (areas read from
  the database, index built and saved), cold with the saved index loaded (a new registry), warm (best of
  ``--repeat``); on PostGIS the baseline in SQL: the points copied into a temporary table and joined to the
  micro-grids by ``ST_Contains`` over the GiST index of migration 0018;
* **single-point locate** p50 / p99 of ``--singles`` points: ``Registry.locate_point`` in process against one
  ``ST_Contains`` query each (PostGIS);
* **bbox windows** of buildings (``Store.buildings(bbox=…, geometry=False)``): random z18 and z16 tiles and
  whole communities' boxes, p50 / p95 warm;
* **vector tiles** cut in process (``boundaries.layers.tile``): the lowest level's zooms 14–16 prepared first as
  ``serve`` does, then ``--tiles`` micro-grid tiles (z14–18) and building tiles (z16–18), cold and cached;
* **statistics**: ``issue_stats`` of a street and of the whole city;
* **memory**: resident set (RSS) of a new process that opens the store, loads the saved index and locates once;
* **disk**: the database's size (SQLite file; ``pg_database_size``).

Every answer is checked before the table is printed: bulk and single locate against the other backend and the
``ST_Contains`` baseline, windows, tiles and statistics against the other backend (a disagreement stops the run).
Errors in the timed calls are counted in the table (and make the run fail).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import sys
import tempfile
import time
from pathlib import Path

import mercantile
import numpy as np
import shapely

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from city_measures import (  # noqa: E402
    bulk_locate,
    disk_size,
    folder_size,
    postgis_join,
    probe,
    probed,
    seconds,
    single_locate,
    statistics,
    tiles,
    windows,
)
from citygen import LEVELS, building_frame, city_points, issue_frame, plan_city, scaled, write_city  # noqa: E402

from boundaries.layers import warm_layers  # noqa: E402
from boundaries.registry import Registry  # noqa: E402
from boundaries.storage import open_store  # noqa: E402


# -- one backend ---------------------------------------------------------------------------------------------------
def measure(name: str, url: str, work: dict, folder: Path, args) -> dict:
    """Write the city into ``url`` and ask every question; ``{figure: text}``, ``answers`` and ``errors``."""
    print(f"\n== {name}: {url.split('?')[0]}", flush=True)
    out, answers = {}, {}
    writer = Registry(open_store(url), index_dir=False)
    spatial = writer.store.spatial
    if name == "PostGIS" and spatial != "postgis":
        raise SystemExit(f"{url}: no PostGIS columns (Store.spatial is {spatial!r})")
    for table, (rows, secs) in write_city(writer, work["city"], work["buildings"], work["issues"]).items():
        out[f"import: {table}"] = f"{seconds(secs)}, {rows / secs:,.0f} rows/s"
        print(f"{table}: {rows:,} rows in {secs:.1f} s", flush=True)
    writer.store.engine.dispose()
    store = open_store(url)
    with store.engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE")
        conn.commit()
    index_dir = folder / f"indexes-{name}"
    lon, lat = work["points"]
    n = len(lon)
    figures, registry, answers["bulk"] = bulk_locate(store, index_dir, lon, lat, args.repeat)
    out["bulk locate, Weige cold (build + save)"] = f"{seconds(figures['build'])}, {n / figures['build'] / 1e6:.2f} M/s"
    out["bulk locate, Weige cold (saved index)"] = f"{seconds(figures['load'])}, {n / figures['load'] / 1e6:.2f} M/s"
    out["bulk locate, Weige warm"] = f"{seconds(figures['warm'])}, {n / figures['warm'] / 1e6:.2f} M/s"
    print(f"bulk locate: {figures}", flush=True)
    if spatial == "postgis":
        upload, join, answers["bulk_sql"] = postgis_join(store, lon, lat, registry.current_generation())
        out["bulk locate, ST_Contains join (GiST)"] = f"{seconds(join)}, {n / join / 1e6:.3f} M/s"
        out["… sending the points (COPY, ANALYZE)"] = seconds(upload)
        print(f"ST_Contains join: {join:.1f} s (+{upload:.1f} s upload)", flush=True)
    errors = {}
    sx, sy = work["singles"]
    single = single_locate(registry, sx, sy, sql=False)
    out["single locate, Weige in process p50 / p99"] = single.pct(50, 99)
    answers["single"], errors["single locate"] = single.answers, single.errors
    if spatial == "postgis":
        single_sql = single_locate(registry, sx, sy, sql=True)
        out["single locate, one ST_Contains query p50 / p99"] = single_sql.pct(50, 99)
        answers["single_sql"], errors["single ST_Contains"] = single_sql.answers, single_sql.errors
    for label, boxes in work["windows"].items():
        timed = windows(registry, boxes)
        mean = np.mean([len(a) for a in timed.answers if a is not None])
        out[f"buildings in a {label} ({mean:,.0f} on average) p50 / p95"] = timed.pct(50, 95)
        answers[f"window {label}"], errors[f"window {label}"] = timed.answers, timed.errors
    start = time.perf_counter()
    warm_layers(registry, registry.current_generation())
    out["tiles: zooms 14–16 of the micro-grids prepared (as `serve` does)"] = seconds(time.perf_counter() - start)
    for layer, label in (("micro_grid", "micro-grid tile z14–18"), ("buildings", "building tile z16–18")):
        cold, cached = tiles(registry, layer, work["tiles"][layer])
        out[f"{label}, cold p50 / p95"] = cold.pct(50, 95)
        out[f"{label}, cached p50 / p95"] = cached.pct(50, 95)
        answers[f"tiles {layer}"], errors[f"tiles {layer}"] = cold.answers, cold.errors + cached.errors
        if cold.answers != cached.answers:
            raise SystemExit(f"{name}: cached {layer} tiles differ from cold ones")
    print("windows and tiles done", flush=True)
    for label, area, repeat in (("a street", work["street"], args.repeat), ("the city", None, 1)):
        timed = statistics(registry, area, repeat)
        out[f"issue_stats of {label} (median of {repeat})"] = f"{np.median(timed.ms):,.0f} ms"
        answers[f"stats {label}"], errors[f"stats {label}"] = timed.answers[0], timed.errors
    memory = probed(url, index_dir, float(sx[0]), float(sy[0]))
    out["new process: RSS after imports → after loading the index and one locate"] = (
        f"{memory['before']:.0f} → {memory['after']:.0f} MB ({seconds(memory['seconds'])})"
    )
    out["database on disk"] = f"{disk_size(store) / 2**20:,.0f} MB"
    out["saved point index on disk"] = f"{folder_size(index_dir) / 2**20:,.1f} MB"
    out["errors in timed calls"] = str(sum(errors.values()))
    store.engine.dispose()
    return {"figures": out, "answers": answers, "errors": errors}


# -- checks and the table ------------------------------------------------------------------------------------------
def check(results: dict) -> list[str]:
    """Compare every answer across backends and with the PostGIS baseline; the lines saying what agreed."""
    said = []
    bulk = {name: r["answers"]["bulk"] for name, r in results.items()}
    for name, r in results.items():
        if "bulk_sql" in r["answers"]:
            bulk[f"ST_Contains ({name})"] = r["answers"]["bulk_sql"]
    first, *rest = bulk
    for other in rest:
        differ = int(np.sum(bulk[first] != bulk[other]))
        if differ:
            raise SystemExit(f"bulk locate: {first} and {other} disagree on {differ} points")
    n = len(bulk[first])
    said.append(f"bulk locate: {', '.join(bulk)} agree on all {n:,} points")
    singles = {name: r["answers"]["single"] for name, r in results.items()}
    for name, r in results.items():
        if "single_sql" in r["answers"]:
            singles[f"ST_Contains ({name})"] = r["answers"]["single_sql"]
    first, *rest = singles
    for other in rest:
        pairs = [(a, b) for a, b in zip(singles[first], singles[other], strict=True) if a is not None and b is not None]
        if any(a != b for a, b in pairs):
            raise SystemExit(f"single locate: {first} and {other} disagree")
    said.append(f"single locate: {', '.join(singles)} agree on all {len(singles[first]):,} points")
    names = list(results)
    for key in results[names[0]]["answers"]:
        if key.startswith(("bulk", "single")):
            continue
        for other in names[1:]:
            a, b = results[names[0]]["answers"][key], results[other]["answers"][key]
            if a != b:
                raise SystemExit(f"{key}: {names[0]} and {other} answer differently")
        if len(names) > 1:
            said.append(f"{key}: {' and '.join(names)} answer the same")
    return said


def table(results: dict) -> str:
    """The Markdown table: one row per figure, one column per backend (``—`` where a backend has no such row)."""
    names = list(results)
    fullest = max(results.values(), key=lambda r: len(r["figures"]))  # PostGIS has the baseline's rows too
    rows = list(dict.fromkeys([*fullest["figures"], *(k for r in results.values() for k in r["figures"])]))
    lines = ["| figure | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for row in rows:
        lines.append(f"| {row} | " + " | ".join(results[n]["figures"].get(row, "—") for n in names) + " |")
    return "\n".join(lines)


# -- the work shared by every backend ------------------------------------------------------------------------------
def plan(args) -> dict:
    """What every backend is given: the city, its buildings and issues, the points, windows and tiles to ask."""
    counts = scaled(args.scale, args.cells, args.buildings, args.issues)
    points = args.points if args.points is not None else counts["issues"]
    start = time.perf_counter()
    city = plan_city(counts["cells"])
    rng = np.random.default_rng(5)
    west, south, east, north = (float(v) for v in shapely.total_bounds(city.geometry["street"]))
    windows_ = {}
    for label, zoom in (("z18 tile", 18), ("z16 tile", 16)):
        tiles_ = [
            mercantile.tile(rng.uniform(west, east), rng.uniform(south, north), zoom) for _ in range(args.windows)
        ]
        windows_[label] = [tuple(mercantile.bounds(t)) for t in tiles_]
    communities = city.geometry["community"]
    picked = rng.choice(len(communities), size=min(args.windows, len(communities)), replace=False)
    windows_["community's box"] = [tuple(float(v) for v in communities[i].bounds) for i in picked]
    tiles_ = {"micro_grid": [], "buildings": []}
    for layer, zooms in (("micro_grid", (14, 19)), ("buildings", (16, 19))):
        while len(tiles_[layer]) < args.tiles:
            z = int(rng.integers(*zooms))
            tiles_[layer].append(mercantile.tile(rng.uniform(west, east), rng.uniform(south, north), z))
    work = {
        "city": city,
        "counts": counts,
        "buildings": building_frame(city, counts["buildings"]),
        "issues": issue_frame(city, counts["issues"]),
        "points": city_points(city, points, seed=21),
        "singles": city_points(city, args.singles, seed=22),
        "windows": windows_,
        "tiles": tiles_,
        "street": city.middle("street"),
    }
    work["planned"] = time.perf_counter() - start
    return work


@contextlib.contextmanager
def postgis_url(url: str | None):
    """``--pg``'s URL (an empty PostGIS database), else a new database on a private throwaway server."""
    if url:
        yield url
        return
    import pytest

    from tests.storage.pg import postgres_cluster

    try:
        with postgres_cluster() as server:
            if not server.has_postgis():
                raise SystemExit("PostGIS not installed on this server (Debian: postgresql-15-postgis-3)")
            yield server.database("bench_city")
    except pytest.skip.Exception as skipped:
        raise SystemExit(f"PostgreSQL: {skipped}") from None


def main(argv=None) -> None:
    """Plan the city, measure every backend, check the answers, print the table (``--probe``: see ``probe``)."""
    if argv is None and len(sys.argv) > 1 and sys.argv[1] == "--probe":
        url, index_dir, lon, lat = sys.argv[2:6]
        probe(url, index_dir, float(lon), float(lat))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies 126,000 / 2,000,000 / 1,000,000")
    parser.add_argument("--cells", type=int)
    parser.add_argument("--buildings", type=int)
    parser.add_argument("--issues", type=int)
    parser.add_argument("--points", type=int, help="points of the bulk locate (default: as many as issues)")
    parser.add_argument("--singles", type=int, default=2000, help="points located one at a time")
    parser.add_argument("--windows", type=int, default=200, help="bbox windows per size")
    parser.add_argument("--tiles", type=int, default=200, help="tiles per layer")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--backends", default="sqlite,postgis")
    parser.add_argument("--pg", help="SQLAlchemy URL of an empty PostGIS database (default: a private server)")
    args = parser.parse_args(argv)
    backends = args.backends.split(",")
    work = plan(args)
    c = work["counts"]
    city = work["city"]
    print(
        f"city planned in {work['planned']:.1f} s: "
        + ", ".join(f"{city.count(level):,} {level}" for level in LEVELS)
        + f"; {c['buildings']:,} buildings, {c['issues']:,} issues, {len(work['points'][0]):,} points",
        flush=True,
    )
    results = {}
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        folder = Path(tmp)
        for backend in backends:
            if backend == "sqlite":
                results["SQLite"] = measure("SQLite", f"sqlite:///{folder / 'city.db'}", work, folder, args)
            elif backend == "postgis":
                url = stack.enter_context(postgis_url(args.pg))
                results["PostGIS"] = measure("PostGIS", url, work, folder, args)
            else:
                raise SystemExit(f"unknown backend {backend!r}")
    said = check(results)
    print(f"\n{dt.date.today()}, {os.cpu_count()} cores; " + "; ".join(said))
    print(
        f"\n{city.count('micro_grid'):,} micro-grids ({city.count('street')} streets, {city.count('community'):,} "
        f"communities, {city.count('grid'):,} grids), {c['buildings']:,} buildings, {c['issues']:,} issues; "
        f"{len(work['points'][0]):,} points located in bulk, {args.singles:,} one at a time\n"
    )
    print(table(results))
    errors = sum(sum(r["errors"].values()) for r in results.values())
    if errors:
        raise SystemExit(f"{errors} errors in timed calls")


if __name__ == "__main__":
    main()
