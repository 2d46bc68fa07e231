"""The questions ``bench/city.py`` asks each backend: each returns its figures and the answers to compare.

Timed loops go through :class:`Timings`, which records each call's time and answer and counts (rather than
raises) the errors, so the table can show them.
"""

from __future__ import annotations

import io
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import mapbox_vector_tile
import numpy as np
import pandas as pd

from boundaries.layers import tile
from boundaries.registry import Registry
from boundaries.scope import ScopedRegistry
from boundaries.storage import open_store
from core.audit import SYSTEM
from core.scope import Scope
from issues.queries import issue_stats

CITY_SCRIPT = Path(__file__).resolve().parent / "city.py"
NOW = pd.Timestamp("2026-01-01T00:00:00Z").to_pydatetime()
MICRO_SQL = "level = 'micro_grid' AND generation_low <= %(g)s AND (generation_high IS NULL OR generation_high > %(g)s)"


class Timings:
    """Per-call times (ms) and answers of one measured loop; an exception counts as an error (answer ``None``)."""

    def __init__(self):
        self.ms, self.answers, self.errors = [], [], 0

    def run(self, call, *args):
        """Time ``call(*args)`` and keep its answer (``None`` and one more error when it raises)."""
        start = time.perf_counter()
        try:
            answer = call(*args)
        except Exception as exc:  # counted, shown in the table, and the run fails
            self.errors += 1
            print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
            answer = None
        self.ms.append((time.perf_counter() - start) * 1000)
        self.answers.append(answer)

    def pct(self, *qs) -> str:
        """The percentiles ``qs`` of the times as text, e.g. ``"0.42 / 4.72 ms"``."""
        return " / ".join(f"{np.percentile(self.ms, q):.2f}" for q in qs) + " ms"


def seconds(s: float) -> str:
    """``s`` seconds as text: milliseconds under one second."""
    return f"{s * 1000:.1f} ms" if s < 1 else f"{s:.2f} s" if s < 10 else f"{s:.1f} s"


# -- locating ----------------------------------------------------------------------------------------------------
def bulk_locate(store, index_dir: Path, lon, lat, repeat: int) -> tuple[dict, Registry, np.ndarray]:
    """Weige's bulk locate: cold (build and save), cold (load the saved index), warm; the codes found."""
    figures = {}
    start = time.perf_counter()
    codes, _names, status, on_edge = Registry(store, index_dir=index_dir).locate_arrays(lon, lat, level="micro_grid")
    figures["build"] = time.perf_counter() - start
    registry = Registry(store, index_dir=index_dir)
    start = time.perf_counter()
    loaded = registry.locate_arrays(lon, lat, level="micro_grid")[0]
    figures["load"] = time.perf_counter() - start
    warm = []
    for _ in range(repeat):
        start = time.perf_counter()
        registry.locate_arrays(lon, lat, level="micro_grid")
        warm.append(time.perf_counter() - start)
    figures["warm"] = min(warm)
    if not np.array_equal(codes, loaded):
        raise SystemExit("the saved index answers differently from the built one")
    answer = np.where(status == "ok", codes, np.where(status == "outside", "", "?"))
    figures["on_edge"] = int(np.sum(on_edge))
    return figures, registry, answer


def postgis_join(store, lon, lat, generation: int) -> tuple[float, float, np.ndarray]:
    """Baseline: the points copied to a temporary table and joined to the micro-grids by ``ST_Contains`` (GiST).

    Returns the seconds to send the points (COPY, make the geometries, ANALYZE), the seconds of the join with its
    rows fetched, and each point's micro-grid code (``""`` outside every one, ``"?"`` in several).
    """
    buffer = io.BytesIO()
    np.savetxt(buffer, np.column_stack([np.arange(len(lon)), lon, lat]), fmt=["%d", "%.17g", "%.17g"], delimiter="\t")
    with store.engine.connect() as conn:
        start = time.perf_counter()
        conn.exec_driver_sql("CREATE TEMP TABLE bench_xy (i integer, x float8, y float8)")
        with conn.connection.dbapi_connection.cursor() as cursor:
            with cursor.copy("COPY bench_xy (i, x, y) FROM STDIN") as copy:
                copy.write(buffer.getvalue())
        conn.exec_driver_sql(
            "CREATE TEMP TABLE bench_points AS SELECT i, ST_SetSRID(ST_MakePoint(x, y), 4326) AS geom FROM bench_xy"
        )
        conn.exec_driver_sql("ANALYZE bench_points")
        upload = time.perf_counter() - start
        start = time.perf_counter()
        rows = conn.exec_driver_sql(
            "SELECT p.i, a.code FROM bench_points p JOIN areas a ON ST_Contains(a.geom, p.geom) WHERE "
            + MICRO_SQL.replace("level", "a.level").replace("generation_", "a.generation_"),
            {"g": generation},
        ).all()
        join = time.perf_counter() - start
        conn.rollback()
    answer = np.full(len(lon), "", dtype=object)
    for i, code in rows:
        answer[i] = "?" if answer[i] else code
    return upload, join, answer


