"""The authorization matrix: every route of the app × every role × inside and outside the caller's areas.

The routes come from the app's URL map, so a new route fails :func:`test_every_route_is_classified` until it
is added to :data:`EXPECTED` here — no route can be left unclassified. The expectations are written out by
hand (not derived from ``accounts.roles``), so a change to the policy shows up as a failing test.
"""

from __future__ import annotations

import io
import itertools

import pytest
import shapely
from PIL import Image

from accounts.tokens import create_token
from accounts.users import find_user, list_users
from boundaries import assets
from boundaries.editing import update_area
from boundaries.registry import Registry
from boundaries.rule_waivers import add_waiver
from boundaries.scope import NO_SUCH_ASSET, ScopedRegistry
from boundaries.storage import open_store
from core.audit import SYSTEM
from core.scope import Scope
from issues.desk import IssueDesk
from issues.queries import NO_SUCH_ISSUE
from patrols.service import NO_SUCH_PATROL, NOT_YOUR_PATROL, PatrolDesk
from tests.conftest import TEST_CONFIG, copy_demo, demo_password, token_client
from web.vendor import versions

ROLES = ("anonymous", "admin", "planner", "staff", "grid_worker", "api_client")
SIGNED_IN = {"admin", "planner", "staff", "grid_worker"}  # people (API clients are not)
EVERYONE = set(ROLES)
PLANNERS = {"admin", "planner"}
ADMIN = {"admin"}

#: The worker's grid (inside every demo user's areas) and a grid of another community (outside them).
INSIDE_GRID, OUTSIDE_GRID = "510104001001001", "510104001002001"

READERS = {"admin", "staff", "grid_worker", "api_client"}  # issues: read, or an intake channel its own
REPORTERS = {"admin", "staff", "grid_worker", "api_client"}
HANDLERS = {"admin", "staff", "grid_worker"}
STATS = {"admin", "planner", "staff"}
APP = {"admin", "staff", "grid_worker"}  # the phone app: patrols:record or issues:handle


def unscoped(roles: set[str]) -> tuple[set[str], set[str]]:
    """Allowed the same inside and outside the caller's areas (what it returns is filtered)."""
    return roles, roles


def scoped(roles: set[str]) -> tuple[set[str], set[str]]:
    """Outside the caller's areas only the unrestricted admin is allowed."""
    return roles, roles & {"admin"}


