"""Replays and re-counts: the same engagement reported more than once counts once."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.arrays import categorical, stable_order

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
    # codes number event ids in order of first appearance, so the first rows come sorted
    # and the k-th of them carries code k (assigning backwards leaves each code's first row)
    first_row = np.full(len(event_ids), len(events), dtype=np.int64)
    first_row[event_codes[::-1]] = np.arange(len(events) - 1, -1, -1, dtype=np.int64)
    is_replayed = len(event_ids) < len(events)
    distinct = events.iloc[first_row] if is_replayed else events
    distinct = distinct.reset_index(drop=True)
    distinct["copies"] = copies.astype(np.int64)
    for column in CATEGORICAL_COLUMNS:
        if column in distinct and not isinstance(distinct[column].dtype, pd.CategoricalDtype):
            column_codes, uniques = pd.factorize(distinct[column])
            distinct[column] = categorical(column_codes, pd.Index(uniques))
    distinct["is_recount"] = later_repeats(distinct)
    return distinct


def later_repeats(distinct: pd.DataFrame) -> np.ndarray:
    """Per row: an earlier row (by time, then source order) has the same user, post and action."""
    user = distinct["user_id"].cat.codes.to_numpy().astype(np.int64)
    post = distinct["post_id"].cat.codes.to_numpy().astype(np.int64)
    action = distinct["action"].cat.codes.to_numpy().astype(np.int64)
    key = (user * (post.max(initial=0) + 1) + post) * (action.max(initial=0) + 1) + action
    t = distinct["ts"].to_numpy(dtype="datetime64[us]").astype(np.int64)
    repeated = np.zeros(len(distinct), dtype=bool)
    if len(distinct) < 2:
        return repeated
    # only keys seen more than once need ordering by time, then source row
    by_key = stable_order(key)
    sorted_key = key[by_key]
    same_as_next = sorted_key[1:] == sorted_key[:-1]
    rows = by_key[np.r_[same_as_next, False] | np.r_[False, same_as_next]]
    if len(rows) == 0:
        return repeated
    order = rows[np.lexsort((distinct["source_row"].to_numpy()[rows], t[rows], key[rows]))]
    repeated[order[1:]] = key[order[1:]] == key[order[:-1]]
    return repeated
