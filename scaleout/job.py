"""The Spark driver: contract files in (local, HDFS or S3 paths), the four outputs out as partitioned Parquet.

Run it with ``cpeguard score --engine spark`` or hand it to a cluster with
``spark-submit cpeguard/spark_submit.py`` (``deploy/spark/``).

Spark reads the files and numbers each row within its file, counts events per
(platform, creator, user) for the shard plan (``scaleout.shards``, run per
platform through ``applyInPandas``), sends each shard's rows to one Python worker
where ``scaleout.shard_scoring`` validates, deduplicates and scores them with the
unchanged ``WindowScorer``, merges the accounts an engagement-graph split scored
in more than one shard, and writes engagements and posts partitioned by ``shard``.
PySpark is imported here only: the single-process path never loads it.
"""

from __future__ import annotations

import os
import pickle
import sys
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import pandas as pd

from detectors.chance import CHANCE_COLUMNS, EVERY_SHARD, STATISTICS, WindowChance, window_chance
from detectors.infra import KEY_SEPARATOR
from detectors.model import WindowScorer
from detectors.platform_verdicts import PlatformVerdicts
from detectors.pools import PoolChance
from detectors.reputation import known_for
from detectors.rings import NAME as RING
from detectors.seller_ips import SellerIpEvidence
from detectors.spread import SPREAD_COLUMNS
from features.contract import ContractError, clean_campaigns, clean_events, clean_posts, empty_rejects
from scaleout.platform_rings import rings_per_platform
from scaleout.shard_scoring import (
    OUTPUT_FIELDS,
    PAIR_COLUMNS,
    PAIR_ORDER,
    ROW,
    SHARD,
    SOURCE,
    ShardInputs,
    output_ddl,
    platform_models,
    score_shard,
    shard_bounds,
    shard_chance,
    shard_devices,
    shard_pairs,
    shard_spread,
)
from scaleout.shards import EDGE_COLUMNS, NO_PLATFORM, PLAN_COLUMNS, pack_platforms, plan_platform
from serving.io import ACCOUNT_COLUMNS, ENGAGEMENT_COLUMNS, ENGAGEMENT_EXTRA, POST_COLUMNS, POST_EXTRA

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

# events per shard: a shard is scored whole by one Python worker, which holds about 0.5 KB
# per event at peak (benchmarks/spark.py); 20M events keep a worker near 10 GB
DEFAULT_SHARD_BUDGET = 20_000_000
PLATFORM_KEY = "_platform"
CREATOR_KEY = "_creator"
OUTPUT_COLUMNS: dict[str, tuple[str, ...]] = {
    "engagements": (*ENGAGEMENT_COLUMNS, *ENGAGEMENT_EXTRA, SHARD),
    "posts": (*POST_COLUMNS, *POST_EXTRA, SHARD),
    "accounts": (*ACCOUNT_COLUMNS, SHARD),
    "rejects": tuple(empty_rejects().columns),
    # written only when the run was given history (``serving.batch.HISTORY_REJECTS``)
    "history_rejects": tuple(empty_rejects().columns),
}
PARTITIONED = ("engagements", "posts")  # written partitioned by shard
_PLAN_DDL = "platform string, creator_id string, shard string"
_CHANCE_DDL = f"`{SHARD}` string, statistic string, key string, value long"
_PAIR_DDL = ", ".join([*(f"`{c}` string" for c in PAIR_COLUMNS), *(f"`{c}` long" for c in PAIR_ORDER)])
_BOUNDS_DDL = f"`{SHARD}` string, window_us long, history_us long"
_SPREAD_DDL = (
    f"`{SHARD}` string, detector string, user_id string, caught long, total long, strongest double,"
    " evidence string, platform string, ip string, posts long"
)


@dataclass(frozen=True)
class SparkRun:
    """What a Spark run read, how it sharded the window and where it wrote."""

    out: str
    shards: dict[str, int]  # events per shard, largest first
    rows: dict[str, int]  # rows written per output
    seconds: float


def local_driver_memory(total_bytes: int | None = None) -> str:
    """The JVM heap for a local master: a third of this machine's memory, at least 1 GiB.

    In local mode the JVM is driver and executor; the Python workers that score shards
    live outside it and need the rest.
    """
    if total_bytes is None:
        total_bytes = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return f"{max(1, total_bytes // 3 // 2**30)}g"


