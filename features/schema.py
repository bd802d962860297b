"""The data contract (shared/design/DATA_CONTRACT.md) as pandera models.

Raw files are coerced and cleaned row by row in :mod:`features.contract`; the
models here declare the clean frames every later step receives.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from features.columns import (  # noqa: F401  (re-exported)
    CAMPAIGN_OPTIONAL,
    CAMPAIGN_REQUIRED,
    EVENT_OPTIONAL,
    EVENT_REQUIRED,
    KNOWN_PLATFORMS,
    PAID_ACTIONS,
    POST_OPTIONAL,
    POST_REQUIRED,
    TS_DTYPE,
)


class Events(pa.DataFrameModel):
    """Clean engagement events: one row per reported engagement (replays included)."""

    event_id: Series[pd.StringDtype] = pa.Field(str_length={"min_value": 1})
    platform: Series[pd.StringDtype]
    campaign_id: Series[pd.StringDtype] = pa.Field(str_length={"min_value": 1})
    post_id: Series[pd.StringDtype] = pa.Field(str_length={"min_value": 1})
    creator_id: Series[pd.StringDtype] = pa.Field(str_length={"min_value": 1})
    user_id: Series[pd.StringDtype] = pa.Field(str_length={"min_value": 1})
    action: Series[pd.StringDtype]
    ts: Series[TS_DTYPE]  # type: ignore[valid-type]
    device_id: Series[pd.StringDtype] = pa.Field(nullable=True)
    ip: Series[pd.StringDtype] = pa.Field(nullable=True)
    user_created_at: Series[TS_DTYPE] = pa.Field(nullable=True)  # type: ignore[valid-type]
    user_followers: Series[pd.Int64Dtype] = pa.Field(nullable=True, ge=0)
    comment_text: Series[pd.StringDtype] = pa.Field(nullable=True)
    source_row: Series[int] = pa.Field(ge=1)

    class Config:
        strict = False


class Posts(pa.DataFrameModel):
    """Clean posts."""

    post_id: Series[pd.StringDtype] = pa.Field(unique=True)
    creator_id: Series[pd.StringDtype]
    campaign_id: Series[pd.StringDtype]
    platform: Series[pd.StringDtype]
    published_at: Series[TS_DTYPE]  # type: ignore[valid-type]
    views: Series[pd.Int64Dtype] = pa.Field(nullable=True, ge=0)
    studio_id: Series[pd.StringDtype] = pa.Field(nullable=True)

    class Config:
        strict = False


class Campaigns(pa.DataFrameModel):
    """Clean campaigns with unit prices per counted action."""

    campaign_id: Series[pd.StringDtype] = pa.Field(unique=True)
    currency: Series[pd.StringDtype]
    price_like: Series[float] = pa.Field(ge=0)
    price_favorite: Series[float] = pa.Field(ge=0)
    price_comment: Series[float] = pa.Field(ge=0)
    price_share: Series[float] = pa.Field(ge=0)
    window_start: Series[TS_DTYPE] = pa.Field(nullable=True)  # type: ignore[valid-type]
    window_end: Series[TS_DTYPE] = pa.Field(nullable=True)  # type: ignore[valid-type]

    class Config:
        strict = False


class Rejects(pa.DataFrameModel):
    """Rows that could not be accepted, with where they came from and why."""

    source_file: Series[pd.StringDtype]
    source_row: Series[int] = pa.Field(ge=1)
    column: Series[pd.StringDtype]
    reason: Series[pd.StringDtype]
    value: Series[pd.StringDtype] = pa.Field(nullable=True)


class EngagementVerdicts(pa.DataFrameModel):
    """``engagements.parquet``: one row per distinct event_id."""

    event_id: Series[pd.StringDtype] = pa.Field(unique=True)
    post_id: Series[pd.StringDtype]
    user_id: Series[pd.StringDtype]
    action: Series[pd.StringDtype]
    risk: Series[float] = pa.Field(ge=0, le=1)
    invalid: Series[bool]
    reason: Series[pd.StringDtype]
    # an additional column: valid but waiting for review (its post's ``held_amount``)
    held: Series[bool]

    class Config:
        strict = False

    @pa.dataframe_check
    @classmethod
    def held_only_when_valid(cls, frame: pd.DataFrame) -> pd.Series:
        """An engagement waits for review only if it is valid: an invalid one is settled."""
        return ~(frame["held"].astype(bool) & frame["invalid"].astype(bool))


class PostDecisions(pa.DataFrameModel):
    """``posts.parquet``: the payment decision per post."""

    campaign_id: Series[pd.StringDtype]
    post_id: Series[pd.StringDtype]
    creator_id: Series[pd.StringDtype]
    claimed: Series[int] = pa.Field(ge=0)
    valid: Series[int] = pa.Field(ge=0)
    risk: Series[float] = pa.Field(ge=0, le=1)
    decision: Series[pd.StringDtype] = pa.Field(isin=["pay", "discount", "hold"])
    payable: Series[float] = pa.Field(ge=0)
    reasons: Series[pd.StringDtype]

    class Config:
        strict = False


class AccountFlags(pa.DataFrameModel):
    """``accounts.parquet``: accounts the risk team should review."""

    account_id: Series[pd.StringDtype]
    role: Series[pd.StringDtype] = pa.Field(isin=["engager", "creator"])
    risk: Series[float] = pa.Field(ge=0, le=1)
    flagged: Series[bool]
    reasons: Series[pd.StringDtype]

    class Config:
        strict = False


class ContractViolation(ValueError):
    """A frame at a package boundary does not hold the contract's columns, types or values."""


def checked(
    frame: pd.DataFrame, model: type[pa.DataFrameModel], *, where: str, rows: int = 500
) -> pd.DataFrame:
    """``frame`` itself, after checking it against ``model`` where it crosses a package boundary.

    Columns and their kinds are checked on the whole frame; value checks (ranges,
    lengths, allowed values) on its first and last ``rows`` rows, so a million-row
    window costs milliseconds. Id columns may be categoricals of strings (batch
    reading factorises them once): the sample is checked as plain strings.
    Raises ``ContractViolation`` naming ``where``, the column and the check.
    """
    n = len(frame)
    # one gather of the first and last rows (a concat of two categorical slices would hash their categories)
    sample = frame if n <= 2 * rows else frame.take(np.r_[0:rows, n - rows : n])
    plain = sample.copy()
    for column in plain.columns:
        if isinstance(plain[column].dtype, pd.CategoricalDtype):
            plain[column] = plain[column].astype(pd.StringDtype())
    try:
        model.validate(plain, lazy=False)
    except (pa.errors.SchemaError, pa.errors.SchemaErrors) as error:
        raise ContractViolation(f"{where}: {model.__name__}: {error}".splitlines()[0]) from error
    return frame


def contract_models() -> list[type[pa.DataFrameModel]]:
    """Every contract model this module declares, in declaration order (a model added later is
    prepared ahead too)."""
    return [
        value
        for value in globals().values()
        if isinstance(value, type) and issubclass(value, pa.DataFrameModel) and value.__module__ == __name__
    ]


def prepare_checks() -> None:
    """Pay ahead for what a process's first ``checked`` costs: every contract model's schema, and
    pandera's pandas backends (registering them imports hypothesis, a tenth of a second). Scoring
    calls it in a thread while it reads its files (``cpeguard.scoring``)."""
    for model in contract_models():
        model.to_schema()
    empty = pd.DataFrame({column: pd.Series(dtype="string") for column in Rejects.to_schema().columns})
    checked(empty.astype({"source_row": "int64"}), Rejects, where="prepare_checks")
