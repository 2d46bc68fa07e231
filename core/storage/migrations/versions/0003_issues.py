"""Issues: reports located in micro-grids, their workflow history and photos.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_LEVEL_CODES = ("micro_grid_code", "grid_code", "community_code", "street_code", "district_code")


def upgrade():
    op.create_table(
        "issues",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("external_id", sa.String(64)),
        sa.Column("channel", sa.String(32), nullable=False, server_default="api"),
        sa.Column("token", sa.String(36), nullable=False),
        sa.Column("category", sa.String(32), nullable=False),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sa.Column("address", sa.Text, nullable=False, server_default=""),
        sa.Column("hazard_level", sa.String(16), nullable=False, server_default="general"),
        sa.Column("lon", sa.Float, nullable=False),
        sa.Column("lat", sa.Float, nullable=False),
        sa.Column("crs_reported", sa.String(16), nullable=False, server_default="wgs84"),
        sa.Column("lon_reported", sa.Float, nullable=False),
        sa.Column("lat_reported", sa.Float, nullable=False),
        sa.Column("building_id", sa.Integer),
        sa.Column("generation", sa.Integer),
        sa.Column("location_status", sa.String(16), nullable=False),
        sa.Column("on_boundary", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("near_boundary", sa.Boolean, nullable=False, server_default=sa.false()),
        *[sa.Column(name, sa.String(32)) for name in _LEVEL_CODES],
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("handler_code", sa.String(32)),
        sa.Column("assignee_worker_id", sa.Integer),
        sa.Column("assignee_name", sa.Text, nullable=False, server_default=""),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("parked_from", sa.String(16)),
        sa.Column("escalations", sa.Integer, nullable=False, server_default="0"),
        sa.Column("reporter_name", sa.Text, nullable=False, server_default=""),
        sa.Column("reporter_phone", sa.String(32), nullable=False, server_default=""),
        sa.Column("created_by", sa.Integer),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stage_started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True)),
        sa.Column("closed_at", sa.DateTime(timezone=True)),
        sa.UniqueConstraint("channel", "created_by", "external_id", name="uq_issues_external"),
        sa.UniqueConstraint("token", name="uq_issues_token"),
    )
    for name, columns in (
        ("ix_issues_state_due", ["state", "due_at"]),
        ("ix_issues_grid", ["grid_code"]),
        ("ix_issues_micro_grid", ["micro_grid_code"]),
        ("ix_issues_community", ["community_code"]),
        ("ix_issues_street", ["street_code"]),
        ("ix_issues_created", ["created_at"]),
    ):
        op.create_index(name, "issues", columns)
    op.create_table(
        "issue_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("issue_id", sa.Integer, sa.ForeignKey("issues.id", ondelete="CASCADE"), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("user_id", sa.Integer),
        sa.Column("user_name", sa.Text, nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("from_state", sa.String(16)),
        sa.Column("to_state", sa.String(16)),
        sa.Column("from_level", sa.String(16)),
        sa.Column("to_level", sa.String(16)),
        sa.Column("note", sa.Text, nullable=False, server_default=""),
        sa.Column("stage", sa.String(16)),
        sa.Column("stage_due_at", sa.DateTime(timezone=True)),
        sa.Column("on_time", sa.Boolean),
    )
    op.create_index("ix_issue_events_issue", "issue_events", ["issue_id"])
    op.create_table(
        "photos",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("content_type", sa.String(32), nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("width", sa.Integer),
        sa.Column("height", sa.Integer),
        sa.Column("data", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "issue_photos",
        sa.Column("issue_id", sa.Integer, sa.ForeignKey("issues.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("sha256", sa.String(64), sa.ForeignKey("photos.sha256"), primary_key=True),
        sa.Column("event_id", sa.Integer, sa.ForeignKey("issue_events.id")),
    )


def downgrade():
    for table in ("issue_photos", "photos", "issue_events", "issues"):
        op.drop_table(table)
