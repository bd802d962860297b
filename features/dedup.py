"""Replays and re-counts: the same engagement reported more than once counts once."""

from __future__ import annotations

import numpy as np
import pandas as pd


def distinct_engagements(events: pd.DataFrame) -> pd.DataFrame:
    """One row per distinct event_id, with ``copies`` and ``is_recount``.

    A replay repeats an event_id: its first row (in source order) is kept and
    ``copies`` counts how often the platform reported it. A re-count reports the
    same user, post and action under a new event_id: the earliest one (by ``ts``,
    then source order) is the engagement, the later ones get ``is_recount``.
    The result keeps the source order of first occurrences.
    """
    copies = events.groupby("event_id", sort=False, observed=True)["event_id"].transform("size")
    first = ~events["event_id"].duplicated(keep="first")
    distinct = events.loc[first].copy()
    distinct["copies"] = copies.loc[first].astype("int64").to_numpy()
    order = np.lexsort((distinct["source_row"].to_numpy(), distinct["ts"].to_numpy()))
    by_time = distinct.iloc[order]
    repeated = by_time.duplicated(subset=["user_id", "post_id", "action"], keep="first")
    is_recount = np.zeros(len(distinct), dtype=bool)
    is_recount[order] = repeated.to_numpy()
    distinct["is_recount"] = is_recount
    return distinct.reset_index(drop=True)
