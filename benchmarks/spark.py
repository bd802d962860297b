"""Single process vs Spark local mode on one simulated window: wall time, peak memory, shards.

    python -m benchmarks.spark --scale 10 --master 'local[2]'

Both engines run as the real CLI (``cpeguard score`` and ``cpeguard score --engine
spark``) in a subprocess whose process tree is sampled every 0.2 s: the peak
resident memory of the single process; for Spark, of the driver (the Python
process plus the JVM, which in local mode is also the executor) and of the Python
workers that score the shards (the largest one, and all of them together). The
shard count and the largest shard come from the run's engagements output.
Results go to ``benchmarks/results/spark.json``. The machine is shared (2 cores):
runs are one after the other, never in parallel, and the load average is recorded.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pandas as pd
import psutil

CLI = [sys.executable, "-m", "cpeguard.cli"]
RESULTS = Path(__file__).parent / "results" / "spark.json"


class TreeSampler:
    """Peak resident memory of a process tree, by role: python driver, JVM, Python workers."""

    def __init__(self, root: int, interval: float = 0.2) -> None:
        self.root = psutil.Process(root)
        self.interval = interval
        self.peak: dict[str, float] = {
            "driver_python": 0.0,
            "jvm": 0.0,
            "workers_total": 0.0,
            "worker_max": 0.0,
        }
        self.worker_pids: set[int] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> TreeSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(psutil.Error):
                self._sample()
            time.sleep(self.interval)

    def _sample(self) -> None:
        gib = 1024**3
        rss = {"driver_python": self.root.memory_info().rss / gib, "jvm": 0.0, "workers_total": 0.0}
        worker_max = 0.0
        for child in self.root.children(recursive=True):
            try:
                name, memory = child.name(), child.memory_info().rss / gib
            except psutil.Error:
                continue
            if name == "java":
                rss["jvm"] += memory
            elif name.startswith("python"):
                rss["workers_total"] += memory
                worker_max = max(worker_max, memory)
                self.worker_pids.add(child.pid)
        for key, value in rss.items():
            self.peak[key] = max(self.peak[key], value)
        self.peak["worker_max"] = max(self.peak["worker_max"], worker_max)


def run_measured(args: list[str], *, log: Path | None = None) -> dict[str, Any]:
    """Run the CLI with ``args``; wall seconds and peak memory (GiB) of its process tree.

    With ``log`` the run's whole stdout and stderr are written there (a failure's message quotes
    only the end of stderr; Spark's cause is often far above it)."""
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    started = time.perf_counter()
    process = subprocess.Popen(
        [*CLI, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    with TreeSampler(process.pid) as sampler:
        stdout, stderr = process.communicate()
    seconds = time.perf_counter() - started
    if log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(f"$ cpeguard {' '.join(args)}\n--- stdout\n{stdout}\n--- stderr\n{stderr}")
    if process.returncode != 0:
        where = f" (whole log: {log})" if log is not None else ""
        raise RuntimeError(f"cpeguard {args} failed{where}:\n{stdout}\n{stderr[-3000:]}")
    peak = {key: round(value, 3) for key, value in sampler.peak.items()}
    return {"wall_s": round(seconds, 1), "peak_gib": peak, "python_workers_seen": len(sampler.worker_pids)}


def shards_of(out: Path) -> dict[str, Any]:
    """Shard count and events per shard from a Spark run's engagements (partitioned by shard)."""
    shards = pd.read_parquet(out / "engagements.parquet", columns=["shard"])["shard"].astype("str")
    sizes = shards.value_counts()
    return {
        "count": len(sizes),
        "engagements": {str(k): int(v) for k, v in sizes.items()},
        "largest": sizes.index[0],
        "largest_engagements": int(sizes.iloc[0]),
    }


def agreement(local: Path, spark: Path) -> dict[str, float]:
    """Share of events whose invalid flag, and of posts whose decision, the two engines agree on."""
    events = pd.read_parquet(local / "engagements.parquet", columns=["event_id", "invalid"]).merge(
        pd.read_parquet(spark / "engagements.parquet", columns=["event_id", "invalid"]), on="event_id"
    )
    posts = pd.read_parquet(local / "posts.parquet", columns=["post_id", "decision"]).merge(
        pd.read_parquet(spark / "posts.parquet", columns=["post_id", "decision"]), on="post_id"
    )
    return {
        "invalid_flags": round(float((events["invalid_x"] == events["invalid_y"]).mean()), 5),
        "post_decisions": round(float((posts["decision_x"] == posts["decision_y"]).mean()), 5),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--scale", type=float, default=10.0, help="simulator scale (1.0 is about 100k events)"
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--master", default="local[2]")
    parser.add_argument(
        "--shard-budget", type=int, default=None, help="events per shard (default: the engine's)"
    )
    parser.add_argument("--work", type=Path, default=Path("/tmp/cpeguard-bench-spark"))
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    load_before = os.getloadavg()[0]
    sim = args.work / f"sim-{args.scale:g}-{args.seed}"
    if not (sim / "events.parquet").exists():
        subprocess.run(
            [*CLI, "simulate", "--out", str(sim), "--seed", str(args.seed), "--scale", str(args.scale)],
            check=True,
        )
    n_events = len(pd.read_parquet(sim / "events.parquet", columns=["event_id"]))
    inputs = ["--events", str(sim / "events.parquet"), "--posts", str(sim / "posts.parquet")]
    inputs += ["--campaigns", str(sim / "campaigns.parquet")]
    budget = ["--shard-budget", str(args.shard_budget)] if args.shard_budget else []
    local = run_measured(["score", *inputs, "--out", str(args.work / "local")])
    spark = run_measured(
        [
            "score",
            *inputs,
            "--out",
            str(args.work / "spark"),
            "--engine",
            "spark",
            "--master",
            args.master,
            *budget,
        ]
    )
    spark["shards"] = shards_of(args.work / "spark")
    spark["agreement"] = agreement(args.work / "local", args.work / "spark")
    row = {
        "events": n_events,
        "scale": args.scale,
        "seed": args.seed,
        "master": args.master,
        "shard_budget": args.shard_budget,
        "load_average_before": load_before,
        "single_process": local,
        "spark": spark,
        "command": "python -m benchmarks.spark " + " ".join(argv if argv is not None else sys.argv[1:]),
    }
    results = json.loads(args.out.read_text()) if args.out.exists() else {"runs": []}
    results["runs"] = [r for r in results["runs"] if r["command"] != row["command"]] + [row]
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(row, indent=2))


if __name__ == "__main__":
    main()
