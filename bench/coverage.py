"""Benchmark: straight-line coverage of service points, per building and per area, against geopandas.

    python bench/coverage.py [--buildings 2000000] [--sites 10000] [--areas 2000] [--reach 500]

Random building points and service points over a 60 km square around Chengdu (metres, EPSG:4544), grouped
into Voronoi areas. Weige: ``geo.reach.straight_reach`` (k-d tree: nearest site and number of sites in reach
for every building) and the per-area sums through ``geo.locate.PolygonIndex`` and ``numpy.bincount``.
Baselines, in the same process on the same data: geopandas — ``sjoin_nearest`` for the nearest distance,
``sjoin(predicate="dwithin")`` for the sites in reach (an exact circle, as ours), ``sjoin`` + ``groupby`` for the
areas — and plain ``scipy.spatial.cKDTree`` (nearest and ``query_ball_point`` counts). Every method builds its
own trees inside its timing (cold); answers are checked equal before figures are printed.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from geo.locate import PolygonIndex  # noqa: E402
from geo.reach import straight_reach  # noqa: E402

X0, Y0, SIZE = 470_000.0, 3_362_000.0, 60_000.0


def data(n_buildings: int, n_sites: int, n_areas: int, seed: int = 5):
    rng = np.random.default_rng(seed)
    bx, by = rng.uniform(X0, X0 + SIZE, n_buildings), rng.uniform(Y0, Y0 + SIZE, n_buildings)
    sx, sy = rng.uniform(X0, X0 + SIZE, n_sites), rng.uniform(Y0, Y0 + SIZE, n_sites)
    households = rng.integers(1, 120, n_buildings)
    frame = shapely.box(X0, Y0, X0 + SIZE, Y0 + SIZE)
    seeds = shapely.multipoints(
        np.column_stack([rng.uniform(X0, X0 + SIZE, n_areas), rng.uniform(Y0, Y0 + SIZE, n_areas)])
    )
    areas = np.asarray(shapely.intersection(shapely.get_parts(shapely.voronoi_polygons(seeds, extend_to=frame)), frame))
    return bx, by, sx, sy, households, areas


def ours(bx, by, sx, sy, households, areas, reach):
    t = time.perf_counter()
    r = straight_reach(bx, by, sx, sy, reach)
    per_building = time.perf_counter() - t
    index = PolygonIndex(areas)
    area_of = index.locate(bx, by).index
    ok = area_of >= 0
    total = np.bincount(area_of[ok], weights=households[ok], minlength=len(areas))
    covered = np.bincount(area_of[ok & r.covered], weights=households[ok & r.covered], minlength=len(areas))
    return r, total, covered, per_building, time.perf_counter() - t


def baseline(bx, by, sx, sy, households, areas, reach):
    t = time.perf_counter()
    b = gpd.GeoDataFrame({"households": households}, geometry=gpd.points_from_xy(bx, by), crs=4544)
    s = gpd.GeoDataFrame({"site": np.arange(len(sx))}, geometry=gpd.points_from_xy(sx, sy), crs=4544)
    nearest = gpd.sjoin_nearest(b, s, distance_col="nearest_m")
    nearest = nearest[~nearest.index.duplicated()]["nearest_m"]
    inside = gpd.sjoin(b, s, predicate="dwithin", distance=reach)
    count = inside.groupby(level=0).size().reindex(b.index, fill_value=0)
    per_building = time.perf_counter() - t
    a = gpd.GeoDataFrame({"area": np.arange(len(areas))}, geometry=areas, crs=4544)
    located = gpd.sjoin(b.assign(covered=count.to_numpy() > 0), a, predicate="within")
    located = located[~located.index.duplicated()]
    total = located.groupby("area")["households"].sum().reindex(range(len(areas)), fill_value=0)
    covered = located[located["covered"]].groupby("area")["households"].sum().reindex(range(len(areas)), fill_value=0)
    return (
        nearest.to_numpy(),
        count.to_numpy(),
        total.to_numpy(),
        covered.to_numpy(),
        per_building,
        time.perf_counter() - t,
    )


def kdtree(bx, by, sx, sy, reach):
    from scipy.spatial import cKDTree

    t = time.perf_counter()
    tree = cKDTree(np.column_stack([sx, sy]))
    points = np.column_stack([bx, by])
    nearest, _ = tree.query(points)
    count = tree.query_ball_point(points, reach, return_length=True)
    return nearest, count, time.perf_counter() - t


def main(argv=None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--buildings", type=int, default=2_000_000)
    parser.add_argument("--sites", type=int, default=10_000)
    parser.add_argument("--areas", type=int, default=2_000)
    parser.add_argument("--reach", type=float, default=500.0)
    args = parser.parse_args(argv)
    t = time.perf_counter()
    bx, by, sx, sy, households, areas = data(args.buildings, args.sites, args.areas)
    print(f"{args.buildings:,} buildings, {args.sites:,} sites, {len(areas):,} areas, reach {args.reach:g} m "
          f"(generated in {time.perf_counter() - t:.1f}s)")  # fmt: skip
    r, total, covered, ours_b, ours_all = ours(bx, by, sx, sy, households, areas, args.reach)
    nearest, count, b_total, b_covered, base_b, base_all = baseline(bx, by, sx, sy, households, areas, args.reach)
    k_nearest, k_count, kd_s = kdtree(bx, by, sx, sy, args.reach)
    assert np.allclose(r.nearest_m, nearest, atol=1e-6), "nearest distances differ from sjoin_nearest"
    assert np.allclose(r.nearest_m, k_nearest, atol=1e-6), "nearest distances differ from cKDTree"
    differ = int((r.count != count).sum())
    assert differ == 0, f"counts in reach differ from sjoin dwithin on {differ} buildings"
    assert (r.count == k_count).all(), "counts in reach differ from cKDTree"
    assert np.allclose(total, b_total) and np.allclose(covered, b_covered)
    print(f"{'':40}{'seconds':>10}{'buildings/s':>14}")
    for name, b_s, all_s in (
        ("Weige (k-d tree + PolygonIndex)", ours_b, ours_all),
        ("geopandas sjoin_nearest + sjoin dwithin", base_b, base_all),
        ("scipy cKDTree (per building only)", kd_s, None),
    ):
        print(f"{name:40}{'':>10}")
        print(f"{'  per building (nearest, count in reach)':40}{b_s:10.2f}{args.buildings / b_s:14,.0f}")
        if all_s is not None:
            print(f"{'  per building and per area':40}{all_s:10.2f}{args.buildings / all_s:14,.0f}")
    print(
        f"ratio per building: {base_b / ours_b:.1f}x geopandas, {kd_s / ours_b:.2f}x plain cKDTree; "
        f"per building and area: {base_all / ours_all:.1f}x geopandas"
    )
    print(
        f"answers: nearest distances and counts in reach equal for all {args.buildings:,} buildings, "
        f"{int(r.covered.sum()):,} covered; per-area households equal"
    )


if __name__ == "__main__":
    main()
