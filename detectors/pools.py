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

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import sparse

from detectors.audiences import Audiences, IntArray, light_pairs, one_audience, post_codes
from detectors.base import Detection
from features.arrays import codes, distinct, distinct_counts

NAME = "pool"


@dataclass(frozen=True)
class PoolParams:
    """Knobs of the seller-pool detector."""

    # an account with fewer distinct posts in the window (or creators, for membership) says nothing
    min_posts: int = 2
    # an account with more distinct posts is heavy and overlaps everywhere; creator counts cap here too
    max_posts: int = 12
    # two posts link only when they share at least this many light accounts
    min_shared_accounts: int = 5
    # a link's Poisson tail must be at most this, Bonferroni-corrected over cross-creator post pairs
    max_p_value: float = 0.01
    # effect-size floor: a link's shared accounts must reach this many times chance, at any window size;
    # chance is counted from its posts' engagers outside the overlap (see ``_lift_beyond_overlap``)
    min_lift: float = 5.0
    # effect-size floor: a member engaged at least this share of its creators inside the pool (more
    # than two in three: an honest account that happens on two pool creators of three stays out)
    min_member_share: float = 0.67
    # an account joins a pool when chance explains at most this share of the accounts like it
    max_fdr: float = 0.1
    # a member engaged at least this many of the pool's creators
    min_creators: int = 2
    # fewer light pairs, or a pool with fewer accounts, is never reported
    min_accounts: int = 10
    # Louvain resolutions of the link graph, coarse first: the first pool holding an event keeps it
    resolutions: tuple[float, ...] = (0.5, 1.0)
    # seed of the Louvain communities
    louvain_seed: int = 0
    # rounds of taking members' own engagement out of chance before membership is final
    max_member_rounds: int = 10
    # a pool found with the platform as one audience is kept where its community is no audience without
    # its own accounts: there the community's insularity (detectors.audiences) stays under this even
    # ``cover_errors`` binomial errors up. A community a pool made mixes with the platform as chance does (0):
    # books measured up to 0.135 (a drip-fed 2-creator book), honest audiences from 0.20 (docs/detection.md)
    max_uncovered_insularity: float = 0.15
    cover_errors: float = 2.0
    # in that judgment, accounts with one footprint (the same light posts) count once: a seller fills an
    # order by sending many accounts to the same posts, so a book's accounts are one observation of
    # how a community meets the rest, not hundreds (docs/detection.md, "Orders count once")
    cover_footprints_once: bool = True
    # median link effect (lift beyond the overlap) from which a pool's strength rises above 0
    base_lift: float = 5.0
    # tenfold lifts beyond ``base_lift`` at which the strength reaches 1
    full_strength_decades: float = 2.0
    # event score of a pool at strength 0
    min_score: float = 0.6
    # score added at full strength
    strength_score: float = 0.35


