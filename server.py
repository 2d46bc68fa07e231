"""Weige 微格: entry point and command line.

python server.py                      # serve (builds the demo street on an empty data folder)
python server.py --help               # every command
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from tqdm import tqdm

__all__ = ["main"]


def _registry(args, prepare_on_publish: bool = False):
    from boundaries.registry import Registry
    from boundaries.storage import open_store

    return Registry(open_store(args.db), prepare_on_publish=prepare_on_publish)


def _layer(args):
    """The vector file of an import command, in WGS84 (see ``file_options``)."""
    from geo.io import read_vector

    return read_vector(args.file, crs=args.crs, encoding=args.encoding)


def _actor():
    from accounts.cli import cli_actor

    return cli_actor()


def _demo(args, registry=None) -> None:
    from boundaries.demo import load_demo

    registry = registry or _registry(args)
    with tqdm(desc="生成示例数据 demo street", unit=" workers") as bar:
        seed = args.seed if hasattr(args, "seed") else 2026
        demo = load_demo(registry, seed=seed, progress=bar.update, actor=_actor())
    print(
        f"示例街道已生成 demo street: {len(demo.areas)} areas, {len(demo.buildings)} buildings, "
        f"{len(demo.service_points)} service points, {len(demo.workers)} workers"
    )
    _demo_users(args, registry)
    from issues.demo import load_demo_issues
    from web.settings import issue_desk

    report = load_demo_issues(issue_desk(registry, args.settings), actor=_actor())
    print(f"示例事件 demo issues: {report.imported} ({report.skipped} already there)")


def _demo_users(args, registry) -> None:
    from accounts.cli import cli_actor, print_logins
    from accounts.demo import create_demo_users

    logins = create_demo_users(registry, actor=cli_actor())
    port = getattr(args, "port", 5000)
    print_logins(logins, f"http://127.0.0.1:{port}/login")
    if logins and args.db.startswith("sqlite:///"):
        path = Path(args.db.removeprefix("sqlite:///")).parent / "demo-logins.txt"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            for login in logins:
                fh.write(f"{login['name']}\t{login['role']}\t{login.get('password') or login.get('token')}\n")
        print(f"  也已写入 also written to {path} (仅本机用户可读 readable by you only)")


def _serve(args) -> None:
    from waitress import serve

    from accounts.users import list_users
    from web import create_app

    registry = _registry(args, prepare_on_publish=True)
    if registry.store.current_generation_id() is None and not registry.store.generations():
        print("数据目录为空，生成示例数据 empty data folder: building the demo street")
        _demo(args, registry)
    elif not list_users(registry):
        if not registry.areas(codes=["510104"]).empty:  # the demo street from before accounts existed
            _demo_users(args, registry)
        else:
            print("尚无用户 no users yet: python server.py users create admin --role admin")
    config = {**args.settings, "DATABASE_URL": args.db, "REGISTRY": registry}
    app = create_app(config)
    if app.config["SESSION_COOKIE_SECURE"] and args.host not in ("127.0.0.1", "localhost", "::1"):
        print(
            "注意 note: 登录 Cookie 仅通过 HTTPS 发送 session cookies are Secure: serve behind HTTPS, or set "
            '"SESSION_COOKIE_SECURE": false in --config for a plain-HTTP intranet'
        )
    print(f"微格 Weige: http://{args.host}:{args.port}/  (API: /api/v1, OpenAPI: /api/v1/openapi.json)")
    serve(app, host=args.host, port=args.port, threads=8)


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


def _import_areas(args) -> None:
    from boundaries.importer import import_areas

    gdf = _layer(args)
    report = import_areas(
        _registry(args),
        gdf,
        args.level,
        parent=args.parent,
        code_field=args.code_field,
        name_field=args.name_field,
        kind_field=args.kind_field,
        parent_field=args.parent_field,
        repair=not args.no_repair,
        publish=args.publish,
        actor=_actor(),
    )
    _print_report(report)


def _print_asset_report(report, label: str) -> None:
    r = report.as_dict()
    print(
        f"{label}: {r['count']} in the file (matched by {r['matched_by']}): {r['added']} added, "
        f"{r['updated']} updated, {r['unchanged']} unchanged"
        + (f", {r['removed']} removed (--replace)" if r["replace"] else "")
        + (f"; {r['merged']} pieces merged into features sharing an id" if r["merged"] else "")
    )


def _import_buildings(args) -> None:
    from boundaries.assets import import_buildings

    gdf = _layer(args)
    n = import_buildings(
        _registry(args),
        gdf,
        name_field=args.name_field,
        address_field=args.address_field,
        floors_field=args.floors_field,
        households_field=args.households_field,
        height_field=args.height_field,
        use_field=args.use_field,
        id_field=args.id_field,
        replace=args.replace,
        actor=_actor(),
    )
    _print_asset_report(n, "导入建筑 buildings")


def _import_service_points(args) -> None:
    from boundaries.assets import import_service_points

    gdf = _layer(args)
    n = import_service_points(
        _registry(args),
        gdf,
        kind=args.kind,
        kind_field=args.kind_field,
        name_field=args.name_field,
        hours_field=args.hours_field,
        capacity_field=args.capacity_field,
        id_field=args.id_field,
        replace=args.replace,
        actor=_actor(),
    )
    _print_asset_report(n, "导入服务点 service points")


def _import_issues(args) -> None:
    import csv

    from issues.bulk import import_issues, read_issue_table
    from web.settings import issue_desk

    frame = read_issue_table(args.file, encoding=args.encoding)
    desk = issue_desk(_registry(args), args.settings)
    start = time.perf_counter()
    with tqdm(total=len(frame), desc="导入事件 importing issues", unit=" rows") as bar:
        report = import_issues(
            desk, frame, args.crs or "wgs84", _actor(), bar.update, source=str(args.file), timezone=args.timezone
        )
    elapsed = time.perf_counter() - start
    if report.errors:
        out = Path(args.errors or f"{args.file}.errors.csv")
        with out.open("w", newline="", encoding="utf-8-sig") as fh:
            writer = csv.DictWriter(fh, fieldnames=["row", "column", "value", "message"])
            writer.writeheader()
            writer.writerows(report.errors)
        for error in report.errors[:20]:
            print(f"  第 {error['row']} 行 row, {error['column']} = {error['value']!r}: {error['message']}")
        raise SystemExit(
            f"未导入 nothing imported: {len(report.errors)} error(s) in {report.rows} rows; full list in {out}"
        )
    print(
        f"导入事件 imported {report.imported} issues ({report.skipped} already imported, "
        f"{report.unlocated} outside any micro-grid, {report.routed} open ones routed) in {elapsed:.1f}s; "
        f"times without an offset read in {report.timezone} 无时区的时间按 {report.timezone} 读取"
    )


def _import_roads(args) -> None:
    from boundaries.assets import import_roads

    gdf = _layer(args)
    report = import_roads(
        _registry(args),
        gdf,
        name_field=args.name_field,
        kind_field=args.kind_field,
        id_field=args.id_field,
        replace=args.replace,
        actor=_actor(),
    )
    _print_asset_report(report, "导入道路 road centre lines")


def _coverage(args) -> None:
    from boundaries.scope import Scope, ScopedRegistry
    from serving.analysis import analyse
    from serving.optimize import suggest
    from serving.report import write_report

    view = ScopedRegistry(_registry(args), Scope.everything(), _actor())
    reach_table = args.settings.get("COVERAGE_REACH")
    start = time.perf_counter()
    result = analyse(view, args.kind, args.reach, args.network, args.area, reach_table)
    write_report(result, args.out_file)
    s = result.summary()
    print(
        f"{args.kind} 覆盖 coverage ({s['reach_m']:g} m, {'network' if args.network else 'straight line'}): "
        f"{s['households_covered']:,} / {s['households']:,} households ({(s['covered_share'] or 0):.1%}), "
        f"{s['buildings_uncovered']:,} of {s['buildings']:,} buildings uncovered "
        f"({s['buildings_unreachable']:,} out of reach), nearest p50 "
        f"{'beyond reach' if s['nearest_m']['p50'] is None else str(s['nearest_m']['p50']) + ' m'} "
        f"→ {args.out_file} ({time.perf_counter() - start:.1f}s)"
    )
    if args.suggest:
        found = suggest(result, "mclp", args.suggest)
        for _, site in found.new_sites.iterrows():
            where = f"{site.geometry.x:.6f},{site.geometry.y:.6f}"
            print(f"  建议 suggest {site['candidate']} at {where}: +{site['households_added']} households")


def _export(args) -> None:
    from boundaries import assets
    from geo.io import write_vector

    registry = _registry(args)
    frame = registry.areas(level=args.level, generation=args.generation)
    counts = assets.household_counts(registry, args.generation)
    frame = frame.drop(columns=["id"]).merge(counts, left_on="code", right_index=True, how="left")
    write_vector(frame, args.file, crs=args.crs)
    print(f"导出 exported {len(frame)} {args.level} areas to {args.file}")


def _locate(args) -> None:
    import numpy as np
    import pandas as pd
    import shapely

    from geo.io import TABLE_SUFFIXES, read_points_table, read_vector, write_vector

    path = Path(args.in_file)
    registry = _registry(args)
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


def _publish(args) -> None:
    from accounts.cli import cli_actor

    print(f"已发布版本 published generation {_registry(args).publish(cli_actor())}")


def _discard(args) -> None:
    from accounts.cli import cli_actor

    print(f"已丢弃草稿 discarded draft generation {_registry(args).discard_draft(cli_actor())}")


def _generations(args) -> None:
    for g in _registry(args).generations():
        mark = "*" if g["current"] else " "
        print(f"{mark} {g['id']:>4} {g['state']:<10} {g['created_at']:%Y-%m-%d %H:%M} {g['note']}")


def _parser() -> argparse.ArgumentParser:
    from web import default_database_url

    p = argparse.ArgumentParser(
        prog="server.py",
        description="微格 Weige: 微网实格 GIS service",
        epilog="--db and --config may stand before or after the command; with no command, serve "
        "(python server.py --port 5101).",
    )
    p.add_argument("--db", default=None, help="SQLAlchemy URL (default: SQLite file in $WEIGE_DATA or ./data)")
    p.add_argument("--config", default=None, help="JSON file of app settings (e.g. WEIGE_TILES)")
    sub = p.add_subparsers(dest="command")

    s = sub.add_parser("serve", help="run the web service (default)")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=int(os.environ.get("PORT", 5000)))
    s.set_defaults(func=_serve)

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
    s.set_defaults(func=_import_areas)

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
    s.set_defaults(func=_import_buildings)

    s = sub.add_parser("import-service-points", help="import service points")
    file_options(s)
    s.add_argument("--kind", default=None, help="kind of every point (e.g. grid_station, clinic, police)")
    for f in ("kind", "hours", "capacity"):
        s.add_argument(f"--{f}-field", default=None)
    asset_import_options(s, "service points of the imported kinds")
    s.set_defaults(func=_import_service_points)

    s = sub.add_parser("import-roads", help="import road centre lines (for network reach of service points)")
    file_options(s)
    s.add_argument("--kind-field", default=None, help="road kind (rail, ferry, motorway … are not walked)")
    asset_import_options(s, "roads")
    s.set_defaults(func=_import_roads)

    s = sub.add_parser("coverage", help="service-point coverage report (.xlsx, .csv per area, .geojson buildings)")
    s.add_argument("out_file")
    s.add_argument("--kind", required=True, help="service-point kind, e.g. police, clinic, grid_station")
    s.add_argument("--reach", type=float, default=None, help="metres (default: COVERAGE_REACH of the kind, else 500)")
    s.add_argument("--network", action="store_true", help="measure along the walking network (needs roads)")
    s.add_argument("--area", default=None, help="area code (default: everything)")
    s.add_argument("--suggest", type=int, default=None, help="also suggest K new sites (maximal covering)")
    s.set_defaults(func=_coverage)

    s = sub.add_parser("import-issues", help="import historical issues from CSV or Excel (all rows or none)")
    s.add_argument("file")
    s.add_argument("--crs", default=None, help="CRS of rows without a crs column (default wgs84)")
    s.add_argument("--encoding", default=None, help="CSV encoding (default: UTF-8, else GB18030)")
    s.add_argument("--errors", default=None, help="where to write the error report (default FILE.errors.csv)")
    s.add_argument(
        "--timezone", default=None, help="IANA zone of times without an offset (default: the WORK_CALENDAR zone)"
    )
    s.set_defaults(func=_import_issues)

    s = sub.add_parser("export", help="export one level's areas to a file (.geojson .gpkg .zip .kml .csv)")
    s.add_argument("level")
    s.add_argument("file")
    s.add_argument("--generation", type=int, default=None)
    s.add_argument("--crs", default="wgs84", help="CRS to write (default wgs84)")
    s.set_defaults(func=_export)

    s = sub.add_parser("locate", help="add code, name and status columns to a file of points")
    s.add_argument("in_file")
    s.add_argument("out_file")
    s.add_argument("--level", default=None)
    s.add_argument("--generation", type=int, default=None)
    s.add_argument("--crs", default=None)
    s.add_argument("--lon", default=None, help="longitude column of a CSV (detected when omitted)")
    s.add_argument("--lat", default=None, help="latitude column of a CSV (detected when omitted)")
    s.set_defaults(func=_locate)

    sub.add_parser("publish", help="publish the draft generation").set_defaults(func=_publish)
    sub.add_parser("discard", help="discard the draft generation").set_defaults(func=_discard)
    sub.add_parser("generations", help="list generations").set_defaults(func=_generations)
    from accounts.cli import register

    register(sub, _registry)
    s = sub.add_parser("demo", help="rebuild the demo street (replaces all data; creates demo users if missing)")
    s.add_argument("--seed", type=int, default=2026)
    s.set_defaults(func=_demo)
    p.set_defaults(default_db=default_database_url)
    return p


#: Options every command takes, before or after the command's name.
_GLOBAL_OPTIONS = ("--db", "--config")


def _split_global(argv: list[str]) -> tuple[list[str], list[str]]:
    """``argv`` as (global options, the rest): ``--db``/``--config`` may stand anywhere on the line."""
    global_args, rest, i = [], [], 0
    while i < len(argv):
        token = argv[i]
        name = token.split("=", 1)[0]
        if name in _GLOBAL_OPTIONS:
            if "=" in token:
                global_args.append(token)
            elif i + 1 < len(argv):
                global_args += [token, argv[i + 1]]
                i += 1
            else:
                global_args.append(token)  # argparse names the missing value
        elif token == "--":
            rest += argv[i:]
            break
        else:
            rest.append(token)
        i += 1
    return global_args, rest


def _with_command(parser: argparse.ArgumentParser, rest: list[str]) -> list[str]:
    """``rest`` with ``serve`` put first when it names no command (``server.py --port 5101`` serves)."""
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    first = next((t for t in rest if not t.startswith("-")), None)
    if first in commands or (first is None and {"-h", "--help"} & set(rest)):
        return rest
    return ["serve", *rest]


def main(argv=None) -> int:
    """Run the command line; returns the exit status."""
    from boundaries.errors import RegistryError
    from geo.errors import GeoError
    from web.settings import SettingsError, load_settings

    parser = _parser()
    global_args, rest = _split_global(list(sys.argv[1:] if argv is None else argv))
    args = parser.parse_args([*global_args, *_with_command(parser, rest)])
    try:
        args.settings = load_settings(args.config)
    except SettingsError as exc:
        print(f"错误 error: {exc}", file=sys.stderr)
        return 2
    args.db = args.db or args.settings.get("DATABASE_URL") or args.default_db()
    try:
        args.func(args)
    except (RegistryError, GeoError) as exc:
        print(f"错误 error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
