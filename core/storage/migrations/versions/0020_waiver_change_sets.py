"""A rule waiver made in a change set belongs to it until it is published (discarding the change set drops it).

Revision ID: 0020
Revises: 0019
"""

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("rule_waivers") as batch:
        batch.add_column(sa.Column("change_set", sa.Integer, nullable=True))


def downgrade():
    with op.batch_alter_table("rule_waivers") as batch:
        batch.drop_column("change_set")
