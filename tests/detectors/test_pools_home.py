"""Pool membership: accounts are alike only within one home community (``members_by_home``)."""

from dataclasses import replace

import numpy as np

from detectors.pools import PoolParams
from detectors.pools._search import _members

# per light pair its account and creator, per creator its community, and the seller's accounts
Pairs = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def _pool_beside_a_popular_audience(*, seed: int = 0) -> Pairs:
    """Light (account, creator) pairs of one platform, one post per creator, and one pool.

    Community 0 (creators 0-39) is an ordinary audience: 2,000 accounts of 3 creators each.
    Community 1 (creators 40-59) is an audience whose 4 popular creators (40-43) draw most of
    its fans: 1,500 accounts of 3 creators each. A seller's 120 accounts each engaged 3 of
    creators 0-3. The pool holds creators 0-3 and, chained to them, the popular 40-43: many
    of community 1's fans have all three creators in the pool, as chance says they should.
    Returns per pair its account and creator, per creator its community, and the seller's
    accounts.
    """
    rng = np.random.default_rng(seed)
    users: list[int] = []
    creators: list[int] = []
    account = 0
    for _ in range(2000):
        picks = rng.choice(40, size=3, replace=False)
        users += [account] * 3
        creators += picks.tolist()
        account += 1
    weight = np.r_[np.full(4, 5.0), np.ones(16)]
    for _ in range(1500):
        picks = 40 + rng.choice(20, size=3, replace=False, p=weight / weight.sum())
        users += [account] * 3
        creators += picks.tolist()
        account += 1
    sellers = np.arange(account, account + 120)
    for seller in sellers:
        users += [int(seller)] * 3
        creators += rng.choice(4, size=3, replace=False).tolist()
    community = np.r_[np.zeros(40, dtype=np.int64), np.ones(20, dtype=np.int64)]
    return np.array(users), np.array(creators), community, sellers


def _pool_members(params: PoolParams) -> tuple[np.ndarray, np.ndarray]:
    user, creator, community, sellers = _pool_beside_a_popular_audience()
    in_pool = np.isin(creator, [0, 1, 2, 3, 40, 41, 42, 43])
    keys = _members(user, creator, np.where(in_pool, 0, -1), 1, community, params=params)
    members = keys // 2
    return np.isin(sellers, members), np.setdiff1d(members, sellers)


def test_a_sellers_accounts_are_members_beside_an_audiences_popular_posts_in_the_pool():
    found, honest = _pool_members(replace(PoolParams(), members_by_home=True))
    assert found.mean() > 0.95
    # community 1's fans on the popular posts are as common as chance says: none is a member
    assert len(honest) <= 5


def test_pooled_over_homes_the_audiences_fans_hide_the_sellers_accounts():
    """The same pool judged with every home in one stratum (before ``members_by_home``): the popular
    audience's fans, expected and found, put the seller's accounts above the false discovery rate."""
    found, _ = _pool_members(PoolParams())  # the default: off (docs/benchmarks.md)
    assert found.mean() < 0.05


def _fans_beside_a_large_order(*, seed: int = 1) -> Pairs:
    """As ``_pool_beside_a_popular_audience``, but community 1's popular creators draw fewer of its
    fans (weight 2) and the seller's order is 600 accounts: pooled over homes, the seller's accounts
    carry the cell of 3 creators all in the pool, and community 1's fans in it with them."""
    rng = np.random.default_rng(seed)
    users: list[int] = []
    creators: list[int] = []
    account = 0
    weight = np.r_[np.full(4, 2.0), np.ones(16)]
    for community, n_accounts in ((0, 2000), (1, 1500)):
        for _ in range(n_accounts):
            picks = (
                rng.choice(40, size=3, replace=False)
                if community == 0
                else 40 + rng.choice(20, size=3, replace=False, p=weight / weight.sum())
            )
            users += [account] * 3
            creators += picks.tolist()
            account += 1
    sellers = np.arange(account, account + 600)
    for seller in sellers:
        users += [int(seller)] * 3
        creators += rng.choice(4, size=3, replace=False).tolist()
    community_of = np.r_[np.zeros(40, dtype=np.int64), np.ones(20, dtype=np.int64)]
    return np.array(users), np.array(creators), community_of, sellers


def _members_of(pairs: Pairs, params: PoolParams) -> tuple[np.ndarray, np.ndarray]:
    user, creator, community, sellers = pairs
    in_pool = np.isin(creator, [0, 1, 2, 3, 40, 41, 42, 43])
    members = _members(user, creator, np.where(in_pool, 0, -1), 1, community, params=params) // 2
    return np.isin(sellers, members), np.setdiff1d(members, sellers)


def test_another_homes_fans_do_not_ride_on_a_sellers_cell_when_pooled_too():
    pairs = _fans_beside_a_large_order()
    found, honest = _members_of(pairs, PoolParams())
    assert found.mean() > 0.95 and len(honest) > 15  # pooled: community 1's fans pass with the order
    both = replace(PoolParams(), members_by_home=True, members_pooled_too=True)
    found, honest = _members_of(pairs, both)
    assert found.mean() > 0.95 and len(honest) <= 5
