"""``seller_pools``: the pool test on one platform's window, from its light pairs to its detection."""

from __future__ import annotations

import dataclasses
from functools import partial

import numpy as np
import numpy.typing as npt
import pandas as pd

from detectors.audiences import Audiences, IntArray, LightPairs, light_pairs, one_audience, post_codes
from detectors.base import Detection
from detectors.pools._book import _with_book
from detectors.pools._chance import PoolChance, _platform_chance, _pool_audiences, account_names
from detectors.pools._cover import _covered_within, _with_uncovered
from detectors.pools._crowd import _crowd_checked
from detectors.pools._fans import _creator_accounts, _without_fans
from detectors.pools._floor import _post_owners, _standing
from detectors.pools._one_audience import _covered_in_one_audience
from detectors.pools._params import NAME, PoolParams
from detectors.pools._search import _Light, _search
from detectors.pools._studio import (
    StudioSplit,
    _given_split,
    _post_creators,
    _studio_split,
    _with_studio_orders,
)
from detectors.pools._sub_audience import _covered_as_sub_audience
from features.arrays import codes


def seller_pools(
    engagements: pd.DataFrame,
    *,
    params: PoolParams,
    audiences: Audiences | None = None,
    chance: PoolChance | None = None,
    pairs: LightPairs | None = None,
) -> Detection:
    """Events of pool accounts on the posts their pool co-engages.

    Only light accounts (``min_posts`` to ``max_posts`` distinct posts in the window) count: heavy users
    overlap everywhere and a single engagement says nothing. Creators are counted as ``audiences`` counts
    them (a studio's creators are one unit) and chance is counted within and between its audience
    communities (``detectors.audiences``, the pool test's: ``Audiences.for_pool``); without ``audiences``
    the platform is one audience of its creators. Two posts of different units are linked when they share
    at least ``min_shared_accounts`` light accounts, at least ``min_lift`` times what the block model of
    the light accounts of two units or more (``_crossing``) predicts (see ``_block_expected``) from the
    posts' engagers outside the overlap (``_lift_beyond_overlap``), and that many is unlikely: Poisson
    tail at most ``max_p_value``, Bonferroni-corrected over every pair of posts of different units (a
    creator's own fans link only that creator's posts, so same-unit pairs never count).

    Linked posts form pools: Louvain communities of the link graph at each of ``resolutions`` (coarse
    first), so that one seller's posts stay together without being chained to another seller's through a
    post both served. An event belongs to the first pool, in that order, that holds its account (and that
    the search in communities found without the orders finds too: ``_found``).

    Whether an account belongs to a pool is decided like a false discovery rate, in units: an account that
    engaged ``d`` units, ``k`` of them (at least ``min_creators``, and at least ``min_member_share`` of
    ``d``) in the pool, is a member when, among the accounts of the pool's audience communities with ``d``
    units and at least ``k`` in the pool, chance (each of an account's units landing in the pool in
    proportion to the pool's share of those communities' honest engagement) explains at most ``max_fdr``
    of them. Honest engagement leaves out the members' pairs, found in rounds that start with every
    candidate left out: a small window's pool is most of its creators' light engagement, and counted as
    chance it explains itself away. Honest light accounts on two popular pool posts are as common as
    chance says and stay out; a pool's accounts, back again and again on unrelated creators, are not.

    A community gives a pool cover only while it is an audience without the pool's own accounts
    (``_with_uncovered``): a seller's book whose pool made it insular is judged with the platform (on a
    platform of regions that never meet: also each region) as one audience. A one-community pool whose
    links reached ``min_lift`` only through their overlap (a satellite's fans) is covered where its
    community is an audience without it (``_covered_within``).

    ``chance`` (``pool_chance`` of the whole platform) replaces ``audiences`` and what chance is measured
    against (block model masses, Bonferroni count, audiences) on a shard of a split platform (``scaleout``);
    ``pairs``: the window's light pairs, found already (``WindowContext.light_pairs``)."""
    n, users = len(engagements), codes(engagements["user_id"])
    posts, post_ids = post_codes(engagements)
    ok = (users >= 0) & (posts >= 0)
    if n == 0 or not ok.any():
        return Detection.empty(NAME, n)
    pair_user, pair_post, user_units = _light_pairs(
        engagements["user_id"], users[ok], posts[ok], len(post_ids), params=params, chance=chance, pairs=pairs
    )
    if len(pair_user) < params.min_accounts:
        return Detection.empty(NAME, n)
    audiences = chance.audiences if chance is not None else audiences
    audiences = _pool_audiences(audiences or one_audience(engagements, studios=None), params=params)
    light = _Light(users, posts, ok, pair_user, pair_post, audiences.units(post_ids), user_units)
    event_pool, lifts = _found_all(light, audiences, engagements, post_ids, params=params, chance=chance)
    return _detection(engagements, event_pool, lifts, light.unit[np.maximum(posts, 0)], params=params)


