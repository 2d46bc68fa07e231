"""Initial schema: generations, areas, buildings, service points, workers.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _geometry():
    return [
        sa.Column("geometry", sa.LargeBinary, nullable=False),
        sa.Column("minx", sa.Float, nullable=False),
        sa.Column("miny", sa.Float, nullable=False),
        sa.Column("maxx", sa.Float, nullable=False),
        sa.Column("maxy", sa.Float, nullable=False),
    ]


def upgrade():
    op.create_table(
        "generations",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("note", sa.Text, nullable=False, server_default=""),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True)),
    )
    op.create_table(
        "areas",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("code", sa.String(32), nullable=False),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False, server_default="general"),
        sa.Column("parent_code", sa.String(32)),
        sa.Column("generation_low", sa.Integer, sa.ForeignKey("generations.id"), nullable=False),
        sa.Column("generation_high", sa.Integer, sa.ForeignKey("generations.id")),
        *_geometry(),
    )
    op.create_index("ix_areas_level_generation", "areas", ["level", "generation_low", "generation_high"])
    op.create_index("ix_areas_code", "areas", ["code"])
    op.create_index("ix_areas_parent", "areas", ["parent_code"])
    op.create_table(
        "buildings",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("ref", sa.String(64)),
        sa.Column("name", sa.Text, nullable=False, server_default=""),
        sa.Column("address", sa.Text, nullable=False, server_default=""),
        sa.Column("floors", sa.Integer),
        sa.Column("households", sa.Integer, nullable=False, server_default="0"),
        sa.Column("use", sa.String(32), nullable=False, server_default="residential"),
        sa.Column("lon", sa.Float, nullable=False),
        sa.Column("lat", sa.Float, nullable=False),
        *_geometry(),
    )
    op.create_index("ix_buildings_bbox", "buildings", ["minx", "maxx", "miny", "maxy"])
    op.create_table(
        "service_points",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("opening_hours", sa.Text, nullable=False, server_default=""),
        sa.Column("capacity", sa.Integer),
        sa.Column("address", sa.Text, nullable=False, server_default=""),
        sa.Column("lon", sa.Float, nullable=False),
        sa.Column("lat", sa.Float, nullable=False),
    )
    op.create_index("ix_service_points_lonlat", "service_points", ["lon", "lat"])
    op.create_table(
        "workers",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("phone", sa.String(32), nullable=False, server_default=""),
    )
    op.create_table(
        "worker_areas",
        sa.Column("worker_id", sa.Integer, sa.ForeignKey("workers.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("area_code", sa.String(32), primary_key=True),
    )
    op.create_index("ix_worker_areas_code", "worker_areas", ["area_code"])


def downgrade():
    for table in ("worker_areas", "workers", "service_points", "buildings", "areas", "generations"):
        op.drop_table(table)
