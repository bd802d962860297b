"""A candidate that holds nearly all of its community's co-engagement stays covered
(``pool__cover_max_held_share``)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from detectors.audiences import AudienceParams, find_audiences
from detectors.pools import PoolParams, seller_pools
from tests.detectors.test_pool_tiers import farm_and_audience, studio_fan
from tests.detectors.test_pools import _frame


def _audiences_and_a_farm(seed: int) -> tuple[pd.DataFrame, pd.Series]:
    """A small honest audience (400 fans of 8 creators, 2-3 likes each on two posts per creator) that is
    a community of its own, a larger one (1,500 fans of 12 creators), a third around an independent
    creator and a studio, and a lockstep farm of 300 bots on the same posts of a creator and the studio."""
    rng = np.random.default_rng(seed)
    user: list[str] = []
    creator: list[str] = []
    post: list[str] = []

    def like(account: str, to: str, on: str) -> None:
        user.append(account)
        creator.append(to)
        post.append(on)

    for u in range(400):
        for c in rng.choice(8, size=rng.integers(2, 4), replace=False):
            like(f"Au{u}", f"Ak{c}", f"p-Ak{c}-{rng.integers(2)}")
    for u in range(250):
        studio_fan(like, rng, f"Fu{u}", jk=0.6)
        if rng.random() < 0.1:
            c = rng.integers(8)
            like(f"Fu{u}", f"Ak{c}", f"p-Ak{c}-{rng.integers(2)}")
    farm_and_audience(like, rng, farm=300)
    studios = pd.Series("studio-S", index=sorted({p for p in post if p.startswith("p-Sk")}))
    return _frame(user, creator, post=post), studios


@pytest.mark.parametrize("seed", [1, 3])
def test_an_audience_that_is_its_whole_community_stays_covered(seed: int):
    """Planted seeds 1 and 3: the candidate found with the platform as one audience holds the small
    audience's co-engagement whole; without it the few fans left are those who cross to the other
    communities, the community reads as mixing and about 1,000 honest likes were flagged. Holding more
    than 0.95 of the community's co-engaging accounts, it stays covered; the farm's flags do not change."""
    events, studios = _audiences_and_a_farm(seed)
    audiences = find_audiences(events, studios=studios, params=AudienceParams())
    honest = ~events["user_id"].str.startswith("bot").to_numpy()
    flagged = {
        held: seller_pools(
            events, params=PoolParams(cover_max_held_share=held), audiences=audiences
        ).event_score
        >= 0.5
        for held in (1.0, 0.95)
    }
    assert flagged[1.0][honest].sum() > 900
    assert flagged[0.95][honest].sum() == 0
    assert (flagged[1.0] == flagged[0.95])[~honest].all()
