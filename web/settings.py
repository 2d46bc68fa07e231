"""The deployment's settings: one loader for the web app and the command line alike (defaults: :mod:`core.settings`).

A settings file is JSON (``--config FILE``). Every key must be one this table knows, or one of Flask's own
(``SECRET_KEY``, ``SERVER_NAME`` …) or of the extensions Weige uses (``RATELIMIT_*``, ``WTF_*``); anything else
is refused with the list of known keys, so a misspelt ``ISSUE_CATEGORY`` is an error rather than a setting that
silently does nothing.
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta, timezone
from pathlib import Path

from flask import Flask

from core.settings import DEFAULTS, SettingsError, calendar_config, setting

# DEFAULTS, SettingsError, calendar_config and setting are core's (core.settings), re-exported for the web layer.
__all__ = ["DEFAULTS", "SettingsError", "calendar_config", "check_settings", "issue_desk", "load_settings", "setting"]


#: Keys only code can set (objects, not JSON): the registry to serve and the issue clock, for tests.
_CODE_ONLY = {"REGISTRY", "ISSUE_CLOCK"}
#: Prefixes of the extensions' own settings (Flask-Limiter, Flask-WTF, Flask-Login, flask-smorest).
_EXTENSION_PREFIXES = ("RATELIMIT_", "WTF_", "REMEMBER_COOKIE_", "API_", "OPENAPI_", "USE_SESSION_FOR_NEXT")
#: Types accepted in a file for each setting whose default is not ``None``.
_NUMBER = (int, float)


def _known(key: str) -> bool:
    return (
        key in DEFAULTS
        or key in _CODE_ONLY
        or key in Flask.default_config
        or key in ("TESTING", "SECRET_KEY", "JSON_AS_ASCII")
        or key.startswith(_EXTENSION_PREFIXES)
    )


def _check_type(key: str, value) -> None:
    default = DEFAULTS.get(key)
    if default is None or value is None:
        if key == "WORK_CALENDAR" and value is not None and not isinstance(value, dict):
            raise SettingsError(f"设置 {key} 应为对象 setting {key} must be a JSON object")
        if key == "ISSUE_CATEGORIES" and value is not None and not isinstance(value, str):
            raise SettingsError(f"设置 {key} 应为类别文件路径 setting {key} must be the path of a JSON file")
        return
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, _NUMBER):
        ok = isinstance(value, _NUMBER) and not isinstance(value, bool) and math.isfinite(value) and value >= 0
        ok = ok and (not isinstance(default, int) or float(value).is_integer())
    elif isinstance(default, str):
        ok = isinstance(value, str) and (not key.endswith("_RATE_LIMIT") or _is_rate_limit(value))
    elif isinstance(default, dict):
        ok = isinstance(value, dict)
        if ok and key == "COVERAGE_REACH":  # service-point kind → metres, as the coverage API accepts them
            ok = all(
                isinstance(v, _NUMBER) and not isinstance(v, bool) and math.isfinite(v) and 1 <= v <= 50_000
                for v in value.values()
            )
        if ok and key == "HOUSEHOLD_RANGES":  # level → [lowest, highest] households (boundaries/rules.py)
            from boundaries.levels import LEVELS

            ok = all(
                level in LEVELS
                and isinstance(r, list | tuple)
                and len(r) == 2
                and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in r)
                and r[0] <= r[1]
                for level, r in value.items()
            )
        if ok and key == "VISIT_CYCLES":  # days per cycle (vulnerable_visit: or a calendar period), known keys only
            from patrols.cycles import valid_cycle

            ok = set(value) <= {*default, "vulnerable_visit_days"} and all(
                valid_cycle(v) and (k == "vulnerable_visit" or not isinstance(v, str)) for k, v in value.items()
            )
    elif isinstance(default, tuple | list):
        ok = isinstance(value, tuple | list)
    else:  # timedelta: seconds in a file
        ok = isinstance(value, timedelta | int | float) and not isinstance(value, bool)
    if not ok:
        raise SettingsError(
            f"设置 {key} 的类型错误 setting {key} must be like {default!r}, not {value!r} ({type(value).__name__})"
        )


def _is_rate_limit(text: str) -> bool:
    """Whether ``text`` is a rate limit Flask-Limiter understands, e.g. ``"120 per minute;1000 per day"``."""
    from limits import parse_many

    try:
        return bool(parse_many(text))
    except ValueError:
        return False


def check_settings(values: dict) -> dict:
    """Check every key and value of ``values``; returns them unchanged.

    Parameters
    ----------
    values : dict
        Settings as read from a file or given to ``create_app``.

    Returns
    -------
    dict
        ``values``.

    Raises
    ------
    SettingsError
        On an unknown key (the message lists the known ones) or a value of the wrong type.
    """
    unknown = sorted(k for k in values if not _known(k))
    if unknown:
        raise SettingsError(
            f"未知设置 unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(DEFAULTS))} "
            "(and Flask's own keys)"
        )
    for key, value in values.items():
        _check_type(key, value)
    if values.get("DEFAULT_LOCALE", "zh_CN") not in ("zh_CN", "en"):
        raise SettingsError(
            f"设置 DEFAULT_LOCALE 应为 zh_CN 或 en setting DEFAULT_LOCALE must be zh_CN or en, not "
            f"{values['DEFAULT_LOCALE']!r}"
        )
    if any(k in values for k in ("BASEMAPS", "BASEMAP_DEFAULT", "BASEMAP_URLS", "TIANDITU_KEY")):
        from web.basemaps import check_basemaps

        problems = check_basemaps(values)
        if problems:
            raise SettingsError("; ".join(problems))
    if any(values.get(k) is not None for k in ("WORK_CALENDAR", "ISSUE_CATEGORIES", "TIMEZONE")):
        _check_issue_rules(values)
    return values


def _check_issue_rules(values: dict) -> None:
    """Build the work calendar and load the categories as the desk will, so a bad one fails at start, not intake.

    Every stage limit must also end within the ten years :meth:`WorkCalendar.add` looks ahead on this calendar.
    """
    from core.errors import InvalidInputError
    from issues.categories import DEFAULT_STAGE_LIMITS, load_catalog
    from issues.worktime import WorkCalendar

    try:
        calendar = WorkCalendar.from_config(calendar_config(values))
    except (InvalidInputError, TypeError) as exc:
        raise SettingsError(
            f"设置 WORK_CALENDAR 或 TIMEZONE 无效 setting WORK_CALENDAR or TIMEZONE is invalid: {exc}"
        ) from exc
    try:
        catalog = load_catalog(values.get("ISSUE_CATEGORIES"))
    except InvalidInputError as exc:
        raise SettingsError(f"设置 ISSUE_CATEGORIES 无效 setting ISSUE_CATEGORIES is invalid: {exc}") from exc
    start = datetime(2026, 1, 5, tzinfo=timezone.utc)
    for category in catalog:
        stage, hours = max(((s, category.limit(s) or 0.0) for s in DEFAULT_STAGE_LIMITS), key=lambda x: x[1])
        try:
            calendar.add(start, hours)
        except ValueError as exc:
            raise SettingsError(
                f"时限超出工作日历 category {category.code!r}: the {stage} limit of {hours:g} working hours does not "
                "end within ten years of the WORK_CALENDAR's working time"
            ) from exc


def load_settings(path: str | Path | None = None) -> dict:
    """The settings of a JSON file, checked; ``{}`` when ``path`` is ``None``.

    Parameters
    ----------
    path : str or Path, optional
        A JSON file holding one object of settings.

    Returns
    -------
    dict
        The file's settings (defaults are applied by ``create_app`` and :func:`setting`).

    Raises
    ------
    SettingsError
        When the file cannot be read, is not a JSON object, or fails :func:`check_settings`.

    Examples
    --------
    >>> load_settings(None)
    {}
    """
    if path is None:
        return {}
    try:
        values = json.loads(Path(path).read_text("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SettingsError(f"配置文件错误 cannot read config {path}: {exc}") from exc
    if not isinstance(values, dict):
        raise SettingsError(f"配置文件应为 JSON 对象 config {path} must hold one JSON object")
    if "PERMANENT_SESSION_LIFETIME" in values and isinstance(values["PERMANENT_SESSION_LIFETIME"], int | float):
        values["PERMANENT_SESSION_LIFETIME"] = timedelta(seconds=values["PERMANENT_SESSION_LIFETIME"])
    try:
        return check_settings(values)
    except SettingsError as exc:
        raise SettingsError(f"{path}: {exc}") from exc


def issue_desk(registry, settings: dict, clock=None):
    """The issue desk the settings describe: categories, work calendar, boundary margin, photo limit.

    Parameters
    ----------
    registry : boundaries.registry.Registry
        The registry the desk files issues in.
    settings : dict
        Checked settings (from :func:`load_settings` or an app's config).
    clock : callable, optional
        Returns aware UTC "now" (default ``ISSUE_CLOCK`` of the settings, else the system clock).

    Returns
    -------
    issues.desk.IssueDesk
    """
    from issues.categories import load_catalog
    from issues.desk import IssueDesk, utcnow
    from issues.worktime import WorkCalendar

    return IssueDesk(
        registry,
        catalog=load_catalog(setting(settings, "ISSUE_CATEGORIES")),
        calendar=WorkCalendar.from_config(calendar_config(settings)),
        near_boundary_m=float(setting(settings, "NEAR_BOUNDARY_M")),
        clock=clock or settings.get("ISSUE_CLOCK") or utcnow,
        photo_max_bytes=int(setting(settings, "PHOTO_MAX_BYTES")),
        photo_max_pixels=int(setting(settings, "PHOTO_MAX_PIXELS")),
    )
