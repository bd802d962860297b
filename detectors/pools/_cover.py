"""Cover: a pool found with the audiences' communities is kept only where no community explains it."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import numpy.typing as npt
from scipy import sparse

from detectors.audiences import Audiences, upper_share
from detectors.pools._chance import _Chance
from detectors.pools._keenness import _keenness_excess, _profile_gap
from detectors.pools._params import PoolParams
from detectors.pools._repeats import _Repeats
from detectors.pools._search import _Light, _search
from detectors.pools._whole_book import _same_book
from features.arrays import distinct, sorted_inverse


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


def _covered_within(
    light: _Light,
    audiences: Audiences,
    event_pool: npt.NDArray[np.int64],
    overlap_only: npt.NDArray[np.bool_],
    *,
    params: PoolParams,
) -> npt.NDArray[np.int64]:
    """``event_pool`` without the pools its community covers: pools of one community (the audiences'),
    each of their links over ``min_lift`` only through its overlap (``_overlap_only``), whose community
    stays an audience without their accounts (the test ``_uncovered`` applies to a candidate, but
    ``cover_errors`` down: the cover must be shown, where ``_uncovered`` asks that its absence be).

    In a small audience of few creators an ordinary user who engages two of
    them engages their most popular posts, so nearly all of a post's light
    engagers that cross to another creator are in the overlap: counted from
    the few outside it (``_lift_beyond_overlap``), the overlap is hundreds of
    times chance, though the block model within the community finds it only
    a few times chance. The lift beyond the overlap exists for a seller's pool
    that is most of a small window's engagers: such a pool either made its
    community insular, and without its accounts the community mixes with the
    platform (no cover), or lifts its links above ``min_lift`` within it, or
    tied a stranger into an audience's community: a unit of the pool whose
    fans, judged as ``_order_part`` judges them (``_stranger_judges``), go to
    another community (``_strangers``) leaves the pool uncovered.
    """
    post = np.maximum(light.posts, 0)
    community = audiences.communities(light.unit[post])
    # the distinct (account, unit) pairs, sorted: what the strangers and insularity count
    user, unit = light.account_units
    n_users = int(light.users.max()) + 1
    repeats = light.repeats if params.cover_footprints_once else None
    unit_community = audiences.communities(np.arange(int(light.unit.max()) + 1))
    out = event_pool.copy()
    for pool in np.flatnonzero(overlap_only):
        events = light.ok & (event_pool == pool)
        homes = np.unique(community[events])
        if len(homes) != 1:
            continue
        left_out = np.zeros(n_users, dtype=bool)
        left_out[light.users[events]] = True
        if repeats is not None:
            left_out |= repeats.repeated(left_out)
        # an order can tie a stranger into an audience's community: its creators must be the community's own
        kept = _stranger_judges(repeats, left_out, params=params)[user]
        moved = _strangers(user[kept], unit[kept], unit_community, int(homes[0]), params=params)
        if (moved[np.unique(light.unit[post[events]])] != homes[0]).any():
            continue
        # cover must be shown: the community's insularity ``cover_errors`` errors down (where few of its
        # accounts are left, nothing is shown and the pool stays)
        insular = audiences.insularity_without(user, unit, left_out, z=-params.cover_errors)
        if insular[homes[0]] >= params.max_uncovered_insularity:
            out[events] = -1
    return out


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
    account's are left out too (``_Repeats``): another seller's order, its
    accounts all on the same posts of clients in several communities, would
    otherwise outweigh the few honest fans an audience keeps once its
    candidate is gone.
    """
    candidate, candidate_lifts, _ = _search(light, null, params=params.alone(), given=given)
    fresh = (candidate >= 0) & (event_pool < 0)
    if not fresh.any():
        return candidate, candidate_lifts, np.zeros(len(candidate), dtype=bool)
    # with the whole book of sellers: each candidate judged alone first, then without its book's too
    # where a candidate of that book was uncovered alone
    of_sellers = params.cover_whole_book and params.whole_book_of_sellers
    first = replace(params, cover_whole_book=False) if of_sellers else params
    uncovered = _judged(light, audiences, null, candidate, fresh, params=first, sellers=None)
    if of_sellers and uncovered.any():
        sellers = np.zeros(int(candidate.max()) + 1, dtype=bool)
        sellers[candidate[uncovered]] = True
        uncovered = _judged(
            light, audiences, null, candidate, fresh, params=params, sellers=sellers, alone=uncovered
        )
    return candidate, candidate_lifts, uncovered


def _judged(
    light: _Light,
    audiences: Audiences,
    null: npt.NDArray[np.int64],
    candidate: npt.NDArray[np.int64],
    fresh: npt.NDArray[np.bool_],
    *,
    params: PoolParams,
    sellers: npt.NDArray[np.bool_] | None,
    alone: npt.NDArray[np.bool_] | None = None,
) -> npt.NDArray[np.bool_]:
    """Per event: of a ``fresh`` event of a ``candidate`` its community does not cover (``_uncovered``),
    each judged without its own accounts and, with ``cover_whole_book``, its book's (``_same_book``: of
    ``sellers`` only, when given). ``alone``: per event, the judgment without any book's accounts; a
    candidate whose book leaves out no other account keeps it (the judgment would be the same)."""
    uncovered = np.zeros(len(candidate), dtype=bool)
    unit = light.unit[np.maximum(light.posts, 0)]
    community = audiences.communities(unit)
    repeats = light.repeats if params.cover_footprints_once else None
    for pool in np.unique(candidate[fresh]):
        events = fresh & (candidate == pool)
        home = int(np.argmax(np.bincount(community[events])))
        held = light.users[candidate == pool]
        if _holds_its_community(light, audiences, held, home, params=params) or _organic_audience(
            light, audiences, held, home, params=params
        ):
            continue
        left_out = _same_book(
            light.users, light.posts, candidate, community, int(pool), home, params=params, sellers=sellers
        )
        if alone is not None and not left_out.any():
            uncovered |= events & alone
            continue
        left_out[light.users[candidate == pool]] = True
        if repeats is not None:
            left_out |= repeats.repeated(left_out)
        part = audiences.parts(unit[events & (community == home)])
        within = int(np.argmax(np.bincount(part))) if null.any() else None
        insular = audiences.insularity_without(
            *light.account_units, left_out, z=params.cover_errors, part=within
        )
        if insular[home] < params.max_uncovered_insularity:
            flagged = events & (insular[community] < params.max_uncovered_insularity)
            whole = flagged.copy()
            if params.cover_strangers_home:
                judged = _stranger_judges(repeats, left_out, params=params)
                flagged &= _order_part(
                    light, audiences, candidate == pool, left_out, home, within, judged, params=params
                )
            # keenness judges a candidate that is one thing: where the split kept an order's part of it
            # (an order riding on an audience's fans), the mixture's spread says nothing of either
            if np.array_equal(flagged, whole) and _keen_audience(light, audiences, held, home, params=params):
                continue
            uncovered |= flagged
    return uncovered


def _order_part(
    light: _Light,
    audiences: Audiences,
    in_candidate: npt.NDArray[np.bool_],
    left_out: npt.NDArray[np.bool_],
    home: int,
    part: int | None,
    judges: npt.NDArray[np.bool_],
    *,
    params: PoolParams,
) -> npt.NDArray[np.bool_]:
    """Per event: of an account of the order's part of a candidate its ``home`` community does not cover
    (all, when the candidate is one part).

    A seller's order for creators of two audiences ties a creator of one (a
    stranger) into the other's community, and the candidate found with the
    platform as one audience joins the order to the audience's own fans
    through the posts both engage. Without the candidate's accounts
    (``left_out``) what co-engages the community is then the stranger's fans
    going home, and the community reads as no audience. Each unit of ``home``
    whose fans, the accounts ``judges`` marks (``_stranger_judges``), go to
    another community (``_strangers``) goes there. When ``home`` keeps two
    units or more and is an audience without the strangers (insularity at least ``max_uncovered_insularity``,
    ``cover_errors`` up), the candidate splits. An order is a block of
    accounts on the same few bought posts: its accounts that cross to the
    strangers or other communities show it, the posts whose candidate
    accounts are mostly crossing ones are its posts, and every account of the
    candidate on those posts alone is the order's too, kept. The accounts
    that also engage other posts are the audience's fans, covered. A seller's
    book stays whole: what is left of it once its clients of other audiences
    go is no audience, or its accounts all stay on the order's posts.
    """
    user, unit_of_pair = light.account_units  # sorted distinct pairs: what the strangers count
    kept = judges[user]
    if part is not None:
        kept &= audiences.parts(unit_of_pair) == part
    community = audiences.communities(np.arange(int(light.unit.max()) + 1))
    moved = _strangers(user[kept], unit_of_pair[kept], community, home, params=params)
    everything = np.ones(len(light.users), dtype=bool)
    # one unit shares no account with itself, so says nothing of an audience
    if np.array_equal(moved, community) or (moved == home).sum() < 2:
        return everything
    insular = audiences.insularity_without(
        user, unit_of_pair, left_out, z=params.cover_errors, part=part, unit_community=moved
    )
    if insular[home] < params.max_uncovered_insularity:
        return everything
    post = np.maximum(light.posts, 0)
    crossing = np.zeros(int(light.users.max()) + 1, dtype=bool)
    crossing[light.users[in_candidate & (moved[light.unit[post]] != home)]] = True
    # the order's posts: those whose candidate accounts are mostly crossing ones (a fan who crosses
    # too is one of many on his posts); an account that stays on them alone is the order's
    n_posts = len(light.unit)
    pairs = distinct(light.users[in_candidate] * n_posts + post[in_candidate])
    on_post = np.bincount(pairs % n_posts, minlength=n_posts)
    crossing_on_post = np.bincount(pairs % n_posts, weights=crossing[pairs // n_posts], minlength=n_posts)
    order_post = 2 * crossing_on_post > on_post
    fan = np.zeros(len(crossing), dtype=bool)
    fan[light.users[in_candidate & ~order_post[post]]] = True
    return ~(fan & ~crossing)[light.users]


def _stranger_judges(
    repeats: _Repeats | None, left_out: npt.NDArray[np.bool_], *, params: PoolParams
) -> npt.NDArray[np.bool_]:
    """Per account: whether it says where a unit's fans go (``_strangers``).

    With ``cover_strangers_by_footprint`` every account does, the candidate's
    too, but of the accounts that share a footprint only one: an order's
    accounts, sent to the same bought posts, are one observation of the tie
    between its stranger and ``home``, while an audience's own fans (the
    candidate of a small audience is most of them) tie its units to each
    other through many footprints. Without them a popular creator of the
    audience keeps only fans who also follow larger communities, and reads
    as a stranger. Otherwise: the accounts not ``left_out``.
    """
    if not params.cover_strangers_by_footprint or repeats is None:
        return ~left_out
    return ~repeats.repeated(np.zeros(len(left_out), dtype=bool))


def _strangers(
    user: npt.NDArray[np.int64],
    unit: npt.NDArray[np.int64],
    community: npt.NDArray[np.int64],
    home: int,
    *,
    params: PoolParams,
) -> npt.NDArray[np.int64]:
    """Per unit its community, the units of ``home`` that are strangers to it moved to their own.

    ``user`` and ``unit`` are light (account, unit) pairs. A unit's
    co-engagement is the accounts it shares with other units; it is a
    stranger to ``home`` when the share of them that reach ``home``'s other
    units is, ``cover_errors`` errors up (Wilson), under the share that reach
    another community, as many errors down: its own fans go elsewhere. It
    moves to the community they reach most, as Louvain would place it.
    """
    n_units, k = len(community), max(int(community.max(initial=0)), home) + 1
    # only the accounts of ``home``'s units say where they go
    touches = np.zeros(int(user.max(initial=-1)) + 1, dtype=bool)
    touches[user[community[unit] == home]] = True
    user, unit = user[touches[user]], unit[touches[user]]
    pairs = distinct(user * n_units + unit)
    rows = sorted_inverse(pairs // n_units)[1]
    x = sparse.csr_matrix(
        (np.ones(len(pairs)), (rows, pairs % n_units)), shape=(int(rows.max(initial=-1)) + 1, n_units)
    )
    x = x[np.asarray(x.sum(axis=1)).ravel() >= 2]
    per_account = (
        x @ sparse.csr_matrix((np.ones(n_units), (np.arange(n_units), community)), (n_units, k))
    ).toarray()
    engagers = np.asarray(x.sum(axis=0)).ravel()
    # accounts of each unit that reach each community through another of its units
    reach = np.asarray((x.T @ (per_account >= 1)), dtype=np.float64)
    own = np.asarray((x.T @ (per_account >= 2)), dtype=np.float64)
    mine = np.arange(n_units), community
    reach[mine] = own[mine]
    share = reach / np.maximum(engagers, 1.0)[:, None]
    upper = upper_share(share[:, home], engagers, z=params.cover_errors)
    elsewhere = share.copy()
    elsewhere[:, home] = -1.0
    best = np.argmax(elsewhere, axis=1)
    lower = 1.0 - upper_share(1.0 - share[np.arange(n_units), best], engagers, z=params.cover_errors)
    stranger = (community == home) & (engagers > 0) & (upper < lower)
    return np.where(stranger, best, community)


def _holds_its_community(
    light: _Light, audiences: Audiences, held: npt.NDArray[np.int64], home: int, *, params: PoolParams
) -> bool:
    """Whether the accounts ``held`` (a candidate's) are more than ``cover_max_held_share`` of the light
    accounts that co-engage community ``home`` (on two of its units or more), yet at most
    ``cover_held_max_engagers`` of all the accounts that engage its posts (``_engager_share``).

    An audience that is its whole community has its candidate (found with
    the platform as one audience) hold nearly all of them: the few left are
    the accounts that cross to other communities, and the community they
    show mixes with the platform whatever the candidate is, so nothing is
    left to judge it by and it stays covered. A seller's book that made its
    community holds it whole too (dev seeds 15, 49, 59), but it is a large
    share of everyone on its clients' posts: an order sends a large part of
    the book to each bought post, on top of the organic crowd of a creator
    small enough to buy. An audience's co-engaging fans are the few of its
    engagers who engage two of its creators; most engage one post (a star's
    crowd), so even a candidate that holds all of them is a minority.

    With ``cover_hub_min_share`` the audience must be a star's too: one
    creator unit of ``home`` the candidate engages (the hub) whose posts at
    least that share of each other such unit's light engagers engaged
    (``_hub_share``). A star reaches nearly everyone active in its community,
    so its satellites' light engagers are its own fans; a seller sends each
    order to 30-60% of the book, so the accounts of a client's orders that no
    order on another client reached, and the client's own fans, leave every
    other client short of them.
    """
    if params.cover_max_held_share >= 1.0:
        return False
    n_held, n_members = _held(light, audiences, held, home)
    if n_held <= params.cover_max_held_share * max(n_members, 1):
        return False
    if _engager_share(light, audiences, held, home) > params.cover_held_max_engagers:
        return False
    return _hub_share(light, audiences, held, home) >= params.cover_hub_min_share


def _held(light: _Light, audiences: Audiences, held: npt.NDArray[np.int64], home: int) -> tuple[int, int]:
    """How many of the light accounts that co-engage community ``home`` (on two of its units or more) are
    of ``held``, and how many there are."""
    user, unit = light.account_units
    inside = audiences.communities(unit) == home
    members = np.flatnonzero(np.bincount(user[inside], minlength=int(light.users.max()) + 1) >= 2)
    return int(np.isin(members, held).sum()), len(members)


def _organic_audience(
    light: _Light, audiences: Audiences, held: npt.NDArray[np.int64], home: int, *, params: PoolParams
) -> bool:
    """Whether the accounts ``held`` (a candidate's) are an audience's own fans by how their activity
    spreads: they hold more than ``cover_organic_min_held`` of community ``home``'s co-engaging light
    accounts, engage ``cover_organic_min_units`` of its creator units or more, and at least
    ``cover_organic_min_share`` of them have the fewest light posts an account can have and count
    (``min_posts``).

    An honest audience that is its whole community (a light population that
    engages its own creators only) has its candidate hold most of the
    community's co-engagers, and without them nothing is left to judge it by
    (``_holds_its_community``); its fans' activity is organic, most at the
    floor and fewer at each post beyond it (dev windows near 50k: 0.43-0.64
    of them at two posts). A seller sends each order to a part of the book,
    so its accounts gather several orders each: aged, drip-fed and click-farm
    books that made their communities have 0.09-0.27 at two posts where they
    serve three units or more (docs/journal/session-15.md, classA15). With two units
    an account's posts say little (two one-post creators give every account
    two), so fewer units never count as organic."""
    if params.cover_organic_min_share >= 1.0:
        return False
    n_held, n_members = _held(light, audiences, held, home)
    if n_held <= params.cover_organic_min_held * max(n_members, 1):
        return False
    accounts = distinct(held)
    user, unit = light.account_units
    mine = np.isin(user, accounts) & (audiences.communities(unit) == home)
    if len(np.unique(unit[mine])) < params.cover_organic_min_units:
        return False
    at_floor = light.account_pairs[accounts] <= params.min_posts
    return float(at_floor.mean()) >= params.cover_organic_min_share


def _keen_audience(
    light: _Light, audiences: Audiences, held: npt.NDArray[np.int64], home: int, *, params: PoolParams
) -> bool:
    """Whether the accounts ``held`` (a candidate's) are an audience's fans by how unevenly keen they are
    (``cover_by_keenness``): they hold more than ``cover_organic_min_held`` of community ``home``'s
    co-engaging light accounts over ``cover_organic_min_units`` of its creator units or more, and their
    counts of the community's posts spread at least ``cover_keen_min_ratio`` times a seller's book's, and
    ``cover_errors`` standard errors more (``_keenness_excess``), as one axis of keenness: two books
    fitted to them serve the posts in profiles at most ``cover_keen_max_profile_gap`` apart
    (``_profile_gap``; two sellers' books in one candidate spread more than one book too).

    A book that made its community holds it whole, as an audience that is its whole community does, and
    without it nothing is left to judge the community by (``_holds_its_community``). What is left to judge
    is how its accounts engage: a seller sends each order to a share of the book whatever the account, so
    the book's accounts are equally keen and their counts spread as independent draws do; an audience's
    fans are a few keen ones on many posts and most at the floor. Dev windows at 40k-60k
    (docs/journal/session-16.md, classA16): the honest candidates left uncovered 1.5-2.6 times a book's, the
    aged, drip-fed and click-farm books that hold their communities 0.87-1.21."""
    if not params.cover_by_keenness:
        return False
    n_held, n_members = _held(light, audiences, held, home)
    if n_held <= params.cover_organic_min_held * max(n_members, 1):
        return False
    accounts = distinct(held)
    home_post = audiences.communities(light.pair_unit) == home
    mine = np.isin(light.pair_user, accounts) & home_post
    if len(np.unique(light.pair_unit[mine])) < params.cover_organic_min_units:
        return False
    ratio, z = _keenness_excess(light.pair_user[mine], light.pair_post[mine], floor=params.min_posts)
    if ratio < params.cover_keen_min_ratio or z < params.cover_errors:
        return False
    gap = _profile_gap(light.pair_user[mine], light.pair_post[mine], floor=params.min_posts)
    return gap <= params.cover_keen_max_profile_gap


def _engager_share(light: _Light, audiences: Audiences, held: npt.NDArray[np.int64], home: int) -> float:
    """The share of the accounts with an event on a post of community ``home`` that are of ``held``
    (every account, light or not)."""
    post = np.maximum(light.posts, 0)
    on_home = light.ok & (audiences.communities(light.unit[post]) == home)
    engagers = distinct(light.users[on_home])
    return float(np.isin(engagers, held).sum() / max(len(engagers), 1))


def _hub_share(light: _Light, audiences: Audiences, held: npt.NDArray[np.int64], home: int) -> float:
    """Over the units of community ``home`` that the accounts ``held`` engage: the largest, over one of
    them (the hub), of the smallest share of another's light engagers that engaged the hub too (1.0 when
    they engage one unit)."""
    user, unit = light.account_units
    inside = audiences.communities(unit) == home
    user, unit = user[inside], unit[inside]
    touched = np.unique(unit[np.isin(user, held)])
    if len(touched) < 2:
        return 1.0
    kept = np.isin(unit, touched)
    rows = sorted_inverse(user[kept])[1]
    x = sparse.csr_matrix(
        (np.ones(int(kept.sum())), (rows, np.searchsorted(touched, unit[kept]))),
        shape=(int(rows.max()) + 1, len(touched)),
    )
    both = (x.T @ x).toarray()
    # both[u, h] / both[u, u]: the share of unit u's light engagers that engaged unit h
    share = both / np.maximum(np.diag(both), 1.0)[:, None]
    return float(share.min(axis=0).max())
