"""Revisions the database bumps on every write, for caches shared by several processes; at most one draft.

Each aggregate has a counter in ``revisions``; triggers on its tables add one on every insert, update or
delete (per row on SQLite, per statement on PostgreSQL), whoever writes: the service, the command line, another
web worker or a person at a SQL prompt. A cache keyed by the counter is never stale in any process.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

#: aggregate → the tables whose writes bump it
AGGREGATES = {
    "areas": ("areas", "generations"),
    "assets": ("buildings", "service_points", "roads", "workers", "worker_areas"),
}


def upgrade():
    revisions = op.create_table(
        "revisions",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("value", sa.BigInteger, nullable=False, server_default="0"),
    )
    op.bulk_insert(revisions, [{"name": name, "value": 0} for name in AGGREGATES])
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute(
            "CREATE FUNCTION weige_bump_revision() RETURNS trigger AS $$ BEGIN "
            "UPDATE revisions SET value = value + 1 WHERE name = TG_ARGV[0]; RETURN NULL; END $$ LANGUAGE plpgsql"
        )
    for name, tables in AGGREGATES.items():
        for table in tables:
            if dialect == "postgresql":
                op.execute(
                    f"CREATE TRIGGER revision_{table} AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} "
                    f"FOR EACH STATEMENT EXECUTE FUNCTION weige_bump_revision('{name}')"
                )
            else:
                for event in ("INSERT", "UPDATE", "DELETE"):
                    op.execute(
                        f"CREATE TRIGGER revision_{table}_{event.lower()} AFTER {event} ON {table} BEGIN "
                        f"UPDATE revisions SET value = value + 1 WHERE name = '{name}'; END"
                    )
    # one draft generation at a time, enforced by the database (two writers cannot both create one)
    op.create_index(
        "ix_generations_one_draft",
        "generations",
        ["state"],
        unique=True,
        sqlite_where=sa.text("state = 'draft'"),
        postgresql_where=sa.text("state = 'draft'"),
    )


def downgrade():
    op.drop_index("ix_generations_one_draft", "generations")
    dialect = op.get_bind().dialect.name
    for tables in AGGREGATES.values():
        for table in tables:
            if dialect == "postgresql":
                op.execute(f"DROP TRIGGER revision_{table} ON {table}")
            else:
                for event in ("insert", "update", "delete"):
                    op.execute(f"DROP TRIGGER revision_{table}_{event}")
    if dialect == "postgresql":
        op.execute("DROP FUNCTION weige_bump_revision()")
    op.drop_table("revisions")
