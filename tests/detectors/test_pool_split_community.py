"""The sub-audience cover where two pools split one community (pool50kb: dev 40k four worlds seed 55)."""

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest

from detectors.audiences import post_codes
from detectors.pools import PoolParams
from detectors.pools._detector import _light_pairs
from detectors.pools._search import _Light
from detectors.pools._sub_audience import _left_out, _other_pools, _sub_audience
from features.arrays import codes
from tests.detectors.test_pools import _frame


def _likes(*, seed: int, split: bool) -> pd.DataFrame:
    """A community of 6 creators (3 posts each). ``split``: two audiences, creators 0-2 and 3-5, whose
    400 fans each like 2-3 creators of their own and, one in four, one creator of the other (what ties
    them into one community); else 800 fans like 2-4 of the 6 at random. Either way 30 keen fans per
    half (``keen0``, ``keen1``) like post 0 of each of its three creators: the two pools."""
    rng = np.random.default_rng(seed)
    likes: list[tuple[str, int, int]] = []
    for u in range(800):
        half = u % 2
        if split:
            chosen = [3 * half + c for c in rng.choice(3, size=rng.integers(2, 4), replace=False)]
            if rng.random() < 0.25:
                chosen.append(3 * (1 - half) + int(rng.integers(3)))
        else:
            chosen = [int(c) for c in rng.choice(6, size=rng.integers(2, 5), replace=False)]
        likes += [(f"u{u}", c, int(rng.integers(3))) for c in chosen]
    likes += [(f"keen{half}-{u}", 3 * half + c, 0) for half in (0, 1) for u in range(30) for c in range(3)]
    user, creator, post = zip(*likes, strict=True)
    return _frame(
        list(user),
        [f"k{c}" for c in creator],
        post=[f"p-k{c}-{p}" for c, p in zip(creator, post, strict=True)],
    )


def _covered(events: pd.DataFrame, params: PoolParams) -> bool:
    """Whether the pool of creators 0-2 reads as an audience inside the community, the pool of 3-5
    beside it (``_sub_audience``, accounts left out as ``_covered_as_sub_audience`` leaves them)."""
    users = codes(events["user_id"])
    posts, post_ids = post_codes(events)
    ok = (users >= 0) & (posts >= 0)
    pair_user, pair_post, user_units = _light_pairs(
        events["user_id"], users[ok], posts[ok], len(post_ids), params=params, chance=None
    )
    creator = pd.Series(post_ids).astype(str).str.extract(r"p-k(\d+)-")[0]
    unit: npt.NDArray[np.int64] = np.asarray(creator.astype(int), dtype=np.int64)
    light = _Light(users, posts, ok, pair_user, pair_post, unit, user_units)
    keen = events["user_id"].astype(str).str.extract(r"keen(\d)-")[0]
    event_pool = np.asarray(pd.to_numeric(keen).fillna(-1), dtype=np.int64)
    home, mine = np.ones(6, dtype=bool), np.arange(6) < 3
    others = _other_pools(np.ones(6, dtype=bool), mine, home, params=params)
    left_out = _left_out(light, event_pool, others, light.repeats)
    return _sub_audience(light, home, mine, left_out, params=params)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_two_pools_that_split_a_community_leave_each_other_nothing_to_compare(seed: int):
    """With the other pool's units' accounts left out, every account left is on the pool's own units:
    chance keeps all of it inside and nothing can show an audience, so the pool is not covered (an
    explicit decision, where the insularity was a division by about 0). Kept
    (``sub_audience_keeps_home_pools``), they count as the community's mixing: two audiences that a
    quarter of their fans tie into one community are each covered, a well-mixed community is not."""
    split = _likes(seed=seed, split=True)
    mixed = _likes(seed=seed, split=False)
    assert not _covered(split, PoolParams())
    assert not _covered(mixed, PoolParams())
    keeps = PoolParams(sub_audience_keeps_home_pools=True)
    assert _covered(split, keeps)
    assert not _covered(mixed, keeps)
