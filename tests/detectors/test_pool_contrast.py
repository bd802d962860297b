from dataclasses import replace

import numpy as np
import pandas as pd

from detectors.pools import PoolParams, seller_pools
from detectors.pools._contrast import contrast_links, post_baselines
from tests.detectors.test_pools import _frame


def _orders_on_popular_posts(*, seed: int = 3, fans: int = 6000, creators: int = 300, pool: int = 450):
    """One audience of ``creators`` (one post each, popularity falling as a power law) and ``fans`` light
    honest accounts of 2-8 creators each, some keeping to popular creators, some spreading; a seller's
    ``pool`` accounts sent to 6 orders on clients among the 5th to 16th most popular, a 30-60% share of the
    pool per order, and nowhere else. The orders' accounts are a third to a half of each order post's light
    engagers: order pairs share a few times chance, under ``min_lift``."""
    rng = np.random.default_rng(seed)
    popularity = 1.0 / np.arange(1, creators + 1) ** 0.9
    user, creator = [], []
    for fan in range(fans):
        taste = popularity ** rng.uniform(0.6, 1.4)
        picks = rng.choice(creators, size=rng.integers(2, 9), replace=False, p=taste / taste.sum())
        user += [f"u{fan}"] * len(picks)
        creator += [f"k{c}" for c in picks]
    for client in 4 + rng.choice(12, size=6, replace=False):
        for account in np.flatnonzero(rng.random(pool) < rng.uniform(0.3, 0.6)):
            user.append(f"s{account}")
            creator.append(f"k{client}")
    return _frame(user, creator)


def _flagged(events: pd.DataFrame, params: PoolParams) -> tuple[float, int]:
    is_seller = events["user_id"].astype(str).str.startswith("s").to_numpy()
    flagged = seller_pools(events, params=params).event_score >= 0.5
    return float(flagged[is_seller].mean()), int(flagged[~is_seller].sum())


def test_seller_pools_link_orders_on_popular_posts_by_contrast():
    events = _orders_on_popular_posts()
    off_share, off_honest = _flagged(events, PoolParams())
    on_share, on_honest = _flagged(events, replace(PoolParams(), contrast_min_lift=2.5))
    narrow_share, _ = _flagged(events, replace(PoolParams(), contrast_min_lift=2.5, contrast_max_base=1.0))
    assert off_share < 0.2
    assert on_share > 0.7 and narrow_share > 0.4
    assert on_honest <= off_honest + 5


def test_contrast_links_take_only_pairs_of_posts_that_co_engage_the_rest_below_chance():
    # posts 0-2 an order book (effects 3 among them, 0.7 with the rest); posts 3-5 popular honest posts
    # (effects 3 among them too, 1.5 with the rest)
    a, b, effect = [], [], []
    for group, outside in (((0, 1, 2), 0.7), ((3, 4, 5), 1.5)):
        for i, x in enumerate(group):
            for y in group[i + 1 :]:
                a.append(x), b.append(y), effect.append(3.0)
            for other in range(6, 16):
                a.append(x), b.append(other), effect.append(outside)
    a_, b_, e_ = np.array(a), np.array(b), np.array(effect)
    base = post_baselines(a_, b_, e_, 16, min_pairs=5)
    assert np.allclose(base[:3], 0.7) and np.allclose(base[3:6], 1.5)
    params = replace(PoolParams(), contrast_min_lift=2.5, contrast_max_base=1.0)
    linked = contrast_links(a_, b_, e_, 16, params=params)
    assert set(zip(a_[linked].tolist(), b_[linked].tolist(), strict=True)) == {(0, 1), (0, 2), (1, 2)}
    assert not contrast_links(a_, b_, e_, 16, params=PoolParams()).any()


def test_post_baselines_need_min_pairs():
    base = post_baselines(np.array([0, 0]), np.array([1, 2]), np.array([0.5, 0.5]), 3, min_pairs=3)
    assert np.isinf(base).all()
