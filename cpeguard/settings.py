"""The one Settings class of cpeguard: everything configurable, read from CPEGUARD_* env vars."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """cpeguard's configuration; every field can be set as ``CPEGUARD_<FIELD>``."""

    model_config = SettingsConfigDict(env_prefix="CPEGUARD_", extra="ignore")

    home: Path = Field(default=Path("data"), description="where state lives")
    invalid_risk: float = Field(
        default=0.5, ge=0.0, le=1.0, description="an engagement at or above this risk is not paid"
    )
    hold_invalid_share: float = Field(
        default=0.9,
        ge=0.0,
        le=1.0,
        description="a post whose invalid share of claimed engagements reaches this is held for review",
    )
    hold_uncertain_share: float = Field(
        default=0.2,
        ge=0.0,
        le=1.0,
        description="a post with this share of claimed engagements of uncertain risk is held for review",
    )
    review_risk: float = Field(
        default=0.46,
        ge=0.0,
        le=1.0,
        description="risk from which an engagement counts as uncertain (above the 0.45 cap of weak signals)",
    )
    account_flag_risk: float = Field(
        default=0.5, ge=0.0, le=1.0, description="an account at or above this risk is flagged for review"
    )
    creator_flag_invalid_share: float = Field(
        default=0.2,
        ge=0.0,
        le=1.0,
        description="a creator with this share of its claimed engagement invalid (bought) is flagged",
    )
    default_unit_price: float = Field(
        default=1.0, ge=0.0, description="price per counted engagement when no campaigns file is given"
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the API database (e.g. postgresql+psycopg://...); "
        "default: an SQLite file under home",
    )
    signoff_withheld_share: float = Field(
        default=0.3,
        ge=0.0,
        le=1.0,
        description="a settlement withholding more than this share of claimed payout needs sign-off",
    )
    max_body_bytes: int = Field(default=50 * 1024 * 1024, ge=1024, description="largest request body (413)")
    max_batch_events: int = Field(default=50_000, ge=1, description="most events in one JSON batch (413)")
    sync_detection_max_events: int = Field(
        default=200_000, ge=0, description="detection runs over more events go to a background job"
    )

    # weekly retraining (README "Weekly retraining"); MLFLOW_TRACKING_URI overrides the store
    tracking_uri: str | None = Field(
        default=None,
        validation_alias=AliasChoices("MLFLOW_TRACKING_URI", "CPEGUARD_TRACKING_URI"),
        description="MLflow tracking and registry URI; default sqlite:///mlruns/mlflow.db (artifacts beside)",
    )
    registered_model: str = Field(default="cpeguard-scorer", description="name of the registered scorer")
    gate_tolerance: float = Field(
        default=0.02, ge=0.0, le=1.0, description="how much worse than the champion any suite metric may be"
    )
    gate_max_payout_change: float = Field(
        default=0.10,
        ge=0.0,
        description="money backtest: bound on the summed per-creator payout change, as a share of paid",
    )
    gate_min_average_precision: float = Field(default=0.9, ge=0.0, le=1.0, description="first model's floor")
    gate_min_precision: float = Field(default=0.95, ge=0.0, le=1.0, description="first model's floor")
    gate_min_fraud_withheld: float = Field(
        default=0.9, ge=0.0, le=1.0, description="first model's floor on fraudulent payout withheld"
    )
    gate_max_honest_withheld: float = Field(
        default=0.01, ge=0.0, le=1.0, description="first model's ceiling on honest payout withheld"
    )
    suite_seeds: str = Field(default="9001,9002", description="seeds of the fixed simulated gate suite")
    suite_scale: float = Field(default=3.0, gt=0.0, description="scale of each suite set (1.0 ~ 100k events)")
    cold_start_scale: float = Field(
        default=1.0, gt=0.0, description="simulated training set when a week has too few events"
    )
    min_week_events: int = Field(default=2_000, ge=0, description="fewer events in a week: cold start")
    min_labels: int = Field(default=200, ge=1, description="labelled accounts needed to fit the stacker")
    backfill_weeks: int = Field(default=8, ge=0, description="most missed weeks one retrain backfills")
    backtest_settlements: int = Field(default=50, ge=0, description="settlements the money backtest replays")
    model_poll_s: float = Field(
        default=60.0, ge=0.0, description="the service checks the registry's aliases this often (0: never)"
    )


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
