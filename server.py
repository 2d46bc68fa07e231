"""Weige 微格: entry point and command line.

python server.py                      # serve (builds the demo street on an empty data folder)
python server.py --help               # every command
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path

from tqdm import tqdm

__all__ = ["main"]


def _registry(args, prepare_on_publish: bool = False):
    from boundaries.registry import Registry
    from boundaries.storage import open_store

    return Registry(open_store(args.db), prepare_on_publish=prepare_on_publish)


def _actor():
    from accounts.cli import cli_actor

    return cli_actor()


def _demo(args, registry=None) -> None:
    from issues.demo import rebuild_demo

    registry = registry or _registry(args)
    with tqdm(desc="生成示例数据 demo street", unit=" workers") as bar:
        seed = args.seed if hasattr(args, "seed") else 2026
        demo = rebuild_demo(registry, seed=seed, progress=bar.update, actor=_actor())
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

    _check_port_free(args.host, args.port)
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
    current = registry.store.current_generation_id()
    if current is not None:  # the map's first tiles should not wait for the whole level's simplification
        threading.Thread(target=registry.warm_map_layers, args=(current,), name="map-layers", daemon=True).start()
    if app.config["SESSION_COOKIE_SECURE"] and args.host not in ("127.0.0.1", "localhost", "::1"):
        print(
            "注意 note: 登录 Cookie 仅通过 HTTPS 发送 session cookies are Secure: serve behind HTTPS, or set "
            '"SESSION_COOKIE_SECURE": false in --config for a plain-HTTP intranet'
        )
    print(f"微格 Weige: http://{args.host}:{args.port}/  (API: /api/v1, OpenAPI: /api/v1/openapi.json)")
    # Behind a reverse proxy (RATELIMIT_PROXY_HOPS), waitress must pass X-Forwarded-For on: by default it drops
    # headers of untrusted proxies, and every client would count as the proxy's address (web/limits.py).
    proxied = {"clear_untrusted_proxy_headers": False} if app.config.get("RATELIMIT_PROXY_HOPS") else {}
    serve(app, host=args.host, port=args.port, threads=8, **proxied)


def _check_port_free(host: str, port: int) -> None:
    """Refuse to start (clearly, before any work) when the address cannot be bound."""
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise SystemExit(f"错误 error: 无法解析主机 cannot resolve host {host!r}: {exc}") from exc
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            raise SystemExit(
                f"错误 error: 端口 {port} 无法使用 cannot listen on {host}:{port} ({exc.strerror}): "
                "is another server running? choose another with --port"
            ) from exc


def _port(text: str) -> int:
    """A TCP port number, 1–65535 (argparse type)."""
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"端口应为 1–65535 port must be a number from 1 to 65535, not {text!r}")
    return port


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


def _coverage(args) -> None:
    from boundaries.scope import ScopedRegistry
    from core.scope import Scope
    from serving.analysis import analyse
    from serving.optimize import suggest
    from serving.report import write_report

    out = Path(args.out_file)
    if out.suffix.lower() not in (".xlsx", ".csv", ".geojson"):
        raise SystemExit(f"错误 error: 报告格式应为 the report must be .xlsx, .csv or .geojson, not {out.name!r}")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SystemExit(f"错误 error: 无法创建输出目录 cannot create the folder of {out}: {exc.strerror}") from exc
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
    s.add_argument("--port", type=_port, default=_port(os.environ.get("PORT", "5000")))
    s.set_defaults(func=_serve)

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

    from boundaries.cli import register as register_boundaries

    register_boundaries(sub, _registry)
    from accounts.cli import register

    register(sub, _registry)
    from patrols.cli import register as register_patrols

    register_patrols(sub, _registry)
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


def _missing_sqlite_folder(url: str) -> Path | None:
    """The folder of a SQLite file URL when it does not exist (commands other than serve never create it)."""
    if not url.startswith("sqlite:///") or ":memory:" in url:
        return None
    folder = Path(url.removeprefix("sqlite:///")).parent
    return None if folder.is_dir() else folder


def main(argv=None) -> int:
    """Run the command line; returns the exit status."""
    from sqlalchemy import exc as sa_exc

    from core.errors import RegistryError
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
    named = args.db or args.settings.get("DATABASE_URL")  # the default folder (./data) is created when needed
    args.db = named or args.default_db()
    folder = _missing_sqlite_folder(args.db) if named and args.command not in ("serve", "demo") else None
    if folder is not None:  # a mistyped --db would otherwise create an empty database somewhere
        print(f"错误 error: 数据库目录不存在 no such folder {folder} for the database {args.db!r}", file=sys.stderr)
        return 2
    try:
        args.func(args)
    except (RegistryError, GeoError) as exc:
        print(f"错误 error: {exc}", file=sys.stderr)
        return 2
    except (sa_exc.ArgumentError, sa_exc.NoSuchModuleError, sa_exc.OperationalError) as exc:
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        print(f"错误 error: 无法打开数据库 cannot open the database {args.db!r}: {reason}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