def single_locate(registry: Registry, lon, lat, sql: bool) -> Timings:
    """One point at a time: Weige's ``locate_point`` in process, or (``sql``) one ``ST_Contains`` query each."""
    timings = Timings()
    if not sql:
        for x, y in zip(lon, lat, strict=True):
            timings.run(lambda a, b: registry.locate_point(a, b, level="micro_grid")["code"], float(x), float(y))
        return timings
    g = registry.current_generation()
    statement = (
        f"SELECT code FROM areas WHERE {MICRO_SQL} AND ST_Contains(geom, ST_SetSRID(ST_MakePoint(%(x)s, %(y)s), 4326))"
    )
    with registry.store.engine.connect() as conn:
        for x, y in zip(lon, lat, strict=True):
            timings.run(
                lambda a, b: ";".join(r[0] for r in conn.exec_driver_sql(statement, {"g": g, "x": a, "y": b})),
                float(x),
                float(y),
            )
        conn.rollback()
    return timings


# -- windows, tiles, statistics ----------------------------------------------------------------------------------
def windows(registry: Registry, boxes: list[tuple]) -> Timings:
    """Buildings in each box (addresses, in the store's order), warm: every box read once untimed first."""

    def read(box):
        return [r["address"] for r in registry.store.buildings(bbox=box, geometry=False)]

    for box in boxes:
        read(box)
    timings = Timings()
    for box in boxes:
        timings.run(read, box)
    return timings


def tiles(registry: Registry, layer: str, addresses: list) -> tuple[Timings, Timings]:
    """``layer``'s tiles cut in process for the admin: cold (first request of each), then cached."""
    view = ScopedRegistry(registry, Scope.everything(), SYSTEM)

    def cut(t):
        features = mapbox_vector_tile.decode(tile(view, layer, t.z, t.x, t.y)).get(layer, {}).get("features", [])
        props = [f["properties"] for f in features]
        return sorted(p["code"] if layer != "buildings" else f"{p['address']}|{p.get('area', '')}" for p in props)

    out = []
    for _run in ("cold", "cached"):
        timings = Timings()
        for t in addresses:
            timings.run(cut, t)
        out.append(timings)
    return out[0], out[1]


def stats_answer(figures: dict) -> str:
    """Statistics as comparable text: lists sorted, the first 200 overdue ids (store order) as a count."""
    figures = dict(figures, overdue_ids=len(figures["overdue_ids"]))
    for key in ("by_category_over_time", "by_child_area"):
        figures[key] = sorted(figures[key], key=lambda d: json.dumps(d, sort_keys=True))
    return json.dumps(figures, sort_keys=True, default=str)


def statistics(registry: Registry, area: str | None, repeat: int) -> Timings:
    """``issue_stats`` of ``area`` (``None``: the whole city) for the admin, ``repeat`` times."""
    view = ScopedRegistry(registry, Scope.everything(), SYSTEM)
    timings = Timings()
    for _ in range(repeat):
        timings.run(lambda: stats_answer(issue_stats(view, area=area, now=NOW)))
    return timings


# -- memory and disk ---------------------------------------------------------------------------------------------
def rss_mb() -> float:
    """This process's resident set now, in MB."""
    with open("/proc/self/status") as status:
        kb = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
    return kb / 1024


def probe(url: str, index_dir: str, lon: float, lat: float) -> None:
    """In a new process: RSS after imports, then after opening the store, loading the saved index, locating once."""
    before = rss_mb()
    start = time.perf_counter()
    registry = Registry(open_store(url), index_dir=Path(index_dir))
    registry.locate_point(lon, lat, level="micro_grid")
    took = time.perf_counter() - start
    print(json.dumps({"before": before, "after": rss_mb(), "peak": resource.getrusage(0).ru_maxrss / 1024,
                      "seconds": took}))  # fmt: skip


def probed(url: str, index_dir: Path, lon: float, lat: float) -> dict:
    """:func:`probe`'s figures from a new process (``city.py --probe``)."""
    done = subprocess.run(
        [sys.executable, str(CITY_SCRIPT), "--probe", url, str(index_dir), repr(lon), repr(lat)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def disk_size(store) -> int:
    """Bytes the database takes on disk (SQLite: after a WAL checkpoint; PostgreSQL: ``pg_database_size``)."""
    if store.engine.dialect.name == "sqlite":
        with store.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        path = Path(store.engine.url.database)
        return sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())
    with store.engine.connect() as conn:
        return int(conn.exec_driver_sql("SELECT pg_database_size(current_database())").scalar_one())


def folder_size(folder: Path) -> int:
    """Bytes of every file under ``folder``."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
