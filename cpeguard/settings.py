"""The one Settings class of cpeguard: everything configurable, read from CPEGUARD_* env vars.

Settings hold no defaults of their own for what lower layers decide: a field
left unset (None) takes the default declared beside the code that uses it
(``PolicyParams`` and the detectors' params classes, ``ServiceConfig``,
``TrainingConfig``, ``SuiteConfig``, ``GateConfig``), so the two can never
disagree. ``cpeguard.config`` turns Settings into those objects.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

_POLICY = "default: detectors.params.PolicyParams"
_SERVICE = "default: serving.config.ServiceConfig"


class Settings(BaseSettings):
    """cpeguard's configuration; every field can be set as ``CPEGUARD_<FIELD>``."""

    model_config = SettingsConfigDict(env_prefix="CPEGUARD_", extra="ignore")

    home: Path = Field(default=Path("data"), description="where state lives")
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the API database (e.g. postgresql+psycopg://...); "
        "default: an SQLite file under home",
    )
    # the money policy (detectors.params.PolicyParams)
    invalid_risk: float | None = Field(
        default=None, ge=0, le=1, description=f"unpaid from this risk; {_POLICY}"
    )
    review_risk: float | None = Field(
        default=None, ge=0, le=1, description=f"uncertain (review band) from this risk; {_POLICY}"
    )
    hold_invalid_share: float | None = Field(
        default=None, ge=0, le=1, description=f"hold a post with this invalid share; {_POLICY}"
    )
    hold_uncertain_share: float | None = Field(
        default=None, ge=0, le=1, description=f"hold a post with this uncertain share; {_POLICY}"
    )
    account_flag_risk: float | None = Field(
        default=None, ge=0, le=1, description=f"flag an account from this risk; {_POLICY}"
    )
    creator_flag_invalid_share: float | None = Field(
        default=None, ge=0, le=1, description=f"flag a creator with this bought share; {_POLICY}"
    )
    default_unit_price: float | None = Field(
        default=None, ge=0, description=f"price per engagement without campaign prices; {_POLICY}"
    )
    scoring_params: dict[str, Any] = Field(
        default_factory=dict,
        description="any scoring knob by its ScoringParams.get_params name, as JSON, e.g. "
        '{"detectors__pool__fdr": 0.05}',
    )
    # the settlement service (serving.config.ServiceConfig)
    signoff_withheld_share: float | None = Field(
        default=None, ge=0, le=1, description=f"sign-off above this withheld share; {_SERVICE}"
    )
    max_body_bytes: int | None = Field(default=None, ge=1024, description=f"largest request body; {_SERVICE}")
    max_batch_events: int | None = Field(
        default=None, ge=1, description=f"most events per JSON batch; {_SERVICE}"
    )
    sync_detection_max_events: int | None = Field(
        default=None, ge=0, description=f"larger detection runs go to a background job; {_SERVICE}"
    )
    model_poll_s: float | None = Field(
        default=None, ge=0, description=f"how often the registry's aliases are read (0: never); {_SERVICE}"
    )
    registered_model: str | None = Field(
        default=None, description=f"name of the registered scorer; {_SERVICE}"
    )
    # weekly retraining; MLFLOW_TRACKING_URI overrides the store
    tracking_uri: str | None = Field(
        default=None,
        validation_alias=AliasChoices("MLFLOW_TRACKING_URI", "CPEGUARD_TRACKING_URI"),
        description="MLflow tracking and registry URI; default sqlite:///mlruns/mlflow.db (artifacts beside)",
    )
    gate_tolerance: float | None = Field(default=None, ge=0, le=1, description="default: GateConfig")
    gate_max_payout_change: float | None = Field(default=None, ge=0, description="default: GateConfig")
    gate_min_average_precision: float | None = Field(
        default=None, ge=0, le=1, description="default: GateConfig"
    )
    gate_min_precision: float | None = Field(default=None, ge=0, le=1, description="default: GateConfig")
    gate_min_fraud_withheld: float | None = Field(default=None, ge=0, le=1, description="default: GateConfig")
    gate_max_honest_withheld: float | None = Field(
        default=None, ge=0, le=1, description="default: GateConfig"
    )
    suite_seeds: str | None = Field(
        default=None, description="comma-separated suite seeds; default: SuiteConfig"
    )
    suite_scale: float | None = Field(default=None, gt=0, description="default: SuiteConfig")
    cold_start_scale: float | None = Field(default=None, gt=0, description="default: TrainingConfig")
    min_week_events: int | None = Field(default=None, ge=0, description="default: TrainingConfig")
    min_labels: int | None = Field(default=None, ge=1, description="default: TrainingConfig")
    backfill_weeks: int = Field(default=8, ge=0, description="most missed weeks one retrain backfills")
    backtest_settlements: int = Field(default=50, ge=0, description="settlements the money backtest replays")


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
