"""Mutual-engagement rings: creators and their alt accounts engage each other's posts."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import numpy.typing as npt

from training.simulator.blocks import (
    ACCOUNT_SHIFT,
    COMMENT,
    FAVORITE,
    LIKE,
    NS_RING_DEVICE,
    ORGANIC,
    RING,
    RING_BLOCK,
    SHARE,
    WORLD_BLOCK,
    AccountBlock,
    EventBlock,
    account_refs,
    concat_events,
    make_events,
    with_component,
)
from training.simulator.clock import reaction_delay_us
from training.simulator.ids import namespaced
from training.simulator.market import Market
from training.simulator.people import scheme_accounts
from training.simulator.world import World

COMPONENT_RING = 7
EXTRA_ACTIONS = ((FAVORITE, 0.45), (COMMENT, 0.35), (SHARE, 0.15))
MOBILE_SHARE = 0.25

I64 = npt.NDArray[np.int64]


def build_ring_alts(rng: np.random.Generator, world: World, market: Market) -> tuple[AccountBlock, I64]:
    """Return the ring creators' alt accounts (2-5 each) and each alt's owner creator."""
    creators = np.concatenate(market.rings) if market.rings else np.empty(0, np.int64)
    owner = np.repeat(creators, rng.integers(2, 6, len(creators)))
    age = np.exp(rng.normal(np.log(400.0), 0.6, len(owner)))
    young = rng.random(len(owner)) < 0.4
    age[young] = rng.uniform(5.0, 120.0, int(young.sum()))
    followers = np.floor(np.exp(rng.normal(np.log(12.0), 1.2, len(owner)))).astype(np.int64)
    accounts = scheme_accounts(RING_BLOCK, age_days=[age], followers=[followers], key=world.user_id_key)
    return accounts, owner


def ring_events(rng: np.random.Generator, world: World, market: Market, alt_owner: I64) -> EventBlock:
    """Return ring members (creators and their alts) engaging each other's posts."""
    # Half the alts live on the creator's own phone, the rest on one spare phone.
    alt_device = np.where(
        rng.random(len(alt_owner)) < 0.5,
        world.account_device[alt_owner],
        namespaced(NS_RING_DEVICE, alt_owner),
    )
    parts = [_ring(rng, world, ring, alt_owner, alt_device) for ring in market.rings]
    return with_component(concat_events(parts), COMPONENT_RING)


def _ring(rng: np.random.Generator, world: World, ring: I64, alt_owner: I64, alt_device: I64) -> EventBlock:
    """Return one ring's engagements: everybody on every other member's posts, repeatedly."""
    alts = np.flatnonzero(np.isin(alt_owner, ring))
    owner = np.concatenate([ring, alt_owner[alts]])
    refs = np.concatenate([account_refs(WORLD_BLOCK, ring), account_refs(RING_BLOCK, alts)])
    device = np.concatenate([world.account_device[ring], alt_device[alts]])
    posts = np.flatnonzero(np.isin(world.post_creator, ring))
    own_post = owner[:, None] == world.post_creator[posts][None, :]
    is_alt = (np.arange(len(owner)) >= len(ring))[:, None]  # alts also boost their own creator
    keen = rng.uniform(0.55, 0.95, len(owner))[:, None]
    member, which = np.nonzero((~own_post | is_alt) & (rng.random(own_post.shape) < keen))
    first_us = world.clock.after(
        world.post_published_us[posts[which]], np.exp(rng.normal(np.log(1.5), 1.0, len(member)))
    )
    chosen = [rng.random(len(member)) < share for _, share in EXTRA_ACTIONS]
    member_all = np.concatenate([member, *[member[c] for c in chosen]])
    action = np.concatenate(
        [
            np.full(len(member), LIKE),
            *[np.full(int(c.sum()), a) for (a, _), c in zip(EXTRA_ACTIONS, chosen, strict=True)],
        ]
    ).astype(np.int8)
    ts_us = np.concatenate([first_us, *[first_us[c] for c in chosen]])
    later = reaction_delay_us(rng, len(member_all), median_s=40.0, sigma=1.0)
    post = posts[np.concatenate([which, *[which[c] for c in chosen]])]
    mobile = rng.random(len(member_all)) < MOBILE_SHARE
    return make_events(
        component=0,
        post=post,
        account=refs[member_all],
        action=action,
        ts_us=ts_us + np.where(action == LIKE, 0.0, later),
        device=device[member_all],
        ip=np.where(mobile, world.mobile_ips(rng, owner[member_all]), world.account_ip[owner[member_all]]),
        comment=world.honest_comments(rng, post, action),
        scheme=RING,
    )


def with_pod_truth(world: World, market: Market, events: EventBlock) -> EventBlock:
    """Return ``events`` with every organic engagement of a ring member's own account on another
    member's post labelled ``ring``.

    A creator's own account is also an ordinary user (``organic_events``), and
    its niche is its ring partners' niche, so now and then it engages a
    partner's post on its own. In a pod that engagement is the scheme whatever
    prompted it: the partner is paid for it and pays it back in kind, and no
    record tells the two apart. Labelled organic, it was truth no detector could
    meet (a pod member's like on a partner's post counted as honest money).
    """
    ring_of = np.full(world.n_creators, -1, dtype=np.int64)
    for number, ring in enumerate(market.rings):
        ring_of[ring] = number
    local = events.account & ((np.int64(1) << np.int64(ACCOUNT_SHIFT)) - 1)
    is_creator = ((events.account >> np.int64(ACCOUNT_SHIFT)) == WORLD_BLOCK) & (local < world.n_creators)
    ring = np.where(is_creator, ring_of[np.where(is_creator, local, 0)], -1)
    creator = world.post_creator[events.post]
    is_pod = (events.scheme == ORGANIC) & (ring >= 0) & (ring_of[creator] == ring) & (creator != local)
    if not is_pod.any():
        return events
    return replace(events, scheme=np.where(is_pod, RING, events.scheme).astype(np.int8))
