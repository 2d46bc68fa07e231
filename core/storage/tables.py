"""Table definitions (SQLAlchemy Core). The schema itself is created by the Alembic migrations.

Every table belongs to one aggregate, named by the package whose storage module reads and writes it
(:data:`OWNERS`); ``core`` owns the tables every package shares (audit log, revisions, leases, shared secrets,
rate limits). ``tests/test_layering.py`` checks that a package's modules name only their own tables and core's.
"""

import sqlalchemy as sa

__all__ = [
    "metadata",
    "generations",
    "areas",
    "change_set_retired",
    "buildings",
    "service_points",
    "workers",
    "worker_areas",
    "users",
    "user_areas",
    "api_tokens",
    "user_sessions",
    "audit_log",
    "issues",
    "issue_events",
    "photos",
    "issue_photos",
    "roads",
    "patrols",
    "patrol_positions",
    "checkins",
    "revisions",
    "rule_waivers",
    "leases",
    "shared_secrets",
    "rate_limits",
    "LEVEL_CODE_COLUMNS",
    "OWNERS",
]

metadata = sa.MetaData()

generations = sa.Table(
    "generations",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("state", sa.String(16), nullable=False),  # draft (a change set) | published | discarded
    sa.Column("note", sa.Text, nullable=False, server_default=""),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("published_at", sa.DateTime(timezone=True)),
    # change sets (migration 0014): whose it is ("user:<id>" or "system"), the author's name, the published
    # generation it started from, and for a published generation the change set's id while it was a draft
    sa.Column("owner", sa.String(64), nullable=False, server_default="system"),
    sa.Column("author", sa.String(64), nullable=False, server_default=""),
    sa.Column("base_generation", sa.Integer),
    sa.Column("change_set", sa.Integer),
    # one open change set per owner, kept by the database itself
    sa.Index(
        "ix_generations_one_draft_per_owner",
        "owner",
        unique=True,
        sqlite_where=sa.text("state = 'draft'"),
        postgresql_where=sa.text("state = 'draft'"),
    ),
)


def _geometry_columns():
    return [
        sa.Column("geometry", sa.LargeBinary, nullable=False),  # WKB, EPSG:4326
        sa.Column("minx", sa.Float, nullable=False),
        sa.Column("miny", sa.Float, nullable=False),
        sa.Column("maxx", sa.Float, nullable=False),
        sa.Column("maxy", sa.Float, nullable=False),
    ]


