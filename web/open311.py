"""Open311 GeoReport v2 (https://wiki.open311.org/GeoReport_v2), so standard civic-reporting clients work.

Categories are the services (``service_code`` = category code); our workflow states map to ``open`` /
``closed`` with the state and latest note in ``status_notes``. Every format is offered as ``.json`` and
``.xml``. ``start_date`` / ``end_date`` are compared as instants (without an offset they are read in the
deployment's time zone). A POST is idempotent only when the client sends an ``Idempotency-Key`` header: the
same key from the same caller answers the first request again; ``device_id`` and ``account_id`` identify the
submitter, not the request, so two reports from one phone are two requests.

The service list is public; creating and reading requests needs ``api_key`` (one of our API tokens), and a key
reads only what its scope allows — an intake channel its own reports — because reports carry residents'
details.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, json, request, url_for

from core.errors import InvalidInputError, NotFoundError
from issues.queries import get_issue, issue_id_for_token, last_notes, list_issues
from issues.text import xml_text
from issues.workflow import OPEN311_STATUS, STATE_NAMES_ZH
from issues.worktime import to_utc
from web.access import allow, public, scoped
from web.api import MAX_ID
from web.issues_api import desk, load_report, report

__all__ = ["open311", "error_response"]

open311 = Blueprint("open311", __name__, url_prefix="/open311/v2")
_FMT = "<any(json, xml):fmt>"
_MAX_REQUESTS = 1000
#: Longest ``Idempotency-Key`` accepted (it is kept as the request's external id).
_MAX_KEY = 64
#: Our intake field → the GeoReport v2 field it comes from (named in error messages).
_FIELD_NAMES = {
    "category": "service_code",
    "lon": "long",
    "lat": "lat",
    "address": "address_string",
    "reporter_name": "first_name/last_name",
    "reporter_phone": "phone",
    "external_id": "Idempotency-Key",
}


def _w3c(value: str | datetime | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.astimezone(ZoneInfo(desk().calendar.tz)).isoformat(timespec="seconds")


def _fill(node: ET.Element, row: dict) -> None:
    for key, value in row.items():
        child = ET.SubElement(node, key)
        if isinstance(value, bool):
            child.text = "true" if value else "false"
        elif isinstance(value, list):
            child.text = ",".join(map(str, value))
        elif value is not None:
            child.text = xml_text(str(value))  # text stored before intake refused control characters


def _xml(root: str, item: str | None, rows: list[dict]) -> bytes:
    """``rows`` as ``<root><item>…</item>…</root>``; with ``item`` ``None``, the one row's fields in ``root``."""
    top = ET.Element(root)
    if item is None:
        _fill(top, rows[0])
    for row in rows if item is not None else ():
        _fill(ET.SubElement(top, item), row)
    return b'<?xml version="1.0" encoding="utf-8"?>' + ET.tostring(top, encoding="utf-8")


def _answer(fmt: str, root: str, item: str | None, rows: list[dict], status: int = 200) -> Response:
    """A list of ``rows`` (or, with ``item`` ``None``, the one object ``rows[0]``) as JSON or XML."""
    if fmt == "xml":
        return Response(_xml(root, item, rows), status=status, mimetype="text/xml")
    body = rows if item is not None else rows[0]
    return Response(json.dumps(body, ensure_ascii=False), status=status, mimetype="application/json")


def error_response(status: int, message: str) -> Response:
    """An Open311 error list, in the format the URL asks for."""
    fmt = "xml" if request.path.endswith(".xml") else "json"
    return _answer(fmt, "errors", "error", [{"code": status, "description": message}], status)


def _service(category) -> dict:
    return {
        "service_code": category.code,
        "service_name": category.name_zh,
        "description": f"{category.name_en}；处置时限 {category.limit('in_progress'):g} 个工作小时",
        "metadata": False,
        "type": "realtime",
        "keywords": category.name_en.lower(),
        "group": category.group,
    }


@open311.route(f"/services.{_FMT}")
@public
def services(fmt):
    """The services (issue categories)."""
    return _answer(fmt, "services", "service", [_service(c) for c in desk().catalog])


@open311.route(f"/services/<string(maxlength=32):code>.{_FMT}")
@public
def service_definition(code, fmt):
    """A service's definition (one object, as the specification shows): ours take no extra attributes."""
    if code not in desk().catalog:
        raise NotFoundError(f"未知服务 no service {code!r}: see services.{fmt}")
    return _answer(fmt, "service_definition", None, [{"service_code": code, "attributes": []}])


