"""A seller's orders across one studio's creators (``pool__studio_served_units``)."""

import numpy as np
import pandas as pd

from detectors.audiences import AudienceParams, find_audiences
from detectors.pools import PoolParams, seller_pools
from tests.detectors.test_pools import _audiences, _frame


def _studio_and_book(seed: int = 3) -> tuple[pd.DataFrame, pd.Series]:
    """Four audiences that never meet (``_audiences``), creators a0k0..a0k11 of the first signed by one
    studio (its users are the studio's fans, spread over their own choice of its creators and the
    audience's others), and a book of 200 light accounts sent in orders of 30-60% of it onto posts of
    studio creators a0k0 and a0k1 and of creators a1k50 and a2k51 of two other audiences."""
    rng = np.random.default_rng(seed)
    user, creator = [], []
    for who in ("a0k0", "a0k1", "a1k50", "a2k51"):
        for account in rng.choice(200, size=int(rng.uniform(0.3, 0.6) * 200), replace=False):
            user.append(f"s{account}")
            creator.append(who)
    studios = pd.Series("studio-0", index=[f"p-a0k{c}" for c in range(12)])
    events = pd.concat([_audiences(n_audiences=4, users=1500), _frame(user, creator)], ignore_index=True)
    return events, studios


def test_a_books_orders_across_two_studio_creators_are_caught_and_the_studios_fans_stay_clean():
    events, studios = _studio_and_book()
    audiences = find_audiences(events, studios=studios, params=AudienceParams())
    account = events["user_id"].astype(str)
    book = account.str.startswith("s").to_numpy()
    on_studio = events["creator_id"].astype(str).isin(["a0k0", "a0k1"]).to_numpy()
    # the book's accounts whose light posts are the two studio orders: one creator unit, no cross-unit tie
    per = pd.DataFrame({"on": on_studio[book]}).groupby(account[book].to_numpy())["on"].agg(["all", "size"])
    only = per.index[per["all"].to_numpy() & (per["size"].to_numpy() == 2)]
    studio_only = account.isin(only).to_numpy() & book
    assert studio_only.sum() >= 20
    before = seller_pools(events, params=PoolParams(studio_served_units=False), audiences=audiences)
    assert (before.event_score[book & ~studio_only] >= 0.5).mean() > 0.8  # the pool is found
    assert (before.event_score[studio_only] >= 0.5).mean() < 0.1
    after = seller_pools(events, params=PoolParams(studio_served_units=True), audiences=audiences)
    assert (after.event_score[studio_only] >= 0.5).mean() > 0.9
    assert (after.event_score[book] >= 0.5).mean() >= (before.event_score[book] >= 0.5).mean()
    assert (after.event_score[~book] >= 0.5).sum() == 0
