"""Every error the app returns, mapped to HTTP in one place, as ``{"error": {"code", "message"}}``."""

from __future__ import annotations

from flask import Flask, g, jsonify, render_template, request
from flask_babel import lazy_gettext as _l
from werkzeug.exceptions import HTTPException

from core.errors import (
    ConflictError,
    InvalidInputError,
    NoGenerationError,
    NotFoundError,
    OutOfScopeError,
    RegistryError,
)
from geo.errors import GeoError

__all__ = ["STATUS_CODES", "domain_status", "register_error_handlers", "ApiError", "parse_json"]


class ApiError(Exception):
    """An error raised by the web layer itself (bad query parameters, unsupported body)."""

    def __init__(self, message: str, code: str = "bad_request", status: int = 400, details=None):
        super().__init__(message)
        self.code, self.status, self.details = code, status, details


def parse_json(raw: bytes):
    """A request body as JSON, or :class:`ApiError` ``malformed_json`` saying what is wrong with it.

    Hostile JSON (lone surrogates, deep nesting, huge numbers, non-UTF-8 bytes …) is refused as well; see
    :func:`web.bodies.loads`.
    """
    from web.bodies import parsed_body  # web.bodies raises ApiError: imported here, not at the top

    return parsed_body(raw)


#: Domain error classes and their HTTP status; the most specific class wins.
STATUS_CODES: dict[type[Exception], int] = {
    OutOfScopeError: 403,
    NoGenerationError: 404,
    NotFoundError: 404,
    ConflictError: 409,
    InvalidInputError: 400,
    RegistryError: 400,
    GeoError: 400,
}


def domain_status(exc: Exception) -> int:
    """The HTTP status of a domain error: that of the first (most specific) class in :data:`STATUS_CODES` it is."""
    return next(s for cls, s in STATUS_CODES.items() if isinstance(exc, cls))


#: Error page headings by status (in the page's language; see web/i18n.py).
_PAGE_TITLES = {
    400: _l("The request could not be understood"),
    401: _l("Please sign in"),
    403: _l("You may not open this"),
    404: _l("Not found"),
    405: _l("Not allowed here"),
    409: _l("Conflicting change"),
    412: _l("Changed by someone else"),
    413: _l("Too large"),
    415: _l("Unsupported type"),
    422: _l("The request could not be understood"),
    429: _l("Too many requests"),
}
_SOMETHING_WRONG = _l("Something went wrong")
#: What a page says for the router's own errors (no such page, a method the page does not take).
_PAGE_MESSAGES = {
    404: _l("There is no such page. Check the address, or go back to the home page."),
    405: _l("This page cannot be opened that way."),
}


def _body(code: str, message: str, status: int, details=None):
    if request.path.startswith("/open311/"):
        from web.open311 import error_response

        return error_response(status, message)
    if _wants_page():
        user = g.get("caller")  # the signed-in user keeps their header on error pages too
        title = str(_PAGE_TITLES.get(status, _SOMETHING_WRONG))
        page = render_template("error.html", code=code, message=message, status=status, title=title, user=user)
        return page, status
    error = {"code": code, "message": message}
    if details:
        error["details"] = details
    return jsonify({"error": error}), status


def _wants_page() -> bool:
    """Pages get an HTML error page; the API, Open311 and token callers get JSON."""
    if request.path.startswith(("/api/", "/open311/", "/vendor/", "/tiles/")) or g.get("bearer"):
        return False
    return request.accept_mimetypes.accept_html


def register_error_handlers(app: Flask) -> None:
    """Install the handlers (after flask-smorest's, so these win)."""

    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError):
        return _body(exc.code, str(exc), exc.status, exc.details)

    @app.errorhandler(RegistryError)
    @app.errorhandler(GeoError)
    def _domain_error(exc: Exception):
        return _body(getattr(exc, "code", "bad_request"), str(exc), domain_status(exc))

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        details = (getattr(exc, "data", None) or {}).get("messages")
        message = exc.description or exc.name
        if details:
            message = "请求参数错误 invalid request parameters"
        elif exc.code in _PAGE_MESSAGES and _wants_page():  # Werkzeug's own English sentence, on a page
            message = str(_PAGE_MESSAGES[exc.code])
        code = exc.name.lower().replace(" ", "_")
        return _body(code, message, exc.code or 500, details)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):  # pragma: no cover - last resort: log, never leak internals
        app.logger.exception("unhandled error")
        return _body("internal_error", "服务器内部错误 internal error", 500)