areas = sa.Table(
    "areas",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("code", sa.String(32), nullable=False),
    sa.Column("level", sa.String(16), nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("kind", sa.String(32), nullable=False, server_default="general"),
    sa.Column("parent_code", sa.String(32)),
    # Valid from generation_low (inclusive) until generation_high (exclusive; NULL = still valid).
    sa.Column("generation_low", sa.Integer, sa.ForeignKey("generations.id"), nullable=False),
    sa.Column("generation_high", sa.Integer, sa.ForeignKey("generations.id")),
    *_geometry_columns(),
    sa.Index("ix_areas_level_generation", "level", "generation_low", "generation_high"),
    sa.Index("ix_areas_code", "code"),
    sa.Index("ix_areas_parent", "parent_code"),
)

#: Rows of the base generation a change set retires (replaced or removed); see migration 0014.
change_set_retired = sa.Table(
    "change_set_retired",
    metadata,
    sa.Column("generation_id", sa.Integer, sa.ForeignKey("generations.id"), primary_key=True),
    sa.Column("area_id", sa.Integer, sa.ForeignKey("areas.id"), primary_key=True),
)

buildings = sa.Table(
    "buildings",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("ref", sa.String(64)),  # source id of an import (--id-field)
    sa.Column("name", sa.Text, nullable=False, server_default=""),
    sa.Column("address", sa.Text, nullable=False, server_default=""),
    sa.Column("floors", sa.Integer),
    sa.Column("households", sa.Integer, nullable=False, server_default="0"),
    sa.Column("vulnerable_households", sa.Integer, nullable=False, server_default="0"),  # visited on the short cycle
    sa.Column("use", sa.String(32), nullable=False, server_default="residential"),
    sa.Column("lon", sa.Float, nullable=False),  # a point on the footprint's surface
    sa.Column("lat", sa.Float, nullable=False),
    *_geometry_columns(),
    sa.Index("ix_buildings_bbox", "minx", "maxx", "miny", "maxy"),
    sa.Index("ix_buildings_ref", "ref"),
)

service_points = sa.Table(
    "service_points",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("opening_hours", sa.Text, nullable=False, server_default=""),
    sa.Column("capacity", sa.Integer),
    sa.Column("address", sa.Text, nullable=False, server_default=""),
    sa.Column("lon", sa.Float, nullable=False),
    sa.Column("lat", sa.Float, nullable=False),
    sa.Column("ref", sa.String(64)),  # source id of an import (--id-field)
    sa.Index("ix_service_points_lonlat", "lon", "lat"),
    sa.Index("ix_service_points_ref", "ref"),
)

workers = sa.Table(
    "workers",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("role", sa.String(32), nullable=False),  # grid_worker | micro_grid_worker | dedicated_worker
    sa.Column("phone", sa.String(32), nullable=False, server_default=""),
)

worker_areas = sa.Table(
    "worker_areas",
    metadata,
    sa.Column("worker_id", sa.Integer, sa.ForeignKey("workers.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("area_code", sa.String(32), primary_key=True),
    sa.Index("ix_worker_areas_code", "area_code"),
)

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(64), nullable=False, unique=True),  # login name
    sa.Column("name_key", sa.String(128)),  # the name case-folded: names are compared without case (0008)
    sa.Column("display_name", sa.Text, nullable=False, server_default=""),
    sa.Column("role", sa.String(16), nullable=False),  # admin | planner | staff | grid_worker | api_client
    sa.Column("password_hash", sa.Text),  # argon2id; NULL for API clients (tokens only)
    sa.Column("phone", sa.String(32), nullable=False, server_default=""),
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("session_version", sa.Integer, nullable=False, server_default="1"),  # bump = log out everywhere
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("locale", sa.String(16)),  # page language chosen by the user; NULL: the deployment's default (0010)
    sa.Index("uq_users_name_key", "name_key", unique=True),
)

user_areas = sa.Table(
    "user_areas",
    metadata,
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("area_code", sa.String(32), primary_key=True),
)

api_tokens = sa.Table(
    "api_tokens",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    sa.Column("name", sa.Text, nullable=False, server_default=""),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),  # SHA-256 of the secret
    sa.Column("prefix", sa.String(16), nullable=False),  # first characters, to tell tokens apart
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("revoked_at", sa.DateTime(timezone=True)),
    sa.Column("last_used_at", sa.DateTime(timezone=True)),
)

user_sessions = sa.Table(
    "user_sessions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    sa.Column("key_hash", sa.String(64), nullable=False, unique=True),  # SHA-256 of the key in the cookie
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_user_sessions_user", "user_id"),
    sa.Index("ix_user_sessions_expires", "expires_at"),
)

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("user_id", sa.Integer),  # NULL for the command line / system
    sa.Column("user_name", sa.Text, nullable=False),
    sa.Column("action", sa.String(32), nullable=False),  # create | update | delete | import | publish | ...
    sa.Column("object_type", sa.String(32), nullable=False),  # area | generation | building | ...
    sa.Column("object_id", sa.String(64), nullable=False, server_default=""),
    sa.Column("before", sa.JSON),
    sa.Column("after", sa.JSON),
    sa.Column("source", sa.String(64), nullable=False, server_default=""),  # client address or "cli"
    sa.Index("ix_audit_at", "at"),
    sa.Index("ix_audit_user", "user_id"),
    sa.Index("ix_audit_object", "object_type", "object_id"),
)

#: The codes an issue was located in, one column per level of the ladder (fixed at intake: redrawing later
#: never rewrites history).
LEVEL_CODE_COLUMNS = ("micro_grid_code", "grid_code", "community_code", "street_code", "district_code")

