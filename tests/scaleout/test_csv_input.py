"""A CSV window through the Spark engine in this process: text coerced, rejects numbered as in the file."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from detectors.model import WindowScorer
from scaleout.job import run_spark, spark_session
from serving.batch import run_batch
from tests.factories import raw_events

pytestmark = pytest.mark.slow


def test_csv_events_score_as_on_one_machine(tmp_path: Path) -> None:
    raw = pd.concat(
        [
            raw_events(120, post_id="p1", creator_id="k1"),
            raw_events(80, platform="Kuaishou", post_id="p2", creator_id="k2"),
        ],
        ignore_index=True,
    )
    raw["event_id"] = [f"e{i}" for i in range(len(raw))]
    raw.loc[[3, 150], "ts"] = "not a time"
    raw.loc[7, "user_followers"] = -4
    raw = pd.concat([raw, raw.iloc[[10, 11]]], ignore_index=True)  # two replays
    raw.to_csv(tmp_path / "events.csv", index=False)
    local = run_batch(events_path=tmp_path / "events.csv", out_dir=tmp_path / "local", scorer=WindowScorer())
    spark = spark_session("local[1]")
    run = run_spark(spark, events=str(tmp_path / "events.csv"), out=str(tmp_path / "spark"), shard_budget=150)
    assert set(run.shards) == {"douyin", "kuaishou"}
    rejects = pd.read_parquet(tmp_path / "spark" / "rejects.parquet")
    key = ["source_row", "column", "reason"]
    assert (
        rejects.sort_values(key)[key].to_numpy().tolist()
        == local.rejects.sort_values(key)[key].to_numpy().tolist()
    )
    assert sorted(rejects["source_row"]) == [4, 8, 151]
    engagements = pd.read_parquet(tmp_path / "spark" / "engagements.parquet").set_index("event_id")
    expected = local.scored.engagements.set_index("event_id")
    assert len(engagements) == len(expected) == len(raw) - 2 - 3
    assert engagements.loc["e10", "copies"] == 2
    both = expected[["invalid", "copies"]].join(engagements[["invalid", "copies"]].add_suffix("_spark"))
    assert (both["copies"] == both["copies_spark"]).all()
    assert (both["invalid"] == both["invalid_spark"]).all()
