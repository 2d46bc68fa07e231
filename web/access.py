"""The access model at the edge: who is calling, and may they call this route at all.

Every view declares what it needs with :func:`allow` (a permission from :data:`accounts.roles.PERMISSIONS`),
:func:`authenticated` or :func:`public`; one ``before_request`` hook enforces it for every route. A route that
declares nothing is refused (fail closed), and the authorization-matrix test walks the URL map so a new route
without a declaration fails the tests. What a permitted caller then sees is filtered by area scope in the
domain layer (:class:`boundaries.scope.ScopedRegistry`, obtained through :func:`scoped`).
"""

from __future__ import annotations

from flask import Flask, current_app, g, redirect, request, url_for
from flask_login import LoginManager, UserMixin, current_user
from flask_wtf.csrf import CSRFProtect

from accounts.roles import PERMISSIONS
from accounts.sessions import end_session, session_is_live, start_session
from accounts.tokens import resolve_token
from accounts.users import User, get_user
from boundaries.scope import ScopedRegistry
from core.errors import NotFoundError
from web.bodies import init_bodies
from web.errors import ApiError

__all__ = [
    "allow",
    "authenticated",
    "public",
    "anonymous",
    "PUBLIC",
    "AUTHENTICATED",
    "EXTERNAL_ENDPOINTS",
    "access_of",
    "may_call",
    "caller",
    "identify",
    "scoped",
    "login_user_session",
    "logout_user_session",
    "init_access",
    "csrf",
]

PUBLIC = "public"
AUTHENTICATED = "authenticated"
#: Routes registered by libraries rather than by our views, and what they need.
EXTERNAL_ENDPOINTS = {"static": PUBLIC, "api-docs.openapi_json": PUBLIC}
_SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}

csrf = CSRFProtect()
login_manager = LoginManager()


def _declare(value):
    def decorator(view):
        view._weige_access = value
        return view

    return decorator


def allow(*permissions: str):
    """Declare that a view needs one of ``permissions`` (see :data:`accounts.roles.PERMISSIONS`)."""
    for permission in permissions:
        if permission not in PERMISSIONS:
            raise KeyError(f"unknown permission {permission!r}")
    return _declare(permissions[0] if len(permissions) == 1 else tuple(permissions))


#: Declare that a view needs a signed-in caller of any role.
authenticated = _declare(AUTHENTICATED)
#: Declare that a view is open to everyone.
public = _declare(PUBLIC)
#: Declare that a view is open to everyone and reads no credentials at all (a load balancer's probe: whatever
#: header a monitor sends, it gets the same answer and no session).
ANONYMOUS = "anonymous"
anonymous = _declare(ANONYMOUS)


def access_of(app: Flask, endpoint: str):
    """What an endpoint needs: a permission or a tuple of them (any will do), ``authenticated`` or ``public``.

    ``None`` means the endpoint declared nothing (and is refused).
    """
    if endpoint in EXTERNAL_ENDPOINTS:
        return EXTERNAL_ENDPOINTS[endpoint]
    return getattr(app.view_functions.get(endpoint), "_weige_access", None)


def may_call(endpoint: str) -> bool:
    """Whether the caller may call ``endpoint``, by the access rule the route itself declares.

    A page offers a link exactly when following it is allowed: one source of truth, the route's ``allow``.
    An endpoint the app does not have is never offered.
    """
    need, user = access_of(current_app, endpoint), caller()
    if need == PUBLIC:
        return True
    if need is None or user is None:
        return False
    return need == AUTHENTICATED or any(user.can(n) for n in ((need,) if isinstance(need, str) else need))


class _SessionUser(UserMixin):
    """Flask-Login's view of a user.

    The id is ``user:version:key``: the version ends every session of the user when their password, role,
    areas or active flag change; the key names this one session on the server (:mod:`accounts.sessions`),
    so signing out ends it even if a copy of the cookie is replayed.
    """

    def __init__(self, user: User, key: str):
        self.user, self.key = user, key

    def get_id(self) -> str:
        return f"{self.user.id}:{self.user.session_version}:{self.key}"


def login_user_session(user: User) -> None:
    """Start a browser session for ``user``: a new server-side session and a fresh cookie (against fixation)."""
    from flask import session
    from flask_login import login_user

    logout_user_session()  # signing in over an open session ends that one
    session.clear()
    key = start_session(current_app.extensions["weige.registry"], user.id, current_app.permanent_session_lifetime)
    login_user(_SessionUser(user, key))


