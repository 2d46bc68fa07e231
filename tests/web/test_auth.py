"""Sign-in, sessions, CSRF, throttling, tokens, passwords, security headers and the audit log."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from accounts.passwords import hash_password
from accounts.tokens import create_token
from accounts.users import authenticate, create_user, find_user, list_users
from boundaries.registry import Registry
from boundaries.storage import open_store
from core.errors import ConflictError
from core.storage import tables as t
from tests.conftest import TEST_CONFIG, copy_demo, database_at, demo_password, token_client


@pytest.fixture
def fresh(demo_db, demo_tokens, tmp_path):
    """An app over a private copy of the demo database (tests here write)."""
    from web import create_app

    url = copy_demo(demo_db, tmp_path)
    registry = Registry(open_store(url))
    return create_app({**TEST_CONFIG, "DATABASE_URL": url, "REGISTRY": registry}), registry


def _csrf(client, path="/login") -> str:
    html = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def _sign_in(client, name, password=None):
    token = _csrf(client)
    return client.post(
        "/login", data={"username": name, "password": password or demo_password(name), "csrf_token": token}
    )


def test_sign_in_needs_the_csrf_token_and_sets_a_hardened_cookie(fresh):
    app, _ = fresh
    client = app.test_client()
    assert client.get("/").status_code == 302  # anonymous → sign-in page
    r = client.post("/login", data={"username": "staff", "password": demo_password("staff")})
    assert r.status_code == 400 and "CSRF" in r.get_data(as_text=True)  # no token: refused before any check
    assert client.get("/api/v1/me").status_code == 401
    r = _sign_in(client, "staff")
    assert r.status_code == 302 and r.headers["Location"] == "/"
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    me = client.get("/api/v1/me").get_json()
    assert me["name"] == "staff" and me["areas"] == ["510104001001"] and "areas:write" not in me["permissions"]


def test_production_cookie_is_secure(demo_db, demo_registry):
    from web import create_app

    app = create_app({**TEST_CONFIG, "SESSION_COOKIE_SECURE": True, "DATABASE_URL": demo_db, "REGISTRY": demo_registry})
    r = _sign_in(app.test_client(), "staff")
    assert r.status_code == 302 and "Secure" in r.headers["Set-Cookie"]


def test_wrong_password_unknown_user_and_api_client_cannot_sign_in(fresh):
    app, _ = fresh
    client = app.test_client()
    for name, password in (("staff", "wrong-password-1"), ("nobody", "whatever-12345"), ("wechat", "x" * 12)):
        r = _sign_in(client, name, password)
        assert r.status_code == 401
        assert "登录名或密码错误" in r.get_data(as_text=True)
    assert client.get("/api/v1/me").status_code == 401


def test_session_changes_need_csrf_and_tokens_do_not(fresh, demo_tokens):
    app, _ = fresh
    client = app.test_client()
    _sign_in(client, "planner")
    body = {"name": "改名的微网格"}
    r = client.patch("/api/v1/areas/510104001001001001", json=body)
    assert r.status_code == 400 and "CSRF" in r.get_json()["error"]["message"]
    token = _csrf(client, "/login")
    r = client.patch("/api/v1/areas/510104001001001001", json=body, headers={"X-CSRFToken": token})
    assert r.status_code == 200 and r.get_json()["area"]["name"] == "改名的微网格"
    bearer = token_client(app, demo_tokens["planner"])
    assert bearer.patch("/api/v1/areas/510104001001001002", json=body).status_code == 200


def test_sign_out_needs_post_with_csrf(fresh):
    app, _ = fresh
    client = app.test_client()
    _sign_in(client, "staff")
    assert client.get("/logout").status_code == 405
    assert client.post("/logout").status_code == 400
    assert client.post("/logout", data={"csrf_token": _csrf(client, "/login")}).status_code == 302
    assert client.get("/api/v1/me").status_code == 401


def test_next_parameter_cannot_redirect_off_site(fresh):
    app, _ = fresh
    client = app.test_client()
    token = _csrf(client)
    for target, expected in (("//evil.example/x", "/"), ("https://evil.example/", "/"), ("/audit", "/audit")):
        r = client.post(
            f"/login?next={target}",
            data={"username": "admin", "password": demo_password("admin"), "csrf_token": token},
        )
        assert r.headers["Location"] == expected
        token = _csrf(client)


def test_sign_in_is_throttled_per_login_name(demo_db, demo_registry):
    from web import create_app

    app = create_app(
        {**TEST_CONFIG, "LOGIN_NAME_RATE_LIMIT": "3 per minute", "DATABASE_URL": demo_db, "REGISTRY": demo_registry}
    )
    app.extensions["weige.limiter"].reset()
    client = app.test_client()
    codes = [_sign_in(client, "grid-throttle-test", "bad-password-123").status_code for _ in range(4)]
    assert codes == [401, 401, 401, 429]
    other = _sign_in(client, "staff")  # another name is not locked out by these attempts
    assert other.status_code == 302


def test_passwords_are_argon2id_and_never_stored_or_logged(fresh):
    app, registry = fresh
    with registry.store.engine.connect() as conn:
        rows = conn.execute(sa.select(t.users.c.name, t.users.c.password_hash)).all()
        audit_text = " ".join(str(r) for r in conn.execute(sa.select(t.audit_log)).all())
    for name, password_hash in rows:
        if name == "wechat":
            assert password_hash is None
        else:
            assert password_hash.startswith("$argon2id$")
            assert demo_password(name) not in password_hash
            assert demo_password(name) not in audit_text


def test_tokens_are_hashed_revocable_and_expire(fresh):
    app, registry = fresh
    admin = token_client(app, create_token(registry, find_user(registry, "admin").id, "t", 1)[0])
    wechat = find_user(registry, "wechat")
    created = admin.post("/api/v1/tokens", json={"user_id": wechat.id, "name": "小程序", "days": 30})
    assert created.status_code == 201
    body = created.get_json()
    secret = body["secret"]
    assert secret.startswith("wg_") and len(secret) > 40
    listed = admin.get(f"/api/v1/tokens?user_id={wechat.id}").get_json()["tokens"]
    assert secret not in str(listed) and any(tok["id"] == body["id"] and tok["active"] for tok in listed)
    with registry.store.engine.connect() as conn:
        stored = conn.execute(sa.select(t.api_tokens.c.token_hash).where(t.api_tokens.c.id == body["id"])).scalar()
    assert stored != secret and len(stored) == 64

    client = token_client(app, secret)
    assert client.get("/api/v1/me").get_json()["name"] == "wechat"
    assert client.get("/api/v1/areas").status_code == 403  # an API client reads nothing but its issues
    assert admin.delete(f"/api/v1/tokens/{body['id']}").status_code == 200
    r = client.get("/api/v1/me")
    assert r.status_code == 401 and "revoked" in r.get_json()["error"]["message"]

    secret2, token2 = create_token(registry, wechat.id, "short", 1)
    with registry.store.transaction() as conn:
        past = datetime.now(timezone.utc) - timedelta(seconds=1)
        conn.execute(t.api_tokens.update().where(t.api_tokens.c.id == token2["id"]).values(expires_at=past))
    assert token_client(app, secret2).get("/api/v1/me").status_code == 401
    assert token_client(app, "wg_made-up").get("/api/v1/me").status_code == 401
    assert app.test_client().get("/api/v1/me", headers={"Authorization": "Basic abc"}).status_code == 401


def test_disabling_a_user_or_changing_the_password_ends_sessions_and_tokens(fresh):
    app, registry = fresh
    admin = token_client(app, create_token(registry, find_user(registry, "admin").id, "t", 1)[0])
    staff = find_user(registry, "staff")
    staff_token = token_client(app, create_token(registry, staff.id, "t", 1)[0])
    browser = app.test_client()
    _sign_in(browser, "staff")
    assert browser.get("/api/v1/me").status_code == 200
    r = admin.patch(f"/api/v1/users/{staff.id}", json={"password": "New-Passw0rd-2026"})
    assert r.status_code == 200
    assert browser.get("/api/v1/me").status_code == 401  # the old session is gone
    assert _sign_in(browser, "staff", "New-Passw0rd-2026").status_code == 302
    admin.patch(f"/api/v1/users/{staff.id}", json={"active": False})
    assert staff_token.get("/api/v1/me").status_code == 401
    assert _sign_in(app.test_client(), "staff", "New-Passw0rd-2026").status_code == 401


def test_weak_passwords_and_bad_user_input_are_refused(fresh):
    app, registry = fresh
    admin = token_client(app, create_token(registry, find_user(registry, "admin").id, "t", 1)[0])
    cases = [
        ({"name": "u1", "role": "staff", "areas": ["510104001001"], "password": "short"}, "password"),
        ({"name": "u2", "role": "staff", "areas": ["nope"], "password": "Long-enough-1"}, "unknown area"),
        ({"name": "u3", "role": "staff", "password": "Long-enough-1"}, "at least one area"),
        ({"name": "staff", "role": "staff", "areas": ["510104001001"], "password": "Long-enough-1"}, "taken"),
        ({"name": "bad name!", "role": "staff", "areas": ["510104001001"], "password": "Long-enough-1"}, "login"),
        ({"name": "u4", "role": "emperor", "areas": ["510104001001"], "password": "Long-enough-1"}, "role"),
    ]
    for body, expected in cases:
        r = admin.post("/api/v1/users", json=body)
        assert 400 <= r.status_code < 500, body
        assert expected in str(r.get_json()).lower() or r.status_code == 422, (body, r.get_json())
    assert find_user(registry, "u1") is None and find_user(registry, "u2") is None


def test_security_headers_and_csp_hashes_on_the_map_page(fresh, demo_tokens):
    app, registry = fresh
    client = token_client(app, demo_tokens["admin"])
    issue = client.post("/api/v1/issues", json=_issue_body(registry)).get_json()["id"]
    r = client.get(f"/issues/{issue}")  # the issue page's folium map: inline scripts allowed by their hashes only
    assert r.status_code == 200
    csp = r.headers["Content-Security-Policy"]
    script_src = next(part for part in csp.split(";") if part.strip().startswith("script-src"))
    assert "'unsafe-inline'" not in script_src and "'unsafe-eval'" not in script_src
    assert len(re.findall(r"'sha256-[A-Za-z0-9+/=]+'", script_src)) >= 2
    assert "object-src 'none'" in csp and "frame-ancestors 'self'" in csp
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["Cache-Control"] == "no-store"
    login = app.test_client().get("/login")
    login_scripts = next(p for p in login.headers["Content-Security-Policy"].split(";") if "script-src" in p)
    assert "sha256" not in login_scripts  # pages without inline scripts allow none


def test_oversized_request_is_refused_with_a_clear_error(demo_db, demo_registry, demo_tokens):
    from web import create_app

    app = create_app({**TEST_CONFIG, "MAX_CONTENT_LENGTH": 1024, "DATABASE_URL": demo_db, "REGISTRY": demo_registry})
    r = token_client(app, demo_tokens["admin"]).post(
        "/api/v1/locate", data=b"x" * 5000, headers={"Content-Type": "text/csv"}
    )
    assert r.status_code == 413 and r.get_json()["error"]["code"] == "request_entity_too_large"


def test_api_rate_limit_answers_429(demo_db, demo_registry, demo_tokens):
    from web import create_app

    app = create_app(
        {**TEST_CONFIG, "API_RATE_LIMIT": "5 per minute", "DATABASE_URL": demo_db, "REGISTRY": demo_registry}
    )
    app.extensions["weige.limiter"].reset()
    client = token_client(app, demo_tokens["staff"])
    codes = [client.get("/api/v1/me").status_code for _ in range(7)]
    assert codes[:5] == [200] * 5 and codes[5:] == [429, 429]
    assert client.get("/login").status_code == 200  # pages are not counted against the API limit


def test_home_opens_the_map_for_people_and_no_page_for_api_clients(app, demo_tokens):
    for role in ("staff", "planner", "admin"):
        home = token_client(app, demo_tokens[role]).get("/")
        assert home.status_code == 302 and home.headers["Location"] == "/map", role
    worker = token_client(app, demo_tokens["grid_worker"]).get("/")  # grid workers get their phone app
    assert worker.status_code == 302 and worker.headers["Location"] == "/app/"
    machine = token_client(app, demo_tokens["api_client"]).get("/", headers={"Accept": "text/html"})
    assert machine.status_code == 403


def _issue_body(registry) -> dict:
    import shapely

    row = registry.areas(parent_code="510104001001001").iloc[0]
    point = shapely.point_on_surface(row.geometry)
    return {"category": "dispute", "description": "重放的会话 replayed session", "lon": point.x, "lat": point.y}


def test_sign_out_ends_the_session_on_the_server(fresh):
    """A cookie copied before sign-out authenticates nothing afterwards (the session is revoked server-side)."""
    app, registry = fresh
    client = app.test_client()
    _sign_in(client, "staff")
    cookie = client.get_cookie("weige_session").value
    csrf_token = _csrf(client, "/login")
    assert client.get("/api/v1/me").status_code == 200
    other = app.test_client()  # a second sign-in of the same user, e.g. another browser
    _sign_in(other, "staff")
    assert client.post("/logout", data={"csrf_token": csrf_token}).status_code == 302

    replay = app.test_client()
    replay.set_cookie("weige_session", cookie)
    r = replay.get("/api/v1/me")
    assert r.status_code == 401 and r.get_json()["error"]["code"] == "unauthenticated"
    r = replay.post("/api/v1/issues", json=_issue_body(registry), headers={"X-CSRFToken": csrf_token})
    assert r.status_code == 401  # the cookie still carries a valid CSRF secret: only the revocation refuses it
    with registry.store.engine.connect() as conn:
        stored = conn.execute(sa.select(sa.func.count()).where(t.issues.c.description == "重放的会话 replayed session"))
        assert stored.scalar() == 0
    assert other.get("/api/v1/me").get_json()["name"] == "staff"  # signing out here leaves the other session alone


def test_sessions_without_a_server_record_are_refused(fresh):
    """A session id in the old ``user:version`` form (signed with the right key) no longer authenticates."""
    app, registry = fresh
    staff = find_user(registry, "staff")
    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = f"{staff.id}:{staff.session_version}"
        session["_fresh"] = True
    assert client.get("/api/v1/me").status_code == 401


def test_rate_limits_count_the_caller_not_the_header_text(fresh, demo_tokens):
    """``bearer x``, ``Bearer  x`` and ``BEARER x`` are one caller with one allowance."""
    from web import create_app

    _, registry = fresh
    app = create_app(
        {
            **TEST_CONFIG,
            "DATABASE_URL": str(registry.store.engine.url),
            "REGISTRY": registry,
            "INTAKE_RATE_LIMIT": "3 per minute",
            "API_RATE_LIMIT": "2 per minute",
        }
    )
    app.extensions["weige.limiter"].reset()
    secret = create_token(registry, find_user(registry, "wechat").id, "limits", 1)[0]
    forms = [f"Bearer {secret}", f"bearer {secret}", f"Bearer  {secret}", f"BEARER {secret}", f"Bearer {secret} "]
    client = app.test_client()
    codes = [
        client.post("/api/v1/issues", json=_issue_body(registry), headers={"Authorization": form}).status_code
        for form in forms
    ]
    assert codes == [201, 201, 201, 429, 429]
    codes = [client.get("/api/v1/me", headers={"Authorization": form}).status_code for form in forms]
    assert codes == [200, 200, 429, 429, 429]  # the API allowance is counted apart from intake
    # a second token of the same user shares the allowance; another user has their own
    second = create_token(registry, find_user(registry, "wechat").id, "limits-2", 1)[0]
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {second}"}).status_code == 429
    assert token_client(app, demo_tokens["staff"]).get("/api/v1/me").status_code == 200


def test_login_names_are_case_insensitive(fresh):
    """Outside test (lesser): `caseuser` and `CaseUser` were two accounts; now one name, signed in by any case."""
    app, registry = fresh
    admin = token_client(app, create_token(registry, find_user(registry, "admin").id, "t", 1)[0])
    body = {"role": "staff", "areas": ["510104001001"], "password": "Long-enough-1"}
    assert admin.post("/api/v1/users", json={**body, "name": "caseuser"}).status_code == 201
    for variant in ("CaseUser", "CASEUSER", "caseUser", "ｃaseuser", "ＣＡＳＥＵＳＥＲ"):  # full-width look-alikes too
        refused = admin.post("/api/v1/users", json={**body, "name": variant})
        assert refused.status_code == 409 and "taken" in refused.get_json()["error"]["message"], variant
    assert [u.name for u in list_users(registry)].count("caseuser") == 1
    assert find_user(registry, "CASEUSER").name == "caseuser"
    client = app.test_client()
    signed = _sign_in(client, "CaseUser", "Long-enough-1")
    assert signed.status_code == 302 and client.get("/api/v1/me").get_json()["name"] == "caseuser"
    assert _sign_in(app.test_client(), "CaseUser", "Wrong-password-1").status_code != 302


def test_existing_names_differing_only_in_case_survive_the_migration(tmp_path):
    """A database that already holds `dup` and `DUP` is migrated without error; both still sign in by exact name."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    with database_at(url, "0007") as connection:
        now = datetime.now(timezone.utc)
        for name in ("dup", "DUP", "other"):
            connection.execute(
                sa.text(
                    "INSERT INTO users (name, role, display_name, phone, password_hash, active, session_version, "
                    "created_at) VALUES (:n, 'admin', '', '', :h, 1, 1, :t)"
                ),
                {"n": name, "h": hash_password(f"{name}-Long-enough-1"), "t": now},
            )
    registry = Registry(open_store(url))  # migrates to head
    assert sorted(u.name for u in list_users(registry)) == ["DUP", "dup", "other"]
    assert authenticate(registry, "DUP", "DUP-Long-enough-1").name == "DUP"
    assert authenticate(registry, "dup", "dup-Long-enough-1").name == "dup"
    assert authenticate(registry, "Other", "other-Long-enough-1").name == "other"
    with pytest.raises(ConflictError):
        create_user(registry, "Dup", "admin", password="Long-enough-12")


