"""Members by their focus on a book's orders (``pool__book_focus_members``): a seller's accounts kept for
orders engage nothing else, which membership's chance explains where the book is most of its community."""

import numpy as np
import pandas as pd
import pytest

from detectors.pools import PoolParams
from detectors.pools._focus import _focus_members, _focused
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
