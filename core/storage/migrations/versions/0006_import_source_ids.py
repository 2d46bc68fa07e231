"""Source ids of imported service points and roads (buildings have ``ref`` already), for idempotent imports.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("service_points") as batch:
        batch.add_column(sa.Column("ref", sa.String(64)))
    with op.batch_alter_table("roads") as batch:
        batch.add_column(sa.Column("ref", sa.String(64)))
    op.create_index("ix_buildings_ref", "buildings", ["ref"])
    op.create_index("ix_service_points_ref", "service_points", ["ref"])
    op.create_index("ix_roads_ref", "roads", ["ref"])


def downgrade():
    op.drop_index("ix_roads_ref", "roads")
    op.drop_index("ix_service_points_ref", "service_points")
    op.drop_index("ix_buildings_ref", "buildings")
    with op.batch_alter_table("roads") as batch:
        batch.drop_column("ref")
    with op.batch_alter_table("service_points") as batch:
        batch.drop_column("ref")
