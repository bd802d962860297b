"""Membership's chance by one-off reach (``pool__members_chance_by_one_offs``): a seller's book that is
most of a small audience's light engagement, and a crowd that engages only an audience's popular posts."""

import numpy as np
import pandas as pd
import pytest

from detectors.pools import PoolParams, seller_pools
from detectors.pools._search import _Light, _one_off_share, _Reach, _whole_footprints
from tests.detectors.test_pools import _found, _frame
from tests.factories import PlantedLikes

OFF = PoolParams(members_chance_by_one_offs=False)
ON = PoolParams(members_chance_by_one_offs=True)


def _small_audience(*, seed: int, book: int = 0, crowd: int = 0) -> pd.DataFrame:
    """A platform of 3,000 users on 60 creators (3 posts each, 1-4 creators per user; a quarter of them
    engage one post) and a small audience of 400 users on its 6 creators s0..s5 (1-3 of them each, one
    post of each). A seller's ``book`` accounts take two or all three of its orders on p-s0-0, p-s1-0 and
    p-s2-0 (order after order: never one alone); a ``crowd`` of honest users engage two or three of the
    audience's most popular posts, p-s0-1, p-s1-1 and p-s2-1, which draw most of its one-off fans."""
    rng = np.random.default_rng(seed)
    like = PlantedLikes()
    for u in range(3000):
        for c in rng.choice(60, size=rng.integers(1, 5), replace=False):
            like(f"u{u}", f"k{c}", f"p-k{c}-{rng.integers(3)}")
    for u in range(400):
        for c in rng.choice(6, size=rng.integers(1, 4), replace=False):
            # a creator's popular post (-1) draws half of its audience, its other two the rest
            post = 1 if c < 3 and rng.random() < 0.5 else rng.choice([0, 2])
            like(f"v{u}", f"s{c}", f"p-s{c}-{post}")
    for account in range(book):
        orders = (0, 1, 2) if rng.random() < 0.5 else tuple(rng.choice(3, size=2, replace=False))
        for c in orders:
            like(f"aged{account}", f"s{c}", f"p-s{c}-0")
    for u in range(crowd):
        for c in rng.choice(3, size=rng.integers(2, 4), replace=False):
            like(f"crowd{u}", f"s{c}", f"p-s{c}-1")
    return _frame(like.user, like.creator, post=like.post)


def _flagged(events: pd.DataFrame, params: PoolParams) -> tuple[float, int]:
    """The share of the book's events flagged and the honest events flagged."""
    detection = seller_pools(events, params=params, audiences=_found(events))
    flagged = detection.event_score >= 0.5
    aged = events["user_id"].astype(str).str.startswith("aged").to_numpy()
    return float(flagged[aged].mean()) if aged.any() else 0.0, int((flagged & ~aged).sum())


@pytest.mark.parametrize("seed", [2, 3])
def test_seller_pools_judge_a_books_own_accounts_by_its_one_off_reach(seed: int):
    """150 accounts on the three orders (two or three each) are most of the small audience's light
    engagement of those posts: counted as chance, they explain each other (0 flagged). The orders'
    one-off reach is the audience's: by it the book's accounts are members (0.60-0.62 of its events).
    On seeds 0 and 1 of this world nothing of the book is flagged either way (with 400 accounts on seed 0
    the rule makes members in the community search, and the later stages leave none)."""
    events = _small_audience(seed=seed, book=150)
    aged_off, honest_off = _flagged(events, OFF)
    aged_on, honest_on = _flagged(events, ON)
    assert aged_on > aged_off + 0.3
    assert honest_off == honest_on == 0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_seller_pools_leave_a_crowd_on_popular_posts_alone(seed: int):
    """300 honest users on two or three of the audience's popular posts and nothing else: those posts
    draw most of the audience's one-off fans too, so their reach explains the crowd, rule on or off."""
    events = _small_audience(seed=seed, crowd=300)
    assert _flagged(events, ON) == _flagged(events, OFF) == (0.0, 0)


def test_one_off_share_counts_a_pools_one_off_engagers_against_its_communitys():
    """Posts 0-3 of units 0-3, units 0 and 1 in community 0, 2 and 3 in community 1; one pool on posts 0
    and 2. 40 one-off engagers on post 0, 60 on post 1, 5 on post 2 (community 1 has 5 in all, under
    ``min_accounts``: no bound); a light account on posts 0 and 1 counts nowhere."""
    users = np.r_[np.arange(40), 40 + np.arange(60), 100 + np.arange(5), 105, 105]
    posts = np.r_[np.zeros(40), np.ones(60), np.full(5, 2), 0, 1].astype(np.int64)
    unit = np.arange(4, dtype=np.int64)
    empty = np.zeros(0, dtype=np.int64)
    light = _Light(users, posts, np.ones(len(users), dtype=bool), empty, empty, unit)
    assert light.one_off_engagers.tolist() == [40.0, 60.0, 5.0, 0.0]
    share = _one_off_share(light, np.array([0, -1, 0, -1]), 1, np.array([0, 0, 1, 1]), params=ON)
    assert share[0, 0] == pytest.approx((40 + ON.one_off_errors * np.sqrt(41)) / 100)
    assert share[0, 1] == 1.0


def test_whole_footprints_are_the_accounts_with_every_light_post_in_the_pool():
    """Account 0 on two posts of pool 0; account 1 on one post of pool 0 and one outside every pool."""
    pair_user = np.array([0, 0, 1, 1])
    pair_pool = np.array([0, 0, 0, -1])
    on = pair_pool >= 0
    user_pool = pair_user[on] * 2 + pair_pool[on]
    keys = np.unique(user_pool)
    assert _whole_footprints(pair_user, user_pool, keys, 1).tolist() == [True, False]


def test_reach_judges_whole_footprints_that_skipped_a_post_of_their_creators():
    """Pool 0 holds posts 0 (unit 0) and 1 (unit 1), whose unit also has post 2; pool 1 holds posts 3 and
    4, the only posts of units 2 and 3. Account 0 on posts 0 and 1 skipped post 2: judged. Account 1 on
    posts 0, 1 and 2 is no whole footprint; account 2 on posts 3 and 4 had nothing to skip."""
    pair_user = np.array([0, 0, 1, 1, 1, 2, 2])
    pair_post = np.array([0, 1, 0, 1, 2, 3, 4])
    unit = np.array([0, 1, 1, 2, 3])
    post_pool = np.array([0, 0, -1, 1, 1])
    light = _Light(pair_user, pair_post, np.ones(7, dtype=bool), pair_user, pair_post, unit)
    reach = _Reach.of(light, post_pool, 2, np.zeros(4, dtype=np.int64), params=ON)
    pair_pool = post_pool[pair_post]
    on = pair_pool >= 0
    user_pool = pair_user[on] * 3 + pair_pool[on]
    keys = np.unique(user_pool)
    triples = np.unique(user_pool * 4 + unit[pair_post][on])
    _, judged = reach.judged(pair_user, user_pool, keys, triples, 4, 2)
    assert dict(zip(keys.tolist(), judged.tolist(), strict=True)) == {0: True, 3: False, 7: False}
