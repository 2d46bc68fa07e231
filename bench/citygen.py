"""A synthetic city written into any store: areas down to micro-grids, buildings with households, issues.

    python bench/citygen.py --db sqlite:///city.db [--scale 0.05]
    python bench/citygen.py --db postgresql+psycopg://user@host/weige --cells 126000 --buildings 2000000

At scale 1 (the default): 169 streets, 1,521 communities, 13,924 grids and 126,000 micro-grids (published, one
generation), 2,000,000 buildings (12 × 20 m, households 4–59) and 1,000,000 historical issues (2 % still open)
over a 60 km square around Chengdu. ``--scale`` multiplies the three counts; ``--cells``, ``--buildings`` and
``--issues`` set one exactly. The same seeds give the same city on every backend, row for row.

Micro-grids are the Voronoi cells of ``bench/locate.py``'s ``tessellation``; grids, communities and streets are
unions of about nine children each (lattice cells by centroid), coded 6 + 3 + 3 + 3 + 3 digits under street
``510104001``…. Areas go in with ``Store.insert_areas`` in one transaction, buildings through
``boundaries.assets.import_buildings`` and issues through ``issues.bulk.import_issues`` (the import commands'
code paths: checked, located, routed, one transaction each).
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from locate import tessellation  # noqa: E402

from boundaries.assets import import_buildings  # noqa: E402
from boundaries.registry import Registry  # noqa: E402
from boundaries.storage import open_store  # noqa: E402
from boundaries.storage.geometry import encode as wkb_row  # noqa: E402
from geo.crs import geometries_to_wgs84, to_wgs84  # noqa: E402
from issues.bulk import import_issues  # noqa: E402
from issues.desk import IssueDesk  # noqa: E402

__all__ = ["City", "plan_city", "building_frame", "issue_frame", "write_areas", "write_city", "scaled"]

#: Counts at scale 1: Chengdu's micro-grids, a city's buildings, a few years of issues.
FULL = {"cells": 126_000, "buildings": 2_000_000, "issues": 1_000_000}
NAMES = {"street": "街道", "community": "社区", "grid": "网格", "micro_grid": "微网格"}
LEVELS = ("street", "community", "grid", "micro_grid")
CATEGORIES = np.array(["exposed_rubbish", "road_cleaning", "dispute", "damaged_facility", "green_space"])


@dataclass
class City:
    """The areas of the synthetic city, computed once and written into as many stores as wanted.

    ``geometry``, ``codes`` and ``parent_codes`` map each level to arrays in the same order; ``square`` is the
    city's square ``(x0, y0, size)`` in EPSG:4544 metres.
    """

    geometry: dict
    codes: dict
    parent_codes: dict
    square: tuple

    def count(self, level: str) -> int:
        """How many areas ``level`` has."""
        return len(self.codes[level])

    def middle(self, level: str) -> str:
        """The code of a middle area of ``level`` (one street or community the benchmarks ask about)."""
        return self.codes[level][len(self.codes[level]) // 2]


def scaled(scale: float, cells=None, buildings=None, issues=None) -> dict:
    """The three counts at ``scale`` (at least a few of each), where not given explicitly."""
    given = {"cells": cells, "buildings": buildings, "issues": issues}
    return {k: given[k] if given[k] is not None else max(50, round(v * scale)) for k, v in FULL.items()}


def groups(points: np.ndarray, per_side: int) -> np.ndarray:
    """The lattice cell (row-major index) of each point over the points' extent, ``per_side`` cells a side."""
    lo, hi = points.min(axis=0), points.max(axis=0)
    cell = np.minimum(((points - lo) / (hi - lo) * per_side).astype(int), per_side - 1)
    return cell[:, 1] * per_side + cell[:, 0]


