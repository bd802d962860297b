"""The Spark entry point: ``spark-submit cpeguard/spark_submit.py --events ... --out ...``.

The same run as ``cpeguard score --engine spark``: the scorer is built from the
settings (or loaded from the model registry) on the driver and shipped to the
workers with each shard; ``scaleout.job`` does the rest.
"""

from __future__ import annotations

import argparse
import pickle
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from cpeguard.config import service_config
from cpeguard.settings import get_settings
from cpeguard.weekly import scorer_for
from scaleout.job import DEFAULT_SHARD_BUDGET, SparkRun, run_spark, spark_session

if TYPE_CHECKING:
    from detectors.model import WindowScorer


def run(
    *,
    events: str,
    out: str,
    posts: str | None = None,
    campaigns: str | None = None,
    model: str | None = None,
    scorer_file: str | None = None,
    scorer: WindowScorer | None = None,
    master: str | None = None,
    shard_budget: int = DEFAULT_SHARD_BUDGET,
    history: Sequence[str] = (),
    reputation: str | None = None,
    known_file: str | None = None,
    conf: Mapping[str, str] | None = None,
) -> SparkRun:
    """Score one window on Spark with the configured scorer (``master`` None: spark-submit's).

    ``scorer_file`` is a pickled ``WindowScorer`` written by the service for one detection run;
    ``scorer`` one already built (``cpeguard score`` builds it first, so a bad knob stops it before Spark).
    ``history``: earlier events (paths Spark reads) as context; ``reputation``: a reputation file
    (read here, on the driver, and decayed with the service's half-life), as ``cpeguard score`` takes them;
    ``known_file`` the known subjects the service read for the run (Parquet, ``detectors.reputation``);
    ``conf`` Spark settings for the session (``cpeguard score --spark-conf``; spark-submit takes ``--conf``).
    """
    from serving.batch import REPUTATION_REJECTS
    from serving.reputation_file import read_reputation

    # an unreadable reputation file is refused before Spark starts; its bad rows are rejects
    read = read_reputation(Path(reputation)) if reputation is not None else None
    entries = read.frame if read is not None else None
    if scorer is None and scorer_file is not None:
        # a scorer the service pickled for this run: its thresholds and fitted state exactly
        with open(scorer_file, "rb") as file:
            scorer = pickle.load(file)
    elif scorer is None:
        scorer = scorer_for(model, get_settings())
    session = spark_session(master, conf=conf)
    result = run_spark(
        session,
        events=events,
        out=out,
        posts=posts,
        campaigns=campaigns,
        scorer=scorer,
        shard_budget=shard_budget,
        history=tuple(history),
        reputation=entries,
        known=pd.read_parquet(known_file) if known_file is not None else None,
        half_life_days=None if entries is None else service_config(get_settings()).reputation_half_life_days,
    )
    if read is not None and len(read.rejects):
        # beside the other outputs, as the local engine writes them (serving/batch.py)
        rejects = session.createDataFrame(read.rejects.astype("string"))
        rejects.coalesce(1).write.mode("overwrite").parquet(f"{out.rstrip('/')}/{REPUTATION_REJECTS}")
    return result


def summary(result: SparkRun) -> str:
    """One line on what a Spark run wrote and how it sharded the window."""
    largest, events = next(iter(result.shards.items()), ("", 0))
    history = (
        f"; {result.rows['history_rejects']:,} rejected history rows in history_rejects.parquet"
        if "history_rejects" in result.rows
        else ""
    )
    return (
        f"scored {result.rows['engagements']:,} engagements in {len(result.shards)} shards "
        f"(largest {largest}: {events:,} events) to {result.out} in {result.seconds:.1f} s{history}"
    )


def main(argv: list[str] | None = None) -> None:
    """Parse spark-submit's application arguments and run."""
    parser = argparse.ArgumentParser(prog="spark_submit.py", description="Score a window on Spark.")
    parser.add_argument("--events", required=True, help="events: Parquet or CSV file or folder (Hadoop path)")
    parser.add_argument("--out", required=True, help="folder for the four outputs")
    parser.add_argument("--posts", help="optional posts file")
    parser.add_argument("--campaigns", help="optional campaigns file with unit prices")
    parser.add_argument("--model", help="a registered scorer, e.g. models:/cpeguard-scorer@champion")
    parser.add_argument("--scorer-file", help="a pickled WindowScorer (what the service hands over)")
    parser.add_argument("--master", help="Spark master URL (default: what spark-submit was given)")
    parser.add_argument(
        "--shard-budget", type=int, default=DEFAULT_SHARD_BUDGET, help="most events per shard"
    )
    parser.add_argument(
        "--history", action="append", default=[], help="earlier events as context (repeatable; Hadoop path)"
    )
    parser.add_argument("--reputation", help="a reputation file (.csv or .parquet) read on the driver")
    parser.add_argument("--known-file", help="known subjects the service read for the run (Parquet)")
    args = parser.parse_args(argv)
    print(summary(run(**vars(args))))


if __name__ == "__main__":
    main()
