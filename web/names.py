"""What pages call things, in the page's language: levels, roles, issue states and workflow steps.

The domain keeps identifiers (``micro_grid``, ``grid_worker``, ``in_progress``, ``accept``); pages show these
names instead (English message ids, Chinese in ``web/translations/zh_CN``). Templates get them as
``level_names``, ``role_names``, ``state_names``, ``action_names`` and ``hazard_names``; an identifier without a
name is shown as it is.
"""

from __future__ import annotations

from flask import Flask
from flask_babel import lazy_gettext as _l

__all__ = [
    "LEVEL_NAMES",
    "ROLE_NAMES",
    "STATE_NAMES",
    "ACTION_NAMES",
    "KIND_NAMES",
    "USE_NAMES",
    "HAZARD_NAMES",
    "CRS_NAMES",
    "SYSTEM_NAMES",
    "name_of",
    "init_names",
]

LEVEL_NAMES = {
    "district": _l("District"),
    "street": _l("Street"),
    "community": _l("Community"),
    "grid": _l("Grid"),
    "micro_grid": _l("Micro-grid"),
}
ROLE_NAMES = {
    "admin": _l("Administrator"),
    "planner": _l("Planner"),
    "staff": _l("Staff"),
    "grid_worker": _l("Grid worker"),
    "api_client": _l("API client"),
}
STATE_NAMES = {
    "reported": _l("Reported"),
    "accepted": _l("Accepted"),
    "filed": _l("Filed"),
    "dispatched": _l("Dispatched"),
    "in_progress": _l("In progress"),
    "checked": _l("Checked"),
    "closed": _l("Closed"),
    "void": _l("Void"),
    "parked": _l("Parked"),
}
#: Workflow actions and the desk's own steps in an issue's history.
ACTION_NAMES = {
    "accept": _l("Accept"),
    "file": _l("File"),
    "dispatch": _l("Dispatch"),
    "start": _l("Start work"),
    "check": _l("Check"),
    "close": _l("Close"),
    "reject": _l("Send back"),
    "void": _l("Void"),
    "park": _l("Park"),
    "unpark": _l("Unpark"),
    "reopen": _l("Reopen"),
    "report": _l("Report"),
    "escalate": _l("Escalate"),
    "assign": _l("Assign"),
    "import": _l("Import"),
}
#: Service-point kinds the service knows (``serving.analysis.KNOWN_KINDS``); imported data may hold others.
KIND_NAMES = {
    "grid_station": _l("Grid work station"),
    "community_centre": _l("Community centre"),
    "police": _l("Police station"),
    "clinic": _l("Clinic"),
    "hospital": _l("Hospital"),
    "school": _l("School"),
}
#: Hazard levels of an issue (``issues.desk.HAZARD_LEVELS``: 一般 / 较大 / 重大).
HAZARD_NAMES = {
    "general": _l("General"),
    "major": _l("Major"),
    "severe": _l("Severe"),
}
#: Coordinate systems a report names (``geo.crs``): proper names, the same in every language.
CRS_NAMES = {
    "wgs84": "WGS84",
    "cgcs2000": "CGCS2000",
    "gcj02": "GCJ-02",
    "bd09": "BD-09",
}
#: What buildings are used for (``buildings.use``); imported data may hold others, shown as they are.
USE_NAMES = {
    "residential": _l("Residential"),
    "commercial": _l("Commercial"),
    "office": _l("Office"),
    "school": _l("School"),
    "hospital": _l("Hospital"),
    "industrial": _l("Industrial"),
    "public": _l("Public building"),
    "mixed": _l("Mixed use"),
}
#: Who the history names for steps the service took itself (an actor without a user: command line, schedule).
SYSTEM_NAMES = {
    "system": _l("System"),
    "scheduler": _l("System (automatic)"),
}
_VOCABULARIES = {
    "level": LEVEL_NAMES,
    "role": ROLE_NAMES,
    "state": STATE_NAMES,
    "action": ACTION_NAMES,
    "kind": KIND_NAMES,
    "hazard": HAZARD_NAMES,
    "crs": CRS_NAMES,
}


def name_of(kind: str, identifier: str | None) -> str:
    """The page-language name of ``identifier`` in vocabulary ``kind`` (level, role, state, action, kind, hazard, crs).

    Parameters
    ----------
    kind : str
        Which vocabulary.
    identifier : str or None
        The domain identifier, e.g. ``"micro_grid"``.

    Returns
    -------
    str
        Its name, or the identifier itself when it has none (``""`` for ``None``).
    """
    if identifier is None:
        return ""
    name = _VOCABULARIES[kind].get(identifier)
    return str(name) if name is not None else identifier


def init_names(app: Flask) -> None:
    """Give templates the vocabularies and a ``name_of`` global."""

    @app.context_processor
    def _names() -> dict:
        return {
            "level_names": LEVEL_NAMES,
            "role_names": ROLE_NAMES,
            "state_names": STATE_NAMES,
            "action_names": ACTION_NAMES,
            "kind_names": KIND_NAMES,
            "use_names": USE_NAMES,
            "hazard_names": HAZARD_NAMES,
            "system_names": SYSTEM_NAMES,
            "name_of": name_of,
        }
