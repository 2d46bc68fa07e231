"""Benchmark: bulk locate, cold and warm, against geopandas.sjoin and shapely STRtree + contains_xy.

    python bench/locate.py                       # all three cases, full size
    python bench/locate.py --case city --points 200000 --repeat 3

Cases (``--case``, default all):

* ``city``: a Voronoi tessellation of ``--cells`` micro-grids (default 126,000, Chengdu's count) over a 60 km
  square around Chengdu (EPSG:4544 metres, converted to WGS84 like stored data), ``--points`` uniform points;
* ``hongkong``: the Hong Kong DCCA boundaries of ``../shared/data/hongkong`` dissolved to their 18 districts
  (real coastlines; the set overlaps a little), ``--detailed-points`` uniform points over them;
* ``detailed``: five generated polygons of ``--vertices`` vertices each (default 100,000), coastline-like.

Every method runs in this process on the same data. *Cold* is what a new process pays: Weige builds its
index (or loads a saved one) and locates; sjoin builds its tree and joins; STRtree is built and queried.
*Start* is what a new process pays before that, to import the method's libraries and run it once (for
Weige: importing numba and loading its compiled kernels from numba's cache; for sjoin: importing geopandas),
measured in separate processes; the table shows cold with and without it.
Cold is the best of ``--repeat`` runs too, each with a fresh index, tree or frame (sjoin's spatial index is built
inside the call on a new frame). *Warm* is the best of ``--repeat`` runs with the index or tree already built.
Answers are checked against sjoin before any figure is printed: a disagreement stops the benchmark.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from geo.crs import geometries_to_wgs84, to_wgs84  # noqa: E402
from geo.index_files import load_index, save_index  # noqa: E402
from geo.locate import AMBIGUOUS, OUTSIDE, PolygonIndex  # noqa: E402

HONGKONG = ROOT.parent / "shared" / "data" / "hongkong" / "dcca_2001.geojson"


def tessellation(n: int, size: float = 60_000.0, seed: int = 1):
    """``n`` Voronoi micro-grids over a square around Chengdu, in WGS84, and the square (EPSG:4544)."""
    rng = np.random.default_rng(seed)
    x0, y0 = 500_000 - size / 2, 3_392_000 - size / 2  # around 104.0 E, 30.65 N in EPSG:4544
    frame = shapely.box(x0, y0, x0 + size, y0 + size)
    seeds = shapely.multipoints(np.column_stack([rng.uniform(x0, x0 + size, n), rng.uniform(y0, y0 + size, n)]))
    cells = np.asarray(shapely.intersection(shapely.get_parts(shapely.voronoi_polygons(seeds, extend_to=frame)), frame))
    return geometries_to_wgs84(cells, "EPSG:4544"), (x0, y0, size)


def city_case(args, rng):
    polys, (x0, y0, size) = tessellation(args.cells)
    lon, lat = to_wgs84(rng.uniform(x0, x0 + size, args.points), rng.uniform(y0, y0 + size, args.points), "EPSG:4544")
    return f"city: {len(polys):,} Voronoi micro-grids, {len(lon):,} points", polys, lon, lat


def hongkong_case(args, rng):
    if not HONGKONG.exists():
        return None
    dcca = gpd.read_file(HONGKONG)
    dcca["geometry"] = shapely.make_valid(dcca.geometry.values)
    districts = dcca.dissolve(by="DC").geometry.values
    polys = np.asarray(
        [shapely.union_all([p for p in shapely.get_parts(g) if p.geom_type == "Polygon"]) for g in districts]
    )
    minx, miny, maxx, maxy = shapely.total_bounds(polys)
    lon, lat = rng.uniform(minx, maxx, args.detailed_points), rng.uniform(miny, maxy, args.detailed_points)
    return f"hongkong: {len(polys)} districts dissolved from DCCA, {len(lon):,} points", polys, lon, lat


def detailed_case(args, rng):
    polys = []
    for i in range(5):
        theta = np.linspace(0, 2 * np.pi, args.vertices, endpoint=False)
        wiggle = 0.2 * np.sin(9 * theta) + 0.08 * rng.standard_normal(args.vertices).cumsum() / np.sqrt(args.vertices)
        radius = 0.02 * (1 + wiggle)
        cx, cy = 114.0 + 0.05 * i, 22.3 + 0.02 * (i % 2)
        polys.append(
            shapely.make_valid(
                shapely.Polygon(np.column_stack([cx + radius * np.cos(theta), cy + radius * np.sin(theta)]))
            )
        )
    polys = np.asarray(
        [g if g.geom_type in ("Polygon", "MultiPolygon") else shapely.union_all(shapely.get_parts(g)) for g in polys]
    )
    minx, miny, maxx, maxy = shapely.total_bounds(polys)
    lon, lat = rng.uniform(minx, maxx, args.detailed_points), rng.uniform(miny, maxy, args.detailed_points)
    n = shapely.get_num_coordinates(polys)
    return f"detailed: 5 polygons of {n.min():,}-{n.max():,} vertices, {len(lon):,} points", polys, lon, lat


_STARTS = {
    "weige": "from shapely import box\nfrom geo.locate import PolygonIndex\n"
    "PolygonIndex([box(0, 0, 1, 1), box(1, 0, 2, 1)]).locate([0.5, 1.0, 1.7], [0.5, 0.5, 0.3])\n"
    "PolygonIndex([box(0, 0, 1, 1), box(1, 0, 2, 1).union(box(3, 0, 4, 1))]).locate([0.5], [0.5])",  # WKB path too
    "sjoin": "import geopandas as gpd\nfrom shapely import box, points\n"
    "gpd.sjoin(gpd.GeoDataFrame(geometry=[points(0.5, 0.5)]), gpd.GeoDataFrame(geometry=[box(0, 0, 1, 1)]))",
    "strtree": "import shapely\nshapely.STRtree([shapely.box(0, 0, 1, 1)]).query(shapely.points(0.5, 0.5))",
}


def start_costs() -> dict[str, float]:
    """Seconds a new process takes to import each method's libraries and run it once on two boxes.

    Weige's includes importing numba and loading its kernels' machine code from numba's cache (the first run
    after an install also compiles them: that run is not counted). Best of two runs after a first one.
    """
    out = {}
    for name, code in _STARTS.items():
        run = [sys.executable, "-c", f"import time\nt = time.perf_counter()\n{code}\nprint(time.perf_counter() - t)"]
        times = [float(subprocess.run(run, cwd=ROOT, check=True, capture_output=True, text=True).stdout)
                 for _ in range(3)]  # fmt: skip
        out[name] = min(times[1:])
    return out


def best(fn, repeat):
    """Best wall time of ``repeat`` runs of ``fn`` and its last answer."""
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def _built_and_located(polys, lon, lat):
    index = PolygonIndex(polys)
    return index, index.locate(lon, lat)


def _frame(polys):
    """A new frame each time: its spatial index is built inside the next sjoin (cold)."""
    return gpd.GeoDataFrame(geometry=polys, crs="EPSG:4326")


def sjoin_answer(joined, n):
    """Per point: the one polygon sjoin found, OUTSIDE for none, AMBIGUOUS for several."""
    right = joined["index_right"].to_numpy()
    found = ~np.isnan(right.astype("float64"))
    counts = np.bincount(joined.index.to_numpy()[found], minlength=n)
    answer = np.full(n, OUTSIDE, dtype="int64")
    single = found & (counts[joined.index.to_numpy()] == 1)
    answer[joined.index.to_numpy()[single]] = right[single].astype("int64")
    answer[counts >= 2] = AMBIGUOUS
    return answer


def strtree_answer(tree, polys, lon, lat, points):
    pt, poly = tree.query(points)
    inside = shapely.contains_xy(polys[poly], lon[pt], lat[pt])
    counts = np.bincount(pt[inside], minlength=len(lon))
    answer = np.full(len(lon), OUTSIDE, dtype="int64")
    answer[pt[inside]] = poly[inside]
    answer[counts >= 2] = AMBIGUOUS
    return answer


def check(name, ours, theirs, label):
    """Stop unless ``ours`` (a LocateResult) agrees with ``theirs`` off the boundaries."""
    comparable = ~ours.on_boundary
    wrong = np.flatnonzero(comparable & (ours.index != theirs))
    if len(wrong):
        i = int(wrong[0])
        raise SystemExit(
            f"{name}: {label} disagrees on {len(wrong)} points, e.g. point {i}: {ours.index[i]} vs {theirs[i]}"
        )


def run_case(title, polys, lon, lat, repeat, start):
    print(f"\n## {title}")
    n = len(lon)
    coordinate_mb = shapely.get_num_coordinates(polys).sum() * 16 / 1e6
    points = shapely.points(lon, lat)
    point_frame = gpd.GeoDataFrame(geometry=points, crs="EPSG:4326")

    # Weige cold: build + locate, a fresh index each run (best of `repeat`); then warm
    build = best(lambda: PolygonIndex(polys), repeat)[0]
    weige_cold, (index, cold_ours) = best(lambda: _built_and_located(polys, lon, lat), repeat)
    weige_warm, ours = best(lambda: index.locate(lon, lat), repeat)
    with tempfile.TemporaryDirectory() as folder:
        save_index(index, folder)
        t = time.perf_counter()
        loaded = load_index(polys, folder)
        load_s = time.perf_counter() - t
        from_disk = loaded.locate(lon, lat)
        weige_loaded = time.perf_counter() - t
        del loaded
    # sjoin cold (its tree built inside the call) and warm (tree cached on the frame)
    sjoin_cold, _ = best(lambda: gpd.sjoin(point_frame, _frame(polys), predicate="within", how="left"), repeat)
    areas = _frame(polys)
    sjoin_warm, joined = best(lambda: gpd.sjoin(point_frame, areas, predicate="within", how="left"), repeat)
    theirs = sjoin_answer(joined, n)
    # STRtree + contains_xy
    strtree_cold, strtree_cold_answer = best(lambda: strtree_answer(shapely.STRtree(polys), polys, lon, lat, points),
                                             repeat)  # fmt: skip
    tree = shapely.STRtree(polys)
    strtree_warm, strtree = best(lambda: strtree_answer(tree, polys, lon, lat, points), repeat)

    check(title, cold_ours, theirs, "Weige (cold)")
    check(title, ours, theirs, "Weige (warm)")
    check(title, from_disk, theirs, "Weige (loaded index)")
    np.testing.assert_array_equal(strtree, strtree_cold_answer)
    mismatch = (~ours.on_boundary) & (strtree != theirs)
    if mismatch.any():
        raise SystemExit(f"{title}: STRtree + contains_xy disagrees with sjoin on {int(mismatch.sum())} points")
    counts = ours.counts()
    print(
        f"answers agree with sjoin on {int((~ours.on_boundary).sum()):,} of {n:,} points "
        f"(ok {counts['ok']:,}, outside {counts['outside']:,}, ambiguous {counts['ambiguous']:,}; "
        f"{int(ours.on_boundary.sum())} on a boundary, not compared)"
    )
    print(
        f"Weige index: build {build:.2f}s, load of a saved index {load_s * 1000:.0f} ms, {index.nx}x{index.ny} cells, "
        f"{index.memory_bytes / 1e6:.1f} MB = {index.memory_bytes / 1e6 / coordinate_mb:.2f}x the polygons' "
        f"coordinates ({coordinate_mb:.1f} MB)"
    )
    rows = [
        ("Weige PolygonIndex", start["weige"], weige_cold, weige_warm),
        ("Weige, saved index loaded", start["weige"], weige_loaded, weige_warm),
        ("geopandas.sjoin within", start["sjoin"], sjoin_cold, sjoin_warm),
        ("shapely STRtree + contains_xy", start["strtree"], strtree_cold, strtree_warm),
    ]
    sjoin_started = start["sjoin"] + sjoin_cold
    print(
        "| method | start s | cold s | warm s | warm points/s | cold vs sjoin | start + cold vs sjoin | warm vs sjoin |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name, started, cold, warm in rows:
        print(
            f"| {name} | {started:.2f} | {cold:.3f} | {warm:.3f} | {n / warm:,.0f} | {sjoin_cold / cold:.1f}x "
            f"| {sjoin_started / (started + cold):.1f}x | {sjoin_warm / warm:.1f}x |"
        )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", choices=["city", "hongkong", "detailed"], action="append")
    parser.add_argument("--cells", type=int, default=126_000)
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--vertices", type=int, default=100_000)
    parser.add_argument("--detailed-points", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(2)
    start = start_costs()
    for code in _STARTS.values():  # this process pays them now: they are counted in `start`
        exec(code, {})
    makers = {"city": city_case, "hongkong": hongkong_case, "detailed": detailed_case}
    for name in args.case or list(makers):
        case = makers[name](args, rng)
        if case is None:
            print(f"\n## {name}: skipped, {HONGKONG} is absent")
            continue
        run_case(*case, repeat=args.repeat, start=start)


if __name__ == "__main__":
    main()
