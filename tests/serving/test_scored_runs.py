"""A detection run's window is passed on in memory: settling reads no Parquet back and decides once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from detectors.policy import decide_posts
from serving.api import health
from serving.app import build_services
from serving.config import ServiceConfig
from serving.detection import campaigns_frame, to_decimal
from serving.metrics import Metrics
from serving.registry import start_models
from serving.settlement import decided_in_scoring
from serving.verdicts import RunVerdicts
from tests.serving.conftest import Api
from tests.serving.test_api import PERIOD, _load
from training.simulator import SimulatedSet


def _decided_again(api: Api, run_id: str, campaign_id: str) -> pd.DataFrame:
    """What the settlement decided before scoring's decision was reused: the window read from disk."""
    services = api.client.app.state.services  # type: ignore[attr-defined]
    on_disk = RunVerdicts(pd.read_parquet(api.config.runs_dir / run_id / "engagements.parquet"))
    prices = campaigns_frame([services.db.campaigns.campaign(campaign_id)])
    params = services.detection.params(run_id)
    window = on_disk.window(
        campaign_id,
        pd.Timestamp(PERIOD["period_start"]),
        pd.Timestamp(PERIOD["period_end"]),
        prices=prices,
        default_unit_price=params.policy.default_unit_price,
    )
    return decide_posts(
        window.verdicts,
        price=window.price,
        policy=params.policy,
    )


def test_settling_the_runs_period_reuses_what_scoring_decided(sqlite_api: Api, sim: SimulatedSet) -> None:
    api = sqlite_api
    for campaign in ("cmp002", "cmp003"):
        _load(api, sim, campaign)
    run = api.client.post("/v1/detections", json=PERIOD, headers=api.billing).json()
    assert run["status"] == "done"
    services = api.client.app.state.services  # type: ignore[attr-defined]
    scored = services.detection.scored(run["run_id"])
    assert scored is not None and services.detection.verdicts(run["run_id"]) is scored.verdicts
    for campaign in ("cmp002", "cmp003"):
        indexed = services.settlements.verdict_index.get(run["run_id"], lambda: pd.DataFrame())
        prices = campaigns_frame([services.db.campaigns.campaign(campaign)])
        window = indexed.window(
            campaign,
            pd.Timestamp(PERIOD["period_start"]),
            pd.Timestamp(PERIOD["period_end"]),
            prices=prices,
            default_unit_price=scored.scorer.params.policy.default_unit_price,
        )
        period = (pd.Timestamp(PERIOD["period_start"]), pd.Timestamp(PERIOD["period_end"]))
        reused = decided_in_scoring(
            scored, services.db.runs.run(run["run_id"]), indexed, window, period, prices
        )
        assert reused is not None and len(reused)
        settled = api.client.post(
            "/v1/settlements",
            json={"campaign_id": campaign, **PERIOD},
            headers={**api.billing, "Idempotency-Key": f"k-{campaign}"},
        ).json()
        assert settled["detection_run_id"] == run["run_id"]
        again = _decided_again(api, run["run_id"], campaign).sort_values("post_id")
        lines = pd.DataFrame(settled["posts"]).sort_values("post_id")
        assert lines["post_id"].tolist() == again["post_id"].astype("str").tolist()
        assert lines["decision"].tolist() == again["decision"].astype("str").tolist()
        for column in ("claimed_amount", "payable", "held_amount"):
            assert lines[column].tolist() == [str(to_decimal(v)) for v in again[column]]


def test_a_runs_stored_verdicts_mark_what_waits_for_review(sqlite_api: Api, sim: SimulatedSet) -> None:
    """The run's engagements.parquet keeps ``held`` as scoring decided it: its posts' held_amount."""
    _load(sqlite_api, sim, "cmp001")  # a campaign with a held post
    run = sqlite_api.client.post("/v1/detections", json=PERIOD, headers=sqlite_api.billing).json()
    assert run["status"] == "done"
    services = sqlite_api.client.app.state.services  # type: ignore[attr-defined]
    scored = services.detection.scored(run["run_id"])
    assert scored is not None
    run_dir = sqlite_api.config.runs_dir / run["run_id"]
    verdicts = scored.verdicts
    on_disk = pd.read_parquet(run_dir / "engagements.parquet")
    assert on_disk["held"].dtype == bool and on_disk["held"].tolist() == verdicts["held"].tolist()
    assert not (on_disk["held"] & on_disk["invalid"]).any()
    posts = pd.read_parquet(run_dir / "posts.parquet").set_index("post_id")
    waits = (on_disk["held"] * on_disk["unit_price"]).groupby(on_disk["post_id"]).sum()
    assert (posts["held_amount"] > 0).any()
    assert waits.reindex(posts.index, fill_value=0.0).to_numpy() == pytest.approx(
        posts["held_amount"].to_numpy()
    )


def test_a_run_over_a_period_without_events_writes_empty_outputs_of_the_contract(sqlite_api: Api) -> None:
    run = sqlite_api.client.post("/v1/detections", json=PERIOD, headers=sqlite_api.billing).json()
    assert run["status"] == "done", run
    engagements = pd.read_parquet(sqlite_api.config.runs_dir / run["run_id"] / "engagements.parquet")
    assert len(engagements) == 0 and engagements["held"].dtype == bool and engagements["risk"].dtype == float


def test_readyz_fails_until_a_scorer_is_active(tmp_path: Path) -> None:
    config = ServiceConfig(home=tmp_path / "home")
    executor = ThreadPoolExecutor(max_workers=1)
    services = build_services(config, executor=executor, metrics=Metrics())
    app = FastAPI()
    app.include_router(health.router)
    app.state.services = services
    try:
        with TestClient(app) as client:
            waiting = client.get("/readyz")
            assert waiting.status_code == 503 and waiting.json()["model"] == "unavailable"
            manager = start_models(config, detection=services.detection)
            assert client.get("/readyz").json() == {"database": "ok", "event_store": "ok", "model": "ok"}
            manager.stop()
    finally:
        executor.shutdown()
        services.db.database.engine.dispose()