def pool_chance(engagements: pd.DataFrame, *, params: PoolParams, audiences: Audiences) -> PoolChance | None:
    """The chance model of one platform's window (``PoolChance``), with ``studio_served_units`` its
    studio split (``PoolChance.studio``); None when it holds too few light pairs."""
    model = _platform_chance(engagements, params=params, audiences=audiences)
    if model is None or not params.studio_served_units:
        return model
    studio = _platform_studio(engagements, _pool_audiences(audiences, params=params), params=params)
    return dataclasses.replace(model, studio=studio)


def _platform_studio(
    engagements: pd.DataFrame, audiences: Audiences, *, params: PoolParams
) -> StudioSplit | None:
    """The studio split of a whole platform's window (``StudioSplit``), found as one process finds it
    (``_found_all``); None: no search pool holds a studio's post, or the split keeps no account."""
    users = codes(engagements["user_id"])
    posts, post_ids = post_codes(engagements)
    ok = (users >= 0) & (posts >= 0)
    pair_user, pair_post = light_pairs(
        users[ok], posts[ok], len(post_ids), params.min_posts, params.max_posts
    )
    light = _Light(users, posts, ok, pair_user, pair_post, audiences.units(post_ids))
    pooled = np.zeros(len(post_ids), dtype=bool)
    owners = _post_owners(engagements, light, len(post_ids)) if params.book_needs_min_accounts else None
    _found(light, audiences, params=params, chance=None, pooled=pooled, owners=owners)
    creator = _post_creators(engagements, light.posts, light.ok, len(post_ids))
    split = _studio_split(light, audiences, post_ids, creator, pooled)
    if split is None or not split.keep.any():
        # no account kept: the search again adds nothing on any shard (``_with_studio_orders``)
        return None
    split_model = _platform_chance(engagements, params=params, audiences=split.audiences)
    assert split_model is not None  # the same light pairs as the platform's model
    names = account_names(engagements["user_id"]).astype("str")
    keep = np.zeros(len(names), dtype=bool)
    keep[: len(split.keep)] = split.keep[: len(names)]
    return StudioSplit(post_ids[split.posts].astype("str"), names[keep], split_model)


