"""Settings become the lower layers' configuration; unset fields keep the defaults declared there."""

from dataclasses import fields
from pathlib import Path

import pytest

from cpeguard.config import scoring_params, service_config, training_config
from cpeguard.settings import Settings
from detectors.params import PolicyParams, ScoringParams
from serving.config import ServiceConfig
from training.gates import GateConfig
from training.suite import SuiteConfig
from training.week_inputs import TrainingConfig


def test_config_unset_settings_keep_the_declared_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    for name in list(Settings.model_fields):
        monkeypatch.delenv(f"CPEGUARD_{name.upper()}", raising=False)
    settings = Settings(home=tmp_path)
    assert scoring_params(settings) == ScoringParams()
    service = service_config(settings)
    defaults = ServiceConfig(home=tmp_path)
    for item in fields(ServiceConfig):
        # set by the entry layer itself, not from a setting
        if item.name not in {"home", "tracking_uri", "database_url", "spark_submit"}:
            assert getattr(service, item.name) == getattr(defaults, item.name), item.name
    training = training_config(settings)
    assert training.suite == SuiteConfig() and training.gates == GateConfig()
    assert training.cold_start_scale == TrainingConfig(tracking_uri="x").cold_start_scale


def test_config_settings_reach_policy_detector_knobs_and_the_service(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    monkeypatch.setenv("CPEGUARD_REVIEW_RISK", "0.4")
    monkeypatch.setenv("CPEGUARD_SCORING_PARAMS", '{"detectors__pool__max_fdr": 0.05}')
    monkeypatch.setenv("CPEGUARD_MAX_BATCH_EVENTS", "77")
    monkeypatch.setenv("CPEGUARD_GATE_MIN_PRECISION", "0.5")
    settings = Settings(home=tmp_path)
    params = scoring_params(settings)
    assert params.policy.review_risk == 0.4 and params.policy.invalid_risk == PolicyParams().invalid_risk
    assert params.detectors.pool.max_fdr == 0.05
    assert service_config(settings).max_batch_events == 77
    assert service_config(settings).params == params
    gates = training_config(settings).gates
    assert gates.floors["precision"] == 0.5
    assert gates.floors["average_precision"] == GateConfig().floors["average_precision"]


def test_config_an_unknown_scoring_knob_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv("CPEGUARD_SCORING_PARAMS", '{"detectors__pool__nope": 1}')
    with pytest.raises(ValueError, match="detectors__pool__nope"):
        scoring_params(Settings(home=tmp_path))


def test_config_settings_table_in_the_docs_is_the_code():
    from cpeguard.config import settings_table

    assert settings_table() in (Path(__file__).parents[2] / "docs" / "operations.md").read_text()
