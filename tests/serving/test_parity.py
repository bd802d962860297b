"""One scorer, one answer: the service settles a window exactly as `cpeguard score` decides it."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest

from detectors.model import WindowScorer
from serving.batch import run_batch
from tests.serving.conftest import Api, campaign_terms, make_api
from training.simulator import SimConfig, SimulatedSet, simulate, write_simulated_set

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def world() -> SimulatedSet:
    """About 20k events over several campaigns, every scheme and honest oddity on, replays included."""
    return simulate(SimConfig(seed=21, scale=0.2))


def _settle_all(api: Api, sim: SimulatedSet) -> pd.DataFrame:
    """Ingest the whole window, run one detection over it, settle every campaign over it."""
    client = api.client
    for campaign in sim.campaigns["campaign_id"]:
        terms = campaign_terms(sim.campaigns, campaign)
        assert client.put(f"/v1/campaigns/{campaign}", json=terms, headers=api.billing).status_code == 200
    buffer = io.BytesIO()
    sim.events.to_parquet(buffer, index=False)
    files = {"file": ("events.parquet", buffer.getvalue(), "application/octet-stream")}
    assert client.post("/v1/events", files=files, headers=api.billing).status_code == 200
    start = sim.events["ts"].min().floor("D")
    period = {"period_start": start.isoformat(), "period_end": (start + pd.Timedelta(days=400)).isoformat()}
    assert client.post("/v1/detections", json=period, headers=api.billing).status_code == 201
    lines = []
    for campaign in sim.campaigns["campaign_id"]:
        body = {"campaign_id": campaign, **period}
        answer = client.post(
            "/v1/settlements", json=body, headers={**api.billing, "Idempotency-Key": campaign}
        )
        assert answer.status_code == 201, answer.text
        lines += [{"campaign_id": campaign, **line} for line in answer.json()["posts"]]
    return pd.DataFrame(lines)


def test_parity_service_pays_every_post_as_the_batch_does(world: SimulatedSet, tmp_path: Path) -> None:
    # the test registers campaigns with prices in cents (campaign_terms): the batch gets the same
    campaigns = world.campaigns.copy()
    for action in ("like", "favorite", "comment", "share"):
        campaigns[f"price_{action}"] = campaigns[f"price_{action}"].round(2)
    write_simulated_set(world, tmp_path / "sim")
    campaigns.to_parquet(tmp_path / "sim" / "campaigns.parquet", index=False)
    batch = run_batch(
        events_path=tmp_path / "sim" / "events.parquet",
        out_dir=tmp_path / "scored",
        campaigns_path=tmp_path / "sim" / "campaigns.parquet",
        scorer=WindowScorer(),
    ).scored.posts
    for api in make_api(tmp_path / "home", None):
        service = _settle_all(api, world)
    both = batch.assign(post_id=batch["post_id"].astype("str")).merge(
        service, on="post_id", suffixes=("_batch", "_service"), validate="1:1"
    )
    assert len(both) == len(batch) == len(service)
    assert (both["decision_batch"] == both["decision_service"]).all()
    assert (both["claimed_batch"] == both["claimed_service"]).all()
    paid = (both["payable_batch"] - both["payable_service"].astype(float)).abs()
    assert paid.max() < 0.01
    held = (both["held_amount_batch"] - both["held_amount_service"].astype(float)).abs()
    assert held.max() < 0.01
