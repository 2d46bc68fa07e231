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
CHECKED = (*LAYERED, "boundaries", "web", "core")
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


# -- core and the aggregates' tables -------------------------------------------------------------------------------
#: The domain packages; ``core`` imports none of them, and each uses only its own tables and core's.
DOMAIN = ("accounts", "boundaries", "issues", "patrols", "serving", "web")
#: Imports of another domain package's storage modules that remain, with why (keep it short; do not add lightly).
CROSS_STORAGE_IMPORTS = {
    ("web/__init__.py", "boundaries.storage"): "the app factory opens the deployment's one store (engine, migrations)",
    ("web/limits.py", "boundaries.storage.rate_limits"): "rate-limit counters kept in core's table, on the store",
}
#: Tables a package's module names although another aggregate owns them (read only), with why.
CROSS_TABLES = {
    ("patrols/storage.py", "users"): "patrol lists show the worker's name and role (a read-only join)",
    ("patrols/storage.py", "user_areas"): "the workers of an area, whose patrols a cycle counts (a read-only join)",
    ("boundaries/storage/features.py", "issues"): "the OGC API pages issues with the buildings' bbox and paging code",
}


def _absolute_imports(source: str):
    """``(line, module, imported names)`` of every absolute import in ``source`` (at any depth, lazy ones too)."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name, ()) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            yield node.lineno, node.module, tuple(alias.name for alias in node.names)


def domain_imports_in(source: str) -> list[str]:
    """Imports of a domain package in ``source`` (at any depth, lazy ones too), as ``"line: module"``."""
    return [f"{line}: {m}" for line, m, _ in _absolute_imports(source) if m.split(".")[0] in DOMAIN]


def storage_imports_in(source: str) -> list[str]:
    """Modules of a package's storage layer that ``source`` imports (``x.storage`` and below)."""
    found = []
    for _, module, names in _absolute_imports(source):
        found += [module] + [f"{module}.storage" for name in names if name == "storage"]
    return [m for m in found if m.split(".")[0] in DOMAIN and "storage" in m.split(".")[1:2]]


def tables_named_in(source: str) -> set[str]:
    """The tables ``source`` names: attributes of the tables module (``t.issues``), tables imported from it by name,
    and, in a module that imports it, a table looked up by name (``metadata.tables["issues"]``) or listed in a
    constant named ``…TABLES`` (``FEATURE_TABLES = ("buildings", "issues")``). Other strings are not tables (the
    revision counters share names with tables)."""
    tree = ast.parse(source)
    aliases, found, imports_tables = set(), set(), False
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "core.storage.tables":
                    aliases.add(alias.asname or alias.name)
                    imports_tables = True
        elif isinstance(node, ast.ImportFrom) and node.module in ("core.storage", "core.storage.tables"):
            for alias in node.names:
                if node.module == "core.storage" and alias.name == "tables":
                    aliases.add(alias.asname or alias.name)
                    imports_tables = True
                elif node.module == "core.storage.tables":
                    imports_tables = True
                    if alias.name in tables.OWNERS:
                        found.add(alias.name)
    named = []  # string constants that name a table
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases:
            if node.attr in tables.OWNERS:
                found.add(node.attr)
        elif isinstance(node, ast.Subscript) and isinstance(node.value, ast.Attribute) and node.value.attr == "tables":
            named.append(node.slice)
        elif isinstance(node, ast.Assign) and any(
            isinstance(x, ast.Name) and x.id.endswith("TABLES") for x in node.targets
        ):
            named += getattr(node.value, "elts", [])
    if imports_tables:
        found |= {c.value for c in named if isinstance(c, ast.Constant) and c.value in tables.OWNERS}
    return found


def package_modules(package: str):
    """``(relative path, source)`` of every module of ``package``."""
    for path in sorted((ROOT / package).rglob("*.py")):
        yield path.relative_to(ROOT).as_posix(), path.read_text("utf-8")


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from core.storage import tables as t\nt.issues.c.id\nt.revisions\nt.metadata\n", {"issues", "revisions"}),
        ("from core.storage.tables import users, LEVEL_CODE_COLUMNS\n", {"users"}),
        ("from core.storage import tables\nq = tables.metadata.tables['issues']\n", {"issues"}),
        ("x = 'issues'  # no tables module imported: only a word\n", set()),
        ("from core.storage import tables as t\nt.revisions.c.name == 'areas'  # a counter's name\n", {"revisions"}),
        ("from core.storage import tables as t\nFEATURE_TABLES = ('buildings', 'issues')\n", {"buildings", "issues"}),
        ("import core.storage.tables as tb\ntb.areas\n", {"areas"}),
    ],
)
def test_the_table_check_finds_tables_named(source, expected):
    assert tables_named_in(source) == expected


def test_the_import_checks_find_domain_and_storage_imports():
    source = (
        "import boundaries.storage\nfrom issues import storage\nfrom core.errors import X\ndef f():\n    import web\n"
    )
    assert domain_imports_in(source) == ["1: boundaries.storage", "2: issues", "5: web"]
    assert storage_imports_in(source) == ["boundaries.storage", "issues.storage"]


def test_every_table_has_one_owner():
    assert set(tables.OWNERS) == set(tables.metadata.tables)
    assert set(tables.OWNERS.values()) <= {*DOMAIN, "core"}


def test_core_imports_no_domain_package():
    found = {rel: hits for rel, source in package_modules("core") if (hits := domain_imports_in(source))}
    assert found == {}, "core may import only core, geo and libraries (the domain packages build on it)"


def test_packages_name_only_their_own_tables_and_cores():
    """A package's modules use their own aggregate's tables and core's, none of another (but :data:`CROSS_TABLES`)."""
    found = set()
    for package in DOMAIN:
        for rel, source in package_modules(package):
            found |= {(rel, name) for name in tables_named_in(source) if tables.OWNERS[name] not in (package, "core")}
    assert found - set(CROSS_TABLES) == set(), "another aggregate's tables: ask its storage module instead"
    assert set(CROSS_TABLES) - found == set(), "these no longer name the table: take them off CROSS_TABLES"


def test_packages_import_no_other_packages_storage_modules():
    found = set()
    for package in DOMAIN:
        for rel, source in package_modules(package):
            found |= {(rel, m) for m in storage_imports_in(source) if m.split(".")[0] not in (package, "core")}
    assert found - set(CROSS_STORAGE_IMPORTS) == set(), "another package's storage: call its domain functions"
    assert set(CROSS_STORAGE_IMPORTS) - found == set(), "no longer imported: take them off CROSS_STORAGE_IMPORTS"


def test_boundaries_storage_names_no_issue_table():
    """The registry's store clears and writes only its own rows: issues' tables are issues.storage's (the demo
    rebuild asks each aggregate to clear its own)."""
    store = (ROOT / "boundaries/storage/store.py").read_text("utf-8")
    named = {name for name in tables_named_in(store) if tables.OWNERS[name] == "issues"}
    assert named == set()
