"""Detectors with a degree null model run per platform: a small platform is judged against itself."""

from functools import partial

import numpy as np
import pandas as pd

from detectors.pools import PoolParams, seller_pools
from detectors.strata import per_platform
from features.dedup import distinct_engagements
from tests.factories import clean, raw_event

_pools = partial(seller_pools, params=PoolParams())


def _platform(name: str, *, users: int, posts: int, pool_accounts: int, rng: np.random.Generator, start: int):
    """Honest light users of one platform, and a seller pool on ten bought posts when asked."""
    rows = []
    for user in range(users):
        for post in rng.choice(posts, size=rng.integers(2, 5), replace=False):
            rows.append(
                raw_event(
                    start + len(rows),
                    platform=name,
                    user_id=f"{name}-u{user}",
                    post_id=f"{name}-p{post}",
                    creator_id=f"{name}-k{post}",
                )
            )
    for account in range(pool_accounts):
        for post in rng.choice(10, size=4, replace=False):
            rows.append(
                raw_event(
                    start + len(rows),
                    platform=name,
                    user_id=f"{name}-s{account}",
                    post_id=f"{name}-b{post}",
                    creator_id=f"{name}-kb{post}",
                )
            )
    return rows


def _window(*, small_pool: int) -> pd.DataFrame:
    rng = np.random.default_rng(5)
    big = _platform("douyin", users=12000, posts=1500, pool_accounts=60, rng=rng, start=0)
    small = _platform("xiaohongshu", users=400, posts=40, pool_accounts=small_pool, rng=rng, start=len(big))
    return distinct_engagements(clean(pd.DataFrame(big + small)))


def test_per_platform_judges_a_small_platforms_honest_overlap_against_its_own_chance():
    events = _window(small_pool=0)
    small = (events["platform"].astype(str) == "xiaohongshu").to_numpy()
    # over the whole window taken as one audience, the small platform's ordinary overlap looks far
    # beyond chance (the pool test's audience communities would tell the two platforms apart too);
    # at a member floor of one half, since the default two-thirds floor hides the chance model's error
    naive = seller_pools(events, params=PoolParams(min_member_share=0.5))
    assert (naive.event_score[small] > 0).sum() > 50
    detection = per_platform(_pools)(events)
    assert (detection.event_score[small] > 0).sum() == 0
    seller = events["user_id"].astype(str).str.contains("-s").to_numpy()
    assert (detection.event_score[seller] >= 0.5).mean() > 0.95
    assert (detection.event_score[~seller] > 0).sum() == 0


def test_per_platform_stitches_groups_with_unique_ids_and_their_platform():
    events = _window(small_pool=50)
    detection = per_platform(_pools)(events)
    assert detection.name == "pool"
    assert set(detection.groups["platform"]) == {"douyin", "xiaohongshu"}
    assert detection.groups["group_id"].is_unique
    platform = events["platform"].astype(str).to_numpy()
    for _, group in detection.groups.iterrows():
        in_group = detection.event_group == group["group_id"]
        assert set(platform[in_group]) == {group["platform"]}
        assert events["user_id"].astype(str)[in_group].nunique() == group["n_accounts"]


def test_per_platform_runs_a_one_platform_window_as_is():
    events = _window(small_pool=0)
    one = events[events["platform"].astype(str) == "douyin"].reset_index(drop=True)
    stitched, plain = per_platform(_pools)(one), _pools(one)
    assert np.array_equal(stitched.event_score, plain.event_score)
    assert "platform" not in stitched.groups