def seller_pools(
    engagements: pd.DataFrame,
    *,
    params: PoolParams,
    audiences: Audiences | None = None,
    chance: PoolChance | None = None,
) -> Detection:
    """Events of pool accounts on the posts their pool co-engages.

    Only light accounts (``min_posts`` to ``max_posts`` distinct posts in the window) count: heavy users
    overlap everywhere and a single engagement says nothing. Creators are counted as ``audiences`` counts
    them (a studio's creators are one unit) and chance is counted within and between its audience
    communities (``detectors.audiences``); without ``audiences`` the platform is one audience of its
    creators. Two posts of different units are linked when they share at least ``min_shared_accounts``
    light accounts, at least ``min_lift`` times what the block model of the light accounts of two units or
    more (``_crossing``) predicts (see ``_block_expected``) from the posts' engagers outside the overlap
    (``_lift_beyond_overlap``), and that many is unlikely: Poisson tail at most ``max_p_value``,
    Bonferroni-corrected over every pair of posts of different units (a creator's own fans link only that
    creator's posts, so same-unit pairs never count).

    Linked posts form pools: Louvain communities of the link graph at each of ``resolutions`` (coarse
    first), so that one seller's posts stay together without being chained to another seller's through a
    post both served. An event belongs to the first pool, in that order, that holds its account.

    Whether an account belongs to a pool is decided like a false discovery rate, in units: an account that
    engaged ``d`` units, ``k`` of them (at least ``min_creators``, and at least ``min_member_share`` of
    ``d``) in the pool, is a member when, among the accounts of the pool's audience communities with ``d``
    units and at least ``k`` in the pool, chance (each of an account's units landing in the pool in
    proportion to the pool's share of those communities' honest engagement) explains at most ``max_fdr``
    of them. Honest engagement leaves out the members' pairs, found in rounds that start with every
    candidate left out: a small window's pool is most of its creators' light engagement, and counted as
    chance it explains itself away. An honest light account that happened on two popular pool posts is as
    common as chance says and stays out; the pool's accounts, which keep coming back to unrelated
    creators, are far more common.

    A community gives a pool cover only while it is an audience without the pool's own accounts
    (``_with_uncovered``): a seller's book whose pool made it insular is judged with the platform (on a
    platform of regions that never meet: also each region) as one audience.

    ``chance`` (``pool_chance`` of the whole platform) replaces ``audiences`` and what the test measures
    chance against (the block model's masses, the Bonferroni count, the audiences' spread of accounts)
    when ``engagements`` are one shard of a platform split along its graph (``scaleout``).
    """
    n = len(engagements)
    users = codes(engagements["user_id"])
    posts, post_ids = post_codes(engagements)
    ok = (users >= 0) & (posts >= 0)
    if n == 0 or not ok.any():
        return Detection.empty(NAME, n)
    pair_user, pair_post, user_units = _light_pairs(
        engagements["user_id"], users[ok], posts[ok], len(post_ids), params=params, chance=chance
    )
    audiences = chance.audiences if chance is not None else audiences
    if len(pair_user) < params.min_accounts:
        return Detection.empty(NAME, n)
    audiences = audiences if audiences is not None else one_audience(engagements, studios=None)
    unit = audiences.units(post_ids)
    light = _Light(users, posts, ok, pair_user, pair_post, unit, user_units)
    event_pool, lifts = _found(light, audiences, params=params, chance=chance)
    return _detection(engagements, event_pool, lifts, params=params)