#: (endpoint, method) → (roles allowed inside, roles allowed outside the caller's areas). For an intake channel
#: (api_client, bound to the whole street) "inside" is an issue it reported and "outside" one it did not.
EXPECTED_RAW: dict[tuple[str, str], tuple[set[str], bool]] = {
    ("static", "GET"): (EVERYONE, False),
    ("api-docs.openapi_json", "GET"): (EVERYONE, False),
    ("vendor.file", "GET"): (EVERYONE, False),
    ("pages.login", "GET"): (EVERYONE, False),
    ("pages.login", "POST"): (EVERYONE, False),
    ("pages.logout", "POST"): (EVERYONE - {"anonymous"}, False),
    ("i18n.choose_language", "POST"): (EVERYONE, False),
    ("pages.favicon", "GET"): (EVERYONE, False),
    ("health.healthz", "GET"): (EVERYONE, False),  # the load balancer's probe: no sign-in
    ("pages.home", "GET"): (SIGNED_IN, False),
    ("map_pages.staff_map", "GET"): (SIGNED_IN, False),
    ("map_api.map_search", "GET"): (SIGNED_IN, False),  # finds only what the caller may see
    ("map_api.map_labels", "GET"): (SIGNED_IN, False),  # names of the caller's areas only
    ("map_api.map_panel", "GET"): (SIGNED_IN, True),
    ("pages.audit_page", "GET"): (ADMIN, False),
    ("areas.list_areas", "GET"): (SIGNED_IN, True),
    ("areas.area_tree", "GET"): (SIGNED_IN, False),
    ("areas.get_area", "GET"): (SIGNED_IN, True),
    ("areas.list_generations", "GET"): (SIGNED_IN, False),
    ("assets.list_buildings", "GET"): (SIGNED_IN, True),
    ("assets.list_service_points", "GET"): (SIGNED_IN, True),
    ("layers.get_layer", "GET"): (SIGNED_IN, False),  # features outside the caller's areas are left out
    ("tiles.get_tile", "GET"): (SIGNED_IN, False),
    ("ogc.landing", "GET"): (EVERYONE, False),  # OGC API – Features: the service's description is public
    ("ogc.conformance", "GET"): (EVERYONE, False),
    ("ogc.api", "GET"): (EVERYONE, False),
    ("ogc.collections", "GET"): (SIGNED_IN, False),  # lists only the collections the role may read
    ("ogc.collection", "GET"): (SIGNED_IN, False),
    ("ogc.items", "GET"): (SIGNED_IN, False),  # features filtered to the caller's areas
    ("ogc.item", "GET"): (SIGNED_IN, True),
    ("assets.get_building", "GET"): (SIGNED_IN, True),
    ("assets.get_service_point", "GET"): (SIGNED_IN, True),
    ("locate.locate_one", "GET"): (SIGNED_IN, True),
    ("locate.locate_bulk", "POST"): (SIGNED_IN, True),
    ("draw.create_area", "POST"): (PLANNERS, True),
    ("draw.update_area", "PATCH"): (PLANNERS, True),
    ("draw.retire_area", "DELETE"): (PLANNERS, True),
    ("draw.publish_draft", "POST"): (PLANNERS, True),
    ("draw.discard_draft", "DELETE"): (PLANNERS, True),
    ("draw.my_change_set", "GET"): (SIGNED_IN, True),
    ("draw.rebase_draft", "POST"): (PLANNERS, True),
    ("draw.rollback", "POST"): (PLANNERS, True),
    ("editor.editor_data", "GET"): (SIGNED_IN, True),
    ("editor_pages.editor_page", "GET"): (PLANNERS, True),
    ("editor_offline.session", "GET"): (PLANNERS, False),  # a fresh CSRF token for the offline outbox
    ("editor_offline.service_worker", "GET"): (EVERYONE, False),  # lists the editor's files only
    ("editor.save", "POST"): (PLANNERS, True),
    ("editor.split", "POST"): (PLANNERS, True),
    ("editor.reshape", "POST"): (PLANNERS, True),
    ("editor.merge", "POST"): (PLANNERS, True),
    ("rules.area_rules", "GET"): (SIGNED_IN, True),
    ("rules.create_waiver", "POST"): (PLANNERS, True),
    ("rules.delete_waiver", "DELETE"): (PLANNERS, True),
    ("rules.fix_area", "POST"): (PLANNERS, True),  # a preview needs areas:write too: planners use it
    ("suggest.suggest_micro_grids", "POST"): (PLANNERS, True),  # a preview needs areas:write too
    ("history.generation_diff", "GET"): (SIGNED_IN, True),  # ?parent= inside or outside the caller's areas
    ("history.area_lineage", "GET"): (SIGNED_IN, True),
    ("history.area_history", "GET"): (SIGNED_IN, True),
    ("history_pages.history_page", "GET"): (SIGNED_IN, True),
    ("edit.update_building", "PATCH"): (PLANNERS, True),
    ("edit.create_service_point", "POST"): (PLANNERS, True),
    ("edit.update_service_point", "PATCH"): (PLANNERS, True),
    ("edit.delete_service_point", "DELETE"): (PLANNERS, True),
    ("accounts.me", "GET"): (EVERYONE - {"anonymous"}, False),
    ("accounts.list_users", "GET"): (ADMIN, False),
    ("accounts.create_user", "POST"): (ADMIN, False),
    ("accounts.get_user", "GET"): (ADMIN, False),
    ("accounts.update_user", "PATCH"): (ADMIN, False),
    ("accounts.list_tokens", "GET"): (ADMIN, False),
    ("accounts.create_token", "POST"): (ADMIN, False),
    ("accounts.revoke_token", "DELETE"): (ADMIN, False),
    ("audit.list_audit", "GET"): (ADMIN, False),
}
EXPECTED: dict[tuple[str, str], tuple[set[str], set[str]]] = {
    key: (scoped(roles) if is_scoped else unscoped(roles)) for key, (roles, is_scoped) in EXPECTED_RAW.items()
} | {
    ("issues.create_issue", "POST"): unscoped(REPORTERS),
    ("issues.list_issues_view", "GET"): (READERS, {"admin", "api_client"}),
    ("issues.get_issue_view", "GET"): scoped(READERS),
    ("issues.act_on_issue", "POST"): scoped(HANDLERS),
    ("issues.get_photo", "GET"): scoped(READERS),
    ("issues.issue_stats_view", "GET"): scoped(STATS),
    ("issues.export_issues", "GET"): scoped({"admin", "staff"}),  # planners see statistics, not the rows
    ("issues.list_categories", "GET"): unscoped(EVERYONE - {"anonymous"}),
    ("open311.services", "GET"): unscoped(EVERYONE),
    ("open311.service_definition", "GET"): unscoped(EVERYONE),
    ("open311.get_requests", "GET"): unscoped(READERS),
    ("open311.get_request", "GET"): scoped(READERS),
    ("open311.get_token", "GET"): scoped(READERS),
    ("open311.post_request", "POST"): unscoped(REPORTERS),
    ("issue_pages.queue", "GET"): scoped(HANDLERS),
    ("issue_pages.detail", "GET"): scoped(HANDLERS),
    ("issue_pages.act", "POST"): scoped(HANDLERS),
    ("issue_pages.issue_map", "GET"): scoped(HANDLERS),
    ("issue_map.issue_points", "GET"): scoped(HANDLERS),
    ("issue_map.issue_area_figures", "GET"): scoped(HANDLERS),
    ("coverage.coverage", "GET"): scoped(STATS),
    ("coverage.suggest_sites", "POST"): scoped(STATS),
    ("coverage_pages.coverage_page", "GET"): scoped(STATS),
    ("coverage.coverage_areas", "GET"): scoped(STATS),
    ("coverage.coverage_reach", "GET"): scoped(STATS),
    ("coverage.coverage_buildings", "GET"): scoped(STATS),
    ("stats_pages.stats_page", "GET"): scoped(STATS),
    ("stats_pages.stats_file", "GET"): scoped(STATS),  # the page's figures as xlsx / CSV
    ("app_pages.home", "GET"): unscoped(APP),  # the phone app's pages: shells filled from the scoped API
    ("app_pages.work", "GET"): unscoped(APP),
    ("app_pages.issue", "GET"): scoped(APP),
    ("app_pages.report", "GET"): unscoped(APP),
    ("app_pages.building", "GET"): unscoped(APP),
    ("app_pages.patrol", "GET"): unscoped(APP),
    ("app_pages.outbox", "GET"): unscoped(APP),
    ("app_pages.offline", "GET"): unscoped(APP),
    ("app_pages.session", "GET"): unscoped(APP),
    ("app_pages.manifest", "GET"): unscoped(EVERYONE),
    # patrols: "inside" is a patrol of the demo grid worker, "outside" one of the admin (bound to no area)
    ("patrols.start_patrol", "POST"): unscoped({"admin", "grid_worker"}),
    ("patrols.add_positions", "POST"): ({"grid_worker"}, {"admin"}),  # only the patrol's own worker
    ("patrols.end_patrol", "POST"): ({"grid_worker"}, {"admin"}),
    ("patrols.upload_gpx", "POST"): unscoped({"admin", "grid_worker"}),
    ("patrols.list_patrols", "GET"): unscoped({"admin", "staff", "grid_worker"}),  # filtered: a worker their own
    ("patrols.get_patrol", "GET"): scoped({"admin", "staff", "grid_worker"}),
    ("patrols.patrol_compliance", "GET"): scoped({"admin", "staff"}),
    ("patrols.create_checkin", "POST"): scoped({"admin", "grid_worker"}),
    ("patrols.me_work", "GET"): unscoped({"admin", "grid_worker"}),  # fetched without cookies; holds no data
    ("app_pages.service_worker", "GET"): unscoped(EVERYONE),  # lists the app's files only
    ("patrol_pages.patrols_page", "GET"): scoped({"admin", "staff"}),  # patrols:read (tracks are personal data)
    ("patrol_pages.patrols_file", "GET"): scoped({"admin", "staff"}),
    ("patrol_pages.patrol_tracks", "GET"): scoped({"admin", "staff"}),
}


