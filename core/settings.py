"""The deployment's settings: one table of every setting Weige knows and its default.

Every package reads a setting through :func:`setting` (``settings.get(key, DEFAULTS[key])``), so a default is
written once. Loading and checking a settings file is the web layer's (``web.settings.load_settings``), since the
checks ask the domain packages and Flask what they accept.
"""

from __future__ import annotations

from datetime import timedelta

__all__ = ["DEFAULTS", "SettingsError", "calendar_config", "setting"]


class SettingsError(ValueError):
    """A settings file that cannot be read or holds an unknown key or a value of the wrong type."""


#: Weige's settings and their defaults (``DATABASE_URL``'s default is computed: see ``web.default_database_url``).
DEFAULTS: dict = {
    "DATABASE_URL": None,
    "WEIGE_TILES": None,
    "MAX_CONTENT_LENGTH": 32 * 1024 * 1024,
    "LOCATE_MAX_POINTS": 200_000,
    "SESSION_COOKIE_SECURE": True,
    "PERMANENT_SESSION_LIFETIME": timedelta(hours=12),
    "API_RATE_LIMIT": "1200 per minute",
    "LOGIN_RATE_LIMIT": "10 per minute;100 per day",
    "LOGIN_NAME_RATE_LIMIT": "5 per minute;30 per hour",
    "INTAKE_RATE_LIMIT": "120 per minute",
    "ISSUE_CATEGORIES": None,
    "WORK_CALENDAR": None,
    "NEAR_BOUNDARY_M": 10.0,
    "PHOTO_MAX_BYTES": 8 * 1024 * 1024,
    "PHOTO_MAX_PIXELS": 100_000_000,
    "ESCALATION_INTERVAL_S": 60,
    "COVERAGE_REACH": {},
    "TIMEZONE": "Asia/Shanghai",
    "DEFAULT_LOCALE": "zh_CN",
    "BASEMAPS": ["none"],
    "BASEMAP_DEFAULT": "none",
    "BASEMAP_URLS": {},
    "TIANDITU_KEY": None,
    "CHECKIN_REACH_M": 50.0,
    "PATROL_PASS_M": 20.0,
    "PATROL_MAX_ACCURACY_M": 50.0,
    "PATROL_MAX_SPEED_MPS": 8.0,
    "PATROL_GAP_S": 600,
    "PATROL_JITTER_M": 5.0,
    "PATROL_ALERT_S": 300,
    "TRACK_RETENTION_DAYS": 180,
    "PATROL_GPX_MAX_TRACKS": 20,
    "PATROL_GPX_MAX_POINTS": 50_000,
    "PATROL_MAX_HOURS": 24,
    "PATROL_TRACK_MAX_POINTS": 5000,
    "PATROL_CLOCK_TOLERANCE_S": 300,
    "CHECKIN_MAX_AGE_DAYS": 7,
    "VISIT_CYCLES": {"micro_grid_patrol_days": 7, "household_visit_days": 182, "vulnerable_visit": "month"},
    "HOUSEHOLD_RANGES": {"micro_grid": [30, 100], "grid": [300, 500]},
    "RULE_SLIVER_M2": 1.0,
    "RULE_BUILDING_SHARE": 0.05,
}


def calendar_config(settings: dict) -> dict:
    """``WORK_CALENDAR`` with its zone defaulting to ``TIMEZONE`` (the zone pages show and exports write)."""
    return {"tz": setting(settings, "TIMEZONE"), **(setting(settings, "WORK_CALENDAR") or {})}


def setting(settings: dict, key: str):
    """``settings[key]``, or Weige's default for it."""
    return settings.get(key, DEFAULTS[key])
