"""Table definitions (SQLAlchemy Core). The schema itself is created by the Alembic migrations."""

import sqlalchemy as sa

__all__ = ["metadata", "generations", "areas", "buildings", "service_points", "workers", "worker_areas"]

metadata = sa.MetaData()

generations = sa.Table(
    "generations",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("state", sa.String(16), nullable=False),  # draft | published | discarded
    sa.Column("note", sa.Text, nullable=False, server_default=""),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("published_at", sa.DateTime(timezone=True)),
)


def _geometry_columns():
    return [
        sa.Column("geometry", sa.LargeBinary, nullable=False),  # WKB, EPSG:4326
        sa.Column("minx", sa.Float, nullable=False),
        sa.Column("miny", sa.Float, nullable=False),
        sa.Column("maxx", sa.Float, nullable=False),
        sa.Column("maxy", sa.Float, nullable=False),
    ]


areas = sa.Table(
    "areas",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("code", sa.String(32), nullable=False),
    sa.Column("level", sa.String(16), nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("kind", sa.String(32), nullable=False, server_default="general"),
    sa.Column("parent_code", sa.String(32)),
    # Valid from generation_low (inclusive) until generation_high (exclusive; NULL = still valid).
    sa.Column("generation_low", sa.Integer, sa.ForeignKey("generations.id"), nullable=False),
    sa.Column("generation_high", sa.Integer, sa.ForeignKey("generations.id")),
    *_geometry_columns(),
    sa.Index("ix_areas_level_generation", "level", "generation_low", "generation_high"),
    sa.Index("ix_areas_code", "code"),
    sa.Index("ix_areas_parent", "parent_code"),
)

buildings = sa.Table(
    "buildings",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("ref", sa.String(64)),
    sa.Column("name", sa.Text, nullable=False, server_default=""),
    sa.Column("address", sa.Text, nullable=False, server_default=""),
    sa.Column("floors", sa.Integer),
    sa.Column("households", sa.Integer, nullable=False, server_default="0"),
    sa.Column("use", sa.String(32), nullable=False, server_default="residential"),
    sa.Column("lon", sa.Float, nullable=False),  # a point on the footprint's surface
    sa.Column("lat", sa.Float, nullable=False),
    *_geometry_columns(),
    sa.Index("ix_buildings_bbox", "minx", "maxx", "miny", "maxy"),
)

service_points = sa.Table(
    "service_points",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("opening_hours", sa.Text, nullable=False, server_default=""),
    sa.Column("capacity", sa.Integer),
    sa.Column("address", sa.Text, nullable=False, server_default=""),
    sa.Column("lon", sa.Float, nullable=False),
    sa.Column("lat", sa.Float, nullable=False),
    sa.Index("ix_service_points_lonlat", "lon", "lat"),
)

workers = sa.Table(
    "workers",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("role", sa.String(32), nullable=False),  # grid_worker | micro_grid_worker | dedicated_worker
    sa.Column("phone", sa.String(32), nullable=False, server_default=""),
)

worker_areas = sa.Table(
    "worker_areas",
    metadata,
    sa.Column("worker_id", sa.Integer, sa.ForeignKey("workers.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("area_code", sa.String(32), primary_key=True),
    sa.Index("ix_worker_areas_code", "area_code"),
)
