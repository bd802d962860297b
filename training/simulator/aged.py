"""Bought aged accounts: old, ordinary-looking accounts behind residential proxies."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from training.simulator.blocks import (
    AGED,
    AGED_BLOCK,
    LIKE,
    NS_AGED_DEVICE,
    NS_PROXY_IP,
    AccountBlock,
    EventBlock,
    account_refs,
    concat_events,
    draw_actions,
    honest_age_days,
    honest_followers,
    loguniform_int,
    make_events,
    with_component,
)
from training.simulator.clock import reaction_delay_us
from training.simulator.ids import namespaced
from training.simulator.market import Market
from training.simulator.organic import FOLLOW_UP_MIX, ORGANIC_MIX
from training.simulator.people import scheme_accounts
from training.simulator.world import World

COMPONENT_AGED = 9
FRESH_PROXY_SHARE = 0.3
SECOND_ACTION_SHARE = 0.12

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]


def build_aged_pools(
    rng: np.random.Generator, world: World, platforms: I64
) -> tuple[AccountBlock, dict[int, I64]]:
    """Return sellers' pools of bought aged accounts (200-500 per platform)."""
    pools: dict[int, I64] = {}
    ages: list[F64] = []
    followers: list[I64] = []
    start = 0
    for platform in platforms:
        n = int(loguniform_int(rng, 200, 500)[0])
        pools[int(platform)] = np.arange(start, start + n)
        ages.append(np.maximum(honest_age_days(rng, n, new_share=0.0), 400.0) + rng.uniform(0, 700, n))
        followers.append(honest_followers(rng, n))
        start += n
    accounts = scheme_accounts(AGED_BLOCK, age_days=ages, followers=followers, key=world.user_id_key)
    return accounts, pools


def aged_events(rng: np.random.Generator, world: World, market: Market, pools: dict[int, I64]) -> EventBlock:
    """Return bought aged accounts on bought posts: a 30-60% subset of the pool per order.

    Timing, action mix and comments copy organic behaviour; only the pool's
    repeated co-engagement across bought posts gives the accounts away.
    """
    parts = [
        _order(rng, world, pools[int(world.post_platform[post])], int(post))
        for post in market.bought_posts(AGED)
    ]
    events = concat_events(parts)
    # Residential proxies: a fresh, never-repeated address for some engagements.
    fresh = np.flatnonzero(rng.random(len(events)) < FRESH_PROXY_SHARE)
    ip = events.ip.copy()
    ip[fresh] = namespaced(NS_PROXY_IP, (1 << 32) + fresh)
    return with_component(EventBlock(**{**events.__dict__, "ip": ip}), COMPONENT_AGED)


def _order(rng: np.random.Generator, world: World, pool: I64, post: int) -> EventBlock:
    member = pool[rng.random(len(pool)) < rng.uniform(0.3, 0.6)]
    first_us = world.organic_times_us(rng, post, len(member))
    action = draw_actions(rng, len(member), ORGANIC_MIX[world.post_platform[post]])
    again = (action == LIKE) & (rng.random(len(member)) < SECOND_ACTION_SHARE)
    n_again = int(again.sum())
    member = np.concatenate([member, member[again]])
    action = np.concatenate([action, draw_actions(rng, n_again, FOLLOW_UP_MIX)])
    later = first_us[again] + reaction_delay_us(rng, n_again, median_s=600.0, sigma=1.7)
    posts = np.full(len(member), post)
    return make_events(
        component=0,
        post=posts,
        account=account_refs(AGED_BLOCK, member),
        action=action,
        ts_us=np.concatenate([first_us, later]),
        device=namespaced(NS_AGED_DEVICE, member),
        ip=namespaced(NS_PROXY_IP, member),
        comment=world.honest_comments(rng, posts, action),
        scheme=AGED,
    )
