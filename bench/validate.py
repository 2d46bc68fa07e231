"""Benchmark of the planning-rule check (boundaries/rules.py) against a straightforward shapely baseline.

A community of Voronoi micro-grids (as bench/locate.py's ``tessellation``) with a few overlaps and gaps injected,
and random building footprints with households. The rule check runs cold (first call in the process) and warm;
the baseline — pairwise sjoin and intersection loop, union difference, per-building intersects — runs in the same
process; both must report the same failures (rule, areas, area within 1 m²) or the script exits non-zero.

    python bench/validate.py [--cells 1000] [--buildings 20000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from boundaries import rules  # noqa: E402
from geo.crs import geometries_from_wgs84, geometries_to_wgs84, metric_crs  # noqa: E402
from geo.plane import LocalPlane  # noqa: E402

SETTINGS = rules.RuleSettings()

#: The synthetic community is drawn in metres of this plane (edges straight in longitude and latitude, as stored).
FIXTURE = LocalPlane((105.0, 30.65, 105.0, 30.65))


def community(cells: int, buildings: int, seed: int = 1):
    """Micro-grids (WGS84) with overlaps and gaps injected, the parent, and the buildings."""
    rng = np.random.default_rng(seed)
    size = 60.0 * np.sqrt(cells)  # about 3,600 m² per micro-grid
    x0, y0 = -size / 2, -size / 2  # metres about 105.0 E, 30.65 N, edges straight in longitude and latitude
    frame = shapely.box(x0, y0, x0 + size, y0 + size)
    seeds = shapely.multipoints(np.column_stack([rng.uniform(x0, x0 + size, cells), rng.uniform(y0, y0 + size, cells)]))
    polys = np.asarray(shapely.intersection(shapely.get_parts(shapely.voronoi_polygons(seeds, extend_to=frame)), frame))
    polys = polys[np.argsort([p.centroid.x for p in polys])]
    bad = rng.choice(len(polys), 8, replace=False)
    for k, i in enumerate(bad):  # four grown into their neighbours (overlaps), four shrunk (gaps)
        grown = polys[i].buffer(3.0 if k < 4 else -2.0, join_style="mitre")
        polys[i] = shapely.intersection(grown, frame)
    cx, cy = rng.uniform(x0 + 10, x0 + size - 10, buildings), rng.uniform(y0 + 10, y0 + size - 10, buildings)
    w, h = rng.uniform(8, 20, buildings), rng.uniform(8, 20, buildings)
    footprints = shapely.box(cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
    points = shapely.points(cx, cy)
    wgs = geometries_to_wgs84(np.concatenate([polys, [frame], footprints, points]), FIXTURE)
    n = len(polys)
    cells_wgs, parent, fp, pts = wgs[:n], wgs[n], wgs[n + 1 : n + 1 + buildings], wgs[n + 1 + buildings :]
    b = {
        "id": np.arange(1, buildings + 1),
        "geometry": fp,
        "lon": shapely.get_x(pts),
        "lat": shapely.get_y(pts),
        "households": rng.integers(1, 10, buildings),
    }
    codes = [f"{i:04d}" for i in range(n)]
    return codes, cells_wgs, parent, b


def baseline(codes, cells, parent, b, settings=SETTINGS):
    """The same rules, written the plain way: a list of (rule, codes, rounded measure).

    Pieces are found as stored (longitude/latitude) and each is measured on its own Gauss–Krüger zone.
    """
    m = gpd.GeoDataFrame({"code": codes}, geometry=np.asarray(cells, dtype=object), crs=4326)
    p = parent
    out = []

    def area(rule, kind, involved, geom):
        parts = [g for g in shapely.get_parts(geom) if g.geom_type == "Polygon" and not g.is_empty]
        metric = [geometries_from_wgs84(np.array([g], dtype=object), metric_crs(g.centroid.x, g.centroid.y))[0]
                  for g in parts]  # fmt: skip
        total = sum(g.area for g in metric if g.area >= rules.NOISE_M2)
        if total:
            out.append(("sliver" if total < settings.sliver_m2 else rule, tuple(involved), kind, total))

    pairs = gpd.sjoin(m, m, predicate="intersects")
    for i, j in zip(pairs.index, pairs["index_right"], strict=True):
        if i < j:
            area("overlap", "overlap", (codes[i], codes[j]), m.geometry[i].intersection(m.geometry[j]))
    for piece in shapely.get_parts(p.difference(shapely.union_all(m.geometry.values))):
        area("gap", "gap", ("P",), piece)
    for i, g in enumerate(m.geometry):
        area("outside_parent", "outside_parent", (codes[i],), g.difference(p))
    fp = np.asarray(b["geometry"], dtype=object)
    pts = shapely.points(b["lon"], b["lat"])
    counts = np.zeros(len(codes))
    for k in range(len(fp)):
        if not p.covers(pts[k]):
            continue
        inside = [i for i, g in enumerate(m.geometry) if g.intersects(pts[k])]
        if inside:
            counts[min(inside)] += b["households"][k]
        shares = [
            (codes[i], g.intersection(fp[k]).area / fp[k].area) for i, g in enumerate(m.geometry) if g.intersects(fp[k])
        ]
        shares = [c for c, s in shares if s > settings.building_share]
        if not shares:
            out.append(("building_unassigned", ("P",), int(b["id"][k]), 0.0))
        elif len(shares) > 1 and not any(g.contains(fp[k]) for g in m.geometry):
            out.append(("building_split", tuple(shares), int(b["id"][k]), 0.0))
    lo, hi = settings.household_ranges["micro_grid"]
    for i, n in enumerate(counts):
        if n < lo or n > hi:
            out.append(("households", (codes[i],), int(n), 0.0))
    return out


def summary(failures):
    """Failures of the rule check in the baseline's shape."""
    out = []
    for f in failures:
        if f.rule.startswith("building"):
            out.append((f.rule, f.codes, f.measure["building_id"], 0.0))
        elif f.rule == "households":
            out.append((f.rule, f.codes, f.measure["households"], 0.0))
        else:
            out.append((f.rule, f.codes, f.measure["kind"], f.measure["area_m2"]))
    return out


