"""The held-share guard (``pool__cover_max_held_share``): a candidate that holds nearly all of its
community's co-engagement, is a minority of the accounts on its posts (``pool__cover_held_max_engagers``)
and is a star's audience (``pool__cover_hub_min_share``: one creator engaged by nearly all of the other
creators' light engagers) stays covered; a seller's book that made its community is most of its clients'
engagers, or leaves its largest client short of the other clients' engagers, and stays caught."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from detectors.audiences import AudienceParams, find_audiences
from detectors.pools import PoolParams, seller_pools
from tests.detectors.test_pool_tiers import farm_and_audience, studio_fan
from tests.detectors.test_pools import _frame
from tests.factories import PlantedLikes

Like = Callable[[str, str, str], None]
# the guard off (held share 1.0: main before star44), cover44's held share alone, the held share with cover5's
# engager share, and the default: both with the hub's share (``pool__cover_hub_min_share``)
OFF = PoolParams(cover_max_held_share=1.0)
HELD_ALONE = PoolParams(cover_max_held_share=0.95, cover_held_max_engagers=1.0, cover_hub_min_share=0.0)
RULE = PoolParams(cover_max_held_share=0.95, cover_hub_min_share=0.0)
HUB = PoolParams()


def _audiences_and_a_farm(
    seed: int, *, crowd: int, book: bool, star: bool = False, big: int = 0
) -> tuple[pd.DataFrame, pd.Series]:
    """A small honest audience (400 fans of 8 creators, 2-3 likes each on two posts per creator, and
    ``crowd`` accounts per post that like that post only) that is a community of its own, a larger one
    (1,500 fans of 12 creators), a third around an independent creator and a studio, a lockstep farm of
    300 bots on the same posts of a creator and the studio and, with ``book``, a seller's book
    (``_book``, its first client with ``big`` accounts per post that like that post only). With ``star``
    the small audience is a star's (``_star``)."""
    rng = np.random.default_rng(seed)
    like = PlantedLikes()
    user, creator, post = like.user, like.creator, like.post

    for u in range(400):
        if star:
            _star_fan(like, rng, f"Au{u}")
            continue
        for c in rng.choice(8, size=rng.integers(2, 4), replace=False):
            like(f"Au{u}", f"Ak{c}", f"p-Ak{c}-{rng.integers(2)}")
    for c in range(8):
        for k in range(2):
            for u in range(crowd):
                like(f"Cu{c}-{k}-{u}", f"Ak{c}", f"p-Ak{c}-{k}")
    for u in range(250):
        studio_fan(like, rng, f"Fu{u}", jk=0.6)
        if rng.random() < 0.1:
            c = rng.integers(8)
            like(f"Fu{u}", f"Ak{c}", f"p-Ak{c}-{rng.integers(2)}")
    farm_and_audience(like, rng, farm=300)
    if book:
        _book(like, rng, big=big)
    studios = pd.Series("studio-S", index=sorted({p for p in post if p.startswith("p-Sk")}))
    return _frame(user, creator, post=post), studios


def _star_fan(like: Like, rng: np.random.Generator, account: str) -> None:
    """A fan of star Ak0 (one of its 2 posts or both) and of 1-2 of its satellites Ak1..Ak7 (one post
    each): the satellites' fans are the star's."""
    for k in rng.choice(2, size=rng.integers(1, 3), replace=False):
        like(account, "Ak0", f"p-Ak0-{k}")
    for c in 1 + rng.choice(7, size=rng.integers(1, 3), replace=False):
        like(account, f"Ak{c}", f"p-Ak{c}-{rng.integers(2)}")


def _book(like: Like, rng: np.random.Generator, *, big: int = 0) -> None:
    """A seller's book of 250 aged accounts (``aged``) sent to 8 bought posts of 4 client creators
    Dk0..Dk3 (30-60% of it per order), each post with 40 organic likers of its own, who each like a
    post of the larger audience too (a client's fans meet the platform as anyone does), and each of Dk0's
    posts with ``big`` accounts that like it alone (a large client's crowd)."""
    for c in range(4):
        for k in range(2):
            share = rng.uniform(0.3, 0.6)
            for a in np.flatnonzero(rng.random(250) < share):
                like(f"aged{a}", f"Dk{c}", f"p-Dk{c}-{k}")
            for u in range(big if c == 0 else 0):
                like(f"Xu{k}-{u}", "Dk0", f"p-Dk0-{k}")
            for u in range(40):
                like(f"Ou{c}-{k}-{u}", f"Dk{c}", f"p-Dk{c}-{k}")
                b = rng.integers(12)
                like(f"Ou{c}-{k}-{u}", f"Bk{b}", f"p-Bk{b}-{rng.integers(3)}")


