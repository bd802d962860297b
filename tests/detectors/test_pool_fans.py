"""Fans, not orders (``pool__fans_not_orders``): a pool whose accounts engage its creators' other posts as
the crowd of the same posts does is an audience's keen fans; a seller's order skips the unbought posts."""

import numpy as np
import pandas as pd
import pytest

from detectors.audiences import AudienceParams, find_audiences
from detectors.pools import PoolParams, seller_pools
from tests.detectors.test_pool_sub_audience import _small_audience_tied_to_a_stranger


def _keen_fans(*, seed: int, order: bool = False) -> pd.DataFrame:
    """``test_pool_sub_audience``'s world (a small audience A of 3 creators, its 150 keen fans on posts 0
    and 1 of 2-3 of them, tied by a book into the community of a popular creator X, so that they read as
    a pool), with a popular post 2 of each of A's creators: 4 in 5 of the keen fans like it for each of
    their creators, and 600 of the creator's casual fans like it with a post of B, so its crowd hides its
    links and the search's pool leaves it out (its book adds it). With ``order``: 40 accounts of one
    order on post 0 of B's creators 1-3."""
    return _small_audience_tied_to_a_stranger(seed=seed, order_on="B" if order else "", popular_post=True)


def _flagged(events: pd.DataFrame, *, fans: bool) -> np.ndarray:
    """Flags with the sub-audience cover off (as near 50k, where it misses keen fans) and
    ``fans_not_orders`` as given."""
    audiences = find_audiences(events, studios=None, params=AudienceParams())
    params = PoolParams(cover_sub_audience=False, fans_not_orders=fans)
    detection = seller_pools(events, params=params, audiences=audiences)
    return np.asarray(detection.event_score >= 0.5)


@pytest.mark.parametrize("seed", [0, 2, 4])
def test_keen_fans_who_engage_their_creators_other_posts_are_no_pool(seed: int):
    """The pool of A's posts 0 holds keen fans who like the creators' post 1 about as often as post 0's
    other light engagers do: fans, not orders."""
    events = _keen_fans(seed=seed)
    fan = events["user_id"].astype(str).str.startswith("Au").to_numpy()
    assert _flagged(events, fans=False)[fan].sum() > 150
    assert _flagged(events, fans=True)[fan].sum() == 0


@pytest.mark.parametrize("seed", [0, 2])
def test_an_order_that_skips_its_clients_other_posts_stays_a_pool(seed: int):
    """The order's accounts like none of B's creators' posts 1 and 2, which their fans like: kept."""
    events = _keen_fans(seed=seed, order=True)
    order = events["user_id"].astype(str).str.startswith("order").to_numpy()
    before = _flagged(events, fans=False)[order].sum()
    assert before >= 100
    assert _flagged(events, fans=True)[order].sum() == before


def test_a_pool_that_holds_a_creators_own_account_is_no_fans():
    """An engagement pod engages every post of its members as fans do, but it is made of creators: the
    keen fans' pool with five of its accounts creators' own (B's creators 5-9) stays a pool."""
    events = _keen_fans(seed=0)
    accounts = events["user_id"].astype(str)
    # accounts the search's pool holds (on A's posts 0 and 1; the book adds posts 2)
    held = _flagged(events, fans=False) & ~events["post_id"].astype(str).str.endswith("-2").to_numpy()
    some = pd.unique(accounts[held & accounts.str.startswith("Au").to_numpy()])[:5]
    events["user_id"] = accounts.replace(dict(zip(some, [f"Bk{c}" for c in range(5, 10)], strict=True)))
    fan = events["user_id"].astype(str).str.startswith("Au").to_numpy()
    assert _flagged(events, fans=True)[fan].sum() > 150
