"""Rate limits (Flask-Limiter): a default per caller on every API route, tighter ones on login and intake.

Limits are read from the config at request time (``API_RATE_LIMIT``, ``LOGIN_RATE_LIMIT``,
``LOGIN_NAME_RATE_LIMIT``, ``INTAKE_RATE_LIMIT``), so deployments tune them without code changes.

Where the counters live (``RATELIMIT_STORAGE_URI``): on a server database (PostgreSQL / PostGIS) by default in that
database (``weige-db://``, :class:`DatabaseLimitStorage` over :mod:`boundaries.storage.rate_limits`), so every web
worker of the deployment counts against one quota; on SQLite (one process) in memory (``memory://``) unless
``weige-db://`` is asked for; a Redis URL (``redis://host:6379``) works too, as Flask-Limiter's own storage.

Behind reverse proxies every request comes from the proxy's address, so per-address limits (sign-in, anonymous
callers) would be one allowance for everyone: ``RATELIMIT_PROXY_HOPS`` (default 0) says how many trusted proxies
append to ``X-Forwarded-For``, and the client's address is the entry the outermost of them added (what a client
writes there itself is ignored).
"""

from __future__ import annotations

import hashlib

import sqlalchemy as sa
from flask import Flask, current_app, g, has_request_context, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from limits.storage import Storage

from boundaries.storage.rate_limits import RateCounters
from web.access import identify
from web.errors import ApiError
from web.settings import SettingsError

__all__ = ["init_limits", "limit_login", "limit_intake", "client_address", "DatabaseLimitStorage", "DATABASE_LIMITS"]

#: The ``RATELIMIT_STORAGE_URI`` of counters in the app's own database.
DATABASE_LIMITS = "weige-db://"


class DatabaseLimitStorage(Storage):
    """A ``limits`` storage over the app's database: what Flask-Limiter's fixed-window strategy calls.

    Built by Flask-Limiter from ``weige-db://`` with the option ``store`` (the app's store), which
    :func:`init_limits` passes. Only the fixed-window strategy (Flask-Limiter's default) is supported.
    """

    STORAGE_SCHEME = ["weige-db"]

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, store=None, **options):
        if store is None:
            raise ValueError("weige-db:// rate limits need the app's store (storage option 'store')")
        super().__init__(uri, wrap_exceptions=wrap_exceptions)
        self.counters = RateCounters(store)

    @property
    def base_exceptions(self) -> type[Exception]:
        """The database's errors (wrapped as ``StorageError`` when Flask-Limiter asks)."""
        return sa.exc.SQLAlchemyError

    @staticmethod
    def _name(key: str) -> str:
        """The stored name of ``key``: itself, or when longer than the column allows, its start and a digest."""
        if len(key) <= 255:
            return key
        return key[:180] + "#" + hashlib.sha256(key.encode()).hexdigest()

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        """Count ``amount`` hits in the window ``key`` (started now for ``expiry`` seconds if none runs)."""
        hits, ends = self.counters.hit(self._name(key), expiry, amount)
        if has_request_context():  # the response's X-RateLimit-* headers read the window next: no second query
            g.setdefault("weige_rate_windows", {})[key] = (hits, ends)
        return hits

    def _counted(self, key: str) -> tuple[int, float] | None:
        """What this request's own hit of ``key`` returned (``None``: no hit yet, or outside a request)."""
        return g.get("weige_rate_windows", {}).get(key) if has_request_context() else None

    def get(self, key: str) -> int:
        """The hits of the running window ``key`` (as this request's hit left it, else from the database)."""
        counted = self._counted(key)
        return counted[0] if counted else self.counters.count(self._name(key))

    def get_expiry(self, key: str) -> float:
        """When the window ``key`` ends (epoch seconds; now when none runs, as the memory storage answers)."""
        counted = self._counted(key)
        ends = counted[1] if counted else self.counters.expires_at(self._name(key))
        return self.counters.clock() if ends is None else ends

    def check(self) -> bool:
        """Whether the database answers."""
        try:
            return self.counters.ping()
        except sa.exc.SQLAlchemyError:
            return False

    def reset(self) -> int | None:
        """Forget every window."""
        return self.counters.clear_all()

    def clear(self, key: str) -> None:
        """Forget the window ``key``."""
        if has_request_context():
            g.get("weige_rate_windows", {}).pop(key, None)
        self.counters.clear(self._name(key))