def _request(issue: dict, note: str | None = None) -> dict:
    catalog = desk().catalog
    name = catalog.get(issue["category"]).name_zh if issue["category"] in catalog else issue["category"]
    notes = [h["note"] for h in issue.get("history", []) if h.get("note")]
    note = notes[-1] if notes else note
    status_notes = f"{STATE_NAMES_ZH[issue['state']]} {issue['state']}" + (f": {note}" if note else "")
    media = (
        url_for("issues.get_photo", issue_id=issue["id"], sha256=issue["photos"][0], _external=True)
        if issue.get("photos")
        else None
    )
    return {
        "service_request_id": issue["id"],
        "status": OPEN311_STATUS[issue["state"]],
        "status_notes": status_notes,
        "service_name": name,
        "service_code": issue["category"],
        "description": issue["description"],
        "agency_responsible": issue["handler_code"],
        "service_notice": "",
        "requested_datetime": _w3c(issue["created_at"]),
        "updated_datetime": _w3c(issue["updated_at"]),
        "expected_datetime": _w3c(issue["due_at"]),
        "address": issue["address"],
        "address_id": issue.get("building_id"),
        "zipcode": None,
        "lat": issue["lat"],
        "long": issue["lon"],
        "media_url": media,
    }


def _date(name: str) -> datetime | None:
    """A W3C datetime parameter as an aware UTC instant (without an offset: the deployment's time zone)."""
    text = request.args.get(name)
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidInputError(
            f"{name} 须为 W3C 日期时间 must be a W3C datetime, e.g. 2026-11-26T09:00:00+08:00"
        ) from exc
    return to_utc(value, desk().calendar.tz, name)


def _ids(text: str | None) -> list[int] | None:
    if not text:
        return None
    try:
        ids = [int(i) for i in text.split(",")]
    except ValueError as exc:
        raise InvalidInputError("service_request_id 须为编号列表 must be comma-separated ids") from exc
    if not all(1 <= i <= MAX_ID for i in ids):
        raise InvalidInputError(f"service_request_id 超出范围 service_request_id is out of range (1 to {MAX_ID})")
    return ids


@open311.route(f"/requests.{_FMT}")
@allow("issues:read", "issues:status")
def get_requests(fmt):
    """Requests by id, service, time window (default: the last 90 days) and status, newest first."""
    status = request.args.get("status")
    if status not in (None, "open", "closed"):
        raise InvalidInputError("status 须为 open 或 closed status must be open or closed")
    id_list = _ids(request.args.get("service_request_id"))
    service = request.args.get("service_code")
    if service is not None:
        desk().catalog.get(service)
    since, until = _date("start_date"), _date("end_date")
    if since is None and id_list is None:
        since = desk().clock() - timedelta(days=90)
    rows, _ = list_issues(
        scoped(), category=service, ids=id_list, since=since, until=until, status=status, per_page=_MAX_REQUESTS
    )
    notes = last_notes(scoped(), [r["id"] for r in rows])
    return _answer(fmt, "service_requests", "request", [_request(r, notes.get(r["id"])) for r in rows])


@open311.route(f"/requests/<int(min=1, max=2147483647):request_id>.{_FMT}")
@allow("issues:read", "issues:status")
def get_request(request_id, fmt):
    """One request (as a one-element list, as the specification says)."""
    return _answer(fmt, "service_requests", "request", [_request(get_issue(scoped(), request_id))])


@open311.route(f"/tokens/<string(maxlength=64):token>.{_FMT}")
@allow("issues:read", "issues:status")
def get_token(token, fmt):
    """The request id behind a token returned by a POST."""
    issue_id = issue_id_for_token(scoped(), token)
    return _answer(fmt, "service_requests", "request", [{"service_request_id": issue_id, "token": token}])


@open311.route(f"/requests.{_FMT}", methods=["POST"])
@allow("issues:create")
def post_request(fmt):
    """Create a request from the GeoReport v2 fields (``lat``/``long`` are required: we do not geocode)."""
    form = request.form
    if not form.get("service_code"):
        raise InvalidInputError("缺少 service_code (the category)")
    if not form.get("lat") or not form.get("long"):
        raise InvalidInputError("缺少位置 lat and long are required (addresses are not geocoded here)")
    name = " ".join(v for v in (form.get("first_name", ""), form.get("last_name", "")) if v).strip()
    key = request.headers.get("Idempotency-Key", "").strip() or None
    if key is not None and len(key) > _MAX_KEY:
        raise InvalidInputError(f"Idempotency-Key 过长 the Idempotency-Key header is longer than {_MAX_KEY} characters")
    values = {
        "category": form["service_code"],
        "description": form.get("description", ""),
        "lon": form["long"],
        "lat": form["lat"],
        "address": form.get("address_string", ""),
        "reporter_name": name,
        "reporter_phone": form.get("phone", ""),
    }
    if key is not None:
        values["external_id"] = key
    body = load_report(values, _FIELD_NAMES)  # the JSON API's own checks: limits, plain text, numbers
    body.pop("photos")
    photos = [(f.filename or "media", f.read()) for f in request.files.getlist("media")]
    issue, created = report("Idempotency-Key", channel="open311", photos=photos, **body)
    row = {
        "service_request_id": issue["id"],
        "token": issue.get("token"),
        "service_notice": "",
        "account_id": form.get("account_id"),
    }
    return _answer(fmt, "service_requests", "request", [row], 201 if created else 200)
