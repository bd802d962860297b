"""A pool's book: the posts of its creators that carry its orders, and membership counted in them."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from detectors.pools._chance import _Audiences
from detectors.pools._core import _core_members
from detectors.pools._focus import _focus_members
from detectors.pools._pairs import _pair_members
from detectors.pools._params import PoolParams
from detectors.pools._search import _assign, _Light, _members
from features.arrays import distinct, distinct_counts, in_sorted


def _with_book(
    light: _Light,
    unit_community: npt.NDArray[np.int64],
    event_pool: npt.NDArray[np.int64],
    *,
    params: PoolParams,
    given: _Audiences | None = None,
    new_from: int | None = None,
) -> npt.NDArray[np.int64]:
    """``event_pool`` plus the members found when each pool also holds its creators' posts that carry its
    orders (the pools from ``new_from`` on also posts of creators no pool serves: ``_new_clients``).

    A seller fills an order for a creator with a share of its pool, and a creator may buy for several
    posts. The link test (``_search``) finds the posts whose shared accounts stand out from their other
    engagers; on a popular post an order's overlap is small beside its organic crowd, and the post may
    stay out of the pool while another post of the same creator is in it. Counted in the pool's posts,
    a pool account that engaged it has a creator outside the pool (k of its d creators falls under the
    member share, 2 of 3) and its engagement there is nobody's. A post of a creator unit the pool serves
    joins the pool's book when it carries an order of the pool (``_orders``); membership is then decided
    again with the book as the pool (``_members``: chance counts the book's honest engagement too), and
    the members found only so are added on the book's posts; nothing is taken away. ``given``: the whole
    platform's spread of accounts when the events are one shard of it.
    """
    hit = (event_pool >= 0) & light.ok
    if not hit.any():
        return event_pool
    n_pools = int(event_pool.max()) + 1
    unit = light.unit
    post_pool = _main_pool(light.posts[hit], event_pool[hit], len(unit), n_pools)
    unit_pool = _main_pool(unit[light.posts[hit]], event_pool[hit], int(unit.max()) + 1, n_pools)
    candidate = _book_candidates(light, post_pool, unit_pool, n_pools, params=params, new_from=new_from)
    book_pool = np.where(post_pool >= 0, post_pool, _orders(light, post_pool, candidate, params=params))
    members = _members(
        light.pair_user,
        unit[light.pair_post],
        book_pool[light.pair_post],
        n_pools,
        unit_community,
        params=params,
        given=given if given is not None else light.spread(unit_community, params=params),
        platform_degree=light.user_units,
        creators=light.creators,
        served=params.served_outside,
    )
    if params.book_core_max_share > 0:
        members = _with_core(
            light, event_pool, book_pool, members, n_pools, unit_community, params=params, given=given
        )
    if params.book_pair_members:
        members = np.union1d(
            members, _pairs_of(light, event_pool, book_pool, members, n_pools, unit_community, params=params)
        )
    if params.book_focus_members:
        found = _found(light, event_pool, members, n_pools)
        members = np.union1d(
            members, _focus_members(light, book_pool, found, n_pools, unit_community, params=params)
        )
    out = event_pool.copy()
    _assign(out, light.users, book_pool[np.maximum(light.posts, 0)], light.ok, members, n_pools, first=0)
    return out


def _found(
    light: _Light, event_pool: npt.NDArray[np.int64], members: npt.NDArray[np.int64], n_pools: int
) -> npt.NDArray[np.int64]:
    """Each book's accounts so far (sorted keys ``user * (n_pools + 1) + pool``): its pooled events' and
    ``members``."""
    hit = (event_pool >= 0) & light.ok
    return np.union1d(distinct(light.users[hit] * (n_pools + 1) + event_pool[hit]), members)


def _pairs_of(
    light: _Light,
    event_pool: npt.NDArray[np.int64],
    book_pool: npt.NDArray[np.int64],
    members: npt.NDArray[np.int64],
    n_pools: int,
    unit_community: npt.NDArray[np.int64],
    *,
    params: PoolParams,
) -> npt.NDArray[np.int64]:
    """``_pair_members``, each book's accounts so far its pooled events' and ``members`` (sorted keys)."""
    found = _found(light, event_pool, members, n_pools)
    return _pair_members(light, book_pool, found, n_pools, unit_community, params=params)


def _with_core(
    light: _Light,
    event_pool: npt.NDArray[np.int64],
    book_pool: npt.NDArray[np.int64],
    members: npt.NDArray[np.int64],
    n_pools: int,
    unit_community: npt.NDArray[np.int64],
    *,
    params: PoolParams,
    given: _Audiences | None,
) -> npt.NDArray[np.int64]:
    """``members`` (sorted keys) and the members of each book's core (``_core_members``), the book's
    accounts so far its pooled events' and ``members``."""
    found = _found(light, event_pool, members, n_pools)
    if params.book_core_by_candidates:
        found = np.union1d(found, _candidates(light, book_pool, n_pools, params=params))
    spread = given if given is not None else light.spread(unit_community, params=params)
    core = _core_members(light, book_pool, found, n_pools, unit_community, params=params, given=spread)
    return np.union1d(members, core)


def _candidates(
    light: _Light, book_pool: npt.NDArray[np.int64], n_pools: int, *, params: PoolParams
) -> npt.NDArray[np.int64]:
    """Sorted keys ``user * (n_pools + 1) + pool``: the light accounts on ``min_creators`` creator units or
    more of a book (``book_pool``, per post)."""
    pool = book_pool[light.pair_post]
    on = pool >= 0
    width = int(light.unit.max()) + 1
    triples = distinct((light.pair_user[on] * (n_pools + 1) + pool[on]) * width + light.pair_unit[on])
    keys, k = distinct_counts(triples // width)
    return keys[k >= params.min_creators]


def _book_candidates(
    light: _Light,
    post_pool: npt.NDArray[np.int64],
    unit_pool: npt.NDArray[np.int64],
    n_pools: int,
    *,
    params: PoolParams,
    new_from: int | None,
) -> npt.NDArray[np.int64]:
    """Per post outside every pool: the pool whose book it may join (-1: none)."""
    # a post outside every pool is a candidate of the pool holding most of its creator unit's events
    candidate = np.where(post_pool < 0, unit_pool[light.unit], -1)
    if new_from is not None:
        new = _new_clients(light, post_pool, n_pools, new_from, params=params)
        candidate = np.where(candidate < 0, new, candidate)
    return candidate


def _new_clients(
    light: _Light, post_pool: npt.NDArray[np.int64], n_pools: int, first: int, *, params: PoolParams
) -> npt.NDArray[np.int64]:
    """Per post outside every pool: the pool from ``first`` on whose accounts (light accounts on
    ``min_creators`` creator units or more of its posts, as ``_orders`` counts them) engaged it most, -1
    for none (``candidate_book_new_clients``)."""
    users, units = light.pair_user, light.unit[light.pair_post]
    pooled = post_pool[light.pair_post]
    on = pooled >= 0
    n_units = int(light.unit.max()) + 1
    triples = distinct((users[on] * n_pools + pooled[on]) * n_units + units[on])
    keys, k = distinct_counts(triples // n_units)
    accounts = keys[k >= params.min_creators]
    outside = ~on
    best = np.full(len(post_pool), -1, dtype=np.int64)
    most = np.zeros(len(post_pool), dtype=np.int64)
    for pool in range(first, n_pools):
        hit = outside & in_sorted(users * n_pools + pool, accounts)
        count = np.bincount(light.pair_post[hit], minlength=len(post_pool))
        better = count > most
        best[better], most[better] = pool, count[better]
    return np.where(post_pool < 0, best, -1)


def _main_pool(
    item: npt.NDArray[np.int64], pool: npt.NDArray[np.int64], n_items: int, n_pools: int
) -> npt.NDArray[np.int64]:
    """Per item (post or unit): the pool holding most of its pooled events, -1 for none."""
    cells, count = distinct_counts(item * n_pools + pool)
    order = np.lexsort((-count, cells // n_pools))
    first = np.r_[True, np.diff(cells[order] // n_pools) != 0]
    out = np.full(n_items, -1, dtype=np.int64)
    out[cells[order][first] // n_pools] = cells[order][first] % n_pools
    return out


def _orders(
    light: _Light, post_pool: npt.NDArray[np.int64], candidate: npt.NDArray[np.int64], *, params: PoolParams
) -> npt.NDArray[np.int64]:
    """Per post: its ``candidate`` pool (-1: none) when the post carries an order of that pool.

    The pool's accounts are the light accounts on its posts of ``min_creators`` creator units or more.
    Those that engaged none of the pool's posts of the candidate's creator are the reference (a creator's
    fans follow its other posts; a pool's account on an order does not need to). The post carries an
    order when the reference engaged it far more often than light accounts do: at least
    ``min_shared_accounts`` of them, ``book_min_lift`` times the light accounts' rate, and a Poisson tail
    at most ``max_p_value``, Bonferroni-corrected over the candidate posts. A creator's posts the seller
    never served draw the pool's accounts at most at the rate anyone's would, and stay out.
    """
    from scipy.special import pdtrc  # lazy: scipy.special costs import time

    shared, reference = _reference_engagers(light, post_pool, candidate, params=params)
    rate = np.bincount(light.pair_post, minlength=len(candidate)) / max(len(distinct(light.pair_user)), 1)
    expected = reference * rate
    tested = candidate >= 0
    p_value = np.ones(len(candidate))
    p_value[tested] = pdtrc(shared[tested] - 1, np.maximum(expected[tested], 1e-12))
    keep = tested & (shared >= params.min_shared_accounts) & (shared >= params.book_min_lift * expected)
    keep &= p_value <= params.max_p_value / max(float(tested.sum()), 1.0)
    return np.where(keep, candidate, -1)


def _reference_engagers(
    light: _Light, post_pool: npt.NDArray[np.int64], candidate: npt.NDArray[np.int64], *, params: PoolParams
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """Per post: the accounts of its candidate pool that engaged it but none of the pool's posts of its
    creator unit, and how many of the pool's accounts engaged none of those (``_orders``)."""
    n_pools = int(max(post_pool.max(), candidate.max())) + 1
    n_units = int(light.unit.max()) + 1
    users, units = light.pair_user, light.unit[light.pair_post]
    pooled = post_pool[light.pair_post]
    on_pool = pooled >= 0
    # (account, pool, unit) of the pools' posts; a pool's accounts reach min_creators units of it
    triples = distinct((users[on_pool] * n_pools + pooled[on_pool]) * n_units + units[on_pool])
    keys, k = distinct_counts(triples // n_units)
    accounts = keys[k >= params.min_creators]
    of_account = in_sorted(triples // n_units, accounts)
    # per (pool, unit): the pool's accounts on its posts of that unit
    on_unit = np.bincount(triples[of_account] % (n_pools * n_units), minlength=n_pools * n_units)
    pool = candidate[light.pair_post]
    key = users * n_pools + np.maximum(pool, 0)
    away = ~in_sorted(key * n_units + units, triples)
    hit = (pool >= 0) & in_sorted(key, accounts) & away
    shared = np.bincount(light.pair_post[hit], minlength=len(candidate)).astype(np.float64)
    of_pool = np.maximum(candidate, 0)
    reference = (
        np.bincount(accounts % n_pools, minlength=n_pools)[of_pool] - on_unit[of_pool * n_units + light.unit]
    )
    return shared, reference
