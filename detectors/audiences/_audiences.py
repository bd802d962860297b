"""The found audiences: per post its creator unit, per unit its community, region and connected part,
and the pool test's own partitions (``for_pool``, ``for_search``)."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt
import pandas as pd

from detectors.audiences._arrays import FloatArray, IntArray
from detectors.audiences._insularity import insularity


@dataclass(frozen=True)
class Audiences:
    """Per post id its creator unit and per unit its audience community (numbered from 0)."""

    posts: pd.Index  # post ids
    post_unit: IntArray  # per post of ``posts``: its creator unit
    unit_community: IntArray  # per unit: its community
    unit_region: IntArray  # per unit: its region (``_regions``; 0: the largest)
    unit_part: IntArray  # per unit: its connected part (``_regions``)
    # the communities the pool test measures chance within (``pool_min_insularity``); None: these
    pool: Audiences | None = None
    # the communities the pool test's search counts chance within (``pool_footprints_once``); None: these
    orderless: Audiences | None = None

    def for_pool(self) -> Audiences:
        """The audiences the pool test measures chance within: communities kept down to
        ``pool_min_insularity`` (a finer partition than the dense-block test's, never a coarser one)."""
        return self.pool if self.pool is not None else self

    def for_search(self) -> Audiences:
        """The communities the pool test's search counts chance within: found without the orders."""
        return self.orderless if self.orderless is not None else self

    def within_regions(self, min_units: int = 1) -> Audiences:
        """These audiences with each community cut at its regions' borders (``_regions``), its search's
        (``orderless``) too: units of two regions share no light account, so one audience cannot hold them.
        A community found across regions (a small one joined to another) is numbered once per region; a
        piece of fewer than ``min_units`` units stays with the community's other small pieces."""
        # numbered by community first, so that a partition no cut changes keeps its numbers (community 0,
        # where unseen units go, stays the first); a small piece takes its community's code 0
        key = self.unit_community * (int(self.unit_region.max(initial=0)) + 2) + self.unit_region + 1
        piece, size = np.unique(key, return_inverse=True, return_counts=True)[1:]
        key = np.where(size[piece] < min_units, key - self.unit_region - 1, key)
        community = np.unique(key, return_inverse=True)[1].astype(np.int64)
        orderless = self.orderless.within_regions(min_units) if self.orderless is not None else None
        return replace(self, unit_community=community, orderless=orderless)

    @property
    def n_communities(self) -> int:
        """How many audience communities the platform holds (1: one mixed audience)."""
        return int(self.unit_community.max(initial=0)) + 1

    def units(self, post_ids: pd.Index) -> IntArray:
        """Per post id its unit; a post the audiences never saw is a unit of its own."""
        found = self.posts.get_indexer(post_ids)
        unit = np.where(found >= 0, self.post_unit[np.maximum(found, 0)], -1)
        unknown = unit < 0
        unit[unknown] = len(self.unit_community) + np.arange(int(unknown.sum()))
        return np.asarray(unit, dtype=np.int64)

    def communities(self, units: IntArray) -> IntArray:
        """Per unit (from ``units``) its community; units the audiences never saw join community 0."""
        known = units < len(self.unit_community)
        return np.where(known, self.unit_community[np.where(known, units, 0)], 0).astype(np.int64)

    def regions(self, units: IntArray) -> IntArray:
        """Per unit (from ``units``) its region; units the audiences never saw join region 0."""
        known = units < len(self.unit_region)
        return np.where(known, self.unit_region[np.where(known, units, 0)], 0).astype(np.int64)

    def parts(self, units: IntArray) -> IntArray:
        """Per unit (from ``units``) its connected part; units the audiences never saw join part 0."""
        known = units < len(self.unit_part)
        return np.where(known, self.unit_part[np.where(known, units, 0)], 0).astype(np.int64)

    def insularity_without(
        self,
        user: IntArray,
        unit: IntArray,
        left_out: npt.NDArray[np.bool_],
        *,
        z: float,
        part: int | None = None,
        unit_community: IntArray | None = None,
    ) -> FloatArray:
        """Per community: its insularity, ``z`` errors up (``z`` < 0: down), once the accounts marked
        ``left_out`` are gone.

        ``user`` and ``unit`` are the light (account, unit) pairs the
        communities were found from, ``left_out`` a mask over accounts. A
        community made insular by a group's own accounts (a seller's book)
        mixes with the platform as chance says without them (0): its
        creators' other fans meet the rest. An audience's co-engagement is
        spread over many light accounts and stays insular without a few of
        them; where the group took nearly all of it, too few accounts remain
        to tell, and the upper bound stays high. With ``part``, insularity
        within that connected part: chance spreads the community's accounts
        over its part, not over audiences its accounts never reach (a part of
        one community is no audience by itself: 0). ``unit_community``: per
        unit its community, instead of the audiences' (units moved home).
        """
        kept = ~left_out[user]
        if part is not None:
            kept &= self.parts(unit) == part
        community = self.communities(unit[kept]) if unit_community is None else unit_community[unit[kept]]
        return insularity(user[kept], unit[kept], community, self.n_communities, z=z)
