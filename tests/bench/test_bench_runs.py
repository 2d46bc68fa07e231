"""The benchmarks run, at a tiny size, and their answers agree with their baselines (no timing is asserted)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_locate_benchmark_runs_and_checks_its_answers():
    argv = ["--cells", "300", "--points", "3000", "--vertices", "3000", "--detailed-points", "3000", "--repeat", "1"]
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "locate.py"), *argv], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("answers agree with sjoin") >= 2  # city and detailed (hongkong needs shared data)
    assert "| geopandas.sjoin within |" in done.stdout


def _run(script: str, *argv: str) -> str:
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), *argv], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return done.stdout


def test_api_benchmark_runs_over_a_socket_and_checks_its_answers():
    out = _run("api.py", "--cells", "300", "--requests", "40", "--concurrency", "2")
    assert "first locate after a start" in out
    assert "| GET /api/v1/locate | 2 |" in out and "| POST /api/v1/issues | 2 |" in out


def test_intake_benchmark_runs_and_checks_its_answers():
    out = _run("intake.py", "--requests", "40", "--concurrency", "2", "--rows", "2000")
    assert "micro-grids agree with sjoin on all 2,000 rows" in out
    assert "intake with 2 client(s)" in out


def test_coverage_benchmark_runs_and_checks_its_answers():
    out = _run("coverage.py", "--buildings", "20000", "--sites", "300", "--areas", "50")
    assert "counts in reach equal for all 20,000 buildings" in out


def test_maps_benchmark_runs_and_checks_its_tiles():
    out = _run("maps.py", "--cells", "300", "--buildings", "3000", "--tiles", "20")
    assert "| a community's staff |" in out and "| admin (city) |" in out
    assert "| micro_grid tile z14-18, cached |" in out and "| buildings tile z16-18, cold |" in out


def test_tracks_benchmark_runs_and_checks_its_answers():
    out = _run("tracks.py", "--workers", "12", "--fixes", "200")
    assert "answers agree with the geopandas baseline for all 12 workers" in out
    assert "| geopandas (sjoin per worker, sjoin dwithin) |" in out


def test_validate_benchmark_runs_and_checks_its_answers():
    out = _run("validate.py", "--cells", "60", "--buildings", "600", "--repeat", "1")
    assert "answers agree with the shapely baseline" in out
    assert "| rule check, warm (best of 1) |" in out and "| shapely baseline |" in out