def _routes(app) -> set[tuple[str, str]]:
    return {
        (rule.endpoint, method) for rule in app.url_map.iter_rules() for method in rule.methods - {"HEAD", "OPTIONS"}
    }


def test_every_route_is_classified(app):
    routes = _routes(app)
    assert routes - set(EXPECTED) == set(), "routes with no expectation in the matrix: add them to EXPECTED"
    assert set(EXPECTED) - routes == set(), "expectations for routes that no longer exist"


class Places:
    """Objects inside and outside the demo users' areas, looked up in the demo data."""

    def __init__(self, registry: Registry):
        self.registry = registry
        self.grid = {True: INSIDE_GRID, False: OUTSIDE_GRID}
        self.leaf = {k: registry.areas(parent_code=g)["code"].iloc[0] for k, g in self.grid.items()}
        geoms = {k: registry.area(c).geometry for k, c in self.leaf.items()}
        self.point = {k: shapely.point_on_surface(g) for k, g in geoms.items()}
        self.building = {k: int(assets.buildings(registry, area_code=g)["id"].iloc[0]) for k, g in self.grid.items()}
        self.service_point = {
            k: int(assets.service_points(registry, area_code=g)["id"].iloc[0]) for k, g in self.grid.items()
        }
        self.issue, self.photo, self.token = self._issues(registry)
        self.square = {
            k: shapely.geometry.mapping(shapely.buffer(p, 0.00005, cap_style="square")) for k, p in self.point.items()
        }
        self.cut = {  # a line across the leaf, north to south through its point
            k: {
                "type": "LineString",
                "coordinates": [[p.x, geoms[k].bounds[1] - 0.001], [p.x, geoms[k].bounds[3] + 0.001]],
            }
            for k, p in self.point.items()
        }
        self.pair = {k: registry.areas(parent_code=g)["code"].iloc[:2].tolist() for k, g in self.grid.items()}

    def _issues(self, registry):
        """An issue in the worker's grid reported by the intake channel, one elsewhere reported by the admin."""
        desk = IssueDesk(registry)
        issue, photo, token = {}, {}, {}
        buffer = io.BytesIO()
        Image.new("RGB", (8, 8), "red").save(buffer, "PNG")
        for inside, name in ((True, "wechat"), (False, "admin")):
            user = find_user(registry, name)
            view = ScopedRegistry(registry, Scope.everything(), user.actor("test"))
            made, _ = desk.report(
                view,
                "exposed_rubbish",
                "垃圾",
                lon=self.point[inside].x,
                lat=self.point[inside].y,
                photos=[("p.png", buffer.getvalue())],
            )
            issue[inside], photo[inside], token[inside] = made["id"], made["photos"][0], made["token"]
        return issue, photo, token


