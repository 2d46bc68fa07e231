"""Users: login name, role, the areas they are bound to, an argon2 password hash.

Every change is written with its audit entry in one transaction; the audit never holds password hashes.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timezone

from accounts import storage as st
from accounts.passwords import hash_password, needs_rehash, verify_password
from accounts.roles import check_role, has_permission
from accounts.sessions import end_user_sessions
from boundaries.registry import Registry
from core.audit import SYSTEM, Actor, record
from core.errors import ConflictError, InvalidInputError, NotFoundError
from core.scope import Scope

__all__ = [
    "User",
    "create_user",
    "update_user",
    "list_users",
    "get_user",
    "find_user",
    "authenticate",
    "set_locale",
    "name_key",
]

_NAME = re.compile(r"^[\w.\-@]{2,64}$")


def name_key(name: str) -> str:
    """A login name as compared: NFKC-normalised and case-folded (``CaseUser`` = ``caseuser`` = ``ｃaseuser``)."""
    return unicodedata.normalize("NFKC", str(name).strip()).casefold()


def _login_row(conn, name: str) -> dict | None:
    """The users row of a login name: the exact name first, else the name compared without case.

    Names that differed only in case before migration 0008 keep signing in by their exact name.
    """
    return st.login_row(conn, str(name).strip(), name_key(name))


@dataclass(frozen=True)
class User:
    """A user as the rest of the service sees it (never with the password hash)."""

    id: int
    name: str
    role: str
    display_name: str = ""
    phone: str = ""
    active: bool = True
    session_version: int = 1
    areas: tuple[str, ...] = field(default_factory=tuple)
    locale: str | None = None

    def can(self, permission: str) -> bool:
        """Whether the user's role grants ``permission``."""
        return self.active and has_permission(self.role, permission)

    def scope(self) -> Scope:
        """The areas the user sees: everything for admins, else their bound areas and all below them."""
        if self.role == "admin":
            return Scope.everything()
        reporter = self.id if self.role == "api_client" else None
        return Scope(frozenset(self.areas), full_phones=has_permission(self.role, "workers:phones"), reporter=reporter)

    def actor(self, source: str = "") -> Actor:
        """The user as the author of changes in the audit log."""
        return Actor(self.id, self.name, source)

    def as_dict(self) -> dict:
        """JSON-ready properties."""
        return {
            "id": self.id,
            "name": self.name,
            "display_name": self.display_name,
            "role": self.role,
            "phone": self.phone,
            "active": self.active,
            "areas": list(self.areas),
        }


def _users(conn, user_id: int | None = None) -> list[User]:
    return [
        User(
            id=r["id"],
            name=r["name"],
            role=r["role"],
            display_name=r["display_name"],
            phone=r["phone"],
            active=bool(r["active"]),
            session_version=r["session_version"],
            areas=r["areas"],
            locale=r.get("locale"),
        )
        for r in st.user_rows(conn, user_id)
    ]


def list_users(registry: Registry) -> list[User]:
    """Every user."""
    with registry.store.engine.connect() as conn:
        return _users(conn)


def get_user(registry: Registry, user_id: int, conn=None) -> User:
    """One user by id; :class:`NotFoundError` if there is none."""
    if conn is None:
        with registry.store.engine.connect() as conn:
            return get_user(registry, user_id, conn)
    found = _users(conn, int(user_id))
    if not found:
        raise NotFoundError(f"用户不存在 no user with id {user_id}")
    return found[0]


def find_user(registry: Registry, name: str) -> User | None:
    """The user with a login name (compared without case; see :func:`name_key`), or ``None``."""
    with registry.store.engine.connect() as conn:
        row = _login_row(conn, name)
        return get_user(registry, row["id"], conn) if row is not None else None


def _check_areas(registry: Registry, role: str, areas) -> list[str]:
    areas = sorted({str(a).strip() for a in areas or () if str(a).strip()})
    if role != "admin" and not areas:
        raise InvalidInputError("请绑定至少一个区域 bind the user to at least one area (--area CODE)")
    if areas:
        known = set(registry.areas(codes=areas)["code"])
        unknown = [a for a in areas if a not in known]
        if unknown:
            raise NotFoundError(f"区域不存在 unknown area code(s): {', '.join(unknown)}")
    return areas


