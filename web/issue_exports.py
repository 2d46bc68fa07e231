"""The issue export's headers and value names, in the caller's page language.

The export (``GET /api/v1/issues/export``) names columns and values as the pages do: states, levels and hazard
levels from :mod:`web.names`, categories from the catalog in the page's language, headers by the pages' own
message ids. A signed-in page user gets their page language; an API token client gets the deployment's default
(``DEFAULT_LOCALE``), whatever language the token's user chose for pages.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from flask import current_app, g
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from issues.categories import Catalog
from web.names import HAZARD_NAMES, LEVEL_NAMES, STATE_NAMES

__all__ = ["EXPORT_HEADERS", "export_headers", "export_names", "export_language"]

#: Column → header (English message id; the queue and issue pages use the same words).
EXPORT_HEADERS = {
    "id": _l("No."),
    "category": _l("Category"),
    "state": _l("State"),
    "hazard_level": _l("Hazard level"),
    "description": _l("Description"),
    "address": _l("Address"),
    "lon": _l("Longitude (WGS84)"),
    "lat": _l("Latitude (WGS84)"),
    "micro_grid_code": _l("Micro-grid code"),
    "grid_code": _l("Grid code"),
    "community_code": _l("Community code"),
    "street_code": _l("Street code"),
    "level": _l("Level"),
    "assignee_name": _l("Handler"),
    "created_at": _l("Reported at"),
    "due_at": _l("Due (this stage)"),
    "closed_at": _l("Closed at"),
    "overdue": _l("Overdue now"),
    "escalations": _l("Escalations"),
    "reporter_name": _l("Reporter"),
    "reporter_phone": _l("Reporter phone"),
}


def export_headers() -> dict[str, str]:
    """The export's headers in the current language."""
    return {column: str(header) for column, header in EXPORT_HEADERS.items()}


def export_names(catalog: Catalog, english: bool) -> dict[str, dict]:
    """The names of the export's coded values in the current language (``english``: the catalog's English names)."""
    return {
        "category": {c.code: (c.name_en if english else c.name_zh) for c in catalog},
        "state": {k: str(v) for k, v in STATE_NAMES.items()},
        "level": {k: str(v) for k, v in LEVEL_NAMES.items()},
        "hazard_level": {k: str(v) for k, v in HAZARD_NAMES.items()},
        "overdue": {True: _("Yes"), False: _("No")},
    }


@contextlib.contextmanager
def export_language() -> Iterator[str]:
    """Run the block in the export's language: the page language of a signed-in user, the default for a token."""
    from web.i18n import page_locale

    locale = (current_app.config.get("DEFAULT_LOCALE") or "zh_CN") if g.get("bearer") else page_locale()
    with force_locale(locale):
        yield locale
