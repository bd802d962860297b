"""Review labels for training: one row per account judged in a review decision."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import pandas as pd
from sqlalchemy import Engine

from serving.config import ServiceConfig
from serving.db.cases import CaseRepository
from serving.db.database import Database, as_utc
from serving.db.engine import make_engine, migrate

LABEL_COLUMNS = (
    "account_id",
    "label",
    "decided_at",
    "post_id",
    "campaign_id",
    "settlement_id",
    "source",
    "sample",
    "sampled_with_probability",
)


def load_labels(
    source: CaseRepository | Engine | ServiceConfig,
    start: datetime | None = None,
    end: datetime | None = None,
    *,
    sample_share: float = ServiceConfig.review_sample_share,
) -> pd.DataFrame:
    """Labels decided in ``[start, end)`` (either bound optional), oldest first.

    Columns: account_id (str), label (int64: 1 fraud, 0 clean), decided_at (datetime64[us, UTC]),
    post_id, campaign_id, settlement_id, source (str; ``review`` for a reviewer's decision).
    A confirmed case labels the post's doubted accounts (invalid or in the review band) 1, a
    cleared case 0, a partial release the invalid ones 1 and the review-band ones 0. Cases the
    settlement deadline decided give no labels. An account judged on several posts has several rows.
    How each case reached a reviewer (``training/labels.py``), so training weighs each verdict by
    its inverse propensity: ``sample`` is ``flagged`` for a case the queue holds whenever policy
    cannot decide it (``sampled_with_probability`` 1); ``audit`` or ``uncertain`` for a label-quality
    sample of the cases policy decides, with the share it was drawn at, recorded on the case when
    it opened (``serving/review/opening.py``; an audit case of an older database that recorded none
    gets ``sample_share``, the service's ``review_sample_share``); ``dispute`` for a creator case a
    brand disputed (probability 1, ``serving/review/disputes.py`` says why).
    Given a service config, its database is opened (and migrated); a home without a database has
    no labels yet.
    """
    if isinstance(source, ServiceConfig):
        return _from_config(source, start, end)
    cases = source if isinstance(source, CaseRepository) else CaseRepository(Database(source))
    rows = [
        (*r[:7], *_sampling(*r[7:], sample_share=sample_share)) for r in cases.labels(start=start, end=end)
    ]
    return _frame(rows)


def _sampling(
    is_sample: bool, kind: str | None, probability: float | None, *, sample_share: float
) -> tuple[str, float]:
    """A label's ``sample`` and ``sampled_with_probability`` from its case's record."""
    if kind is not None:
        return str(kind), 1.0 if probability is None else float(probability)
    if is_sample:  # queued as a sample before the kind and probability were recorded
        return "audit", sample_share
    return "flagged", 1.0


def _frame(rows: Sequence[tuple[object, ...]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=list(LABEL_COLUMNS))
    text = ("account_id", "post_id", "campaign_id", "settlement_id", "source", "sample")
    types = {c: "str" for c in text} | {"label": "int64", "sampled_with_probability": "float64"}
    return frame.astype(types).assign(
        decided_at=pd.to_datetime([as_utc(t) for t in frame["decided_at"]], utc=True).astype(
            "datetime64[us, UTC]"
        )
    )


def _from_config(config: ServiceConfig, start: datetime | None, end: datetime | None) -> pd.DataFrame:
    if config.database_url is None and not (config.home / "cpeguard.db").is_file():
        return _frame([])
    engine = make_engine(config.resolved_database_url)
    try:
        migrate(engine)
        return load_labels(engine, start, end, sample_share=config.review_sample_share)
    finally:
        engine.dispose()
