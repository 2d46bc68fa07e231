"""The store: every SQL statement of the registry, written in portable SQLAlchemy Core.

Geometries travel as WKB bytes in EPSG:4326 with their bounding box, so bounding-box filters are plain
column comparisons that SQLite and PostgreSQL both index. Where the database has a spatial index, a window is
narrowed by it first and then compared exactly on the box columns, so every backend returns the same rows: SQLite's
R*Tree of building boxes (:mod:`boundaries.storage.sqlite`) and PostGIS's GiST index of the generated ``geom``
columns (:mod:`boundaries.storage.postgis`, ``Store.spatial == "postgis"``). Callers do not change.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

import pandas as pd
import shapely
import sqlalchemy as sa

from boundaries.storage import postgis
from boundaries.storage.change_sets import ChangeSetStore
from boundaries.storage.copying import copy_dicts, copy_frame
from boundaries.storage.features import FeatureStore
from boundaries.storage.geometry import decode, decode_rows, encode_rows
from boundaries.storage.leases import LeaseStore
from core.storage import tables as t
from core.storage.schema import upgrade_schema

__all__ = ["Store", "open_store"]

_BATCH = 5000
#: From this many area rows an insert goes by ``COPY`` on PostgreSQL (below, one ``INSERT`` costs less).
_COPY_FROM = 50


def open_store(url: str) -> Store:
    """Open (and migrate) the store at a SQLAlchemy URL; ``sqlite:///path`` is the embedded default."""
    if url.startswith("sqlite"):
        from boundaries.storage.sqlite import sqlite_engine

        engine = sqlite_engine(url)
    else:
        engine = sa.create_engine(url, pool_pre_ping=True)
        if engine.dialect.name == "postgresql":
            # Many rows in one INSERT … VALUES statement per 1,000 (as SQLAlchemy does for psycopg2): psycopg 3's
            # executemany sends one statement per row, and each fired the statement-level revision trigger
            # (migration 0007), whose updates of one row in one transaction made bulk inserts quadratic (30,000
            # buildings took 5.5 s, 300,000 did not finish in 8 minutes).
            engine.dialect.use_insertmanyvalues_wo_returning = True
    upgrade_schema(engine)
    postgis.catch_up(engine)
    return Store(engine)


def _bbox_filter(table, bbox):
    """Rows whose stored box meets ``bbox`` (edges touching count); points (no box columns) by ``lon`` / ``lat``."""
    minx, miny, maxx, maxy = bbox
    c = table.c
    if "maxx" not in c:
        return sa.and_(c.lon.between(minx, maxx), c.lat.between(miny, maxy))
    return sa.and_(c.maxx >= minx, c.minx <= maxx, c.maxy >= miny, c.miny <= maxy)


def _compiled(statement, dialect) -> tuple[str, tuple | dict]:
    """A statement's SQL and parameters in the driver's own style."""
    compiled = statement.compile(dialect=dialect)
    params = compiled.construct_params()
    if compiled.positional:
        params = tuple(params[name] for name in compiled.positiontup)
    return str(compiled), params


def _copies(conn: sa.Connection) -> bool:
    """Whether bulk writes in ``conn`` go by ``COPY``: PostgreSQL through psycopg 3."""
    return conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg"


def _fetch_tuples(conn: sa.Connection, statement) -> list[tuple]:
    """Rows of a plain SELECT (no type conversion needed) as the driver's tuples: no per-row objects."""
    sql, params = _compiled(statement, conn.dialect)
    cursor = conn.connection.dbapi_connection.cursor()
    try:
        cursor.execute(sql, params)
        return cursor.fetchall()
    finally:
        cursor.close()


