"""The organic-spread cover (``pool__cover_organic_min_share``): a candidate found with the platform as one
audience that holds most of its community's co-engagement, over three creator units or more, stays covered
when most of its accounts have the fewest light posts that count (an audience's organic activity); a
seller's book that made its community, whose accounts gather several orders each, stays caught."""

from __future__ import annotations

from dataclasses import replace

import pytest

from detectors.pools import PoolParams
from tests.detectors.test_pool_held import _audiences_and_a_farm, _flagged

DEFAULT = PoolParams()
ORGANIC = replace(DEFAULT, cover_organic_min_share=0.4)


@pytest.mark.parametrize("seed", [1, 3])
def test_an_audience_that_is_its_whole_community_and_no_stars_stays_covered(seed: int):
    """The small audience (400 fans of 8 creators, each on 2-3 of them, a crowd of 100 per post) is no
    star's: the hub's share leaves its candidate uncovered and about 1,000 honest likes are flagged by
    default. Its fans like 2-3 posts each, so about half are at the floor of two: organic, covered; the
    farm's flags do not change."""
    events, studios = _audiences_and_a_farm(seed, crowd=100, book=False)
    honest = ~events["user_id"].str.startswith("bot").to_numpy()
    default, organic = (_flagged(events, studios, p) for p in (DEFAULT, ORGANIC))
    assert default[honest].sum() > 900
    assert organic[honest].sum() == 0
    assert (default == organic)[~honest].all()


@pytest.mark.parametrize("seed", [1, 3])
def test_a_book_that_made_its_community_stays_caught_by_its_spread(seed: int):
    """The seller's book of 250 aged accounts on 8 bought posts of 4 clients (30-60% of it per order):
    its accounts gather 2-5 orders each, few at the floor, and it stays caught; nothing honest is
    flagged."""
    events, studios = _audiences_and_a_farm(seed, crowd=100, book=True)
    aged = events["user_id"].str.startswith("aged").to_numpy()
    flagged = _flagged(events, studios, ORGANIC)
    assert flagged[aged].mean() > 0.9
    assert flagged[~aged & ~events["user_id"].str.startswith("bot").to_numpy()].sum() == 0


def test_the_organic_share_is_a_knob():
    """With the floor's share above what the audience reaches, its candidate is flagged again."""
    events, studios = _audiences_and_a_farm(1, crowd=100, book=False)
    honest = ~events["user_id"].str.startswith("bot").to_numpy()
    assert _flagged(events, studios, replace(ORGANIC, cover_organic_min_share=0.95))[honest].sum() > 900
