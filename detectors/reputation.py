"""Reputation: accounts earlier runs and reviews confirmed, as weak evidence about today's window.

The service remembers accounts whose engagements earlier detection runs found
invalid on structural evidence, and the review team's verdicts (a cleared
account is remembered as cleared and is not known). It hands the scorer a
frame of the window's known accounts with their reputation already decayed;
this module only turns it into a detection. ``known_seller`` is a weak signal:
alone it stays under the weak cap, so an account once bought and later used
honestly is paid, while an account a run confirmed adds to a structural signal
found on it now as any weak signal does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from detectors.base import Detection
from features.arrays import codes

# the frame of known accounts the scorer is given: one row per account, score already decayed
REPUTATION_COLUMNS: tuple[str, ...] = ("account_id", "score", "source", "established_at")


@dataclass(frozen=True)
class KnownSellerParams:
    """No knob of its own: the decay is the service's setting (``reputation_half_life_days``), and the
    policy's weak cap bounds what it adds to an engagement."""


def known_sellers(engagements: pd.DataFrame, *, reputation: pd.DataFrame | None) -> Detection:
    """Per engagement: the decayed reputation of its account (0 for an account not known).

    ``reputation`` has ``REPUTATION_COLUMNS`` (one row per account). Each known
    account present is a group whose evidence names the run or case that
    established it: "account confirmed by run R on 2026-11-20 (decayed 0.60)".
    Without reputation (None or empty) the detection is empty.
    """
    n = len(engagements)
    if reputation is None or reputation.empty or n == 0:
        return Detection.empty("known_seller", n)
    known = reputation.assign(account_id=reputation["account_id"].astype("str")).drop_duplicates(
        "account_id", keep="first"
    )
    known = known.loc[known["score"].to_numpy(dtype=np.float64) > 0].reset_index(drop=True)
    user_codes = codes(engagements["user_id"])
    labels = _labels(engagements["user_id"])
    row_of_label = pd.Index(known["account_id"]).get_indexer(labels)
    row = (
        np.where(user_codes >= 0, row_of_label[np.maximum(user_codes, 0)], -1) if len(labels) else user_codes
    )
    present = np.unique(row[row >= 0])
    group = np.full(n, -1, dtype=np.int64)
    group[row >= 0] = np.searchsorted(present, row[row >= 0])
    score = np.zeros(n, dtype=np.float64)
    scores = np.clip(known["score"].to_numpy(dtype=np.float64), 0.0, 1.0)
    score[row >= 0] = scores[row[row >= 0]]
    rows = known.iloc[present]
    counts = np.bincount(group[group >= 0], minlength=len(present))
    posts = pd.Series(codes(engagements["post_id"])[group >= 0]).groupby(group[group >= 0]).nunique()
    groups = pd.DataFrame(
        {
            "group_id": np.arange(len(present), dtype=np.int64),
            "n_accounts": np.ones(len(present), dtype=np.int64),
            "n_posts": posts.reindex(range(len(present)), fill_value=0).to_numpy(dtype=np.int64),
            "n_engagements": counts.astype(np.int64),
            "evidence": [
                f"account confirmed by {source} on {_day(at)} (decayed {value:.2f})"
                for source, at, value in zip(
                    rows["source"].astype("str"), rows["established_at"], scores[present], strict=True
                )
            ],
        }
    )
    return Detection("known_seller", score, group, groups)


def _labels(values: pd.Series) -> pd.Index:
    """The values ``codes`` numbers, as strings in code order."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        return pd.Index(values.cat.categories.astype("str"))
    return pd.Index(pd.factorize(values)[1].astype("str"))


def _day(moment: object) -> str:
    return pd.Timestamp(moment).strftime("%Y-%m-%d")  # type: ignore[arg-type]


def decayed(age_days: np.ndarray, *, half_life_days: float, strength: np.ndarray | float = 1.0) -> np.ndarray:
    """``strength`` halved every ``half_life_days`` of age (an age below 0 counts as 0)."""
    return np.asarray(strength, dtype=np.float64) * np.power(0.5, np.maximum(age_days, 0.0) / half_life_days)


__all__ = ["REPUTATION_COLUMNS", "KnownSellerParams", "decayed", "known_sellers"]