def parse_spark_conf(pairs: Sequence[str], *, option: str = "--spark-conf") -> dict[str, str]:
    """``KEY=VALUE`` settings (as spark-submit's ``--conf`` takes them) as a mapping."""
    conf: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise ContractError(f"{option} {pair!r}: expected KEY=VALUE, e.g. spark.driver.memory=8g")
        conf[key.strip()] = value.strip()
    return conf


def spark_session(
    master: str | None = None,
    *,
    conf: Mapping[str, str] | None = None,
    app_name: str = "cpeguard-score",
) -> SparkSession:
    """A Spark session for scoring: UTC session time, Arrow, this interpreter for local workers.

    ``conf`` is applied last (spark-submit's ``--conf``). On a local master the JVM heap
    defaults to ``local_driver_memory()``; a session already running keeps its heap.
    """
    from pyspark.sql import SparkSession

    # PySpark 4 warns at every pandas conversion that it is not yet tested with pandas 3
    warnings.filterwarnings(
        "ignore", message="PySpark does not yet fully support pandas", category=FutureWarning
    )
    builder = SparkSession.builder.appName(app_name)
    settings = {
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.ui.showConsoleProgress": "false",
    }
    if master is not None:
        builder = builder.master(master)
    if master is not None and master.startswith("local"):
        # local workers run this interpreter (and its PYTHONPATH), not whatever `python` is first
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        # the JVM is driver and executor: its default 1 GiB heap spills a window to disk
        settings["spark.driver.memory"] = local_driver_memory()
    for key, value in {**settings, **(conf or {})}.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def read_numbered(spark: SparkSession, path: str) -> DataFrame:
    """A contract file (or folder of part files) with ``ROW``: the 1-based data row in the input.

    CSV values stay text, as the single-process reader keeps them, for validation to coerce.
    Rows are numbered in file-name order, then in order within each file: Spark keeps a
    file's splits in offset order, so per (file, partition) counts give each run's offset.
    """
    from pyspark.sql import functions as F

    lowered = path.lower().rstrip("/")
    if lowered.endswith((".csv", ".txt")):
        frame = spark.read.csv(path, header=True, inferSchema=False, multiLine=False)
    elif lowered.endswith((".parquet", ".pq")) or not lowered.rsplit("/", 1)[-1].count("."):
        frame = spark.read.parquet(path)
    else:
        raise ContractError(f"{path}: unknown file type; use .parquet or .csv")
    # the scan is planned the same way both times it is read: the same partitions, the same ids
    located = (
        frame.withColumn("_file", F.input_file_name())
        .withColumn("_part", F.spark_partition_id())
        .withColumn("_id", F.monotonically_increasing_id())
    )
    runs = (
        located.groupBy("_file", "_part")
        .agg(F.min("_id").alias("_first"), F.count(F.lit(1)).alias("_n"))
        .toPandas()
        .sort_values(["_file", "_part"], ignore_index=True)
    )
    runs["_start"] = runs["_n"].cumsum() - runs["_n"]
    offsets = spark.createDataFrame(runs[["_file", "_part", "_first", "_start"]])
    numbered = located.join(F.broadcast(offsets), on=["_file", "_part"]).withColumn(
        ROW, F.col("_start") + F.col("_id") - F.col("_first") + F.lit(1)
    )
    return numbered.drop("_file", "_part", "_id", "_first", "_start")


def _small_table(spark: SparkSession, path: str, clean: Any) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A posts or campaigns file, cleaned on the driver (a period has few): clean frame and rejects."""
    raw = read_numbered(spark, path).toPandas().sort_values(ROW, ignore_index=True)
    cleaned = clean(raw.drop(columns=[ROW]), source=path)
    return cleaned.frame, cleaned.rejects


def _keyed(events: DataFrame) -> DataFrame:
    """Events with the shard plan's keys: the platform as validation will read it, and the creator."""
    from pyspark.sql import functions as F

    platform = F.lower(F.trim(F.col("platform").cast("string")))
    return events.withColumn(
        PLATFORM_KEY, F.when(platform.isNull() | (platform == ""), F.lit(NO_PLATFORM)).otherwise(platform)
    ).withColumn(CREATOR_KEY, F.trim(F.col("creator_id").cast("string")))


