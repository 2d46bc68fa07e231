"""External ids of issues without a reporting user (``import-issues`` run by the system) are unique per channel.

``uq_issues_external`` (channel, created_by, external_id) never compares rows whose ``created_by`` is NULL, so
two imports of the same file at once could both write it. A partial unique index covers those rows. Ids
that already repeat (from such a race) are kept on their first issue; the later copies lose the external id
(they stay, to be voided by hand) and the migration names them in a warning instead of failing.

Revision ID: 0009
Revises: 0008
"""

import logging

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_WHERE = "created_by IS NULL"


def upgrade():
    issues = sa.table(
        "issues",
        sa.column("id", sa.Integer),
        sa.column("channel", sa.String),
        sa.column("created_by", sa.Integer),
        sa.column("external_id", sa.String),
    )
    c = issues.c
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(c.id, c.channel, c.external_id)
        .where(c.created_by.is_(None), c.external_id.is_not(None))
        .order_by(c.id)
    ).all()
    seen: set[tuple[str, str]] = set()
    repeated = []
    for issue_id, channel, external_id in rows:
        if (channel, external_id) in seen:
            repeated.append(issue_id)
        seen.add((channel, external_id))
    for start in range(0, len(repeated), 500):
        batch = repeated[start : start + 500]
        connection.execute(issues.update().where(c.id.in_(batch)).values(external_id=None))
    if repeated:
        logging.getLogger("alembic.runtime.migration").warning(
            "外部编号重复的事件已去掉编号 issues whose external id repeated that of an earlier issue lost it (the "
            "earlier issue keeps it; void the copies by hand): %s",
            ", ".join(map(str, repeated)),
        )
    op.create_index(
        "uq_issues_external_unowned",
        "issues",
        ["channel", "external_id"],
        unique=True,
        sqlite_where=sa.text(_WHERE),
        postgresql_where=sa.text(_WHERE),
    )


def downgrade():
    op.drop_index("uq_issues_external_unowned", "issues")
