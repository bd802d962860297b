"""Chance of the pool test: a block model of a platform's light accounts over its audience communities."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import sparse

from detectors.audiences import Audiences, IntArray, light_pairs, post_codes
from detectors.pools._params import PoolParams
from features.arrays import codes, distinct, distinct_counts, sorted_inverse

if TYPE_CHECKING:
    from detectors.pools._studio import StudioSplit


@dataclass(frozen=True)
class _Chance:
    """What the test measures chance against under one partition of creator units into communities."""

    masses: Masses  # the block model's masses, per popularity tier (``Masses``)
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
    # with the communities found without the orders (``Audiences.for_search``); None: the same as these
    orderless: _Chance | None = None
    # with ``studio_served_units``: the studio posts the platform's search pools serve, split by creator,
    # and the chance of the search again with them (``detectors.pools._detector.pool_chance``)
    studio: StudioSplit | None = None

    def light_pairs(
        self, user_ids: pd.Series, users: IntArray, posts: IntArray, n_posts: int, *, params: PoolParams
    ) -> tuple[IntArray, IntArray, IntArray]:
        """A shard's distinct (account, post) pairs of the platform's light accounts, and per account
        code (of ``user_ids``) its creator units on the platform."""
        pair_user, pair_post = light_pairs(users, posts, n_posts, 1, np.iinfo(np.int64).max)
        found = self.accounts.reindex(account_names(user_ids).astype("str"))
        degree = found["posts"].fillna(0).to_numpy(np.int64)
        light = (degree[pair_user] >= params.min_posts) & (degree[pair_user] <= params.max_posts)
        return pair_user[light], pair_post[light], found["units"].fillna(0).to_numpy(np.int64)


def account_names(user_ids: pd.Series) -> pd.Index:
    """Per account code of ``user_ids`` (``features.arrays.codes``): its user_id."""
    if isinstance(user_ids.dtype, pd.CategoricalDtype):
        return pd.Index(user_ids.cat.categories)
    return pd.Index(pd.factorize(user_ids)[1])


def _pool_audiences(audiences: Audiences, *, params: PoolParams) -> Audiences:
    """The audiences the pool test counts chance within (``Audiences.for_pool``), with
    ``pool_communities_within_regions`` each community cut at its regions' borders (pieces of
    ``pool_region_min_units`` units or more)."""
    pooled = audiences.for_pool()
    if not params.pool_communities_within_regions:
        return pooled
    return pooled.within_regions(params.pool_region_min_units)


def _platform_chance(
    engagements: pd.DataFrame, *, params: PoolParams, audiences: Audiences
) -> PoolChance | None:
    """The chance model of one platform's window (``PoolChance``) without its studio split; None when
    it holds too few light pairs."""
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
    pooled = _pool_audiences(audiences, params=params)
    unit = pooled.units(post_ids)
    unit_community = pooled.communities(np.arange(int(unit.max()) + 1))
    orderless = pooled.for_search().communities(np.arange(len(unit_community)))
    region = pooled.regions(np.arange(len(unit_community)))
    return PoolChance(
        audiences,
        _chance(pair_user, pair_post, unit, unit_community, params=params),
        _chance(pair_user, pair_post, unit, np.zeros_like(unit_community), params=params.alone()),
        _chance(pair_user, pair_post, unit, region, params=params.alone()) if region.any() else None,
        _accounts(engagements["user_id"], users[ok], posts[ok], pair_user, unit[pair_post], params=params),
        None
        if np.array_equal(orderless, unit_community)
        else _chance(pair_user, pair_post, unit, orderless, params=params),
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
    names = account_names(user_ids)
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
    limits = _tier_limits(post_degree, params=params)
    masses = Masses.of(matrix, unit_community[unit], post_degree, limits)
    width = int(unit.max()) + 1
    user_creator = distinct(pair_user * width + unit[pair_post])
    return _Chance(
        masses,
        _cross_creator_pairs(unit[post_degree > 0]),
        _Audiences.build(user_creator, unit_community, width, params=params),
    )


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


def _block_mass(
    matrix: sparse.csr_matrix,
    community: npt.NDArray[np.int64],
    post_degree: npt.NDArray[np.float64],
    *,
    limit: float = np.inf,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """The block model's masses: ordered light post pairs of one account between communities C and D
    (``sum_u d_uC d_uD``, ``d_uC (d_uC - 1)`` within C), and each community's light pairs, of the
    posts with at most ``limit`` crossing light engagers."""
    n_communities = int(community.max()) + 1
    counted = (post_degree <= limit).astype(np.float64)
    indicator = sparse.csr_matrix(
        (counted, (np.arange(len(community)), community)), shape=(len(community), n_communities)
    )
    per_account = matrix @ indicator
    pair_mass = np.asarray((per_account.T @ per_account).todense(), dtype=np.float64)
    weights = post_degree * counted
    mass = np.asarray(np.bincount(community, weights=weights, minlength=n_communities), dtype=np.float64)
    pair_mass[np.diag_indices(n_communities)] -= mass
    return pair_mass, mass


def _tier_limits(post_degree: npt.NDArray[np.float64], *, params: PoolParams) -> npt.NDArray[np.float64]:
    """Every popularity tier a link can need (``Masses``): powers of two from the least a link's posts
    reach (``min_shared_accounts`` engagers, ``popularity_ratio`` times) to the most popular post,
    and the last tier, every post (the only one when ``popularity_ratio`` is 0)."""
    top = float(post_degree.max(initial=0.0))
    if params.popularity_ratio <= 0 or top <= 0:
        return np.array([np.inf])
    low = math.ceil(math.log2(params.popularity_ratio * params.min_shared_accounts))
    high = math.ceil(math.log2(top))
    return np.r_[2.0 ** np.arange(low, high), np.inf]


@dataclass(frozen=True)
class Masses:
    """The block model's masses (``_block_mass``) per popularity tier: tier ``t`` counts only the posts
    with at most ``limits[t]`` crossing light engagers (the last tier: every post).

    A post pair's chance is counted within the tier of ``popularity_ratio`` times its more popular
    post (``tier_of``). Where the community's posts spread accounts as the block model says, every tier
    gives the same rate (the masses of a subset of posts keep ``pair_mass / mass**2``); where a few
    posts far more popular than the pair hold a dense block of their own (a farm's accounts, all on
    the same few posts), they are left out of its chance instead of diluting its posts' share.
    """

    limits: npt.NDArray[np.float64]  # [T], ascending, the last inf
    pair_mass: npt.NDArray[np.float64]  # [T, C, D]
    mass: npt.NDArray[np.float64]  # [T, C]

    @classmethod
    def of(
        cls,
        matrix: sparse.csr_matrix,
        community: npt.NDArray[np.int64],
        post_degree: npt.NDArray[np.float64],
        limits: npt.NDArray[np.float64],
    ) -> Masses:
        """The masses of the accounts x posts ``matrix`` in each tier of ``limits``."""
        tiers = [_block_mass(matrix, community, post_degree, limit=limit) for limit in limits]
        return cls(limits, np.stack([t[0] for t in tiers]), np.stack([t[1] for t in tiers]))

    def tier_of(self, degree: npt.NDArray[np.float64], *, params: PoolParams) -> npt.NDArray[np.int64]:
        """Per post pair of larger degree ``degree``: its tier (holding ``popularity_ratio`` times it)."""
        if params.popularity_ratio <= 0:
            return np.full(len(degree), len(self.limits) - 1, dtype=np.int64)
        need = params.popularity_ratio * np.asarray(degree, dtype=np.float64)
        return np.minimum(np.searchsorted(self.limits, need), len(self.limits) - 1).astype(np.int64)


def _cross_creator_pairs(unit: npt.NDArray[np.int64]) -> float:
    """Pairs of posts of different units among posts with these units."""
    n = float(len(unit))
    same = np.bincount(unit).astype(np.float64) if len(unit) else np.zeros(0)
    return (n * (n - 1) - float((same * (same - 1)).sum())) / 2


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
        degree = np.bincount(user)
        width_d = params.max_posts + 1
        if params.pool_tied_home == "shared":
            by_degree, spread = _shared_homes(user, community, degree, n, width_d, params=params)
        else:
            home = _homes(user_creator, unit_community, width, largest=params.pool_tied_home == "largest")
            has = degree > 0
            # counts by a flat bincount: the same sums as adding ones at each (row, column), faster
            cell = home[has] * width_d + np.minimum(degree[has], params.max_posts)
            by_degree = np.bincount(cell, minlength=n * width_d).reshape(n, width_d).astype(np.float64)
            spread = np.bincount(home[user] * n + community, minlength=n * n).reshape(n, n).astype(np.float64)
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


def _shared_homes(
    user: npt.NDArray[np.int64],
    community: npt.NDArray[np.int64],
    degree: npt.NDArray[np.int64],
    n: int,
    width_d: int,
    *,
    params: PoolParams,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """``_Audiences``' ``by_degree`` and (unnormalised) ``spread`` with each account's home shared equally
    among the communities tied for most of its creators: no community's number decides where a tie goes."""
    n_users = len(degree)
    # per (account, community): its (account, creator) pairs there
    held = sparse.csr_matrix((np.ones(len(user)), (user, community)), shape=(n_users, n)).tocoo()
    held.sum_duplicates()
    most = np.zeros(n_users)
    np.maximum.at(most, held.row, held.data)
    tied = held.data >= most[held.row]
    rows, cols = held.row[tied], held.col[tied]
    weight = 1.0 / np.bincount(rows, minlength=n_users)[rows]
    homes = sparse.csr_matrix((weight, (rows, cols)), shape=(n_users, n))
    capped = np.minimum(degree, params.max_posts)
    by_degree = np.asarray(
        (
            homes.T
            @ sparse.csr_matrix((np.ones(n_users), (np.arange(n_users), capped)), shape=(n_users, width_d))
        ).todense(),
        dtype=np.float64,
    )
    spread = np.asarray((homes.T @ held.tocsr()).todense(), dtype=np.float64)
    return by_degree, spread


