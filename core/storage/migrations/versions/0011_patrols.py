"""Patrols (巡查): tracks recorded by grid workers, their positions, and check-ins at buildings.

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "patrols",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("source", sa.String(8), nullable=False, server_default="app"),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("summary", sa.JSON),
        sa.UniqueConstraint("user_id", "client_id", name="uq_patrols_client"),
    )
    op.create_index("ix_patrols_user_started", "patrols", ["user_id", "started_at"])
    op.create_table(
        "patrol_positions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("patrol_id", sa.Integer, sa.ForeignKey("patrols.id", ondelete="CASCADE"), nullable=False),
        sa.Column("t", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lon", sa.Float, nullable=False),
        sa.Column("lat", sa.Float, nullable=False),
        sa.Column("accuracy", sa.Float),
        sa.UniqueConstraint("patrol_id", "t", name="uq_patrol_positions_t"),
    )
    op.create_index("ix_patrol_positions_t", "patrol_positions", ["t"])
    op.create_table(
        "checkins",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("building_id", sa.Integer, nullable=False),
        sa.Column("lon", sa.Float, nullable=False),
        sa.Column("lat", sa.Float, nullable=False),
        sa.Column("accuracy", sa.Float),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("distance_m", sa.Float, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("user_id", "client_id", name="uq_checkins_client"),
    )
    op.create_index("ix_checkins_building_at", "checkins", ["building_id", "at"])
    op.create_index("ix_checkins_at", "checkins", ["at"])


def downgrade():
    for table in ("checkins", "patrol_positions", "patrols"):
        op.drop_table(table)
