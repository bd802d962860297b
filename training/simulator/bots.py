"""Automated sellers: lockstep bot orders, their camouflage, and drip-feed delivery."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from training.simulator.blocks import (
    BOT_BLOCK,
    CAMOUFLAGE,
    DAY_US,
    DRIP_BLOCK,
    DRIP_FEED,
    FAVORITE,
    HOUR_US,
    LIKE,
    LOCKSTEP,
    NS_BOT_DEVICE,
    NS_DATACENTER_IP,
    NS_DRIP_DEVICE,
    NS_DRIP_IP,
    SECOND_US,
    AccountBlock,
    EventBlock,
    account_refs,
    concat_events,
    draw_actions,
    draw_groups,
    honest_followers,
    loguniform_int,
    make_events,
    with_component,
)
from training.simulator.ids import namespaced
from training.simulator.market import Market
from training.simulator.people import scheme_accounts
from training.simulator.world import World

COMPONENT_LOCKSTEP, COMPONENT_CAMOUFLAGE, COMPONENT_DRIP = 4, 5, 8
LOCKSTEP_MIX = (0.80, 0.08, 0.03, 0.06, 0.0, 0.03)
CAMOUFLAGE_MIX = (0.85, 0.08, 0.0, 0.04, 0.0, 0.03)
DRIP_MIX = (0.85, 0.10, 0.0, 0.03, 0.0, 0.02)
CAMOUFLAGE_POSTS_PER_ORDER = 3

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]


@dataclass(frozen=True)
class FarmSpec:
    """How a kind of seller builds its account pool."""

    block: int
    ns_device: int
    ns_ip: int
    size: tuple[float, float]  # accounts per platform, log-uniform
    young_share: float  # accounts registered within the last three months
    shared_device_share: float
    group_size: tuple[int, int]  # accounts per shared device
    ip_count: tuple[int, int]  # addresses the seller rotates through


BOT_FARM = FarmSpec(BOT_BLOCK, NS_BOT_DEVICE, NS_DATACENTER_IP, (200, 600), 0.65, 0.45, (5, 30), (4, 16))
DRIP_POOL = FarmSpec(DRIP_BLOCK, NS_DRIP_DEVICE, NS_DRIP_IP, (200, 600), 0.3, 0.3, (2, 8), (20, 60))


@dataclass(frozen=True)
class Farm:
    """A seller's account pool on one platform."""

    platform: int
    local: I64  # block-local account numbers
    device: I64  # device key per account
    ips: I64  # the seller's ip keys, rotated per engagement


def build_farms(
    rng: np.random.Generator, world: World, platforms: I64, *, spec: FarmSpec
) -> tuple[AccountBlock, dict[int, Farm]]:
    """Return the accounts of one seller per platform and the farms by platform."""
    farms: dict[int, Farm] = {}
    ages: list[F64] = []
    followers: list[I64] = []
    start = 0
    for number, platform in enumerate(platforms):
        n = int(loguniform_int(rng, *spec.size)[0])
        local = np.arange(start, start + n, dtype=np.int64)
        young = rng.random(n) < spec.young_share
        age = np.exp(rng.normal(np.log(500.0), 0.6, n))
        age[young] = rng.uniform(2.0, 90.0, int(young.sum()))
        follow = honest_followers(rng, n, median=25.0)
        follow[young] = np.floor(np.exp(rng.normal(np.log(6.0), 1.2, int(young.sum())))).astype(np.int64)
        members, leaders = draw_groups(rng, n, share=spec.shared_device_share, sizes=spec.group_size)
        device = local.copy()
        device[members] = local[leaders]
        ips = namespaced(
            spec.ns_ip, number * 4096 + np.arange(int(rng.integers(*spec.ip_count, endpoint=True)))
        )
        farms[int(platform)] = Farm(int(platform), local, namespaced(spec.ns_device, device), ips)
        ages.append(age)
        followers.append(follow)
        start += n
    accounts = scheme_accounts(spec.block, age_days=ages, followers=followers, key=world.user_id_key)
    return accounts, farms


