"""Fans, not orders, read by a majority of the creators' other posts near the crowd's rate
(``pool__fans_near_crowd``): dev 40k communities=3 seed 39's keen fans engage 4 of the 7 other posts
their pool's creators' crowd engaged at 0.5-3 times the crowd's rate (0, 0, 0.29, 0.55, 1.4, 1.7, 2.67
times it); a seller's accounts skip the client's unbought posts and fill its bought ones far above it,
and 40k seed 17's ring (alts of two creators, 10 of 22 posts in the band) stays."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from detectors.context import WindowContext
from detectors.pools import PoolParams, seller_pools
from tests.detectors.test_pool_book_floor import _platform


def _caught(rows: pd.DataFrame, context: WindowContext, *, near: bool) -> np.ndarray:
    """Per row: whether the pool test flags it, with ``fans_near_crowd`` as given."""
    # chance within regions' pieces clears s39's fans too (docs/journal/session-17.md, "fans18"): off here
    params = replace(PoolParams(), fans_near_crowd=near, pool_communities_within_regions=False)
    detection = seller_pools(rows, params=params, audiences=context.audiences(rows))
    return np.asarray(detection.event_score >= 0.5)


def test_keen_fans_on_a_majority_of_their_creators_other_posts_are_no_pool():
    """Dev 40k seed 39, douyin: 16 keen fans (82 honest engagements on 9 posts of 5 creators) stay a pool
    under the every-post bar and leave it with the majority near the crowd; every fraudulent flag stays."""
    rows, honest, context = _platform(39, "40k", "douyin")
    every, most = _caught(rows, context, near=False), _caught(rows, context, near=True)
    assert (every & honest).sum() - (most & honest).sum() >= 60
    assert not (most & ~every).any()
    assert (most & ~honest).sum() == (every & ~honest).sum()


def test_an_engagement_rings_alts_are_no_majority_near_the_crowd():
    """Dev 40k seed 17, xiaohongshu: a ring's pool of 7 alts engages 13 of its 22 other posts at half the
    crowd's rate or more, but only 10 of them under 3 times it: every ring flag stays."""
    rows, honest, context = _platform(17, "40k", "xiaohongshu")
    every, most = _caught(rows, context, near=False), _caught(rows, context, near=True)
    assert (every & ~honest).sum() >= 40
    assert (most & ~honest).sum() == (every & ~honest).sum()
