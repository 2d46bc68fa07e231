"""A deterministic, realistic synthetic street in Chengdu for demos and tests.

Drawn in CGCS2000 / Gauss–Krüger CM 105E (EPSG:4544) metres around 104.08 E, 30.65 N and stored in WGS84:
a 12 × 10 road grid of 200 m × 160 m blocks, one gated compound per block, 9–20 buildings per compound with
floors and households, three communities of 40 blocks, one general grid (300–500 households) per block —
two blocks are dedicated grids (a school and a hospital) — and micro-grids of 30–100 households drawn by
building (the Voronoi cells of their buildings, clipped to the block), with their workers and service points.
Boundaries run along road centre lines, so every level tiles its parent with no gap and no overlap.
Nothing here is real: names, people and phone numbers are generated.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
import pyproj
import shapely
import sqlalchemy as sa

from boundaries.codes import DEFAULT_LAYOUT
from boundaries.registry import Registry
from core.audit import SYSTEM, Actor, record
from geo.crs import geometries_to_wgs84

__all__ = ["DemoStreet", "build_demo", "load_demo", "CENTER"]

CENTER = (104.08, 30.65)
METRIC = "EPSG:4544"
BLOCK_W, BLOCK_H, COLS, ROWS = 200.0, 160.0, 12, 10
ROAD_HALF, SETBACK = 10.0, 4.0
DISTRICT_CODE = "510104"  # 锦江区 (GB/T 2260)
SPECIAL = {(2, 5): ("school", "芙蓉小学"), (7, 9): ("hospital", "社区医院")}
COMMUNITIES = ("桂花社区", "银杏社区", "海棠社区")
COMPOUNDS = (
    "锦绣 芳华 翠苑 清水 望江 蓉城 金沙 玉带 荷塘 竹林 梧桐 春熙 锦官 浣花 青羊 桂溪 新华 和平 永安 长顺".split()
)
SUFFIXES = ("苑", "里", "小区", "花园", "院")
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘".replace("", " ").split()
GIVEN = "建国 秀英 志强 丽华 海燕 俊杰 晓东 桂兰 德明 春梅 文斌 玉兰 国强 红梅 小平 淑芬 立新 凤英 永红 建华".split()


@dataclass
class DemoStreet:
    """The generated street: area rows by level, buildings, service points and workers (all WGS84)."""

    areas: list[dict] = field(default_factory=list)
    buildings: list[dict] = field(default_factory=list)
    service_points: list[dict] = field(default_factory=list)
    workers: list[tuple[str, str, str, list[str]]] = field(default_factory=list)
    roads: list = field(default_factory=list)


def _person(rng) -> tuple[str, str]:
    name = SURNAMES[rng.integers(len(SURNAMES))] + GIVEN[rng.integers(len(GIVEN))]
    phone = "13" + "".join(str(d) for d in rng.integers(0, 10, 9))
    return name, phone


def _block_buildings(rng, inner, special):
    """Footprints (metric) and households for one compound, retried until the block holds 300–500 households."""
    minx, miny, maxx, maxy = inner
    while True:
        ncols, nrows = (2, 2) if special else (int(rng.integers(3, 6)), int(rng.integers(3, 5)))
        sw, sh = (maxx - minx) / ncols, (maxy - miny) / nrows
        feet, households, floors = [], [], []
        for r in range(nrows):
            for c in range(ncols):
                w, h = sw * rng.uniform(0.55, 0.75), min(sh * 0.6, rng.uniform(12.0, 16.0))
                cx, cy = minx + (c + 0.5) * sw, maxy - (r + 0.5) * sh
                feet.append(shapely.box(cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2))
                fl = int(rng.choice([6, 7, 9, 11, 18], p=[0.25, 0.2, 0.2, 0.2, 0.15]))
                units = int(rng.choice([1, 2, 3], p=[0.3, 0.5, 0.2]))
                floors.append(fl)
                households.append(0 if special else min(fl * units * 2, 96))
        total = sum(households)
        if special or 300 <= total <= 500:
            return feet, np.array(households), floors, ncols


def _groups(households, ncols):
    """Snake-order groups of buildings with 30–100 households each (None if the greedy split fails)."""
    n = len(households)
    nrows = n // ncols
    order = [r * ncols + (c if r % 2 == 0 else ncols - 1 - c) for r in range(nrows) for c in range(ncols)]
    groups, current, total = [], [], 0
    for i in order:
        if current and total >= 30 and total + households[i] > 100:
            groups.append(current)
            current, total = [], 0
        current.append(i)
        total += households[i]
    if total < 30 and groups:
        if sum(households[groups[-1]]) + total > 100:
            return None
        groups[-1] += current
    else:
        groups.append(current)
    if any(not 30 <= sum(households[g]) <= 100 for g in groups):
        return None
    return groups


def _exact_coverage(metric_areas) -> list[dict]:
    """Area rows in WGS84 whose neighbours share identical vertices, so every level tiles its parent exactly.

    Reprojection bends straight metric edges, so edges that meet at different vertices would open millimetre
    slivers. The micro-grids' boundaries are noded into faces first; every area is then the coverage union of
    its faces, reprojected vertex by vertex.
    """
    micro = [(row, g) for row, g in metric_areas if row["level"] == "micro_grid"]
    geoms = shapely.set_precision(np.array([g for _, g in micro], dtype=object), 0.001)
    faces = np.asarray(
        shapely.get_parts(shapely.polygonize(shapely.get_parts(shapely.union_all(shapely.boundary(geoms)))))
    )
    owner = shapely.STRtree(geoms).query(shapely.point_on_surface(faces), predicate="within")
    face_of = np.empty(len(faces), dtype="int64")
    face_of[owner[0]] = owner[1]
    faces = geometries_to_wgs84(faces, METRIC)
    members: dict[str, list[int]] = {}
    for m, (row, _) in enumerate(micro):
        code = row["code"]
        while code:
            members.setdefault(code, []).append(m)
            code = code[:-3] if len(code) > len(DISTRICT_CODE) else None
    rows = []
    for row, geom in metric_areas:
        if row["level"] == "district":
            wgs = geometries_to_wgs84(np.array([geom], dtype=object), METRIC)[0]
        else:
            wgs = shapely.coverage_union_all(faces[np.isin(face_of, members[row["code"]])])
        rows.append({"kind": "general", **row, "geometry": wgs})
    return rows


def build_demo(seed: int = 2026) -> DemoStreet:
    """Generate the demo street (deterministic for a seed)."""
    rng = np.random.default_rng(seed)
    to_metric = pyproj.Transformer.from_crs("EPSG:4326", METRIC, always_xy=True)
    cx, cy = to_metric.transform(*CENTER)
    left, top = round(cx - COLS * BLOCK_W / 2), round(cy + ROWS * BLOCK_H / 2)
    street_box = shapely.box(left, top - ROWS * BLOCK_H, left + COLS * BLOCK_W, top)
    demo = DemoStreet()
    metric_areas = []  # (row dict without geometry, metric geometry)
    street_code = DEFAULT_LAYOUT.child_code(DISTRICT_CODE, "street", 1)
    metric_areas.append(
        (
            {"code": DISTRICT_CODE, "level": "district", "name": "锦江区(示例)", "parent_code": None},
            street_box.buffer(600, join_style="mitre"),
        )
    )
    metric_areas.append(
        ({"code": street_code, "level": "street", "name": "芙蓉街道(示例)", "parent_code": DISTRICT_CODE}, street_box)
    )
    cols_per = COLS // len(COMMUNITIES)
    worker_rows, points = [], []
    grid_seq: dict[str, int] = {}
    for k, community in enumerate(COMMUNITIES):
        code = DEFAULT_LAYOUT.child_code(street_code, "community", k + 1)
        geom = shapely.box(
            left + k * cols_per * BLOCK_W, top - ROWS * BLOCK_H, left + (k + 1) * cols_per * BLOCK_W, top
        )
        metric_areas.append(({"code": code, "level": "community", "name": community, "parent_code": street_code}, geom))
        c = geom.centroid
        points.append(("community_centre", f"{community}党群服务中心", "08:30-18:00", None, c.x, c.y))
        points.append(("police", f"{community}警务室", "00:00-24:00", None, c.x + 60, c.y - 40))
    for r in range(ROWS):
        for c in range(COLS):
            community_code = DEFAULT_LAYOUT.child_code(street_code, "community", c // cols_per + 1)
            block = shapely.box(
                left + c * BLOCK_W, top - (r + 1) * BLOCK_H, left + (c + 1) * BLOCK_W, top - r * BLOCK_H
            )
            kind, unit = SPECIAL.get((r, c), ("general", None))
            grid_seq[community_code] = grid_seq.get(community_code, 0) + 1
            grid_code = DEFAULT_LAYOUT.child_code(community_code, "grid", grid_seq[community_code])
            compound = unit or COMPOUNDS[(r * COLS + c) % len(COMPOUNDS)] + SUFFIXES[(r + c) % len(SUFFIXES)]
            if unit is None and (r * COLS + c) >= len(COMPOUNDS):
                compound = f"{compound}{(r * COLS + c) // len(COMPOUNDS) + 1}期"
            metric_areas.append(
                (
                    {
                        "code": grid_code,
                        "level": "grid",
                        "name": f"{compound}网格",
                        "kind": kind,
                        "parent_code": community_code,
                    },
                    block,
                )
            )
            bminx, bminy, bmaxx, bmaxy = block.bounds
            inner = (
                bminx + ROAD_HALF + SETBACK,
                bminy + ROAD_HALF + SETBACK,
                bmaxx - ROAD_HALF - SETBACK,
                bmaxy - ROAD_HALF - SETBACK,
            )
            while True:
                feet, households, floors, ncols = _block_buildings(rng, inner, unit is not None)
                groups = [list(range(len(feet)))] if unit else _groups(households, ncols)
                if groups:
                    break
            centres = shapely.multipoints([f.centroid for f in feet])
            cells = shapely.intersection(
                np.asarray(shapely.get_parts(shapely.voronoi_polygons(centres, extend_to=block, ordered=True))), block
            )
            for m, group in enumerate(groups):
                mcode = DEFAULT_LAYOUT.child_code(grid_code, "micro_grid", m + 1)
                metric_areas.append(
                    (
                        {
                            "code": mcode,
                            "level": "micro_grid",
                            "name": f"{compound}第{m + 1}微网格",
                            "kind": kind,
                            "parent_code": grid_code,
                        },
                        shapely.union_all(cells[group]),
                    )
                )
                worker_rows.append(("micro_grid_worker", [mcode]))
                for i in group:
                    number = i + 1
                    demo.buildings.append(
                        {
                            "ref": f"{grid_code}-{number:02d}",
                            "name": f"{compound}{number}栋",
                            "address": f"{COMMUNITIES[c // cols_per]}{compound}{number}栋",
                            "floors": floors[i],
                            "households": int(households[i]),
                            "use": unit and kind or "residential",
                            "_geom": feet[i],
                        }
                    )
            worker_rows.append(("dedicated_worker" if unit else "grid_worker", [grid_code]))
            points.append(("grid_station", f"{compound}微网实格工作站", "09:00-17:30", None, bminx + 16, bminy + 16))
            if (r * COLS + c) % 17 == 3:
                points.append(("clinic", f"{compound}社区卫生服务站", "08:00-20:00", 200, bmaxx - 16, bmaxy - 16))
    demo.areas = _exact_coverage(metric_areas)
    feet = geometries_to_wgs84(np.array([b.pop("_geom") for b in demo.buildings], dtype=object), METRIC)
    pts = shapely.point_on_surface(feet)
    for b, geom, pt in zip(demo.buildings, feet, pts, strict=True):
        b.update(lon=float(pt.x), lat=float(pt.y), geometry=geom)
    sp_geoms = geometries_to_wgs84(shapely.points([(p[4], p[5]) for p in points]), METRIC)
    demo.service_points = [
        {
            "kind": p[0],
            "name": p[1],
            "opening_hours": p[2],
            "capacity": p[3],
            "address": "",
            "lon": float(g.x),
            "lat": float(g.y),
        }
        for p, g in zip(points, sp_geoms, strict=True)
    ]
    demo.workers = [(role, *_person(rng), codes) for role, codes in worker_rows]
    xs = [left + i * BLOCK_W for i in range(COLS + 1)]
    ys = [top - j * BLOCK_H for j in range(ROWS + 1)]
    lines = [shapely.LineString([(x, ys[-1]), (x, ys[0])]) for x in xs] + [
        shapely.LineString([(xs[0], y), (xs[-1], y)]) for y in ys
    ]
    demo.roads = list(geometries_to_wgs84(np.array(lines, dtype=object), METRIC))
    return demo


def load_demo(
    registry: Registry,
    seed: int = 2026,
    progress=None,
    actor: Actor = SYSTEM,
    clear: Iterable[Callable[[sa.Connection], None]] = (),
) -> DemoStreet:
    """Replace the registry's areas, generations and assets with the demo street, published as one generation.

    Parameters
    ----------
    registry : Registry
    seed : int
        Seed of the random names, phones and households.
    progress : callable, optional
        Called with 1 per worker written.
    actor : Actor
        Recorded in the audit log.
    clear : iterable of callables
        Each deletes another aggregate's rows in the open transaction before the registry clears its own
        (e.g. ``issues.storage.wipe``; ``issues.demo.rebuild_demo`` passes it), so the whole rebuild commits or
        rolls back at once. The registry knows no other aggregate's tables.

    Returns
    -------
    DemoStreet
    """
    demo = build_demo(seed)
    store = registry.store
    with store.transaction() as conn:
        for wipe in clear:
            wipe(conn)
        store.wipe(conn)
        generation = store.create_generation(conn, "示例数据 demo street")
        store.insert_areas(conn, [{**a, "generation_low": generation} for a in demo.areas])
        store.insert_rows(conn, "buildings", demo.buildings)
        store.insert_rows(conn, "service_points", demo.service_points)
        for role, name, phone, codes in demo.workers:
            store.insert_worker(conn, name, role, phone, codes)
            if progress:
                progress(1)
        generation = store.set_generation_state(conn, generation, "published")
        summary = {"areas": len(demo.areas), "buildings": len(demo.buildings), "seed": seed}
        record(conn, actor, "load_demo", "generation", generation, None, summary)
    return demo
