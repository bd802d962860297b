"""The Spark driver: contract files in (local, HDFS or S3 paths), the four outputs out as partitioned Parquet.

Run it with ``cpeguard score --engine spark`` or hand it to a cluster with
``spark-submit cpeguard/spark_submit.py`` (``deploy/spark/``).

Spark reads the files and numbers each row within its file, counts events per
(platform, creator, user) for the shard plan (``scaleout.shards``, run per
platform through ``applyInPandas``), sends each shard's rows to one Python worker
where ``scaleout.shard_scoring`` validates, deduplicates and scores them with the
unchanged ``WindowScorer``, merges the accounts an engagement-graph split scored
in more than one shard, and writes engagements and posts partitioned by ``shard``.

The steps live in their modules: the session (``scaleout.session``), reading with row
numbers (``scaleout.reading``), the shard plan and routing (``scaleout.routing``), and
the passes that give a split window's shards what the whole window shows
(``scaleout.window_parts``, ``scaleout.platform_rings``). PySpark is imported in these
modules only, and only when a Spark run starts: the single-process path never loads it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import pandas as pd

from detectors.lockstep import NAME as LOCKSTEP
from detectors.model import WindowScorer
from detectors.platform_verdicts import PlatformVerdicts
from detectors.rings import NAME as RING
from detectors.seller_ips import NAME as SELLER_IPS
from features.contract import clean_campaigns, clean_events, clean_posts, empty_rejects
from scaleout.platform_lockstep import lockstep_per_platform
from scaleout.platform_post_only import post_only_per_platform
from scaleout.platform_rings import rings_per_platform
from scaleout.reading import read_numbered, small_table, with_history_rows
from scaleout.routing import plan_shards, route, with_plan_keys
from scaleout.session import local_driver_memory, parse_spark_conf, spark_session
from scaleout.shard_scoring import OUTPUT_FIELDS, ROW, SHARD, ShardInputs, output_ddl, score_shard
from scaleout.shards import split_platforms
from scaleout.window_accounts import with_window_accounts
from scaleout.window_parts import (
    device_accounts,
    joined_chance,
    known_per_window,
    models_per_platform,
    window_chance_per_shard,
    window_second_round,
    window_seller_ips,
    window_spread_per_shard,
)
from serving.io import ACCOUNT_COLUMNS, ENGAGEMENT_COLUMNS, ENGAGEMENT_EXTRA, POST_COLUMNS, POST_EXTRA

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

# the driver's steps, importable from here as before the modules were split
__all__ = [
    "DEFAULT_SHARD_BUDGET",
    "OUTPUT_COLUMNS",
    "PARTITIONED",
    "SparkRun",
    "device_accounts",
    "known_per_window",
    "local_driver_memory",
    "models_per_platform",
    "outputs",
    "parse_spark_conf",
    "plan_shards",
    "read_numbered",
    "route",
    "run_spark",
    "score_shards",
    "spark_session",
    "window_chance_per_shard",
    "window_second_round",
    "window_seller_ips",
    "window_spread_per_shard",
    "with_history_rows",
]

# events per shard: a shard is scored whole by one Python worker, which holds about 0.5 KB
# per event at peak (benchmarks/spark.py); 20M events keep a worker near 10 GB
DEFAULT_SHARD_BUDGET = 20_000_000
OUTPUT_COLUMNS: dict[str, tuple[str, ...]] = {
    "engagements": (*ENGAGEMENT_COLUMNS, *ENGAGEMENT_EXTRA, SHARD),
    "posts": (*POST_COLUMNS, *POST_EXTRA, SHARD),
    "accounts": (*ACCOUNT_COLUMNS, SHARD),
    "rejects": tuple(empty_rejects().columns),
    # written only when the run was given history (``serving.batch.HISTORY_REJECTS``)
    "history_rejects": tuple(empty_rejects().columns),
}
PARTITIONED = ("engagements", "posts")  # written partitioned by shard


@dataclass(frozen=True)
class SparkRun:
    """What a Spark run read, how it sharded the window and where it wrote."""

    out: str
    shards: dict[str, int]  # events per shard, largest first
    rows: dict[str, int]  # rows written per output
    seconds: float


def score_shards(routed: DataFrame, plan: pd.DataFrame, *, inputs: ShardInputs) -> DataFrame:
    """Every shard's outputs stacked (``OUTPUT_FIELDS``): one shard per Python worker call.

    With a split platform about ten passes below read ``routed`` to gather what the whole window
    shows: the caller keeps it on disk (``run_spark``: ``_kept_routed``)."""
    if plan[SHARD].nunique() <= 1:  # the shard is the window: its detectors measure chance against it
        return routed.groupBy(SHARD).applyInPandas(lambda raw: score_shard(raw, inputs=inputs), output_ddl())
    platforms = split_platforms(plan)  # told to every shard: what spans shards may not show it
    split = plan.loc[plan["platform"].isin(sorted(platforms)), SHARD].unique().tolist()
    if split:  # accounts never cross platforms: only a split platform's span shards
        pools, verdicts, creators = models_per_platform(routed, split, inputs=inputs)
        if RING not in inputs.scorer.params.disabled:
            verdicts = _with_verdicts(verdicts, RING, rings_per_platform(routed, split, inputs=inputs))
        devices = device_accounts(routed, split, inputs=inputs)
        inputs = replace(inputs, pools=pools, verdicts=verdicts, creators=creators, devices=devices)
        inputs = replace(inputs, post_only=post_only_per_platform(routed, split, inputs=inputs))
    # one anomaly model over the window's accounts, and the stacker's account features over the window
    inputs = with_window_accounts(routed, inputs=inputs, buckets=plan[SHARD].nunique())
    # after the pools: the IP statistics count per audience community, a split platform's whole
    chance = window_chance_per_shard(routed, inputs=inputs).persist()
    joined = chance
    if split and LOCKSTEP not in inputs.scorer.params.disabled:  # against the window's statistics
        lockstep = lockstep_per_platform(routed, split, inputs=inputs, chance=chance)
        inputs = replace(inputs, verdicts=_with_verdicts(inputs.verdicts, LOCKSTEP, lockstep))
    if split:
        spread, focused = window_spread_per_shard(routed, chance, inputs=inputs)
        joined = chance.unionByName(spread, allowMissingColumns=True)
        if _has_second_round(inputs):  # the seller-IP rule's second round over the window: one more pass
            second = window_second_round(
                routed, joined, focused, split=split, platforms=platforms, inputs=inputs
            )
            joined = joined if second is None else joined.unionByName(second, allowMissingColumns=True)

    def score(raw: pd.DataFrame, window: pd.DataFrame) -> pd.DataFrame:
        return score_shard(raw, inputs=inputs, chance=joined_chance(window, split=platforms))

    return routed.groupBy(SHARD).cogroup(joined.groupBy(SHARD)).applyInPandas(score, output_ddl())


def _has_second_round(inputs: ShardInputs) -> bool:
    """Whether the seller-IP rule runs a second round (``SpreadParams.ip_rounds``), which a split
    platform's shards read from the window (``window_second_round``)."""
    params = inputs.scorer.params
    return params.spread.ip_rounds >= 2 and SELLER_IPS not in params.disabled


