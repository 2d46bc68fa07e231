"""The frame every page shares: navigation offered by what the caller may open, and breadcrumbs of areas.

``base.html`` renders ``nav`` (the pages the caller may open, in order) and ``breadcrumbs`` (a list of
``(name, url)``; a view passes it, e.g. from :func:`area_breadcrumbs`).
"""

from __future__ import annotations

from flask import Flask, request, url_for
from flask_babel import lazy_gettext as _l

from web.access import caller, may_call

__all__ = ["NAV", "nav_items", "area_breadcrumbs", "init_layout"]

#: The navigation: endpoint → label, in the order shown. Items whose endpoint is missing or refused are left out.
NAV = (
    ("map_pages.staff_map", _l("Map")),
    ("issue_pages.queue", _l("Issues")),
    ("issue_pages.issue_map", _l("Issue map")),
    ("stats_pages.stats_page", _l("Statistics")),
    ("coverage_pages.coverage_page", _l("Coverage")),
    ("editor_pages.editor_page", _l("Editor")),
    ("history_pages.history_page", _l("Boundary history")),
    ("patrol_pages.patrols_page", _l("Patrols")),
    ("pages.audit_page", _l("Audit log")),
)


def nav_items() -> list[dict]:
    """The navigation links the caller may follow: ``{"url", "label", "current"}`` each."""
    if caller() is None:
        return []
    items = []
    for endpoint, label in NAV:
        if may_call(endpoint):
            items.append({"url": url_for(endpoint), "label": str(label), "current": request.endpoint == endpoint})
    return items


def area_breadcrumbs(chain: list[dict], endpoint: str, param: str = "area", **args) -> list[tuple[str, str]]:
    """Breadcrumbs for an area's chain of parents (outermost first), each linking to ``endpoint?param=code``.

    Parameters
    ----------
    chain : list of dict
        Areas with ``code`` and ``name``, outermost first (e.g. from the registry's chain of an area).
    endpoint : str
        The page each crumb opens.
    param : str
        The query parameter carrying the area code.
    **args
        Further query parameters kept on every crumb.

    Returns
    -------
    list of (str, str)
        ``(name, url)`` pairs.
    """
    return [(a.get("name") or a["code"], url_for(endpoint, **{param: a["code"]}, **args)) for a in chain]


def init_layout(app: Flask) -> None:
    """Give every template ``nav`` and ``user`` (the signed-in caller, on error pages too)."""

    @app.context_processor
    def _layout() -> dict:
        return {"nav": nav_items(), "user": caller()}
