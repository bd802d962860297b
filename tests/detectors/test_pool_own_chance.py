"""Membership's chance without the pool's own accounts (``pool__members_chance_without_own``): a seller's
book that is most of a small audience's engagement."""

import numpy as np
import pandas as pd
import pytest

from detectors.pools import PoolParams, seller_pools
from detectors.pools._search import _own_keys
from tests.detectors.test_pools import _found, _frame
from tests.factories import PlantedLikes

OFF = PoolParams()
ON = PoolParams(members_chance_without_own=True)


def _book_in_a_small_audience(*, seed: int, book: int = 400) -> pd.DataFrame:
    """A platform of 3,000 users on 60 creators (3 posts each, 1-4 creators per user) and a small audience
    of 300 users on its 6 creators s0..s5 (1-3 of them each, 2% also one platform creator). A seller's
    ``book`` aged accounts each take each of three orders, on p-s0-0, p-s1-0 and p-s2-0, with chance 0.7:
    a book larger than its clients' audience, as dev seed 60's 50k window on douyin (393 aged accounts
    on a 3-unit pool whose honest light engagers are a few hundred)."""
    rng = np.random.default_rng(seed)
    like = PlantedLikes()
    for u in range(3000):
        for c in rng.choice(60, size=rng.integers(1, 5), replace=False):
            like(f"u{u}", f"k{c}", f"p-k{c}-{rng.integers(3)}")
    for u in range(300):
        for c in rng.choice(6, size=rng.integers(1, 4), replace=False):
            like(f"v{u}", f"s{c}", f"p-s{c}-{rng.integers(3)}")
        if rng.random() < 0.02:
            c = rng.integers(60)
            like(f"v{u}", f"k{c}", f"p-k{c}-{rng.integers(3)}")
    for account in range(book):
        for c in range(3):
            if rng.random() < 0.7:
                like(f"aged{account}", f"s{c}", f"p-s{c}-0")
    return _frame(like.user, like.creator, post=like.post)


def _flagged(events: pd.DataFrame, params: PoolParams) -> tuple[float, int]:
    """The share of the book's events flagged and the honest events flagged."""
    detection = seller_pools(events, params=params, audiences=_found(events))
    flagged = detection.event_score >= 0.5
    aged = events["user_id"].astype(str).str.startswith("aged").to_numpy()
    return float(flagged[aged].mean()) if aged.any() else 0.0, int((flagged & ~aged).sum())


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_seller_pools_count_chance_without_the_books_own_accounts(seed: int):
    """The book's accounts on one order (a third) or two of three (most), and nowhere else, count as the
    small audience's honest engagement of the pool: its share is then so large that chance explains even
    the accounts on all three orders, and nothing is flagged. Left out of chance (their every light post
    is the pool's), the accounts on all three orders are members (0.49-0.51 of the book's events; those
    on two of three stay under the FDR bar here); the audience's fans, on the clients' other posts
    too, are not."""
    events = _book_in_a_small_audience(seed=seed)
    aged_off, honest_off = _flagged(events, OFF)
    aged_on, honest_on = _flagged(events, ON)
    assert aged_off < 0.05
    assert aged_on > 0.4
    assert honest_off == honest_on == 0


def test_seller_pools_leave_a_small_audience_alone_without_a_book():
    """The same platform and small audience without the book: the rule on flags nothing."""
    assert _flagged(_book_in_a_small_audience(seed=0, book=0), ON) == (0.0, 0)


def _keys_own(fan_posts: list[tuple[int, int]]) -> list[bool]:
    """``_own_keys`` of one pool on units 0 and 1: 30 accounts on its two posts alone (one of each unit)
    and 30 fans on ``fan_posts`` (unit, pool; -1 a post of the unit outside the pool)."""
    book = [(a, unit, 0) for a in range(30) for unit in (0, 1)]
    fans = [(30 + a, unit, pool) for a in range(30) for unit, pool in fan_posts]
    user, unit, pool = (np.array(c, dtype=np.int64) for c in zip(*(book + fans), strict=True))
    on = pool >= 0
    keys = np.unique(user[on] * 2 + pool[on])
    return _own_keys(user, unit, pool, keys, 1, np.zeros(len(keys), dtype=bool), params=ON).tolist()


def test_own_keys_count_where_the_pools_own_accounts_are_more_than_its_creators_fans_explain():
    """Fans who like the units' other posts too (a quarter of their likes on the pool's posts): 30 own
    accounts against 1.9 by chance are the pool's own. Fans mostly on the pool's posts (two thirds): 30
    against 22 by chance, none is."""
    own = _keys_own([(0, 0), (0, -1), (1, -1), (1, -1)])
    assert own == [True] * 30 + [False] * 30
    assert not any(_keys_own([(0, 0), (1, 0), (1, -1)]))
