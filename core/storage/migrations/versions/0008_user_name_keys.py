"""Login names compared without case: ``users.name_key`` (the name case-folded) with a unique index.

Names that already differ only in case (``dup`` and ``DUP``) are left as they are: the oldest keeps the key, the
others get none (a unique index allows any number of NULLs) and still sign in by their exact name. The
migration names them in a warning instead of failing; no new name can join them.

Revision ID: 0008
Revises: 0007
"""

import logging

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("users", sa.Column("name_key", sa.String(128), nullable=True))
    users = sa.table("users", sa.column("id", sa.Integer), sa.column("name", sa.String), sa.column("name_key"))
    connection = op.get_bind()
    seen: dict[str, str] = {}
    clashes = []
    for user_id, name in connection.execute(sa.select(users.c.id, users.c.name).order_by(users.c.id)).all():
        key = name.casefold()
        if key in seen:
            clashes.append(f"{name!r} (like {seen[key]!r})")
            continue
        seen[key] = name
        connection.execute(users.update().where(users.c.id == user_id).values(name_key=key))
    if clashes:
        logging.getLogger("alembic.runtime.migration").warning(
            "登录名仅大小写不同 login names that differ only in case were kept as they are and sign in by their "
            "exact name: %s",
            ", ".join(clashes),
        )
    op.create_index("uq_users_name_key", "users", ["name_key"], unique=True)


def downgrade():
    op.drop_index("uq_users_name_key", "users")
    op.drop_column("users", "name_key")
