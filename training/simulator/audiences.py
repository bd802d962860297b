"""Honest audience structure: per-platform studios and audience communities that rarely meet.

Both reshape the world before any engagement is drawn, each from its own
random stream; with studios off and one community the world is untouched.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import numpy.typing as npt

from training.simulator.blocks import PLATFORMS, draw_groups
from training.simulator.world import World, audience_tables

STUDIO_SHARE = 0.4  # creators signed to a studio, on each platform
STUDIO_SIZES = (3, 12)

I64 = npt.NDArray[np.int64]


def with_studios(rng: np.random.Generator, world: World) -> World:
    """Return the world with creators regrouped into studios of one platform each.

    A studio signs creators across the platform's campaigns; its number is
    the index of its first creator, so studio ids stay unique and stable.
    """
    studio = np.full(world.n_creators, -1, dtype=np.int64)
    for p in range(len(PLATFORMS)):
        creators = np.flatnonzero(world.creator_platform == p)
        members, leaders = draw_groups(rng, len(creators), share=STUDIO_SHARE, sizes=STUDIO_SIZES)
        studio[creators[members]] = creators[leaders]
    return replace(world, creator_studio=studio)


def with_communities(rng: np.random.Generator, world: World, n_communities: int) -> World:
    """Return the world with every account in one of ``n_communities`` audiences per platform.

    Users join a community at random; a studio's creators all join their
    first creator's community, since a studio courts one audience.
    """
    if n_communities == 1:
        return world
    community = rng.integers(0, n_communities, size=len(world.account_platform)).astype(np.int64)
    signed = np.flatnonzero(world.creator_studio >= 0)
    community[signed] = community[world.creator_studio[signed]]
    members, cum_weight = audience_tables(
        world.account_platform, community, world.account_weight, n_communities
    )
    return replace(
        world,
        n_communities=n_communities,
        account_community=community,
        audience_members=members,
        audience_cum_weight=cum_weight,
    )
