"""Timing this checkout against another one on a shared machine: the two alternated run by run, and
each run read against its pair.

Used by ``python -m benchmarks.run --baseline`` (the 1M window alone) and ``python -m
benchmarks.history --cost --baseline`` (a window with history). Whole-run CPU seconds drift by
more than most changes between runs minutes apart, so one comparison is one round: the two
checkouts timed back to back on the same inputs, the one that starts first swapped every round
(load that rises or falls through a round then favours neither), and the ratio read per round.
"""

from __future__ import annotations

import statistics
import subprocess
from pathlib import Path

# the checkouts' labels in a report: the one the command runs from, and ``--baseline``
LABELS = ("this", "baseline")


def round_order(i: int) -> tuple[str, str]:
    """The order the two checkouts run in round ``i``: this one first in even rounds."""
    return LABELS if i % 2 == 0 else (LABELS[1], LABELS[0])


def paired(
    runs: dict[str, list[dict[str, float]]], keys: tuple[str, ...] = ("wall_s", "cpu_s")
) -> dict[str, dict[str, object]]:
    """Per measured key: every round's value of both checkouts, the round's ratio this / baseline, the
    median of those ratios, each checkout's median and the ratio of the medians."""
    out: dict[str, dict[str, object]] = {}
    for key in keys:
        this = [float(r[key]) for r in runs[LABELS[0]]]
        base = [float(r[key]) for r in runs[LABELS[1]]]
        if len(this) != len(base):
            raise ValueError(f"{key}: {len(this)} runs of this checkout against {len(base)} of the baseline")
        ratios = [t / b for t, b in zip(this, base, strict=True)]
        out[key] = {
            LABELS[0]: [round(x, 3) for x in this],
            LABELS[1]: [round(x, 3) for x in base],
            "paired_ratios": [round(x, 4) for x in ratios],
            "median_paired_ratio": round(statistics.median(ratios), 4),
            f"median_{LABELS[0]}": round(statistics.median(this), 3),
            f"median_{LABELS[1]}": round(statistics.median(base), 3),
            "ratio_of_medians": round(statistics.median(this) / statistics.median(base), 4),
        }
    return out


def commit(checkout: Path) -> str:
    """The short commit id of a checkout's HEAD, with "+changes" when its tracked files differ from it."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(checkout), *args], capture_output=True, text=True
        ).stdout.strip()

    head = git("rev-parse", "--short", "HEAD")
    if not head:
        return f"{checkout} (not a git checkout)"
    return head + ("+changes" if git("status", "--porcelain", "--untracked-files=no") else "")
