"""The command line: global options anywhere, serve by default, one validated settings loader shared with the app."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import shapely
import sqlalchemy as sa

import server
from boundaries.registry import Registry
from boundaries.storage import open_store
from core.storage import tables as t
from tests.conftest import copy_demo
from web.settings import SettingsError, check_settings, load_settings

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("position", ["before", "after"])
def test_global_options_stand_before_or_after_the_command(tmp_path, capsys, position):
    url = f"sqlite:///{tmp_path / 'w.db'}"
    argv = ["--db", url, "generations"] if position == "before" else ["generations", "--db", url]
    assert server.main(argv) == 0
    assert (tmp_path / "w.db").exists()  # the store was opened at the named URL, not the default


def test_nested_commands_take_global_options_after_them(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'w.db'}"
    assert server.main(["users", "list", f"--db={url}"]) == 0
    assert (tmp_path / "w.db").exists()


@pytest.mark.parametrize(
    "argv",
    [
        ["--port", "5101"],
        ["--host", "0.0.0.0", "--port", "5101"],
        ["--db", "DB", "--port", "5101"],
        ["serve", "--port", "5101"],
    ],
)
def test_serve_options_work_without_the_word_serve(monkeypatch, tmp_path, argv):
    seen = {}
    monkeypatch.setattr(server, "_serve", lambda args: seen.update(port=args.port, host=args.host, db=args.db))
    url = f"sqlite:///{tmp_path / 'w.db'}"
    assert server.main([url if a == "DB" else a for a in argv]) == 0
    assert seen["port"] == 5101
    assert seen["host"] == ("0.0.0.0" if "0.0.0.0" in argv else "127.0.0.1")
    if "--db" in argv:
        assert seen["db"] == url


def test_an_unknown_setting_is_an_error_naming_it(tmp_path, capsys):
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"ISSUE_CATEGORY": "typo.json"}), encoding="utf-8")
    assert server.main(["generations", "--db", f"sqlite:///{tmp_path / 'w.db'}", "--config", str(path)]) == 2
    assert "ISSUE_CATEGORY" in capsys.readouterr().err
    with pytest.raises(SettingsError, match="ISSUE_CATEGORY"):
        load_settings(path)


@pytest.mark.parametrize(
    "values",
    [
        {"NEAR_BOUNDARY_M": "ten"},
        {"SESSION_COOKIE_SECURE": "no"},
        {"COVERAGE_REACH": 500},
        {"WORK_CALENDAR": {"tz": "Mars/Olympus"}},
        {"WORK_CALENDAR": {"period": []}},
        {"LOCATE_MAX_POINTS": -1},
    ],
)
def test_settings_of_the_wrong_type_are_refused(values):
    with pytest.raises(SettingsError):
        check_settings(values)


def test_a_config_that_is_not_an_object_is_refused(tmp_path):
    path = tmp_path / "settings.json"
    path.write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(SettingsError, match="JSON"):
        load_settings(path)


def test_the_app_refuses_unknown_settings_too():
    from web import create_app

    with pytest.raises(SettingsError, match="WEIGE_TILE"):
        create_app({"WEIGE_TILE": "x", "DATABASE_URL": "sqlite://"})


def test_import_issues_uses_the_categories_and_calendar_of_the_config(demo_db, tmp_path, capsys):
    url = copy_demo(demo_db, tmp_path)
    registry = Registry(open_store(url))
    micro = registry.areas(level="micro_grid").head(1)
    point = shapely.point_on_surface(micro.geometry.values[0])
    categories = tmp_path / "categories.json"
    categories.write_text(
        json.dumps({"elevator_stuck": {"name_zh": "电梯困人", "name_en": "Elevator stuck", "limits": {}}}),
        encoding="utf-8",
    )
    # half a working hour a day: a stage of an hour or more lasts more than a day
    settings = tmp_path / "settings.json"
    settings.write_text(
        json.dumps(
            {
                "ISSUE_CATEGORIES": str(categories),
                "WORK_CALENDAR": {"tz": "Asia/Shanghai", "periods": [["09:00", "09:30"]]},
            }
        ),
        encoding="utf-8",
    )
    path = tmp_path / "issues.csv"
    path.write_text(
        "external_id,category,description,lon,lat,reported_at,state\n"
        f"e1,elevator_stuck,三号楼电梯困人,{point.x},{point.y},2025-06-03T09:00:00+08:00,reported\n",
        encoding="utf-8",
    )
    # without the settings the category is unknown
    with pytest.raises(SystemExit):
        server.main(["--db", url, "import-issues", str(path)])
    assert server.main(["import-issues", str(path), "--db", url, "--config", str(settings)]) == 0
    with registry.store.engine.connect() as conn:
        row = conn.execute(sa.select(t.issues.c.category, t.issues.c.due_at)).one()
    assert row.category == "elevator_stuck"
    default_due = _due_with_default_calendar(demo_db, tmp_path, point)
    assert row.due_at > default_due  # the short working day of the config stretches the time limit


def _due_with_default_calendar(demo_db, tmp_path, point):
    folder = tmp_path / "default"
    folder.mkdir()
    url = copy_demo(demo_db, folder)
    path = folder / "issues.csv"
    path.write_text(
        "external_id,category,description,lon,lat,reported_at,state\n"
        f"e1,dispute,对照,{point.x},{point.y},2025-06-03T09:00:00+08:00,reported\n",
        encoding="utf-8",
    )
    assert server.main(["--db", url, "import-issues", str(path)]) == 0
    with open_store(url).engine.connect() as conn:
        return conn.execute(sa.select(t.issues.c.due_at)).scalar_one()


def test_readme_test_command_is_what_ci_runs():
    readme = (ROOT / "README.md").read_text("utf-8")
    ci = (ROOT / ".ci" / "run").read_text("utf-8")
    block = readme.split("## Two commands", 1)[1].split("```bash", 3)
    install_and_run, install_and_test = block[1].split("```")[0].strip(), block[2].split("```")[0].strip()
    assert "constraints.txt" in install_and_run and "constraints.txt" in install_and_test
    assert install_and_test.splitlines()[-1] in ci
    assert "-m venv" in ci  # a fresh environment every run


def test_constraints_pin_every_package_exactly():
    lines = [
        line.strip()
        for line in (ROOT / "constraints.txt").read_text("utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines and all("==" in line for line in lines), [x for x in lines if "==" not in x]
    names = {line.split("==")[0].lower().replace("_", "-") for line in lines}
    assert {"pytest", "schemathesis", "flask", "shapely", "playwright"} <= names


def test_import_issues_reads_times_without_offset_in_the_named_zone(demo_db, tmp_path, capsys):
    url = copy_demo(demo_db, tmp_path)
    registry = Registry(open_store(url))
    point = shapely.point_on_surface(registry.areas(level="micro_grid").geometry.values[0])
    path = tmp_path / "issues.csv"
    path.write_text(
        "external_id,category,description,lon,lat,reported_at,state,closed_at\n"
        f"t1,dispute,纠纷,{point.x},{point.y},2025-03-01 09:00,closed,2025-03-01 10:00\n",
        encoding="utf-8",
    )
    assert server.main(["import-issues", str(path), "--db", url, "--timezone", "America/Los_Angeles"]) == 0
    assert "America/Los_Angeles" in capsys.readouterr().out
    with registry.store.engine.connect() as conn:
        created = conn.execute(sa.select(t.issues.c.created_at)).scalar_one()
    assert created.replace(tzinfo=None).isoformat() == "2025-03-01T17:00:00"  # 09:00 PST is 17:00 UTC


@pytest.mark.parametrize("port", ["99999", "0", "http"])
def test_a_port_out_of_range_is_refused_before_anything_runs(monkeypatch, tmp_path, capsys, port):
    monkeypatch.setattr(server, "_serve", lambda args: pytest.fail("served"))
    with pytest.raises(SystemExit) as stop:
        server.main(["--port", port, "--db", f"sqlite:///{tmp_path / 'w.db'}"])
    assert stop.value.code == 2 and "1 to 65535" in capsys.readouterr().err


def test_a_port_in_use_is_a_clear_error_not_a_traceback(tmp_path):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(SystemExit, match=f"cannot listen on 127.0.0.1:{port}"):
            server.main(["--port", str(port), "--db", f"sqlite:///{tmp_path / 'w.db'}"])
    assert not (tmp_path / "w.db").exists()  # refused before any work


@pytest.mark.parametrize("url", ["nonsense://x", "postgresql+psycopg://nobody@127.0.0.1:1/weige"])
def test_a_database_that_cannot_be_opened_is_a_clear_error(capsys, url):
    assert server.main(["generations", "--db", url]) == 2
    err = capsys.readouterr().err
    assert "cannot open the database" in err and "Traceback" not in err


def test_coverage_creates_the_folder_of_its_report(demo_db, tmp_path, capsys):
    url = copy_demo(demo_db, tmp_path)
    out = tmp_path / "new" / "folder" / "coverage.csv"
    assert server.main(["coverage", str(out), "--kind", "grid_station", "--db", url]) == 0
    assert out.exists()


# -- outside findings 7 and 8: the calendar and the categories are checked when the settings are read ---------------
@pytest.mark.parametrize(
    ("calendar", "named"),
    [
        ({"tz": "Asia/Shanghai", "periods": [["18:00", "09:00"]]}, "18:00"),
        ({"tz": "Asia/Shanghai", "periods": []}, "periods"),
        ({"periods": [["09:00", "12:00"], ["11:00", "13:00"]]}, "overlap"),
        ({"periods": [["9", "12:00"]]}, "HH:MM"),
        ({"periods": "09:00-18:00"}, "periods"),
        ({"holidays": ["2026-02-30"]}, "2026-02-30"),
    ],
)
def test_a_bad_work_calendar_is_a_settings_error(calendar, named):
    from core.errors import InvalidInputError
    from issues.worktime import WorkCalendar

    with pytest.raises(SettingsError, match="WORK_CALENDAR") as caught:
        check_settings({"WORK_CALENDAR": calendar})
    assert named in str(caught.value)
    with pytest.raises(InvalidInputError):
        WorkCalendar.from_config(calendar)


def test_a_bad_work_calendar_stops_import_issues_with_a_message(tmp_path, capsys):
    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps({"WORK_CALENDAR": {"periods": [["18:00", "09:00"]]}}), encoding="utf-8")
    path = tmp_path / "issues.csv"
    path.write_text("category,lon,lat,reported_at\ndispute,104.08,30.65,2026-01-05 09:00\n", encoding="utf-8")
    code = server.main(
        ["import-issues", str(path), "--db", f"sqlite:///{tmp_path / 'w.db'}", "--config", str(settings)]
    )
    err = capsys.readouterr().err
    assert code == 2 and "WORK_CALENDAR" in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("spec", "named"),
    [
        ({"noise": {"limits": {"reported": "abc"}}}, "abc"),
        ({"noise": "x"}, "noise"),
        ({"noise": {"limits": {"in_progres": 3}}}, "in_progres"),
        ({"noise": {"limits": {"in_progress": -5}}}, "-5"),
        ({"noise": {"limits": {"in_progress": True}}}, "True"),
        ({"noise": {"limits": ["in_progress", 3]}}, "limits"),
        ({"noise": {"name_zh": 7}}, "name_zh"),
        (["noise"], "object"),
    ],
)
def test_a_bad_categories_file_is_a_settings_error_naming_the_category(tmp_path, spec, named):
    from core.errors import InvalidInputError
    from issues.categories import load_catalog

    path = tmp_path / "categories.json"
    path.write_text(json.dumps(spec), encoding="utf-8")
    with pytest.raises(InvalidInputError) as caught:
        load_catalog(path)
    assert named in str(caught.value)
    if isinstance(spec, dict):
        assert "noise" in str(caught.value)
    with pytest.raises(SettingsError, match="ISSUE_CATEGORIES"):
        check_settings({"ISSUE_CATEGORIES": str(path)})


def test_a_good_categories_file_and_calendar_pass(tmp_path):
    path = tmp_path / "categories.json"
    path.write_text(json.dumps({"noise": {"name_zh": "噪音", "limits": {"in_progress": 6, "reported": 0.5}}}), "utf-8")
    calendar = {"tz": "Asia/Shanghai", "periods": [["08:30", "12:00"], ["14:00", "17:30"]]}
    values = {"ISSUE_CATEGORIES": str(path), "WORK_CALENDAR": calendar}
    assert check_settings(values) == values
    from issues.categories import load_catalog

    assert load_catalog(path).get("noise").limit("in_progress") == 6.0


def test_limits_that_never_end_on_the_calendar_are_refused(tmp_path):
    path = tmp_path / "categories.json"
    path.write_text(json.dumps({"slow": {"limits": {"in_progress": 100000}}}), "utf-8")
    with pytest.raises(SettingsError, match="slow"):
        check_settings({"ISSUE_CATEGORIES": str(path), "WORK_CALENDAR": {"periods": [["09:00", "09:01"]]}})


@pytest.mark.parametrize(
    "values",
    [
        {"COVERAGE_REACH": {"clinic": -1}},
        {"COVERAGE_REACH": {"clinic": "500"}},
        {"API_RATE_LIMIT": "lots"},
        {"LOCATE_MAX_POINTS": 1e400},
        {"LOCATE_MAX_POINTS": 2.5},
        {"WORK_CALENDAR": {"holidays": ["2026-10-01"], "workdays": ["2026-10-01"]}},
    ],
)
def test_settings_second_outside_test_values_are_refused(values):
    with pytest.raises(SettingsError):
        check_settings(values)


def test_category_codes_must_be_usable_in_urls(tmp_path):
    path = tmp_path / "categories.json"
    path.write_text(json.dumps({"a b/../x": {"name_zh": "坏", "limits": {}}}), encoding="utf-8")
    with pytest.raises(SettingsError, match="a b/../x"):
        check_settings({"ISSUE_CATEGORIES": str(path)})
    assert check_settings({"API_RATE_LIMIT": "120 per minute;1000 per day", "COVERAGE_REACH": {"clinic": 800}})


def test_a_database_in_a_missing_folder_is_refused_not_created(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'no' / 'such' / 'w.db'}"
    assert server.main(["generations", "--db", url]) == 2
    assert "no such folder" in capsys.readouterr().err and not (tmp_path / "no").exists()


def test_coverage_refuses_an_unknown_report_format_before_working(demo_db, tmp_path):
    url = copy_demo(demo_db, tmp_path)
    with pytest.raises(SystemExit, match="xlsx, .csv or .geojson"):
        server.main(["coverage", str(tmp_path / "out.txt"), "--kind", "clinic", "--db", url])
