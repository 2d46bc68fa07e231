"""Accounts and the audit log over the API: who am I, users, tokens (shown once), audit entries."""

from __future__ import annotations

from flask import current_app, request
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from accounts import tokens, users
from accounts.roles import ROLE_PERMISSIONS, ROLES
from core import audit
from web import registry
from web.access import allow, authenticated, caller
from web.api import MAX_ID

__all__ = ["blueprints", "AuditQuery", "audit_page_args"]

accounts_bp = Blueprint("accounts", __name__, url_prefix="/api/v1", description="用户与令牌 users and tokens")
audit_bp = Blueprint("audit", __name__, url_prefix="/api/v1", description="审计日志 the audit log")
blueprints = [accounts_bp, audit_bp]

_AREAS = fields.List(fields.String(validate=validate.Length(min=1, max=32)), validate=validate.Length(max=100))


class UserCreate(Schema):
    """A new user."""

    name = fields.String(required=True, validate=validate.Length(min=2, max=64))
    role = fields.String(required=True, validate=validate.OneOf(ROLES))
    areas = _AREAS
    password = fields.String(validate=validate.Length(max=200), load_only=True)
    display_name = fields.String(validate=validate.Length(max=100))
    phone = fields.String(validate=validate.Length(max=32))


class UserUpdate(Schema):
    """Changes to a user."""

    role = fields.String(validate=validate.OneOf(ROLES))
    areas = _AREAS
    active = fields.Boolean()
    password = fields.String(validate=validate.Length(max=200), load_only=True)
    display_name = fields.String(validate=validate.Length(max=100))
    phone = fields.String(validate=validate.Length(max=32))


class TokenCreate(Schema):
    """A new token for a user."""

    user_id = fields.Integer(required=True, validate=validate.Range(min=1, max=MAX_ID))
    name = fields.String(load_default="", validate=validate.Length(max=100))
    days = fields.Integer(load_default=90, validate=validate.Range(min=1, max=tokens.MAX_DAYS))


class TokenQuery(Schema):
    """Tokens of one user."""

    user_id = fields.Integer(validate=validate.Range(min=1, max=MAX_ID))


class AuditQuery(Schema):
    """Filters and page of the audit log."""

    user = fields.String(validate=validate.Length(max=64))
    object_type = fields.String(validate=validate.Length(max=32))
    object_id = fields.String(validate=validate.Length(max=64))
    since = fields.DateTime()  # without an offset: in the deployment's zone (WORK_CALENDAR tz)
    until = fields.DateTime()
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=1_000_000))
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))


def _actor():
    return caller().actor(request.remote_addr or "")


@accounts_bp.route("/me")
@authenticated
@accounts_bp.response(200, description="The calling user, their areas and permissions")
def me():
    """Who is calling, with their role's permissions."""
    user = caller()
    return user.as_dict() | {"permissions": sorted(ROLE_PERMISSIONS[user.role])}


@accounts_bp.route("/users")
@allow("users:manage")
@accounts_bp.response(200, description="Every user")
def list_users():
    """Users with their roles and areas."""
    return {"users": [u.as_dict() for u in users.list_users(registry())]}


@accounts_bp.route("/users", methods=["POST"])
@allow("users:manage")
@accounts_bp.arguments(UserCreate)
@accounts_bp.response(201, description="The new user")
def create_user(body):
    """Create a user bound to areas (API clients get tokens, not passwords)."""
    return users.create_user(registry(), actor=_actor(), **body).as_dict()


@accounts_bp.route("/users/<int(min=1, max=2147483647):user_id>")
@allow("users:manage")
@accounts_bp.response(200, description="One user")
def get_user(user_id):
    """One user."""
    return users.get_user(registry(), user_id).as_dict()


@accounts_bp.route("/users/<int(min=1, max=2147483647):user_id>", methods=["PATCH"])
@allow("users:manage")
@accounts_bp.arguments(UserUpdate)
@accounts_bp.response(200, description="The user after the change")
def update_user(body, user_id):
    """Change a user's role, areas, password or active flag (ends their sessions)."""
    return users.update_user(registry(), user_id, actor=_actor(), **body).as_dict()


@accounts_bp.route("/tokens")
@allow("users:manage")
@accounts_bp.arguments(TokenQuery, location="query")
@accounts_bp.response(200, description="Tokens without their secrets")
def list_tokens(args):
    """API tokens, optionally of one user."""
    return {"tokens": tokens.list_tokens(registry(), args.get("user_id"))}


@accounts_bp.route("/tokens", methods=["POST"])
@allow("users:manage")
@accounts_bp.arguments(TokenCreate)
@accounts_bp.response(201, description="The token, with its secret shown this once")
def create_token(body):
    """Create an API token; copy ``secret`` now, it is not stored and cannot be shown again."""
    secret, token = tokens.create_token(registry(), body["user_id"], body["name"], body["days"], actor=_actor())
    return token | {"secret": secret}


@accounts_bp.route("/tokens/<int(min=1, max=2147483647):token_id>", methods=["DELETE"])
@allow("users:manage")
@accounts_bp.response(200, description="The revoked token")
def revoke_token(token_id):
    """Revoke a token at once."""
    return tokens.revoke_token(registry(), token_id, actor=_actor())


def audit_page_args(args: dict) -> dict:
    """Keyword arguments of :func:`core.audit.entries` from parsed :class:`AuditQuery` values."""
    from issues.worktime import to_utc

    keys = ("user", "object_type", "object_id", "since", "until", "page", "per_page")
    out = {k: args[k] for k in keys if args.get(k) is not None}
    zone = current_app.extensions["weige.issues"].calendar.tz
    for key in ("since", "until"):
        if key in out:
            out[key] = to_utc(out[key], zone, key)
    return out


@audit_bp.route("/audit")
@allow("audit:read")
@audit_bp.arguments(AuditQuery, location="query")
@audit_bp.response(200, description="One page of audit entries, newest first")
def list_audit(args):
    """The audit log: who changed what, when, before and after; filter by user, object and time."""
    rows, total = audit.entries(registry().store.engine, **audit_page_args(args))
    return {"entries": rows, "total": total, "page": args["page"], "per_page": args["per_page"]}
