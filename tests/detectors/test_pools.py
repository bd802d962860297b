import numpy as np
import pandas as pd

from detectors.pools import seller_pools
from features.dedup import distinct_engagements
from tests.factories import clean, raw_event


def _window(*, pool_accounts: int, seed: int = 0) -> pd.DataFrame:
    """Light honest users on 2,000 posts of 1,000 creators (a fan club included), plus a seller pool.

    The bought posts b0..b9 of 10 creators get organic engagement too; the pool's
    accounts each engage 4 of them.
    """
    rng = np.random.default_rng(seed)
    rows = []
    i = 0
    for user in range(15000):
        for post in rng.choice(2010, size=rng.integers(1, 5), replace=False):
            post_id, creator = (
                (f"p{post}", f"k{post % 1000}") if post < 2000 else (f"b{post - 2000}", f"kb{post - 2000}")
            )
            rows.append(raw_event(i, user_id=f"u{user}", post_id=post_id, creator_id=creator))
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
    detection = seller_pools(events)
    is_pool = events["user_id"].astype(str).str.startswith("s").to_numpy()
    assert (detection.event_score[is_pool] >= 0.5).mean() > 0.95
    assert (detection.event_score[~is_pool] >= 0.5).mean() < 0.001
    assert (
        "80 light accounts kept co-engaging 10 posts of 10 unrelated creators"
        in detection.groups.loc[0, "evidence"]
    )


def test_seller_pools_leave_organic_overlap_and_fan_clubs_alone():
    events = _window(pool_accounts=0)
    assert seller_pools(events).event_score.sum() == 0


def test_seller_pools_empty_window():
    events = _window(pool_accounts=0).head(0)
    assert len(seller_pools(events).event_score) == 0
