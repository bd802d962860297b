"""Who buys what: buyers, their schemes, bought posts and rings.

The market is drawn whatever the switches say, so turning a scheme off makes
its buyers honest without reshuffling everybody else.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from training.simulator.blocks import (
    AGED,
    CLICK_FARM,
    DRIP_FEED,
    LOCKSTEP,
    ORGANIC,
    PLATFORMS,
    RING,
)
from training.simulator.world import World

# Share of creators buying each scheme as their main one (ring: members of rings).
BUYER_SHARE = {LOCKSTEP: 0.03, CLICK_FARM: 0.02, DRIP_FEED: 0.02, AGED: 0.03}
RING_MEMBER_SHARE = 0.035
SECONDARY_SHARE = 0.2
SECONDARY_CHOICES = (LOCKSTEP, CLICK_FARM, DRIP_FEED)
PRIMARY_POST_BOUGHT = 0.75

I64 = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Market:
    """Scheme assignments of creators and posts (ORGANIC = none)."""

    creator_primary: I64
    creator_secondary: I64
    post_primary: I64  # the creator's primary scheme if this post is bought from it
    post_secondary: I64
    rings: list[I64]

    def bought_posts(self, scheme: int) -> I64:
        """Return the posts bought from ``scheme`` (main or secondary purchase)."""
        return np.flatnonzero((self.post_primary == scheme) | (self.post_secondary == scheme))

    def is_assigned(self) -> npt.NDArray[np.bool_]:
        """Return, per creator, whether it buys anything in the drawn market."""
        return (self.creator_primary != ORGANIC) | (self.creator_secondary != ORGANIC)


def draw_market(rng: np.random.Generator, world: World) -> Market:
    """Return buyers for every scheme, drawn independently of the switches."""
    n = world.n_creators
    primary = np.zeros(n, dtype=np.int64)
    rings = _draw_rings(rng, world, primary)
    for scheme, share in BUYER_SHARE.items():
        _draw_buyers(rng, world, primary, scheme=scheme, n_buyers=max(1, round(share * n)))
    secondary = np.zeros(n, dtype=np.int64)
    candidates = np.flatnonzero((primary != ORGANIC) & (primary != RING))
    chosen = candidates[rng.random(len(candidates)) < SECONDARY_SHARE]
    for c in chosen:
        options = [s for s in SECONDARY_CHOICES if s != primary[c]]
        secondary[c] = options[rng.integers(0, len(options))]

    post_primary = np.zeros(world.n_posts, dtype=np.int64)
    post_secondary = np.zeros(world.n_posts, dtype=np.int64)
    owner_primary = primary[world.post_creator]
    bought = (owner_primary == RING) | (rng.random(world.n_posts) < PRIMARY_POST_BOUGHT)
    post_primary[(owner_primary != ORGANIC) & bought] = owner_primary[(owner_primary != ORGANIC) & bought]
    posts_by_creator = np.split(np.arange(world.n_posts), np.flatnonzero(np.diff(world.post_creator)) + 1)
    for c in np.flatnonzero(primary != ORGANIC):
        own = posts_by_creator[c]
        if not (post_primary[own] != ORGANIC).any():
            post_primary[own[rng.integers(0, len(own))]] = primary[c]
        if secondary[c] != ORGANIC:
            post_secondary[own[rng.integers(0, len(own))]] = secondary[c]
    return Market(primary, secondary, post_primary, post_secondary, rings)


def _draw_rings(rng: np.random.Generator, world: World, primary: I64) -> list[I64]:
    """Assign rings of 5-12 creators of one platform; return their members."""
    n_rings = max(1, round(RING_MEMBER_SHARE * world.n_creators / 8.5))
    rings: list[I64] = []
    for _ in range(n_rings):
        free = [
            np.flatnonzero((world.creator_platform == p) & (primary == ORGANIC))
            for p in range(len(PLATFORMS))
        ]
        sizes = np.array([len(f) for f in free], dtype=np.float64)
        if sizes.max() < 5:
            break
        weight = np.where(sizes >= 5, sizes, 0.0)
        platform = rng.choice(len(PLATFORMS), p=weight / weight.sum())
        size = min(int(rng.integers(5, 13)), len(free[platform]))
        members = np.sort(rng.choice(free[platform], size=size, replace=False))
        primary[members] = RING
        rings.append(members)
    return rings


def _draw_buyers(rng: np.random.Generator, world: World, primary: I64, *, scheme: int, n_buyers: int) -> None:
    """Assign ``scheme`` to buyers concentrated on a few platforms (sellers are local)."""
    free = primary == ORGANIC
    available = np.bincount(world.creator_platform[free], minlength=len(PLATFORMS)).astype(np.float64)
    if available.sum() == 0:
        return
    n_platforms = int(np.clip(round(n_buyers / 4), 1, np.count_nonzero(available)))
    platforms = rng.choice(len(PLATFORMS), size=n_platforms, replace=False, p=available / available.sum())
    candidates = np.flatnonzero(free & np.isin(world.creator_platform, platforms))
    chosen = rng.choice(candidates, size=min(n_buyers, len(candidates)), replace=False)
    primary[chosen] = scheme
