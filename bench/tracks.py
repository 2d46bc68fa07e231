"""Benchmark: a day of 5-second fixes for many grid workers, analysed against their grids and buildings.

Ours: track cleaning (numpy, :func:`patrols.tracks.clean_track`), one vectorised point-index lookup per level for
every fix of every worker, and one STRtree of building footprints queried with each worker's segments
(``dwithin``). Baseline (geopandas): the same cleaning function (it needs the same clean tracks to agree, and its
time is counted in both), then per worker ``sjoin`` of the kept fixes with the worker's grid and with the
micro-grids, and ``sjoin(predicate="dwithin")`` of the buildings with the track's lines (exact, like ours). Both
must agree on every worker's inside/outside distance and time, micro-grids and buildings passed.

    python bench/tracks.py                      # 1,000 workers x 5,760 fixes (8 h)
    python bench/tracks.py --workers 20 --fixes 300
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from boundaries import assets  # noqa: E402
from boundaries.importer import import_areas  # noqa: E402
from boundaries.registry import Registry  # noqa: E402
from boundaries.storage import open_store  # noqa: E402
from geo.crs import metric_crs  # noqa: E402
from patrols.analysis import BuildingIndex, analyse, micro_grids_at  # noqa: E402
from patrols.tracks import TrackRules, clean_track, project  # noqa: E402

CELL = 0.003  # degrees: a grid of about 290 m x 330 m, 2 x 2 micro-grids
LON0, LAT0 = 104.0, 30.6


def city(workers: int, folder: Path):
    """A street of ``workers`` grids (one per worker) in rows of 40, each 2 x 2 micro-grids, 8 buildings each."""
    registry = Registry(open_store(f"sqlite:///{folder / 'bench.db'}"))
    cols = min(50, workers)  # 500 grids (10 rows) per community
    rows = -(-workers // cols)
    box = shapely.box(LON0, LAT0, LON0 + cols * CELL, LAT0 + rows * CELL)
    levels = {"district": [("510107", "区", None, box)], "street": [("510107001", "街道", "510107", box)]}
    levels["community"] = [
        (
            f"510107001{c + 1:03d}",
            f"社区{c}",
            "510107001",
            shapely.box(LON0, LAT0 + c * 10 * CELL, LON0 + cols * CELL, LAT0 + min(rows, (c + 1) * 10) * CELL),
        )
        for c in range(-(-rows // 10))
    ]
    levels["grid"], levels["micro_grid"], feet = [], [], []
    rng = np.random.default_rng(1)
    for i in range(workers):
        x0, y0 = LON0 + (i % cols) * CELL, LAT0 + (i // cols) * CELL
        community = f"510107001{i // 500 + 1:03d}"
        code = f"{community}{i % 500 + 1:03d}"
        levels["grid"].append((code, f"网格{i}", community, shapely.box(x0, y0, x0 + CELL, y0 + CELL)))
        h = CELL / 2
        for k, (dx, dy) in enumerate(((0, 0), (h, 0), (0, h), (h, h)), start=1):
            levels["micro_grid"].append(
                (f"{code}{k:03d}", f"微{i}-{k}", code, shapely.box(x0 + dx, y0 + dy, x0 + dx + h, y0 + dy + h))
            )
        for _ in range(8):
            cx, cy = x0 + rng.uniform(0.0002, CELL - 0.0002), y0 + rng.uniform(0.0002, CELL - 0.0002)
            feet.append(shapely.box(cx - 0.00006, cy - 0.00006, cx + 0.00006, cy + 0.00006))
    for level, rows_ in levels.items():
        frame = gpd.GeoDataFrame(
            {"code": [r[0] for r in rows_], "name": [r[1] for r in rows_], "parent": [r[2] for r in rows_]},
            geometry=[r[3] for r in rows_],
            crs=4326,
        )
        import_areas(registry, frame, level, code_field="code", name_field="name", parent_field="parent")
    registry.publish()
    assets.import_buildings(registry, gpd.GeoDataFrame({"households": np.full(len(feet), 10)}, geometry=feet, crs=4326))
    return registry, [r[0] for r in levels["grid"]]


def tracks(workers: int, fixes: int, codes, registry):
    """A random walk at 1.2 m/s per worker from the centre of their grid, 5 m noise, a fix every 5 s."""
    rng = np.random.default_rng(2)
    out = []
    for code in codes:
        c = registry.area(code).geometry.centroid
        heading = np.cumsum(rng.normal(0, 0.3, fixes))
        x0, y0, crs = project([c.x], [c.y])
        x = x0[0] + np.cumsum(6.0 * np.cos(heading)) + rng.normal(0, 5, fixes)
        y = y0[0] + np.cumsum(6.0 * np.sin(heading)) + rng.normal(0, 5, fixes)
        from pyproj import Transformer

        lon, lat = Transformer.from_crs(crs, 4326, always_xy=True).transform(x, y)
        out.append({"t": 1.8e9 + 5.0 * np.arange(fixes), "lon": np.asarray(lon), "lat": np.asarray(lat)})
    return out


def common_crs(walks):
    """The metric CRS every track is measured in (the first track's: one Gauss–Krüger zone for the city)."""
    return metric_crs(float(np.mean(walks[0]["lon"])), float(np.mean(walks[0]["lat"])))


def ours(registry, codes, walks, rules):
    """Clean every track, locate every fix at once, one STRtree of buildings for everyone."""
    crs = common_crs(walks)
    cleaned = [clean_track(w["t"], w["lon"], w["lat"], None, rules, crs=crs) for w in walks]
    frame = assets.buildings(registry)
    index = BuildingIndex(frame["id"].to_numpy(), frame.geometry.values, crs)
    lon = np.concatenate([c.lon for c in cleaned])
    lat = np.concatenate([c.lat for c in cleaned])
    grids, table = registry.index("grid")  # the point index: each fix's grid as a number, compared as one
    located = grids.locate(lon, lat)
    grid = np.asarray(located.index, dtype=np.int64)
    position = {code: i for i, code in enumerate(table["code"])}
    micro = micro_grids_at(registry, lon, lat)
    offsets = np.cumsum([0] + [len(c.t) for c in cleaned])
    out = []
    for w, (code, track) in enumerate(zip(codes, cleaned, strict=True)):
        start, end = offsets[w], offsets[w + 1]
        inside = grid[start:end] == position[code]
        for i, polygons in located.ambiguous.items():  # on an overlap: inside when one of them is the worker's
            if start <= i < end:
                inside[i - start] = position[code] in polygons
        out.append(analyse(track, inside, micro[start:end], index, rules))
    return out


def baseline(registry, codes, walks, rules):
    """The same cleaning, then geopandas: sjoin per worker's fixes, and the buildings within the pass distance of
    the track (dwithin)."""
    crs = common_crs(walks)
    cleaned = [clean_track(w["t"], w["lon"], w["lat"], None, rules, crs=crs) for w in walks]
    grids = registry.areas(level="grid")
    micro = registry.areas(level="micro_grid")[["code", "geometry"]]
    feet = assets.buildings(registry)[["id", "geometry"]].set_crs(4326, allow_override=True).to_crs(crs)
    out = []
    for code, track in zip(codes, cleaned, strict=True):
        kept = np.flatnonzero(track.kept)
        pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(track.lon[kept], track.lat[kept]), crs=4326)
        area = grids[grids["code"] == code][["geometry"]]
        inside = gpd.sjoin(pts, area, predicate="within", how="left")["index_right"].notna().to_numpy()
        in_micro = gpd.sjoin(pts, micro, predicate="within", how="inner")["code"]
        x, y, t, seg = track.x[kept], track.y[kept], track.t[kept], track.segment[kept]
        same = seg[1:] == seg[:-1]
        d = np.hypot(np.diff(x), np.diff(y))[same]
        dt = np.diff(t)[same]
        share = (inside[:-1].astype(float) + inside[1:].astype(float))[same] / 2
        lines = [
            shapely.LineString(np.column_stack([x[seg == k], y[seg == k]]))
            if np.count_nonzero(seg == k) > 1
            else shapely.Point(x[seg == k][0], y[seg == k][0])
            for k in np.unique(seg)
        ]
        track_lines = gpd.GeoDataFrame(geometry=lines, crs=crs)  # exact distance (a buffer's polygon is a bit short)
        near = gpd.sjoin(feet, track_lines, predicate="dwithin", distance=rules.pass_m, how="inner")
        passed = sorted(set(near["id"].astype(int)))
        out.append(
            {
                "distance_m": {"inside": round(float(d @ share), 2), "outside": round(float(d @ (1 - share)), 2)},
                "time_s": {"inside": round(float(dt @ share), 2), "outside": round(float(dt @ (1 - share)), 2)},
                "micro_grids": sorted(set(in_micro)),
                "buildings_passed": passed,
            }
        )
    return out


