"""Members by their focus on a book's orders (``pool__book_focus_members``): a seller's accounts kept for
orders engage nothing else, which membership's chance explains where the book is most of its community."""

import numpy as np
import pandas as pd
import pytest

from detectors.pools import PoolParams
from detectors.pools._focus import _focus_members, _focused
from detectors.pools._search import _Light
from tests.detectors.test_pool_pairs import ORDERS, WEIGHTS, _scene, book_members
from tests.detectors.test_pools import _frame
from tests.factories import PlantedLikes

ON = PoolParams(book_focus_members=True)


def _found(events: pd.DataFrame, params: PoolParams) -> tuple[tuple[int, int], tuple[int, int], int]:
    """(seller's accounts, honest accounts) among the members of the book of the four orders and the
    clients' popular posts: by ``_members`` with the search's accounts (three units or more), and with
    the focused members added; and the seller's accounts on exactly two orders."""
    got = book_members(events, params, _focus_members)
    return got["found"], got["found+"], got["two"][0]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_sellers_accounts_on_its_orders_alone_are_members(seed: int):
    """The search's pool holds the seller's accounts on three orders or more; membership's chance explains
    the rest (the book is most of its community). The accounts whose every post is an order are taken:
    the seller's on two orders, and of the clients' 1,150 fans (posts drawn by popularity, 2% on each
    order) at most the one or two chance lands on orders alone."""
    (seller, honest), (seller_focus, honest_focus), two = _found(_scene(seed=seed), ON)
    assert two >= 80
    assert honest == 0
    assert seller <= 400 - two
    assert seller_focus >= seller + two * 0.9
    assert honest_focus <= 2


@pytest.mark.parametrize("seed", [0, 1])
def test_a_clients_popular_post_is_no_order(seed: int):
    """Counted as orders, the clients' popular posts (60% of their fans' draws) put every fan's focus at
    chance and the seller's accounts with them: nobody is taken."""
    events = _scene(seed=seed)
    (seller, honest), (seller_focus, honest_focus), _ = _found(
        events, PoolParams(book_focus_members=True, book_focus_max_post_share=1.0)
    )
    assert (seller_focus, honest_focus) == (seller, honest)


def test_accounts_are_taken_while_chance_explains_few():
    """Five accounts at 1e-4 among 1,000 tested at 0.01 are not enough (the floor of ``min_accounts``);
    twenty at 1e-4 are taken, and with them none of the accounts at 0.01 (chance would explain 10)."""
    tested = np.r_[np.full(1000, 0.01), np.full(20, 1e-4)]
    few = _focused(np.arange(5), np.full(5, 1e-4), tested, params=ON)
    assert len(few) == 0
    many = _focused(np.arange(30), np.r_[np.full(20, 1e-4), np.full(10, 0.01)], tested, params=ON)
    assert many.tolist() == list(range(20))


def _with_a_one_post_client(events: pd.DataFrame, *, seed: int) -> pd.DataFrame:
    """``events`` (``_scene``) plus a fifth client c4 of community 1 with one post, an order: half of the
    seller's 400 accounts on it, and 50 fans on it and on a post of c0..c3 (drawn by popularity)."""
    rng = np.random.default_rng(seed + 100)
    like = PlantedLikes()
    for account in range(400):
        if rng.random() < 0.5:
            like(f"aged{account}", "c4", "p-c4-0")
    for f in range(50):
        c = rng.integers(4)
        like(f"g{f}", "c4", "p-c4-0")
        like(f"g{f}", f"c{c}", f"p-c{c}-{rng.choice(10, p=WEIGHTS)}")
    extra = _frame(like.user, like.creator, post=like.post)
    extra["event_id"] = "c4" + extra["event_id"].astype(str)
    return pd.concat([events, extra], ignore_index=True)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_an_order_that_is_its_clients_only_post_is_an_order(seed: int):
    """A client with one post draws all of its unit's engagement there (share 1.0): by the unit-share rule
    its order is no order, and the seller's accounts on it and one other order are no focus hits. Counted
    by the post's own engagers, mostly the book's accounts (``book_focus_order_min_found_share``), it is
    an order and those accounts are taken. A fan whose one other draw lands on an order (2% each, one of 50
    expected) looks just like them and may be taken: honest riders stay under 3% of the accounts taken
    (the stopping rule's 2%, and a seed's luck)."""
    events = _with_a_one_post_client(_scene(seed=seed), seed=seed)
    on_c4 = events[events["post_id"].isin([*ORDERS, "p-c4-0"])].groupby("user_id")["post_id"].agg(set)
    pair_with_c4 = sum(str(u).startswith("aged") and len(p) == 2 and "p-c4-0" in p for u, p in on_c4.items())
    assert pair_with_c4 >= 40
    by_unit = book_members(events, ON, _focus_members, more=("p-c4-0",))["found+"]
    by_post = book_members(
        events,
        PoolParams(book_focus_members=True, book_focus_order_min_found_share=0.3),
        _focus_members,
        more=("p-c4-0",),
    )["found+"]
    assert by_post[0] >= by_unit[0] + 0.9 * pair_with_c4
    assert by_post[1] - by_unit[1] <= 0.03 * by_post[0]