def plan_shards(keyed: DataFrame, *, budget: int) -> pd.DataFrame:
    """The shard of each (platform, creator) as ``PLAN_COLUMNS``; creator "" stands for the whole platform.

    Spark counts events per platform; platforms within the budget are packed whole
    (``pack_platforms``). Only a platform over the budget has its (creator, user)
    edges counted and planned along its graph, each such platform in one worker.
    """
    from pyspark.sql import functions as F

    sizes = keyed.groupBy(PLATFORM_KEY).count().toPandas().set_index(PLATFORM_KEY)["count"]
    small = sizes[sizes <= budget]
    packed = pack_platforms(small, budget=budget)
    whole = pd.DataFrame(
        {
            "platform": list(packed),
            "creator_id": "",
            "shard": list(packed.values()),
            "events": [int(small[p]) for p in packed],
        }
    )
    large = [str(p) for p in sizes.index if sizes[p] > budget]
    if not large:
        return whole[list(PLAN_COLUMNS)]
    edges = (
        keyed.filter(F.col(PLATFORM_KEY).isin(large))
        .groupBy(PLATFORM_KEY, CREATOR_KEY, F.trim(F.col("user_id").cast("string")).alias("_user"))
        .agg(F.count(F.lit(1)).alias("events"))
        .toDF(*EDGE_COLUMNS)
        .fillna({"creator_id": "", "user_id": ""})
    )
    schema = "platform string, creator_id string, shard string, events long"
    split = edges.groupBy("platform").applyInPandas(lambda e: plan_platform(e, budget=budget), schema)
    return pd.concat([whole, split.toPandas()], ignore_index=True)[list(PLAN_COLUMNS)]


def route(keyed: DataFrame, plan: pd.DataFrame) -> DataFrame:
    """``keyed`` rows with their ``SHARD`` from the plan (creator "" in the plan: the whole platform)."""
    from pyspark.sql import functions as F

    spark = keyed.sparkSession
    is_whole = plan["creator_id"] == ""
    by_creator = spark.createDataFrame(plan.loc[~is_whole, ["platform", "creator_id", "shard"]], _PLAN_DDL)
    by_platform = spark.createDataFrame(
        plan.loc[is_whole, ["platform", "shard"]], "platform string, _whole string"
    )
    # one task per shard: the groups are the unit of work, not Spark's default 200 partitions
    spark.conf.set("spark.sql.shuffle.partitions", str(max(1, plan[SHARD].nunique() + 1)))
    return (
        keyed.join(
            F.broadcast(by_creator.toDF(PLATFORM_KEY, CREATOR_KEY, SHARD)),
            [PLATFORM_KEY, CREATOR_KEY],
            "left",
        )
        .join(F.broadcast(by_platform.withColumnRenamed("platform", PLATFORM_KEY)), PLATFORM_KEY, "left")
        # rows without a known creator are rejected by validation: any shard of their platform will do
        .withColumn(SHARD, F.coalesce(F.col(SHARD), F.col("_whole"), F.col(PLATFORM_KEY)))
        .drop(PLATFORM_KEY, CREATOR_KEY, "_whole")
    )


def score_shards(routed: DataFrame, plan: pd.DataFrame, *, inputs: ShardInputs) -> DataFrame:
    """Every shard's outputs stacked (``OUTPUT_FIELDS``): one shard per Python worker call."""
    if plan[SHARD].nunique() <= 1:  # the shard is the window: its detectors measure chance against it
        return routed.groupBy(SHARD).applyInPandas(lambda raw: score_shard(raw, inputs=inputs), output_ddl())
    split = plan.loc[plan["creator_id"] != "", SHARD].unique().tolist()
    if split:  # accounts never cross platforms: only a split platform's span shards
        pools, verdicts, creators = models_per_platform(routed, split, inputs=inputs)
        if RING not in inputs.scorer.params.disabled:
            rings = rings_per_platform(routed, split, inputs=inputs)
            verdicts = {p: {**v, **({RING: rings[p]} if p in rings else {})} for p, v in verdicts.items()}
        devices = device_accounts(routed, split, inputs=inputs)
        inputs = replace(inputs, pools=pools, verdicts=verdicts, creators=creators, devices=devices)
    # after the pools: the IP statistics count per audience community, a split platform's whole
    chance = window_chance_per_shard(routed, inputs=inputs).persist()
    joined = chance
    if split:
        spread = window_spread_per_shard(routed, chance, inputs=inputs)
        joined = chance.unionByName(spread, allowMissingColumns=True)

    def score(raw: pd.DataFrame, window: pd.DataFrame) -> pd.DataFrame:
        return score_shard(raw, inputs=inputs, chance=_joined_chance(window))

    return routed.groupBy(SHARD).cogroup(joined.groupBy(SHARD)).applyInPandas(score, output_ddl())


