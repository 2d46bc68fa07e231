"""Benchmark: issue intake over HTTP (waitress, the embedded default) and bulk import of historical issues.

    python bench/intake.py [--requests 3000] [--concurrency 8] [--rows 1000000]
    python bench/intake.py --db postgresql+psycopg://…/empty_db --workers 2 [--requests 3000] [--concurrency 8]
    python bench/intake.py --private-postgres --workers 2      # a throwaway PostgreSQL (+ PostGIS) server

1. HTTP: ``python server.py serve`` runs in its own process (waitress, 8 threads, SQLite) over the demo
   street; ``--concurrency`` client threads in this process POST ``/api/v1/issues`` with random points (each
   report is located, routed, stored with its history event and audit entry). Side by side, the same clients
   call ``GET /api/v1/me`` — an authenticated request that does no work — as the HTTP floor of this server.
2. Bulk: ``--rows`` historical issues (random points in the street, random categories, closed) go through
   ``issues.bulk.import_issues`` (checks, vectorised location, one transaction); the baseline, in the same
   process on the same rows, locates with ``geopandas.sjoin`` and writes with ``DataFrame.to_sql``.
3. Workers (``--db URL`` of an empty server database, or ``--private-postgres``): the demo street is loaded into
   it; 1 and then ``--workers`` ``server.py serve`` processes run over it, and the same client threads send the
   reports round-robin over the workers (as a reverse proxy would). Every report carries its own external id, and
   after each row the database must hold each of them exactly once.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from accounts.demo import create_demo_users  # noqa: E402
from accounts.tokens import create_token  # noqa: E402
from accounts.users import find_user  # noqa: E402
from boundaries.demo import load_demo  # noqa: E402
from boundaries.registry import Registry  # noqa: E402
from boundaries.storage import open_store  # noqa: E402
from core.storage.tables import issues as t_issues  # noqa: E402
from issues.bulk import import_issues  # noqa: E402
from issues.desk import IssueDesk  # noqa: E402

sys.path.insert(0, str(ROOT / "bench"))
from http_load import hammer, hammer_workers, print_rows, served, served_workers  # noqa: E402


def street_points(registry: Registry, n: int, seed: int = 7):
    """``n`` random WGS84 points inside the demo street."""
    rng = np.random.default_rng(seed)
    minx, miny, maxx, maxy = registry.areas(level="street").total_bounds
    xs, ys = [], []
    while sum(map(len, xs)) < n:
        x, y = rng.uniform(minx, maxx, n), rng.uniform(miny, maxy, n)
        ok = (registry.locate(x, y, level="street")["status"] == "ok").to_numpy()
        xs.append(x[ok]), ys.append(y[ok])
    return np.concatenate(xs)[:n], np.concatenate(ys)[:n]


def http_bench(folder: Path, registry: Registry, token: str, args) -> None:
    url = f"sqlite:///{folder / 'weige.db'}"
    xs, ys = street_points(registry, args.requests + 200)
    categories = ["exposed_rubbish", "road_cleaning", "dispute", "damaged_facility", "fire_hazard"]

    def report(i):
        body = {"category": categories[i % 5], "description": f"压测事件 {i}", "lon": xs[i], "lat": ys[i]}
        return "POST", "/api/v1/issues", json.dumps(body)

    with served(url, folder) as port:
        hammer(port, token, 200, args.concurrency, lambda i: report(args.requests + i))  # warm up (index, caches)
        results = []
        for concurrency in sorted({1, args.concurrency}):
            for name, body in (("POST /api/v1/issues", report), ("GET /api/v1/me (floor)", me)):
                results.append((name, concurrency, *hammer(port, token, args.requests, concurrency, body)))
    rates = print_rows(
        f"HTTP, waitress (8 threads) + SQLite in its own process, {args.requests:,} requests per row:", results
    )
    for concurrency in sorted({1, args.concurrency}):
        ratio = rates[("POST /api/v1/issues", concurrency)] / rates[("GET /api/v1/me (floor)", concurrency)]
        print(f"intake with {concurrency} client(s) = {ratio:.2f} x the HTTP floor's rate")


def me(_i):
    return "GET", "/api/v1/me", None


def history(registry: Registry, n: int) -> pd.DataFrame:
    rng = np.random.default_rng(11)
    xs, ys = street_points(registry, n, seed=3)
    start = pd.Timestamp("2024-01-01 08:00", tz="Asia/Shanghai")
    reported = start + pd.to_timedelta(rng.integers(0, 700 * 24 * 3600, n), unit="s")
    closed = reported + pd.to_timedelta(rng.integers(3600, 10 * 24 * 3600, n), unit="s")
    categories = np.array(["exposed_rubbish", "road_cleaning", "dispute", "damaged_facility", "green_space"])
    return pd.DataFrame(
        {
            "external_id": [f"h{i}" for i in range(n)],
            "category": categories[rng.integers(0, 5, n)],
            "description": "历史事件",
            "lon": xs.astype(str),
            "lat": ys.astype(str),
            "reported_at": reported.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "closed_at": closed.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
    )


def bulk_bench(folder: Path, registry: Registry, args) -> None:
    t = time.perf_counter()
    frame = history(registry, args.rows)
    print(f"\n{args.rows:,} historical rows generated in {time.perf_counter() - t:.1f}s")
    desk = IssueDesk(registry)
    t = time.perf_counter()
    report = import_issues(desk, frame, source="bench")
    ours = time.perf_counter() - t
    assert report.imported == args.rows and not report.errors, report.errors[:3]

    t = time.perf_counter()
    micro = registry.areas(level="micro_grid")[["code", "geometry"]]
    points = gpd.GeoDataFrame(
        frame, geometry=gpd.points_from_xy(frame["lon"].astype(float), frame["lat"].astype(float)), crs="EPSG:4326"
    )
    joined = gpd.sjoin(points, micro, predicate="within", how="left")
    joined = joined[~joined.index.duplicated()]
    table = pd.DataFrame(joined.drop(columns=["geometry", "index_right"]))
    with sqlite3.connect(folder / "baseline.db") as conn:
        table.to_sql("issues", conn, index=False, chunksize=20_000)
    base = time.perf_counter() - t
    with registry.store.engine.connect() as conn:
        ours_codes = dict(
            conn.execute(
                sa.select(t_issues.c.external_id, t_issues.c.micro_grid_code).where(t_issues.c.channel == "import")
            ).all()
        )
    theirs_codes = dict(zip(table["external_id"], table["code"].fillna(""), strict=True))
    differ = sum(1 for k, v in theirs_codes.items() if (ours_codes.get(k) or "") != v)
    if differ:
        raise SystemExit(f"Weige and sjoin disagree on the micro-grid of {differ} rows")
    print(f"micro-grids agree with sjoin on all {len(theirs_codes):,} rows")
    print(f"{'':44}{'seconds':>10}{'rows/s':>12}")
    print(f"{'Weige import_issues (checks, locate, write)':44}{ours:10.1f}{args.rows / ours:12,.0f}")
    print(f"{'baseline sjoin + to_sql (no checks)':44}{base:10.1f}{args.rows / base:12,.0f}")
    print(f"ratio: {base / ours:.2f} x the baseline's rate ({report.unlocated:,} rows outside any micro-grid)")


def workers_bench(folder: Path, url: str, args) -> None:
    """Intake over 1 and ``args.workers`` web workers on one server database; each report checked stored once."""
    registry = Registry(open_store(url))
    if registry.store.generations():
        raise SystemExit("--db needs an empty database: the demo street is loaded into it")
    load_demo(registry)
    create_demo_users(registry)
    token = create_token(registry, find_user(registry, "wechat").id, "bench", 1)[0]
    kind = registry.store.spatial or registry.store.engine.dialect.name
    print(f"demo street on {kind}: {len(registry.areas(level='micro_grid')):,} micro-grids; {os.cpu_count()} cores")
    xs, ys = street_points(registry, args.requests + 200)
    categories = ["exposed_rubbish", "road_cleaning", "dispute", "damaged_facility", "fire_hazard"]
    results = []
    for workers in sorted({1, args.workers}):

        def report(i, run=workers):
            body = {"category": categories[i % 5], "description": f"压测事件 {i}", "lon": xs[i], "lat": ys[i],
                    "external_id": f"bench-{run}-{i}"}  # fmt: skip
            return "POST", "/api/v1/issues", json.dumps(body)

        settings = {"RATELIMIT_STORAGE_URI": "memory://"} if args.rate_limits == "memory" else None
        with served_workers(url, folder, workers, settings) as served_ports:
            ports = [port for port, _pid in served_ports]
            hammer_workers(ports, token, 200, args.concurrency, lambda i, r=report: r(args.requests + i))  # warm up
            row = hammer_workers(ports, token, args.requests, args.concurrency, report)
            floor = hammer_workers(ports, token, args.requests, args.concurrency, me)
        results.append((f"POST /api/v1/issues, {workers} worker(s)", args.concurrency, *row))
        results.append((f"GET /api/v1/me (floor), {workers} worker(s)", args.concurrency, *floor))
        with registry.store.engine.connect() as conn:
            counts = conn.execute(
                sa.select(sa.func.count(), sa.func.count(sa.distinct(t_issues.c.external_id))).where(
                    t_issues.c.external_id.like(f"bench-{workers}-%")
                )
            ).one()
        if tuple(counts) != (args.requests + 200, args.requests + 200):
            raise SystemExit(f"{workers} worker(s): {tuple(counts)} issues stored for {args.requests + 200} reports")
    rates = print_rows(
        f"HTTP, waitress (8 threads each) over {kind}, rate limits in {args.rate_limits}, {args.concurrency} client "
        f"threads round-robin over the workers, {args.requests:,} requests per row; every report stored exactly once:",
        results,
    )
    if args.workers != 1:
        one, many = (rates[(f"POST /api/v1/issues, {w} worker(s)", args.concurrency)] for w in (1, args.workers))
        print(f"intake with {args.workers} workers = {many / one:.2f} x the rate of 1")
    registry.store.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--skip-http", action="store_true")
    parser.add_argument("--skip-bulk", action="store_true")
    parser.add_argument("--db", help="an empty server database (PostgreSQL / PostGIS): run the workers benchmark")
    parser.add_argument("--private-postgres", action="store_true", help="the workers benchmark on a throwaway server")
    parser.add_argument("--workers", type=int, default=2, help="web workers beside 1, with --db")
    where = "where the workers count rate limits (memory: per worker, to see what the database's counters cost)"
    parser.add_argument("--rate-limits", choices=["database", "memory"], default="database", help=where)
    args = parser.parse_args()
    if args.db or args.private_postgres:
        with tempfile.TemporaryDirectory() as tmp:
            if args.db:
                return workers_bench(Path(tmp), args.db, args)
            from tests.storage.pg import postgres_cluster

            with postgres_cluster() as server:
                return workers_bench(Path(tmp), server.database("bench"), args)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        registry = Registry(open_store(f"sqlite:///{folder / 'weige.db'}"))
        load_demo(registry)
        create_demo_users(registry)
        token = create_token(registry, find_user(registry, "wechat").id, "bench", 1)[0]
        print(f"demo street: {len(registry.areas(level='micro_grid')):,} micro-grids; {os.cpu_count()} cores")
        if not args.skip_http:
            http_bench(folder, registry, token, args)
        if not args.skip_bulk:
            bulk_registry = Registry(open_store(f"sqlite:///{folder / 'bulk.db'}"))
            load_demo(bulk_registry)
            bulk_bench(folder, bulk_registry, args)


if __name__ == "__main__":
    main()
