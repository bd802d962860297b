"""Quality, time and memory of one large window (5M-30M events), simulated in chunks, scored by the CLI.

    python -m benchmarks.large_windows --worlds 4 --scale 50 --seed 3 --structure communities=2

A window of ``--worlds`` simulated worlds side by side: each world is one
simulator run (``--scale`` 50 is about 5M events) with its own seed, written by
``cpeguard simulate`` in its own process, so simulating never holds more than
one world in memory. The worlds share the period and the platforms but never
each other's users or creators: every platform holds ``--worlds`` audiences
that never meet (each with the structure's own communities, studios and
giveaways), the shape that broke the pool test from outside at ~15.5M events.
The window is scored by the real CLI (``cpeguard score``, single process, or
``--engine spark``) in a subprocess whose peak memory is sampled, then
evaluated against the worlds' truth: precision, recall, recall per scheme,
money withheld, and the honest engagements flagged per reason. Results are
appended to ``benchmarks/results/large_windows.json``. The machine is shared:
the load average is recorded with each run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.dataset as ds

from benchmarks.spark import CLI, agreement, run_measured, shards_of
from benchmarks.spark_agreement import disagreements
from benchmarks.windows import STRUCTURES, structure_options, with_world_ids
from training.evaluation import evaluate

# the engagements output's columns the metrics read (training/evaluation.py)
MEASURED = ("event_id", "post_id", "invalid", "risk", "reason", "unit_price", "copies", "held")
RESULTS = Path(__file__).parent / "results" / "large_windows.json"
REPORTED = (
    "precision",
    "recall",
    "fraud_payout_withheld_share",
    "honest_payout_withheld_share",
    "honest_payout_held_share",
    "honest_flagged_share",
)


def simulate_worlds(work: Path, *, worlds: int, scale: float, seed: int, structure: str) -> list[Path]:
    """Simulate each world in its own process (kept when already on disk); their folders."""
    folders = []
    for world in range(worlds):
        folder = work / f"world-{seed}-{scale:g}-{structure}-{world}"
        if not (folder / "truth" / "creators.parquet").exists():
            world_seed = seed * 1000 + world
            options = ["--out", str(folder), "--seed", str(world_seed), "--scale", str(scale)]
            subprocess.run([*CLI, "simulate", *options, *structure_options(structure)], check=True)
        folders.append(folder)
    return folders


def assemble(folders: list[Path], window: Path) -> list[str]:
    """One window of the worlds: their events, posts and campaigns with each world's ids suffixed.

    Two seeds may draw the same user, creator or campaign id; suffixed (``with_world_ids``), the
    worlds never share an account. Returns the ``cpeguard score`` input options.
    """
    if window.exists():
        shutil.rmtree(window)
    (window / "events").mkdir(parents=True)
    for number, folder in enumerate(folders):
        events = with_world_ids(pd.read_parquet(folder / "events.parquet"), number)
        events.to_parquet(window / "events" / f"part-{number:03d}.parquet", index=False)
        del events  # one world's events in memory at a time
    for name in ("posts", "campaigns"):
        joined = pd.concat(
            [with_world_ids(pd.read_parquet(f / f"{name}.parquet"), n) for n, f in enumerate(folders)],
            ignore_index=True,
        )
        joined.to_parquet(window / f"{name}.parquet", index=False)
    return [
        "--events",
        str(window / "events"),
        "--posts",
        str(window / "posts.parquet"),
        "--campaigns",
        str(window / "campaigns.parquet"),
    ]


def quality(folders: list[Path], out: Path) -> dict[str, Any]:
    """Quality of the scored window against the worlds' truth."""
    truth_events = pd.concat(
        [pd.read_parquet(f / "truth" / "events.parquet", dtype_backend="pyarrow") for f in folders]
    )
    truth_events["invalid"] = truth_events["invalid"].astype(bool)
    truth_creators = pd.concat(
        [with_world_ids(pd.read_parquet(f / "truth" / "creators.parquet"), n) for n, f in enumerate(folders)]
    )
    # only what the metrics read, ids as Arrow strings: at 25M events object strings do not fit beside a run
    names = ds.dataset(out / "engagements.parquet").schema.names
    engagements = pd.read_parquet(
        out / "engagements.parquet", columns=[n for n in names if n in MEASURED], dtype_backend="pyarrow"
    )
    engagements["invalid"] = engagements["invalid"].astype(bool)
    posts = pd.read_parquet(out / "posts.parquet")
    accounts = pd.read_parquet(out / "accounts.parquet")
    metrics = evaluate(
        engagements=engagements,
        posts=posts,
        accounts=accounts,
        truth_events=truth_events,
        truth_creators=truth_creators,
    )
    fraud = truth_events.loc[truth_events["invalid"], "event_id"]
    honest = ~engagements["event_id"].isin(fraud)
    reasons = engagements.loc[honest & engagements["invalid"], "reason"].astype(str).value_counts()
    return {
        "n_engagements": metrics["n_events"],
        **{key: metrics[key] for key in REPORTED},
        "recall_by_scheme": metrics["recall_by_scheme"],
        "honest_invalid_by_reason": {str(k): int(v) for k, v in reasons.items()},
    }


