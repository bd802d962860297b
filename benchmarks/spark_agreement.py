"""Same answer under forced splits: Spark local mode vs the single process on one ~100k window.

    python -m benchmarks.spark_agreement --seed 3 --scale 1.0 --plans platform,15000

The single process runs as the real CLI (``cpeguard score``); Spark runs in this process
(``scaleout.job.run_spark``, one session for every plan) with each shard plan: ``platform``
forces one shard per platform (a plan the budget alone cannot give a small window), a number
is a shard budget (a platform over it is split along its engagement graph). For each plan:
the shards, the share of events whose invalid flag and of posts whose decision agree, and
the disagreeing events counted by the single process's reason. Results go to
``benchmarks/results/spark_agreement.json``.

``--structure`` picks the simulator's audience structure (``benchmarks.windows.STRUCTURES``), e.g. the
30M run's on one world split into 14 shards; each engine's precision and recall by scheme are reported:

    python -m benchmarks.spark_agreement --seed 3 --scale 10 --structure communities=3+studios+giveaways \
        --plans 50000 --spark-conf spark.driver.memory=3g --out benchmarks/results/spark_agreement_i14d.json

A structure of worlds side by side (``worlds=4+...``: every platform holds four audiences that
never meet, the precision gates' four-world windows) is simulated in this process as
``benchmarks.windows`` builds it, ``--scale`` split over the worlds (seed 3 at scale 5 is the 500k
gate's seed-3 window):

    python -m benchmarks.spark_agreement --seed 3 --scale 5 \
        --structure worlds=4+communities=3+studios+giveaways --plans platform,50000

``--scoring-params JSON`` sets parameter-tree knobs for both engines (the CLI reads them from
``CPEGUARD_SCORING_PARAMS``, Spark's scorer is given them), e.g. a default-off option:

    python -m benchmarks.spark_agreement --seed 3 --plans platform,15000 \
        --scoring-params '{"detectors__pool__chance_without_explained": true}'

``--history-weeks N`` scores a multi-week world instead (``SimConfig(multi_week=True)``):
its last week is the window and the N weeks before it are history (``--history``), for
both engines:

    python -m benchmarks.spark_agreement --seed 3 --scale 0.65 --history-weeks 3 --plans platform \
        --out benchmarks/results/spark_agreement_history.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from benchmarks.spark import agreement
from benchmarks.windows import STRUCTURES, simulated_set, structure_options
from detectors.model import WindowScorer
from detectors.params import ScoringParams
from scaleout.job import DEFAULT_SHARD_BUDGET, run_spark
from scaleout.shards import one_shard_per_platform
from training.evaluation import evaluate
from training.simulator import SimConfig, simulate, write_simulated_set

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

CLI = [sys.executable, "-m", "cpeguard.cli"]
RESULTS = Path(__file__).parent / "results" / "spark_agreement.json"


def platform_plan(*events: Path | str) -> pd.DataFrame:
    """One whole-platform shard per platform of these events files, platforms read as validation does."""
    frames = [pd.read_parquet(path, columns=["platform"])["platform"] for path in events]
    platform = pd.concat(frames).astype("str").str.strip().str.lower()
    return one_shard_per_platform(platform.value_counts())


def disagreements(local: Path, spark: Path) -> dict[str, int]:
    """Events the engines flag differently, by the single process's reason (or ``spark:`` + Spark's)."""
    columns = ["event_id", "invalid", "reason"]
    both = pd.read_parquet(local / "engagements.parquet", columns=columns).merge(
        pd.read_parquet(spark / "engagements.parquet", columns=columns), on="event_id"
    )
    differ = both[both["invalid_x"] != both["invalid_y"]]
    label = (
        differ["reason_x"]
        .astype("str")
        .where(differ["invalid_x"], "spark:" + differ["reason_y"].astype("str"))
    )
    return {str(k): int(v) for k, v in label.value_counts().items()}


def evidence(local: Path, spark: Path) -> dict[str, int]:
    """Flagged events without an evidence sentence, per engine, and the events both flag whose
    sentences come from different detectors (the sentence's ``name:`` prefix)."""
    columns = ["event_id", "invalid", "evidence"]
    both = pd.read_parquet(local / "engagements.parquet", columns=columns).merge(
        pd.read_parquet(spark / "engagements.parquet", columns=columns), on="event_id"
    )
    kind = {s: both[f"evidence_{s}"].astype("str").fillna("").str.partition(":")[0] for s in ("x", "y")}
    is_both = both["invalid_x"].astype(bool) & both["invalid_y"].astype(bool)
    return {
        "local_flagged_without_evidence": int((both["invalid_x"] & (kind["x"] == "")).sum()),
        "spark_flagged_without_evidence": int((both["invalid_y"] & (kind["y"] == "")).sum()),
        "both_flagged_other_evidence_kind": int((is_both & (kind["x"] != kind["y"])).sum()),
    }


WEEK = pd.Timedelta(days=7)
QUALITY = ("precision", "recall", "honest_flagged_share", "honest_payout_withheld_share")


def quality(window: Path, scored: Path) -> dict[str, Any]:
    """Precision, recall and recall per scheme of one engine's outputs of the ``window`` events file
    against the simulated truth of its set (a multi-week window, cut from its set: of its events)."""
    truth = window.parent / "truth"
    if not (truth / "events.parquet").exists():
        return {}
    truth_events = pd.read_parquet(truth / "events.parquet")
    scored_ids = pd.read_parquet(window, columns=["event_id"])["event_id"]
    truth_events = truth_events.loc[truth_events["event_id"].isin(scored_ids)]
    truth_events["invalid"] = truth_events["invalid"].astype(bool)
    engagements = pd.read_parquet(scored / "engagements.parquet")
    engagements["invalid"] = engagements["invalid"].astype(bool)
    metrics = evaluate(
        engagements=engagements,
        posts=pd.read_parquet(scored / "posts.parquet"),
        accounts=pd.read_parquet(scored / "accounts.parquet"),
        truth_events=truth_events,
        truth_creators=pd.read_parquet(truth / "creators.parquet"),
    )
    return {**{key: metrics[key] for key in QUALITY}, "recall_by_scheme": metrics["recall_by_scheme"]}


def simulated(args: argparse.Namespace) -> tuple[dict[str, str], list[str]]:
    """The files both engines read of a simulated set (simulated once per seed and scale), and the
    history files (with ``--history-weeks``: the window is the last week, history the weeks before)."""
    weeks = args.history_weeks
    structure = "" if args.structure == "plain" else f"-{args.structure}"
    sim = args.work / (f"sim-{args.scale:g}-{args.seed}{structure}" + ("-weeks" if weeks else ""))
    is_worlds = "worlds" in STRUCTURES[args.structure] and not weeks
    if not (sim / "events.parquet").exists() and is_worlds:
        write_simulated_set(simulated_set(args.seed, args.scale, args.structure, honest_only=False), sim)
    if not (sim / "events.parquet").exists() and not weeks:
        options = ["--out", str(sim), "--seed", str(args.seed), "--scale", str(args.scale)]
        subprocess.run([*CLI, "simulate", *options, *structure_options(args.structure)], check=True)
    if not (sim / "events.parquet").exists() and weeks:
        write_simulated_set(simulate(SimConfig(seed=args.seed, scale=args.scale, multi_week=True)), sim)
    files = {name: str(sim / f"{name}.parquet") for name in ("events", "posts", "campaigns")}
    if not weeks:
        return files, []
    events = pd.read_parquet(sim / "events.parquet")
    end = events["ts"].max()
    is_window = (events["ts"] > end - WEEK).to_numpy()
    is_history = ~is_window & (events["ts"] > end - WEEK * (1 + weeks)).to_numpy()
    events.loc[is_window].to_parquet(sim / "window.parquet", index=False)
    events.loc[is_history].to_parquet(sim / "history.parquet", index=False)
    return {**files, "events": str(sim / "window.parquet")}, [str(sim / "history.parquet")]


def measure(
    spark: SparkSession,
    plan: str,
    *,
    files: dict[str, str],
    history: list[str],
    work: Path,
    scorer: WindowScorer | None = None,
) -> dict[str, Any]:
    """One shard plan scored on Spark and compared with the single process's outputs in ``work``."""
    out = work / f"spark-{plan}"
    forced = platform_plan(Path(files["events"]), *history) if plan == "platform" else None
    started = time.perf_counter()
    run = run_spark(
        spark,
        events=files["events"],
        posts=files["posts"],
        campaigns=files["campaigns"],
        out=str(out),
        plan=forced,
        history=tuple(history),
        shard_budget=int(plan) if forced is None else DEFAULT_SHARD_BUDGET,
        scorer=scorer,
    )
    return {
        "plan": plan,
        "shards": run.shards,
        "seconds": round(time.perf_counter() - started, 1),
        "agreement": agreement(work / "local", out),
        "disagreeing_events_by_reason": disagreements(work / "local", out),
        "evidence": evidence(work / "local", out),
        "quality": quality(Path(files["events"]), out),
    }


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument(
        "--plans", default="platform,15000", help="'platform' or shard budgets, comma-separated"
    )
    parser.add_argument(
        "--structure",
        default="plain",
        choices=sorted(STRUCTURES),
        help="the simulator's audience structure (benchmarks/windows.py); not with --history-weeks",
    )
    parser.add_argument("--master", default="local[2]")
    parser.add_argument(
        "--spark-conf", action="append", default=[], help="KEY=VALUE Spark setting, repeatable"
    )
    parser.add_argument("--work", type=Path, default=Path("/tmp/cpeguard-bench-agreement"))
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--history-weeks", type=int, default=0, help="multi-week world: weeks before the last as history"
    )
    parser.add_argument(
        "--scoring-params",
        default="",
        help="JSON of parameter-tree knobs for both engines (the CLI's CPEGUARD_SCORING_PARAMS)",
    )
    return parser


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    from scaleout.job import parse_spark_conf, spark_session

    knobs = json.loads(args.scoring_params) if args.scoring_params else {}
    scorer = WindowScorer(params=ScoringParams().set_params(**knobs)) if knobs else None
    env = {**os.environ, "CPEGUARD_SCORING_PARAMS": args.scoring_params} if knobs else None

    files, history = simulated(args)
    inputs = [item for name, path in files.items() for item in (f"--{name}", path)]
    inputs += [item for path in history for item in ("--history", path)]
    subprocess.run(
        [*CLI, "score", *inputs, "--out", str(args.work / "local")], check=True, capture_output=True, env=env
    )
    spark = spark_session(args.master, conf=parse_spark_conf(args.spark_conf))
    rows: list[dict[str, Any]] = []
    for plan in args.plans.split(","):
        rows.append(measure(spark, plan, files=files, history=history, work=args.work, scorer=scorer))
        print(json.dumps(rows[-1]), flush=True)
    spark.stop()
    report = {
        "command": "python -m benchmarks.spark_agreement "
        + " ".join(argv if argv is not None else sys.argv[1:]),
        "commit": subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True
        ).stdout.strip(),
        "seed": args.seed,
        "scale": args.scale,
        "structure": args.structure,
        "scoring_params": knobs,
        "events": len(pd.read_parquet(files["events"], columns=["event_id"])),
        "history_events": sum(len(pd.read_parquet(path, columns=["event_id"])) for path in history),
        "load_average_before": os.getloadavg()[0],
        "local_quality": quality(Path(files["events"]), args.work / "local"),
        "plans": rows,
    }
    args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
