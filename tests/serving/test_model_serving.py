"""The service on the registry's champion: loaded at start, reloaded by an admin, named on settlements."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from detectors.params import ScoringParams
from serving.detection import shadow_differences
from serving.io import event_rows
from tests.serving.conftest import Api, campaign_terms, make_api
from tests.training.weekly import fast_config, store_uri
from training.pipeline import TrainingResult, run
from training.simulator import SimulatedSet
from training.week_inputs import WeekData

PERIOD = {"period_start": "2025-03-01T00:00:00Z", "period_end": "2025-04-10T00:00:00Z"}


def _cold_week(week: str) -> WeekData:
    return WeekData(week=week, events=pd.DataFrame(), source="empty test store")


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, TrainingResult]:
    """A store whose champion is version 1."""
    uri = store_uri(tmp_path_factory.mktemp("mlruns"))
    first = run(fast_config(uri), _cold_week("2026-W40"))
    assert first.alias == "champion"
    return uri, first


def _load(api: Api, sim: SimulatedSet, campaign: str) -> None:
    terms = campaign_terms(sim.campaigns, campaign)
    assert api.client.put(f"/v1/campaigns/{campaign}", json=terms, headers=api.billing).status_code == 200
    events = sim.events[sim.events["campaign_id"] == campaign]
    posted = api.client.post("/v1/events", json={"events": event_rows(events)}, headers=api.billing)
    assert posted.status_code == 200, posted.text


def _settle(api: Api, campaign: str, key: str) -> Any:
    response = api.client.post(
        "/v1/settlements",
        json={"campaign_id": campaign, **PERIOD},
        headers={**api.billing, "Idempotency-Key": key},
    )
    assert response.status_code == 201, response.text
    return response.json()


def test_service_serves_the_champion_and_picks_up_a_new_one_on_reload(
    tmp_path: Path, sim: SimulatedSet, registry: tuple[str, TrainingResult]
) -> None:
    uri, first = registry
    for api in make_api(tmp_path / "home", None, tracking_uri=uri, model_poll_s=0):
        models = api.client.get("/v1/models", headers=api.billing).json()
        assert models["champion"] == f"cpeguard-scorer/{first.version}" and models["source"] == "registry"
        _load(api, sim, "cmp001")
        _load(api, sim, "cmp002")
        settled = _settle(api, "cmp001", "k1")
        assert settled["model_version"] == f"cpeguard-scorer/{first.version}"
        run_id = settled["detection_run_id"]
        detection = api.client.get(f"/v1/detections/{run_id}", headers=api.billing).json()
        assert detection["model_version"] == settled["model_version"]

        second = run(fast_config(uri), _cold_week("2026-W41"))
        assert second.alias == "champion", second.gate.reason
        # the alias moved, but the service polls only when asked to (model_poll_s=0 here; 60 s by default)
        assert (
            api.client.get("/v1/models", headers=api.billing).json()["champion"] == settled["model_version"]
        )
        assert api.client.post("/v1/models/reload", headers=api.billing).status_code == 403
        reloaded = api.client.post("/v1/models/reload", headers=api.admin)
        assert reloaded.status_code == 200, reloaded.text
        assert reloaded.json()["champion"] == f"cpeguard-scorer/{second.version}"

        audit = api.client.get("/v1/audit", params={"target": "cpeguard-scorer"}, headers=api.reviewer).json()
        # the load at start (by the system) and the admin's reload
        assert [row["action"] for row in audit] == ["models.reload", "models.reload"]
        by_admin = [row for row in audit if row["actor"] != "system"]
        assert [row["detail"]["champion"] for row in by_admin] == [f"cpeguard-scorer/{second.version}"]

        later = _settle(api, "cmp002", "k2")
        assert later["model_version"] == f"cpeguard-scorer/{second.version}"
        assert later["detection_run_id"] != run_id  # the old model's run is not reused


def test_challenger_scores_in_the_shadow_and_never_decides(
    tmp_path: Path, sim: SimulatedSet, registry: tuple[str, TrainingResult]
) -> None:
    uri, _ = registry
    worse = run(
        fast_config(uri, params=ScoringParams(disabled=frozenset({"ip_farm"}))), _cold_week("2026-W42")
    )
    assert worse.alias == "challenger"
    for api in make_api(tmp_path / "home", None, tracking_uri=uri, model_poll_s=0):
        models = api.client.get("/v1/models", headers=api.reviewer).json()
        assert models["challenger"] == f"cpeguard-scorer/{worse.version}"
        assert models["champion"] != models["challenger"]
        _load(api, sim, "cmp001")
        done = api.client.post("/v1/detections", json=PERIOD, headers=api.billing).json()
        assert done["status"] == "done" and done["model_version"] == models["champion"]
        shadow = api.config.runs_dir / done["run_id"] / "shadow.parquet"
        deadline = time.monotonic() + 60
        while not shadow.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        diff = pd.read_parquet(shadow)  # published by a rename: never seen half-written
        assert not list(shadow.parent.glob(".*.tmp"))
        assert list(diff.columns) == ["creator_id", "champion_payable", "challenger_payable", "change"]
        assert len(diff) and diff["change"].abs().max() > 0  # without ip_farm it would pay click farms


def test_service_follows_the_champion_alias_when_polling(
    tmp_path: Path, registry: tuple[str, TrainingResult]
) -> None:
    uri, _ = registry
    for api in make_api(tmp_path / "home", None, tracking_uri=uri, model_poll_s=0.2):
        before = api.client.get("/v1/models", headers=api.billing).json()["champion"]
        moved = run(fast_config(uri), _cold_week("2026-W43"))
        assert moved.alias == "champion", moved.gate.reason
        wanted = f"cpeguard-scorer/{moved.version}"
        deadline = time.monotonic() + 30
        now = before
        while now != wanted and time.monotonic() < deadline:
            time.sleep(0.2)
            now = api.client.get("/v1/models", headers=api.billing).json()["champion"]
        assert before != wanted and now == wanted


def test_without_a_registry_the_service_scores_cold(tmp_path: Path) -> None:
    missing = f"sqlite:///{tmp_path / 'nowhere' / 'mlflow.db'}"
    for api in make_api(tmp_path / "home", None, tracking_uri=missing):
        models = api.client.get("/v1/models", headers=api.billing).json()
        assert models == {
            "champion": "window-scorer-0.1.0",
            "challenger": None,
            "rules_version": models["rules_version"],
            "source": "cold",
        }
        assert api.client.post("/v1/models/reload", headers=api.admin).json()["source"] == "cold"
    assert not (tmp_path / "nowhere").exists()


def test_shadow_differences_are_per_creator_largest_first() -> None:
    champion = pd.DataFrame({"creator_id": ["a", "a", "b", "c"], "payable": [1.0, 2.0, 5.0, 1.0]})
    challenger = pd.DataFrame({"creator_id": ["a", "b"], "payable": [3.0, 1.0]})
    diff = shadow_differences(champion, challenger)
    assert diff["creator_id"].tolist() == ["b", "c", "a"]
    assert diff["change"].tolist() == [-4.0, -1.0, 0.0]
