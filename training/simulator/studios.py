"""Honest studio traffic: a studio's shared fans and its creators' cross-promotion.

A studio's fans follow several of its creators and engage their posts at
ordinary organic delays; its creators like and comment on each other's posts
hours apart, never in lockstep. Both are honest and look like a small ring or
a shared pool to a group test whose chance model ignores studios.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from training.simulator.blocks import EventBlock, draw_actions
from training.simulator.clock import organic_delay_h
from training.simulator.organic import ORGANIC_MIX, honest_block
from training.simulator.world import World

FAN_BASE_SHARE = (0.3, 0.8)  # a studio's fan base, relative to its posts' mean organic reach
FAN_BASE_BOUNDS = (10, 5_000)
FAN_AFFINITY = (0.2, 0.7)  # chance that a fan engages one of the studio's posts
CROSS_PROMO_SHARE = 0.5  # chance that a creator engages a studio-mate's post
CROSS_PROMO_MIX = (0.6, 0.0, 0.25, 0.15)  # like, favorite, comment, share
CROSS_PROMO_MEDIAN_H, CROSS_PROMO_SIGMA = 2.0, 1.0
COMPONENT_STUDIO_FANS, COMPONENT_CROSS_PROMO = 12, 13

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
Part = tuple[I64, I64, npt.NDArray[np.int8], F64]


def studio_events(rng: np.random.Generator, world: World) -> list[EventBlock]:
    """Return the shared-fan and cross-promotion blocks of every studio with two or more creators."""
    fan_rng, promo_rng = rng.spawn(2)
    post_studio = world.creator_studio[world.post_creator]
    signed = np.flatnonzero(post_studio >= 0)
    signed = signed[np.argsort(post_studio[signed], kind="stable")]
    starts = np.flatnonzero(np.diff(post_studio[signed], prepend=-2))
    fans: list[Part] = []
    promos: list[Part] = []
    for posts in np.split(signed, starts[1:]):
        members = np.unique(world.post_creator[posts])
        if len(members) < 2:
            continue
        fans.append(_shared_fans(fan_rng, world, posts, members))
        promos.append(_cross_promotion(promo_rng, world, posts, members))
    return [
        honest_block(fan_rng, world, *_joined(fans), COMPONENT_STUDIO_FANS),
        honest_block(promo_rng, world, *_joined(promos), COMPONENT_CROSS_PROMO),
    ]


def _shared_fans(rng: np.random.Generator, world: World, posts: I64, members: I64) -> Part:
    """Return engagements by one studio's fans, each engaging several of its creators' posts."""
    lead = int(members[0])
    reach = float(world.post_base_n[posts].mean())
    size = int(np.clip(round(rng.uniform(*FAN_BASE_SHARE) * reach), *FAN_BASE_BOUNDS))
    platform = int(world.creator_platform[lead])
    drawn = world.sample_users(
        rng, np.full(3 * size, platform), np.full(3 * size, world.account_community[lead])
    )
    drawn = drawn[~np.isin(drawn, members)]
    _, first = np.unique(drawn, return_index=True)
    fan_base = drawn[np.sort(first)][:size]
    affinity = rng.uniform(*FAN_AFFINITY, len(fan_base))
    fan, which = np.nonzero(rng.random((len(fan_base), len(posts))) < affinity[:, None])
    post = posts[which]
    delay_h = organic_delay_h(
        rng,
        fast_h=world.post_fast_h[post],
        slow_h=world.post_slow_h[post],
        fast_share=world.post_fast_share[post],
    )
    ts_us = world.clock.after(world.post_published_us[post], delay_h)
    return post, fan_base[fan], draw_actions(rng, len(post), ORGANIC_MIX[platform]), ts_us


def _cross_promotion(rng: np.random.Generator, world: World, posts: I64, members: I64) -> Part:
    """Return engagements of a studio's creators on their studio-mates' posts, hours apart."""
    author = world.post_creator[posts]
    engages = rng.random((len(members), len(posts))) < CROSS_PROMO_SHARE
    creator, which = np.nonzero(engages & (members[:, None] != author[None, :]))
    post = posts[which]
    delay_h = np.exp(rng.normal(np.log(CROSS_PROMO_MEDIAN_H), CROSS_PROMO_SIGMA, len(post)))
    ts_us = world.clock.after(world.post_published_us[post], delay_h)
    return post, members[creator], draw_actions(rng, len(post), CROSS_PROMO_MIX), ts_us


def _joined(parts: list[Part]) -> Part:
    """Return the parts concatenated column by column (empty columns when there are none)."""
    if not parts:
        return (np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.int8), np.empty(0))
    return (
        np.concatenate([p[0] for p in parts]),
        np.concatenate([p[1] for p in parts]),
        np.concatenate([p[2] for p in parts]),
        np.concatenate([p[3] for p in parts]),
    )