def test_sessions_are_read_from_the_app_that_serves_them(fresh, demo_db, tmp_path):
    """Two apps in one process (tests, or an embedding service): a session of the first stays valid after the
    second is created (the session loader is shared by the process and once read the newest app's database)."""
    from web import create_app

    app, _ = fresh
    client = app.test_client()
    _sign_in(client, "staff")
    other_folder = tmp_path / "other"
    other_folder.mkdir()
    url = copy_demo(demo_db, other_folder)
    create_app({**TEST_CONFIG, "DATABASE_URL": url, "REGISTRY": Registry(open_store(url))})
    assert client.get("/api/v1/me").get_json()["name"] == "staff"


def test_an_error_page_keeps_the_signed_in_users_header(fresh):
    """Issue 11: the 403 page showed "登录 Sign in" to a signed-in user and dropped the header."""
    app, _ = fresh
    client = app.test_client()
    _sign_in(client, "planner")
    page = client.get("/audit", headers={"Accept": "text/html"})  # planners may not read the audit log
    text = page.get_data(as_text=True)
    header = text[text.index("<header>") : text.index("</header>")]
    assert page.status_code == 403 and 'id="whoami"' in header and "规划员" in header and "退出" in header
    assert "登录" not in text and "Sign in" not in text
    anonymous = app.test_client().get("/no-such-page", headers={"Accept": "text/html"}).get_data(as_text=True)
    assert ">登录</a>" in anonymous and "退出" not in anonymous