issues = sa.Table(
    "issues",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("external_id", sa.String(64)),  # the channel's own id: the same one twice makes one issue
    sa.Column("channel", sa.String(32), nullable=False, server_default="api"),  # api | open311 | import | web
    sa.Column("token", sa.String(36), nullable=False),  # Open311 token of the request
    sa.Column("category", sa.String(32), nullable=False),
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    sa.Column("address", sa.Text, nullable=False, server_default=""),
    sa.Column("hazard_level", sa.String(16), nullable=False, server_default="general"),
    sa.Column("lon", sa.Float, nullable=False),  # WGS84
    sa.Column("lat", sa.Float, nullable=False),
    sa.Column("crs_reported", sa.String(16), nullable=False, server_default="wgs84"),
    sa.Column("lon_reported", sa.Float, nullable=False),
    sa.Column("lat_reported", sa.Float, nullable=False),
    sa.Column("building_id", sa.Integer),
    sa.Column("generation", sa.Integer),  # the generation the issue was located in
    sa.Column("location_status", sa.String(16), nullable=False),  # ok | outside | ambiguous
    sa.Column("on_boundary", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("near_boundary", sa.Boolean, nullable=False, server_default=sa.false()),
    *[sa.Column(name, sa.String(32)) for name in LEVEL_CODE_COLUMNS],
    sa.Column("level", sa.String(16), nullable=False),  # the ladder level handling it now
    sa.Column("handler_code", sa.String(32)),  # the area at that level
    sa.Column("assignee_worker_id", sa.Integer),
    sa.Column("assignee_name", sa.Text, nullable=False, server_default=""),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("parked_from", sa.String(16)),
    sa.Column("escalations", sa.Integer, nullable=False, server_default="0"),
    sa.Column("reporter_name", sa.Text, nullable=False, server_default=""),
    sa.Column("reporter_phone", sa.String(32), nullable=False, server_default=""),
    sa.Column("created_by", sa.Integer),  # the user (or API client) who reported it
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("stage_started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("due_at", sa.DateTime(timezone=True)),  # end of the current stage's time limit (NULL: no clock)
    sa.Column("closed_at", sa.DateTime(timezone=True)),
    sa.UniqueConstraint("channel", "created_by", "external_id", name="uq_issues_external"),
    # the constraint above never compares rows without a user (NULL): those are unique here (migration 0009)
    sa.Index(
        "uq_issues_external_unowned",
        "channel",
        "external_id",
        unique=True,
        sqlite_where=sa.text("created_by IS NULL"),
        postgresql_where=sa.text("created_by IS NULL"),
    ),
    sa.UniqueConstraint("token", name="uq_issues_token"),
    sa.Index("ix_issues_state_due", "state", "due_at"),
    sa.Index("ix_issues_grid", "grid_code"),
    sa.Index("ix_issues_micro_grid", "micro_grid_code"),
    sa.Index("ix_issues_community", "community_code"),
    sa.Index("ix_issues_street", "street_code"),
    sa.Index("ix_issues_created", "created_at"),
)

issue_events = sa.Table(
    "issue_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("issue_id", sa.Integer, sa.ForeignKey("issues.id", ondelete="CASCADE"), nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("user_id", sa.Integer),
    sa.Column("user_name", sa.Text, nullable=False),
    sa.Column("action", sa.String(16), nullable=False),  # report | accept | … | escalate | reopen
    sa.Column("from_state", sa.String(16)),
    sa.Column("to_state", sa.String(16)),
    sa.Column("from_level", sa.String(16)),
    sa.Column("to_level", sa.String(16)),
    sa.Column("note", sa.Text, nullable=False, server_default=""),
    sa.Column("stage", sa.String(16)),  # the stage this event ended, with its time limit and whether it was met
    sa.Column("stage_due_at", sa.DateTime(timezone=True)),
    sa.Column("on_time", sa.Boolean),
    sa.Index("ix_issue_events_issue", "issue_id"),
)

photos = sa.Table(
    "photos",
    metadata,
    sa.Column("sha256", sa.String(64), primary_key=True),  # content-addressed: the same photo is stored once
    sa.Column("content_type", sa.String(32), nullable=False),
    sa.Column("size", sa.Integer, nullable=False),
    sa.Column("width", sa.Integer),
    sa.Column("height", sa.Integer),
    sa.Column("data", sa.LargeBinary, nullable=False),
)

issue_photos = sa.Table(
    "issue_photos",
    metadata,
    sa.Column("issue_id", sa.Integer, sa.ForeignKey("issues.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("sha256", sa.String(64), sa.ForeignKey("photos.sha256"), primary_key=True),
    sa.Column("event_id", sa.Integer, sa.ForeignKey("issue_events.id")),
)

roads = sa.Table(
    "roads",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.Text, nullable=False, server_default=""),
    sa.Column("kind", sa.String(32), nullable=False, server_default=""),
    sa.Column("walkable", sa.Boolean, nullable=False, server_default=sa.true()),
    *_geometry_columns(),  # LineString / MultiLineString, WGS84
    sa.Column("ref", sa.String(64)),  # source id of an import (--id-field)
    sa.Index("ix_roads_bbox", "minx", "maxx", "miny", "maxy"),
    sa.Index("ix_roads_ref", "ref"),
)

#: Patrols (巡查, migration 0011): one per patrol a worker records on the phone or uploads as GPX; ``client_id`` is
#: the client's own id, so a resend finds the stored patrol instead of making another.
patrols = sa.Table(
    "patrols",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    sa.Column("client_id", sa.String(64), nullable=False),
    sa.Column("source", sa.String(8), nullable=False, server_default="app"),  # app | gpx
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("ended_at", sa.DateTime(timezone=True)),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("summary", sa.JSON),  # the analysis, stored when the patrol ends
    sa.UniqueConstraint("user_id", "client_id", name="uq_patrols_client"),
    sa.Index("ix_patrols_user_started", "user_id", "started_at"),
)

#: GPS fixes of a patrol (WGS84, accuracy in metres); one per instant, so a resent batch adds nothing.
patrol_positions = sa.Table(
    "patrol_positions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("patrol_id", sa.Integer, sa.ForeignKey("patrols.id", ondelete="CASCADE"), nullable=False),
    sa.Column("t", sa.DateTime(timezone=True), nullable=False),
    sa.Column("lon", sa.Float, nullable=False),
    sa.Column("lat", sa.Float, nullable=False),
    sa.Column("accuracy", sa.Float),
    sa.UniqueConstraint("patrol_id", "t", name="uq_patrol_positions_t"),
    sa.Index("ix_patrol_positions_t", "t"),
)

#: Check-ins (走访) at buildings, accepted only within reach of the footprint.
checkins = sa.Table(
    "checkins",
    metadata,
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
    sa.Index("ix_checkins_building_at", "building_id", "at"),
    sa.Index("ix_checkins_at", "at"),
)

#: Counters the database bumps (by trigger, migration 0007) on every write to an aggregate's tables:
#: ``areas`` (areas, generations) and ``assets`` (buildings, service points, roads, workers).
revisions = sa.Table(
    "revisions",
    metadata,
    sa.Column("name", sa.String(32), primary_key=True),
    sa.Column("value", sa.BigInteger, nullable=False, server_default="0"),
)

#: Planning rules waived for one area (boundaries/rules.py, migration 0013): who waived which rule, why, when.
rule_waivers = sa.Table(
    "rule_waivers",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("area_code", sa.String(32), nullable=False),
    sa.Column("rule", sa.String(32), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("user_id", sa.Integer),
    sa.Column("user_name", sa.String(64), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    # the open change set it was made in (dropped with it when discarded, NULL once published), NULL if none
    sa.Column("change_set", sa.Integer),
    sa.UniqueConstraint("area_code", "rule", name="uq_rule_waivers_area_rule"),
)

#: A job that should run once per deployment is run by the holder of its lease (migration 0016).
leases = sa.Table(
    "leases",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("holder", sa.String(128), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
)

#: Secrets every process of a deployment shares, e.g. the session-signing key on a server database (migration 0017).
shared_secrets = sa.Table(
    "shared_secrets",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("value", sa.String(256), nullable=False),
)

#: Rate-limit counters shared by every web worker (migration 0019, :mod:`boundaries.storage.rate_limits`): a fixed
#: window per name, its hits and the instant it ends (seconds since the epoch, UTC).
rate_limits = sa.Table(
    "rate_limits",
    metadata,
    sa.Column("name", sa.String(255), primary_key=True),
    sa.Column("hits", sa.Integer, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False),
    sa.Index("ix_rate_limits_expires_at", "expires_at"),
)

#: The package owning each table (its storage module is the only one that reads or writes it): ``boundaries``
#: (areas, generations, planning-rule waivers; assets: buildings, service points, workers, roads), ``accounts``,
#: ``issues``, ``patrols``, and ``core`` for the tables every package shares.
OWNERS: dict[str, str] = {
    **dict.fromkeys(("generations", "areas", "change_set_retired", "rule_waivers"), "boundaries"),
    **dict.fromkeys(("buildings", "service_points", "workers", "worker_areas", "roads"), "boundaries"),
    **dict.fromkeys(("users", "user_areas", "api_tokens", "user_sessions"), "accounts"),
    **dict.fromkeys(("issues", "issue_events", "photos", "issue_photos"), "issues"),
    **dict.fromkeys(("patrols", "patrol_positions", "checkins"), "patrols"),
    **dict.fromkeys(("audit_log", "revisions", "leases", "shared_secrets", "rate_limits"), "core"),
}
