import numpy as np
import pandas as pd

from detectors.pools import PoolParams, seller_pools
from features.dedup import distinct_engagements
from tests.factories import clean, raw_event


def _window(
    *,
    pool_accounts: int,
    seed: int = 0,
    platform: str = "douyin",
    users: int = 15000,
    extra: list | None = None,
) -> pd.DataFrame:
    """Light honest users on 2,000 posts of 1,000 creators (a fan club included), plus a seller pool.

    The bought posts b0..b9 of 10 creators get organic engagement too; the pool's
    accounts each engage 4 of them.
    """
    rng = np.random.default_rng(seed)
    rows = list(extra or [])
    i = len(rows)
    for user in range(users):
        for post in rng.choice(2010, size=rng.integers(1, 5), replace=False):
            post_id, creator = (
                (f"p{post}", f"k{post % 1000}") if post < 2000 else (f"b{post - 2000}", f"kb{post - 2000}")
            )
            rows.append(
                raw_event(i, user_id=f"u{user}", post_id=post_id, creator_id=creator, platform=platform)
            )
            i += 1
    for fan in range(60):  # a fan club engages both posts of creator k0 (p0 and p1000)
        for post in (0, 1000):
            rows.append(raw_event(i, user_id=f"fan{fan}", post_id=f"p{post}", creator_id="k0"))
            i += 1
    for account in range(pool_accounts):
        for post in rng.choice(10, size=4, replace=False):
            rows.append(raw_event(i, user_id=f"s{account}", post_id=f"b{post}", creator_id=f"kb{post}"))
            i += 1
    return distinct_engagements(clean(pd.DataFrame(rows)))


def test_seller_pools_find_accounts_that_keep_co_engaging_unrelated_creators():
    events = _window(pool_accounts=80)
    detection = seller_pools(events, params=PoolParams())
    is_pool = events["user_id"].astype(str).str.startswith("s").to_numpy()
    assert (detection.event_score[is_pool] >= 0.5).mean() > 0.95
    assert (detection.event_score[~is_pool] >= 0.5).mean() < 0.001
    assert (
        "80 light accounts kept co-engaging 10 posts of 10 unrelated creators"
        in detection.groups.loc[0, "evidence"]
    )


def test_seller_pools_leave_organic_overlap_and_fan_clubs_alone():
    events = _window(pool_accounts=0)
    assert seller_pools(events, params=PoolParams()).event_score.sum() == 0


def test_seller_pools_empty_window():
    events = _window(pool_accounts=0).head(0)
    assert len(seller_pools(events, params=PoolParams()).event_score) == 0


def test_seller_pools_leave_a_buying_creators_fans_out():
    """Fans who follow every post of a creator that bought from the pool show loyalty, not a pool."""
    fans = [
        raw_event(10_000_000 + 2 * fan + k, user_id=f"fan-kb0-{fan}", post_id=post, creator_id="kb0")
        for fan in range(80)
        for k, post in enumerate(("b0", "b0-second"))
    ]
    pool = [
        raw_event(10_100_000 + account, user_id=f"s{account}", post_id="b0-second", creator_id="kb0")
        for account in range(40)
    ]
    events = _window(pool_accounts=80, extra=fans + pool)
    detection = seller_pools(events, params=PoolParams())
    user = events["user_id"].astype(str)
    assert (detection.event_score[user.str.startswith("s").to_numpy()] >= 0.5).mean() > 0.95
    assert (detection.event_score[user.str.startswith("fan-kb0").to_numpy()] > 0).sum() == 0


def test_seller_pools_keep_two_sellers_apart():
    """Two sellers whose pools share a few accounts stay two pools, each with its own evidence."""
    rng = np.random.default_rng(3)
    rows = []
    for seller, posts in (("x", range(10)), ("y", range(10, 20))):
        for account in range(60):
            for post in rng.choice(list(posts), size=4, replace=False):
                rows.append(
                    raw_event(
                        20_000_000 + len(rows),
                        user_id=f"s{seller}{account}",
                        post_id=f"b{post}",
                        creator_id=f"kb{post}",
                    )
                )
    for account in range(6):  # accounts both sellers use
        for post in (0, 1, 10, 11):
            rows.append(
                raw_event(
                    20_000_000 + len(rows),
                    user_id=f"both{account}",
                    post_id=f"b{post}",
                    creator_id=f"kb{post}",
                )
            )
    events = _window(pool_accounts=0, users=8000, extra=rows)
    detection = seller_pools(events, params=PoolParams())
    assert len(detection.groups) == 2
    user = events["user_id"].astype(str)
    groups_of = {
        seller: set(detection.event_group[user.str.startswith(f"s{seller}").to_numpy()].tolist())
        for seller in ("x", "y")
    }
    assert len(groups_of["x"]) == 1 and len(groups_of["y"]) == 1 and groups_of["x"] != groups_of["y"]
