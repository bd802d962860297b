"""Members by their order pair (``pool__book_pair_members``): a seller's accounts sent to exactly two of a
book's orders, which membership's chance explains where the book is most of its community."""

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from detectors.audiences import light_pairs, post_codes
from detectors.pools import PoolParams
from detectors.pools._chance import account_names
from detectors.pools._pairs import _accepted_pairs, _pair_members
from detectors.pools._search import _Light, _members
from features.arrays import codes
from tests.detectors.test_pools import _frame
from tests.factories import PlantedLikes

ON = PoolParams(book_pair_members=True)
ORDERS = [f"p-c{c}-0" for c in range(4)]
# the clients' popular posts, in the pool with the orders (their fans' crowd ties them in)
POPULAR = [f"p-c{c}-1" for c in range(4)]
WEIGHTS = np.r_[0.02, 0.6, np.full(8, 0.38 / 8)]


def _scene(*, seed: int, keen: int = 0) -> pd.DataFrame:
    """Community 0: 3,000 users on 60 creators k0..k59 (3 posts each, 1-4 creators per user). Community 1:
    four small clients c0..c3 (10 posts each, post 1 their popular one): 1,000 fans on two of them, 150 on
    two of them and one creator of community 0 (a post each, drawn by popularity), 2,000 one-off engagers;
    a seller's 400 accounts, half of them on each order post p-c{i}-0 (2% of the fans' draws); ``keen``
    fans of c0 and c1 on both their orders and on three of their other posts. The pool holds the orders
    and the popular posts, most of the fans' engagement."""
    rng = np.random.default_rng(seed)
    like = PlantedLikes()
    for u in range(3000):
        for c in rng.choice(60, size=rng.integers(1, 5), replace=False):
            like(f"u{u}", f"k{c}", f"p-k{c}-{rng.integers(3)}")
    for f in range(1150):
        for c in rng.choice(4, size=2, replace=False):
            like(f"f{f}", f"c{c}", f"p-c{c}-{rng.choice(10, p=WEIGHTS)}")
        if f >= 1000:
            other = rng.integers(60)
            like(f"f{f}", f"k{other}", f"p-k{other}-0")
    for o in range(2000):
        c = rng.integers(4)
        like(f"o{o}", f"c{c}", f"p-c{c}-{rng.choice(10, p=WEIGHTS)}")
    for k in range(keen):
        for c in (0, 1):
            like(f"keen{k}", f"c{c}", f"p-c{c}-0")
        for post in rng.choice(16, size=3, replace=False):
            like(f"keen{k}", f"c{post // 8}", f"p-c{post // 8}-{2 + post % 8}")
    for account in range(400):
        for c in range(4):
            if rng.random() < 0.5:
                like(f"aged{account}", f"c{c}", f"p-c{c}-0")
    return _frame(like.user, like.creator, post=like.post)


MemberFn = Callable[..., np.ndarray]


