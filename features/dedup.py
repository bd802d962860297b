"""Replays and re-counts: the same engagement reported more than once counts once."""

from __future__ import annotations

import numpy as np
import pandas as pd

CATEGORICAL_COLUMNS = (
    "platform",
    "campaign_id",
    "post_id",
    "creator_id",
    "user_id",
    "action",
    "device_id",
    "ip",
)


def distinct_engagements(events: pd.DataFrame) -> pd.DataFrame:
    """One row per distinct event_id, with ``copies`` and ``is_recount``.

    A replay repeats an event_id: its first row (in source order) is kept and
    ``copies`` counts how often the platform reported it. A re-count reports the
    same user, post and action under a new event_id: the earliest one (by ``ts``,
    then source order) is the engagement, the later ones get ``is_recount``.
    The result keeps the source order of first occurrences. Id columns become
    categoricals, so every later groupby and factorize works on integer codes.
    """
    event_codes, event_ids = pd.factorize(events["event_id"])
    copies = np.bincount(event_codes, minlength=len(event_ids))
    first_row = np.full(len(event_ids), len(events), dtype=np.int64)
    np.minimum.at(first_row, event_codes, np.arange(len(events), dtype=np.int64))
    keep = np.sort(first_row)
    distinct = events.iloc[keep].reset_index(drop=True)
    distinct["copies"] = copies[event_codes[keep]].astype(np.int64)
    for column in CATEGORICAL_COLUMNS:
        if column in distinct and not isinstance(distinct[column].dtype, pd.CategoricalDtype):
            column_codes, uniques = pd.factorize(distinct[column])
            distinct[column] = pd.Categorical.from_codes(column_codes, categories=uniques)
    distinct["is_recount"] = _later_repeats(distinct)
    return distinct


def _later_repeats(distinct: pd.DataFrame) -> np.ndarray:
    """Per row: an earlier row (by time, then source order) has the same user, post and action."""
    user = distinct["user_id"].cat.codes.to_numpy().astype(np.int64)
    post = distinct["post_id"].cat.codes.to_numpy().astype(np.int64)
    action = distinct["action"].cat.codes.to_numpy().astype(np.int64)
    key = (user * (post.max(initial=0) + 1) + post) * (action.max(initial=0) + 1) + action
    t = distinct["ts"].to_numpy(dtype="datetime64[us]").astype(np.int64)
    order = np.lexsort((distinct["source_row"].to_numpy(), t, key))
    sorted_key = key[order]
    repeated = np.zeros(len(distinct), dtype=bool)
    repeated[order[1:]] = sorted_key[1:] == sorted_key[:-1]
    return repeated
