"""Glued pools: a seller's posts and a neighbouring audience's popular posts in one Louvain pool
(``pool__split_min_lift``)."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from detectors.audiences import Audiences
from detectors.pools import PoolParams, seller_pools
from detectors.pools._glued import _split_glued
from detectors.pools._search import _every_post
from tests.detectors.test_pool_tiers import planted_light
from tests.detectors.test_pools import _frame
from tests.factories import PlantedLikes

SPLIT = PoolParams()
OFF = PoolParams(split_min_lift=0.0)


def _book_beside_neighbour(*, seed: int, bridges: int = 100, book_in_b: bool = False) -> pd.DataFrame:
    """Audience A (30 creators Ak0..Ak29, 3 posts each) and its neighbour B (12 creators; Bk0..Bk3 each
    with a popular post, p-Bk*-0, that takes 80% of their likes), 3,000 users each who like 2-4 posts,
    15% of their picks in the other audience. A seller's book of 200 aged accounts fills one order on a
    post of each of A's creators Ak0..Ak4 (30-60% of the book each), as seed 5's 500k four-worlds window
    on xiaohongshu (14 orders of 5 creators). ``bridges`` honest fans like the order's post p-Ak0-0 and
    two of B's popular posts: links that tie B's popular posts to the book. ``book_in_b``: the seller's
    clients include Bk4 and Bk5 (an order on a post of each): one book in two audiences."""
    rng = np.random.default_rng(seed)
    like = PlantedLikes()
    user, creator, post = like.user, like.creator, like.post

    for home in ("A", "B"):
        for u in range(3000):
            for _ in range(rng.integers(2, 5)):
                side = home if rng.random() > 0.15 else ("B" if home == "A" else "A")
                c = int(rng.integers(30 if side == "A" else 12))
                popular = side == "B" and c < 4 and rng.random() < 0.8
                like(f"{home}u{u}", f"{side}k{c}", f"p-{side}k{c}-{0 if popular else rng.integers(3)}")
    clients = [f"Ak{c}" for c in range(5)] + (["Bk4", "Bk5"] if book_in_b else [])
    for name in clients:
        share = rng.uniform(0.3, 0.6)
        for account in np.flatnonzero(rng.random(200) < share):
            like(f"aged{account}", name, f"p-{name}-0")
    for u in range(bridges):
        like(f"Xu{u}", "Ak0", "p-Ak0-0")
        for c in rng.choice(4, size=2, replace=False):
            like(f"Xu{u}", f"Bk{c}", f"p-Bk{c}-0")
    return _frame(user, creator, post=post)


def _audiences(events: pd.DataFrame) -> Audiences:
    """A's creators one community, B's the other: each creator a unit."""
    posts = pd.Index(sorted(set(events["post_id"].astype(str))))
    names = posts.str.split("-").str[1]
    creators = sorted(set(names))
    unit = np.array([creators.index(n) for n in names], dtype=np.int64)
    community = np.array([0 if c.startswith("A") else 1 for c in creators], dtype=np.int64)
    zeros = np.zeros(len(creators), dtype=np.int64)
    return Audiences(posts, unit, community, zeros, zeros)


def _flagged(events: pd.DataFrame, params: PoolParams) -> tuple[float, set[str]]:
    """The share of the book's events flagged, and the honest accounts flagged."""
    detection = seller_pools(events, params=params, audiences=_audiences(events))
    flagged = detection.event_score >= 0.5
    aged = events["user_id"].astype(str).str.startswith("aged").to_numpy()
    return float(flagged[aged].mean()), set(events["user_id"].astype(str)[flagged & ~aged])


@pytest.mark.parametrize("seed", [0, 4, 6])
def test_seller_pools_judge_a_book_apart_from_the_neighbours_popular_posts_louvain_joined(seed: int):
    """Louvain puts B's four popular posts, tied to the order on p-Ak0-0 by the bridges' links, in the
    book's pool; B's fans land on them as often as chance says and, counted in the same cells as the
    book's accounts, leave 10-48% of the book's events flagged. The two parts share their light
    accounts about as chance says (1.6-1.7 times; the bridges are 100 of thousands): apart, 87-93% are.
    The only honest accounts flagged either way (1 or 2) liked two of the book's order posts and nothing
    else, as its accounts do."""
    events = _book_beside_neighbour(seed=seed)
    aged_off, honest_off = _flagged(events, OFF)
    aged_on, honest_on = _flagged(events, SPLIT)
    assert aged_off < 0.6
    assert aged_on > 0.85
    only_orders = events["post_id"].astype(str).isin([f"p-Ak{c}-0" for c in range(5)])
    likes = events[events["user_id"].astype(str).isin(honest_on | honest_off)]
    assert len(honest_on) <= 2
    assert only_orders[likes.index].all()


def _parts(events: pd.DataFrame, post_pool_of: dict[str, int], params: PoolParams) -> dict[str, int]:
    """Per named post: its pool once ``_split_glued`` has cut the pools ``post_pool_of`` gives."""
    light, post_ids, unit_community = planted_light(events, _audiences(events), params)
    named = post_ids.get_indexer(pd.Index(list(post_pool_of)))
    post_pool = np.full(len(post_ids), -1, dtype=np.int64)
    post_pool[named] = list(post_pool_of.values())
    block = _every_post(light, unit_community, None)
    _, out = _split_glued(light.overlap.matrix, post_pool, unit_community[light.unit], block, params=params)
    return dict(zip(post_pool_of, out[named].tolist(), strict=True))


def test_split_glued_cuts_the_neighbours_posts_and_keeps_a_book_in_two_audiences():
    """One pool of the book's five posts and B's four popular posts is two (its parts' light accounts
    overlap 1.7 times the block model's chance); a book whose orders are in both audiences (its accounts
    on Bk4 and Bk5 too: 10.4 times) stays one pool, and so does a pool of one audience; at 1e9 every
    part of it is its own."""
    book = [f"p-Ak{c}-0" for c in range(5)]
    glued = _parts(
        _book_beside_neighbour(seed=0), dict.fromkeys(book + [f"p-Bk{c}-0" for c in range(4)], 0), SPLIT
    )
    assert len({glued[p] for p in book}) == 1
    assert {glued[f"p-Bk{c}-0"] for c in range(4)}.isdisjoint({glued[book[0]]})
    assert len(set(_parts(_book_beside_neighbour(seed=0), dict.fromkeys(book, 0), SPLIT).values())) == 1
    both = _book_beside_neighbour(seed=0, bridges=0, book_in_b=True)
    whole = dict.fromkeys([*book, "p-Bk4-0", "p-Bk5-0"], 0)
    assert len(set(_parts(both, whole, SPLIT).values())) == 1
    assert len(set(_parts(both, whole, replace(SPLIT, split_min_lift=1e9)).values())) == 2