def _draft_change(registry: Registry, code: str) -> int:
    """A change of ``code`` in the command line's change set; returns the change set's id."""
    changed = update_area(ScopedRegistry(registry, Scope.everything(), SYSTEM), code, name="草稿改名 renamed in draft")
    return changed["generation"]


def _clear_waivers(registry: Registry, code: str) -> None:
    with registry.store.transaction() as conn:
        for waiver in registry.store.waivers(codes=[code], conn=conn):
            registry.store.delete_waiver(conn, waiver["id"])


def _waiver(registry: Registry, code: str) -> int:
    _clear_waivers(registry, code)
    return add_waiver(ScopedRegistry(registry, Scope.everything(), SYSTEM), code, "gap", "matrix")["id"]


def _two_generations(registry: Registry) -> str:
    """``old/diff/new`` of the demo's generation and a second one (a renamed grid), published once."""
    published = sorted(g["id"] for g in registry.generations() if g["state"] == "published")
    if len(published) < 2:
        update_area(ScopedRegistry(registry, Scope.everything(), SYSTEM), INSIDE_GRID, name="历史 history")
        published.append(registry.publish(SYSTEM))
    return f"{published[0]}/diff/{published[-1]}"


def _tile_of(lon: float, lat: float, zoom: int = 16) -> tuple[int, int, int]:
    import mercantile

    t = mercantile.tile(lon, lat, zoom)
    return t.z, t.x, t.y


