"""Change sets: several draft generations at once, one per owner, each branched from a published generation.

A change set is a draft generation with an ``owner`` (``user:<id>`` or ``system`` for the command line), the
name of its ``author`` and the published generation it started from (``base_generation``). Rows it adds carry
``generation_low`` = its id as before; rows it retires are listed in ``change_set_retired`` instead of setting
``generation_high`` (two change sets may retire the same row; they conflict only when both are published).
Publishing gives the change set a new generation id above every other (``change_set`` remembers the draft's
id), so published generations stay ordered by the time they were published.

The existing draft, if any, becomes the command line's change set, based on the newest generation published
before it; its retirements move to the new table.

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade():
    op.drop_index("ix_generations_one_draft", "generations")
    with op.batch_alter_table("generations") as batch:
        batch.add_column(sa.Column("owner", sa.String(64), nullable=False, server_default="system"))
        batch.add_column(sa.Column("author", sa.String(64), nullable=False, server_default=""))
        batch.add_column(sa.Column("base_generation", sa.Integer))
        batch.add_column(sa.Column("change_set", sa.Integer))
    op.create_index(
        "ix_generations_one_draft_per_owner",
        "generations",
        ["owner"],
        unique=True,
        sqlite_where=sa.text("state = 'draft'"),
        postgresql_where=sa.text("state = 'draft'"),
    )
    op.create_table(
        "change_set_retired",
        sa.Column("generation_id", sa.Integer, sa.ForeignKey("generations.id"), primary_key=True),
        sa.Column("area_id", sa.Integer, sa.ForeignKey("areas.id"), primary_key=True),
    )
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute(
            "CREATE TRIGGER revision_change_set_retired AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON "
            "change_set_retired FOR EACH STATEMENT EXECUTE FUNCTION weige_bump_revision('areas')"
        )
    else:
        for event in ("INSERT", "UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER revision_change_set_retired_{event.lower()} AFTER {event} ON change_set_retired "
                "BEGIN UPDATE revisions SET value = value + 1 WHERE name = 'areas'; END"
            )
    op.execute(
        "UPDATE generations SET base_generation = (SELECT max(p.id) FROM generations p "
        "WHERE p.state = 'published' AND p.id < generations.id) WHERE state = 'draft'"
    )
    op.execute(
        "INSERT INTO change_set_retired (generation_id, area_id) SELECT a.generation_high, a.id FROM areas a "
        "JOIN generations g ON g.id = a.generation_high WHERE g.state = 'draft'"
    )
    op.execute(
        "UPDATE areas SET generation_high = NULL WHERE generation_high IN "
        "(SELECT id FROM generations WHERE state = 'draft')"
    )


def downgrade():
    op.execute(
        "UPDATE areas SET generation_high = (SELECT r.generation_id FROM change_set_retired r "
        "WHERE r.area_id = areas.id) WHERE id IN (SELECT area_id FROM change_set_retired)"
    )
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute("DROP TRIGGER revision_change_set_retired ON change_set_retired")
    else:
        for event in ("insert", "update", "delete"):
            op.execute(f"DROP TRIGGER revision_change_set_retired_{event}")
    op.drop_table("change_set_retired")
    op.drop_index("ix_generations_one_draft_per_owner", "generations")
    with op.batch_alter_table("generations") as batch:
        for column in ("change_set", "base_generation", "author", "owner"):
            batch.drop_column(column)
    op.create_index(
        "ix_generations_one_draft",
        "generations",
        ["state"],
        unique=True,
        sqlite_where=sa.text("state = 'draft'"),
        postgresql_where=sa.text("state = 'draft'"),
    )
