"""The search: post pairs linked beyond chance, Louvain pools of the links, and their members."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from functools import cached_property

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import sparse

from detectors.pools._chance import (
    Masses,
    _account_posts,
    _Audiences,
    _block_mass,
    _Chance,
    _cross_creator_pairs,
    _crossing,
    _tier_limits,
)
from detectors.pools._glued import _split_glued
from detectors.pools._params import PoolParams
from detectors.pools._repeats import _Repeats
from detectors.pools._served import _served_outside
from features.arrays import distinct, distinct_counts, footprints, in_sorted


@dataclass(frozen=True)
class _Light:
    """A platform window's events and light (account, post) pairs, as codes."""

    users: npt.NDArray[np.int64]  # per event: its account
    posts: npt.NDArray[np.int64]  # per event: its post (-1 when missing)
    ok: npt.NDArray[np.bool_]  # per event: both known
    pair_user: npt.NDArray[np.int64]  # per light pair: its account
    pair_post: npt.NDArray[np.int64]  # per light pair: its post
    unit: npt.NDArray[np.int64]  # per post: its creator unit
    # per account: its creator units on the whole platform (``PoolChance``); None: as the pairs count them
    user_units: npt.NDArray[np.int64] | None = None
    # per partition of units into communities (its bytes): how the accounts spread over it (``spread``)
    _spreads: dict[bytes, _Audiences] = field(default_factory=dict, compare=False, repr=False)

    @cached_property
    def overlap(self) -> _Overlap:
        """The crossing light pairs' overlap (``_Overlap``): the same under every partition, found once."""
        # per account its units: the platform's when given, else the pairs' (``creators``, found once)
        units = self.user_units if self.user_units is not None else self.creators[2]
        crossing = _crossing(self.pair_user, self.unit[self.pair_post], units)
        return _Overlap.of(self.pair_user[crossing], self.pair_post[crossing], self.unit)

    @cached_property
    def creators(self) -> tuple[int, npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """``width``, the sorted distinct ``user * width + unit`` keys of the light pairs and per account
        its creator units (at least its platform count, ``user_units``): what ``_members`` counts."""
        return _creator_keys(self.pair_user, self.unit[self.pair_post], self.user_units)

    @cached_property
    def pair_unit(self) -> npt.NDArray[np.int64]:
        """Per light pair: its post's creator unit."""
        return self.unit[self.pair_post]

    @cached_property
    def account_units(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """The distinct (account, unit) pairs of the light pairs, by account then unit (``creators``')."""
        width, user_creator, _ = self.creators
        return user_creator // width, user_creator % width

    @cached_property
    def account_pairs(self) -> npt.NDArray[np.int64]:
        """Per account: its light pairs (its distinct light posts)."""
        return np.bincount(self.pair_user, minlength=int(self.users.max()) + 1)

    @cached_property
    def one_off_engagers(self) -> npt.NDArray[np.float64]:
        """Per post: its engagers with no other post in the window (a post's reach that no light account,
        a seller's reused one least of all, makes)."""
        n_posts = len(self.unit)
        pairs = distinct(self.users[self.ok] * n_posts + self.posts[self.ok])
        user, post = pairs // n_posts, pairs % n_posts
        once = np.bincount(user)[user] == 1
        return np.bincount(post[once], minlength=n_posts).astype(np.float64)

    @cached_property
    def repeats(self) -> _Repeats:
        """The accounts whose light posts another account's repeat, grouped once (``_Repeats``)."""
        return _Repeats.of(footprints(self.pair_user, self.pair_post, int(self.users.max()) + 1))

    def with_units(self, unit: npt.NDArray[np.int64], user_units: npt.NDArray[np.int64] | None) -> _Light:
        """These events and light pairs with other creator units (per post ``unit``, per account
        ``user_units``), keeping what the units do not change and was found already (``_UNITLESS``)."""
        out = replace(self, unit=unit, user_units=user_units, _spreads={})
        for name in _UNITLESS:
            if name in vars(self):
                vars(out)[name] = vars(self)[name]
        return out

    def spread(self, unit_community: npt.NDArray[np.int64], *, params: PoolParams) -> _Audiences:
        """How the light accounts spread their creators over ``unit_community``'s communities, found once
        per partition (``_Audiences.build``)."""
        key = np.asarray(unit_community, dtype=np.int64).tobytes()
        if key not in self._spreads:
            width, user_creator, _ = self.creators
            self._spreads[key] = _Audiences.build(user_creator, unit_community, width, params=params)
        return self._spreads[key]


# ``_Light``'s cached properties that read only the events and light pairs, not the units
_UNITLESS = ("account_pairs", "one_off_engagers", "repeats")


def _creator_keys(
    pair_user: npt.NDArray[np.int64],
    pair_creator: npt.NDArray[np.int64],
    platform_degree: npt.NDArray[np.int64] | None,
) -> tuple[int, npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """``width``, the sorted distinct ``user * width + creator`` keys of the pairs and per account its
    creators (at least ``platform_degree``, its count on the whole platform, when given)."""
    width = int(pair_creator.max()) + 1
    user_creator = distinct(pair_user * width + pair_creator)
    degree = np.bincount(user_creator // width)
    if platform_degree is not None:
        degree = np.maximum(degree, platform_degree[: len(degree)])
    return width, user_creator, degree


@dataclass(frozen=True)
class _Overlap:
    """Light accounts shared by post pairs: the account x post matrix, the pairs' shared accounts (upper
    triangle), each post's light engagers and the Bonferroni count of post pairs of different units."""

    matrix: sparse.csr_matrix
    shared: sparse.coo_matrix
    post_degree: npt.NDArray[np.float64]
    tests: float

    @classmethod
    def of(
        cls, user: npt.NDArray[np.int64], post: npt.NDArray[np.int64], unit: npt.NDArray[np.int64]
    ) -> _Overlap:
        """The overlap of the (account, post) pairs ``user``, ``post``, posts of creator ``unit``."""
        matrix = _account_posts(user, post, len(unit))
        post_degree = np.asarray(matrix.sum(axis=0)).ravel()
        shared = sparse.triu(matrix.T @ matrix, k=1).tocoo()
        return cls(matrix, shared, post_degree, _cross_creator_pairs(unit[post_degree > 0]))


def _search(
    light: _Light,
    unit_community: npt.NDArray[np.int64],
    *,
    params: PoolParams,
    given: _Chance | None = None,
    pooled: npt.NDArray[np.bool_] | None = None,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    """Per event its pool (-1: none), per pool its median effect (lift beyond the overlap) and whether
    each of its links reached ``min_lift`` only through the overlap (``_overlap_only``), chance counted
    by ``unit_community`` (against ``given``, the whole platform's, when the events are one shard of it).
    ``pooled`` (per post), when given, is set where a pool of either resolution holds the post, members
    or none."""
    unit, n_posts = light.unit, len(light.unit)
    event_pool = np.full(len(light.users), -1, dtype=np.int64)
    links = _linked_posts(light.overlap, unit, unit_community[unit], params=params, given=given)
    if links.empty:
        return event_pool, np.zeros(0), np.zeros(0, dtype=bool)
    lifts: list[npt.NDArray[np.float64]] = []
    overlap_only: list[npt.NDArray[np.bool_]] = []
    # a pool's parts in different communities that its accounts do not tie are pools of their own
    split = params.split_min_lift > 0 and unit_community.max(initial=0) > 0
    block = _every_post(light, unit_community, given) if split else None
    for resolution in params.resolutions:
        n_pools, post_pool = _pools(links, n_posts, resolution=resolution, seed=params.louvain_seed)
        pair_pool = post_pool[light.pair_post]
        if block is not None:
            n_pools, post_pool = _split_glued(
                light.overlap.matrix, post_pool, unit_community[unit], block, params=params
            )
            pair_pool = post_pool[light.pair_post]
        if pooled is not None:
            pooled |= post_pool >= 0
        reach = None
        # with ``given`` too: Spark's worker runs the test on a split platform's whole pairs (its one-off
        # engagers are the platform's); a shard judged on its own part would count its own
        if params.members_chance_by_one_offs:
            reach = _Reach.of(light, post_pool, n_pools, unit_community, params=params)
        members = _members(
            light.pair_user,
            unit[light.pair_post],
            pair_pool,
            n_pools,
            unit_community,
            params=params,
            given=given.audiences if given is not None else light.spread(unit_community, params=params),
            platform_degree=light.user_units,
            creators=light.creators,
            reach=reach,
        )
        # an event found at a coarser resolution keeps that pool
        pool_of_event = post_pool[np.maximum(light.posts, 0)]
        first = sum(map(len, lifts))
        _assign(event_pool, light.users, pool_of_event, light.ok, members, n_pools, first=first)
        lifts.append(_median_lift(links, post_pool, n_pools))
        overlap_only.append(_overlap_only(links, post_pool, n_pools, params=params))
    return event_pool, np.concatenate(lifts), np.concatenate(overlap_only)


@dataclass(frozen=True)
class _Reach:
    """Membership's chance by one-off reach (``members_chance_by_one_offs``): [pool, community] a bound on
    each pool's share of a community's engagement (``_one_off_share``), and [pool, unit] the pool's units
    with a post outside it that light accounts engaged (``_open_units``)."""

    bound: npt.NDArray[np.float64]
    open_unit: npt.NDArray[np.bool_]

    @classmethod
    def of(
        cls,
        light: _Light,
        post_pool: npt.NDArray[np.int64],
        n_pools: int,
        unit_community: npt.NDArray[np.int64],
        *,
        params: PoolParams,
    ) -> _Reach:
        """The reach of the pools ``post_pool`` (per post, -1: none) of ``light``'s posts."""
        bound = _one_off_share(light, post_pool, n_pools, unit_community, params=params)
        return cls(bound, _open_units(light, post_pool, n_pools))

    def judged(
        self,
        pair_user: npt.NDArray[np.int64],
        user_pool: npt.NDArray[np.int64],
        keys: npt.NDArray[np.int64],
        triples: npt.NDArray[np.int64],
        width: int,
        n_pools: int,
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
        """The bound, and per (account, pool) key of ``_members`` whether it is judged by it: every light
        post of the account is one of the pool's (``_whole_footprints``) while one of its creators there
        has a post outside the pool that it skipped. A seller's account fills orders and nothing else of
        its clients; a fan of creators whose every post the pool holds has nothing to skip."""
        triple_key = np.searchsorted(keys, triples // width)
        skipped = self.open_unit[(keys % (n_pools + 1))[triple_key], triples % width]
        skips = np.bincount(triple_key, weights=skipped, minlength=len(keys)) > 0
        return self.bound, _whole_footprints(pair_user, user_pool, keys, n_pools) & skips


def _open_units(light: _Light, post_pool: npt.NDArray[np.int64], n_pools: int) -> npt.NDArray[np.bool_]:
    """[pool, unit]: the unit has posts in the pool and a post outside it with light engagers."""
    width = int(light.unit.max()) + 1
    engaged = np.bincount(light.pair_post, minlength=len(light.unit)) > 0
    n_engaged = np.bincount(light.unit[engaged], minlength=width)
    held = engaged & (post_pool >= 0)
    in_pool = np.bincount(post_pool[held] * width + light.unit[held], minlength=n_pools * width).reshape(
        n_pools, width
    )
    return np.asarray((in_pool > 0) & (in_pool < n_engaged[None, :]), dtype=bool)


def _one_off_share(
    light: _Light,
    post_pool: npt.NDArray[np.int64],
    n_pools: int,
    unit_community: npt.NDArray[np.int64],
    *,
    params: PoolParams,
) -> npt.NDArray[np.float64]:
    """[pool, community]: the share of the community's one-off engagers (``_Light.one_off_engagers``) on
    the pool's posts, ``one_off_errors`` Poisson errors up; 1 (no bound) in a community with fewer than
    ``min_accounts`` of them.

    Honest light accounts land on posts as the posts' reach draws them; a post's one-off engagers
    measure that reach without the accounts a seller reuses order after order, which make its orders
    popular among light accounts and raise membership's chance for the seller's own accounts."""
    once = light.one_off_engagers
    community = unit_community[light.unit]
    n = int(unit_community.max()) + 1
    total = np.bincount(community, weights=once, minlength=n)
    held = post_pool >= 0
    count = np.bincount(
        post_pool[held] * n + community[held], weights=once[held], minlength=n_pools * n
    ).reshape(n_pools, n)
    upper = count + params.one_off_errors * np.sqrt(count + 1.0)
    share = np.clip(upper / np.maximum(total, 1.0), 0.0, 1.0)
    share[:, total < params.min_accounts] = 1.0
    return np.asarray(share, dtype=np.float64)


def _every_post(
    light: _Light, unit_community: npt.NDArray[np.int64], given: _Chance | None
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """The block model's masses of every post (``_block_mass``) under ``unit_community`` (``given``'s,
    the whole platform's, when the events are one shard of it)."""
    if given is not None:
        return given.masses.pair_mass[-1], given.masses.mass[-1]
    overlap = light.overlap
    return _block_mass(overlap.matrix, unit_community[light.unit], overlap.post_degree)


def _assign(
    event_pool: npt.NDArray[np.int64],
    users: npt.NDArray[np.int64],
    pool_of_event: npt.NDArray[np.int64],
    ok: npt.NDArray[np.bool_],
    members: npt.NDArray[np.int64],
    n_pools: int,
    *,
    first: int,
) -> None:
    """Give events of members on their pools' posts, not yet in a pool, pool number ``first + pool``."""
    found = np.flatnonzero(ok & (event_pool < 0) & (pool_of_event >= 0))
    found = found[in_sorted(users[found] * (n_pools + 1) + pool_of_event[found], members)]
    event_pool[found] = pool_of_event[found] + first


def _median_lift(
    links: pd.DataFrame, post_pool: npt.NDArray[np.int64], n_pools: int
) -> npt.NDArray[np.float64]:
    """Per pool: the median effect (lift beyond the overlap, the floor's measure) of the links inside it."""
    a, b = post_pool[links["a"].to_numpy()], post_pool[links["b"].to_numpy()]
    inside = a == b
    median = pd.Series(links["effect"].to_numpy()[inside]).groupby(a[inside]).median()
    return median.reindex(np.arange(n_pools)).fillna(0.0).to_numpy(np.float64)


def _overlap_only(
    links: pd.DataFrame, post_pool: npt.NDArray[np.int64], n_pools: int, *, params: PoolParams
) -> npt.NDArray[np.bool_]:
    """Per pool: every link inside it reached ``min_lift`` only through its overlap.

    Such a link is under ``min_lift`` times the block model's chance, and one of its posts has fewer
    than ``min_outside_accounts`` crossing light engagers outside the overlap, or at most
    ``max_outside_share`` of them: its lift beyond the overlap (``_lift_beyond_overlap``) counts chance
    from those few. A small audience's satellite, whose fans all engage its star, is such a post, and so
    is one of two creators of a small audience whose fans mostly engage both; a seller's order on posts
    that keep their own fans, even a drip-fed one that is most of them, is not.
    """
    a, b = post_pool[links["a"].to_numpy()], post_pool[links["b"].to_numpy()]
    few = links["outside"].to_numpy() < params.min_outside_accounts
    few |= links["outside_share"].to_numpy() <= params.max_outside_share
    weak = (links["lift"].to_numpy() < params.min_lift) & few
    inside = a == b
    strong = np.bincount(a[inside], weights=~weak[inside], minlength=n_pools)
    held = np.bincount(a[inside], minlength=n_pools)
    return np.asarray((held > 0) & (strong == 0), dtype=bool)


def _members(
    pair_user: npt.NDArray[np.int64],
    pair_creator: npt.NDArray[np.int64],
    pair_pool: npt.NDArray[np.int64],
    n_pools: int,
    unit_community: npt.NDArray[np.int64],
    *,
    params: PoolParams,
    given: _Audiences | None = None,
    platform_degree: npt.NDArray[np.int64] | None = None,
    creators: tuple[int, npt.NDArray[np.int64], npt.NDArray[np.int64]] | None = None,
    served: bool = False,
    reach: _Reach | None = None,
) -> npt.NDArray[np.int64]:
    """Sorted keys ``user * (n_pools + 1) + pool`` of the pools' members (see ``seller_pools``);
    ``given``: the whole platform's spread of accounts over communities (or these pairs', found
    already), ``platform_degree`` per account its creators on the whole platform, ``creators`` what
    ``_Light.creators`` found of these pairs already; ``served``: with the accounts one creator short
    whose creator outside the pool it served (``_served_outside``); ``reach``: see ``_Reach``.

    Accounts are counted in creators, not posts: a fan of one creator who
    bought engagement follows all of that creator's pooled posts, which is
    loyalty, not a pool; a pool's account keeps turning up at unrelated creators.
    """
    width, user_creator, degree = (
        creators if creators is not None else _creator_keys(pair_user, pair_creator, platform_degree)
    )
    in_pool = pair_pool >= 0
    user_pool = pair_user[in_pool] * (n_pools + 1) + pair_pool[in_pool]
    triples = distinct(user_pool * width + pair_creator[in_pool])
    keys, k = distinct_counts(triples // width)
    key_user = keys // (n_pools + 1)
    key_degree = np.minimum(degree[key_user], params.max_posts)
    # effect-size floor: most of a member's creators lie in the pool, however large the window
    focused = k >= params.min_member_share * degree[key_user]
    audiences = given or _Audiences.build(user_creator, unit_community, width, params=params)
    cap = (None, None) if reach is None else reach.judged(pair_user, user_pool, keys, triples, width, n_pools)
    judge = _Judge.of(keys, k, key_degree, triples, width, unit_community, audiences, n_pools, cap)
    # chance starts without every focused candidate: a pool serving a small window's few creators is
    # most of their light engagement, and counted as chance it would explain itself away
    start = focused & (k >= params.min_creators)
    member, own = start, np.zeros(len(keys), dtype=bool)
    for again in range(2 if params.members_chance_without_own else 1):
        if again:
            # and without the pool's own accounts where they are more than its members and fans explain
            own = _own_keys(pair_user, pair_creator, pair_pool, keys, n_pools, member, params=params)
        member = unexplained = start
        for _ in range(params.max_member_rounds):
            # chance is the honest share of engagement: members' own pool creators are taken out
            unexplained = judge.unexplained(member | own, params=params)
            found = focused & unexplained
            if np.array_equal(found, member):
                break
            member = found
    if served:
        member = member | _served_outside(
            keys, k, degree, unexplained, triples, user_creator, width, n_pools, params=params
        )
    return keys[member]


@dataclass(frozen=True)
class _Judge:
    """One membership round's chance test (``_members``): per (account, pool) key its creators in the pool
    ``k``, its creators (capped) and its pool; per pooled (account, pool, creator) triple its key and its
    (pool, community) cell; and the reach cap with the keys it judges, if any (``_Reach.judged``)."""

    k: npt.NDArray[np.int64]
    degree: npt.NDArray[np.int64]
    pool: npt.NDArray[np.int64]
    triple_key: npt.NDArray[np.int64]
    triple_cell: npt.NDArray[np.int64]
    triple_community: npt.NDArray[np.int64]
    audiences: _Audiences
    n_pools: int
    cap: tuple[npt.NDArray[np.float64] | None, npt.NDArray[np.bool_] | None]

    @classmethod
    def of(
        cls,
        keys: npt.NDArray[np.int64],
        k: npt.NDArray[np.int64],
        degree: npt.NDArray[np.int64],
        triples: npt.NDArray[np.int64],
        width: int,
        unit_community: npt.NDArray[np.int64],
        audiences: _Audiences,
        n_pools: int,
        cap: tuple[npt.NDArray[np.float64] | None, npt.NDArray[np.bool_] | None],
    ) -> _Judge:
        """The test of the sorted ``keys`` and the ``user_pool * width + creator`` ``triples``."""
        pool = keys % (n_pools + 1)
        triple_key = np.searchsorted(keys, triples // width)
        community = unit_community[triples % width]
        cell = pool[triple_key] * audiences.n + community
        return cls(k, degree, pool, triple_key, cell, community, audiences, n_pools, cap)

    def unexplained(self, out: npt.NDArray[np.bool_], *, params: PoolParams) -> npt.NDArray[np.bool_]:
        """Per key: chance does not explain it, the keys ``out`` (members, own accounts) out of chance; a
        key the cap judges is unexplained also where chance with each pool's share capped does not."""
        honest = ~out[self.triple_key]
        share = self.audiences.share(self.triple_cell[honest], self.triple_community[~honest], self.n_pools)
        by_degree = self.audiences.by_degree
        unexplained = _significant(self.k, self.degree, self.pool, share, by_degree, params=params)
        cap, judged = self.cap
        if cap is None or judged is None:
            return unexplained
        capped = np.minimum(share, cap @ self.audiences.spread.T)
        by_reach = _significant(self.k, self.degree, self.pool, capped, by_degree, params=params)
        return unexplained | (by_reach & judged)


def _whole_footprints(
    pair_user: npt.NDArray[np.int64],
    user_pool: npt.NDArray[np.int64],
    keys: npt.NDArray[np.int64],
    n_pools: int,
) -> npt.NDArray[np.bool_]:
    """Per (account, pool) key of ``_members`` (sorted ``user * (n_pools + 1) + pool``): every light pair of
    the account (``pair_user``) is one of the pool's (``user_pool``: the key of each pooled pair)."""
    on = np.bincount(np.searchsorted(keys, user_pool), minlength=len(keys))
    return np.asarray(on >= np.bincount(pair_user)[keys // (n_pools + 1)], dtype=bool)


def _own_keys(
    pair_user: npt.NDArray[np.int64],
    pair_creator: npt.NDArray[np.int64],
    pair_pool: npt.NDArray[np.int64],
    keys: npt.NDArray[np.int64],
    n_pools: int,
    member: npt.NDArray[np.bool_],
    *,
    params: PoolParams,
) -> npt.NDArray[np.bool_]:
    """Per (account, pool) key of ``_members`` (sorted ``user * (n_pools + 1) + pool``; ``member``: the
    members found without this): the pool's own accounts (every light post of the account is one of the
    pool's posts, as ``_sub_audience._own`` finds them for one pool) in a pool that has more of them,
    members left out, than its creators' fans explain.

    A seller's accounts go where its orders are and nowhere else in the window; an audience's fans also
    engage its creators' posts that no order made. Among the accounts whose light posts all lie on the
    pool's creator units, one with ``m`` of them is the pool's own with chance ``q ** m``, ``q`` the share
    of the other accounts' engagement of those units that is on the pool's posts; the pool's own accounts
    count only where they reach ``own_min_lift`` times that and beyond chance (Poisson tail at
    ``max_p_value``, Bonferroni over the pools)."""
    from scipy.special import pdtrc  # lazy: scipy.special costs import time

    n_users, width = int(pair_user.max()) + 1, int(pair_creator.max()) + 1
    n_light = np.bincount(pair_user, minlength=n_users).astype(np.float64)
    on = pair_pool >= 0
    by_pool = sparse.csr_matrix((np.ones(int(on.sum())), (pair_user[on], pair_pool[on])), (n_users, n_pools))
    by_unit = sparse.csr_matrix((np.ones(len(pair_user)), (pair_user, pair_creator)), (n_users, width))
    pool_units = sparse.csr_matrix(
        (np.ones(int(on.sum())), (pair_pool[on], pair_creator[on])), (n_pools, width)
    )
    pool_units.sum_duplicates()
    pool_units.data[:] = 1.0  # per pool: its creator units
    on_units = (by_unit @ pool_units.T).tocoo()  # per (account, pool): its light pairs on the pool's units
    user, pool, n_units = on_units.row, on_units.col, on_units.data
    n_pooled = np.asarray(by_pool[user, pool]).ravel()
    own = n_pooled >= n_light[user]
    q = np.bincount(pool[~own], weights=n_pooled[~own], minlength=n_pools) / np.maximum(
        np.bincount(pool[~own], weights=n_units[~own], minlength=n_pools), 1.0
    )
    only_units = n_units >= n_light[user]
    expected = np.bincount(
        pool[only_units], weights=q[pool[only_units]] ** n_light[user[only_units]], minlength=n_pools
    )
    # a bot pool's members are its own accounts too; the organic crowd of its posts is not in excess
    members = np.isin(user * (n_pools + 1) + pool, keys[member])
    observed = np.bincount(pool[own & ~members], minlength=n_pools)
    p_value = pdtrc(observed - 1, np.maximum(expected, 1e-12))
    excess = (observed >= params.own_min_lift * expected) & (p_value <= params.max_p_value / max(n_pools, 1))
    own_key = np.sort(user[own & excess[pool]] * (n_pools + 1) + pool[own & excess[pool]])
    return np.isin(keys, own_key, assume_unique=False)


def _significant(
    k: npt.NDArray[np.int64],
    degree: npt.NDArray[np.int64],
    pool: npt.NDArray[np.int64],
    share: npt.NDArray[np.float64],
    by_degree: npt.NDArray[np.float64],
    *,
    params: PoolParams,
) -> npt.NDArray[np.bool_]:
    """Per (account, pool) row: chance explains at most ``max_fdr`` of the accounts like it or more.

    ``share[pool, home]`` is the chance of a home account's creator landing in
    the pool and ``by_degree[home, d]`` the home's accounts with d creators.
    """
    n_pools = len(share)
    width = params.max_posts + 1
    d = np.arange(width)[:, None]
    j = np.arange(width)[None, :]
    choose = np.array([[math.comb(a, b) for b in range(width)] for a in range(width)], dtype=np.float64)
    p = share[:, :, None, None]
    pmf = choose * p**j * (1.0 - p) ** np.maximum(d - j, 0) * (j <= d)
    # expected accounts per (pool, degree, creators in pool), every home in one stratum
    expected = np.einsum("hd,phdj->pdj", by_degree, pmf)
    cell = (pool * width + degree) * width + k
    observed = np.bincount(cell, minlength=n_pools * width * width).reshape(expected.shape)
    # tails over k' >= k, from the largest k down
    observed_tail = np.cumsum(observed[..., ::-1], axis=-1)[..., ::-1]
    expected_tail = np.cumsum(expected[..., ::-1], axis=-1)[..., ::-1]
    fdr = expected_tail / np.maximum(observed_tail, 1)
    ok_cell = (fdr <= params.max_fdr) & (j >= params.min_creators) & (d >= params.min_posts)
    # step-up: once some k* passes, every k above it does too
    ok_cell = np.maximum.accumulate(ok_cell, axis=-1)
    return np.asarray(ok_cell.reshape(-1)[cell], dtype=bool)


def _linked_posts(
    overlap: _Overlap,
    unit: npt.NDArray[np.int64],
    community: npt.NDArray[np.int64],
    *,
    params: PoolParams,
    given: _Chance | None = None,
) -> pd.DataFrame:
    """Pairs of posts of different units that share far more light accounts than the block model
    (the whole platform's masses and Bonferroni count when ``given``)."""
    from scipy.special import pdtrc  # lazy: scipy.special costs import time

    shared, post_degree = overlap.shared, overlap.post_degree
    # only pairs of different units sharing enough accounts can be links: chance is counted for those
    candidate = np.flatnonzero(
        (unit[shared.row] != unit[shared.col]) & (shared.data >= params.min_shared_accounts)
    )
    a, b, n_shared = shared.row[candidate], shared.col[candidate], shared.data[candidate]
    if given is None:
        limits = _tier_limits(post_degree, params=params)
        need = params.popularity_ratio * np.maximum(post_degree[a], post_degree[b])
        tier = np.minimum(np.searchsorted(limits, need), len(limits) - 1)
        # only the tiers these pairs need, and every post's
        masses = Masses.of(
            overlap.matrix, community, post_degree, limits[np.unique(np.r_[tier, len(limits) - 1])]
        )
        tests = overlap.tests
    else:
        masses, tests = given.masses, given.tests
    tier = masses.tier_of(np.maximum(post_degree[a], post_degree[b]), params=params)
    expected = _block_expected(masses.pair_mass[tier], masses.mass[tier], community, post_degree, a, b)
    p_value = pdtrc(n_shared - 1, np.maximum(expected, 1e-12))
    lift = n_shared / np.maximum(expected, 1e-9)
    effect = _lift_beyond_overlap(n_shared, expected, post_degree[a], post_degree[b])
    keep = effect >= params.min_lift
    keep &= p_value <= params.max_p_value / max(tests, 1.0)
    return pd.DataFrame(
        {
            "a": a[keep],
            "b": b[keep],
            "shared": n_shared[keep],
            "lift": lift[keep],
            "effect": effect[keep],
            # the fewer of its two posts' crossing light engagers outside the overlap, and the smaller share
            "outside": np.minimum(post_degree[a] - n_shared, post_degree[b] - n_shared)[keep],
            "outside_share": np.minimum(1.0 - n_shared / post_degree[a], 1.0 - n_shared / post_degree[b])[
                keep
            ],
            "p_value": p_value[keep],
        }
    )


def _lift_beyond_overlap(
    shared: npt.NDArray[np.float64],
    expected: npt.NDArray[np.float64],
    degree_a: npt.NDArray[np.float64],
    degree_b: npt.NDArray[np.float64],
) -> npt.NDArray[np.float64]:
    """Per post pair: its shared accounts over the chance its posts' other light engagers give.

    The block model takes each post's light engagers as given, and a pool's
    accounts are most of the engagers of the posts it serves: counted in the
    degrees, the pool makes its own overlap look likely, the more so the larger
    its share of the window (a small window). The effect size counts chance
    from the engagers outside the overlap; an honest pair, whose overlap is a
    small part of either post, keeps about its lift.
    """
    outside_a = np.maximum(degree_a - shared, 1.0) / np.maximum(degree_a, 1.0)
    outside_b = np.maximum(degree_b - shared, 1.0) / np.maximum(degree_b, 1.0)
    return np.asarray(shared / np.maximum(expected * outside_a * outside_b, 1e-9), dtype=np.float64)


def _block_expected(
    pair_mass: npt.NDArray[np.float64],
    mass: npt.NDArray[np.float64],
    community: npt.NDArray[np.int64],
    post_degree: npt.NDArray[np.float64],
    a: npt.NDArray[np.int64],
    b: npt.NDArray[np.int64],
) -> npt.NDArray[np.float64]:
    """Shared accounts of posts ``a`` and ``b`` that chance predicts: a degree-corrected block model
    (``pair_mass`` [pairs, C, D] and ``mass`` [pairs, C]: each pair's tier of ``Masses``).

    An account's ``d_C`` light posts in community ``C`` land on C's posts in
    proportion to their degrees: ``pair_mass[C, D]`` ordered post pairs between
    communities C and D (``_block_mass``) shared out by
    ``deg(a) / mass(C) * deg(b) / mass(D)``. With one community this is the
    configuration model.
    """
    ca, cb = community[a], community[b]
    pairs = np.arange(len(a))
    mass = np.maximum(mass, 1.0)
    return np.asarray(
        pair_mass[pairs, ca, cb] * (post_degree[a] / mass[pairs, ca]) * (post_degree[b] / mass[pairs, cb])
    )


def _pools(
    links: pd.DataFrame, n_posts: int, *, resolution: float, seed: int
) -> tuple[int, npt.NDArray[np.int64]]:
    """Communities of linked posts; per post its pool number, -1 when unlinked.

    One seller's orders link every pair of its posts; a farm's camouflage on
    honest posts and shared accounts between sellers add thinner links between
    such cliques. Louvain communities of the link graph, weighted by the shared
    accounts beyond chance, keep each seller's posts together without chaining
    them into one pool, whose wide share of engagement would hide its members.
    Below ``resolution`` 1 a seller's clique, whose link weights vary only by
    chance, is never cut in two (at 1 modularity gains almost nothing by keeping
    it whole); at 1, two sellers joined by one post they both served separate.
    """
    import networkx as nx  # lazy: networkx costs import time

    shared = links["shared"].to_numpy()
    beyond_chance = shared - shared / links["lift"].to_numpy()
    graph = nx.Graph()
    ends = zip(links["a"].to_numpy().tolist(), links["b"].to_numpy().tolist(), strict=True)
    graph.add_weighted_edges_from((a, b, w) for (a, b), w in zip(ends, beyond_chance.tolist(), strict=True))
    communities = nx.community.louvain_communities(graph, weight="weight", resolution=resolution, seed=seed)
    out = np.full(n_posts, -1, dtype=np.int64)
    for number, members in enumerate(sorted(communities, key=min)):
        out[np.fromiter(members, dtype=np.int64)] = number
    return len(communities), out