def against_other_engine(work: Path, key: str, engine: str) -> dict[str, Any]:
    """Agreement with the other engine's output of the same window, when it is on disk."""
    other = "local" if engine == "spark" else "spark"
    ours, theirs = work / f"scored-{key}-{engine}", work / f"scored-{key}-{other}"
    if not (theirs / "run.json").exists():
        return {}
    local, spark = (theirs, ours) if engine == "spark" else (ours, theirs)
    return {"agreement": agreement(local, spark), "disagreements": disagreements(local, spark)}


def scored_run(arguments: list[str], scored: Path, *, reuse: bool) -> dict[str, Any]:
    """Score (time and peak memory kept beside the output), or with ``reuse`` read the last run's."""
    record = scored / "run.json"
    if reuse and record.exists():
        return dict(json.loads(record.read_text()))
    run = run_measured(arguments, log=scored.parent / f"{scored.name}.log")
    record.write_text(json.dumps(run))
    return run


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--worlds", type=int, default=1, help="worlds side by side (audiences that never meet)"
    )
    parser.add_argument(
        "--scale", type=float, default=50.0, help="simulator scale per world (50: ~5M events)"
    )
    parser.add_argument("--seed", type=int, default=3, help="development seeds 3-8; held out 9201-9203")
    # one world per simulator run: the window's own worlds are --worlds
    parser.add_argument(
        "--structure", default="plain", choices=sorted(k for k in STRUCTURES if "worlds" not in STRUCTURES[k])
    )
    parser.add_argument("--engine", default="local", choices=("local", "spark"))
    parser.add_argument("--master", default="local[2]", help="Spark master (spark engine)")
    parser.add_argument("--shard-budget", type=int, help="Spark: most events per shard (the CLI's default)")
    parser.add_argument(
        "--spark-conf", action="append", default=[], help="Spark: KEY=VALUE for the session (repeatable)"
    )
    parser.add_argument("--work", type=Path, default=Path("/tmp/cpeguard-large"))
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--reuse", action="store_true", help="measure the last scored output again, unscored")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    folders = simulate_worlds(
        args.work, worlds=args.worlds, scale=args.scale, seed=args.seed, structure=args.structure
    )
    simulate_seconds = time.perf_counter() - started
    key = f"{args.worlds}x{args.scale:g}-{args.seed}-{args.structure}"
    inputs = assemble(folders, args.work / f"window-{key}")
    engine = ["--engine", "spark", "--master", args.master] if args.engine == "spark" else []
    engine += ["--shard-budget", str(args.shard_budget)] if engine and args.shard_budget else []
    engine += [arg for pair in args.spark_conf for arg in ("--spark-conf", pair)] if engine else []
    scored = args.work / f"scored-{key}-{args.engine}"
    run = scored_run(["score", *inputs, "--out", str(scored), *engine], scored, reuse=args.reuse)
    row = {
        "command": "python -m benchmarks.large_windows "
        + " ".join(argv if argv is not None else sys.argv[1:]),
        "date": time.strftime("%Y-%m-%d"),
        "worlds": args.worlds,
        "scale_per_world": args.scale,
        "seed": args.seed,
        "structure": args.structure,
        "engine": args.engine,
        "load_average_before": round(load_before, 2),
        "load_average_after": round(os.getloadavg()[0], 2),
        "simulate_s": round(simulate_seconds, 1),
        "score": run,
        **({"shards": shards_of(scored)} if args.engine == "spark" else {}),
        **quality(folders, scored),
        **against_other_engine(args.work, key, args.engine),
    }
    results = json.loads(args.out.read_text()) if args.out.exists() else {"runs": []}
    results["runs"] = [r for r in results["runs"] if r["command"] != row["command"]] + [row]
    args.out.parent.mkdir(exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, default=float) + "\n")
    print(json.dumps(row, indent=2, default=float))


if __name__ == "__main__":
    main()
