"""Command-line handlers of the registry: imports, export, locate, publish, discard, generations.

``server.py`` registers them (:func:`register`) beside the accounts' commands; each handler takes the parsed
arguments and the registry the global ``--db`` names.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from tqdm import tqdm

from accounts.cli import cli_actor

__all__ = ["register"]


def _layer(args):
    """The vector file of an import command, in WGS84 (see ``file_options``)."""
    from geo.io import read_vector

    return read_vector(args.file, crs=args.crs, encoding=args.encoding)


def _print_report(report) -> None:
    data = report.as_dict()
    print(
        f"导入 imported {data['count']} {data['level']} areas into draft generation {data['generation']}: "
        f"{data['added']} added, {data['changed']} changed, {data['unchanged']} unchanged, {data['retired']} retired"
    )
    for key, label in (
        ("repaired", "修复的无效面 repaired invalid polygons"),
        ("overlaps", "重叠 overlapping pairs"),
        ("gaps", "缝隙 gaps"),
        ("outside_parent", "超出上级 outside their parent"),
        ("named_by_code", "名称为空，以编码为名 blank names, named by their code"),
    ):
        items = data[key]
        print(f"  {label}: {len(items)}")
        for item in items[:20]:
            print(f"    {json.dumps(item, ensure_ascii=False)}")
        if len(items) > 20:
            print(f"    … {len(items) - 20} more")
    print(
        "  已发布 published"
        if data["published"]
        else "  草稿未发布 draft not published: run `python server.py publish`"
    )


def _import_areas(args, registry) -> None:
    from boundaries.importer import import_areas

    gdf = _layer(args)
    report = import_areas(
        registry,
        gdf,
        args.level,
        parent=args.parent,
        code_field=args.code_field,
        name_field=args.name_field,
        kind_field=args.kind_field,
        parent_field=args.parent_field,
        repair=not args.no_repair,
        publish=args.publish,
        actor=cli_actor(),
    )
    _print_report(report)


def _print_asset_report(report, label: str) -> None:
    r = report.as_dict()
    print(
        f"{label}: {r['count']} in the file (matched by {r['matched_by']}): {r['added']} added, "
        f"{r['updated']} updated, {r['unchanged']} unchanged"
        + (f", {r['removed']} removed (--replace)" if r["replace"] else "")
        + (f"; {r['merged']} pieces merged into features sharing an id" if r["merged"] else "")
        + (
            f"; {r['taken_over']} stored piece(s) without an id taken over by the features that cover them (removed)"
            if r["taken_over"]
            else ""
        )
    )
    if r["left"]:
        what = r["object_type"].replace("_", " ")
        print(
            f"  注意 note: 文件中没有的 {r['left']} 条已存记录被保留 {r['left']} stored {what}(s) not in the file were "
            "kept (earlier imports or pieces no feature covers); run again with --replace to remove them"
        )


def _import_assets(args, registry, function: str, label: str, **fields) -> None:
    """Run one of ``boundaries.assets``' imports on the command's file and print its report."""
    from boundaries import assets

    report = getattr(assets, function)(
        registry,
        _layer(args),
        name_field=args.name_field,
        id_field=args.id_field,
        replace=args.replace,
        actor=cli_actor(),
        **fields,
    )
    _print_asset_report(report, label)


def _import_buildings(args, registry) -> None:
    fields = {f"{f}_field": getattr(args, f"{f}_field") for f in ("address", "floors", "households", "height", "use")}
    _import_assets(args, registry, "import_buildings", "导入建筑 buildings", **fields)


def _import_service_points(args, registry) -> None:
    fields = {"kind": args.kind, "kind_field": args.kind_field, "hours_field": args.hours_field}
    _import_assets(
        args,
        registry,
        "import_service_points",
        "导入服务点 service points",
        capacity_field=args.capacity_field,
        **fields,
    )


def _import_roads(args, registry) -> None:
    _import_assets(args, registry, "import_roads", "导入道路 road centre lines", kind_field=args.kind_field)


def _export(args, registry) -> None:
    from boundaries import assets
    from geo.io import write_vector

    registry = registry
    frame = registry.areas(level=args.level, generation=args.generation)
    counts = assets.household_counts(registry, args.generation)
    frame = frame.drop(columns=["id"]).merge(counts, left_on="code", right_index=True, how="left")
    write_vector(frame, args.file, crs=args.crs)
    print(f"导出 exported {len(frame)} {args.level} areas to {args.file}")


def _locate(args, registry) -> None:
    import numpy as np
    import pandas as pd
    import shapely

    from geo.io import TABLE_SUFFIXES, read_points_table, read_vector, write_vector

    path = Path(args.in_file)
    registry = registry
    table = path.suffix.lower() in TABLE_SUFFIXES
    if table:
        if not path.exists():
            raise SystemExit(f"文件不存在 file not found: {path}")
        frame = read_points_table(path, crs=args.crs, lon=args.lon, lat=args.lat, keep_invalid=True)
    else:
        frame = read_vector(path, crs=args.crs)
    geoms = np.asarray(frame.geometry.values, dtype=object)
    valid = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    if (shapely.get_type_id(geoms[valid]) != 0).any():
        raise SystemExit("只能定位点 locate needs point features")
    xs, ys = shapely.get_x(geoms[valid]), shapely.get_y(geoms[valid])
    level = args.level or registry.lowest_level(args.generation)
    registry.index(level, args.generation)  # build the index before timing
    start, parts = time.perf_counter(), []
    step = 500_000
    for i in tqdm(range(0, len(xs), step), desc="定位 locating", unit=" chunks"):
        parts.append(registry.locate(xs[i : i + step], ys[i : i + step], level=level, generation=args.generation))
    elapsed = time.perf_counter() - start
    code, name, status = (np.full(len(frame), v, dtype=object) for v in ("", "", "invalid"))
    if parts:
        result = pd.concat(parts, ignore_index=True)
        code[valid], name[valid], status[valid] = (result[c].to_numpy(dtype=object) for c in ("code", "name", "status"))
    out = frame.assign(code=code, name=name, status=status)
    out_path = Path(args.out_file)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    suffix = out_path.suffix.lower()
    if suffix == ".xlsx":
        pd.DataFrame(out.drop(columns="geometry")).to_excel(out_path, index=False)
    elif suffix == ".csv" and table:
        out.drop(columns="geometry").to_csv(out_path, index=False, encoding="utf-8-sig")
    else:
        write_vector(out, out_path)
    counts = {str(k): int(v) for k, v in zip(*np.unique(status.astype(str), return_counts=True), strict=True)}
    print(f"定位 located {int(valid.sum())} of {len(out)} points in {elapsed:.2f}s: {counts} → {out_path}")
    if not valid.all():
        rows = np.flatnonzero(~valid) + (2 if table else 1)  # the file's rows: a table's header is row 1
        listed = ", ".join(str(r) for r in rows[:20]) + (f" … {len(rows) - 20} more" if len(rows) > 20 else "")
        print(f"  无效坐标 rows without valid coordinates (status=invalid): {listed}")


def _publish(args, registry) -> None:
    print(f"已发布版本 published generation {registry.publish(cli_actor(), change_set=args.change_set)}")


def _discard(args, registry) -> None:
    generation = registry.discard_draft(cli_actor(), change_set=args.change_set)
    print(f"已丢弃变更集 discarded change set {generation}")


def _rebase(args, registry) -> None:
    done = registry.rebase(cli_actor(), change_set=args.change_set)
    print(
        f"变更集 {done['change_set']} 已基于版本 {done['base_generation']} change set {done['change_set']} now "
        f"builds on generation {done['base_generation']} ({len(done['codes'])} areas of its own)"
    )


def _generations(args, registry) -> None:
    for g in registry.generations():
        mark = "*" if g["current"] else " "
        origin = f"base {g['base_generation']}" if g["state"] == "draft" else ""
        if g.get("change_set"):
            origin = f"change set {g['change_set']}"
        print(
            f"{mark} {g['id']:>4} {g['state']:<10} {g['created_at']:%Y-%m-%d %H:%M} {g['author'] or '-':<16} "
            f"{origin:<14} {g['note']}"
        )


def register(sub, registry_of) -> None:
    """Add the registry's commands to ``sub``; ``registry_of(args)`` opens the registry."""

    def run(handler):
        return lambda args: handler(args, registry_of(args))

    def file_options(sp):
        sp.add_argument("file")
        sp.add_argument(
            "--crs", default=None, help="CRS of the coordinates: wgs84 | cgcs2000 | gcj02 | bd09 | EPSG code"
        )
        sp.add_argument(
            "--encoding", default=None, help="attribute encoding (detected for Shapefiles: UTF-8 or GB18030)"
        )
        sp.add_argument("--name-field", default=None)

    s = sub.add_parser("import-areas", help="import areas of one level into the draft generation")
    file_options(s)
    s.add_argument("--level", required=True)
    s.add_argument("--parent", default=None, help="code of the parent of every area")
    s.add_argument("--parent-field", default=None)
    s.add_argument("--code-field", default=None)
    s.add_argument("--kind-field", default=None)
    s.add_argument("--no-repair", action="store_true", help="refuse invalid polygons instead of repairing them")
    s.add_argument("--publish", action="store_true", help="publish the draft after importing")
    s.set_defaults(func=run(_import_areas))

    def asset_import_options(sp, what):
        sp.add_argument(
            "--id-field", default=None, help="source id field: matches features to stored ones (else same geometry)"
        )
        sp.add_argument("--replace", action="store_true", help=f"remove stored {what} the file does not hold")

    s = sub.add_parser("import-buildings", help="import building footprints (again: matched, not duplicated)")
    file_options(s)
    for f in ("address", "floors", "households", "height", "use"):
        s.add_argument(f"--{f}-field", default=None)
    asset_import_options(s, "buildings")
    s.set_defaults(func=run(_import_buildings))

    s = sub.add_parser("import-service-points", help="import service points")
    file_options(s)
    s.add_argument("--kind", default=None, help="kind of every point (e.g. grid_station, clinic, police)")
    for f in ("kind", "hours", "capacity"):
        s.add_argument(f"--{f}-field", default=None)
    asset_import_options(s, "service points of the imported kinds")
    s.set_defaults(func=run(_import_service_points))

    s = sub.add_parser("import-roads", help="import road centre lines (for network reach of service points)")
    file_options(s)
    s.add_argument("--kind-field", default=None, help="road kind (rail, ferry, motorway … are not walked)")
    asset_import_options(s, "roads")
    s.set_defaults(func=run(_import_roads))

    s = sub.add_parser("export", help="export one level's areas to a file (.geojson .gpkg .zip .kml .csv)")
    s.add_argument("level")
    s.add_argument("file")
    s.add_argument("--generation", type=int, default=None)
    s.add_argument("--crs", default="wgs84", help="CRS to write (default wgs84)")
    s.set_defaults(func=run(_export))

    s = sub.add_parser("locate", help="add code, name and status columns to a file of points")
    s.add_argument("in_file")
    s.add_argument("out_file")
    s.add_argument("--level", default=None)
    s.add_argument("--generation", type=int, default=None)
    s.add_argument("--crs", default=None)
    s.add_argument("--lon", default=None, help="longitude column of a CSV (detected when omitted)")
    s.add_argument("--lat", default=None, help="latitude column of a CSV (detected when omitted)")
    s.set_defaults(func=run(_locate))

    for name, handler, what in (
        ("publish", _publish, "publish a change set (default: the command line's own)"),
        ("discard", _discard, "discard a change set (default: the command line's own)"),
        ("rebase", _rebase, "move a change set onto the current generation (its own areas win)"),
    ):
        s = sub.add_parser(name, help=what)
        s.add_argument("--change-set", type=int, default=None, help="id of an open change set (see generations)")
        s.set_defaults(func=run(handler))
    sub.add_parser("generations", help="list generations").set_defaults(func=run(_generations))
