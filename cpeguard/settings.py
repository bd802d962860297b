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


class Settings(BaseSettings):
    """cpeguard's configuration; every field can be set as ``CPEGUARD_<FIELD>``."""

    model_config = SettingsConfigDict(env_prefix="CPEGUARD_", extra="ignore")

    home: Path = Field(default=Path("data"), description="where state lives")
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the API database (e.g. postgresql+psycopg://...)",
    )
    # the money policy (detectors.params.PolicyParams)
    invalid_risk: float | None = Field(
        default=None, ge=0, le=1, description="an engagement at or above this risk is not paid"
    )
    review_risk: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="risk from which an engagement counts as uncertain (the review band; weak signals "
        "alone stay below it)",
    )
    hold_invalid_share: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description=(
            "on a post whose invalid share of claimed engagements reaches this, the valid engagements with "
            "risk near the cut (within 0.15) are held for review too; the rest of it is paid"
        ),
    )
    hold_uncertain_share: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description=(
            "a post with this share of claimed engagements of uncertain risk is held whole for review "
            "(below it only its uncertain engagements are held)"
        ),
    )
    account_flag_risk: float | None = Field(
        default=None, ge=0, le=1, description="an account at or above this risk is flagged for review"
    )
    creator_flag_invalid_share: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="a creator with this share of a post's claimed engagement bought is flagged",
    )
    default_unit_price: float | None = Field(
        default=None, ge=0, description="price per counted engagement when no campaign price is known"
    )
    scoring_params: dict[str, Any] = Field(
        default_factory=dict,
        description="any scoring knob by its ScoringParams.get_params name, as JSON, e.g. "
        '{"detectors__pool__max_fdr": 0.05}',
    )
    # the settlement service (serving.config.ServiceConfig)
    signoff_withheld_share: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="a settlement withholding more than this share of claimed payout needs sign-off",
    )
    review_auto_decide_below: float | None = Field(
        default=None,
        ge=0,
        description="an account case whose clear releases nothing and whose withheld money is below "
        "this is decided by policy, not queued (0: queue them all)",
    )
    review_sample_share: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="share of the policy-decided account cases queued anyway, marked as a label-quality "
        "sample",
    )
    review_uncertain_share: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="share of the policy-decided account cases, and of the unflagged engaging accounts, "
        "whose risk lies near the invalid cut queued as an uncertain sample (active learning; 0: none, the "
        "policy-decided ones are audit-sampled like the rest)",
    )
    review_group_overlap: float | None = Field(
        default=None,
        gt=0,
        le=1,
        description="a seller group found again joins the earlier group when their shared members are at "
        "least this share of the smaller member set (and two or more)",
    )
    max_body_bytes: int | None = Field(default=None, ge=1024, description="largest request body (413)")
    max_batch_events: int | None = Field(
        default=None, ge=1, description="most events in one JSON batch (413)"
    )
    max_upload_rows: int | None = Field(
        default=None, ge=1, description="most rows in one uploaded file, counted while decoding (413)"
    )
    max_upload_decoded_bytes: int | None = Field(
        default=None,
        ge=1024,
        description="most bytes an uploaded file may decode to, counted batch by batch (413)",
    )
    sync_detection_max_events: int | None = Field(
        default=None, ge=0, description="detection runs over more events go to a background job"
    )
    spark_master: str | None = Field(
        default=None,
        description="Spark master URL: detection runs of at least spark_from_events events are scored there",
    )
    spark_from_events: int | None = Field(
        default=None,
        ge=1,
        description="detection runs of this many events go to Spark (when a master is set)",
    )
    model_poll_s: float | None = Field(
        default=None, ge=0, description="the service checks the registry's aliases this often (0: never)"
    )
    history_days: int | None = Field(
        default=None,
        ge=0,
        description="a detection run reads this many days before and after its period from the event store, "
        "same platforms, as context: verdicts see sellers' work around it, never re-decided (0: none)",
    )
    run_heartbeat_s: float | None = Field(
        default=None,
        gt=0,
        description="a service process renews the lease of each detection run and background "
        "settlement it executes this often",
    )
    run_lease_s: float | None = Field(
        default=None,
        gt=0,
        description="a detection run or background settlement whose lease was not renewed for this "
        "long is marked failed by any process over the same database (its process is gone); at least "
        "two heartbeats",
    )
    run_wait_s: float | None = Field(
        default=None,
        ge=0,
        description="a settlement waits at most this long for a detection run of its period another "
        "service process is running (alive, renewing its lease), then runs its own; if that fails "
        "too, every post is held (detection_unavailable), nothing paid",
    )
    reputation_half_life_days: float | None = Field(
        default=None,
        gt=0,
        description="an account earlier runs or reviewers confirmed stays known to later runs (reason "
        "known_seller, a weak signal), its reputation halving every this many days",
    )
    registered_model: str | None = Field(default=None, description="name of the registered scorer")
    metrics_token: str | None = Field(
        default=None, description="bearer token /metrics asks for (unset: /metrics answers anyone)"
    )
    fault: str | None = Field(
        default=None,
        description="fault-injection tests only: a point of serving.faults.FAULT_POINTS where the server "
        "exits with 137 (`name`) or stalls (`name:seconds`)",
    )
    # weekly retraining; MLFLOW_TRACKING_URI overrides the store
    tracking_uri: str | None = Field(
        default=None,
        validation_alias=AliasChoices("MLFLOW_TRACKING_URI", "CPEGUARD_TRACKING_URI"),
        description="MLflow tracking and registry URI (also read from MLFLOW_TRACKING_URI); artifacts beside",
    )
    gate_tolerance: float | None = Field(
        default=None, ge=0, le=1, description="how much worse than the champion any suite metric may be"
    )
    gate_max_payout_change: float | None = Field(
        default=None,
        ge=0,
        description="money backtest: bound on the summed per-creator payout change, as a share of paid",
    )
    gate_min_average_precision: float | None = Field(
        default=None, ge=0, le=1, description="first model's floor on average precision"
    )
    gate_min_precision: float | None = Field(
        default=None, ge=0, le=1, description="first model's floor on precision"
    )
    gate_min_fraud_withheld: float | None = Field(
        default=None, ge=0, le=1, description="first model's floor on fraudulent payout withheld"
    )
    gate_max_honest_withheld: float | None = Field(
        default=None, ge=0, le=1, description="first model's ceiling on honest payout withheld"
    )
    suite_seeds: str | None = Field(
        default=None, description="comma-separated seeds of the fixed simulated gate suite"
    )
    suite_scale: float | None = Field(
        default=None, gt=0, description="scale of each suite set (1.0 ~ 100k events)"
    )
    cold_start_scale: float | None = Field(
        default=None, gt=0, description="simulated training set when a week has too few events"
    )
    min_week_events: int | None = Field(default=None, ge=0, description="fewer events in a week: cold start")
    min_labels: int | None = Field(
        default=None, ge=1, description="labelled accounts needed to fit the stacker"
    )
    honest_withheld_budget: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="a trained model's operating point: most honest payout withheld (held-out bound)",
    )
    backfill_weeks: int = Field(default=8, ge=0, description="most missed weeks one retrain backfills")
    backtest_settlements: int = Field(default=50, ge=0, description="settlements the money backtest replays")


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
