"""The Spark session of a scoring run: a local master's heap, spark-submit's ``--conf`` settings."""

from __future__ import annotations

import os
import re
import sys
import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from features.contract import ContractError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def local_driver_memory(total_bytes: int | None = None) -> str:
    """The JVM heap for a local master: a third of this machine's memory, at least 1 GiB.

    In local mode the JVM is driver and executor; the Python workers that score shards
    live outside it and need the rest.
    """
    if total_bytes is None:
        total_bytes = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return f"{max(1, total_bytes // 3 // 2**30)}g"


def result_limit(driver_memory: str) -> str | None:
    """The most one job may bring to the driver (``spark.driver.maxResultSize``): half the driver's
    heap (``driver_memory`` as Spark writes it: ``6g``, ``512m``, a bare number of MiB), None when
    that cannot be read. The driver collects the window's account features for the anomaly model's
    one fit: one row per account, over Spark's default 1 GiB at 30M events (docs/spark.md)."""
    found = re.fullmatch(r"\s*(\d+)\s*([kmgt]?)b?\s*", driver_memory.lower())
    if found is None:
        return None
    mib = int(found.group(1)) * {"": 1.0, "k": 1 / 1024, "m": 1.0, "g": 1024.0, "t": 2.0**20}[found.group(2)]
    return f"{max(1, int(mib // 2))}m"


def parse_spark_conf(pairs: Sequence[str], *, option: str = "--spark-conf") -> dict[str, str]:
    """``KEY=VALUE`` settings (as spark-submit's ``--conf`` takes them) as a mapping."""
    conf: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise ContractError(f"{option} {pair!r}: expected KEY=VALUE, e.g. spark.driver.memory=8g")
        conf[key.strip()] = value.strip()
    return conf


def session_settings(master: str | None, conf: Mapping[str, str] | None = None) -> dict[str, str]:
    """The settings ``spark_session`` gives Spark: UTC session time, Arrow; on a local master the
    JVM heap (``local_driver_memory``); ``conf`` last (spark-submit's ``--conf``); with a known heap
    the most the driver may collect in one job (``result_limit``) unless ``conf`` names its own."""
    settings = {
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.ui.showConsoleProgress": "false",
    }
    if master is not None and master.startswith("local"):
        # the JVM is driver and executor: its default 1 GiB heap spills a window to disk
        settings["spark.driver.memory"] = local_driver_memory()
    settings = {**settings, **(conf or {})}
    limit = result_limit(settings["spark.driver.memory"]) if "spark.driver.memory" in settings else None
    return settings if limit is None else {"spark.driver.maxResultSize": limit, **settings}


def spark_session(
    master: str | None = None,
    *,
    conf: Mapping[str, str] | None = None,
    app_name: str = "cpeguard-score",
) -> SparkSession:
    """A Spark session for scoring (``session_settings``), with this interpreter for local workers;
    a session already running keeps its heap and limits."""
    from pyspark.sql import SparkSession

    # PySpark 4 warns at every pandas conversion that it is not yet tested with pandas 3
    warnings.filterwarnings(
        "ignore", message="PySpark does not yet fully support pandas", category=FutureWarning
    )
    builder = SparkSession.builder.appName(app_name)
    if master is not None:
        builder = builder.master(master)
    if master is not None and master.startswith("local"):
        # local workers run this interpreter (and its PYTHONPATH), not whatever `python` is first
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    for key, value in session_settings(master, conf).items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark
