"""Settings turned into the plain configuration objects of the layers below (the only place that reads them).

Each builder passes on only what was set: an unset field keeps the default
declared beside the code that uses it.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cpeguard.settings import Settings

if TYPE_CHECKING:
    from detectors.params import ScoringParams
    from serving.config import ServiceConfig
    from training.week_inputs import TrainingConfig

POLICY_FIELDS = (
    "invalid_risk",
    "review_risk",
    "hold_invalid_share",
    "hold_uncertain_share",
    "account_flag_risk",
    "creator_flag_invalid_share",
    "default_unit_price",
)
SERVICE_FIELDS = (
    "signoff_withheld_share",
    "review_auto_decide_below",
    "review_sample_share",
    "review_uncertain_share",
    "review_group_overlap",
    "max_body_bytes",
    "max_batch_events",
    "max_upload_rows",
    "max_upload_decoded_bytes",
    "sync_detection_max_events",
    "history_days",
    "run_heartbeat_s",
    "run_lease_s",
    "run_wait_s",
    "spark_master",
    "spark_from_events",
    "reputation_half_life_days",
    "model_poll_s",
    "registered_model",
    "metrics_token",
    "fault",
)
GATE_FLOORS = {
    "gate_min_average_precision": "average_precision",
    "gate_min_precision": "precision",
    "gate_min_fraud_withheld": "fraud_payout_withheld_share",
}
GATE_CEILINGS = {"gate_max_honest_withheld": "honest_payout_withheld_share"}


def given(settings: Settings, names: tuple[str, ...] | dict[str, str]) -> dict[str, Any]:
    """The fields among ``names`` that were set (not None), renamed where ``names`` maps them."""
    renamed = names if isinstance(names, dict) else {name: name for name in names}
    return {
        to: getattr(settings, name) for name, to in renamed.items() if getattr(settings, name) is not None
    }


def scoring_params(settings: Settings) -> ScoringParams:
    """The scoring run's parameter tree: policy fields, then any knob of ``CPEGUARD_SCORING_PARAMS``."""
    from detectors.params import PolicyParams, ScoringParams

    policy = replace(PolicyParams(), **given(settings, POLICY_FIELDS))
    try:
        return ScoringParams(policy=policy).set_params(**settings.scoring_params)
    except ValueError as error:
        raise ValueError(f"CPEGUARD_SCORING_PARAMS: {error}") from None


def tracking_store(settings: Settings) -> str:
    """The MLflow store: the setting, or the SQLite file under mlruns/ of the working folder."""
    return settings.tracking_uri or f"sqlite:///{Path('mlruns/mlflow.db').resolve()}"


def service_config(settings: Settings) -> ServiceConfig:
    """The settlement service's configuration."""
    from serving.config import ServiceConfig

    return ServiceConfig(
        home=settings.home,
        database_url=settings.database_url,
        params=scoring_params(settings),
        tracking_uri=tracking_store(settings),
        # what the service runs to hand a detection run to Spark (serving never imports the entry layer)
        spark_submit=(sys.executable, "-m", "cpeguard.spark_submit"),
        **given(settings, SERVICE_FIELDS),
    )


def training_config(settings: Settings) -> TrainingConfig:
    """The training run's configuration."""
    from training.gates import GateConfig
    from training.operating import OperatingConfig
    from training.suite import SuiteConfig
    from training.tracking import tracking_uri
    from training.week_inputs import TrainingConfig

    suite = SuiteConfig()
    if settings.suite_seeds is not None:
        try:
            seeds = tuple(int(s) for s in settings.suite_seeds.split(",") if s.strip())
        except ValueError:
            message = f"CPEGUARD_SUITE_SEEDS: expected comma-separated integers, got {settings.suite_seeds!r}"
            raise ValueError(message) from None
        suite = replace(suite, seeds=seeds)
    suite = replace(suite, **given(settings, {"suite_scale": "scale"}))
    gates = GateConfig()
    gates = replace(
        gates,
        floors={**gates.floors, **given(settings, GATE_FLOORS)},
        ceilings={**gates.ceilings, **given(settings, GATE_CEILINGS)},
        **given(settings, {"gate_tolerance": "tolerance", "gate_max_payout_change": "max_payout_change"}),
    )
    return TrainingConfig(
        tracking_uri=tracking_uri(settings.tracking_uri),
        params=scoring_params(settings),
        suite=suite,
        gates=gates,
        operating=replace(OperatingConfig(), **given(settings, ("honest_withheld_budget",))),
        **given(settings, ("min_week_events", "min_labels", "cold_start_scale")),
        **given(settings, {"registered_model": "model_name"}),
    )


def declared_defaults() -> dict[str, str]:
    """Each setting's effective default as text: the value declared where it is used, or the setting's own."""
    from serving.config import ServiceConfig

    unset = Settings.model_construct()
    params, training = scoring_params(unset), training_config(unset)
    service = ServiceConfig(home=unset.home)
    values: dict[str, object] = {name: getattr(params.policy, name) for name in POLICY_FIELDS}
    values |= {name: getattr(service, name) for name in SERVICE_FIELDS}
    values |= {name: training.gates.floors[metric] for name, metric in GATE_FLOORS.items()}
    values |= {name: training.gates.ceilings[metric] for name, metric in GATE_CEILINGS.items()}
    values |= {
        "gate_tolerance": training.gates.tolerance,
        "gate_max_payout_change": training.gates.max_payout_change,
        "suite_seeds": ",".join(str(seed) for seed in training.suite.seeds),
        "suite_scale": training.suite.scale,
        "cold_start_scale": training.cold_start_scale,
        "min_week_events": training.min_week_events,
        "min_labels": training.min_labels,
        "honest_withheld_budget": training.operating.honest_withheld_budget,
        "database_url": "an SQLite file under the home",
        "tracking_uri": "sqlite:///mlruns/mlflow.db",
        "scoring_params": "{}",
    }
    return {
        name: str(values.get(name, getattr(unset, name))).replace("|", "\\|")
        for name in Settings.model_fields
    }


def settings_table() -> str:
    """Every setting as a Markdown table of variable, effective default, meaning (docs/operations.md)."""
    defaults = declared_defaults()
    rows = ["| variable | default | meaning |", "| --- | --- | --- |"]
    for name, info in Settings.model_fields.items():
        rows.append(f"| `CPEGUARD_{name.upper()}` | `{defaults[name]}` | {info.description or ''} |")
    return "\n".join(rows)