def _with_verdicts(
    verdicts: dict[str, dict[str, PlatformVerdicts]] | None, name: str, found: dict[str, PlatformVerdicts]
) -> dict[str, dict[str, PlatformVerdicts]]:
    """Each split platform's per-detector verdicts with detector ``name``'s ``found`` on its platform."""
    return {p: {**v, **({name: found[p]} if p in found else {})} for p, v in (verdicts or {}).items()}


def outputs(
    stacked: DataFrame, extra_rejects: pd.DataFrame, *, history: bool = False
) -> dict[str, DataFrame]:
    """The four outputs from the stacked frame (and ``history_rejects`` with ``history``); accounts
    scored in several shards are merged.

    An engager whose posts' creators landed in different communities is scored once per
    shard: the account keeps its highest risk (and that row's reasons), flagged if any
    shard flagged it, and names every shard it was scored in.
    """
    from pyspark.sql import functions as F

    spark = stacked.sparkSession
    kinds = [kind for kind in OUTPUT_COLUMNS if history or kind != "history_rejects"]
    of_kind = {kind: stacked.filter(F.col("kind") == kind) for kind in kinds}
    accounts = (
        of_kind["accounts"]
        .groupBy("account_id", "role")
        .agg(
            F.max("risk").alias("risk"),
            F.bool_or("flagged").alias("flagged"),
            F.max_by("reasons", "risk").alias("reasons"),
            F.concat_ws(",", F.array_sort(F.collect_set(SHARD))).alias(SHARD),
        )
    )
    found = {kind: frame.select(*OUTPUT_COLUMNS[kind]) for kind, frame in of_kind.items()}
    found["accounts"] = accounts.select(*OUTPUT_COLUMNS["accounts"])
    if len(extra_rejects):
        types = dict(OUTPUT_FIELDS)
        schema = ", ".join(f"`{c}` {types[c]}" for c in OUTPUT_COLUMNS["rejects"])
        found["rejects"] = found["rejects"].unionByName(spark.createDataFrame(extra_rejects, schema))
    return found


