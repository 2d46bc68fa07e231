"""Page languages: every page message has its Chinese, the compiled catalog is current, a page is in one language,
and the language a user chooses follows them to any browser."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from tests.conftest import demo_password, private_app
from web.i18n import in_language

ROOT = Path(__file__).resolve().parents[2]
TRANSLATIONS = ROOT / "web" / "translations"
PO = TRANSLATIONS / "zh" / "LC_MESSAGES" / "messages.po"
MO = PO.with_suffix(".mo")
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "_l": None, "lazy_gettext": None}
HAN = re.compile(r"[\u4e00-\u9fff]")
PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def _extracted() -> dict[str, str]:
    """Every message id in the page code and templates (extracted now, not read from a stale .pot)."""
    method_map = [("web/templates/**.html", "jinja2"), ("web/**.py", "python")]
    found = {}
    for filename, _lineno, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map, keywords=KEYWORDS, options_map={"web/templates/**.html": {"silent": "false"}}
    ):
        for msgid in message if isinstance(message, tuple) else (message,):
            if msgid:
                found[msgid] = filename
    return found


def _catalog():
    with PO.open("rb") as fh:
        return read_po(fh)


def test_every_page_message_has_a_chinese_translation():
    catalog = _catalog()
    extracted = _extracted()
    assert len(extracted) > 100  # the extraction really read the templates and the page code
    missing = sorted(
        f"{where}: {msgid!r}"
        for msgid, where in extracted.items()
        if catalog.get(msgid) is None or not catalog.get(msgid).string or catalog.get(msgid).fuzzy
    )
    assert not missing, "run python scripts/translations.py and translate:\n" + "\n".join(missing)


def test_translations_keep_their_placeholders_and_are_chinese():
    for message in _catalog():
        if not message.id or isinstance(message.id, tuple) or not message.string:
            continue
        assert sorted(PLACEHOLDER.findall(message.string)) == sorted(PLACEHOLDER.findall(message.id)), message.id
        if HAN.search(message.id) is None and re.search(r"\b[a-z]{3,}\b", message.id):  # words, not a proper name
            assert HAN.search(message.string), f"{message.id!r} is translated as {message.string!r}"


def test_compiled_catalog_is_the_source_catalog():
    with MO.open("rb") as fh:
        compiled = {str(m.id): m.string for m in read_mo(fh) if m.id}
    source = {str(m.id): m.string for m in _catalog() if m.id and m.string and not m.fuzzy}
    assert compiled == source, "run python scripts/translations.py (pybabel compile)"
    assert not list((TRANSLATIONS / "pending").glob("*.json")), "pending translations not merged"


@pytest.mark.parametrize(
    ("message", "zh", "en"),
    [
        ("没有要修改的字段 nothing to change", "没有要修改的字段", "nothing to change"),
        ("状态“受理”不能执行该操作 cannot accept an issue", "状态“受理”不能执行该操作", "cannot accept an issue"),
        ("plain English only", "plain English only", "plain English only"),
        ("只有中文", "只有中文", "只有中文"),
        ("no area 510104 (桂花社区)", "no area 510104 (桂花社区)", "no area 510104 (桂花社区)"),
    ],
)
def test_a_bilingual_domain_message_shows_in_the_page_language(message, zh, en):
    assert in_language(message, "zh_CN") == zh and in_language(message, "en") == en


def _csrf(client, path="/login") -> str:
    html = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def _sign_in(client, name):
    return client.post("/login", data={"username": name, "password": demo_password(name), "csrf_token": _csrf(client)})


def _header(html: str) -> str:
    return html[html.index("<header>") : html.index("</header>")]


def test_pages_are_chinese_by_default_and_english_when_chosen_and_the_choice_follows_the_user(demo_db, tmp_path):
    app, _registry, _ = private_app(demo_db, tmp_path)
    first = app.test_client()
    login = first.get("/login").get_data(as_text=True)
    assert 'lang="zh-CN"' in login and "登录名" in login and "Login name" not in login
    assert _sign_in(first, "staff").status_code == 302
    page = first.get("/map").get_data(as_text=True)
    assert "退出" in _header(page) and "Sign out" not in page and "工作人员" in _header(page)
    form = {"locale": "en", "next": "/map", "csrf_token": _csrf(first, "/map")}
    switched = first.post("/language", data=form)
    assert switched.status_code == 303 and switched.headers["Location"] == "/map"
    english = first.get("/map").get_data(as_text=True)
    assert 'lang="en"' in english and "Sign out" in english and "Staff" in _header(english)
    chrome = re.sub(r"<span[^>]*>[^<]*</span>", "", _header(english))  # the user's own name may be Chinese
    assert HAN.search(chrome.replace(">中文<", "")) is None, chrome  # only the switch names 中文, in Chinese
    second = app.test_client()  # another browser: the user's choice is kept on their row
    assert "Login name" not in second.get("/login").get_data(as_text=True)
    _sign_in(second, "staff")
    assert "Sign out" in second.get("/map").get_data(as_text=True)
    other = app.test_client()
    _sign_in(other, "admin")  # another user keeps the default
    assert "退出" in other.get("/map").get_data(as_text=True)


def test_the_language_switch_refuses_unknown_languages_and_foreign_redirects(demo_db, tmp_path):
    app, _registry, _ = private_app(demo_db, tmp_path)
    client = app.test_client()
    token = _csrf(client)
    assert client.post("/language", data={"locale": "xx", "csrf_token": token}).status_code == 400
    answer = client.post("/language", data={"locale": "en", "next": "//evil.example/", "csrf_token": token})
    assert answer.status_code == 303 and answer.headers["Location"] == "/"
    assert client.post("/language", data={"locale": "en"}).status_code == 400  # no CSRF token
    assert "Login name" in client.get("/login").get_data(as_text=True)  # before sign-in: kept in the session


def test_error_pages_keep_the_header_and_speak_one_language(demo_db, tmp_path):
    app, _registry, _ = private_app(demo_db, tmp_path)
    client = app.test_client()
    _sign_in(client, "worker")
    page = client.get("/audit", headers={"Accept": "text/html"})
    html = page.get_data(as_text=True)
    assert page.status_code == 403 and "无权访问" in html and "退出" in _header(html) and "登录" not in _header(html)
    assert "Sign in" not in html


def test_a_language_chosen_before_signing_in_is_kept_at_sign_in(demo_db, tmp_path):
    """Outside test: English chosen on the sign-in page, then signed in, came back in Chinese."""
    app, _registry, _ = private_app(demo_db, tmp_path)
    client = app.test_client()
    assert client.post("/language", data={"locale": "en-US", "csrf_token": _csrf(client)}).status_code == 303
    assert "Login name" in client.get("/login").get_data(as_text=True)
    _sign_in(client, "worker")
    assert "Sign out" in client.get("/map", headers={"Accept": "text/html"}).get_data(as_text=True)
    other = app.test_client()  # and it is the user's own choice now, in any browser
    _sign_in(other, "worker")
    assert "Sign out" in other.get("/issues").get_data(as_text=True)
    assert client.post("/language", data={"locale": "zh-CN", "csrf_token": _csrf(client)}).status_code == 303
    assert "退出" in client.get("/issues").get_data(as_text=True)  # the page's own lang tag is accepted


@pytest.mark.parametrize(("path", "method", "status"), [("/no-such-page", "get", 404), ("/language", "get", 405)])
def test_router_errors_keep_the_users_header_in_the_page_language(demo_db, tmp_path, path, method, status):
    """Outside test: unknown URLs and wrong methods showed 登录 to a signed-in user and Werkzeug's English."""
    app, _registry, _ = private_app(demo_db, tmp_path)
    client = app.test_client()
    _sign_in(client, "staff")
    answer = getattr(client, method)(path, headers={"Accept": "text/html"})
    html = answer.get_data(as_text=True)
    assert answer.status_code == status and 'id="whoami"' in html and "退出" in _header(html)
    assert "登录" not in html and "requested URL" not in html and "no-store" in answer.headers["Cache-Control"]