def _requests(places: Places, inside: bool, app, counter) -> dict:
    """(endpoint, method) → (url, options, setup) for one side (inside or outside)."""
    p, k = places, inside
    lon, lat = p.point[k].x, p.point[k].y
    users = {u.name: u.id for u in list_users(p.registry)}

    def throwaway_token(registry):
        return create_token(registry, users["worker"], "to revoke", 1)[1]["id"]

    n = next(counter)
    return {
        ("static", "GET"): ("/static/none.css", {}, None),
        ("api-docs.openapi_json", "GET"): ("/api/v1/openapi.json", {}, None),
        ("vendor.file", "GET"): (f"/vendor/leaflet/{versions()['leaflet']}/leaflet.js", {}, None),
        ("pages.login", "GET"): ("/login", {}, None),
        ("health.healthz", "GET"): ("/healthz", {}, None),
        ("pages.login", "POST"): (
            "/login",
            {"data": {"username": "admin", "password": demo_password("admin")}},
            None,
        ),
        ("pages.logout", "POST"): ("/logout", {}, None),
        ("i18n.choose_language", "POST"): ("/language", {"data": {"locale": "zh_CN"}}, None),
        ("pages.favicon", "GET"): ("/favicon.ico", {}, None),
        ("pages.home", "GET"): ("/", {}, None),
        ("map_pages.staff_map", "GET"): ("/map", {}, None),
        ("map_api.map_search", "GET"): (f"/api/v1/map/search?q={p.leaf[k]}", {}, None),
        ("map_api.map_labels", "GET"): (
            f"/api/v1/map/labels?level=micro_grid&bbox={lon - 0.001},{lat - 0.001},{lon + 0.001},{lat + 0.001}",
            {},
            None,
        ),
        ("map_api.map_panel", "GET"): (f"/api/v1/map/panel?code={p.leaf[k]}", {}, None),
        ("pages.audit_page", "GET"): ("/audit", {}, None),
        ("areas.list_areas", "GET"): (f"/api/v1/areas?parent={p.grid[k]}", {}, None),
        ("areas.area_tree", "GET"): ("/api/v1/areas/tree", {}, None),
        ("areas.get_area", "GET"): (f"/api/v1/areas/{p.leaf[k]}", {}, None),
        ("areas.list_generations", "GET"): ("/api/v1/generations", {}, None),
        ("assets.list_buildings", "GET"): (f"/api/v1/buildings?area={p.grid[k]}", {}, None),
        ("assets.list_service_points", "GET"): (f"/api/v1/service-points?area={p.grid[k]}", {}, None),
        ("layers.get_layer", "GET"): (
            f"/api/v1/layers/micro_grid?bbox={lon - 0.001},{lat - 0.001},{lon + 0.001},{lat + 0.001}&zoom=16",
            {},
            None,
        ),
        ("tiles.get_tile", "GET"): ("/tiles/micro_grid/{}/{}/{}.mvt".format(*_tile_of(lon, lat)), {}, None),
        ("ogc.landing", "GET"): ("/ogc", {}, None),
        ("ogc.conformance", "GET"): ("/ogc/conformance", {}, None),
        ("ogc.api", "GET"): ("/ogc/api", {}, None),
        ("ogc.collections", "GET"): ("/ogc/collections", {}, None),
        ("ogc.collection", "GET"): ("/ogc/collections/buildings", {}, None),
        ("ogc.items", "GET"): ("/ogc/collections/buildings/items?limit=5", {}, None),
        ("ogc.item", "GET"): (f"/ogc/collections/buildings/items/{p.building[k]}", {}, None),
        ("assets.get_building", "GET"): (f"/api/v1/buildings/{p.building[k]}", {}, None),
        ("assets.get_service_point", "GET"): (f"/api/v1/service-points/{p.service_point[k]}", {}, None),
        ("locate.locate_one", "GET"): (f"/api/v1/locate?lon={lon}&lat={lat}", {}, None),
        ("locate.locate_bulk", "POST"): (
            "/api/v1/locate",
            {
                "json": {
                    "type": "FeatureCollection",
                    "features": [
                        {"type": "Feature", "properties": {}, "geometry": {"type": "Point", "coordinates": [lon, lat]}}
                    ],
                }
            },
            None,
        ),
        ("draw.create_area", "POST"): (
            "/api/v1/areas",
            {
                "json": {
                    "code": f"{p.grid[k]}9{n:02d}",
                    "name": "新微网格",
                    "level": "micro_grid",
                    "parent_code": p.grid[k],
                    "geometry": p.square[k],
                }
            },
            None,
        ),
        ("draw.update_area", "PATCH"): (f"/api/v1/areas/{p.leaf[k]}", {"json": {"name": "改名"}}, None),
        ("draw.retire_area", "DELETE"): (f"/api/v1/areas/{p.leaf[k]}", {}, None),
        ("draw.publish_draft", "POST"): (
            "/api/v1/generations/draft/publish?change_set={token}",
            {},
            lambda registry: _draft_change(registry, p.leaf[k]),
        ),
        ("draw.discard_draft", "DELETE"): (
            "/api/v1/generations/draft?change_set={token}",
            {},
            lambda registry: _draft_change(registry, p.leaf[k]),
        ),
        ("draw.my_change_set", "GET"): (
            "/api/v1/generations/draft?change_set={token}",
            {},
            lambda registry: _draft_change(registry, p.leaf[k]),
        ),
        ("editor.editor_data", "GET"): (f"/api/v1/editor/{p.grid[k]}", {}, None),
        ("editor_pages.editor_page", "GET"): (f"/editor?area={p.grid[k]}", {}, None),
        ("editor.save", "POST"): (
            "/api/v1/editor/save",
            {"json": {"changes": [{"code": p.leaf[k], "geometry": p.square[k]}]}},
            None,
        ),
        ("editor.split", "POST"): (f"/api/v1/areas/{p.leaf[k]}/split", {"json": {"line": p.cut[k]}}, None),
        ("editor.reshape", "POST"): (f"/api/v1/areas/{p.leaf[k]}/reshape", {"json": {"line": p.cut[k]}}, None),
        ("editor.merge", "POST"): ("/api/v1/areas/merge", {"json": {"codes": p.pair[k]}}, None),
        ("draw.rollback", "POST"): (
            "/api/v1/generations/{token}/rollback",
            {"json": {"parent": p.grid[k]}},
            lambda registry: registry.current_generation(),
        ),
        ("draw.rebase_draft", "POST"): (
            "/api/v1/generations/draft/rebase?change_set={token}",
            {},
            lambda registry: _draft_change(registry, p.leaf[k]),
        ),
        ("rules.area_rules", "GET"): (f"/api/v1/areas/{p.grid[k]}/rules", {}, None),
        ("rules.create_waiver", "POST"): (
            f"/api/v1/areas/{p.leaf[k]}/waivers",
            {"json": {"rule": "households", "reason": f"矩阵 matrix {n}"}},
            lambda registry: _clear_waivers(registry, p.leaf[k]),
        ),
        ("rules.delete_waiver", "DELETE"): (
            f"/api/v1/areas/{p.leaf[k]}/waivers/{{token}}",
            {},
            lambda registry: _waiver(registry, p.leaf[k]),
        ),
        ("history.generation_diff", "GET"): (
            f"/api/v1/generations/{{token}}?parent={p.grid[k]}&level=micro_grid",
            {},
            _two_generations,
        ),
        ("history.area_lineage", "GET"): (f"/api/v1/areas/{p.leaf[k]}/lineage", {}, None),
        ("history.area_history", "GET"): (f"/api/v1/areas/{p.leaf[k]}/history", {}, None),
        ("history_pages.history_page", "GET"): (f"/history?area={p.grid[k]}", {}, _two_generations),
        ("rules.fix_area", "POST"): (f"/api/v1/areas/{p.grid[k]}/fix", {"json": {"tolerance_m": 1}}, None),
        ("suggest.suggest_micro_grids", "POST"): (f"/api/v1/areas/{p.grid[k]}/suggest", {"json": {}}, None),
        ("edit.update_building", "PATCH"): (f"/api/v1/buildings/{p.building[k]}", {"json": {"name": "楼"}}, None),
        ("edit.create_service_point", "POST"): (
            "/api/v1/service-points",
            {"json": {"name": "新服务点", "kind": "grid_station", "lon": lon, "lat": lat}},
            None,
        ),
        ("edit.update_service_point", "PATCH"): (
            f"/api/v1/service-points/{p.service_point[k]}",
            {"json": {"opening_hours": "09:00-17:00"}},
            None,
        ),
        ("edit.delete_service_point", "DELETE"): (f"/api/v1/service-points/{p.service_point[k]}", {}, None),
        ("accounts.me", "GET"): ("/api/v1/me", {}, None),
        ("accounts.list_users", "GET"): ("/api/v1/users", {}, None),
        ("accounts.create_user", "POST"): (
            "/api/v1/users",
            {
                "json": {
                    "name": f"matrix{n}",
                    "role": "staff",
                    "areas": [p.grid[k]],
                    "password": "Matrix-Passw0rd",
                }
            },
            None,
        ),
        ("accounts.get_user", "GET"): (f"/api/v1/users/{users['worker']}", {}, None),
        ("accounts.update_user", "PATCH"): (
            f"/api/v1/users/{users['worker']}",
            {"json": {"phone": "13800000000"}},
            None,
        ),
        ("accounts.list_tokens", "GET"): ("/api/v1/tokens", {}, None),
        ("accounts.create_token", "POST"): ("/api/v1/tokens", {"json": {"user_id": users["worker"]}}, None),
        ("accounts.revoke_token", "DELETE"): ("/api/v1/tokens/{token}", {}, throwaway_token),
        ("audit.list_audit", "GET"): ("/api/v1/audit", {}, None),
        ("issues.create_issue", "POST"): (
            "/api/v1/issues",
            {"json": {"category": "road_cleaning", "description": "路面脏", "lon": lon, "lat": lat}},
            None,
        ),
        ("issues.list_issues_view", "GET"): (f"/api/v1/issues?area={p.grid[k]}", {}, None),
        ("issues.get_issue_view", "GET"): (f"/api/v1/issues/{p.issue[k]}", {}, None),
        ("issues.act_on_issue", "POST"): (
            f"/api/v1/issues/{p.issue[k]}/actions",
            {"json": {"action": "escalate", "note": "需要网格协助"}},
            None,
        ),
        ("issues.get_photo", "GET"): (f"/api/v1/issues/{p.issue[k]}/photos/{p.photo[k]}", {}, None),
        ("issues.issue_stats_view", "GET"): (f"/api/v1/issues/stats?area={p.grid[k]}", {}, None),
        ("issues.export_issues", "GET"): (f"/api/v1/issues/export?format=csv&area={p.grid[k]}", {}, None),
        ("issues.list_categories", "GET"): ("/api/v1/issue-categories", {}, None),
        ("open311.services", "GET"): ("/open311/v2/services.json", {}, None),
        ("open311.service_definition", "GET"): ("/open311/v2/services/gas_hazard.xml", {}, None),
        ("open311.get_requests", "GET"): ("/open311/v2/requests.json", {}, None),
        ("open311.get_request", "GET"): (f"/open311/v2/requests/{p.issue[k]}.json", {}, None),
        ("open311.get_token", "GET"): (f"/open311/v2/tokens/{p.token[k]}.xml", {}, None),
        ("open311.post_request", "POST"): (
            "/open311/v2/requests.json",
            {"data": {"service_code": "street_order", "lat": str(lat), "long": str(lon), "description": "占道"}},
            None,
        ),
        ("issue_pages.queue", "GET"): (f"/issues?area={p.grid[k]}", {}, None),
        ("issue_pages.detail", "GET"): (f"/issues/{p.issue[k]}", {}, None),
        ("issue_pages.act", "POST"): (
            f"/issues/{p.issue[k]}/act",
            {"data": {"action": "escalate", "note": "协助"}},
            None,
        ),
        ("issue_pages.issue_map", "GET"): (f"/issues/map?area={p.grid[k]}", {}, None),
        ("issue_map.issue_points", "GET"): (f"/api/v1/issues/points?area={p.grid[k]}", {}, None),
        ("issue_map.issue_area_figures", "GET"): (
            f"/api/v1/issues/areas?area={p.grid[k]}&level=micro_grid",
            {},
            None,
        ),
        ("coverage.coverage", "GET"): (f"/api/v1/coverage?kind=grid_station&area={p.grid[k]}", {}, None),
        ("coverage.suggest_sites", "POST"): (
            "/api/v1/coverage/suggest",
            {"json": {"kind": "grid_station", "area": p.grid[k], "k": 1}},
            None,
        ),
        ("coverage_pages.coverage_page", "GET"): (f"/coverage?kind=grid_station&area={p.grid[k]}", {}, None),
        ("coverage.coverage_areas", "GET"): (f"/api/v1/coverage/areas?kind=grid_station&area={p.grid[k]}", {}, None),
        ("coverage.coverage_reach", "GET"): (
            f"/api/v1/coverage/reach?kind=grid_station&zoom=15&area={p.grid[k]}",
            {},
            None,
        ),
        ("coverage.coverage_buildings", "GET"): (
            f"/api/v1/coverage/buildings?kind=grid_station&zoom=15&bbox=103,30,105,31&area={p.grid[k]}",
            {},
            None,
        ),
        ("stats_pages.stats_page", "GET"): (f"/stats?area={p.grid[k]}", {}, None),
        ("stats_pages.stats_file", "GET"): (f"/stats.csv?area={p.grid[k]}", {}, None),
        ("app_pages.home", "GET"): ("/app/", {}, None),
        ("app_pages.work", "GET"): ("/app/work", {}, None),
        ("app_pages.issue", "GET"): (f"/app/issues/{p.issue[k]}", {}, None),
        ("app_pages.report", "GET"): ("/app/report", {}, None),
        ("app_pages.building", "GET"): (f"/app/building?id={p.building[k]}", {}, None),
        ("app_pages.patrol", "GET"): ("/app/patrol", {}, None),
        ("app_pages.outbox", "GET"): ("/app/outbox", {}, None),
        ("app_pages.offline", "GET"): ("/app/offline", {}, None),
        ("app_pages.session", "GET"): ("/app/session", {}, None),
        ("app_pages.manifest", "GET"): ("/app/manifest.webmanifest", {}, None),
        ("app_pages.service_worker", "GET"): ("/app/sw.js", {}, None),
        ("editor_offline.session", "GET"): ("/editor/session", {}, None),
        ("editor_offline.service_worker", "GET"): ("/editor-sw.js", {}, None),
        **_patrol_requests(p, k, n),
    }


