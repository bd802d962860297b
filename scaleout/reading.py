"""Reading contract files on Spark: every row numbered within its file, history beside the window.

Rows keep their 1-based data row in the source file (``ROW``) so that a shard's rejects
name the row as the single-process reader does; posts and campaigns (a period has few)
are cleaned on the driver.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd

from features.contract import ContractError, clean_events
from scaleout.shard_scoring import ROW, SOURCE

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


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


def small_table(spark: SparkSession, path: str, clean: Any) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A posts or campaigns file, cleaned on the driver (a period has few): clean frame and rejects."""
    raw = read_numbered(spark, path).toPandas().sort_values(ROW, ignore_index=True)
    cleaned = clean(raw.drop(columns=[ROW]), source=path)
    return cleaned.frame, cleaned.rejects


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
