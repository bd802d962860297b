"""Speed benchmark of `cpeguard score`: wall seconds, events per second and peak RSS.

Usage: python benchmarks/run.py [--sizes 100000,1000000,3000000] [--repeats 3]
Writes benchmarks/results/score_speed.json and prints a Markdown table for the README.
Each timed run is a fresh `cpeguard score` process (read, features, detectors, write);
the simulated inputs are made first and not timed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
EVENTS_PER_SCALE = 100_000

_CHILD = """
import resource, sys, time
from cpeguard.cli import app
started = time.perf_counter()
try:
    app(sys.argv[1:], standalone_mode=False)
finally:
    wall = time.perf_counter() - started
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(f"BENCH {wall} {own} {workers}", file=sys.stderr)
"""


def _timed_score(sim: Path, out: Path) -> tuple[float, float, float]:
    args = [
        "score",
        "--events",
        str(sim / "events.parquet"),
        "--posts",
        str(sim / "posts.parquet"),
        "--campaigns",
        str(sim / "campaigns.parquet"),
        "--out",
        str(out),
    ]
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", _CHILD, *args], capture_output=True, text=True, check=True)
    process_wall = time.perf_counter() - started
    line = next(x for x in done.stderr.splitlines() if x.startswith("BENCH "))
    _, _, own_kib, worker_kib = line.split()
    # forked detector workers share the window copy-on-write; their own peak is reported apart
    return process_wall, int(own_kib) / 1024, int(worker_kib) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="100000,1000000,3000000")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=2024)
    args = parser.parse_args()
    from training.simulator import SimConfig, simulate, write_simulated_set

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in (int(s) for s in args.sizes.split(",")):
            sim_dir = Path(tmp) / f"sim{size}"
            sim = simulate(SimConfig(seed=args.seed, scale=size / EVENTS_PER_SCALE))
            write_simulated_set(sim, sim_dir)
            n_events = len(sim.events)
            del sim
            walls, rss, worker_rss = [], [], []
            for i in range(args.repeats):
                wall, peak, worker_peak = _timed_score(sim_dir, Path(tmp) / f"out{size}-{i}")
                walls.append(wall)
                rss.append(peak)
                worker_rss.append(worker_peak)
                print(
                    f"{n_events:>10,} events  run {i + 1}: {wall:6.1f} s  peak RSS {peak:,.0f} MiB "
                    f"(worker {worker_peak:,.0f} MiB)",
                    flush=True,
                )
            median = statistics.median(walls)
            rows.append(
                {
                    "target_events": size,
                    "events": n_events,
                    "repeats": args.repeats,
                    "wall_s_median": round(median, 2),
                    "wall_s_all": [round(w, 2) for w in walls],
                    "events_per_s": round(n_events / median),
                    "peak_rss_mib": round(max(rss)),
                    "worker_peak_rss_mib": round(max(worker_rss)),
                }
            )
    base = next((r for r in rows if r["target_events"] == 1_000_000), None)
    for row in rows:
        row["time_vs_1m"] = round(row["wall_s_median"] / base["wall_s_median"], 2) if base else None
    report = {
        "benchmark": "cpeguard score end to end (process start, read, detect, write)",
        "command": "make bench  # python benchmarks/run.py",
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "date": time.strftime("%Y-%m-%d"),
        "rows": rows,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "score_speed.json").write_text(json.dumps(report, indent=2))
    print(
        "\n| events | wall s (median) | events/s | peak RSS MiB | worker peak RSS MiB | time vs 1M |"
        "\n|---|---|---|---|---|---|"
    )
    for r in rows:
        print(
            f"| {r['events']:,} | {r['wall_s_median']} | {r['events_per_s']:,} | {r['peak_rss_mib']:,} | "
            f"{r['worker_peak_rss_mib']:,} | "
            f"{r['time_vs_1m']} |"
        )


if __name__ == "__main__":
    main()
