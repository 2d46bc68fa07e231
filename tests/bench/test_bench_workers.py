"""The workers mode of bench/intake.py runs at a tiny size on a throwaway PostgreSQL (no timing is asserted)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_intake_benchmark_over_two_workers_on_postgresql_runs_and_checks_its_answers():
    argv = ["--private-postgres", "--workers", "2", "--requests", "30", "--concurrency", "2"]
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "intake.py"), *argv], capture_output=True, text=True, timeout=300
    )
    if done.returncode != 0 and "PostgreSQL server binaries not found" in done.stderr:
        pytest.skip("PostgreSQL server binaries not found (.ci/run installs Debian's postgresql package)")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "every report stored exactly once" in done.stdout
    assert "| POST /api/v1/issues, 2 worker(s) | 2 |" in done.stdout
    assert "intake with 2 workers = " in done.stdout
