"""Issue pages refuse what they cannot use with a readable message in the page's language: bad filters, bad areas."""

from __future__ import annotations

import re

import pytest
import shapely

from accounts.tokens import create_token
from accounts.users import find_user, set_locale
from boundaries.registry import Registry
from boundaries.storage import open_store
from tests.conftest import TEST_CONFIG, copy_demo, demo_password, token_client


@pytest.fixture
def pages(demo_db, demo_tokens, tmp_path):
    """An app over a private demo copy with one issue in the staff's community, and a signed-in client maker."""
    from web import create_app

    url = copy_demo(demo_db, tmp_path)
    registry = Registry(open_store(url))
    app = create_app({**TEST_CONFIG, "DATABASE_URL": url, "REGISTRY": registry})
    wechat = token_client(app, create_token(registry, find_user(registry, "wechat").id, "t", 1)[0])
    for name in ("admin", "staff"):  # pages in English here, whatever the Chinese catalog holds
        set_locale(registry, find_user(registry, name).id, "en")
    leaf = registry.areas(parent_code="510104001001001").iloc[0]
    p = shapely.point_on_surface(leaf.geometry)
    issue = wechat.post("/api/v1/issues", json={"category": "dispute", "lon": p.x, "lat": p.y, "description": "吵"})
    assert issue.status_code == 201

    def signed_in(name):
        client = app.test_client()
        html = client.get("/login").get_data(as_text=True)
        token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
        r = client.post("/login", data={"username": name, "password": demo_password(name), "csrf_token": token})
        assert r.status_code == 302
        return client

    return signed_in, issue.get_json()["id"]


def _rows(html: str) -> int:
    """The issues the queue lists (rows linking to an issue)."""
    body = html.split('id="queue"', 1)[1].split("</table>", 1)[0] if 'id="queue"' in html else ""
    return len(re.findall(r'href="/issues/\d+"', body))


@pytest.mark.parametrize("page", ["/issues", "/issues/map"])
@pytest.mark.parametrize(
    ("query", "said"),
    [
        ("state=bogus", "State must be one of: open, reported"),
        ("overdue=maybe", "Overdue now must be true or false"),
        ("since=abc", "From: must be a date and time"),
        ("until=abc&state=open", "Until: must be a date and time"),
        ("per_page=0", "Rows per page must be a whole number"),
    ],
)
def test_a_bad_filter_shows_a_readable_message_and_no_rows(pages, page, query, said):
    signed_in, _ = pages
    client = signed_in("admin")
    good = client.get("/issues").get_data(as_text=True)
    assert _rows(good) >= 1
    r = client.get(f"{page}?{query}")
    html = r.get_data(as_text=True)
    assert r.status_code == 400
    message = re.search(r'<p class="error" role="alert">(.*?)</p>', html, re.S).group(1)
    assert said in message and not re.search(r"[\u4e00-\u9fff]", message)  # one language
    assert "{" not in message and "[" not in message and "Must be" not in message and "Not a valid" not in message
    assert _rows(html) == 0 and 'id="export-' not in html
    if page == "/issues/map":  # the map loads no issues either
        assert "&#34;error&#34;: true" in html


def test_assigning_to_an_unknown_or_foreign_area_returns_to_the_issue_with_a_message(pages):
    signed_in, issue_id = pages
    client = signed_in("staff")
    page = client.get(f"/issues/{issue_id}").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    for area in ("999999999", "510104001002"):  # no such area; an area outside the staff's community
        r = client.post(
            f"/issues/{issue_id}/act", data={"action": "assign", "area": area, "note": "", "csrf_token": token}
        )
        assert r.status_code == 302 and r.headers["Location"].startswith(f"/issues/{issue_id}?message=")
        shown = client.get(r.headers["Location"]).get_data(as_text=True)
        message = re.search(r'<p class="error" role="alert">(.*?)</p>', shown, re.S).group(1)
        assert message.strip() == f"No such area in your areas: {area}"
    other = client.post(
        "/issues/2147483647/act", data={"action": "assign", "area": "999999999", "note": "", "csrf_token": token}
    )
    assert other.status_code == 404  # an issue one cannot see still answers like a missing one
