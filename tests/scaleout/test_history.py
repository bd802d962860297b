"""History and reputation on Spark: joined per shard, the same answer as the single process."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import run_cli
from training.simulator import SimConfig, simulate, write_simulated_set

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

WEEK = pd.Timedelta(days=7)
BAD_HISTORY_ROWS = {3: ("user_id", ""), 100: ("ts", "not a time")}  # 0-based row: column, value


def _multi_week(root: Path) -> int:
    """A multi-week world: its last week the window (Parquet), the weeks before as history (CSV, with
    two bad rows), and a reputation file of reviews before the window (sellers and honest accounts;
    one bad row).
    Returns the largest platform's events, window and history."""
    sim = simulate(SimConfig(seed=3, scale=0.65, multi_week=True))
    write_simulated_set(sim, root / "sim")
    events = pd.read_parquet(root / "sim" / "events.parquet")
    end = events["ts"].max()
    window = events[events["ts"] > end - WEEK]
    window.to_parquet(root / "window.parquet", index=False)
    history = events[events["ts"] <= end - WEEK].reset_index(drop=True).astype({"ts": "str"})
    for row, (column, value) in BAD_HISTORY_ROWS.items():
        history.loc[row, column] = value
    history.to_csv(root / "history.csv", index=False)
    truth = sim.truth_events.set_index("event_id")["invalid"]
    bought = window["event_id"].map(truth).fillna(False).astype(bool)
    sellers = sorted(set(window.loc[bought, "user_id"].astype(str)))[:200]
    honest = sorted(set(window.loc[~bought, "user_id"].astype(str)) - set(sellers))[:50]
    pd.DataFrame(
        {
            "subject_kind": "account",
            "subject_id": sellers + honest + ["u-unknown"],
            "platform": "",
            "state": ["confirmed"] * (len(sellers) + len(honest)) + ["maybe"],  # the last row is a reject
            "established_at": (end - WEEK).isoformat(),
            "source_kind": "case",
            "source_id": "review-1",
            "detail": "",
        }
    ).to_csv(root / "reputation.csv", index=False)
    platforms = pd.concat([window["platform"], history["platform"]]).astype("str").str.strip().str.lower()
    return int(platforms.value_counts().max())


@pytest.fixture(scope="module")
def scored(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The last week scored with the weeks before as history and a reputation file, by both engines.

    Spark's shard budget is the largest platform's events (window and history): whole platforms.
    """
    root = tmp_path_factory.mktemp("history")
    largest = _multi_week(root)
    inputs = ["--events", root / "window.parquet", "--history", root / "history.csv"]
    inputs += ["--reputation", root / "reputation.csv", "--posts", root / "sim" / "posts.parquet"]
    inputs += ["--campaigns", root / "sim" / "campaigns.parquet"]
    run_cli("score", *inputs, "--out", root / "local")
    run_cli(
        "score", *inputs, "--out", root / "spark", "--engine", "spark", "--master", "local[2]",
        "--shard-budget", str(largest),
    )  # fmt: skip
    return {"local": root / "local", "spark": root / "spark", "root": root}


def _both(scored: dict[str, Path], name: str, key: str) -> pd.DataFrame:
    local = pd.read_parquet(scored["local"] / f"{name}.parquet")
    spark = pd.read_parquet(scored["spark"] / f"{name}.parquet")
    assert len(local) == len(spark)
    return local.merge(spark, on=key, suffixes=("", "_spark"), validate="one_to_one")


def test_history_joined_per_shard_gives_the_single_process_verdicts(scored: dict[str, Path]) -> None:
    both = _both(scored, "engagements", "event_id")
    assert both["shard"].astype("str").nunique() >= 2  # more than one shard, each of whole platforms
    flags = (both["invalid"] == both["invalid_spark"]).mean()
    assert flags >= 0.999, f"invalid flags agree on {flags:.4%} of events"
    posts = _both(scored, "posts", "post_id")
    decisions = (posts["decision"] == posts["decision_spark"]).mean()
    assert decisions >= 0.995, f"post decisions agree on {decisions:.4%} of posts"


def test_outputs_cover_only_the_window_and_say_what_history_added(scored: dict[str, Path]) -> None:
    window = pd.read_parquet(scored["root"] / "window.parquet", columns=["event_id"])
    spark = pd.read_parquet(scored["spark"] / "engagements.parquet")
    assert set(spark["event_id"]) == set(window["event_id"])
    with_history = spark["evidence"].astype("str").str.contains("with history: the account engaged")
    assert with_history.sum() > 0


def test_the_reputation_file_is_read_as_known_seller_evidence(scored: dict[str, Path]) -> None:
    both = _both(scored, "engagements", "event_id")
    known = (both["reason_spark"] == "known_seller").sum()
    assert known > 0 and known == (both["reason"] == "known_seller").sum()


def test_history_rejects_name_the_history_file_and_row(scored: dict[str, Path]) -> None:
    rejects = pd.read_parquet(scored["spark"] / "history_rejects.parquet")
    assert sorted(rejects["source_row"]) == sorted(row + 1 for row in BAD_HISTORY_ROWS)
    assert set(rejects["column"]) == {column for column, _ in BAD_HISTORY_ROWS.values()}
    assert set(rejects["source_file"]) == {str(scored["root"] / "history.csv")}
    assert pd.read_parquet(scored["spark"] / "rejects.parquet").empty


def test_reputation_rejects_are_written_as_the_single_process_writes_them(scored: dict[str, Path]) -> None:
    local = pd.read_parquet(scored["local"] / "reputation_rejects.parquet")
    spark = pd.read_parquet(scored["spark"] / "reputation_rejects.parquet")
    assert len(local) == 1 and "state" in set(local["column"])
    assert spark.astype("string").to_dict("list") == local.astype("string").to_dict("list")
