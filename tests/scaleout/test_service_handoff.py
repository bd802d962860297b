"""The service hands a large detection run to Spark and settles from its verdicts as from its own."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pytest

from tests.serving.conftest import make_api
from tests.serving.test_api import PERIOD, _load
from training.simulator import SimConfig, SimulatedSet, simulate

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

CAMPAIGNS = ("cmp002", "cmp003")
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
