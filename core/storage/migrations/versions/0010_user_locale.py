"""Each user's page language (``zh_CN`` or ``en``); NULL means the deployment's default.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("users", sa.Column("locale", sa.String(16), nullable=True))


def downgrade():
    op.drop_column("users", "locale")
