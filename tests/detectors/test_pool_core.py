"""A book's core (``pool__book_core_max_share``): membership judged again without a post whose crowd
dilutes it, an order on a star's popular post."""

import numpy as np
import pandas as pd
import pytest

from detectors.audiences import light_pairs, post_codes
from detectors.pools import PoolParams
from detectors.pools._book import _candidates
from detectors.pools._chance import account_names
from detectors.pools._core import _core_members, _diluting
from detectors.pools._search import _Light, _members
from features.arrays import codes
from tests.detectors.test_pools import _frame
from tests.factories import PlantedLikes

ON = PoolParams(book_core_max_share=0.25)
ORDERS = [f"p-c{c}-0" for c in range(6)]


def _scene(*, seed: int, crowd: float, book: int = 120) -> pd.DataFrame:
    """3,000 users on 60 creators (3 posts each, 1-4 creators per user), ``crowd`` of them also on a star's
    popular post p-star-0; six small clients c0..c5 with 30 fans each (one other creator each); a seller's
    ``book`` accounts on two or three of the clients' order posts p-c{i}-0, and 40% of them on the star's
    post, an order there that is a small share of its crowd."""
    rng = np.random.default_rng(seed)
    like = PlantedLikes()
    for u in range(3000):
        for c in rng.choice(60, size=rng.integers(1, 5), replace=False):
            like(f"u{u}", f"k{c}", f"p-k{c}-{rng.integers(3)}")
        if rng.random() < crowd:
            like(f"u{u}", "star", "p-star-0")
    for c in range(6):
        for f in range(30):
            like(f"f{c}-{f}", f"c{c}", f"p-c{c}-0")
            other = rng.integers(60)
            like(f"f{c}-{f}", f"k{other}", f"p-k{other}-0")
    for account in range(book):
        for c in rng.choice(6, size=rng.integers(2, 4), replace=False):
            like(f"aged{account}", f"c{c}", f"p-c{c}-0")
        if rng.random() < 0.4:
            like(f"aged{account}", "star", "p-star-0")
    return _frame(like.user, like.creator, post=like.post)


def _book_members(events: pd.DataFrame) -> tuple[tuple[int, int], tuple[int, int]]:
    """(book accounts, honest accounts) among the members of one pool on the six orders and the star's
    post, judged whole (``_members``) and with its core added (``_core_members``); one audience."""
    users = codes(events["user_id"])
    posts, post_ids = post_codes(events)
    pair_user, pair_post = light_pairs(users, posts, len(post_ids), ON.min_posts, ON.max_posts)
    creator = events.groupby(events["post_id"].astype(str))["creator_id"].first().astype(str)
    unit = codes(creator.reindex(post_ids.astype(str)))
    light = _Light(users, posts, np.ones(len(users), dtype=bool), pair_user, pair_post, unit)
    community = np.zeros(int(unit.max()) + 1, dtype=np.int64)
    book_pool = np.where(np.isin(post_ids.astype(str), [*ORDERS, "p-star-0"]), 0, -1).astype(np.int64)
    spread = light.spread(community, params=ON)
    whole = _members(
        pair_user,
        unit[pair_post],
        book_pool[pair_post],
        1,
        community,
        params=ON,
        given=spread,
        creators=light.creators,
    )
    found = np.union1d(whole, _candidates(light, book_pool, 1, params=ON))
    core = _core_members(light, book_pool, found, 1, community, params=ON, given=spread)
    names = np.asarray(account_names(events["user_id"]).astype(str))

    def counted(keys: np.ndarray) -> tuple[int, int]:
        book = np.char.startswith(names[keys // 2].astype(str), "aged")
        return int(book.sum()), int((~book).sum())

    return counted(whole), counted(np.union1d(whole, core))


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_a_books_core_takes_the_accounts_a_stars_crowd_hides(seed: int):
    """Half the platform on the star's post: judged whole, chance counts that crowd and explains most
    of the 120 book accounts (0-90 members); judged without the post they are all members, and no
    honest account is."""
    (book_whole, honest_whole), (book_core, honest_core) = _book_members(_scene(seed=seed, crowd=0.5))
    assert book_whole <= 90
    assert book_core == 120
    assert honest_whole == honest_core == 0


@pytest.mark.parametrize("seed", [0, 1])
def test_a_small_crowd_leaves_the_book_as_it_was(seed: int):
    """With 5% of the platform on the star's post the book is found whole; the core adds nothing."""
    whole, with_core = _book_members(_scene(seed=seed, crowd=0.05))
    assert whole == with_core == (120, 0)


def test_diluting_posts_are_a_pools_crowded_posts_mostly_of_others_beside_one_mostly_its_own():
    """Pool 0 on posts 0 (accounts 0-3 of 4 light engagers), 1 (account 0 of 6) and 4 (account 0 of 4);
    pool 1 on posts 2 and 3, its account a small share of both. Post 1 dilutes pool 0; post 4 is mostly
    others' too but no larger than the pool's own post 0, and pool 1 has no core."""
    pair_user = np.r_[0, 1, 2, 3, 0, 4, 5, 6, 7, 12, 13, 8, 9, 10, 11, 8, 9, 10, 0, 14, 15, 16]
    pair_post = np.r_[0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 4, 4, 4, 4]
    unit = np.array([0, 1, 2, 3, 4])
    light = _Light(pair_user, pair_post, np.ones(len(pair_user), dtype=bool), pair_user, pair_post, unit)
    found = np.array([0 * 3 + 0, 1 * 3 + 0, 2 * 3 + 0, 3 * 3 + 0, 12 * 3 + 1])
    diluting = _diluting(light, np.array([0, 0, 1, 1, 0]), found, 2, params=ON)
    assert diluting.tolist() == [False, True, False, False, False]
