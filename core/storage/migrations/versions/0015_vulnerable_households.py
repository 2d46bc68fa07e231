"""Buildings: ``vulnerable_households``, how many of a building's households are marked vulnerable (visited on the
short cycle, ``VISIT_CYCLES.vulnerable_visit``).

Revision ID: 0015
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("buildings") as batch:
        batch.add_column(sa.Column("vulnerable_households", sa.Integer, nullable=False, server_default="0"))


def downgrade():
    with op.batch_alter_table("buildings") as batch:
        batch.drop_column("vulnerable_households")