def _found_all(
    light: _Light,
    audiences: Audiences,
    engagements: pd.DataFrame,
    post_ids: pd.Index,
    *,
    params: PoolParams,
    chance: PoolChance | None,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """``_found``, plus with ``studio_served_units`` the events of a seller's orders across one studio's
    creators (``_with_studio_orders``): split as the search's pools here say (``_studio_split``), or on a
    shard as the platform's do (``PoolChance.studio``)."""
    creators = _creator_accounts(engagements, light.users) if params.fans_not_orders else None
    owners = _post_owners(engagements, light, len(post_ids)) if params.book_needs_min_accounts else None
    found_here = partial(_found, params=params, creators=creators, owners=owners)
    if not params.studio_served_units:
        return found_here(light, audiences, chance=chance)
    if chance is not None:
        found = found_here(light, audiences, chance=chance)
        if chance.studio is None:
            return found
        split = _given_split(chance.studio, post_ids, account_names(engagements["user_id"]))
        again = partial(found_here, chance=chance.studio.chance)
        return _with_studio_orders(light, post_ids, found, split, again)
    # the posts the search's pools hold, recorded for the studios they serve
    pooled = np.zeros(len(post_ids), dtype=bool)
    found = found_here(light, audiences, chance=None, pooled=pooled)
    creator = _post_creators(engagements, light.posts, light.ok, len(post_ids))
    own = _studio_split(light, audiences, post_ids, creator, pooled)
    if own is None:
        return found
    again = partial(found_here, chance=None)
    return _with_studio_orders(light, post_ids, found, own, again)


def _found(
    light: _Light,
    audiences: Audiences,
    *,
    params: PoolParams,
    chance: PoolChance | None,
    pooled: npt.NDArray[np.bool_] | None = None,
    creators: npt.NDArray[np.bool_] | None = None,
    owners: npt.NDArray[np.int64] | None = None,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """Per event its pool (-1: none) and per pool its median lift: found with the audiences'
    communities, less the pools a smaller audience inside their community explains
    (``_covered_as_sub_audience``; with ``cover_one_audience`` on a platform of one community, less the
    pools shown only through their overlap, ``_covered_in_one_audience``), then the pools no community
    covers (``_with_uncovered``), with
    ``fans_not_orders`` less the pools of fans (``_without_fans``; ``creators``: per account, a creator of
    the window, see ``_creator_accounts``); an event
    of a pool the search finds stays in it only if the search within the communities found without the orders
    (``Audiences.for_search``) finds it in a pool too; then the members counted in each pool's book
    (``_with_book``; with ``book_needs_min_accounts`` only for pools of ``min_accounts`` accounts or
    engagement pods, ``_standing``; ``owners``: per post its creator's account). ``pooled`` (per post),
    when given, is set where a pool of the first search holds the post."""
    units = np.arange(int(light.unit.max()) + 1)
    unit_community = audiences.communities(units)
    given = chance.by_community if chance is not None else None
    event_pool, lifts, overlap_only = _search(
        light, unit_community, params=params, given=given, pooled=pooled
    )
    if params.cover_within_audience and audiences.n_communities > 1:
        event_pool = _covered_within(light, audiences, event_pool, overlap_only, params=params)
    elif params.cover_one_audience and audiences.n_communities == 1:
        event_pool = _covered_in_one_audience(event_pool, overlap_only)
    if params.cover_sub_audience:
        event_pool = _covered_as_sub_audience(light, audiences, event_pool, params=params)
    explained = np.zeros(len(event_pool), dtype=bool)
    orderless = audiences.for_search().communities(units)
    if not np.array_equal(orderless, unit_community) and (event_pool >= 0).any():
        given = chance.orderless if chance is not None else None
        explained = (event_pool >= 0) & (_search(light, orderless, params=params, given=given)[0] < 0)
    if params.uncover_explained:
        # what the orderless search explains is no pool of the communities, and may be a candidate's
        event_pool[explained] = -1
    n_search_pools = len(lifts)
    if audiences.n_communities > 1:
        alone = (chance.one_audience, chance.by_region) if chance is not None else None
        event_pool, lifts = _with_uncovered(light, audiences, event_pool, lifts, params=params, given=alone)
    if params.fans_not_orders:
        event_pool = _without_fans(light, event_pool, creators, params=params)
    if params.uncover_explained:
        explained &= event_pool < 0
    # chance within communities the orders did not shape explains these: only flags are taken away,
    # before the books are counted and after (a book adds none of them back)
    event_pool[explained] = -1
    if params.book_units and params.book_needs_min_accounts:
        event_pool = _standing(light, event_pool, owners, params=params)
    if params.book_units:
        event_pool = _booked(light, unit_community, event_pool, explained, n_search_pools, params, chance)
    return event_pool, lifts


def _booked(
    light: _Light,
    unit_community: IntArray,
    event_pool: npt.NDArray[np.int64],
    explained: npt.NDArray[np.bool_],
    n_search_pools: int,
    params: PoolParams,
    chance: PoolChance | None,
) -> npt.NDArray[np.int64]:
    """``_with_book``, less the ``explained`` events (with ``candidate_book_new_clients``: but those a
    candidate's book holds; a candidate's pools are numbered from ``n_search_pools`` on:
    ``_with_uncovered``)."""
    spread = chance.by_community.audiences if chance is not None else None
    new_from = n_search_pools if params.candidate_book_new_clients else None
    booked = _with_book(light, unit_community, event_pool, params=params, given=spread, new_from=new_from)
    if new_from is not None:
        explained = explained & (booked < new_from)
    booked[explained] = -1
    return booked


def _light_pairs(
    user_ids: pd.Series,
    users: IntArray,
    posts: IntArray,
    n_posts: int,
    *,
    params: PoolParams,
    chance: PoolChance | None,
    pairs: LightPairs | None = None,
) -> tuple[IntArray, IntArray, IntArray | None]:
    """The light (account, post) pairs, light as the window (or, with ``chance``, the platform)
    counts an account's posts; with ``chance`` also each account's creator units on the platform.
    ``pairs``: the window's, found already."""
    if chance is None:
        found = pairs.at if pairs is not None else light_pairs
        pair_user, pair_post = found(users, posts, n_posts, params.min_posts, params.max_posts)
        return pair_user, pair_post, None
    return chance.light_pairs(user_ids, users, posts, n_posts, params=params)


def _detection(
    engagements: pd.DataFrame,
    event_pool: npt.NDArray[np.int64],
    median_lift: npt.NDArray[np.float64],
    event_unit: npt.NDArray[np.int64],
    *,
    params: PoolParams,
) -> Detection:
    """The pools of at least ``min_accounts`` accounts, scored by their links' median lift; ``event_unit``
    per event its post's creator unit (a studio's creators are one; read for the events in a pool)."""
    event_pool = _crowd_checked(engagements, event_pool, event_unit, params=params)
    n = len(engagements)
    hit = event_pool >= 0
    frame = pd.DataFrame(
        {
            "pool": event_pool[hit],
            "user": codes(engagements["user_id"])[hit],
            "post": codes(engagements["post_id"])[hit],
            "creator": codes(engagements["creator_id"])[hit] if "creator_id" in engagements else 0,
            "unit": event_unit[hit],
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
    units = _units_text(frame, kept.index.to_numpy())
    groups["evidence"] = [
        f"pool: {a} light accounts kept co-engaging {p} posts of {u}, "
        f"post pairs sharing {x:.0f}x the accounts chance predicts from their other engagers"
        for a, p, u, x in zip(
            groups["n_accounts"], groups["n_posts"], units, groups["median_lift"], strict=True
        )
    ]
    return Detection(NAME, score.astype(np.float64), event_group, groups)


def _units_text(frame: pd.DataFrame, pools: npt.NDArray[np.int64]) -> list[str]:
    """Per pool of ``pools``: its unrelated creator units in words, a studio's creators one unit
    ("4 unrelated creators"; "2 unrelated creator units (a studio of 5 creators and 1 creator)")."""
    creators = frame.groupby(["pool", "unit"])["creator"].nunique()
    out = []
    for pool in pools:
        sizes = creators.loc[pool].to_numpy()
        if (sizes == 1).all():
            out.append(f"{len(sizes)} unrelated creators")
            continue
        studios = sorted(sizes[sizes > 1].tolist(), reverse=True)
        parts = [
            f"a studio of {studios[0]} creators"
            if len(studios) == 1
            else f"{len(studios)} studios of {', '.join(map(str, studios[:-1]))} and {studios[-1]} creators"
        ]
        alone = int((sizes == 1).sum())
        if alone:
            parts.append(f"{alone} creator{'s' if alone > 1 else ''}")
        out.append(f"{len(sizes)} unrelated creator units ({' and '.join(parts)})")
    return out
