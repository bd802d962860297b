"""A group test's verdicts found once on a split platform's whole graph, read by each shard of it.

A platform split along its engagement graph (``scaleout``) is scored shard by shard,
but a seller's book of aged accounts is one group of the platform's graph whose
clients' creators may land in different shards: each shard holds a part of it,
weaker than the whole and judged against the shard's own degrees. The dense-block
and pool tests read only the platform's distinct (account, post) pairs and their
creators (events on one pair are one edge, and an event's verdict is its pair's),
so they run once on the platform's pairs (``pair_verdicts`` of their detection)
and every shard reads its own engagements' verdicts from the result
(``verdicts_in``): the groups, scores and evidence of the whole platform.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from detectors.base import Detection

# the (account, post) pairs of a platform inside a detector's groups: their score and group
VERDICT_COLUMNS = ("user_id", "post_id", "score", "group_id")


@dataclass(frozen=True)
class PlatformVerdicts:
    """One detector's verdicts on a platform's whole graph: the pairs in a group, and the groups."""

    name: str
    pairs: pd.DataFrame  # ``VERDICT_COLUMNS``, ids as str
    groups: pd.DataFrame  # the detection's groups frame
    # per account in a group: the share of its distinct posts on the platform inside the groups
    # (``detectors.spread.weight_by_focus``: a shard sees only its part of an account's posts)
    focus: pd.Series


def pair_verdicts(pairs: pd.DataFrame, detection: Detection) -> PlatformVerdicts:
    """The verdicts of a ``detection`` of a platform's distinct (user_id, post_id) ``pairs``."""
    rows = np.flatnonzero(detection.event_group >= 0)
    found = pd.DataFrame(
        {
            "user_id": pairs["user_id"].iloc[rows].astype("str").to_numpy(dtype=object),
            "post_id": pairs["post_id"].iloc[rows].astype("str").to_numpy(dtype=object),
            "score": detection.event_score[rows],
            "group_id": detection.event_group[rows],
        }
    )
    kept = found.drop_duplicates(["user_id", "post_id"], ignore_index=True)
    distinct = pairs[["user_id", "post_id"]].dropna().astype("str").drop_duplicates()
    posts_of = distinct.groupby("user_id").size()
    inside = kept.groupby("user_id").size()
    focus = (inside / posts_of.reindex(inside.index)).astype("float64")
    return PlatformVerdicts(detection.name, kept, detection.groups, focus)


def verdicts_in(engagements: pd.DataFrame, *, found: PlatformVerdicts) -> Detection:
    """The detection of ``engagements`` (rows of the platform ``found`` was found on): each event
    scores as its (account, post) pair did on the whole platform, 0 outside the groups."""
    n = len(engagements)
    if not len(found.pairs) or not n:
        return Detection(found.name, np.zeros(n), np.full(n, -1, dtype=np.int64), found.groups)
    known = pd.MultiIndex.from_arrays([found.pairs["user_id"], found.pairs["post_id"]])
    asked = pd.MultiIndex.from_arrays(
        [engagements["user_id"].astype("str").to_numpy(), engagements["post_id"].astype("str").to_numpy()]
    )
    at = known.get_indexer(asked)
    # rows without an account or a post are never in a group (their str would be "nan")
    at[(engagements["user_id"].isna() | engagements["post_id"].isna()).to_numpy()] = -1
    hit = at >= 0
    score = np.where(hit, found.pairs["score"].to_numpy(dtype=np.float64)[at], 0.0)
    group = np.where(hit, found.pairs["group_id"].to_numpy(dtype=np.int64)[at], -1)
    return Detection(found.name, score, group.astype(np.int64), found.groups)
