"""Honest giveaways: "like and comment to win" posts that draw a fast, uniform crowd.

Entrants arrive within minutes of publication, like, comment one of a few
entry phrases and often follow: honest lockstep-looking bursts with
near-identical comments, the honest twin of a bot farm and a click farm.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from training.simulator.blocks import (
    COMMENT,
    FOLLOW,
    LIKE,
    MINUTE_US,
    ORGANIC,
    SHARE,
    WORLD_BLOCK,
    EventBlock,
    account_refs,
    loguniform_int,
    make_events,
)
from training.simulator.clock import reaction_delay_us
from training.simulator.world import World

GIVEAWAY_POST_SHARE = 0.03
ENTRANTS_PER_REACH = (0.3, 1.0)  # entrants relative to the post's organic reach, plus a crowd
EXTRA_ENTRANTS = (40, 400)
ENTRY_MEDIAN_MIN = (3.0, 12.0)
ENTRY_SIGMA = 0.9
# Share of entrants taking each action: the rules ask to like and comment, some follow or share.
ENTRY_ACTIONS = ((LIKE, 0.9), (COMMENT, 0.85), (FOLLOW, 0.35), (SHARE, 0.15))
COMPONENT_GIVEAWAY = 11

I64 = npt.NDArray[np.int64]


def giveaway_events(rng: np.random.Generator, world: World, honest_posts: I64) -> EventBlock:
    """Return the entries of giveaways held on a few of the ``honest_posts``."""
    n_giveaways = min(max(1, round(GIVEAWAY_POST_SHARE * world.n_posts)), len(honest_posts))
    chosen = rng.choice(honest_posts, size=n_giveaways, replace=False)
    size = np.rint(
        world.post_base_n[chosen] * rng.uniform(*ENTRANTS_PER_REACH, n_giveaways)
        + loguniform_int(rng, *EXTRA_ENTRANTS, size=n_giveaways)
    ).astype(np.int64)
    post, which = np.repeat(chosen, size), np.repeat(np.arange(n_giveaways), size)
    creator = world.post_creator[post]
    user = world.sample_users(rng, world.post_platform[post], world.creator_community(creator))
    _, first = np.unique((post << 32) | user, return_index=True)
    first = np.sort(first)
    first = first[user[first] != creator[first]]
    post, user, which = post[first], user[first], which[first]
    median_us = rng.uniform(*ENTRY_MEDIAN_MIN, n_giveaways) * MINUTE_US
    arrival_us = world.post_published_us[post] + np.exp(rng.normal(np.log(median_us[which]), ENTRY_SIGMA))
    parts: list[tuple[I64, I64, I64, npt.NDArray[np.float64]]] = []
    for code, share in ENTRY_ACTIONS:
        takes = np.flatnonzero(rng.random(len(post)) < share)
        # The like comes on arrival; the other actions follow within a minute or so.
        later = (
            np.zeros(len(takes))
            if code == LIKE
            else reaction_delay_us(rng, len(takes), median_s=30.0, sigma=0.8)
        )
        parts.append(
            (post[takes], user[takes], np.full(len(takes), code, dtype=np.int64), arrival_us[takes] + later)
        )
    post = np.concatenate([p[0] for p in parts])
    user = np.concatenate([p[1] for p in parts])
    action = np.concatenate([p[2] for p in parts])
    comment = np.full(len(post), -1, dtype=np.int64)
    is_comment = action == COMMENT
    comment[is_comment] = world.texts.giveaway(rng, int(is_comment.sum()))
    return make_events(
        component=COMPONENT_GIVEAWAY,
        post=post,
        account=account_refs(WORLD_BLOCK, user),
        action=action,
        ts_us=np.concatenate([p[3] for p in parts]),
        device=world.account_device[user],
        ip=world.event_ips(rng, user),
        comment=comment,
        scheme=ORGANIC,
    )
