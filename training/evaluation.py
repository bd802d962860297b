"""Detection quality against ground truth: event, scheme, creator and money metrics."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import (
    average_precision_score,
    precision_recall_curve,
    roc_auc_score,
)

ORGANIC = "organic"


def evaluate(
    *,
    engagements: pd.DataFrame,
    posts: pd.DataFrame,
    accounts: pd.DataFrame,
    truth_events: pd.DataFrame,
    truth_creators: pd.DataFrame,
) -> dict[str, Any]:
    """All quality metrics of one scored window against its truth, as a flat-ish dict."""
    joined = _join_truth(engagements, posts, truth_events)
    metrics: dict[str, Any] = {"n_events": len(joined)}
    metrics.update(_event_metrics(joined))
    metrics["recall_by_scheme"] = _recall_by_scheme(joined)
    metrics.update(_creator_metrics(accounts, truth_creators))
    metrics.update(_money_metrics(joined))
    return metrics


def _join_truth(engagements: pd.DataFrame, posts: pd.DataFrame, truth: pd.DataFrame) -> pd.DataFrame:
    truth = truth.drop_duplicates("event_id")
    joined = engagements.merge(
        truth[["event_id", "invalid", "scheme"] + (["copies"] if "copies" in truth else [])],
        on="event_id",
        how="inner",
        suffixes=("", "_truth"),
        validate="one_to_one",
    )
    missing = len(truth) - len(joined)
    if missing:
        raise ValueError(f"{missing} truth events have no scored engagement; score the same events")
    if "held" in joined:
        # the engagements that wait for review (``detectors.policy.held_engagements``): in memory,
        # and in every engagements.parquet the scorer writes (local, Spark, detection runs)
        joined["is_held"] = joined["held"].fillna(False).to_numpy(dtype=bool)
    else:
        # verdicts without it (files written before the column): every valid engagement of a
        # held post, as a whole hold
        joined["is_held"] = joined["post_id"].isin(posts.loc[posts["decision"] == "hold", "post_id"])
    if "unit_price" not in joined:
        joined["unit_price"] = 1.0
    if "copies" not in joined:
        joined["copies"] = joined.get("copies_truth", 1)
    return joined


def _event_metrics(joined: pd.DataFrame) -> dict[str, float]:
    y = joined["invalid_truth"].to_numpy(dtype=bool)
    risk = joined["risk"].to_numpy(dtype=np.float64)
    flagged = joined["invalid"].to_numpy(dtype=bool)
    true_pos = int((y & flagged).sum())
    both_classes = 0 < y.sum() < len(y)
    out = {
        "roc_auc": float(roc_auc_score(y, risk)) if both_classes else float("nan"),
        "average_precision": float(average_precision_score(y, risk)) if both_classes else float("nan"),
        "precision": true_pos / max(int(flagged.sum()), 1),
        "recall": true_pos / max(int(y.sum()), 1),
        "honest_flagged_share": int((~y & flagged).sum()) / max(int((~y).sum()), 1),
    }
    if both_classes:
        precision, recall, _ = precision_recall_curve(y, risk)
        out["precision_at_recall_95"] = float(precision[recall >= 0.95].max())
    return out


def _recall_by_scheme(joined: pd.DataFrame) -> dict[str, float]:
    fraud = joined.loc[joined["invalid_truth"].astype(bool)]
    return {str(k): float(v) for k, v in fraud.groupby("scheme")["invalid"].mean().items()}


def _creator_metrics(accounts: pd.DataFrame, truth_creators: pd.DataFrame) -> dict[str, float]:
    bought = truth_creators.groupby("creator_id")["bought"].any()
    creators = accounts.loc[accounts["role"] == "creator"].set_index("account_id")["flagged"]
    flagged = creators.reindex(bought.index).fillna(False).astype(bool)
    true_pos = int((flagged & bought).sum())
    return {
        "creator_precision": true_pos / max(int(flagged.sum()), 1),
        "creator_recall": true_pos / max(int(bought.sum()), 1),
        "creators_flagged": int(flagged.sum()),
        "creators_bought": int(bought.sum()),
    }


def _money_metrics(joined: pd.DataFrame) -> dict[str, float]:
    """Fraudulent payout includes every extra copy of a replayed event."""
    price = joined["unit_price"].to_numpy(dtype=np.float64)
    copies = joined["copies"].to_numpy(dtype=np.float64)
    is_fraud = joined["invalid_truth"].to_numpy(dtype=bool)
    paid = np.where(
        joined["invalid"].to_numpy(dtype=bool) | joined["is_held"].to_numpy(dtype=bool),
        0.0,
        price,
    )
    fraud_claimed = np.where(is_fraud, price * copies, price * (copies - 1))
    fraud_paid = np.where(is_fraud, paid, 0.0)
    honest_claimed = np.where(is_fraud, 0.0, price)
    honest_paid = np.where(is_fraud, 0.0, paid)
    honest_held = np.where(
        ~is_fraud & ~joined["invalid"].to_numpy(dtype=bool) & joined["is_held"].to_numpy(dtype=bool),
        price,
        0.0,
    )
    return {
        "claimed_amount": float((price * copies).sum()),
        "fraud_payout_withheld_share": float(1 - fraud_paid.sum() / max(fraud_claimed.sum(), 1e-9)),
        "honest_payout_withheld_share": float(1 - honest_paid.sum() / max(honest_claimed.sum(), 1e-9)),
        # the part of it that is valid but waits on a held post: paid at the review deadline by default
        "honest_payout_held_share": float(honest_held.sum() / max(honest_claimed.sum(), 1e-9)),
    }