def _found(
    light: _Light, audiences: Audiences, *, params: PoolParams, chance: PoolChance | None
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """Per event its pool (-1: none) and per pool its median lift: found with the audiences'
    communities, then the pools no community covers (``_with_uncovered``)."""
    unit = light.unit
    unit_community = audiences.communities(np.arange(int(unit.max()) + 1))
    given = chance.by_community if chance is not None else None
    event_pool, lifts = _search(light, unit_community, params=params, given=given)
    if audiences.n_communities > 1:
        alone = (chance.one_audience, chance.by_region) if chance is not None else None
        event_pool, lifts = _with_uncovered(light, audiences, event_pool, lifts, params=params, given=alone)
    return event_pool, lifts


def _light_pairs(
    user_ids: pd.Series,
    users: IntArray,
    posts: IntArray,
    n_posts: int,
    *,
    params: PoolParams,
    chance: PoolChance | None,
) -> tuple[IntArray, IntArray, IntArray | None]:
    """The light (account, post) pairs, light as the window (or, with ``chance``, the platform)
    counts an account's posts; with ``chance`` also each account's creator units on the platform."""
    if chance is None:
        pair_user, pair_post = light_pairs(users, posts, n_posts, params.min_posts, params.max_posts)
        return pair_user, pair_post, None
    return chance.light_pairs(user_ids, users, posts, n_posts, params=params)


@dataclass(frozen=True)
class _Chance:
    """What the test measures chance against under one partition of creator units into communities."""

    pair_mass: npt.NDArray[np.float64]  # [C, D]: ordered light post pairs of one account (``_block_mass``)
    mass: npt.NDArray[np.float64]  # per community: its light (account, post) pairs
    tests: float  # post pairs of different units among posts with light engagers (Bonferroni)
    audiences: _Audiences  # how accounts spread their creators over communities (``_members``)


@dataclass(frozen=True)
class PoolChance:
    """A platform's pool-test chance model: its audiences, and chance with and without them.

    Computed once from the whole platform (``pool_chance``) and handed to every shard of a
    platform split along its engagement graph, so that each shard's pools are judged against
    the platform, as one process judges them, not against the shard.
    """

    audiences: Audiences
    by_community: _Chance  # with the audiences' communities
    one_audience: _Chance  # with the platform as one audience (``_with_uncovered``)
    by_region: _Chance | None  # with each region as one audience; None: the platform is one region
    # per account (user_id) of at least ``min_posts`` posts: its distinct posts on the platform ("posts")
    # and, for a light account, its distinct creator units ("units"); an account whose engagement spans
    # shards is light, and counts its creators, as on the whole platform
    accounts: pd.DataFrame

    def light_pairs(
        self, user_ids: pd.Series, users: IntArray, posts: IntArray, n_posts: int, *, params: PoolParams
    ) -> tuple[IntArray, IntArray, IntArray]:
        """A shard's distinct (account, post) pairs of the platform's light accounts, and per account
        code (of ``user_ids``) its creator units on the platform."""
        pair_user, pair_post = light_pairs(users, posts, n_posts, 1, np.iinfo(np.int64).max)
        names = user_ids.cat.categories if isinstance(user_ids.dtype, pd.CategoricalDtype) else None
        names = names if names is not None else pd.Index(pd.factorize(user_ids)[1])
        found = self.accounts.reindex(names.astype("str"))
        degree = found["posts"].fillna(0).to_numpy(np.int64)
        light = (degree[pair_user] >= params.min_posts) & (degree[pair_user] <= params.max_posts)
        return pair_user[light], pair_post[light], found["units"].fillna(0).to_numpy(np.int64)


def pool_chance(engagements: pd.DataFrame, *, params: PoolParams, audiences: Audiences) -> PoolChance | None:
    """The chance model of one platform's window (``PoolChance``); None when it holds too few light pairs."""
    users = codes(engagements["user_id"])
    posts, post_ids = post_codes(engagements)
    ok = (users >= 0) & (posts >= 0)
    if not ok.any():
        return None
    pair_user, pair_post = light_pairs(
        users[ok], posts[ok], len(post_ids), params.min_posts, params.max_posts
    )
    if len(pair_user) < params.min_accounts:
        return None
    unit = audiences.units(post_ids)
    unit_community = audiences.communities(np.arange(int(unit.max()) + 1))
    region = audiences.regions(np.arange(len(unit_community)))
    return PoolChance(
        audiences,
        _chance(pair_user, pair_post, unit, unit_community, params=params),
        _chance(pair_user, pair_post, unit, np.zeros_like(unit_community), params=params),
        _chance(pair_user, pair_post, unit, region, params=params) if region.any() else None,
        _accounts(engagements["user_id"], users[ok], posts[ok], pair_user, unit[pair_post], params=params),
    )


def _accounts(
    user_ids: pd.Series,
    users: IntArray,
    posts: IntArray,
    pair_user: IntArray,
    pair_unit: IntArray,
    *,
    params: PoolParams,
) -> pd.DataFrame:
    """``PoolChance.accounts``: distinct posts of accounts with ``min_posts`` or more, units of light ones."""
    n_posts = int(posts.max()) + 1
    degree = np.bincount(distinct(users * n_posts + posts) // n_posts)
    width = int(pair_unit.max(initial=0)) + 1
    units = np.bincount(distinct(pair_user * width + pair_unit) // width, minlength=len(degree))
    names = user_ids.cat.categories if isinstance(user_ids.dtype, pd.CategoricalDtype) else None
    names = names if names is not None else pd.Index(pd.factorize(user_ids)[1])
    keep = np.flatnonzero(degree >= params.min_posts)
    return pd.DataFrame(
        {"posts": degree[keep], "units": units[keep]},
        index=pd.Index(names[keep].astype("str"), name="user_id"),
    )


def _chance(
    pair_user: npt.NDArray[np.int64],
    pair_post: npt.NDArray[np.int64],
    unit: npt.NDArray[np.int64],
    unit_community: npt.NDArray[np.int64],
    *,
    params: PoolParams,
) -> _Chance:
    """``_Chance`` of light pairs whose posts have creator ``unit`` and units ``unit_community``: the
    masses of the pairs whose account crossed creator units (``_search``), the spread of them all."""
    crossing = _crossing(pair_user, unit[pair_post])
    matrix = _account_posts(pair_user[crossing], pair_post[crossing], len(unit))
    post_degree = np.asarray(matrix.sum(axis=0)).ravel()
    pair_mass, mass = _block_mass(matrix, unit_community[unit], post_degree)
    width = int(unit.max()) + 1
    user_creator = distinct(pair_user * width + unit[pair_post])
    return _Chance(
        pair_mass,
        mass,
        _cross_creator_pairs(unit[post_degree > 0]),
        _Audiences.build(user_creator, unit_community, width, params=params),
    )


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


def _search(
    light: _Light, unit_community: npt.NDArray[np.int64], *, params: PoolParams, given: _Chance | None = None
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """Per event its pool (-1: none) and per pool its median lift, chance counted by ``unit_community``
    (against ``given``, the whole platform's, when the events are one shard of it)."""
    unit, n_posts = light.unit, len(light.unit)
    event_pool = np.full(len(light.users), -1, dtype=np.int64)
    crossing = _crossing(light.pair_user, unit[light.pair_post], light.user_units)
    links = _linked_posts(
        light.pair_user[crossing],
        light.pair_post[crossing],
        unit,
        unit_community[unit],
        n_posts,
        params=params,
        given=given,
    )
    if links.empty:
        return event_pool, np.zeros(0)
    lifts: list[npt.NDArray[np.float64]] = []
    for resolution in params.resolutions:
        n_pools, post_pool = _pools(links, n_posts, resolution=resolution, seed=params.louvain_seed)
        pair_pool = post_pool[light.pair_post]
        members = _members(
            light.pair_user,
            unit[light.pair_post],
            pair_pool,
            n_pools,
            unit_community,
            params=params,
            given=given.audiences if given is not None else None,
            platform_degree=light.user_units,
        )
        # an event found at a coarser resolution keeps that pool
        pool_of_event = post_pool[np.maximum(light.posts, 0)]
        first = sum(map(len, lifts))
        _assign(event_pool, light.users, pool_of_event, light.ok, members, n_pools, first=first)
        lifts.append(_median_lift(links, post_pool, n_pools))
    return event_pool, np.concatenate(lifts)


def _with_uncovered(
    light: _Light,
    audiences: Audiences,
    event_pool: npt.NDArray[np.int64],
    lifts: npt.NDArray[np.float64],
    *,
    params: PoolParams,
    given: tuple[_Chance, _Chance | None] | None = None,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """``event_pool`` and ``lifts`` plus the pools whose audience community is one only with them.

    Candidates are the pools found with the platform as one audience
    (``_uncovered``). On a platform of regions that never meet
    (``Audiences.regions``: languages, countries; most platforms are one
    region) an event stays a candidate's only when it is uncovered with each
    region as one audience too, its community judged within its region: a
    candidate depends on its null, and an audience's candidate that takes
    nearly all of its co-engagement under one null leaves too little to show
    it an audience. A seller's pool is found and uncovered under either.
    ``given``: the whole platform's chance with one audience and by region
    (``PoolChance``) when the events are one shard of it.
    """
    n_units = int(light.unit.max()) + 1
    region = audiences.regions(np.arange(n_units))
    alone, by_region = given if given is not None else (None, None)
    candidate, candidate_lifts, uncovered = _uncovered(
        light, audiences, np.zeros(n_units, dtype=np.int64), event_pool, params=params, given=alone
    )
    if uncovered.any() and region.max() > 0:
        uncovered &= _uncovered(light, audiences, region, event_pool, params=params, given=by_region)[2]
    out = event_pool.copy()
    out[uncovered] = candidate[uncovered] + len(lifts)
    return out, np.concatenate([lifts, candidate_lifts])


def _uncovered(
    light: _Light,
    audiences: Audiences,
    null: npt.NDArray[np.int64],
    event_pool: npt.NDArray[np.int64],
    *,
    params: PoolParams,
    given: _Chance | None,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    """Per event its candidate pool found with ``null`` (per unit: its block, the platform or its
    regions), per candidate its median lift, and per event: uncovered (its candidate is kept).

    An event of a candidate, in no pool yet, is uncovered when its post's
    community mixes with the platform (with regions: its region) as chance
    says once the candidate's own accounts are left out
    (``Audiences.insularity_without``, at most ``max_uncovered_insularity``
    even ``cover_errors`` errors up): the pool made that community insular and
    its chance gives the pool no cover. A candidate is judged by the community
    that holds most of its events: the few events of an audience's candidate
    on creators of another community stay covered while its own community
    does. An honest audience's co-engagement is spread over many light
    accounts and stays insular without a few of them. With
    ``cover_footprints_once`` the accounts whose light posts repeat an earlier
    account's are left out too (``_repeated``): another seller's order, its
    accounts all on the same posts of clients in several communities, would
    otherwise outweigh the few honest fans an audience keeps once its
    candidate is gone.
    """
    candidate, candidate_lifts = _search(light, null, params=params, given=given)
    fresh = (candidate >= 0) & (event_pool < 0)
    uncovered = np.zeros(len(candidate), dtype=bool)
    if not fresh.any():
        return candidate, candidate_lifts, uncovered
    unit = light.unit[np.maximum(light.posts, 0)]
    community = audiences.communities(unit)
    pair_unit = light.unit[light.pair_post]
    n_users = int(light.users.max()) + 1
    keys = _footprints(light.pair_user, light.pair_post, n_users) if params.cover_footprints_once else None
    for pool in np.unique(candidate[fresh]):
        events = fresh & (candidate == pool)
        left_out = np.zeros(n_users, dtype=bool)
        left_out[light.users[candidate == pool]] = True
        if keys is not None:
            left_out |= _repeated(keys, left_out)
        home = int(np.argmax(np.bincount(community[events])))
        part = audiences.parts(unit[events & (community == home)])
        within = int(np.argmax(np.bincount(part))) if null.any() else None
        insular = audiences.insularity_without(
            light.pair_user, pair_unit, left_out, z=params.cover_errors, part=within
        )
        if insular[home] < params.max_uncovered_insularity:
            uncovered |= events & (insular[community] < params.max_uncovered_insularity)
    return candidate, candidate_lifts, uncovered


def _footprints(
    pair_user: npt.NDArray[np.int64], pair_post: npt.NDArray[np.int64], n_users: int
) -> npt.NDArray[np.uint64]:
    """Per account (row): its footprint, the set of its light posts, as two 64-bit keys (0, 0: none).

    The keys are sums of random 64-bit weights of the posts: two accounts
    share them only when they share the set, or with the chance of two
    accounts drawing the same 128 random bits.
    """
    rng = np.random.default_rng(0)
    n_posts = int(pair_post.max(initial=-1)) + 1
    keys = np.zeros((n_users, 2), dtype=np.uint64)
    for column in range(2):
        weight = rng.integers(0, np.iinfo(np.uint64).max, size=n_posts, dtype=np.uint64, endpoint=True)
        np.add.at(keys[:, column], pair_user, weight[pair_post])
    return keys


def _repeated(keys: npt.NDArray[np.uint64], left_out: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
    """Per account: not left out, and its footprint is an account's of a lower code also not left out.

    A seller fills an order by sending many accounts to the same posts, so its
    accounts share one footprint; honest users' footprints rarely repeat
    exactly. Of each footprint among the accounts kept, one account counts.
    """
    kept = np.flatnonzero(~left_out & (keys != 0).any(axis=1))
    out = np.zeros(len(keys), dtype=bool)
    out[kept] = pd.DataFrame(keys[kept]).duplicated().to_numpy()
    return out


def _crossing(
    pair_user: npt.NDArray[np.int64],
    pair_unit: npt.NDArray[np.int64],
    user_units: npt.NDArray[np.int64] | None = None,
) -> npt.NDArray[np.bool_]:
    """Per light pair: its account engaged at least two creator units (on the whole platform when
    ``user_units``, per account, is given: a shard sees only part of an account's creators).

    Only such an account can share two posts of different units, the pairs the
    link test counts. An account that stays with one unit (a creator's loyal
    fan, or an order's accounts bought for one creator) can never make such an
    overlap; counted in the chance model, its posts would dilute the share of
    every other post and make ordinary overlap between popular posts look
    unlikely, the more so the larger the single-creator part of the window.
    """
    if user_units is not None:
        return user_units[pair_user] >= 2
    width = int(pair_unit.max(initial=0)) + 1
    users, n_units = distinct_counts(distinct(pair_user * width + pair_unit) // width)
    crossing = np.zeros(int(pair_user.max(initial=-1)) + 1, dtype=bool)
    crossing[users[n_units >= 2]] = True
    return crossing[pair_user]


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
    found = ok & (event_pool < 0) & (pool_of_event >= 0)
    found &= np.isin(users * (n_pools + 1) + pool_of_event, members)
    event_pool[found] = pool_of_event[found] + first


def _median_lift(
    links: pd.DataFrame, post_pool: npt.NDArray[np.int64], n_pools: int
) -> npt.NDArray[np.float64]:
    """Per pool: the median effect (lift beyond the overlap, the floor's measure) of the links inside it."""
    a, b = post_pool[links["a"].to_numpy()], post_pool[links["b"].to_numpy()]
    inside = a == b
    median = pd.Series(links["effect"].to_numpy()[inside]).groupby(a[inside]).median()
    return median.reindex(np.arange(n_pools)).fillna(0.0).to_numpy(np.float64)


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
) -> npt.NDArray[np.int64]:
    """Sorted keys ``user * (n_pools + 1) + pool`` of the pools' members (see ``seller_pools``);
    ``given``: the whole platform's spread of accounts over communities, ``platform_degree`` per
    account its creators on the whole platform.

    Accounts are counted in creators, not posts: a fan of one creator who
    bought engagement follows all of that creator's pooled posts, which is
    loyalty, not a pool; a pool's account keeps turning up at unrelated creators.
    """
    width = int(pair_creator.max()) + 1
    user_creator = distinct(pair_user * width + pair_creator)
    degree = np.bincount(user_creator // width)
    if platform_degree is not None:
        degree = np.maximum(degree, platform_degree[: len(degree)])
    in_pool = pair_pool >= 0
    user_pool = pair_user[in_pool] * (n_pools + 1) + pair_pool[in_pool]
    triples = distinct(user_pool * width + pair_creator[in_pool])
    keys, k = distinct_counts(triples // width)
    key_user, key_pool = keys // (n_pools + 1), keys % (n_pools + 1)
    key_degree = np.minimum(degree[key_user], params.max_posts)
    # effect-size floor: most of a member's creators lie in the pool, however large the window
    focused = k >= params.min_member_share * degree[key_user]
    audiences = given or _Audiences.build(user_creator, unit_community, width, params=params)
    triple_key = np.searchsorted(keys, triples // width)
    triple_cell = key_pool[triple_key] * audiences.n + unit_community[triples % width]
    # chance starts without every focused candidate: a pool serving a small window's few creators is
    # most of their light engagement, and counted as chance it would explain itself away
    member = focused & (k >= params.min_creators)
    for _ in range(params.max_member_rounds):
        # chance is the honest share of engagement: members' own pool creators are taken out
        honest = ~member[triple_key]
        share = audiences.share(triple_cell[honest], unit_community[triples[~honest] % width], n_pools)
        found = focused & _significant(k, key_degree, key_pool, share, audiences.by_degree, params=params)
        if np.array_equal(found, member):
            break
        member = found
    return keys[member]


@dataclass(frozen=True)
class _Audiences:
    """How the light accounts of each audience community spread their creators over communities."""

    n: int  # communities
    mass: npt.NDArray[np.float64]  # per community: its (account, creator) pairs
    spread: npt.NDArray[np.float64]  # [home, c]: share of home accounts' creators in community c
    by_degree: npt.NDArray[np.float64]  # [home, d]: home accounts with d creators (capped)

    @classmethod
    def build(
        cls,
        user_creator: npt.NDArray[np.int64],
        unit_community: npt.NDArray[np.int64],
        width: int,
        *,
        params: PoolParams,
    ) -> _Audiences:
        """The audiences of ``user * width + creator`` keys; an account's home holds most of its creators."""
        n = int(unit_community.max()) + 1
        user, community = user_creator // width, unit_community[user_creator % width]
        cells, count = distinct_counts(user * n + community)
        order = np.lexsort((-count, cells // n))
        first = np.r_[True, np.diff(cells[order] // n) != 0]
        home = np.zeros(int(user.max()) + 1, dtype=np.int64)
        home[cells[order][first] // n] = cells[order][first] % n
        degree = np.bincount(user)
        by_degree = np.zeros((n, params.max_posts + 1))
        has = degree > 0
        np.add.at(by_degree, (home[has], np.minimum(degree[has], params.max_posts)), 1.0)
        spread = np.zeros((n, n))
        np.add.at(spread, (home[user], community), 1.0)
        spread /= np.maximum(spread.sum(axis=1, keepdims=True), 1.0)
        return cls(n, np.bincount(community, minlength=n).astype(np.float64), spread, by_degree)

    def share(
        self, pool_cell: npt.NDArray[np.int64], taken: npt.NDArray[np.int64], n_pools: int
    ) -> npt.NDArray[np.float64]:
        """[pool, home]: the chance that a home account's creator is in the pool.

        ``pool_cell`` holds ``pool * n + community`` of the pools' honest pairs,
        ``taken`` the communities of members' pairs, left out of the mass.
        """
        pool_mass = np.bincount(pool_cell, minlength=n_pools * self.n).reshape(n_pools, self.n)
        mass = np.maximum(self.mass - np.bincount(taken, minlength=self.n), 1.0)
        return np.asarray(np.clip(pool_mass / mass, 0.0, 1.0) @ self.spread.T, dtype=np.float64)


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
    # observed accounts per (pool, degree, posts in pool), and what chance predicts
    cell = (pool * width + degree) * width + k
    observed = np.bincount(cell, minlength=n_pools * width * width).reshape(n_pools, width, width)
    d = np.arange(width)[:, None]
    j = np.arange(width)[None, :]
    choose = np.array([[math.comb(a, b) for b in range(width)] for a in range(width)], dtype=np.float64)
    p = share[:, :, None, None]
    pmf = choose * p**j * (1.0 - p) ** np.maximum(d - j, 0) * (j <= d)
    expected = np.einsum("hd,phdj->pdj", by_degree, pmf)
    # tails over k' >= k, from the largest k down
    observed_tail = np.cumsum(observed[:, :, ::-1], axis=2)[:, :, ::-1]
    expected_tail = np.cumsum(expected[:, :, ::-1], axis=2)[:, :, ::-1]
    fdr = expected_tail / np.maximum(observed_tail, 1)
    ok_cell = (fdr <= params.max_fdr) & (j >= params.min_creators)[None] & (d >= params.min_posts)[None]
    # step-up: once some k* passes, every k above it does too
    ok_cell = np.maximum.accumulate(ok_cell, axis=2)
    return np.asarray(ok_cell.reshape(-1)[cell], dtype=bool)


def _linked_posts(
    user: npt.NDArray[np.int64],
    post: npt.NDArray[np.int64],
    unit: npt.NDArray[np.int64],
    community: npt.NDArray[np.int64],
    n_posts: int,
    *,
    params: PoolParams,
    given: _Chance | None = None,
) -> pd.DataFrame:
    """Pairs of posts of different units that share far more light accounts than the block model
    (the whole platform's masses and Bonferroni count when ``given``)."""
    from scipy.special import pdtrc  # lazy: scipy.special costs import time

    matrix = _account_posts(user, post, n_posts)
    shared = sparse.triu(matrix.T @ matrix, k=1).tocoo()
    post_degree = np.asarray(matrix.sum(axis=0)).ravel()
    if given is None:
        pair_mass, mass = _block_mass(matrix, community, post_degree)
        tests = _cross_creator_pairs(unit[post_degree > 0])
    else:
        pair_mass, mass, tests = given.pair_mass, given.mass, given.tests
    expected = _block_expected(pair_mass, mass, community, post_degree, shared.row, shared.col)
    candidate = (unit[shared.row] != unit[shared.col]) & (shared.data >= params.min_shared_accounts)
    p_value = np.ones(len(shared.data))
    p_value[candidate] = pdtrc(shared.data[candidate] - 1, np.maximum(expected[candidate], 1e-12))
    lift = shared.data / np.maximum(expected, 1e-9)
    effect = _lift_beyond_overlap(shared.data, expected, post_degree[shared.row], post_degree[shared.col])
    keep = candidate & (p_value <= params.max_p_value / max(tests, 1.0)) & (effect >= params.min_lift)
    return pd.DataFrame(
        {
            "a": shared.row[keep],
            "b": shared.col[keep],
            "shared": shared.data[keep],
            "lift": lift[keep],
            "effect": effect[keep],
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


def _account_posts(
    user: npt.NDArray[np.int64], post: npt.NDArray[np.int64], n_posts: int
) -> sparse.csr_matrix:
    """The light accounts x posts matrix of (account, post) pairs."""
    accounts, user_rows = np.unique(user, return_inverse=True)
    # no pairs (no account crossed two creator units): an empty matrix, and no link
    return sparse.csr_matrix(
        (np.ones(len(user), dtype=np.float64), (user_rows, post)), shape=(len(accounts), n_posts)
    )


def _block_mass(
    matrix: sparse.csr_matrix, community: npt.NDArray[np.int64], post_degree: npt.NDArray[np.float64]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """The block model's masses: ordered light post pairs of one account between communities C and D
    (``sum_u d_uC d_uD``, ``d_uC (d_uC - 1)`` within C), and each community's light pairs."""
    n_communities = int(community.max()) + 1
    indicator = sparse.csr_matrix(
        (np.ones(len(community)), (np.arange(len(community)), community)),
        shape=(len(community), n_communities),
    )
    per_account = matrix @ indicator
    pair_mass = np.asarray((per_account.T @ per_account).todense(), dtype=np.float64)
    mass = np.asarray(np.bincount(community, weights=post_degree, minlength=n_communities), dtype=np.float64)
    pair_mass[np.diag_indices(n_communities)] -= mass
    return pair_mass, mass


def _block_expected(
    pair_mass: npt.NDArray[np.float64],
    mass: npt.NDArray[np.float64],
    community: npt.NDArray[np.int64],
    post_degree: npt.NDArray[np.float64],
    a: npt.NDArray[np.int64],
    b: npt.NDArray[np.int64],
) -> npt.NDArray[np.float64]:
    """Shared accounts of posts ``a`` and ``b`` that chance predicts: a degree-corrected block model.

    An account's ``d_C`` light posts in community ``C`` land on C's posts in
    proportion to their degrees: ``pair_mass[C, D]`` ordered post pairs between
    communities C and D (``_block_mass``) shared out by
    ``deg(a) / mass(C) * deg(b) / mass(D)``. With one community this is the
    configuration model.
    """
    ca, cb = community[a], community[b]
    mass = np.maximum(mass, 1.0)
    return np.asarray(pair_mass[ca, cb] * (post_degree[a] / mass[ca]) * (post_degree[b] / mass[cb]))


def _cross_creator_pairs(unit: npt.NDArray[np.int64]) -> float:
    """Pairs of posts of different units among posts with these units."""
    n = float(len(unit))
    same = np.bincount(unit).astype(np.float64) if len(unit) else np.zeros(0)
    return (n * (n - 1) - float((same * (same - 1)).sum())) / 2


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


def _detection(
    engagements: pd.DataFrame,
    event_pool: npt.NDArray[np.int64],
    median_lift: npt.NDArray[np.float64],
    *,
    params: PoolParams,
) -> Detection:
    """The pools of at least ``min_accounts`` accounts, scored by their links' median lift."""
    n = len(engagements)
    hit = event_pool >= 0
    frame = pd.DataFrame(
        {
            "pool": event_pool[hit],
            "user": codes(engagements["user_id"])[hit],
            "post": codes(engagements["post_id"])[hit],
            "creator": codes(engagements["creator_id"])[hit] if "creator_id" in engagements else 0,
        }
    )
    per_pool = frame.groupby("pool").agg(
        n_accounts=("user", "nunique"),
        n_posts=("post", "nunique"),
        n_creators=("creator", "nunique"),
        n_events=("user", "size"),
    )
    per_pool["median_lift"] = median_lift[per_pool.index.to_numpy()]
    kept = per_pool[per_pool["n_accounts"] >= params.min_accounts]
    if kept.empty:
        return Detection.empty(NAME, n)
    group_of_pool = pd.Series(np.arange(len(kept), dtype=np.int64), index=kept.index)
    event_group = np.full(n, -1, dtype=np.int64)
    event_group[hit] = group_of_pool.reindex(event_pool[hit]).fillna(-1).to_numpy(np.int64)
    decades = np.log10(kept["median_lift"].to_numpy() / params.base_lift)
    strength = np.clip(decades / params.full_strength_decades, 0.0, 1.0)
    score_of_group = params.min_score + params.strength_score * strength
    score = np.where(event_group >= 0, score_of_group[np.maximum(event_group, 0)], 0.0)
    groups = kept.reset_index(drop=True)
    groups.insert(0, "group_id", np.arange(len(kept), dtype=np.int64))
    groups["evidence"] = [
        f"pool: {a} light accounts kept co-engaging {p} posts of {c} unrelated creators, "
        f"post pairs sharing {x:.0f}x the accounts chance predicts from their other engagers"
        for a, p, c, x in zip(
            groups["n_accounts"], groups["n_posts"], groups["n_creators"], groups["median_lift"], strict=True
        )
    ]
    return Detection(NAME, score.astype(np.float64), event_group, groups)
