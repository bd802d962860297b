"""The two engines' outputs side by side: a test scores one window with the single process into
``root/local`` and with Spark into ``root/spark``, then compares the engagements both wrote."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


def both_engines(root: Path, columns: list[str], spark_only: tuple[str, ...] = ()) -> pd.DataFrame:
    """One row per event: ``columns`` (with ``event_id``) as the single process wrote them, and again with
    the suffix ``_spark`` as Spark did; ``spark_only`` columns (e.g. ``shard``) are read from Spark alone."""
    local = pd.read_parquet(root / "local" / "engagements.parquet", columns=columns)
    spark = pd.read_parquet(root / "spark" / "engagements.parquet", columns=[*columns, *spark_only])
    return local.merge(spark, on="event_id", suffixes=("", "_spark"), validate="one_to_one")


def assert_same_risks(root: Path, min_risky: int = 100) -> None:
    """Every event's risk the same through both engines, with more than ``min_risky`` events at risk
    (so the test cannot pass on a window where nothing was found)."""
    both = both_engines(root, ["event_id", "risk"])
    assert (both["risk"] > 0).sum() > min_risky
    np.testing.assert_array_equal(both["risk_spark"].to_numpy(), both["risk"].to_numpy())


def two_creator_window(rows: list[tuple[str, str, str]]) -> pd.DataFrame:
    """(user, post, ip) rows on douyin as categories: a post starting with "a" is creator kA's, any other
    kB's (the two creators a shard plan puts in two shards)."""
    users, posts, ips = zip(*rows, strict=True)
    creators = ["kA" if p.startswith("a") else "kB" for p in posts]
    frame = {"platform": "douyin", "user_id": users, "post_id": posts, "creator_id": creators, "ip": ips}
    return pd.DataFrame(frame).astype("category")
