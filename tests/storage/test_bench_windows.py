"""``bench/windows.py`` runs at a tiny size on the session's PostGIS server and its three paths agree."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_windows_benchmark_runs_and_its_paths_agree(pg_server):
    if not pg_server.has_postgis():
        pytest.skip("PostGIS extension not installed (.ci/run installs Debian's postgresql-15-postgis-3)")
    url = pg_server.database("bench_windows")
    argv = ["--buildings", "3000", "--windows", "10", "--postgis", url]
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "windows.py"), *argv],
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "answers agree on all three paths for 30 windows" in done.stdout
    assert "| z16 tile (~600 m), rows |" in done.stdout
