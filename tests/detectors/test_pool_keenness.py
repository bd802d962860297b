"""The keenness cover (``pool__cover_by_keenness``): a candidate found with the platform as one audience that
holds most of its community's co-engagement, over three creator units or more, stays covered when its
accounts' counts of the community's posts spread more than a seller's book's (each order an independent
share of the book): an audience's fans are unevenly keen. A book that made its community stays caught,
also when its accounts have organic activity of their own elsewhere."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from detectors.pools import PoolParams
from detectors.pools._keenness import _keenness_excess, _profile_gap
from tests.detectors.test_pool_held import _book, _flagged
from tests.detectors.test_pool_tiers import farm_and_audience, studio_fan
from tests.detectors.test_pools import _frame
from tests.factories import PlantedLikes

KEEN = PoolParams()  # the keenness cover is on by default
OFF = replace(KEEN, cover_by_keenness=False)  # main before classA16


def _keen_audience_and_a_farm(
    seed: int, *, book: bool, organic_book: bool = False
) -> tuple[pd.DataFrame, pd.Series]:
    """A small honest audience (400 fans of 8 creators with two posts each: each fan likes a post of 2
    of them and, the keen ones, of more: one more with chance 0.55 at each step, so most at two and a
    few on all 8; each post with a crowd of 100 that like it alone) that is a community of its own, the larger
    audience, studio and lockstep farm of ``test_pool_held``, and with ``book`` the seller's book of 250
    aged accounts on 4 clients (``_book``); with ``organic_book`` each aged account also likes the posts of
    1-3 of 60 other creators (each with 30 likers of its own): its own organic life, outside the
    clients' community."""
    rng = np.random.default_rng(seed)
    like = PlantedLikes()
    for u in range(400):
        n = 2
        while n < 8 and rng.random() < 0.55:
            n += 1
        for c in rng.choice(8, size=n, replace=False):
            like(f"Au{u}", f"Ak{c}", f"p-Ak{c}-{rng.integers(2)}")
    for c in range(8):
        for k in range(2):
            for u in range(100):
                like(f"Cu{c}-{k}-{u}", f"Ak{c}", f"p-Ak{c}-{k}")
    for u in range(250):
        studio_fan(like, rng, f"Fu{u}", jk=0.6)
        if rng.random() < 0.1:  # the few who cross to the small audience: all that is left without its fans
            c = rng.integers(8)
            like(f"Fu{u}", f"Ak{c}", f"p-Ak{c}-{rng.integers(2)}")
    farm_and_audience(like, rng, farm=300)
    if book:
        _book(like, rng)
    if organic_book:
        for j in range(60):
            for u in range(30):
                like(f"Lu{j}-{u}", f"Lk{j}", f"p-Lk{j}")
        for a in range(250):
            for j in rng.choice(60, size=int(rng.integers(1, 2)), replace=False):
                like(f"aged{a}", f"Lk{j}", f"p-Lk{j}")
    studios = pd.Series("studio-S", index=sorted({p for p in like.post if p.startswith("p-Sk")}))
    return _frame(like.user, like.creator, post=like.post), studios


@pytest.mark.parametrize("seed", [1, 3])
def test_an_unevenly_keen_audience_that_is_its_whole_community_stays_covered(seed: int):
    """The keen audience is no star's and its fans are a minority of its posts' engagers beside the
    crowd: without the cover its candidate is uncovered and its fans' likes are flagged; their counts spread
    far more than a book's, so with the keenness cover nothing honest is flagged; the farm's flags do
    not change."""
    events, studios = _keen_audience_and_a_farm(seed, book=False)
    honest = ~events["user_id"].str.startswith("bot").to_numpy()
    off, keen = (_flagged(events, studios, p) for p in (OFF, KEEN))
    assert off[honest].sum() > 900
    assert keen[honest].sum() == 0
    assert (off == keen)[~honest].all()


