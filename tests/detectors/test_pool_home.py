"""The pool test's search within the communities whose strangers went home (``search_strangers_home``)."""

import numpy as np
import pandas as pd
import pytest

from detectors.audiences import Audiences, light_pairs, post_codes
from detectors.pools import PoolParams, seller_pools
from detectors.pools._cover import _explained_at_home
from detectors.pools._search import _Light, _search
from features.arrays import codes
from tests.detectors.test_pools import _frame


def _small_audience_and_a_tied_client(*, seed: int, order: int = 150) -> pd.DataFrame:
    """A small audience S (4 creators, 3 posts each; 200 fans like 1-3 of them, 40% of them one of B's
    creators too) beside B (10 creators, 1,500 users who like 2-4) and C (8 creators, 1,000 users who
    like 2-4, and 400 fans of C's Ck0 who like it and 1-3 others of C), and ``order`` accounts of one
    seller's book, each on Ck0's bought post and Sk1's first post, which tie Ck0 into S's community (dev
    seeds 31 and 33, 50k communities=3+studios+giveaways: an undetected aged-accounts book on a small
    audience's creator and clients of the other audiences)."""
    rng = np.random.default_rng(seed)
    user, creator, post = [], [], []

    def like(account: str, name: str, on: str | None = None) -> None:
        user.append(account)
        creator.append(name)
        post.append(on or f"p-{name}-{rng.integers(3)}")

    for u in range(200):
        for c in rng.choice(4, size=rng.integers(1, 4), replace=False):
            like(f"Su{u}", f"Sk{c}")
        if rng.random() < 0.4:
            like(f"Su{u}", f"Bk{rng.integers(10)}")
    for u in range(1500):
        for c in rng.choice(10, size=rng.integers(2, 5), replace=False):
            like(f"Bu{u}", f"Bk{c}")
    for u in range(1000):
        for c in rng.choice(8, size=rng.integers(2, 5), replace=False):
            like(f"Cu{u}", f"Ck{c}")
    for u in range(400):
        like(f"Fu{u}", "Ck0")
        for c in rng.choice(7, size=rng.integers(1, 4), replace=False):
            like(f"Fu{u}", f"Ck{c + 1}")
    for u in range(order):
        like(f"order{u}", "Ck0", "p-Ck0-bought")
        like(f"order{u}", "Sk1", "p-Sk1-0")
    return _frame(user, creator, post=post)


def _audiences(events: pd.DataFrame) -> Audiences:
    """One unit per creator; communities as the finder put them: S's creators with Ck0 (the order tied
    it in), B's, C's others."""
    post_ids = post_codes(events)[1]
    creator = events.groupby("post_id", observed=True)["creator_id"].first().astype(str)
    creators, post_unit = np.unique(creator.reindex(post_ids).to_numpy(), return_inverse=True)
    names = pd.Series(creators)
    community = np.where(
        names.str.startswith("S") | (names == "Ck0"), 0, np.where(names.str.startswith("B"), 1, 2)
    )
    zeros = np.zeros(len(creators), dtype=np.int64)
    return Audiences(post_ids, post_unit.astype(np.int64), community.astype(np.int64), zeros, zeros)


def _flagged(events: pd.DataFrame, *, home: bool) -> np.ndarray:
    params = PoolParams(search_strangers_home=home)
    detection = seller_pools(events, params=params, audiences=_audiences(events))
    return np.asarray(detection.event_score >= 0.5)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_seller_pools_leave_a_small_audience_alone_when_an_order_tied_a_stranger_in(seed: int):
    """Counted in S's community, Ck0's crossing engagers, who co-engage C, dilute S's chance: S's fans
    read as a pool (138-245 of their ~500 engagements). Ck0's own fans, one account per footprint (the
    order's 150 are one), reach C: a stranger, counted there, and S's fans are as chance says (none);
    the order, now across two communities, is found either way (its 300 engagements)."""
    events = _small_audience_and_a_tied_client(seed=seed)
    fans = events["user_id"].astype(str).str.startswith("Su").to_numpy()
    assert _flagged(events, home=False)[fans].sum() > 50
    assert _flagged(events, home=True)[fans].sum() == 0
    order = events["user_id"].astype(str).str.startswith("order").to_numpy()
    assert _flagged(events, home=True)[order].all()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_seller_pools_still_find_a_pool_across_audiences_with_strangers_home(seed: int):
    """A seller's pool of 60 accounts, each on 3 of 6 bought posts of B's and C's creators, is found
    either way: counted in their own communities its links cross them."""
    events = _small_audience_and_a_tied_client(seed=seed)
    rng = np.random.default_rng(seed + 100)
    bought = ["Bk2", "Bk5", "Bk7", "Ck3", "Ck5", "Ck6"]
    user, creator, post = [], [], []
    for account in range(60):
        for name in rng.choice(bought, size=3, replace=False):
            user.append(f"pool{account}")
            creator.append(str(name))
            post.append(f"p-{name}-sold")
    events = pd.concat([events, _frame(user, creator, post=post)], ignore_index=True)
    pool = events["user_id"].astype(str).str.startswith("pool").to_numpy()
    assert _flagged(events, home=True)[pool].mean() > 0.95
    assert _flagged(events, home=False)[pool].mean() > 0.95


def _light(events: pd.DataFrame, audiences: Audiences) -> _Light:
    users = codes(events["user_id"])
    posts, post_ids = post_codes(events)
    params = PoolParams()
    pair_user, pair_post = light_pairs(users, posts, len(post_ids), params.min_posts, params.max_posts)
    return _Light(users, posts, (users >= 0) & (posts >= 0), pair_user, pair_post, audiences.post_unit)


def test_a_pool_of_no_stranger_is_judged_again_and_a_pool_holding_one_stays():
    """``_explained_at_home``: the community search's pools are S's fans' (no stranger among their
    creators) and the order's (on Ck0, the stranger): counted with Ck0 in C, S's fans are explained,
    the order's events are not judged again. Without the order Ck0 is no stranger in C: nothing."""
    events = _small_audience_and_a_tied_client(seed=1)
    audiences = _audiences(events)
    light = _light(events, audiences)
    params = PoolParams()
    event_pool = _search(light, audiences.unit_community, params=params)[0]
    user = events["user_id"].astype(str)
    fans, order = user.str.startswith("Su").to_numpy(), user.str.startswith("order").to_numpy()
    explained = _explained_at_home(light, audiences.unit_community, event_pool, params=params)
    assert (event_pool[fans] >= 0).sum() > 50 and (event_pool[order] >= 0).all()
    assert explained[fans & (event_pool >= 0)].all()
    assert not explained[order].any() and not explained[event_pool < 0].any()
    alone = _small_audience_and_a_tied_client(seed=1, order=0)
    own = _audiences(alone).unit_community.copy()
    own[own == 0] = np.where(np.unique(alone["creator_id"].astype(str)) == "Ck0", 2, 0)[own == 0]
    light = _light(alone, _audiences(alone))
    assert not _explained_at_home(light, own, _search(light, own, params=params)[0], params=params).any()
