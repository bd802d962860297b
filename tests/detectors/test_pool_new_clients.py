"""The book of a pool found as an uncovered candidate takes its new clients' orders and keeps the events
the orderless search explains (``pool__candidate_book_new_clients``)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from detectors.audiences import post_codes
from detectors.pools import PoolParams, seller_pools
from detectors.pools._book import _book_candidates, _main_pool, _orders
from detectors.pools._cover import _with_uncovered
from detectors.pools._detector import _light_pairs
from detectors.pools._search import _Light, _search
from features.arrays import codes
from tests.detectors.test_pool_whole_book import _aged_platform
from tests.detectors.test_pools import _found, _frame, _sparse_platform

_ON = {"candidate_book_new_clients": True}


def _book_with_a_new_client(seed: int = 9) -> pd.DataFrame:
    """A well-mixed platform of 100 creators; a drip-fed book (183 accounts, each on 5 of 9 clients k0-k8,
    nothing else: an insular community of its own, ``test_seller_pools_find_a_drip_fed_book_that_is_its_own
    _community``); two popular creators k50 and k60 with 300 fans of their own each (20% of them on another
    creator too); 40 of the book's accounts also sent to an order of k50, a new client."""
    user, creator = _sparse_platform()
    rng = np.random.default_rng(seed)
    for account in range(183):
        for client in rng.choice(9, size=5, replace=False):
            user.append(f"s{account}")
            creator.append(f"k{client}")
    crowd = np.random.default_rng(3)
    for star in (50, 60):
        for fan in range(300):
            user.append(f"f{star}-{fan}")
            creator.append(f"k{star}")
            if crowd.random() < 0.2:
                user.append(f"f{star}-{fan}")
                creator.append(f"k{crowd.integers(10, 100)}")
    for account in range(40):
        user.append(f"s{account}")
        creator.append("k50")
    return _frame(user, creator)


def test_a_candidates_book_takes_the_order_of_a_client_no_pool_serves():
    """The search within the communities finds nothing (the book is its own community); the candidate
    found with the platform as one audience holds the 9 clients' posts, not k50's (158 light engagers, 41
    of them the pool's). A book takes posts of the creators its pool serves only; with
    ``candidate_book_new_clients`` k50's post is a candidate of the pool whose accounts engaged it most and
    carries its order (41 of the pool's 234 accounts against 14.5 at the light accounts' rate); k60's, as
    popular and never served, does not (2 against 12.6)."""
    events = _book_with_a_new_client()
    audiences = _found(events)
    params = PoolParams()
    users, (posts, post_ids) = codes(events["user_id"]), post_codes(events)
    ok = (users >= 0) & (posts >= 0)
    pair_user, pair_post, _ = _light_pairs(
        events["user_id"], users[ok], posts[ok], len(post_ids), params=params, chance=None
    )
    light = _Light(users, posts, ok, pair_user, pair_post, audiences.units(post_ids))
    unit_community = audiences.communities(np.arange(int(light.unit.max()) + 1))
    event_pool, lifts, _ = _search(light, unit_community, params=params)
    n_search = len(lifts)
    assert audiences.n_communities == 2 and n_search == 0
    event_pool, _ = _with_uncovered(light, audiences, event_pool, lifts, params=params)
    hit = (event_pool >= 0) & light.ok
    n_pools = int(event_pool.max()) + 1
    post_pool = _main_pool(light.posts[hit], event_pool[hit], len(light.unit), n_pools)
    unit_pool = _main_pool(light.unit[light.posts[hit]], event_pool[hit], int(light.unit.max()) + 1, n_pools)
    star = {name: int(np.flatnonzero(post_ids == f"p-k{name}")[0]) for name in (50, 60)}
    assert (post_pool[list(star.values())] < 0).all()
    for new_from, taken in ((None, False), (n_search, True)):
        candidate = _book_candidates(light, post_pool, unit_pool, n_pools, params=params, new_from=new_from)
        book = _orders(light, post_pool, candidate, params=params)
        assert (book[star[50]] >= 0) == taken
        assert book[star[60]] < 0


def test_a_sellers_new_client_of_an_earlier_week_keeps_its_accounts_members():
    """Dev history seed 56, xiaohongshu, 3 weeks of history: the aged pool's clients are a community of
    their own in the communities found without the orders, whose search explains the 230 window events
    the search within the communities pooled; the candidate found with the platform as one audience takes
    back 170 (1 week of history: 207). 37 accounts are short: a history-only client, a popular post in
    the large community, is outside the candidate (2 of 3 and 1 of 2 units). With the knob the book
    takes that client's order and keeps its members' explained events: 0.536 -> 0.653 of the window's
    317 aged events (docs/journal/session-18.md, "hist19"), and no honest engagement is added."""
    rows, window, aged, honest, context = _aged_platform(56, "xiaohongshu")
    audiences = context.audiences(rows)

    def caught(**knobs: bool) -> np.ndarray:
        return (
            seller_pools(rows, params=replace(PoolParams(), **knobs), audiences=audiences).event_score >= 0.5
        )

    off, on = caught(), caught(**_ON)
    assert off[window & aged].mean() < 0.55
    assert on[window & aged].mean() > 0.64
    assert not (off & ~on).any()
    assert on[honest].sum() == off[honest].sum()