def storage_uri(config) -> str:
    """Where the counters live: ``RATELIMIT_STORAGE_URI`` when set, else a server database, else memory.

    SQLite serves from one process, so its counters stay in memory unless ``weige-db://`` is asked for.
    """
    if config.get("RATELIMIT_STORAGE_URI"):
        return config["RATELIMIT_STORAGE_URI"]
    return "memory://" if str(config.get("DATABASE_URL", "")).startswith("sqlite") else DATABASE_LIMITS


def client_address() -> str:
    """The client's address: the peer, or the ``X-Forwarded-For`` entry the outermost trusted proxy added.

    With ``RATELIMIT_PROXY_HOPS`` = n, the n-th entry from the right; entries further left are the client's own
    and could be forged.
    """
    hops = current_app.config.get("RATELIMIT_PROXY_HOPS") or 0
    if hops:
        forwarded = [a.strip() for a in ",".join(request.headers.getlist("X-Forwarded-For")).split(",") if a.strip()]
        if len(forwarded) >= hops:
            return forwarded[-hops]
    return get_remote_address()


def _caller_key() -> str:
    """The authenticated caller (user id), whatever the spelling of their token; the address when anonymous."""
    try:
        user = identify()
    except ApiError:  # a malformed header or unknown token: counted per address (and refused with 401 later)
        user = None
    return f"user:{user.id}" if user is not None else f"ip:{client_address()}"


def _login_name_key() -> str:
    return "login:" + str(request.form.get("username", "")).strip().lower()[:64]


def init_limits(app: Flask) -> Limiter:
    """Create the app's limiter; views named in :func:`limit_login` / :func:`limit_intake` get tighter limits."""
    app.config["RATELIMIT_STORAGE_URI"] = storage_uri(app.config)
    hops = app.config.setdefault("RATELIMIT_PROXY_HOPS", 0)
    if not isinstance(hops, int) or isinstance(hops, bool) or not 0 <= hops <= 10:
        raise SettingsError(
            f"设置 RATELIMIT_PROXY_HOPS 应为 0–10 的整数 "
            f"setting RATELIMIT_PROXY_HOPS must be an integer from 0 to 10, not {hops!r}"
        )
    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", True)
    in_database = app.config["RATELIMIT_STORAGE_URI"].startswith("weige-db:")
    # a counter store that fails (a locked or unreachable database) lets the request through, logged: a limit
    # must not turn every API read into a 500
    app.config.setdefault("RATELIMIT_SWALLOW_ERRORS", True)
    limiter = Limiter(
        key_func=_caller_key,
        app=app,
        storage_options={"store": app.extensions["weige.registry"].store} if in_database else None,
        default_limits=[lambda: current_app.config["API_RATE_LIMIT"]],
        default_limits_exempt_when=lambda: not request.path.startswith("/api/"),
    )
    app.extensions["weige.limiter"] = limiter
    return limiter


def limit_login(limiter: Limiter, view):
    """Throttle sign-in attempts per client address and per login name (POST only)."""
    view = limiter.limit(lambda: current_app.config["LOGIN_RATE_LIMIT"], key_func=client_address, methods=["POST"])(
        view
    )
    return limiter.limit(
        lambda: current_app.config["LOGIN_NAME_RATE_LIMIT"], key_func=_login_name_key, methods=["POST"]
    )(view)


def limit_intake(limiter: Limiter, view):
    """Throttle issue intake per caller (token or user), one allowance shared by every intake route."""
    limit = limiter.shared_limit(
        lambda: current_app.config["INTAKE_RATE_LIMIT"], scope="intake", key_func=_caller_key, methods=["POST"]
    )
    return limit(view)
