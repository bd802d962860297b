"""The unusual accounts an anomaly model found, and the per-event evidence they give (no pyod needed)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from detectors.base import Detection

NAME = "anomaly"  # the detector's reason code


@dataclass(frozen=True)
class AccountAnomalies:
    """Per account, the event score its unusualness gives (only accounts above the model's cut), and
    the evidence sentence; found once over a window's accounts, read by every shard of it.

    ``scores`` None: no model (too few usable accounts, or every feature constant): nothing is unusual.
    """

    scores: pd.Series | None
    evidence: str = ""


def anomaly_detection(engagements: pd.DataFrame, found: AccountAnomalies) -> Detection:
    """Weak per-event evidence: each event scores its account's ``found`` score (0 for the others)."""
    n = len(engagements)
    if found.scores is None:
        return Detection.empty(NAME, n)
    per_account = found.scores
    score = per_account.reindex(engagements["user_id"]).to_numpy(dtype=np.float64, na_value=np.nan)
    score = np.nan_to_num(score, nan=0.0)
    is_odd = score > 0
    groups = pd.DataFrame(
        {
            "group_id": [0],
            "n_accounts": [int((per_account > 0).sum())],
            "n_posts": [int(engagements.loc[is_odd, "post_id"].nunique())],
            "evidence": [found.evidence],
        }
    )
    return Detection(
        NAME, np.asarray(score, dtype=np.float64), np.where(is_odd, 0, -1).astype(np.int64), groups
    )