def _flagged(events: pd.DataFrame, studios: pd.Series, params: PoolParams) -> np.ndarray:
    audiences = find_audiences(events, studios=studios, params=AudienceParams())
    return np.asarray(seller_pools(events, params=params, audiences=audiences).event_score >= 0.5)


@pytest.mark.parametrize("seed", [1, 3])
def test_an_audience_that_is_its_whole_community_stays_covered(seed: int):
    """Planted seeds 1 and 3: the candidate found with the platform as one audience holds the small
    audience's co-engagement whole; without it the few fans left are those who cross to the other
    communities, the community reads as mixing and about 1,000 honest likes are flagged. Its 400 fans
    are a fifth of the accounts on its posts (each post has a crowd of 100 that like it alone): it stays
    covered; the farm's flags do not change."""
    events, studios = _audiences_and_a_farm(seed, crowd=100, book=False)
    honest = ~events["user_id"].str.startswith("bot").to_numpy()
    off, on = (_flagged(events, studios, p) for p in (OFF, RULE))
    assert off[honest].sum() > 900
    assert on[honest].sum() == 0
    assert (off == on)[~honest].all()


@pytest.mark.parametrize("seed", [1, 3])
def test_an_audience_of_co_engaging_fans_alone_is_not_covered(seed: int):
    """Without a crowd every account on the small audience's posts engages two of its creators: its
    candidate is all of them, as a book is of its clients' engagers, and the rule does not cover it
    (the held share alone, cover44's guard, did)."""
    events, studios = _audiences_and_a_farm(seed, crowd=0, book=False)
    honest = ~events["user_id"].str.startswith("bot").to_numpy()
    on, held_alone = (_flagged(events, studios, p) for p in (RULE, HELD_ALONE))
    assert on[honest].sum() > 900
    assert held_alone[honest].sum() == 0


@pytest.mark.parametrize("seed", [1, 3])
def test_a_book_that_made_its_community_stays_caught(seed: int):
    """A seller's book on 4 small clients is their community: its candidate holds all of the community's
    co-engagement, as the small audience's does, but it is most of the accounts on the clients' posts
    (an order sends a large part of the book to each). The held share alone covered it; with the
    engager share the book stays caught; nothing honest is flagged."""
    events, studios = _audiences_and_a_farm(seed, crowd=100, book=True)
    aged = events["user_id"].str.startswith("aged").to_numpy()
    honest = ~aged & ~events["user_id"].str.startswith("bot").to_numpy()
    off, on, held_alone = (_flagged(events, studios, p) for p in (OFF, RULE, HELD_ALONE))
    assert off[aged].mean() > 0.9
    assert on[aged].mean() > 0.9
    assert held_alone[aged].mean() < 0.1
    assert on[honest].sum() == 0


def test_the_engager_share_is_a_knob():
    """With the engager share at 0 no candidate is covered by the held share: the audience is flagged."""
    events, studios = _audiences_and_a_farm(1, crowd=100, book=False)
    honest = ~events["user_id"].str.startswith("bot").to_numpy()
    assert _flagged(events, studios, replace(RULE, cover_held_max_engagers=0.0))[honest].sum() > 900


@pytest.mark.parametrize("seed", [1, 3])
def test_a_stars_audience_that_is_its_whole_community_stays_covered(seed: int):
    """The small audience as a star's: 400 fans of star Ak0, each on 1-2 of its 7 satellites too, and a
    crowd of 100 per post. The star's fans are the satellites' light engagers (the hub's share is at
    least 0.92): with the hub's share it stays covered as with the held and engager shares alone."""
    events, studios = _audiences_and_a_farm(seed, crowd=100, book=False, star=True)
    honest = ~events["user_id"].str.startswith("bot").to_numpy()
    off, hub = (_flagged(events, studios, p) for p in (OFF, HUB))
    assert off[honest].sum() > 900
    assert hub[honest].sum() == 0
    assert (off == hub)[~honest].all()


@pytest.mark.parametrize("seed", [1, 3])
def test_a_book_with_a_large_client_stays_caught(seed: int):
    """The seller's book with a large first client: 600 accounts like each of Dk0's posts alone, so the
    book is a minority of the accounts on its clients' posts and the engager share covers it. Each order
    takes 30-60% of the book, so the other clients' light engagers are not all Dk0's (nor any one
    client's): with the hub's share the book stays caught."""
    events, studios = _audiences_and_a_farm(seed, crowd=100, book=True, big=600)
    aged = events["user_id"].str.startswith("aged").to_numpy()
    honest = ~aged & ~events["user_id"].str.startswith("bot").to_numpy()
    off, rule, hub = (_flagged(events, studios, p) for p in (OFF, RULE, HUB))
    assert off[aged].mean() > 0.9
    assert rule[aged].mean() < 0.1
    assert hub[aged].mean() > 0.9
    assert hub[honest].sum() == 0