def run_spark(
    spark: SparkSession,
    *,
    events: str,
    out: str,
    posts: str | None = None,
    campaigns: str | None = None,
    scorer: WindowScorer | None = None,
    shard_budget: int = DEFAULT_SHARD_BUDGET,
    plan: pd.DataFrame | None = None,
    history: tuple[str, ...] = (),
    reputation: pd.DataFrame | None = None,
    half_life_days: float | None = None,
    known: pd.DataFrame | None = None,
) -> SparkRun:
    """Read, shard, score and write one window on Spark (see the module).

    ``plan`` (``PLAN_COLUMNS``) replaces the planner's shards, e.g. to force a split in a test.
    ``history`` (paths of earlier events, same contract) is context, as ``serving.batch.run_batch``
    takes it: each history row goes to the shard of its platform or creator, the shard's
    detectors see it, the outputs cover the window's events; its rejects go to
    ``history_rejects``. ``reputation`` is a reputation file's entries
    (``serving.reputation_file.read_reputation``), read for the window with ``half_life_days``;
    ``known`` the known subjects already read for the window (``detectors.reputation``, the service's).
    """
    from pyspark import StorageLevel

    started = time.perf_counter()
    small = {"posts": (posts, clean_posts), "campaigns": (campaigns, clean_campaigns)}
    tables = {name: small_table(spark, path, clean) for name, (path, clean) in small.items() if path}
    inputs = ShardInputs(
        scorer=scorer or WindowScorer(),
        source=events,
        history=tuple(history),
        posts=tables["posts"][0] if "posts" in tables else None,
        campaigns=tables["campaigns"][0] if "campaigns" in tables else None,
        reputation=known,
    )
    raw = read_numbered(spark, events)
    # whole-file problems (a missing column, a column no row can be read as) stop here, not in a shard
    clean_events(raw.limit(1000).toPandas().drop(columns=[ROW]), source=events)
    keyed = with_plan_keys(with_history_rows(spark, raw, inputs.history) if inputs.history else raw)
    if plan is None:
        plan = plan_shards(keyed, budget=shard_budget)
    routed = _kept_routed(route(keyed, plan), plan)
    if reputation is not None:
        inputs = _with_reputation(routed, inputs, reputation=reputation, half_life_days=half_life_days)
    # read once per output; on local disk, as a 30M window cached in the heap ran it out (docs/spark.md)
    stacked = score_shards(routed, plan, inputs=inputs).persist(StorageLevel.DISK_ONLY)
    extra = [rejects for _, rejects in tables.values() if len(rejects)]
    joined = pd.concat(extra, ignore_index=True) if extra else empty_rejects()
    rows = _write(outputs(stacked, joined, history=bool(inputs.history)), stacked, out=out)
    rows["rejects"] += len(joined)
    stacked.unpersist()
    routed.unpersist()
    sizes = plan.groupby(SHARD)["events"].sum().sort_values(ascending=False)
    shards = {str(k): int(v) for k, v in sizes.items()}
    return SparkRun(out=out, shards=shards, rows=rows, seconds=time.perf_counter() - started)


def _kept_routed(routed: DataFrame, plan: pd.DataFrame) -> DataFrame:
    """``routed``, on local disk when the plan splits a platform over several shards: about ten passes
    of ``score_shards`` read it then, and each would read, number and route the events again
    (benchmarks/results/routed_reads_tidy24.json). ``run_spark`` unpersists it once the outputs are
    written."""
    from pyspark import StorageLevel

    if plan[SHARD].nunique() <= 1 or not split_platforms(plan):
        return routed
    return routed.persist(StorageLevel.DISK_ONLY)


def _with_reputation(
    routed: DataFrame, inputs: ShardInputs, *, reputation: pd.DataFrame, half_life_days: float | None
) -> ShardInputs:
    """``inputs`` with what a reputation file's entries tell this window (``known_per_window``)."""
    if half_life_days is None:
        raise ValueError("a reputation file needs the reputation's half-life")
    read = known_per_window(routed, inputs=inputs, entries=reputation, half_life_days=half_life_days)
    return replace(inputs, reputation=read)


def _write(written: dict[str, DataFrame], stacked: DataFrame, *, out: str) -> dict[str, int]:
    """Write the outputs (engagements and posts partitioned by shard); rows scored per kind."""
    for kind, frame in written.items():
        writer = frame.write.mode("overwrite")
        if kind in PARTITIONED:
            writer = writer.partitionBy(SHARD)
        writer.parquet(f"{out.rstrip('/')}/{kind}.parquet")
    counted = stacked.groupBy("kind").count().toPandas().set_index("kind")["count"]
    return {kind: int(counted.get(kind, 0)) for kind in written}