def _reference_focus(light, book_pool, found, n_pools, unit_community, *, params):
    """The rule as aged18 wrote it (every count over the whole range of account codes, each book's chance
    counted every round for every account): what ``_focus_members`` must equal, faster."""
    users, n_users = light.pair_user, int(light.pair_user.max()) + 1
    n_units = int(light.unit.max()) + 1
    cells, per_unit = np.unique(users * n_units + light.unit[light.pair_post], return_counts=True)
    n_posts = np.bincount(users, minlength=n_users)
    tested = np.bincount(cells // n_units, minlength=n_users) >= params.min_creators

    def shares(counted):
        count = np.bincount(light.pair_post[counted], minlength=len(light.unit)).astype(np.float64)
        unit_count = np.bincount(light.unit, weights=count, minlength=n_units).astype(np.float64)
        return count / np.maximum(unit_count[light.unit], 1.0), unit_count

    def chance(share, weight):
        cell_community = unit_community[cells % n_units]
        summed_in = np.zeros(n_units, dtype=np.int64)
        summed_in[cells % n_units] = cell_community
        powers = (
            share[:, None] ** np.arange(per_unit.max() + 1)[None, :] * weight[:, None] * (share[:, None] > 0)
        )
        by_community = np.zeros((int(cell_community.max()) + 1, per_unit.max() + 1))
        np.add.at(by_community, summed_in, powers)
        cell_p = np.clip(by_community[cell_community, per_unit], 1e-300, 1.0)
        return np.exp(np.bincount(cells // n_units, weights=np.log(cell_p), minlength=n_users))

    crowd = shares(~np.isin(users, found // (n_pools + 1)))[0]
    out = []
    for pool in range(n_pools):
        on_book = book_pool == pool
        mine = np.isin(np.arange(n_users) * (n_pools + 1) + pool, found)
        left_out = mine | (
            tested & (np.bincount(users, weights=on_book[light.pair_post], minlength=n_users) == n_posts)
        )
        engagers = np.bincount(light.pair_post, minlength=len(on_book)).astype(np.float64)
        of_book = np.bincount(light.pair_post, weights=mine[users], minlength=len(on_book))
        orders = on_book & (crowd <= params.book_focus_max_post_share)
        if params.book_focus_order_min_found_share > 0:
            orders |= on_book & (
                of_book >= params.book_focus_order_min_found_share * np.maximum(engagers, 1.0)
            )
        taken = np.zeros(0, dtype=np.int64)
        for _ in range(params.max_member_rounds):
            post_share, unit_count = shares(~left_out[users])
            share = np.bincount(light.unit[orders], weights=post_share[orders], minlength=n_units)
            weight = unit_count / np.maximum(
                np.bincount(unit_community, weights=unit_count)[unit_community], 1.0
            )
            p = chance(share, weight)
            on = np.bincount(users, weights=orders[light.pair_post], minlength=n_users) == n_posts
            hit = tested & ~mine & on
            now = _focused(np.flatnonzero(hit), p[hit], p[tested & ~mine], params=params)
            if np.array_equal(now, taken):
                break
            taken, left_out = now, mine.copy()
            left_out[taken] = True
        out.append(taken * (n_pools + 1) + pool)
    return np.unique(np.concatenate(out))


def _spaced(light: _Light, found: np.ndarray, n_pools: int) -> tuple[_Light, np.ndarray]:
    """``light`` with its accounts coded 3 apart (codes no pair holds between them, as a platform's rows
    of a window of several platforms), and ``found``'s keys so; one more found account on no light pair."""
    spaced = _Light(
        light.users * 3 + 1, light.posts, light.ok, light.pair_user * 3 + 1, light.pair_post, light.unit
    )
    user, pool = np.divmod(found, n_pools + 1)
    nobody = (int(spaced.pair_user.max()) + 2) * (n_pools + 1)
    return spaced, np.union1d((user * 3 + 1) * (n_pools + 1) + pool, [nobody])


@pytest.mark.parametrize(("seed", "min_found_share"), [(0, 0.0), (1, 0.0), (0, 0.3), (2, 0.3)])
def test_focus_members_equal_the_rule_counted_over_every_account(seed: int, min_found_share: float):
    """``_focus_members`` counts per account of the light pairs, each book's accounts in one pass, and no
    chance where too few accounts could be taken: the members are the reference's, on the scene where
    the seller's accounts are taken (with a one-post client, counted by the post's engagers), with the
    accounts coded densely and 3 apart."""
    params = PoolParams(book_focus_members=True, book_focus_order_min_found_share=min_found_share)
    events = _scene(seed=seed)
    if min_found_share > 0:
        events = _with_a_one_post_client(events, seed=seed)
    seen: list[int] = []

    def both(light, book_pool, found, n_pools, unit_community, *, params):
        got = _focus_members(light, book_pool, found, n_pools, unit_community, params=params)
        assert (
            got.tolist()
            == _reference_focus(light, book_pool, found, n_pools, unit_community, params=params).tolist()
        )
        spaced, spaced_found = _spaced(light, found, n_pools)
        user, pool = np.divmod(
            _focus_members(spaced, book_pool, spaced_found, n_pools, unit_community, params=params),
            n_pools + 1,
        )
        assert ((user - 1) // 3 * (n_pools + 1) + pool).tolist() == got.tolist()
        seen.append(len(got))
        return got

    book_members(events, params, both, more=("p-c4-0",))
    assert seen[0] >= 50


def _random_books(seed: int) -> tuple[_Light, np.ndarray, np.ndarray, np.ndarray]:
    """Light pairs of 400 accounts (codes with gaps) on 80 posts of 20 units in 3 communities, and of 40
    one-post accounts on 4 posts of 2 units only they engage; three books over some posts, and some of
    the books' accounts found already (some on no pair)."""
    rng = np.random.default_rng(seed)
    unit = np.r_[rng.integers(20, size=80), 20, 20, 21, 21]
    user = rng.choice(np.arange(1200), size=440, replace=False)
    pair_user = np.r_[np.repeat(user[:400], rng.integers(1, 6, size=400)), user[400:]]
    pair_post = np.r_[rng.integers(80, size=len(pair_user) - 40), rng.integers(80, 84, size=40)]
    keep = np.unique(pair_user * 84 + pair_post)
    light = _Light(user, np.zeros(440, dtype=np.int64), np.ones(440, dtype=bool), keep // 84, keep % 84, unit)
    book_pool = np.where(rng.random(84) < 0.5, rng.integers(3, size=84), -1)
    found = np.unique(rng.choice(np.r_[user, 1500, 1501], size=60) * 4 + rng.integers(3, size=60))
    return light, book_pool, found, rng.integers(3, size=22)


@pytest.mark.parametrize("min_found_share", [0.0, 0.3])
def test_focus_members_equal_the_rule_on_random_books(min_found_share: float):
    """On random books, loose enough to take accounts (2 accounts, chance explaining up to half), the
    members are the reference's every time, and some book takes some."""
    params = PoolParams(
        book_focus_members=True,
        min_accounts=2,
        book_focus_max_fdr=0.5,
        book_focus_max_post_share=0.9,
        book_focus_order_min_found_share=min_found_share,
    )
    taken = 0
    for seed in range(40):
        light, book_pool, found, community = _random_books(seed)
        got = _focus_members(light, book_pool, found, 3, community, params=params)
        assert got.tolist() == _reference_focus(light, book_pool, found, 3, community, params=params).tolist()
        taken += len(got)
    assert taken > 0
