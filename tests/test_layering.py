"""SQL lives in the storage layer: each aggregate's repository module, never its domain modules.

The domain packages ``accounts``, ``issues`` and ``patrols`` keep every statement in their storage module
(``<package>/storage.py`` or ``<package>/storage/``); everything else calls it. ``boundaries`` and ``web`` hold
SQL only in ``boundaries/storage`` too: :data:`STILL_HOLDING_SQL` (now empty) lists exceptions, and may only
shrink (a module listed there that no longer holds SQL fails the test too, so the list stays true).

SQL is found by reading each module's syntax tree (:mod:`ast`): SQLAlchemy's statements (``select``,
``insert``, ``update``, ``delete``, ``text``) and expression builders (``and_``, ``or_``, ``func``, ``exists`` …),
used as ``sa.select`` or imported by name; any ``.execute(…)`` call; and an import of a table object (or of the
tables module itself) from ``core.storage.tables``. Catching ``sqlalchemy.exc`` errors or naming
``sqlalchemy.Connection`` in a type is not SQL.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import sqlalchemy as sa

from core.storage import tables

ROOT = Path(__file__).resolve().parents[1]
#: Packages where every statement must sit in a storage module.
LAYERED = ("accounts", "issues", "patrols")
#: Packages that are checked against the allow-list below.
CHECKED = (*LAYERED, "boundaries", "web")
#: Modules outside a storage module that still hold SQL, to be moved into a repository (do not add to this).
STILL_HOLDING_SQL: set[str] = set()
#: SQLAlchemy's statements and SQL expression builders.
SQL_NAMES = {
    *("select", "insert", "update", "delete", "text", "table", "column", "literal", "literal_column", "bindparam"),
    *("and_", "or_", "not_", "func", "case", "exists", "true", "false", "null", "union", "union_all", "join"),
    *("Table", "Column", "MetaData"),
}


def is_storage(relative: str) -> bool:
    """Whether a module (path relative to the repository) belongs to a storage layer."""
    parts = relative.split("/")
    return parts[-1] == "storage.py" or "storage" in parts[:-1]


def sql_in(source: str) -> list[str]:
    """What in ``source`` is SQL, as ``"line: what"`` (empty: none)."""
    tree = ast.parse(source)
    modules, names = set(), set()  # local names of the sqlalchemy module; statement functions imported by name
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "sqlalchemy":
                    modules.add(alias.asname or alias.name)
                if alias.name == "core.storage.tables":
                    found.append(f"{node.lineno}: import of {alias.name}")
        elif isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                if node.module in ("sqlalchemy", "sqlalchemy.sql") and alias.name in SQL_NAMES:
                    names.add(alias.asname or alias.name)
                if node.module == "core.storage" and alias.name == "tables":
                    found.append(f"{node.lineno}: import of core.storage.tables")
                if node.module == "core.storage.tables" and (
                    alias.name == "*" or isinstance(getattr(tables, alias.name, None), sa.Table)
                ):
                    found.append(f"{node.lineno}: import of table {alias.name}")
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "execute":
            found.append(f"{node.lineno}: .execute(…)")
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in modules:
            if node.attr in SQL_NAMES:
                found.append(f"{node.lineno}: {node.value.id}.{node.attr}")
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id in names:
            found.append(f"{node.lineno}: {node.id}")
    return sorted(found, key=lambda s: int(s.split(":")[0]))


def modules_holding_sql() -> dict[str, list[str]]:
    """Every module of :data:`CHECKED` outside a storage layer that holds SQL, with what it holds."""
    out = {}
    for package in CHECKED:
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            if is_storage(relative):
                continue
            found = sql_in(path.read_text(encoding="utf-8"))
            if found:
                out[relative] = found
    return out


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import sqlalchemy as sa\nq = sa.select(1)\n", ["2: sa.select"]),
        ("import sqlalchemy as sa\nn = sa.func.count()\n", ["2: sa.func"]),
        ("from sqlalchemy import delete as d\nd(x)\n", ["2: d"]),
        ("import sqlalchemy\nsqlalchemy.text('x')\n", ["2: sqlalchemy.text"]),
        ("import sqlalchemy as sa\ntry:\n    f()\nexcept sa.exc.IntegrityError:\n    pass\n", []),
        ("def f(conn):\n    return conn.execute(q)\n", ["2: .execute(…)"]),
        ("from core.storage import tables as t\n", ["1: import of core.storage.tables"]),
        (
            "from core.storage.tables import issues\n",
            ["1: import of table issues"],
        ),
        ("from core.storage.tables import LEVEL_CODE_COLUMNS\n", []),  # a constant, not a table
        ("import pandas as pd\npd.DataFrame().select_dtypes('number')\nset().update()\n", []),
    ],
)
def test_the_check_finds_sql_and_only_sql(source, expected):
    assert sql_in(source) == expected


@pytest.mark.parametrize(
    ("relative", "expected"),
    [
        ("patrols/storage.py", True),
        ("issues/storage/workflow.py", True),
        ("core/storage/tables.py", True),
        ("issues/desk.py", False),
        ("accounts/users.py", False),
    ],
)
def test_storage_modules_are_told_apart(relative, expected):
    assert is_storage(relative) is expected


def test_accounts_issues_and_patrols_hold_sql_only_in_their_storage_modules():
    holding = modules_holding_sql()
    outside = {m: found for m, found in holding.items() if m.split("/")[0] in LAYERED}
    assert outside == {}, "SQL outside the storage modules (move it into the package's storage module)"


def geometry_codec_in(source: str) -> list[str]:
    """Where ``source`` encodes or decodes stored geometry itself (``from_wkb``, ``wkb_row``), as ``"line: what"``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and node.attr in ("from_wkb", "wkb_row"):
            found.append(f"{node.lineno}: {node.attr}")
        elif isinstance(node, ast.Name) and node.id == "wkb_row":
            found.append(f"{node.lineno}: wkb_row")
        elif isinstance(node, ast.ImportFrom) and any(a.name in ("from_wkb", "wkb_row") for a in node.names):
            found.append(f"{node.lineno}: import of {', '.join(a.name for a in node.names)}")
    return found


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import shapely\ng = shapely.from_wkb(row['geometry'])\n", ["2: from_wkb"]),
        ("from boundaries.registry import wkb_row\n", ["1: import of wkb_row"]),
        ("import shapely\nb = shapely.to_wkb(g)  # a digest, not storage\n", []),
    ],
)
def test_the_geometry_check_finds_decoding(source, expected):
    assert geometry_codec_in(source) == expected


def test_only_the_storage_layer_encodes_or_decodes_stored_geometry():
    """Repositories give and take shapely geometries; WKB is the storage layer's own business."""
    found = {}
    for package in (*CHECKED, "serving"):
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            if not is_storage(relative) and (hits := geometry_codec_in(path.read_text("utf-8"))):
                found[relative] = hits
    assert found == {}, "decode/encode stored geometry in the storage layer (boundaries/storage/geometry.py)"


def test_boundaries_and_web_hold_sql_only_in_the_modules_still_listed():
    holding = modules_holding_sql()
    others = {m for m in holding if m.split("/")[0] not in LAYERED}
    assert others - STILL_HOLDING_SQL == set(), "new SQL outside boundaries/storage: put it in a storage module"
    assert STILL_HOLDING_SQL - others == set(), "these modules hold no SQL any more: take them off the list"
