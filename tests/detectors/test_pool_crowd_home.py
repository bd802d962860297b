"""A pool whose crowd stays home is an audience (``pool__crowd_home_fans``): a small audience's keen fans and
its casual crowd engage its own creators and no others, where a seller's order lands on clients whose crowd
follows other creators too. Dev 40k four-worlds seed 55, xiaohongshu: 109 honest keen fans of 3 creators
(456 engagements), 0.76 of their posts' other engagers on those creators only; sellers' pools 0.00-0.50."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from detectors.context import WindowContext
from detectors.pools import PoolParams, seller_pools
from detectors.pools._crowd import _without_home_crowds
from tests.detectors.dev_windows import platform_rows


def _planted(*, crowd_roams: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per event: account, post, creator unit and pool. Units 0, 1 (posts 0, 1) and unit 2 (post 2): a
    pool of accounts 0-9 on posts 0 and 1; a crowd of accounts 10-49 on post 0 and on post 1 (home) or
    post 2 (roaming)."""
    users = np.repeat(np.arange(50), 2)
    posts = np.tile([0, 1], 50)
    if crowd_roams:
        posts[21::2] = 2
    pool = np.where(users < 10, 0, -1)
    return users, posts, np.array([0, 1, 2])[posts], pool


def _judged(*, crowd_roams: bool, params: PoolParams, pod: bool = False, pulse: bool = False) -> np.ndarray:
    """``_without_home_crowds`` on ``_planted``; with ``pod`` account 3 is a creator's own; the pool's events
    come with the crowd's, or with ``pulse`` after every one of them."""
    users, posts, unit, pool = _planted(crowd_roams=crowd_roams)
    creators = np.zeros(50, dtype=bool)
    creators[3] = pod
    when = (np.arange(len(users)) * 0.618034) % 1.0  # evenly spread, pool and crowd alike
    if pulse:
        when = np.where(pool >= 0, 0.9 + when / 10, when * 0.8)
    return _without_home_crowds(users, posts, unit, when, pool, creators, params=params)


def test_a_pool_whose_crowd_stays_home_leaves():
    """Planted: every crowd account engages the pool's two units only: the pool is an audience, cleared."""
    assert (_judged(crowd_roams=False, params=PoolParams()) == -1).all()


def test_a_pool_whose_crowd_roams_stays():
    """Planted: the crowd engages another creator too (a seller's clients): the pool stays; and too small
    a crowd (under ``crowd_home_min_accounts``) judges nothing."""
    pool = _planted(crowd_roams=False)[3]
    assert np.array_equal(_judged(crowd_roams=True, params=PoolParams()), pool)
    few = replace(PoolParams(), crowd_home_min_accounts=41)
    assert np.array_equal(_judged(crowd_roams=False, params=few), pool)


def test_an_order_delivered_as_its_own_pulse_stays():
    """Planted: a home crowd, but the pool's events all come after the crowd's (a drip-fed delivery):
    kept; with the timing guard opened to 1, cleared."""
    pool = _planted(crowd_roams=False)[3]
    assert np.array_equal(_judged(crowd_roams=False, params=PoolParams(), pulse=True), pool)
    opened = replace(PoolParams(), crowd_home_max_timing_distance=1.0)
    assert (_judged(crowd_roams=False, params=opened, pulse=True) == -1).all()


def test_a_pod_whose_crowd_stays_home_stays():
    """Planted: a home crowd, but the pool holds a creator's own account (an engagement pod): kept."""
    pool = _planted(crowd_roams=False)[3]
    assert np.array_equal(_judged(crowd_roams=False, params=PoolParams(), pod=True), pool)


def _caught(rows: pd.DataFrame, context: WindowContext, *, on: bool) -> np.ndarray:
    """Per row: whether the pool test flags it, the rule as given."""
    params = replace(PoolParams(), crowd_home_fans=on)
    detection = seller_pools(rows, params=params, audiences=context.audiences(rows))
    return np.asarray(detection.event_score >= 0.5)


def test_keen_fans_of_a_small_audience_are_no_pool():
    """Dev 40k four-worlds seed 55, xiaohongshu: the keen fans' 456 honest engagements are flagged with
    the rule off and at least 400 fewer with it on; no row is newly flagged, and of the fraudulent flags only
    the 2 riders in the fans' pool go (in the window the other detectors keep recall unchanged)."""
    rows, honest, context = platform_rows(
        55, "40k", "worlds=4+communities=3+studios+giveaways", "xiaohongshu"
    )
    off, on = _caught(rows, context, on=False), _caught(rows, context, on=True)
    assert (off & honest).sum() - (on & honest).sum() >= 400
    assert not (on & ~off).any()
    assert (off & ~honest).sum() - (on & ~honest).sum() <= 2


def test_a_drip_fed_order_on_an_isolated_audience_stays():
    """Dev 60k four-worlds seed 57, douyin: a drip-fed order of 81 accounts on 2 posts of 2 creators whose
    crowd stays home (0.69); its delivery comes after the crowd (timing distance 0.40): every flag kept."""
    rows, honest, context = platform_rows(57, "60k", "worlds=4+communities=3+studios+giveaways", "douyin")
    off, on = _caught(rows, context, on=False), _caught(rows, context, on=True)
    assert (off & ~honest).sum() >= 160
    assert np.array_equal(off, on)


def test_an_aged_book_on_few_posts_stays():
    """Dev 40k communities=3 seed 19, xiaohongshu: an aged book of 212 accounts on 4 posts of 3 creators
    (its crowd 0.10 at home): every fraudulent flag of the pool test is kept with the rule on."""
    rows, honest, context = platform_rows(19, "40k", "communities=3+studios+giveaways", "xiaohongshu")
    off, on = _caught(rows, context, on=False), _caught(rows, context, on=True)
    assert (off & ~honest).sum() >= 400
    assert np.array_equal(off, on)
