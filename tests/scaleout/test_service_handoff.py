"""The service hands a large detection run to Spark and settles from its verdicts as from its own."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pytest

from detectors.model import WindowScorer
from detectors.reputation import CONFIRMED, known_subjects
from features.contract import clean_campaigns, clean_events
from serving.spark_handoff import SparkHandoff
from tests.serving.conftest import make_api
from tests.serving.test_api import PERIOD, _load
from training.simulator import SimConfig, SimulatedSet, simulate

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

CAMPAIGNS = ("cmp002", "cmp003")
WEEK = pd.Timedelta(days=7)
SPARK = {
    "spark_master": "local[1]",
    "spark_from_events": 1,
    "spark_submit": (sys.executable, "-m", "cpeguard.spark_submit"),
}


running_api = contextmanager(make_api)


@pytest.fixture(scope="module")
def sim() -> SimulatedSet:
    """The service tests' small set (about 8k events)."""
    return simulate(SimConfig(seed=3, scale=0.05))


def _run_and_settle(home: Path, sim: SimulatedSet, **config: object) -> tuple[dict, pd.DataFrame, list[dict]]:
    """Load two campaigns, run detection over the period, settle both: run, verdicts, settlements."""
    with running_api(home, None, **config) as api:
        for campaign in CAMPAIGNS:
            _load(api, sim, campaign)
        run = api.client.post("/v1/detections", json=PERIOD, headers=api.billing).json()
        verdicts = pd.read_parquet(api.config.runs_dir / run["run_id"] / "engagements.parquet")
        settled = [
            api.client.post(
                "/v1/settlements",
                json={"campaign_id": campaign, **PERIOD},
                headers={**api.billing, "Idempotency-Key": f"k-{campaign}"},
            ).json()
            for campaign in CAMPAIGNS
        ]
    return run, verdicts, settled


def test_a_run_over_the_threshold_is_scored_on_spark_and_settles_alike(
    tmp_path: Path, sim: SimulatedSet
) -> None:
    run, verdicts, settled = _run_and_settle(tmp_path / "spark", sim, **SPARK)
    assert run["status"] == "done", run
    assert (tmp_path / "spark" / "runs" / run["run_id"] / "spark" / "out" / "engagements.parquet").is_dir()
    local_run, local_verdicts, local_settled = _run_and_settle(tmp_path / "local", sim)
    assert local_run["status"] == "done" and len(verdicts) == len(local_verdicts)
    both = local_verdicts.merge(verdicts, on="event_id", suffixes=("", "_spark"))
    assert (both["invalid"] == both["invalid_spark"]).mean() >= 0.999
    assert (both["ts"] == both["ts_spark"]).all()
    for spark_settlement, local_settlement in zip(settled, local_settled, strict=True):
        assert spark_settlement["detection_run_id"] == run["run_id"]
        spark_lines = pd.DataFrame(spark_settlement["posts"]).set_index("post_id")["decision"]
        local_lines = pd.DataFrame(local_settlement["posts"]).set_index("post_id")["decision"]
        assert (spark_lines.sort_index() == local_lines.sort_index()).mean() >= 0.995


def test_a_failed_spark_run_fails_the_run(tmp_path: Path, sim: SimulatedSet) -> None:
    with running_api(tmp_path / "broken", None, **{**SPARK, "spark_master": "no-such-master://x"}) as api:
        _load(api, sim, CAMPAIGNS[0])
        run = api.client.post("/v1/detections", json=PERIOD, headers=api.billing).json()
    assert run["status"] == "failed" and "Spark run failed" in run["error"], run


def test_a_handed_off_run_reads_history_and_known_subjects_as_the_service_does(tmp_path: Path) -> None:
    """The last week of a multi-week world with the week before as context and reviewed accounts
    as reputation: the Spark run decides as the service's own scorer does with both."""
    multi = simulate(SimConfig(seed=3, scale=0.4, multi_week=True))
    end = multi.events["ts"].max()
    is_window = (multi.events["ts"] > end - WEEK).to_numpy()
    is_history = ~is_window & (multi.events["ts"] > end - 2 * WEEK).to_numpy()
    raw = multi.events.loc[is_window].reset_index(drop=True)
    window = clean_events(raw, source="window").frame
    history = clean_events(multi.events.loc[is_history], source="history").frame
    bought = raw["event_id"].map(multi.truth_events.set_index("event_id")["invalid"]).fillna(False)
    accounts = sorted(set(raw.loc[bought.astype(bool).to_numpy(), "user_id"].astype(str)))[:100]
    entries = pd.DataFrame(
        {"subject_kind": "account", "subject_id": accounts, "platform": "", "state": CONFIRMED}
    ).assign(established_at=end - WEEK, source_kind="case", source_id="review-1", detail="")
    known = known_subjects(entries, as_of=window["ts"].min(), half_life_days=30.0)
    campaigns = clean_campaigns(multi.campaigns, source="campaigns").frame
    scorer = WindowScorer()
    handoff = SparkHandoff(SPARK["spark_master"], 1, SPARK["spark_submit"])  # type: ignore[arg-type]
    handed = handoff.score(
        raw, window, campaigns=campaigns, scorer=scorer, work=tmp_path, history=history, known=known
    )
    spark = handed.engagements
    local = scorer.score(window, campaigns=campaigns, history=history, reputation=known).engagements
    both = local.merge(spark, on="event_id", suffixes=("", "_spark"), validate="one_to_one")
    assert len(both) == len(local) == len(spark)
    assert (both["invalid"] == both["invalid_spark"]).mean() >= 0.999
    # what waits for review comes back from Spark's files as each shard decided it: its posts' held_amount
    assert both["held"].any() and (both["held"] == both["held_spark"]).mean() >= 0.999
    assert spark["held"].dtype == bool and not (spark["held"] & spark["invalid"]).any()
    waits = (spark["held"] * spark["unit_price"]).groupby(spark["post_id"].astype("str")).sum()
    held_amount = handed.posts.set_index(handed.posts["post_id"].astype("str"))["held_amount"]
    assert (held_amount > 0).any()
    assert waits.reindex(held_amount.index, fill_value=0.0).to_numpy() == pytest.approx(
        held_amount.to_numpy()
    )
    known_seller = (both["reason_spark"].astype(str) == "known_seller").sum()
    assert known_seller > 0 and known_seller == (both["reason"].astype(str) == "known_seller").sum()
    assert both["evidence_spark"].astype(str).str.contains("with history").sum() > 0
