"""Page languages: Simplified Chinese by default, English on request (Flask-Babel message catalogs).

Templates and page code write English message ids (``_("Sign out")``); ``web/translations/zh_CN`` holds their
Chinese text. A page is in one language: the caller's choice (kept on the user's row when signed in, in the
session before), else ``DEFAULT_LOCALE`` (``zh_CN``). ``POST /language`` switches it.

Refreshing the catalog after changing page text::

    pybabel extract -F babel.cfg -o web/translations/messages.pot .
    pybabel update -i web/translations/messages.pot -d web/translations
    # translate the new entries in web/translations/zh_CN/LC_MESSAGES/messages.po, then
    pybabel compile -d web/translations

``tests/web/test_i18n.py`` fails when a message has no translation or the compiled catalog is stale.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Flask, current_app, g, redirect, request, session
from flask_babel import Babel, get_locale

from accounts.users import set_locale
from web.access import caller, public

__all__ = ["LANGUAGES", "TRANSLATIONS", "init_i18n", "i18n", "page_locale", "locale_tag"]

#: The page languages offered: locale → its name in itself.
LANGUAGES = {"zh_CN": "中文", "en": "English"}
TRANSLATIONS = Path(__file__).parent / "translations"

i18n = Blueprint("i18n", __name__)


def page_locale() -> str:
    """The language of the current page: the caller's choice, else the deployment's default."""
    user = caller() if request else None
    chosen = (user.locale if user is not None else None) or session.get("locale")
    if chosen in LANGUAGES:
        return chosen
    return current_app.config.get("DEFAULT_LOCALE") or "zh_CN"


def locale_tag() -> str:
    """The current page language as a BCP 47 tag for ``<html lang>`` (``zh-CN`` or ``en``)."""
    return str(get_locale() or "zh_CN").replace("_", "-")


@i18n.route("/language", methods=["POST"])
@public
def choose_language():
    """Switch the page language (kept for the signed-in user; in the session before signing in)."""
    from web import registry
    from web.pages import safe_next

    chosen = request.form.get("locale", "")
    if chosen not in LANGUAGES:
        return "unknown language", 400
    session["locale"] = chosen
    user = caller()
    if user is not None:
        set_locale(registry(), user.id, chosen)
    g.pop("caller_locale", None)
    return redirect(safe_next(request.form.get("next")), code=303)


def init_i18n(app: Flask) -> None:
    """Install Flask-Babel with our catalogs and the language switch."""
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(TRANSLATIONS))
    Babel(app, locale_selector=page_locale, timezone_selector=lambda: app.config.get("TIMEZONE"))
    app.register_blueprint(i18n)

    @app.context_processor
    def _languages() -> dict:
        return {"languages": LANGUAGES, "page_lang": locale_tag(), "page_locale": str(get_locale())}
