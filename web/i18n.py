"""Page languages: Simplified Chinese by default, English on request (Flask-Babel message catalogs).

Templates and page code write English message ids (``_("Sign out")``); ``web/translations/zh`` holds their
Chinese text (Babel reads ``zh_CN`` as ``zh_Hans_CN`` and finds it under ``zh``). A page is in one language: the
caller's choice (kept on the user's row when signed in, in the session before), else ``DEFAULT_LOCALE``
(``zh_CN``). ``POST /language`` switches it.

Refreshing the catalog after changing page text::

    pybabel extract -F babel.cfg -o web/translations/messages.pot .
    pybabel update -i web/translations/messages.pot -d web/translations
    # translate the new entries in web/translations/zh/LC_MESSAGES/messages.po, then
    pybabel compile -d web/translations

``tests/web/test_i18n.py`` fails when a message has no translation or the compiled catalog is stale.
"""

from __future__ import annotations

import re
from pathlib import Path

from flask import Blueprint, Flask, current_app, g, redirect, request, session
from flask_babel import Babel
from flask_babel import gettext as _

from accounts.users import set_locale
from web.access import caller, public
from web.errors import ApiError

__all__ = [
    "LANGUAGES",
    "TRANSLATIONS",
    "init_i18n",
    "i18n",
    "page_locale",
    "locale_tag",
    "in_language",
    "keep_language_at_sign_in",
    "visible_text",
]

#: The page languages offered: locale → its name in itself.
LANGUAGES = {"zh_CN": "中文", "en": "English"}
TRANSLATIONS = Path(__file__).parent / "translations"

i18n = Blueprint("i18n", __name__)
#: Spellings of the page languages a form or a client may send (the page's own ``lang`` is ``zh-CN``).
_ALIASES = {
    **dict.fromkeys(("zh_cn", "zh", "zh_hans", "zh_hans_cn"), "zh_CN"),
    **dict.fromkeys(("en", "en_us", "en_gb"), "en"),
}

#: Chinese characters and full-width punctuation: where the Chinese half of a domain message ends.
_CJK = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uff00-\uffef“”‘’]")
_LATIN_WORDS = re.compile(r"[A-Za-z]{2,}.*\s.*[A-Za-z]{2,}", re.S)


def in_language(message: str, locale: str) -> str:
    """The half of a bilingual domain message (``"中文 English"``) in ``locale``; the whole when it is not one.

    The service's domain errors are written Chinese first, then English, so an API client reads both. A page is in
    one language, so it shows the Chinese half (up to the last Chinese character) or the English half (after it).
    A message that is not in that shape (only one language, or English text with Chinese names inside it that
    leaves no English half of two words or more) is shown whole.

    Parameters
    ----------
    message : str
        The message.
    locale : str
        ``zh_CN`` or ``en``.

    Returns
    -------
    str

    Examples
    --------
    >>> in_language("没有要修改的字段 nothing to change", "en")
    'nothing to change'
    >>> in_language("没有要修改的字段 nothing to change", "zh_CN")
    '没有要修改的字段'
    """
    text = str(message or "")
    last = next(reversed(list(_CJK.finditer(text))), None)
    if last is None or not text[: last.end()].strip():
        return text
    chinese, english = text[: last.end()].strip(), text[last.end() :].strip(" :：;；,，")
    if not _LATIN_WORDS.match(english) or not _CJK.match(chinese[0]):
        return text
    return chinese if str(locale).startswith("zh") else english


def page_locale() -> str:
    """The language of the current page: the caller's choice, else the deployment's default."""
    user = caller() if request else None
    chosen = (user.locale if user is not None else None) or session.get("locale")
    if chosen in LANGUAGES:
        return chosen
    return current_app.config.get("DEFAULT_LOCALE") or "zh_CN"


def locale_tag() -> str:
    """The current page language as a BCP 47 tag for ``<html lang>`` (``zh-CN`` or ``en``)."""
    return {"zh_CN": "zh-CN", "en": "en"}[str(page_locale())]


@i18n.route("/language", methods=["POST"])
@public
def choose_language():
    """Switch the page language (kept for the signed-in user; in the session before signing in)."""
    from web import registry
    from web.pages import safe_next

    chosen = _ALIASES.get(request.form.get("locale", "").strip().replace("-", "_").lower())
    if chosen is None:
        raise ApiError(_("Unknown language: choose 中文 or English."), "bad_locale", 400)
    user = caller()
    if user is None:
        session["locale"] = chosen  # until sign-in, which makes it the user's own (keep_language_at_sign_in)
    else:
        set_locale(registry(), user.id, chosen)
    g.pop("caller_locale", None)
    return redirect(safe_next(request.form.get("next")), code=303)


def keep_language_at_sign_in(user) -> None:
    """A language chosen on the sign-in page (kept in the session) becomes the user's own choice."""
    chosen = session.pop("locale", None)
    if chosen in LANGUAGES and chosen != user.locale:
        from web import registry

        set_locale(registry(), user.id, chosen)


#: Bidirectional overrides and isolates: text holding them can show "evil" as "live" (U+202E). Pages show them as
#: U+FFFD instead, so what was stored is never displayed reordered.
_BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")


def visible_text(value):
    """``value`` with bidirectional control characters shown as U+FFFD (other values unchanged)."""
    if isinstance(value, str) and not hasattr(value, "__html__") and _BIDI_CONTROLS.search(value):
        return _BIDI_CONTROLS.sub("\ufffd", value)
    return value


def init_i18n(app: Flask) -> None:
    """Install Flask-Babel with our catalogs and the language switch; keep bidirectional overrides out of pages."""
    app.jinja_env.finalize = visible_text
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(TRANSLATIONS))
    Babel(app, locale_selector=page_locale, timezone_selector=lambda: app.config.get("TIMEZONE"))
    app.register_blueprint(i18n)

    @app.template_filter("in_page_language")
    def _in_page_language(message) -> str:
        return in_language(message, page_locale())

    @app.context_processor
    def _languages() -> dict:
        return {"languages": LANGUAGES, "page_lang": locale_tag(), "page_locale": page_locale()}
