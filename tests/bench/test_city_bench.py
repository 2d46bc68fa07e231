"""``bench/city.py`` runs at a tiny scale on SQLite and, where PostgreSQL and PostGIS are installed, on PostGIS too.

Its answers are checked inside the benchmark (across backends and against the ``ST_Contains`` baseline); these tests
check that it ran, that the checks it reports were made, and that the table has one column per backend.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.storage.pg import postgres_cluster

ROOT = Path(__file__).resolve().parents[2]
TINY = ["--scale", "0.004", "--singles", "50", "--windows", "10", "--tiles", "10", "--repeat", "1"]


def _run(*argv: str) -> str:
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "city.py"), *TINY, *argv],
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return done.stdout


def _rows(out: str) -> dict[str, list[str]]:
    """The benchmark's Markdown table: figure → cells."""
    lines = [line for line in out.splitlines() if line.startswith("| ") and not line.startswith("| figure")]
    return {cells[0]: cells[1:] for cells in ([c.strip() for c in line.strip("|").split("|")] for line in lines)}


def test_city_benchmark_runs_on_sqlite():
    out = _run("--backends", "sqlite")
    assert "| figure | SQLite |" in out
    rows = _rows(out)
    assert rows["import: buildings"][0].endswith("rows/s")
    assert rows["errors in timed calls"] == ["0"]
    assert "bulk locate: SQLite agree on all 4,000 points" in out  # 0.004 × 1,000,000
    assert any(r.startswith("micro-grid tile z14–18, cached") for r in rows)


def test_city_benchmark_runs_on_both_backends_and_they_agree():
    with postgres_cluster() as server:  # skips without PostgreSQL's binaries
        if not server.has_postgis():
            pytest.skip("PostGIS extension not installed (.ci/run installs Debian's postgresql-15-postgis-3)")
        out = _run("--backends", "sqlite,postgis", "--pg", server.database("bench_city"))
    assert "| figure | SQLite | PostGIS |" in out
    assert "bulk locate: SQLite, PostGIS, ST_Contains (PostGIS) agree on all 4,000 points" in out
    assert "single locate: SQLite, PostGIS, ST_Contains (PostGIS) agree on all 50 points" in out
    for what in ("tiles buildings", "window z16 tile", "stats the city"):
        assert f"{what}: SQLite and PostGIS answer the same" in out
    rows = _rows(out)
    assert rows["bulk locate, ST_Contains join (GiST)"][0] == "—" and rows["bulk locate, ST_Contains join (GiST)"][1]
    assert rows["errors in timed calls"] == ["0", "0"]
