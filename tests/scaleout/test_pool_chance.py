"""What a graph split's shards are handed of the whole platform: the pool test's chance model, and each
device's accounts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from detectors.audiences import find_audiences
from detectors.params import ScoringParams
from detectors.pools import PoolParams, pool_chance, seller_pools
from detectors.rules import DeviceFarmParams, device_farms
from features.contract import clean_events
from features.dedup import distinct_engagements
from scaleout.shards import plan_platform
from tests.detectors.test_pools import _audience_beside_an_order_for_a_stranger
from training.simulator import SimConfig, simulate

PLATFORM = "douyin"
BUDGET = 8_000  # events per shard: the platform's graph split in three


@pytest.fixture(scope="module")
def platform() -> tuple[pd.DataFrame, pd.Series, np.ndarray]:
    """One platform's engagements of a simulated window, its studios, and each row's shard."""
    sim = simulate(SimConfig(seed=3, scale=0.5))
    window = distinct_engagements(clean_events(sim.events, source="sim").frame)
    rows = window[window["platform"].astype("str") == PLATFORM].reset_index(drop=True)
    edges = rows.groupby(["creator_id", "user_id"], observed=True).size().rename("events").reset_index()
    plan = plan_platform(edges.assign(platform=PLATFORM), budget=BUDGET)
    shard = rows["creator_id"].astype("str").map(plan.set_index("creator_id")["shard"]).to_numpy()
    named = sim.posts.dropna(subset=["studio_id"]).drop_duplicates("post_id")
    return rows, named.set_index("post_id")["studio_id"].astype("str"), shard


def test_shards_judged_against_the_platform_find_the_platforms_pools(
    platform: tuple[pd.DataFrame, pd.Series, np.ndarray],
) -> None:
    rows, studios, shard = platform
    params = ScoringParams()
    audiences = find_audiences(rows, studios=studios, params=params.audience)
    whole = seller_pools(rows, params=params.detectors.pool, audiences=audiences).event_group >= 0
    model = pool_chance(rows, params=params.detectors.pool, audiences=audiences)
    assert model is not None
    joined, alone = np.zeros(len(rows), bool), np.zeros(len(rows), bool)
    for name in np.unique(shard):
        at = np.flatnonzero(shard == name)
        part = rows.iloc[at]
        joined[at] = seller_pools(part, params=params.detectors.pool, chance=model).event_group >= 0
        own = find_audiences(part, studios=studios, params=params.audience)
        alone[at] = seller_pools(part, params=params.detectors.pool, audiences=own).event_group >= 0
    assert len(np.unique(shard)) >= 2 and whole.sum() > 100
    # a shard alone measures chance against itself: a pool that is most of a small shard explains itself away
    assert (alone != whole).sum() > 100
    np.testing.assert_array_equal(joined, whole)


def test_the_model_is_the_platforms_own_on_the_whole_platform(
    platform: tuple[pd.DataFrame, pd.Series, np.ndarray],
) -> None:
    rows, studios, _ = platform
    params = ScoringParams()
    audiences = find_audiences(rows, studios=studios, params=params.audience)
    model = pool_chance(rows, params=params.detectors.pool, audiences=audiences)
    own = seller_pools(rows, params=params.detectors.pool, audiences=audiences)
    given = seller_pools(rows, params=params.detectors.pool, chance=model)
    np.testing.assert_array_equal(own.event_group, given.event_group)
    np.testing.assert_array_equal(own.event_score, given.event_score)


def test_device_farms_count_a_devices_accounts_over_the_shards(
    platform: tuple[pd.DataFrame, pd.Series, np.ndarray],
) -> None:
    rows, _, shard = platform
    params = DeviceFarmParams()
    whole = device_farms(rows, params=params).event_score
    pairs = pd.concat(
        [
            rows.loc[shard == name, ["device_id", "user_id"]].dropna().astype("str").drop_duplicates()
            for name in np.unique(shard)
        ]
    ).drop_duplicates()  # what Spark unions over the shards (``scaleout.job.device_accounts``)
    counted = pairs.groupby("device_id").size()
    window = counted[counted > params.household_accounts]
    joined, alone = np.zeros(len(rows)), np.zeros(len(rows))
    for name in np.unique(shard):
        at = np.flatnonzero(shard == name)
        joined[at] = device_farms(rows.iloc[at], params=params, window_accounts=window).event_score
        alone[at] = device_farms(rows.iloc[at], params=params).event_score
    assert (alone != whole).sum() > 0  # an account seen in two shards: each counts a part of the device
    np.testing.assert_array_equal(joined, whole)


def test_the_model_carries_the_communities_found_without_the_orders() -> None:
    """An order that shapes its audience's community: the platform's model judges as the window does."""
    events = _audience_beside_an_order_for_a_stranger(seed=0)
    audiences = find_audiences(events, studios=None, params=ScoringParams().audience)
    model = pool_chance(events, params=PoolParams(), audiences=audiences)
    assert model is not None and model.orderless is not None
    own = seller_pools(events, params=PoolParams(), audiences=audiences)
    given = seller_pools(events, params=PoolParams(), chance=model)
    np.testing.assert_array_equal(own.event_score, given.event_score)
    assert (own.event_score >= 0.5).sum() > 500
