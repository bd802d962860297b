"""Honest engagement: decaying organic traffic, second actions, fan clubs, viral bursts."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from training.simulator.blocks import (
    COMMENT,
    LIKE,
    MINUTE_US,
    ORGANIC,
    PLATFORMS,
    WORLD_BLOCK,
    EventBlock,
    account_refs,
    draw_actions,
    loguniform_int,
    make_events,
)
from training.simulator.clock import organic_delay_h, reaction_delay_us
from training.simulator.world import World

# like, favorite, comment, share, view, follow per platform (xiaohongshu saves, channels shares).
ORGANIC_MIX = np.array(
    [
        [0.78, 0.08, 0.05, 0.035, 0.035, 0.02],
        [0.77, 0.08, 0.06, 0.035, 0.035, 0.02],
        [0.64, 0.20, 0.06, 0.025, 0.05, 0.025],
        [0.72, 0.06, 0.045, 0.10, 0.05, 0.025],
    ]
)
FOLLOW_UP_SHARE = 0.08
FOLLOW_UP_MIX = (0.0, 0.5, 0.3, 0.2)  # after a like: favorite, comment or share
FAN_CLUB_SHARE = 0.12
VIRAL_POST_SHARE = 0.015

COMPONENT_ORGANIC, COMPONENT_FOLLOW_UP, COMPONENT_FANS, COMPONENT_VIRAL = 0, 1, 2, 3

I64 = npt.NDArray[np.int64]


def organic_events(
    rng: np.random.Generator,
    world: World,
    *,
    honest_posts: I64,
    fan_clubs: bool,
    viral_posts: bool,
) -> list[EventBlock]:
    """Return the honest event blocks; ``honest_posts`` are the posts that may go viral.

    Each kind of traffic draws from its own child stream, so switching fan clubs
    or viral posts off leaves the rest of the honest traffic unchanged.
    """
    base_rng, viral_rng, follow_rng, fan_rng = rng.spawn(4)
    post = np.repeat(np.arange(world.n_posts), world.post_base_n)
    delay_h = organic_delay_h(
        base_rng,
        fast_h=world.post_fast_h[post],
        slow_h=world.post_slow_h[post],
        fast_share=world.post_fast_share[post],
    )
    ts_us = world.clock.after(world.post_published_us[post], delay_h)
    blocks = [_crowd(base_rng, world, post, ts_us, COMPONENT_ORGANIC)]
    if viral_posts:
        blocks.append(_viral(viral_rng, world, honest_posts))
    blocks.append(_follow_ups(follow_rng, world, blocks))
    if fan_clubs:
        blocks.append(_fan_clubs(fan_rng, world))
    return blocks


def _crowd(
    rng: np.random.Generator,
    world: World,
    post: I64,
    ts_us: npt.NDArray[np.float64],
    component: int,
) -> EventBlock:
    """Return engagements by pool users drawn by activity, one per entry of ``post``."""
    platform = world.post_platform[post]
    user = world.sample_users(rng, platform, world.creator_community(world.post_creator[post]))
    action = np.empty(len(post), dtype=np.int8)
    for p in range(len(PLATFORMS)):
        mask = platform == p
        action[mask] = draw_actions(rng, int(mask.sum()), ORGANIC_MIX[p])
    keep = user != world.post_creator[post]  # nobody engages their own post here
    return honest_block(rng, world, post[keep], user[keep], action[keep], ts_us[keep], component)


def honest_block(
    rng: np.random.Generator,
    world: World,
    post: I64,
    user: I64,
    action: npt.NDArray[np.int8],
    ts_us: npt.NDArray[np.float64] | I64,
    component: int,
) -> EventBlock:
    """Return a block of honest engagements with devices, ips and comment texts."""
    return make_events(
        component=component,
        post=post,
        account=account_refs(WORLD_BLOCK, user),
        action=action,
        ts_us=ts_us,
        device=world.account_device[user],
        ip=world.event_ips(rng, user),
        comment=world.honest_comments(rng, post, action),
        scheme=ORGANIC,
    )


def _viral(rng: np.random.Generator, world: World, honest_posts: I64) -> EventBlock:
    """Return bursts on a few honest posts picked up by the feed hours after publication."""
    # Any post can be picked up by the feed: a small creator's sudden burst is
    # exactly the honest case that looks like a bought one.
    n_viral = min(max(2, round(VIRAL_POST_SHARE * world.n_posts)), len(honest_posts))
    chosen = rng.choice(honest_posts, size=n_viral, replace=False)
    size = np.rint(
        world.post_base_n[chosen] * rng.uniform(0.5, 2.0, n_viral) + rng.uniform(300, 1500, n_viral)
    )
    onset_us = world.post_published_us[chosen] + rng.uniform(3.0, 36.0, n_viral) * 60 * MINUTE_US
    decay_h = rng.uniform(0.5, 1.5, n_viral)
    post = np.repeat(chosen, size.astype(np.int64))
    which = np.repeat(np.arange(len(chosen)), size.astype(np.int64))
    delay_h = rng.gamma(2.0, decay_h[which])  # ramps up, then decays
    return _crowd(rng, world, post, world.clock.after(onset_us[which], delay_h), COMPONENT_VIRAL)


def _follow_ups(rng: np.random.Generator, world: World, blocks: list[EventBlock]) -> EventBlock:
    """Return second actions (favorite, comment, share) by users who liked a post."""
    likes = [b.take(b.action == LIKE) for b in blocks]
    post = np.concatenate([b.post for b in likes])
    account = np.concatenate([b.account for b in likes])
    ts_us = np.concatenate([b.ts_us for b in likes])
    chosen = rng.random(len(post)) < FOLLOW_UP_SHARE
    post, user, ts_us = post[chosen], account[chosen] & ((1 << 32) - 1), ts_us[chosen]
    action = draw_actions(rng, len(post), FOLLOW_UP_MIX)
    later = ts_us + reaction_delay_us(rng, len(post), median_s=600.0, sigma=1.7)
    return honest_block(rng, world, post, user, action, later, COMPONENT_FOLLOW_UP)


def _fan_clubs(rng: np.random.Generator, world: World) -> EventBlock:
    """Return fan-club reactions: a creator's fans engage within minutes of each post."""
    creators = np.flatnonzero(rng.random(world.n_creators) < FAN_CLUB_SHARE)
    parts: list[tuple[I64, I64, npt.NDArray[np.int8], npt.NDArray[np.float64]]] = []
    for c in creators:
        members = _club_members(rng, world, int(c), int(loguniform_int(rng, 20, 150)[0]))
        posts = np.flatnonzero(world.post_creator == c)
        takes_part = rng.random((len(members), len(posts))) < rng.uniform(0.5, 0.9, len(members))[:, None]
        fan, which = np.nonzero(takes_part)
        speed = np.exp(rng.normal(0.0, 0.5, len(members)))  # some fans are always first
        median_s = rng.uniform(180.0, 600.0, len(posts))
        delay_us = np.exp(rng.normal(np.log(median_s[which]), 0.8)) * speed[fan] * 1e6
        ts_us = world.post_published_us[posts[which]] + delay_us
        action = draw_actions(rng, len(fan), (0.72, 0.08, 0.15, 0.05)).astype(np.int8)
        second = rng.random(len(fan)) < 0.2
        extra_action = np.where(action[second] == LIKE, COMMENT, LIKE).astype(np.int8)
        extra_ts = ts_us[second] + reaction_delay_us(rng, int(second.sum()), median_s=60.0, sigma=0.8)
        parts.append((posts[which], members[fan], action, ts_us))
        parts.append((posts[which][second], members[fan][second], extra_action, extra_ts))
    if not parts:
        return honest_block(rng, world, *_empty(), COMPONENT_FANS)
    post = np.concatenate([p[0] for p in parts])
    user = np.concatenate([p[1] for p in parts])
    action = np.concatenate([p[2] for p in parts])
    ts_us = np.concatenate([p[3] for p in parts])
    return honest_block(rng, world, post, user, action, ts_us, COMPONENT_FANS)


def _club_members(rng: np.random.Generator, world: World, creator: int, size: int) -> I64:
    """Return distinct pool users of the creator's platform who follow it closely."""
    platform = np.full(3 * size, world.creator_platform[creator], dtype=np.int64)
    drawn = world.sample_users(rng, platform, np.full(3 * size, world.account_community[creator]))
    drawn = drawn[drawn != creator]
    _, first = np.unique(drawn, return_index=True)
    return drawn[np.sort(first)][:size]


def _empty() -> tuple[I64, I64, npt.NDArray[np.int8], I64]:
    return (
        np.empty(0, np.int64),
        np.empty(0, np.int64),
        np.empty(0, np.int8),
        np.empty(0, np.int64),
    )