def _joined_chance(window: pd.DataFrame) -> WindowChance | None:
    """A shard's joined rows (window statistics and spreading evidence) as the scorer takes them."""
    if "detector" not in window:  # whole platforms only: an account's engagements are all in its shard
        return window_chance(window) if len(window) else None
    is_spread = window["detector"].notna()
    statistics = window.loc[window["statistic"].notna(), list(CHANCE_COLUMNS)]
    if not len(statistics):
        return None
    spread = window.loc[is_spread, list(SPREAD_COLUMNS)].reset_index(drop=True)
    is_ip, is_posts = window["ip"].notna(), window["posts"].notna()
    seller_ips = SellerIpEvidence(
        ips=window.loc[is_ip, ["platform", "ip", "caught", "accounts", "strongest"]].reset_index(drop=True),
        posts=window.loc[is_posts, ["platform", "user_id", "posts"]].reset_index(drop=True),
    )
    return replace(window_chance(statistics), spread=spread, seller_ips=seller_ips)


def window_spread_per_shard(routed: DataFrame, chance: DataFrame, *, inputs: ShardInputs) -> DataFrame:
    """The window's spreading evidence of the accounts each shard holds, keyed by ``SHARD``.

    A first scoring pass runs every shard's detectors (against the joined window
    statistics) and gives each account's caught and total engagements and its
    strongest caught score per spreading detector (``shard_spread``); Spark adds
    the counts and keeps the strongest score per account over the shards, and joins
    back to each shard the accounts it holds that were caught somewhere. The second
    pass spreads with these (``detectors.spread.spread_to_accounts``), as the single
    process spreads with the whole window's.
    """
    from pyspark.sql import functions as F

    def part(raw: pd.DataFrame, statistics: pd.DataFrame) -> pd.DataFrame:
        joined = window_chance(statistics) if len(statistics) else None
        return shard_spread(raw, inputs=inputs, chance=joined)

    parts = routed.groupBy(SHARD).cogroup(chance.groupBy(SHARD)).applyInPandas(part, _SPREAD_DDL).persist()
    spreading = parts.filter(F.col("detector").isNotNull())
    combined = (
        spreading.groupBy("detector", "user_id")
        .agg(
            F.sum("caught").alias("caught"),
            F.sum("total").alias("total"),
            F.max("strongest").alias("strongest"),
            # the sentence of the strongest catch's group (on a tie, the greatest sentence)
            F.max_by("evidence", F.struct("strongest", "evidence")).alias("evidence"),
        )
        .filter(F.col("caught") > 0)
    )
    spread = spreading.select(SHARD, "detector", "user_id").join(combined, ["detector", "user_id"])
    return spread.unionByName(
        window_seller_ips(parts.filter(F.col("detector").isNull())), allowMissingColumns=True
    )


def window_seller_ips(parts: DataFrame) -> DataFrame:
    """The window's seller-IP evidence (``detectors.seller_ips.SellerIpEvidence``) of the addresses and
    accounts that span shards, keyed by the ``SHARD`` that holds them.

    From the shards' parts (``ip_part``): per (platform, ip) the distinct accounts, the caught ones
    (caught in any shard) and their strongest score, for the addresses some account was caught
    through; per (platform, account) its distinct posts added up (a post is in one shard).
    """
    from pyspark.sql import functions as F

    through = parts.filter(F.col("ip").isNotNull())
    spans = through.groupBy("platform", "ip").agg(F.countDistinct(SHARD).alias("_shards"))
    per_ip = (
        through.groupBy("platform", "ip", "user_id")
        .agg(F.max("caught").alias("caught"), F.max("strongest").alias("strongest"))
        .groupBy("platform", "ip")
        .agg(
            F.sum("caught").alias("caught"),
            F.count("*").alias("accounts"),
            F.max("strongest").alias("strongest"),
        )
        .filter(F.col("caught") > 0)
        .join(spans.filter(F.col("_shards") > 1).select("platform", "ip"), ["platform", "ip"])
    )
    ips = through.select(SHARD, "platform", "ip").distinct().join(per_ip, ["platform", "ip"])
    own = parts.filter(F.col("ip").isNull())
    per_account = (
        own.groupBy("platform", "user_id")
        .agg(F.sum("posts").alias("posts"), F.count("*").alias("_shards"))
        .filter(F.col("_shards") > 1)
        .drop("_shards")
    )
    posts = own.select(SHARD, "platform", "user_id").join(per_account, ["platform", "user_id"])
    return ips.unionByName(posts, allowMissingColumns=True)