def test_favicon_and_signed_out_tiles(demo_db, tmp_path):
    app, _registry, _ = private_app(demo_db, tmp_path)
    client = app.test_client()
    icon = client.get("/favicon.ico")
    assert icon.status_code == 200 and icon.mimetype in ("image/vnd.microsoft.icon", "image/x-icon")
    assert client.get("/tiles/grid/16/53702/26744.mvt").status_code == 401  # a map's request, not a page


def test_bidirectional_overrides_are_shown_not_obeyed(demo_db, tmp_path):
    """Outside test: "占道 \u202eevil" showed as "占道 live" on the issue page."""
    app, registry, client = private_app(demo_db, tmp_path)
    worker = client("worker")
    leaf = registry.areas(parent_code="510104001001001").iloc[0].geometry.representative_point()
    body = {"category": "gas_hazard", "lon": leaf.x, "lat": leaf.y, "description": "占道 \u202eevil"}
    issue = worker.post("/api/v1/issues", json=body)
    assert issue.status_code == 201
    assert worker.get(f"/api/v1/issues/{issue.get_json()['id']}").get_json()["description"] == body["description"]
    page = worker.get(f"/issues/{issue.get_json()['id']}", headers={"Accept": "text/html"}).get_data(as_text=True)
    assert "占道 \ufffdevil" in page and "\u202e" not in page  # stored as sent, shown without reordering
