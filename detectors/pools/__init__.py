"""Seller pools: accounts that keep co-engaging the same posts of unrelated creators.

A seller of aged accounts gives each account its own device and a residential
IP and lets it engage on an organic-looking clock; what it cannot hide is that
the same pool serves every order, so posts of unrelated creators share far more
light engagers than chance allows. This is SynchroTrap's co-engagement without
its time window, on the post x post projection of the user x post graph.

Chance is a degree-corrected block model of the window's light accounts that
engaged two creator units or more (only they can share posts of two): a
configuration model within and between audience communities of creators
(interest, region, language), so that a community whose users rarely meet the
rest is not taken for a pool. The window must be one platform's
(``detectors.strata.per_platform``): accounts never cross platforms, and over a
window of several the overlap on a small platform looks far less likely than it
is. Creators of one studio (``posts.studio_id``) count as one creator: a
studio's creators sharing fans is honest.
"""

from __future__ import annotations

from detectors.pools._chance import PoolChance
from detectors.pools._detector import pool_chance, seller_pools
from detectors.pools._params import NAME, PoolParams

__all__ = ["NAME", "PoolChance", "PoolParams", "pool_chance", "seller_pools"]