def window_chance_per_shard(routed: DataFrame, *, inputs: ShardInputs) -> DataFrame:
    """The whole window's statistics (``detectors.chance``) each shard needs, keyed by ``SHARD``.

    A first pass computes every shard's part (``shard_chance``); Spark combines the parts
    per statistic and key as ``STATISTICS`` says (sum, or the least for the grid origin),
    and joins back to each shard only the keys it holds (the IPs it saw, and the window's
    totals). A shard plan never splits a post, so the combination is the window's own.
    """
    from pyspark.sql import functions as F

    parts = routed.groupBy(SHARD).applyInPandas(lambda raw: shard_chance(raw, inputs=inputs), _CHANCE_DDL)
    parts = parts.persist()
    least = [name for name, how in STATISTICS.items() if how == "min"]
    combined = parts.groupBy("statistic", "key").agg(
        F.when(F.col("statistic").isin(least), F.min("value")).otherwise(F.sum("value")).alias("value")
    )
    # an IP's pairs in every community (its reach, ``detectors.infra``), not only in the shard's
    joined_by = F.when(
        F.col("statistic") == "ip_pairs_per_key", F.split("key", KEY_SEPARATOR).getItem(0)
    ).otherwise(F.col("key"))
    everyone = F.col("statistic").isin(list(EVERY_SHARD))  # per community: every shard reads all
    held = parts.filter(~everyone).select(SHARD, "statistic", joined_by.alias("joined_by")).distinct()
    per_key = held.join(
        combined.filter(~everyone).withColumn("joined_by", joined_by), ["statistic", "joined_by"]
    )
    totals = parts.select(SHARD).distinct().crossJoin(combined.filter(everyone))
    return per_key.select(SHARD, *CHANCE_COLUMNS).unionByName(totals.select(SHARD, *CHANCE_COLUMNS))


def models_per_platform(
    routed: DataFrame, split: list[str], *, inputs: ShardInputs
) -> tuple[dict[str, PoolChance], dict[str, dict[str, PlatformVerdicts]], pd.Index]:
    """The pool test's chance model of each platform split along its graph, the verdicts of the
    detectors that run per platform (dense blocks, pools) on the whole platform's graph, and the
    split platforms' creators.

    Each of the ``split`` shards gives its distinct (account, post, creator) rows (``shard_pairs``);
    one worker per platform finds the platform's audiences, the pool test's chance inputs and runs the
    per-platform detectors on the platform (``platform_models``); every shard of the platform is scored
    against the model and reads its engagements' dense-block and pool verdicts from the platform's,
    as the platform is scored on one machine.
    The rows are a platform's engagement graph, not its events: a few id columns per distinct
    (account, post).
    """
    from pyspark.sql import functions as F

    pairs = (
        routed.filter(F.col(SHARD).isin(split))
        .groupBy(SHARD)
        .applyInPandas(lambda raw: shard_pairs(raw, inputs=inputs), _PAIR_DDL)
    )
    schema = "platform string, model binary, verdicts binary, creators binary"
    models = pairs.groupBy("platform").applyInPandas(
        lambda rows: platform_models(rows, inputs=inputs), schema
    )
    found = models.collect()
    pools = {str(row["platform"]): pickle.loads(row["model"]) for row in found if row["model"] is not None}
    verdicts = {str(row["platform"]): pickle.loads(row["verdicts"]) for row in found}
    creators = [pickle.loads(row["creators"]) for row in found]
    return pools, verdicts, pd.Index([], dtype="str").append(creators).unique()


def device_accounts(routed: DataFrame, split: list[str], *, inputs: ShardInputs) -> pd.Series:
    """Per device of the ``split`` shards that more accounts than a household share: its accounts
    over the window, its (device, account) pairs unioned over the shards (``shard_devices``).

    An account engaging creators in two shards is one account on its device, not two; a device
    of at most ``household_accounts`` accounts is never a farm, so only the others come back.
    """
    from pyspark.sql import functions as F

    household = inputs.scorer.params.detectors.device_farm.household_accounts
    counted = (
        routed.filter(F.col(SHARD).isin(split))
        .groupBy(SHARD)
        .applyInPandas(lambda raw: shard_devices(raw, inputs=inputs), "device_id string, user_id string")
        .distinct()
        .groupBy("device_id")
        .count()
        .filter(F.col("count") > household)
        .toPandas()
    )
    return pd.Series(
        counted["count"].to_numpy(dtype="int64"), index=pd.Index(counted["device_id"], dtype="str")
    )