class Store(ChangeSetStore, LeaseStore, FeatureStore):
    """All reads and writes of the registry. Methods taking ``conn`` run inside :meth:`transaction`."""

    def __init__(self, engine: sa.Engine):
        self.engine = engine
        # SQLite has one writer at a time; threads of this process queue on a lock instead of sleeping in
        # SQLite's busy handler (whose back-off adds tens of milliseconds under contention).
        self._write_lock = threading.Lock() if engine.dialect.name == "sqlite" else contextlib.nullcontext()
        self._published: set[int] = set()  # published generations never change state again
        self._snapshot_sql = None  # (sql, params) of snapshot(), compiled on first use
        self._rtree: bool | None = None  # buildings have an R*Tree (SQLite, migration 0012); looked up once
        #: ``"postgis"`` when the database has PostGIS's geometry columns (migration 0018), else None; looked up once
        self.spatial: str | None = "postgis" if postgis.has_postgis(engine) else None

    def _window(self, table: sa.Table, bbox):
        """The condition selecting rows of ``table`` whose box (points: ``lon`` / ``lat``) meets ``bbox``.

        A spatial index narrows first where there is one (PostGIS's GiST, SQLite's R*Tree of buildings) and the
        exact box-column comparison decides, so every backend selects the same rows.
        """
        exact = _bbox_filter(table, bbox)
        if self.spatial == "postgis":
            return sa.and_(postgis.envelope_filter(table, bbox), exact)
        if table is not t.buildings:
            return exact
        if self._rtree is None:
            from boundaries.storage.sqlite import has_rtree

            self._rtree = has_rtree(self.engine, "buildings")
        if not self._rtree:
            return exact
        from boundaries.storage.sqlite import rtree_ids

        return sa.and_(t.buildings.c.id.in_(rtree_ids("buildings", bbox)), exact)

    def _building_window(self, bbox):
        """The condition selecting buildings whose box meets ``bbox`` (see :meth:`_window`)."""
        return self._window(t.buildings, bbox)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sa.Connection]:
        """A connection in one transaction: committed on success, rolled back on any error."""
        with self._write_lock, self.engine.connect() as conn:
            conn.execution_options(weige_write=True)
            with conn.begin():
                yield conn

    def _read(self, statement, conn: sa.Connection | None = None) -> list[dict]:
        """Rows as dicts, ``geometry`` decoded to shapely (read in ``conn`` when given)."""
        if conn is not None:
            return decode_rows([dict(row) for row in conn.execute(statement).mappings()])
        with self.engine.connect() as conn:
            return decode_rows([dict(row) for row in conn.execute(statement).mappings()])

    # -- areas -------------------------------------------------------------------------------------
    def insert_areas(self, conn: sa.Connection, rows: list[dict]) -> None:
        """Insert area rows (``geometry`` a shapely geometry) into the draft generation.

        On PostgreSQL through psycopg 3 the rows go in one ``COPY`` (:mod:`.copying`; a city's 126,000 micro-grids),
        elsewhere in ``INSERT`` batches; rows keep their order, so their ids too.
        """
        self.require_draft(conn, {r["generation_low"] for r in rows} | {r.get("generation_high") for r in rows})
        rows = encode_rows(rows)
        if _copies(conn) and len(rows) >= _COPY_FROM:
            copy_dicts(conn, t.areas, rows)
            return
        for start in range(0, len(rows), _BATCH):
            conn.execute(t.areas.insert(), rows[start : start + _BATCH])

    def insert_area(self, conn: sa.Connection, row: dict) -> int:
        """Insert one area row into the draft generation; returns its id."""
        self.require_draft(conn, [row["generation_low"], row.get("generation_high")])
        return int(conn.execute(t.areas.insert().values(**encode_rows([row])[0])).inserted_primary_key[0])

    def areas(
        self,
        generation: int,
        level: str | None = None,
        parent_code: str | None = None,
        codes: Iterable[str] | None = None,
        bbox: tuple[float, float, float, float] | None = None,
        geometry: bool = True,
        conn: sa.Connection | None = None,
    ) -> list[dict]:
        """Areas valid in ``generation``, filtered, ordered by code."""
        a = t.areas
        columns = [c for c in a.c if geometry or c.name != "geometry"]
        statement = sa.select(*columns).where(self.valid_in(generation, conn)).order_by(a.c.code)
        if level is not None:
            statement = statement.where(a.c.level == level)
        if parent_code is not None:
            statement = statement.where(a.c.parent_code == parent_code)
        if codes is not None:
            statement = statement.where(a.c.code.in_(list(codes)))
        if bbox is not None:
            statement = statement.where(self._window(a, bbox))
        return self._read(statement, conn)

    def area_columns(self, generation: int, columns: Iterable[str], level: str | None = None) -> dict[str, list]:
        """Some columns of the areas valid in ``generation`` (of one ``level``, if given), ordered by code.

        Returns one list per column: the lean read a point index or a hierarchy needs (codes, names, parents),
        fetched straight from the driver with no row object per area (126,000 areas in about 0.1 s on SQLite).
        """
        a = t.areas
        names = list(columns)
        statement = sa.select(*[a.c[name] for name in names]).where(self.valid_in(generation)).order_by(a.c.code)
        if level is not None:
            statement = statement.where(a.c.level == level)
        with self.engine.connect() as conn:
            rows = _fetch_tuples(conn, statement)
        out = {name: [row[i] for row in rows] for i, name in enumerate(names)}
        if "geometry" in out:
            out["geometry"] = decode(out["geometry"])
        return out

    def area_geometries(self, ids: Iterable[int]) -> dict[int, shapely.Geometry]:
        """The outlines of areas by row id (one query per 500 ids)."""
        ids = [int(i) for i in ids]
        a = t.areas.c
        out: dict[int, bytes] = {}
        with self.engine.connect() as conn:
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                out.update((int(i), g) for i, g in conn.execute(sa.select(a.id, a.geometry).where(a.id.in_(chunk))))
        return dict(zip(out, decode(list(out.values())), strict=True))

    def areas_extent(
        self, generation: int, level: str | None = None, codes: Iterable[str] | None = None
    ) -> tuple | None:
        """The bounding box ``(minx, miny, maxx, maxy)`` of the areas valid in ``generation`` (one query), or None."""
        a = t.areas.c
        statement = sa.select(sa.func.min(a.minx), sa.func.min(a.miny), sa.func.max(a.maxx), sa.func.max(a.maxy))
        statement = statement.where(self.valid_in(generation))
        if level is not None:
            statement = statement.where(a.level == level)
        if codes is not None:
            statement = statement.where(a.code.in_(list(codes)))
        with self.engine.connect() as conn:
            row = conn.execute(statement).one()
        return None if row[0] is None else tuple(float(v) for v in row)

    def has_areas(self, generation: int, level: str) -> bool:
        """Whether any area of ``level`` is valid in ``generation``."""
        a = t.areas.c
        statement = sa.select(a.id).where(self.valid_in(generation), a.level == level).limit(1)
        with self.engine.connect() as conn:
            return conn.execute(statement).first() is not None

    # -- buildings, service points -----------------------------------------------------------------
    def insert_rows(self, conn: sa.Connection, table_name: str, rows: list[dict]) -> None:
        """Insert rows into ``buildings``, ``service_points`` or ``roads`` (PostgreSQL: ``COPY``, :mod:`.copying`)."""
        table = {"buildings": t.buildings, "service_points": t.service_points, "roads": t.roads}[table_name]
        rows = encode_rows(rows)
        if _copies(conn):
            copy_dicts(conn, table, rows)
            return
        for start in range(0, len(rows), _BATCH):
            conn.execute(table.insert(), rows[start : start + _BATCH])

    def asset_rows(self, conn: sa.Connection, table_name: str, kinds: Iterable[str] | None = None) -> list[dict]:
        """Every row of ``buildings``, ``service_points`` (optionally of ``kinds``) or ``roads``, read in ``conn``."""
        table = {"buildings": t.buildings, "service_points": t.service_points, "roads": t.roads}[table_name]
        statement = sa.select(table).order_by(table.c.id)
        if kinds is not None:
            statement = statement.where(table.c.kind.in_(list(kinds)))
        return self._read(statement, conn)

    def update_rows(self, conn: sa.Connection, table_name: str, rows: list[dict]) -> None:
        """Update rows of ``buildings``, ``service_points`` or ``roads`` by their ``id`` (other keys: new values)."""
        table = {"buildings": t.buildings, "service_points": t.service_points, "roads": t.roads}[table_name]
        for row in encode_rows(rows):
            values = {k: v for k, v in row.items() if k != "id"}
            conn.execute(table.update().where(table.c.id == row["id"]).values(**values))

    def delete_rows(self, conn: sa.Connection, table_name: str, ids: list[int]) -> None:
        """Delete rows of ``buildings``, ``service_points`` or ``roads`` by id."""
        table = {"buildings": t.buildings, "service_points": t.service_points, "roads": t.roads}[table_name]
        for start in range(0, len(ids), _BATCH):
            conn.execute(sa.delete(table).where(table.c.id.in_(ids[start : start + _BATCH])))

    def buildings(self, bbox=None, ids=None, geometry: bool = True, conn: sa.Connection | None = None) -> list[dict]:
        """Buildings, optionally within a bounding box or by id (read in ``conn``'s transaction when given)."""
        b = t.buildings
        statement = sa.select(*[c for c in b.c if geometry or c.name != "geometry"]).order_by(b.c.id)
        if bbox is not None:
            statement = statement.where(self._building_window(bbox))
        if ids is not None:
            statement = statement.where(b.c.id.in_(list(ids)))
        return self._read(statement, conn)

    def find_buildings(self, text: str, limit: int) -> list[dict]:
        """Up to ``limit`` buildings whose address or name contains ``text`` (no geometry), ordered by id."""
        b = t.buildings
        pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        statement = (
            sa.select(b.c.id, b.c.name, b.c.address, b.c.lon, b.c.lat)
            .where(sa.or_(b.c.address.like(pattern, escape="\\"), b.c.name.like(pattern, escape="\\")))
            .order_by(b.c.id)
            .limit(limit)
        )
        return self._read(statement)

    def service_points(
        self, bbox=None, kind: str | None = None, ids=None, conn: sa.Connection | None = None
    ) -> list[dict]:
        """Service points, optionally within a bounding box, of one kind or by id (``conn`` as in :meth:`buildings`)."""
        s = t.service_points
        statement = sa.select(s).order_by(s.c.id)
        if ids is not None:
            statement = statement.where(s.c.id.in_(list(ids)))
        if bbox is not None:
            statement = statement.where(self._window(s, bbox))
        if kind is not None:
            statement = statement.where(s.c.kind == kind)
        return self._read(statement, conn)

    def roads(self, bbox=None) -> list[dict]:
        """Road centre lines, optionally within a bounding box."""
        statement = sa.select(t.roads).order_by(t.roads.c.id)
        if bbox is not None:
            statement = statement.where(self._window(t.roads, bbox))
        return self._read(statement)

    def insert_one(self, conn: sa.Connection, table_name: str, values: dict) -> int:
        """Insert one building or service point; returns its id."""
        table = {"buildings": t.buildings, "service_points": t.service_points}[table_name]
        return int(conn.execute(table.insert().values(**encode_rows([values])[0])).inserted_primary_key[0])

    def update_one(self, conn: sa.Connection, table_name: str, row_id: int, values: dict) -> bool:
        """Update one building or service point; ``False`` when it no longer exists."""
        table = {"buildings": t.buildings, "service_points": t.service_points}[table_name]
        values = encode_rows([values])[0]
        return conn.execute(table.update().where(table.c.id == row_id).values(**values)).rowcount == 1

    def delete_one(self, conn: sa.Connection, table_name: str, row_id: int) -> bool:
        """Delete one building or service point; ``False`` when it no longer exists."""
        table = {"buildings": t.buildings, "service_points": t.service_points}[table_name]
        return conn.execute(sa.delete(table).where(table.c.id == row_id)).rowcount == 1

    def bulk_insert(self, conn: sa.Connection, table_name: str, frame) -> None:
        """Insert a DataFrame's rows (columns named as the table's) as fast as the database allows.

        On SQLite the rows go straight to the driver's ``executemany`` (dates written in SQLAlchemy's own
        SQLite format, UTC); SQLAlchemy's per-row parameter processing would otherwise cost more than the
        insert itself. PostgreSQL through psycopg 3 takes one ``COPY`` (:mod:`boundaries.storage.copying`); other
        databases the portable Core insert.
        """
        table = t.metadata.tables[table_name]
        columns = list(frame.columns)
        if _copies(conn):
            copy_frame(conn, table, frame)
            return
        if conn.dialect.name != "sqlite":
            conn.execute(table.insert(), frame.to_dict("records"))
            return
        values = []
        for name in columns:
            column = frame[name]
            if isinstance(table.c[name].type, sa.DateTime):
                stamps = pd.to_datetime(column, utc=True)
                values.append(stamps.dt.strftime("%Y-%m-%d %H:%M:%S.%f").where(stamps.notna(), None).tolist())
            else:
                values.append([None if v is None or v is pd.NA else v for v in column.tolist()])
        placeholders = ", ".join("?" * len(columns))
        statement = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({placeholders})"
        conn.exec_driver_sql(statement, list(zip(*values, strict=True)))

    def default_index_dir(self) -> Path | None:
        """Where saved point indexes live by default: ``indexes`` beside a SQLite file; none for a server."""
        url = self.engine.url
        if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
            return Path(url.database).resolve().parent / "indexes"
        return None

    def revision(self, name: str = "areas", conn: sa.Connection | None = None) -> int:
        """The counter the database bumps on every write to an aggregate (``areas`` or ``assets``).

        Triggers bump it whoever writes (this process, another worker, the command line, a SQL prompt), so a
        cache keyed by it is right in every process.
        """
        r = t.revisions.c
        statement = sa.select(r.value).where(r.name == name)
        if conn is not None:
            return int(conn.execute(statement).scalar_one())
        with self.engine.connect() as c:
            return int(c.execute(statement).scalar_one())

    def snapshot(self) -> dict:
        """In one query: the current generation (``current``) and the ``areas`` and ``assets`` revisions.

        Asked on every request, so the statement is compiled once per store and run on the driver's cursor
        (compiling it each time cost ten times the query).
        """
        if self._snapshot_sql is None:
            g, r = t.generations.c, t.revisions.c
            current = sa.select(sa.func.max(g.id)).where(g.state == "published").scalar_subquery()
            areas = sa.select(r.value).where(r.name == "areas").scalar_subquery()
            assets = sa.select(r.value).where(r.name == "assets").scalar_subquery()
            statement = sa.select(current.label("current"), areas.label("areas"), assets.label("assets"))
            self._snapshot_sql = _compiled(statement, self.engine.dialect)
        sql, params = self._snapshot_sql
        with self.engine.connect() as conn:
            cursor = conn.connection.dbapi_connection.cursor()
            try:
                cursor.execute(sql, params)
                current, areas, assets = cursor.fetchone()
            finally:
                cursor.close()
        return {"current": current, "areas": int(areas), "assets": int(assets)}

    def data_version(self) -> tuple:
        """A value that changes whenever buildings or areas change (for caches of derived household counts)."""
        r = t.revisions.c
        with self.engine.connect() as conn:
            rows = dict(conn.execute(sa.select(r.name, r.value)).all())
        return (rows["assets"], rows["areas"])

    # -- workers -----------------------------------------------------------------------------------
    def insert_worker(self, conn: sa.Connection, name: str, role: str, phone: str, area_codes: list[str]) -> int:
        """Insert a worker and the codes of the areas they answer for."""
        worker_id = int(
            conn.execute(t.workers.insert().values(name=name, role=role, phone=phone)).inserted_primary_key[0]
        )
        if area_codes:
            conn.execute(t.worker_areas.insert(), [{"worker_id": worker_id, "area_code": c} for c in area_codes])
        return worker_id

    def workers(self, area_codes: Iterable[str] | None = None) -> list[dict]:
        """Workers with the area codes they are assigned to (one row per assignment)."""
        w, wa = t.workers, t.worker_areas
        statement = (
            sa.select(w.c.id, w.c.name, w.c.role, w.c.phone, wa.c.area_code)
            .select_from(w.outerjoin(wa, wa.c.worker_id == w.c.id))
            .order_by(w.c.id, wa.c.area_code)
        )
        if area_codes is not None:
            statement = statement.where(wa.c.area_code.in_(list(area_codes)))
        return self._read(statement)

    # -- planning-rule waivers ---------------------------------------------------------------------
    def waivers(
        self, codes: Iterable[str] | None = None, conn: sa.Connection | None = None, generation: int | None = None
    ) -> list[dict]:
        """Rule waivers (of the areas ``codes``, if given), ordered by id (read in ``conn`` when given).

        With ``generation``: only those in force there (published ones, and those of that change set).
        """
        w = t.rule_waivers
        statement = sa.select(w).order_by(w.c.id)
        if generation is not None:
            statement = statement.where(sa.or_(w.c.change_set.is_(None), w.c.change_set == int(generation)))
        if codes is not None:
            statement = statement.where(w.c.area_code.in_(sorted(set(codes))))
        return self._read(statement, conn)

    def insert_waiver(self, conn: sa.Connection, values: dict) -> int | None:
        """Insert a waiver; ``None`` when the area already has one for that rule (nothing written)."""
        w = t.rule_waivers.c
        taken = sa.select(w.id).where(w.area_code == values["area_code"], w.rule == values["rule"])
        if conn.execute(taken).first() is not None:
            return None
        return int(conn.execute(t.rule_waivers.insert().values(**values)).inserted_primary_key[0])

    def delete_waiver(self, conn: sa.Connection, waiver_id: int) -> bool:
        """Delete a waiver by id; ``False`` when there is none."""
        return conn.execute(sa.delete(t.rule_waivers).where(t.rule_waivers.c.id == waiver_id)).rowcount == 1

    # -- maintenance -------------------------------------------------------------------------------
    def wipe(self, conn: sa.Connection) -> None:
        """Delete the registry's own rows: areas, generations, buildings, service points, workers and roads.

        Used to rebuild the demo data. Other aggregates clear their own rows in the same transaction
        (``boundaries.demo.load_demo``'s ``clear``, e.g. ``issues.storage.wipe``); users, tokens, the audit log,
        patrols are kept. Rule waivers go with the areas they waive.
        """
        for table in (
            t.rule_waivers, t.roads, t.worker_areas, t.workers, t.service_points, t.buildings, t.change_set_retired,
            t.areas, t.generations,
        ):  # fmt: skip
            conn.execute(sa.delete(table))