def measure(func, *args):
    """Seconds and the growth of the process's peak resident memory (MiB) while ``func`` runs.

    (tracemalloc would trace every allocation and slow both methods several times over.)
    """
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    result = func(*args)
    seconds = time.perf_counter() - start
    grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024  # Linux: KiB
    return result, seconds, grown


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=1000)
    parser.add_argument("--fixes", type=int, default=5760, help="fixes per worker (5760: 8 h at one per 5 s)")
    args = parser.parse_args(argv)
    rules = TrackRules()
    with tempfile.TemporaryDirectory() as folder:
        registry, codes = city(args.workers, Path(folder))
        walks = tracks(args.workers, args.fixes, codes, registry)
        registry.locate([LON0 + 1e-3], [LAT0 + 1e-3], level="grid")  # indexes built before timing
        registry.locate([LON0 + 1e-3], [LAT0 + 1e-3], level="micro_grid")
        summaries, t_ours, m_ours = measure(ours, registry, codes, walks, rules)
        base, t_base, m_base = measure(baseline, registry, codes, walks, rules)
    keys = ("distance_m", "time_s", "micro_grids", "buildings_passed")
    for i, (a, b) in enumerate(zip(summaries, base, strict=True)):
        for key in keys:
            if key in ("distance_m", "time_s"):
                assert all(abs(a[key][s] - b[key][s]) <= 0.05 for s in ("inside", "outside")), (i, key, a[key], b[key])
            else:
                assert a[key] == b[key], (i, key, a[key], b[key])
    total = args.workers * args.fixes
    print(f"{args.workers:,} workers x {args.fixes:,} fixes = {total:,} fixes")
    print("| method | seconds | fixes/s | peak memory growth MiB |")
    print("|---|---|---|---|")
    print(f"| weige (numpy clean, locate, STRtree dwithin) | {t_ours:.2f} | {total / t_ours:,.0f} | {m_ours:.0f} |")
    print(f"| geopandas (sjoin per worker, sjoin dwithin) | {t_base:.2f} | {total / t_base:,.0f} | {m_base:.0f} |")
    print(f"speed-up {t_base / t_ours:.1f}x (both times include the cleaning)")
    print(f"answers agree with the geopandas baseline for all {args.workers:,} workers")


if __name__ == "__main__":
    main()