def number_within(parent_codes: np.ndarray, inverse: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Codes of children numbered 001… within each parent, and each child's parent code."""
    order = np.argsort(inverse, kind="stable")
    out = np.empty(len(inverse), dtype=object)
    seen: dict[int, int] = {}
    for i in order:
        n = seen[inverse[i]] = seen.get(inverse[i], 0) + 1
        out[i] = f"{parent_codes[inverse[i]]}{n:03d}"
    return out, parent_codes[inverse]


def plan_city(cells: int) -> City:
    """``cells`` Voronoi micro-grids grouped into grids, communities and streets of about nine children each."""
    micro, square = tessellation(cells)
    levels = {}
    children, child_centres = micro, shapely.get_coordinates(shapely.centroid(micro))
    for level, ratio in (("grid", 9), ("community", 9), ("street", 9)):
        per_side = max(1, round(np.sqrt(len(children) / ratio)))
        keys, inverse = np.unique(groups(child_centres, per_side), return_inverse=True)
        parents = np.array([shapely.coverage_union_all(children[inverse == k]) for k in range(len(keys))], dtype=object)
        levels[level] = (inverse, parents)
        children, child_centres = parents, shapely.get_coordinates(shapely.centroid(parents))
    street_codes = np.array([f"510104{i + 1:03d}" for i in range(len(levels["street"][1]))], dtype=object)
    codes = {"street": street_codes}
    parent_codes = {"street": np.full(len(street_codes), None, dtype=object)}
    for level, below in (("community", "street"), ("grid", "community"), ("micro_grid", "grid")):
        codes[level], parent_codes[level] = number_within(codes[below], levels[below][0])
    geometry = {level: levels[level][1] for level in ("street", "community", "grid")}
    geometry["micro_grid"] = micro
    return City(geometry, codes, parent_codes, square)


def building_frame(city: City, n: int, seed: int = 3) -> gpd.GeoDataFrame:
    """``n`` rectangular footprints (20 × 12 m) spread uniformly over the city, with households and addresses."""
    rng = np.random.default_rng(seed)
    x0, y0, size = city.square
    bx, by = rng.uniform(x0, x0 + size - 20, n), rng.uniform(y0, y0 + size - 12, n)
    footprints = geometries_to_wgs84(shapely.box(bx, by, bx + 20, by + 12), "EPSG:4544")
    return gpd.GeoDataFrame(
        {"households": rng.integers(4, 60, n), "address": [f"幸福路{i}号" for i in range(n)]},
        geometry=footprints,
        crs="EPSG:4326",
    )


def city_points(city: City, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` uniform WGS84 points inside the city's square (a metre in from its edge)."""
    rng = np.random.default_rng(seed)
    x0, y0, size = city.square
    return to_wgs84(rng.uniform(x0 + 1, x0 + size - 1, n), rng.uniform(y0 + 1, y0 + size - 1, n), "EPSG:4544")


def issue_frame(city: City, n: int, seed: int = 11) -> pd.DataFrame:
    """``n`` historical issues as an import table (text columns): random places, categories and times, 2 % open."""
    rng = np.random.default_rng(seed)
    lon, lat = city_points(city, n, seed)
    start = pd.Timestamp("2024-01-01 08:00", tz="Asia/Shanghai")
    reported = start + pd.to_timedelta(rng.integers(0, 700 * 24 * 3600, n), unit="s")
    closed = reported + pd.to_timedelta(rng.integers(3600, 10 * 24 * 3600, n), unit="s")
    still_open = rng.random(n) < 0.02
    return pd.DataFrame(
        {
            "external_id": [f"h{i}" for i in range(n)],
            "category": CATEGORIES[rng.integers(0, len(CATEGORIES), n)],
            "description": "历史事件",
            "lon": np.char.mod("%.9f", lon),
            "lat": np.char.mod("%.9f", lat),
            "reported_at": reported.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "state": np.where(still_open, "reported", "closed"),
            "closed_at": np.where(still_open, "", closed.strftime("%Y-%m-%dT%H:%M:%S%z")),
        }
    )


def write_areas(store, city: City) -> int:
    """Insert every area in one new generation and publish it; returns the generation."""
    with store.transaction() as conn:
        generation = store.create_generation(conn, "bench")
        rows = [
            {
                "code": city.codes[level][i],
                "level": level,
                "name": f"{NAMES[level]}{i}",
                "kind": "general",
                "parent_code": city.parent_codes[level][i],
                "generation_low": generation,
                **wkb_row(g),
            }
            for level in LEVELS
            for i, g in enumerate(city.geometry[level])
        ]
        store.insert_areas(conn, rows)
        store.set_generation_state(conn, generation, "published")
    return generation


def write_city(registry: Registry, city: City, buildings=None, issues=None) -> dict[str, tuple[int, float]]:
    """Write the city into ``registry``'s (empty) store: ``{table: (rows, seconds)}`` for areas, buildings, issues.

    ``buildings`` (a :func:`building_frame`) and ``issues`` (an :func:`issue_frame`) are skipped when ``None``.
    Raises ``RuntimeError`` when an import reports a problem.
    """
    timings = {}
    t = time.perf_counter()
    write_areas(registry.store, city)
    timings["areas"] = (sum(city.count(level) for level in LEVELS), time.perf_counter() - t)
    if buildings is not None:
        t = time.perf_counter()
        report = import_buildings(registry, buildings, households_field="households", address_field="address")
        if report.added != len(buildings):
            raise RuntimeError(f"buildings: {report.added} added of {len(buildings)}")
        timings["buildings"] = (len(buildings), time.perf_counter() - t)
    if issues is not None:
        t = time.perf_counter()
        report = import_issues(IssueDesk(registry), issues, source="citygen")
        if report.errors or report.imported != len(issues):
            raise RuntimeError(f"issues: {report.imported} imported of {len(issues)}: {report.errors[:3]}")
        timings["issues"] = (len(issues), time.perf_counter() - t)
    return timings


def main(argv=None) -> None:
    """Write the synthetic city into ``--db`` and print what each table took."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True, help="SQLAlchemy URL of an empty database (sqlite:///…, postgresql…)")
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies the full-scale counts")
    parser.add_argument("--cells", type=int)
    parser.add_argument("--buildings", type=int)
    parser.add_argument("--issues", type=int)
    args = parser.parse_args(argv)
    counts = scaled(args.scale, args.cells, args.buildings, args.issues)
    t = time.perf_counter()
    city = plan_city(counts["cells"])
    frames = building_frame(city, counts["buildings"]), issue_frame(city, counts["issues"])
    print(f"planned in {time.perf_counter() - t:.1f} s: " + ", ".join(f"{city.count(v):,} {v}" for v in LEVELS))
    registry = Registry(open_store(args.db), index_dir=False)
    for table, (rows, seconds) in write_city(registry, city, *frames).items():
        print(f"{table}: {rows:,} rows in {seconds:.1f} s ({rows / seconds:,.0f} rows/s)")
    registry.store.engine.dispose()


if __name__ == "__main__":
    main()