def agree(a, b) -> bool:
    """Same failures, areas within 1 m²."""
    key = lambda f: (f[0], f[1], str(f[2]))  # noqa: E731
    a, b = sorted(a, key=lambda f: (*key(f), f[3])), sorted(b, key=lambda f: (*key(f), f[3]))
    return len(a) == len(b) and all(key(x) == key(y) and abs(x[3] - y[3]) < 1.0 for x, y in zip(a, b, strict=True))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=1000)
    parser.add_argument("--buildings", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    codes, cells, parent, b = community(args.cells, args.buildings)
    check = lambda: rules.check_children("P", parent, codes, "micro_grid", cells, b, SETTINGS)  # noqa: E731
    t = time.perf_counter()
    found = check()
    cold = time.perf_counter() - t
    warm = []
    for _ in range(args.repeat):
        t = time.perf_counter()
        check()
        warm.append(time.perf_counter() - t)
    t = time.perf_counter()
    expected = baseline(codes, cells, parent, b)
    base = time.perf_counter() - t
    mine = summary(found)
    counts = {r: sum(f[0] == r for f in mine) for r in rules.RULES}
    print(f"community: {len(codes):,} micro-grids, {args.buildings:,} buildings; failures {counts}")
    print("| check | seconds |")
    print("|---|---|")
    print(f"| rule check, cold | {cold:.3f} |")
    print(f"| rule check, warm (best of {args.repeat}) | {min(warm):.3f} |")
    print(f"| shapely baseline | {base:.3f} |")
    print(f"speed-up (warm): {base / min(warm):.1f}x")
    if not agree(mine, expected):
        print("answers DISAGREE with the baseline", file=sys.stderr)
        rounded = [{(f[0], f[1], str(f[2]), round(f[3])) for f in x} for x in (mine, expected)]
        print(sorted(rounded[0] ^ rounded[1])[:20], file=sys.stderr)
        return 1
    print(f"answers agree with the shapely baseline ({len(mine)} failures)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