def _homes(
    user_creator: npt.NDArray[np.int64],
    unit_community: npt.NDArray[np.int64],
    width: int,
    *,
    largest: bool = False,
) -> npt.NDArray[np.int64]:
    """Per account (code of ``user * width + creator`` keys): its home, the community holding most of
    its creators (ties: the lowest-numbered, or with ``largest`` the one of most pairs, then the lowest)."""
    n = int(unit_community.max()) + 1
    user, community = user_creator // width, unit_community[user_creator % width]
    cells, count = distinct_counts(user * n + community)
    # ties under "lowest" go by the community number alone: no key of masses to sort by
    keys = (-np.bincount(community, minlength=n)[cells % n],) if largest else ()
    order = np.lexsort((*keys, -count, cells // n))
    first = np.r_[True, np.diff(cells[order] // n) != 0]
    home = np.zeros(int(user.max(initial=-1)) + 1, dtype=np.int64)
    home[cells[order][first] // n] = cells[order][first] % n
    return home


def _account_posts(
    user: npt.NDArray[np.int64], post: npt.NDArray[np.int64], n_posts: int
) -> sparse.csr_matrix:
    """The light accounts x posts matrix of (account, post) pairs."""
    # pairs by account (the light pairs' order) are ranked by their runs, without a sort
    by_account = bool((user[1:] >= user[:-1]).all())
    accounts, user_rows = sorted_inverse(user) if by_account else np.unique(user, return_inverse=True)
    # no pairs (no account crossed two creator units): an empty matrix, and no link
    return sparse.csr_matrix(
        (np.ones(len(user), dtype=np.float64), (user_rows, post)), shape=(len(accounts), n_posts)
    )