def create_user(
    registry: Registry,
    name: str,
    role: str,
    areas=(),
    password: str | None = None,
    display_name: str = "",
    phone: str = "",
    actor: Actor = SYSTEM,
) -> User:
    """Create a user bound to ``areas`` (codes of the current generation; admins need none).

    API clients have no password: they authenticate with tokens only. Everyone else needs one. Login names are
    compared without case (:func:`name_key`): ``CaseUser`` is refused while ``caseuser`` exists.
    """
    name = str(name).strip()
    if not _NAME.match(name):
        raise InvalidInputError("登录名须为 2–64 个字母、数字或 _.-@ login name: 2–64 letters, digits or _.-@")
    check_role(role)
    areas = _check_areas(registry, role, areas)
    if role == "api_client":
        if password:
            raise InvalidInputError("接口客户端不使用密码 API clients use tokens, not passwords")
        password_hash = None
    else:
        if not password:
            raise InvalidInputError("请设置密码 a password is required")
        password_hash = hash_password(password)
    taken = ConflictError(f"登录名已存在（不区分大小写） the login name {name!r} is taken (names ignore case)")
    with registry.store.transaction() as conn:
        if st.name_taken(conn, name, name_key(name)):
            raise taken
        try:
            user_id = st.insert_user(
                conn,
                name=name,
                name_key=name_key(name),
                role=role,
                display_name=str(display_name),
                phone=str(phone),
                password_hash=password_hash,
                created_at=datetime.now(timezone.utc),
            )
        except st.IntegrityError as exc:  # the same name created at this moment elsewhere: the index refuses
            raise taken from exc
        st.add_user_areas(conn, user_id, areas)
        user = get_user(registry, user_id, conn)
        record(conn, actor, "create", "user", user_id, None, user.as_dict())
    return user


def update_user(registry: Registry, user_id: int, actor: Actor = SYSTEM, **changes) -> User:
    """Change a user's ``role``, ``areas``, ``active``, ``password``, ``display_name`` or ``phone``.

    Changing the role, areas, password or active flag ends the user's open sessions.
    """
    allowed = {"role", "areas", "active", "password", "display_name", "phone"}
    if not changes:
        raise InvalidInputError("没有要修改的字段 nothing to change")
    unknown = sorted(set(changes) - allowed)
    if unknown:
        raise InvalidInputError(f"不能修改的字段 fields that cannot be changed: {', '.join(unknown)}")
    old = get_user(registry, user_id)
    role = check_role(changes.get("role", old.role))
    values: dict = {}
    for key in ("role", "display_name", "phone"):
        if key in changes:
            values[key] = str(changes[key])
    if "active" in changes:
        values["active"] = bool(changes["active"])
    if "password" in changes:
        if role == "api_client":
            raise InvalidInputError("接口客户端不使用密码 API clients use tokens, not passwords")
        values["password_hash"] = hash_password(changes["password"])
    areas = _check_areas(registry, role, changes["areas"] if "areas" in changes else old.areas)
    if {"role", "areas", "active", "password"} & set(changes):
        values["session_version"] = old.session_version + 1
    with registry.store.transaction() as conn:
        if values:
            st.update_user_row(conn, old.id, **values)
        if "session_version" in values:
            end_user_sessions(conn, old.id)
        st.replace_user_areas(conn, old.id, areas)
        new = get_user(registry, old.id, conn)
        after = new.as_dict() | ({"password": "(changed)"} if "password" in changes else {})
        record(conn, actor, "update", "user", old.id, old.as_dict(), after)
    return new


def set_locale(registry: Registry, user_id: int, locale: str | None) -> None:
    """Remember the page language a user chose (``None``: the deployment's default); sessions stay open."""
    with registry.store.transaction() as conn:
        st.update_user_row(conn, user_id, locale=locale)


def authenticate(registry: Registry, name: str, password: str) -> User | None:
    """The active user with this login name (any case) and password, else ``None`` (same cost either way)."""
    with registry.store.engine.connect() as conn:
        row = _login_row(conn, str(name))
    ok = verify_password(row["password_hash"] if row else None, str(password))
    if not ok or not row["active"]:
        return None
    if needs_rehash(row["password_hash"]):
        with registry.store.transaction() as conn:
            st.update_user_row(conn, row["id"], password_hash=hash_password(str(password)))
    return get_user(registry, row["id"])
