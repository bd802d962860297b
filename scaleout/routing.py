"""Routing a window's rows to shards on Spark: the shard plan's keys, the plan, each row's ``SHARD``.

Spark counts events per platform and, for a platform over the budget, its (creator, user)
edges; ``scaleout.shards`` plans the shards (pure pandas, one worker per split platform).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from scaleout.shard_scoring import SHARD
from scaleout.shards import EDGE_COLUMNS, NO_PLATFORM, PLAN_COLUMNS, pack_platforms, plan_platform

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

PLATFORM_KEY = "_platform"
CREATOR_KEY = "_creator"
_PLAN_DDL = "platform string, creator_id string, shard string"


def with_plan_keys(events: DataFrame) -> DataFrame:
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