def lockstep_events(
    rng: np.random.Generator, world: World, market: Market, farms: dict[int, Farm]
) -> EventBlock:
    """Return bot orders: 50-500 bots engage a bought post within minutes of the order.

    The order lands whenever the buyer places it, at any hour, not at publication.
    """
    parts: list[EventBlock] = []
    for post in market.bought_posts(LOCKSTEP):
        farm = farms[int(world.post_platform[post])]
        n = min(int(loguniform_int(rng, 50, 500)[0]), int(0.9 * len(farm.local)))
        bots = rng.choice(len(farm.local), size=n, replace=False)
        published = int(world.post_published_us[post])
        latest = min(
            published + 72 * HOUR_US, int(world.campaign_end_us[world.post_campaign[post]]) - HOUR_US
        )
        order_us = rng.uniform(published + HOUR_US // 4, max(latest, published + HOUR_US // 2))
        ts_us = order_us + rng.gamma(1.5, rng.uniform(40.0, 150.0), n) * SECOND_US
        action = draw_actions(rng, n, LOCKSTEP_MIX)
        second = rng.random(n) < 0.12
        later = ts_us[second] + rng.uniform(2.0, 30.0, int(second.sum())) * SECOND_US
        parts.append(
            _farm_block(
                rng,
                world,
                farm,
                int(post),
                np.concatenate([bots, bots[second]]),
                np.concatenate([action, np.where(action[second] == LIKE, FAVORITE, LIKE).astype(np.int8)]),
                np.concatenate([ts_us, later]),
                block=BOT_BLOCK,
                scheme=LOCKSTEP,
            )
        )
    return with_component(concat_events(parts), COMPONENT_LOCKSTEP)


def camouflage_events(
    rng: np.random.Generator, world: World, market: Market, farms: dict[int, Farm]
) -> EventBlock:
    """Return the farm's bots engaging honest popular posts, one by one, to look normal."""
    honest_creator = ~market.is_assigned()
    lockstep_posts = market.bought_posts(LOCKSTEP)
    parts: list[EventBlock] = []
    for platform, farm in farms.items():
        on_platform = world.post_platform == platform
        n_orders = max(1, int(on_platform[lockstep_posts].sum()))
        eligible = np.flatnonzero(on_platform & honest_creator[world.post_creator])
        if len(eligible) == 0:
            continue
        popular = eligible[world.post_base_n[eligible] >= np.quantile(world.post_base_n[eligible], 0.7)]
        chosen = rng.choice(
            popular, size=min(len(popular), CAMOUFLAGE_POSTS_PER_ORDER * n_orders), replace=False
        )
        for post in chosen:
            n = min(int(loguniform_int(rng, 8, 60)[0]), len(farm.local))
            bots = rng.choice(len(farm.local), size=n, replace=False)
            ts_us = world.organic_times_us(rng, int(post), n)
            action = draw_actions(rng, n, CAMOUFLAGE_MIX)
            parts.append(
                _farm_block(
                    rng, world, farm, int(post), bots, action, ts_us, block=BOT_BLOCK, scheme=CAMOUFLAGE
                )
            )
    return with_component(concat_events(parts), COMPONENT_CAMOUFLAGE)


def drip_events(rng: np.random.Generator, world: World, market: Market, farms: dict[int, Farm]) -> EventBlock:
    """Return slow delivery: 100-400 engagements per post at regular intervals over days."""
    parts: list[EventBlock] = []
    for post in market.bought_posts(DRIP_FEED):
        farm = farms[int(world.post_platform[post])]
        n = int(rng.integers(100, 401))
        span_us = rng.uniform(2.0, 6.0) * DAY_US
        start_us = world.post_published_us[post] + rng.uniform(0.5, 12.0) * HOUR_US
        ts_us = start_us + (np.arange(n) + rng.uniform(-0.35, 0.35, n)) * span_us / n
        accounts = rng.choice(len(farm.local), size=n, replace=n > len(farm.local))
        action = draw_actions(rng, n, DRIP_MIX)
        parts.append(
            _farm_block(
                rng, world, farm, int(post), accounts, action, ts_us, block=DRIP_BLOCK, scheme=DRIP_FEED
            )
        )
    return with_component(concat_events(parts), COMPONENT_DRIP)


def _farm_block(
    rng: np.random.Generator,
    world: World,
    farm: Farm,
    post: int,
    member: I64,
    action: npt.NDArray[np.int8],
    ts_us: F64,
    *,
    block: int,
    scheme: int,
) -> EventBlock:
    """Return a farm's engagements on one post; ips rotate over the farm's addresses."""
    posts = np.full(len(member), post, dtype=np.int64)
    return make_events(
        component=0,
        post=posts,
        account=account_refs(block, farm.local[member]),
        action=action,
        ts_us=ts_us,
        device=farm.device[member],
        ip=farm.ips[rng.integers(0, len(farm.ips), size=len(member))],
        comment=world.honest_comments(rng, posts, action),
        scheme=scheme,
    )
