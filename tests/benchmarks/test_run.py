"""The speed benchmark's command line (``benchmarks.run``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_run_refuses_to_overwrite_a_results_file(tmp_path: Path):
    """A results file is evidence: naming an existing one is refused before anything runs."""
    existing = tmp_path / "score_speed_vs_baseline_old.json"
    existing.write_text('{"kept": true}')
    args = ["--sizes", "1000", "--repeats", "1", "--baseline", str(tmp_path), "--out", str(existing)]
    refused = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", *args],
        capture_output=True,
        text=True,
    )
    assert refused.returncode == 2
    assert "never overwritten" in refused.stderr
    assert existing.read_text() == '{"kept": true}'