def book_members(
    events: pd.DataFrame, params: PoolParams, added: MemberFn, *, more: tuple[str, ...] = ()
) -> dict[str, tuple[int, int]]:
    """(book accounts, honest accounts) among: ``whole``, the members of the book on the four orders and
    the popular posts (and the posts ``more``) by ``_members``; ``found``, those and the search's accounts
    (three creator units or more); ``whole+``/``found+``, each with the members ``added`` finds
    (``_pair_members``'s signature); and ``two``, the book's accounts on exactly two orders (count, 0)."""
    users = codes(events["user_id"])
    posts, post_ids = post_codes(events)
    pair_user, pair_post = light_pairs(users, posts, len(post_ids), params.min_posts, params.max_posts)
    creator = events.groupby(events["post_id"].astype(str))["creator_id"].first().astype(str)
    unit = codes(creator.reindex(post_ids.astype(str)))
    light = _Light(users, posts, np.ones(len(users), dtype=bool), pair_user, pair_post, unit)
    unit_names = creator.reindex(post_ids.astype(str)).to_numpy().astype(str)
    community = np.zeros(int(unit.max()) + 1, dtype=np.int64)
    community[unit[np.char.startswith(unit_names, "c")]] = 1
    book_pool = np.where(np.isin(post_ids.astype(str), [*ORDERS, *POPULAR, *more]), 0, -1).astype(np.int64)
    spread = light.spread(community, params=params)
    whole = _members(
        pair_user, unit[pair_post], book_pool[pair_post], 1, community, params=params, given=spread
    )
    # the search's pool: the accounts on three of its creator units or more (and the members)
    on = book_pool[pair_post] >= 0
    user_unit = np.unique(pair_user[on] * 1000 + unit[pair_post[on]])
    accounts, k = np.unique(user_unit // 1000, return_counts=True)
    found = np.union1d(accounts[k >= 3] * 2, whole)
    extra = added(light, book_pool, found, 1, community, params=params)
    names = np.asarray(account_names(events["user_id"]).astype(str))

    def counted(keys: np.ndarray) -> tuple[int, int]:
        book = np.char.startswith(names[keys // 2].astype(str), "aged")
        return int(book.sum()), int((~book).sum())

    orders = events[events["post_id"].isin(ORDERS)].groupby("user_id")["post_id"].nunique()
    two = int(((orders == 2) & orders.index.astype(str).str.startswith("aged")).sum())
    return {
        "whole": counted(whole),
        "found": counted(found),
        "whole+": counted(np.union1d(whole, extra)),
        "found+": counted(np.union1d(found, extra)),
        "two": (two, 0),
    }


def _members_found(events: pd.DataFrame, params: PoolParams) -> tuple[tuple[int, int], tuple[int, int], int]:
    """(book accounts, honest accounts) among the members of the pool on the four orders and the popular
    posts, judged by ``_members`` and with the pair members added, and the book's accounts on exactly two
    orders."""
    got = book_members(events, params, _pair_members)
    return got["whole"], got["whole+"], got["two"][0]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_books_two_order_accounts_are_members_by_their_pair(seed: int):
    """Membership alone leaves the whole book out (the pool holds most of its community's fans); judged by
    their order pair the book's accounts on exactly two orders are members, and of the fans of two clients
    (their posts drawn by popularity, the popular ones in the pool) at most the one or two chance puts on
    an order pair."""
    (book_whole, honest_whole), (book_pairs, honest_pairs), two = _members_found(_scene(seed=seed), ON)
    assert two >= 80
    assert book_whole <= 400 - two
    assert book_pairs >= book_whole + two * 0.9
    assert honest_whole == 0
    # chance puts a fan or two of the order posts' clients on an order pair (0.07 expected per pair)
    assert honest_pairs <= 2


def test_pairs_are_taken_one_by_one_over_chance():
    """A pair 40 accounts over chance 1 is taken; 5 over 0.7 (beside it: no licence) and 30 over 5 are not."""
    observed = np.array([40.0, 5.0, 30.0])
    expected = np.array([1.0, 0.7, 5.0])
    assert _accepted_pairs(observed, expected, params=ON).tolist() == [True, False, False]


def _shared_fans(*, seed: int) -> pd.DataFrame:
    """3,000 users on 60 creators k0..k59 (3 posts each, 1-4 creators per user); two creators s0, s1 (3
    posts each) who share 400 fans, each on one post of both; a seller's 40 accounts on p-s0-0, p-s1-0
    and p-x-0 (a third client), each also on one of three other clients' posts."""
    rng = np.random.default_rng(seed)
    like = PlantedLikes()
    for u in range(3000):
        for c in rng.choice(60, size=rng.integers(1, 5), replace=False):
            like(f"u{u}", f"k{c}", f"p-k{c}-{rng.integers(3)}")
    for f in range(400):
        for c in ("s0", "s1"):
            like(f"f{f}", c, f"p-{c}-{rng.integers(3)}")
    for account in range(40):
        for c in ("s0", "s1", "x"):
            like(f"aged{account}", c, f"p-{c}-0")
        other = rng.integers(3)
        like(f"aged{account}", f"y{other}", f"p-y{other}-0")
    return _frame(like.user, like.creator, post=like.post)


@pytest.mark.parametrize("seed", [0, 1])
def test_two_creators_fans_are_no_order_pair_judged_within_their_units(seed: int):
    """The pool holds the seller's posts on s0, s1, x and y0..y2; the fans of s0 and s1 on its pair
    (p-s0-0, p-s1-0) are about a ninth of the 400, far over the community's chance for two posts of 180,
    but what the two creators' shared fans put on each of their nine pairs: members only without the
    units' chance."""
    events = _shared_fans(seed=seed)
    users = codes(events["user_id"])
    posts, post_ids = post_codes(events)
    pair_user, pair_post = light_pairs(users, posts, len(post_ids), ON.min_posts, ON.max_posts)
    creator = events.groupby(events["post_id"].astype(str))["creator_id"].first().astype(str)
    unit = codes(creator.reindex(post_ids.astype(str)))
    light = _Light(users, posts, np.ones(len(users), dtype=bool), pair_user, pair_post, unit)
    community = np.zeros(int(unit.max()) + 1, dtype=np.int64)
    sold = ["p-s0-0", "p-s1-0", "p-x-0", "p-y0-0", "p-y1-0", "p-y2-0"]
    book_pool = np.where(np.isin(post_ids.astype(str), sold), 0, -1).astype(np.int64)
    names = np.asarray(account_names(events["user_id"]).astype(str)).astype(str)
    found = np.flatnonzero(np.char.startswith(names, "aged")) * 2
    fans = {}
    for by_units in (False, True):
        params = PoolParams(book_pair_members=True, book_pair_by_units=by_units)
        keys = _pair_members(light, book_pool, found, 1, community, params=params)
        fans[by_units] = int(np.char.startswith(names[keys // 2], "f").sum())
    assert fans[False] >= 20
    assert fans[True] == 0


@pytest.mark.parametrize("seed", [0, 1])
def test_keen_fans_on_an_order_pair_need_the_books_share(seed: int):
    """40 keen fans of c0 and c1 engage both clients' orders and three of their other posts (two of their
    five posts the book's): beside the seller's accounts on that order pair they are members by the pair,
    but not with ``book_pair_min_book_share`` (0.7), which keeps the seller's accounts (all their posts
    the book's)."""
    events = _scene(seed=seed, keen=40)
    anyone = PoolParams(book_pair_members=True, book_pair_min_book_share=0.0)
    (_, _), (book_any, honest_any), two = _members_found(events, anyone)
    (_, _), (book_share, honest_share), _ = _members_found(events, ON)
    assert honest_any >= 20
    assert honest_share <= 2
    assert book_share == book_any >= two * 0.9
