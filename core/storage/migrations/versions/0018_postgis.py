"""PostGIS, when the server has it: a geometry column derived from the stored WKB (or lon / lat) with a GiST index.

Each spatial table gets ``geom geometry(Geometry, 4326)``, a STORED generated column: PostgreSQL computes it from
the row's own ``geometry`` WKB (areas, buildings, roads) or its ``lon`` / ``lat`` (service points, issues), so no
write path changes and it can never disagree with the WKB. The store then narrows bounding-box windows by the GiST
index (``geom && ST_MakeEnvelope(…)``) before the exact box-column comparison (see
:mod:`boundaries.storage.postgis`).

A no-op on SQLite; on PostgreSQL without the ``postgis`` extension available; where the database's user may not
create the extension (a warning; the store stays plain); and where the database says ``weige.postgis = off``
(``ALTER DATABASE … SET weige.postgis = off`` before the first start: plain PostgreSQL on a server that has
PostGIS). Downgrading drops the columns and their indexes; the extension itself stays (other things may use it).

Revision ID: 0018
Revises: 0017
"""

import logging

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

_WKB = 'ST_SetSRID(ST_GeomFromWKB("geometry"), 4326)'
_POINT = "ST_SetSRID(ST_MakePoint(lon, lat), 4326)"
#: Table -> the expression its ``geom`` column is generated from.
_COLUMNS = {"areas": _WKB, "buildings": _WKB, "roads": _WKB, "service_points": _POINT, "issues": _POINT}
_OFF = ("off", "false", "no", "0")
_log = logging.getLogger("alembic.runtime.migration")


def _postgis(bind) -> bool:
    """Whether to add the columns: PostgreSQL, not switched off, the extension available and created."""
    if bind.dialect.name != "postgresql":
        return False
    setting = bind.exec_driver_sql("SELECT current_setting('weige.postgis', true)").scalar()
    if (setting or "").strip().lower() in _OFF:
        _log.info("weige.postgis = %s: 不使用 PostGIS not using PostGIS", setting)
        return False
    if bind.exec_driver_sql("SELECT 1 FROM pg_available_extensions WHERE name = 'postgis'").first() is None:
        return False
    try:
        with bind.begin_nested():  # a savepoint: a refusal must not abort the migration's transaction
            bind.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS postgis")
    except sa.exc.DBAPIError as exc:  # e.g. the user may not create extensions: stay plain PostgreSQL
        _log.warning("无法启用 PostGIS cannot create the postgis extension, staying plain PostgreSQL: %s", exc.orig)
        return False
    return True


def upgrade():
    bind = op.get_bind()
    if not _postgis(bind):
        return
    for table, expression in _COLUMNS.items():
        op.execute(
            f"ALTER TABLE {table} ADD COLUMN geom geometry(Geometry, 4326) GENERATED ALWAYS AS ({expression}) STORED"
        )
        op.execute(f"CREATE INDEX ix_{table}_geom ON {table} USING gist (geom)")


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in _COLUMNS:
        op.execute(f"ALTER TABLE {table} DROP COLUMN IF EXISTS geom")  # drops its index too