def logout_user_session() -> None:
    """End the current browser session on the server and clear the cookie."""
    from flask_login import logout_user

    if current_user.is_authenticated:
        end_session(current_app.extensions["weige.registry"], current_user.key)
    logout_user()


def caller() -> User | None:
    """The user making the current request (``None`` when anonymous)."""
    return g.get("caller")


def scoped() -> ScopedRegistry:
    """The registry as the current caller may see and change it. Views get data only through this."""
    user = caller()
    if user is None:  # pragma: no cover - the before_request hook has refused anonymous callers already
        raise ApiError("请先登录 sign in first", "unauthenticated", 401)
    registry = current_app.extensions["weige.registry"]
    return ScopedRegistry(registry, user.scope(), user.actor(request.remote_addr or ""))


def _wants_json() -> bool:
    return request.path.startswith(("/api/", "/open311/", "/tiles/", "/ogc")) or bool(g.get("bearer"))


def _identify() -> User | None:
    header = request.headers.get("Authorization", "")
    if not header and request.path.startswith("/open311/") and request.values.get("api_key"):
        header = "Bearer " + request.values["api_key"]  # GeoReport v2 sends the key as a parameter
    if header:
        parts = header.split()
        if len(parts) != 2 or parts[0].lower() != "bearer":
            raise ApiError("Authorization 头格式应为 Bearer <token>", "unauthenticated", 401)
        g.bearer = True
        user = resolve_token(current_app.extensions["weige.registry"], parts[1])
        if user is None:
            raise ApiError("令牌无效、已过期或已撤销 invalid, expired or revoked token", "unauthenticated", 401)
        return user
    return current_user.user if current_user.is_authenticated else None


def identify() -> User | None:
    """The authenticated caller of this request (token or session), resolved once per request.

    Raises :class:`ApiError` (401) for a malformed ``Authorization`` header or an unknown token. The rate
    limiter keys on this caller, so every spelling of one token (and every token of one user) shares a quota.
    """
    if "weige_identity" not in g:
        try:
            g.weige_identity = (_identify(), None)
        except ApiError as exc:
            g.weige_identity = (None, exc)
    user, error = g.weige_identity
    if error is not None:
        raise error
    return user


def _enforce():
    endpoint = request.endpoint
    if endpoint is None:  # no such route (404) or method (405): the error handler answers, with the user's header
        try:
            g.caller = identify()
        except ApiError:
            g.caller = None
        return None
    need = access_of(current_app, endpoint)
    if need is None:
        current_app.logger.error("route %s declares no access rule; refused", endpoint)
        raise ApiError("该接口未声明访问规则 route without an access rule", "forbidden", 403)
    if need == ANONYMOUS and request.method in _SAFE_METHODS:
        g.caller = None
        return None
    user = identify()
    g.caller = user
    if need in (PUBLIC, ANONYMOUS):
        if request.method not in _SAFE_METHODS and not g.get("bearer"):
            csrf.protect()
        return None
    if user is None:
        if _wants_json():
            raise ApiError("请先登录或提供令牌 sign in or send a Bearer token", "unauthenticated", 401)
        return redirect(url_for("pages.login", next=request.full_path.rstrip("?")))
    if request.method not in _SAFE_METHODS and not g.get("bearer"):
        csrf.protect()
    needs = (need,) if isinstance(need, str) else need
    if need != AUTHENTICATED and not any(user.can(n) for n in needs):
        raise ApiError(f"您的角色无权执行此操作 your role may not do this ({' | '.join(needs)})", "forbidden", 403)
    return None


def init_access(app: Flask) -> None:
    """Install sessions, CSRF protection and the access check on ``app``."""
    app.config.setdefault("WTF_CSRF_CHECK_DEFAULT", False)  # checked in _enforce, skipped for Bearer tokens
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)  # valid for the session's lifetime
    csrf.init_app(app)
    login_manager.init_app(app)
    login_manager.session_protection = "basic"

    @login_manager.user_loader
    def _load(session_id: str):
        user_id, version, key = (str(session_id).split(":", 2) + ["", ""])[:3]
        registry = current_app.extensions["weige.registry"]  # the loader is shared by every app of the process
        try:
            user = get_user(registry, int(user_id))
        except (NotFoundError, ValueError):
            return None
        if not user.active or str(user.session_version) != version or user.role == "api_client":
            return None
        if not session_is_live(registry, user.id, key):  # signed out (or a session from before server records)
            return None
        return _SessionUser(user, key)

    app.before_request(_enforce)
    init_bodies(app)  # JSON bodies are checked once the caller is known (anonymous callers get 401 first)