def _patrol_requests(p: Places, k: bool, n: int) -> dict:
    """The patrol routes: a fresh patrol of the demo worker (inside) or of the admin (outside) per request."""
    from datetime import datetime, timezone

    def patrol(registry):
        owner = find_user(registry, "worker" if k else "admin")
        view = ScopedRegistry(registry, owner.scope(), owner.actor("test"))
        made, _ = PatrolDesk(registry).start(
            view, owner, f"matrix-{k}-{next(_PATROL_KEYS)}", datetime.now(timezone.utc)
        )
        return made["id"]

    building = p.registry.store.buildings(ids=[p.building[k]], geometry=False)[0]
    when = "2026-11-27T09:00:00+08:00"
    fix = {"t": when, "lon": p.point[k].x, "lat": p.point[k].y, "accuracy": 5}
    gpx = (
        '<gpx version="1.1" creator="t"><trk><trkseg>'
        f'<trkpt lat="{fix["lat"]}" lon="{fix["lon"]}"><time>2026-11-27T01:00:00Z</time></trkpt>'
        f'<trkpt lat="{fix["lat"]}" lon="{fix["lon"] + 1e-4}"><time>2026-11-27T01:00:10Z</time></trkpt>'
        "</trkseg></trk></gpx>"
    ).encode()
    return {
        ("patrols.start_patrol", "POST"): (
            "/api/v1/patrols",
            {"json": {"client_id": f"m{n}", "started_at": when}},
            None,
        ),
        ("patrols.add_positions", "POST"): (
            "/api/v1/patrols/{token}/positions",
            {"json": {"positions": [fix]}},
            patrol,
        ),
        ("patrols.end_patrol", "POST"): ("/api/v1/patrols/{token}/end", {"json": {"ended_at": when}}, patrol),
        ("patrols.upload_gpx", "POST"): (
            "/api/v1/patrols/gpx",
            {"data": {"file": (io.BytesIO(gpx), "t.gpx"), "client_id": f"g{n}"}, "content_type": "multipart/form-data"},
            None,
        ),
        ("patrols.list_patrols", "GET"): ("/api/v1/patrols", {}, None),
        ("patrols.get_patrol", "GET"): ("/api/v1/patrols/{token}", {}, patrol),
        ("patrols.patrol_compliance", "GET"): (f"/api/v1/patrols/compliance?area={p.grid[k]}", {}, None),
        ("patrols.create_checkin", "POST"): (
            "/api/v1/checkins",
            {
                "json": {
                    "client_id": f"c{n}",
                    "building_id": p.building[k],
                    "lon": building["lon"],
                    "lat": building["lat"],
                    "at": when,
                }
            },
            None,
        ),
        ("patrols.me_work", "GET"): ("/api/v1/me/work", {}, None),
        ("patrol_pages.patrols_page", "GET"): (f"/patrols?area={p.grid[k]}", {}, None),
        ("patrol_pages.patrols_file", "GET"): (f"/patrols.xlsx?area={p.grid[k]}", {}, None),
        ("patrol_pages.patrol_tracks", "GET"): (f"/patrols/tracks?area={p.grid[k]}", {}, None),
    }