@pytest.mark.parametrize("seed", [1, 3])
def test_a_book_that_made_its_community_stays_caught_by_its_keenness(seed: int):
    """The seller's book (30-60% of it per order, whichever accounts) is as evenly keen as a book is: it
    stays caught with the cover; the keen audience beside it stays covered."""
    events, studios = _keen_audience_and_a_farm(seed, book=True)
    aged = events["user_id"].str.startswith("aged").to_numpy()
    honest = ~aged & ~events["user_id"].str.startswith("bot").to_numpy()
    off, keen = (_flagged(events, studios, p) for p in (OFF, KEEN))
    assert off[aged].mean() > 0.9
    assert keen[aged].mean() > 0.9
    assert keen[honest].sum() == 0


@pytest.mark.parametrize("seed", [1, 3])
def test_a_books_own_organic_life_elsewhere_does_not_make_it_keen(seed: int):
    """Each aged account also likes a post of one of 60 other creators: its own life, outside the
    clients' community, which the keenness does not count (only the community's posts). The cover
    changes no flag of the book. (This book is not flagged by main's cover either: its accounts' other
    likes tie its clients to the platform; a separate gap, docs/journal/session-16.md classA16.)"""
    events, studios = _keen_audience_and_a_farm(seed, book=True, organic_book=True)
    aged = events["user_id"].str.startswith("aged").to_numpy()
    off, keen = (_flagged(events, studios, p) for p in (OFF, KEEN))
    assert (off == keen)[aged].all()


def test_the_keenness_ratio_is_a_knob():
    """With the ratio above what the keen audience reaches its candidate is flagged again."""
    events, studios = _keen_audience_and_a_farm(1, book=False)
    honest = ~events["user_id"].str.startswith("bot").to_numpy()
    assert _flagged(events, studios, replace(KEEN, cover_keen_min_ratio=10.0))[honest].sum() > 900


def test_keenness_excess_of_a_book_and_of_uneven_fans():
    """A book's orders (independent shares of 250 accounts) spread as the fitted book does (ratio near
    1, within two errors); fans whose counts are geometric over 16 posts spread well beyond."""
    rng = np.random.default_rng(5)
    account, post = [], []
    for p in range(8):
        members = np.flatnonzero(rng.random(250) < rng.uniform(0.3, 0.6))
        account += members.tolist()
        post += [p] * len(members)
    ratio, z = _keenness_excess(np.array(account), np.array(post), floor=2)
    assert 0.8 < ratio < 1.25 and z < 2.0
    account, post = [], []
    for u in range(400):
        n = min(1 + int(rng.geometric(0.45)), 16)
        account += [u] * n
        post += rng.choice(16, size=n, replace=False).tolist()
    ratio, z = _keenness_excess(np.array(account), np.array(post), floor=2)
    assert ratio > 1.5 and z > 4.0


def test_two_books_in_one_candidate_are_two_profiles_not_one_axis_of_keenness():
    """Two sellers' books on their own posts in one candidate (an aged book of 250 accounts on 6 posts
    at 50-70% per order, a drip-fed one of 250 on 2 posts at 60-80%) spread more than one book fitted
    to both, but two books fitted to them serve the posts in far different profiles; uneven fans (their
    counts geometric over the same 16 posts) are one axis: casual and keen fans of the same posts."""
    rng = np.random.default_rng(4)
    account, post = [], []
    for p in range(8):
        offset, share = (0, rng.uniform(0.5, 0.7)) if p < 6 else (1000, rng.uniform(0.6, 0.8))
        members = offset + np.flatnonzero(rng.random(250) < share)
        account += members.tolist()
        post += [p] * len(members)
    books = np.array(account), np.array(post)
    ratio, z = _keenness_excess(*books, floor=2)
    assert ratio > KEEN.cover_keen_min_ratio and z > 2.0
    assert _profile_gap(*books, floor=2) > KEEN.cover_keen_max_profile_gap
    account, post = [], []
    for u in range(400):
        n = min(1 + int(rng.geometric(0.45)), 16)
        account += [u] * n
        post += rng.choice(16, size=n, replace=False).tolist()
    assert _profile_gap(np.array(account), np.array(post), floor=2) < KEEN.cover_keen_max_profile_gap
