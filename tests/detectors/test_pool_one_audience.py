"""A pool on a platform of one audience community, shown only through its overlap
(``pool__cover_one_audience``).

In a small window the audiences hold one community (too sparse to tell them apart), and two creators of an
unseen audience whose fans engage both look like a seller's pool of two posts: dev 5k communities=3 seed 33,
douyin, 28 honest accounts on 2 posts of 2 creators, block lift 2.0, 296x beyond the overlap counted from 2
crossing engagers outside it."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from detectors.pools import PoolParams, seller_pools
from detectors.pools._one_audience import _covered_in_one_audience
from tests.detectors.dev_windows import platform_rows
from tests.detectors.test_pools import _frame
from tests.factories import PlantedLikes


def _two_creators_of_one_audience(like: PlantedLikes) -> None:
    """Creators kA (a popular post, 230 fans) and kB (62): 30 fans engage both posts and nothing else, 2 of
    kB's fans also one post of k0."""
    for u in range(200):
        like(f"a{u}", "kA", "p-kA")
    for u in range(30):
        like(f"b{u}", "kB", "p-kB")
    for u in range(30):
        like(f"ab{u}", "kA", "p-kA")
        like(f"ab{u}", "kB", "p-kB")
    for u in range(2):
        like(f"s{u}", "kB", "p-kB")
        like(f"s{u}", "k0", "p-k0")


def _crowd(like: PlantedLikes, *, accounts: int, rng: np.random.Generator) -> None:
    """``accounts`` light accounts, each on the posts of 2 of 12 creators k0-k11."""
    for u in range(accounts):
        for c in rng.choice(12, size=2, replace=False):
            like(f"u{u}", f"k{c}", f"p-k{c}")


def _seller(like: PlantedLikes, *, accounts: int, rng: np.random.Generator) -> None:
    """A seller's pool: ``accounts`` accounts, each on 4 of the posts of 5 clients k1-k5."""
    for u in range(accounts):
        for c in rng.choice(5, size=4, replace=False):
            like(f"o{u}", f"k{c + 1}", f"p-k{c + 1}")


def _window(*, audience: bool, seller: bool, crowd: int) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    like = PlantedLikes()
    if audience:
        _two_creators_of_one_audience(like)
    _crowd(like, accounts=crowd, rng=rng)
    if seller:
        _seller(like, accounts=40, rng=rng)
    return _frame(like.user, like.creator, post=like.post)


def _flagged(events: pd.DataFrame, *, on: bool) -> np.ndarray:
    """Per row: whether the pool test flags it, the platform as one audience (no ``audiences``)."""
    detection = seller_pools(events, params=replace(PoolParams(), cover_one_audience=on))
    return np.asarray(detection.event_score >= 0.5)


def test_two_creators_of_one_unseen_audience_are_no_pool():
    """Planted: the 30 fans of both creators are a pool of 2 posts with the rule off (their link 4.5x the
    block model's chance, thousands of times beyond the overlap, from no crossing engager outside it), and
    no pool with it on."""
    events = _window(audience=True, seller=False, crowd=40)
    off, on = _flagged(events, on=False), _flagged(events, on=True)
    assert off.sum() == 60
    assert not on.any()


def test_a_sellers_pool_whose_posts_keep_their_fans_stays():
    """Planted: a seller's 40 accounts on 4 of 5 clients' posts in a window of one audience, each link
    under ``min_lift`` over the block model (2.4-3.2x) but its posts keep their own crossing fans (about
    half of them outside the overlap): flagged alike with the rule on and off."""
    events = _window(audience=False, seller=True, crowd=200)
    off, on = _flagged(events, on=False), _flagged(events, on=True)
    assert off.sum() == 160
    assert np.array_equal(off, on)


def test_only_the_pools_shown_through_their_overlap_leave():
    """``_covered_in_one_audience``: events of pool 1 (overlap only) leave, pool 0 and the rest stay."""
    event_pool = np.array([0, 1, -1, 1, 0, 2])
    out = _covered_in_one_audience(event_pool, np.array([False, True, False]))
    assert out.tolist() == [0, -1, -1, -1, 0, 2]
    assert _covered_in_one_audience(event_pool, np.zeros(3, dtype=bool)) is event_pool


def test_the_honest_audience_of_dev_seed_33_is_no_pool():
    """Dev 5k communities=3 seed 33, douyin: the 90 honest engagements of two creators' fans are flagged
    with the rule off and none with it on; no fraudulent flag of the pool test there either way."""
    rows, honest, context = platform_rows(33, "5k", "communities=3+studios+giveaways", "douyin")
    audiences = context.audiences(rows)
    off, on = (
        np.asarray(
            seller_pools(
                rows, params=replace(PoolParams(), cover_one_audience=flag), audiences=audiences
            ).event_score
            >= 0.5
        )
        for flag in (False, True)
    )
    assert (off & honest).sum() >= 80
    assert not (on & honest).any()
    assert not (off & ~honest).any()