_PATROL_KEYS = itertools.count()


def _outcome(response) -> str:
    assert response.status_code < 500, response.get_data(as_text=True)[:500]
    if response.status_code in (401, 403):
        return "deny"
    if response.status_code == 404 and NO_SUCH_ISSUE in response.get_data(as_text=True):
        return "deny"  # an issue outside one's areas answers exactly like a missing one
    if response.status_code == 404 and any(
        m in response.get_data(as_text=True) for m in (NO_SUCH_PATROL, NOT_YOUR_PATROL)
    ):
        return "deny"  # a patrol one may not see or write to answers like a missing one
    if response.status_code == 404 and any(m in response.get_data(as_text=True) for m in NO_SUCH_ASSET.values()):
        return "deny"  # so do buildings and service points
    if response.status_code == 302 and "/login?next=" in response.headers.get("Location", ""):
        return "deny"
    body = response.get_json(silent=True)
    if isinstance(body, dict):
        if body.get("status") == "out_of_scope":
            return "deny"
        features = body.get("features")
        if (
            isinstance(features, list)
            and features
            and all(f.get("properties", {}).get("status") == "out_of_scope" for f in features)
        ):
            return "deny"
    return "allow"


@pytest.mark.parametrize("role", ROLES)
def test_authorization_matrix(role, demo_db, demo_tokens, tmp_path):
    from web import create_app

    url = copy_demo(demo_db, tmp_path)
    registry = Registry(open_store(url))
    app = create_app({**TEST_CONFIG, "DATABASE_URL": url, "REGISTRY": registry})
    places = Places(registry)
    client = token_client(app, None if role == "anonymous" else demo_tokens[role])
    counter = itertools.count()
    wrong = []
    for inside in (True, False):
        requests = _requests(places, inside, app, counter)
        assert set(requests) == set(EXPECTED)
        order = sorted(EXPECTED, key=lambda key: (key[1] != "GET", key[1] == "DELETE", key))
        for endpoint, method in order:
            path, options, setup = requests[(endpoint, method)]
            made = setup(registry) if setup else None
            if made is not None:
                path = path.format(token=made)
            response = client.open(path, method=method, **options)
            inside_roles, outside_roles = EXPECTED[(endpoint, method)]
            expected = "allow" if role in (inside_roles if inside else outside_roles) else "deny"
            got = _outcome(response)
            response.close()
            if got != expected:
                wrong.append((endpoint, method, "inside" if inside else "outside", expected, got, response.status_code))
            for change_set in registry.store.open_change_sets():
                registry.discard_draft(change_set=change_set["id"])
    assert wrong == []
