"""Feature reads for OGC API – Features (``web/ogc_api.py``): pages of buildings, service points and issues.

Every read is ordered by ``id``, so ``limit`` / ``offset`` pages over an unchanged table return every row exactly
once. Filters: a bounding box (buildings by their stored box, points by ``lon`` / ``lat``; narrowed by a spatial
index first where there is one, see ``Store._window``), a report-time window for issues (inclusive instants) and
an extra SQL condition from the caller (the issue visibility of a scope).
"""

from __future__ import annotations

from datetime import datetime, timezone

import sqlalchemy as sa

from boundaries.storage.geometry import decode_rows
from core.storage import tables as t

__all__ = ["FeatureStore", "FEATURE_TABLES"]

#: Ids per statement when a read is limited to given ids.
_CHUNK = 10_000

#: The tables served as feature collections.
FEATURE_TABLES = ("buildings", "service_points", "issues")


class FeatureStore:
    """Feature-page methods of :class:`~boundaries.storage.store.Store` (a mixin)."""

    engine: sa.Engine

    def _feature_conditions(self, table_name: str, bbox=None, reported=None, where=None) -> tuple[sa.Table, list]:
        if table_name not in FEATURE_TABLES:
            raise KeyError(table_name)
        table = t.metadata.tables[table_name]
        conditions = [] if where is None else [where]
        if bbox is not None:
            conditions.append(self._window(table, bbox))
        if reported is not None:
            since, until = reported
            if since is not None:
                conditions.append(table.c.created_at >= since)
            if until is not None:
                conditions.append(table.c.created_at <= until)
        return table, conditions

    def feature_points(self, table_name: str, bbox=None, reported=None, where=None) -> list[tuple[int, float, float]]:
        """``(id, lon, lat)`` of every matching row, ordered by id: the lean read a scope filters in Python."""
        table, conditions = self._feature_conditions(table_name, bbox, reported, where)
        statement = sa.select(table.c.id, table.c.lon, table.c.lat).where(*conditions).order_by(table.c.id)
        with self.engine.connect() as conn:
            return [tuple(row) for row in conn.execute(statement)]

    def feature_count(self, table_name: str, bbox=None, reported=None, where=None) -> int:
        """How many rows match (see :meth:`feature_rows`)."""
        table, conditions = self._feature_conditions(table_name, bbox, reported, where)
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(table).where(*conditions)).scalar_one())

    def feature_rows(
        self, table_name: str, bbox=None, reported=None, where=None, limit=None, offset: int = 0, ids=None
    ) -> list[dict]:
        """Matching rows (every column), ordered by id, ``offset`` rows skipped, at most ``limit``; or by ``ids``."""
        table, conditions = self._feature_conditions(table_name, bbox, reported, where)
        if ids is not None:
            conditions.append(table.c.id.in_([int(i) for i in ids]))
        statement = sa.select(table).where(*conditions).order_by(table.c.id)
        if limit is not None:
            statement = statement.limit(int(limit)).offset(int(offset))
        with self.engine.connect() as conn:
            return decode_rows([dict(row) for row in conn.execute(statement).mappings()])

    def feature_extent(self, table_name: str, where=None, ids=None) -> tuple[tuple | None, tuple | None]:
        """The bounding box ``(minx, miny, maxx, maxy)`` of a table and, for issues, the report-time span (UTC).

        Only of the rows matching ``where`` (a condition) and, if given, with an id among ``ids``.
        """
        if ids is not None:  # by chunks of ids, combined
            ids = [int(i) for i in ids]
            parts = [self._extent(table_name, where, ids[k : k + _CHUNK]) for k in range(0, len(ids), _CHUNK)]
            boxes = [b for b, _ in parts if b is not None]
            spans = [s for _, s in parts if s is not None]
            box = tuple(f(b[k] for b in boxes) for k, f in enumerate((min, min, max, max))) if boxes else None
            return box, ((min(s[0] for s in spans), max(s[1] for s in spans)) if spans else None)
        return self._extent(table_name, where, None)

    def _extent(self, table_name: str, where, ids) -> tuple[tuple | None, tuple | None]:
        table, conditions = self._feature_conditions(table_name, where=where)
        c = table.c
        if ids is not None:
            conditions.append(c.id.in_(ids))
        if table_name == "buildings":
            columns = [sa.func.min(c.minx), sa.func.min(c.miny), sa.func.max(c.maxx), sa.func.max(c.maxy)]
        else:
            columns = [sa.func.min(c.lon), sa.func.min(c.lat), sa.func.max(c.lon), sa.func.max(c.lat)]
        if table_name == "issues":
            columns += [sa.func.min(c.created_at), sa.func.max(c.created_at)]
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(*columns).where(*conditions)).one()
        box = None if row[0] is None else tuple(float(v) for v in row[:4])
        span = None
        if table_name == "issues" and row[4] is not None:
            span = tuple(_aware(v) for v in row[4:6])
        return box, span


def _aware(value) -> datetime:
    if isinstance(value, str):  # SQLite's aggregate returns the stored text
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
