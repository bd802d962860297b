"""Timing this checkout against another (``benchmarks.paired``), and the history cost benchmark's
``--baseline`` (``python -m benchmarks.history --cost --baseline``), which runs each checkout's own code."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.paired import paired, round_order

ROOT = Path(__file__).resolve().parents[2]
# what a child of the cost benchmark imports: a checkout without its results, tests and docs
PACKAGES = ("benchmarks", "cpeguard", "detectors", "features", "serving", "training")


def test_paired_reads_each_round_against_its_pair():
    runs = {
        "this": [{"cpu_s": 9.0}, {"cpu_s": 12.0}, {"cpu_s": 10.0}],
        "baseline": [{"cpu_s": 10.0}, {"cpu_s": 15.0}, {"cpu_s": 8.0}],
    }
    got = paired(runs, keys=("cpu_s",))["cpu_s"]
    # a slow round slows both: the paired ratios see 0.9, 0.8 and 1.25
    assert got["paired_ratios"] == [0.9, 0.8, 1.25]
    assert got["median_paired_ratio"] == 0.9
    assert got["median_this"] == 10.0 and got["median_baseline"] == 10.0
    assert got["ratio_of_medians"] == 1.0
    with pytest.raises(ValueError, match="2 runs of this checkout against 3"):
        paired({"this": runs["this"][:2], "baseline": runs["baseline"]}, keys=("cpu_s",))


def test_the_checkout_that_starts_a_round_is_swapped_every_round():
    assert [round_order(i) for i in range(3)] == [
        ("this", "baseline"),
        ("baseline", "this"),
        ("this", "baseline"),
    ]


@pytest.mark.slow
def test_history_cost_baseline_runs_the_other_checkouts_code_and_pairs_its_runs(tmp_path: Path):
    """The baseline's children run the baseline's code (each child names the checkout whose detectors
    scored, and the benchmark refuses a child that ran another's), and build a state of their own."""
    other = tmp_path / "other"
    for package in PACKAGES:
        shutil.copytree(
            ROOT / package, other / package, ignore=shutil.ignore_patterns("results", "__pycache__")
        )
    out = tmp_path / "ab.json"
    args = ["--cost", "--current", "3000", "--history-factor", "1", "--repeats", "2", "--state"]
    args += ["--state-variant", 'condensed:history__mode="condensed"', "--skip-joined"]
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.history", *args, "--baseline", str(other), "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(out.read_text())
    modes = ["alone", "with history state (condensed)"]
    assert list(report["paired"]) == modes
    for mode in modes:
        cpu = report["paired"][mode]["cpu_s"]
        assert len(cpu["paired_ratios"]) == 2
        this = [r["cpu_s"] for r in report["runs"][mode]]
        base = [r["cpu_s"] for r in report["baseline_runs"][mode]]
        assert cpu["paired_ratios"] == [round(t / b, 4) for t, b in zip(this, base, strict=True)]
    assert set(report["state_build_s"]) == {"this", "baseline"}
    assert report["baseline_commit"] == f"{other} (not a git checkout)"
    assert report["command"].endswith(f"--skip-joined --baseline <checkout of {other} (not a git checkout)>")
