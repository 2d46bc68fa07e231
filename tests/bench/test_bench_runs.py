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
