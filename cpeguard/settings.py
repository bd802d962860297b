"""The one Settings class of cpeguard: everything configurable, read from CPEGUARD_* env vars."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
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


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