def known_per_window(
    routed: DataFrame, *, inputs: ShardInputs, entries: pd.DataFrame, half_life_days: float
) -> pd.DataFrame | None:
    """What a reputation file's ``entries`` tell this window (``detectors.reputation.known_for``).

    The window's first valid ``ts`` and its context's (history's, when earlier) come from one
    pass over the shards (``shard_bounds``), as the single process reads them from the clean
    events; the known subjects are joined into every shard (a reputation is small).
    """
    from pyspark.sql import functions as F

    bounds = (
        routed.groupBy(SHARD)
        .applyInPandas(lambda raw: shard_bounds(raw, inputs=inputs), _BOUNDS_DDL)
        .agg(F.min("window_us").alias("window_us"), F.min("history_us").alias("history_us"))
        .toPandas()
    )
    window_us, history_us = bounds["window_us"].iloc[0], bounds["history_us"].iloc[0]
    if pd.isna(window_us):
        return None
    start = pd.Timestamp(int(window_us), unit="us", tz="UTC")
    context = start if pd.isna(history_us) else min(start, pd.Timestamp(int(history_us), unit="us", tz="UTC"))
    return known_for(entries, start=start, context_start=context, half_life_days=half_life_days)


def with_history_rows(spark: SparkSession, window: DataFrame, history: tuple[str, ...]) -> DataFrame:
    """The window's numbered rows and every history source's, told apart by ``SOURCE``.

    A column the sources read as different types is read as text in all of them, for
    validation to coerce (a Parquet window beside CSV history).
    """
    from pyspark.sql import functions as F

    frames = [window.withColumn(SOURCE, F.lit(-1))]
    for k, path in enumerate(history):
        rows = read_numbered(spark, path)
        # whole-file problems stop here, as for the window's events
        clean_events(rows.limit(1000).toPandas().drop(columns=[ROW]), source=path)
        frames.append(rows.withColumn(SOURCE, F.lit(k)))
    types: dict[str, set[str]] = {}
    for frame in frames:
        for name, kind in frame.dtypes:
            types.setdefault(name, set()).add(kind)
    mixed = [name for name, kinds in types.items() if len(kinds) > 1]
    union = frames[0].withColumns({c: F.col(c).cast("string") for c in mixed if c in frames[0].columns})
    for frame in frames[1:]:
        text = frame.withColumns({c: F.col(c).cast("string") for c in mixed if c in frame.columns})
        union = union.unionByName(text, allowMissingColumns=True)
    return union


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
    tables = {name: _small_table(spark, path, clean) for name, (path, clean) in small.items() if path}
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
    keyed = _keyed(with_history_rows(spark, raw, inputs.history) if inputs.history else raw)
    if plan is None:
        plan = plan_shards(keyed, budget=shard_budget)
    routed = route(keyed, plan)
    if reputation is not None:
        if half_life_days is None:
            raise ValueError("a reputation file needs the reputation's half-life")
        read = known_per_window(routed, inputs=inputs, entries=reputation, half_life_days=half_life_days)
        inputs = replace(inputs, reputation=read)
    # read once per output; on local disk, as a 30M window cached in the heap ran it out (docs/spark.md)
    stacked = score_shards(routed, plan, inputs=inputs).persist(StorageLevel.DISK_ONLY)
    extra = [rejects for _, rejects in tables.values() if len(rejects)]
    joined = pd.concat(extra, ignore_index=True) if extra else empty_rejects()
    rows = _write(outputs(stacked, joined, history=bool(inputs.history)), stacked, out=out)
    rows["rejects"] += len(joined)
    stacked.unpersist()
    sizes = plan.groupby(SHARD)["events"].sum().sort_values(ascending=False)
    shards = {str(k): int(v) for k, v in sizes.items()}
    return SparkRun(out=out, shards=shards, rows=rows, seconds=time.perf_counter() - started)


def _write(written: dict[str, DataFrame], stacked: DataFrame, *, out: str) -> dict[str, int]:
    """Write the outputs (engagements and posts partitioned by shard); rows scored per kind."""
    for kind, frame in written.items():
        writer = frame.write.mode("overwrite")
        if kind in PARTITIONED:
            writer = writer.partitionBy(SHARD)
        writer.parquet(f"{out.rstrip('/')}/{kind}.parquet")
    counted = stacked.groupBy("kind").count().toPandas().set_index("kind")["count"]
    return {kind: int(counted.get(kind, 0)) for kind in written}
