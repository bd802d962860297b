"""Members by their order pair: two-creator accounts on a pair of a book's posts far beyond chance."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from detectors.pools._params import PoolParams
from detectors.pools._search import _Light
from features.arrays import distinct, distinct_counts, in_sorted


def _pair_members(
    light: _Light,
    book_pool: npt.NDArray[np.int64],
    found: npt.NDArray[np.int64],
    n_pools: int,
    unit_community: npt.NDArray[np.int64],
    *,
    params: PoolParams,
) -> npt.NDArray[np.int64]:
    """Sorted member keys ``user * (n_pools + 1) + pool`` (as ``_members``) of the accounts with two
    creator units whose light posts include a pair of one book's posts (``book_pool``, per post) of both
    units that such accounts share far beyond chance (``_accepted_pairs``, and ``book_pair_min_lift`` times
    it) and that ``book_pair_min_core`` of the book's accounts so far (``found``, keys) co-engage
    (``_core_pairs``); the accounts in a pool are not what honest reach is counted from.

    A seller fills each order with a fresh share of its accounts, so an account it sent to exactly two
    of a book's orders engaged exactly those two posts, with every other account that the two orders
    drew alike. Membership counts creators in the pool against the pool's share of its community, and
    for an account of two creators both in the pool, chance (the share squared) explains them wherever
    the book is most of its community. Judged pair by pair, an honest two-unit account lands on a post
    as the post's reach among the accounts outside every pool says (``_reach``), two draws in its
    units' communities; an order pair shares many times what that predicts, more than honest structure
    (fan clubs, keen fans) puts on a pair. An order pair is also two posts the seller's other accounts
    engage together, those it sent to more orders; a keen fans' pair beside a pool's post is not.
    """
    two = _two_unit_accounts(light)
    if not two.any():
        return np.zeros(0, dtype=np.int64)
    cell, n_cell = _cells(light, two, unit_community)
    on = two[light.pair_user]
    user, post = light.pair_user[on], light.pair_post[on]
    pooled = book_pool[post] >= 0
    pairs = _book_pairs(user[pooled], post[pooled], light.unit, book_pool)
    if not len(pairs):
        return np.zeros(0, dtype=np.int64)
    first, second, users = pairs.T
    n_posts = len(book_pool)
    pair_key = first * n_posts + second
    key_pair, observed = distinct_counts(pair_key)
    a, b = key_pair // n_posts, key_pair % n_posts
    pair_cell = cell[users[np.searchsorted(pair_key, key_pair)]]
    pooled = np.zeros(len(two), dtype=bool)
    pooled[found // (n_pools + 1)] = True
    weight = _reach_weight(light, two | pooled)
    expected = _cell_chance(light, weight, unit_community, a, b, n_cell[pair_cell])
    if params.book_pair_by_units:
        expected = np.maximum(expected, _unit_chance(light, weight, two, a, b, observed))
    core_keys, core = _core_pairs(light, book_pool, found, n_pools)
    at = np.minimum(np.searchsorted(core_keys, key_pair), max(len(core_keys) - 1, 0))
    co = np.where(in_sorted(key_pair, core_keys), core[at] if len(core) else 0, 0)
    ok = _accepted_pairs(observed.astype(np.float64), expected, params=params)
    ok &= (co >= params.book_pair_min_core) & (observed >= params.book_pair_min_lift * expected)
    accepted = key_pair[ok]
    hit = in_sorted(pair_key, accepted)
    keys = distinct(users[hit] * (n_pools + 1) + book_pool[first[hit]])
    return keys[_book_share(light, book_pool, keys, n_pools) >= params.book_pair_min_book_share]


def _book_share(
    light: _Light, book_pool: npt.NDArray[np.int64], keys: npt.NDArray[np.int64], n_pools: int
) -> npt.NDArray[np.float64]:
    """Per member key ``user * (n_pools + 1) + pool`` (sorted): the share of the account's light posts
    that are the pool's book's posts. A seller's accounts engage where its orders send them; honest fans
    of two creators engage those creators' other posts too."""
    if not len(keys):
        return np.zeros(0, dtype=np.float64)
    pool = book_pool[light.pair_post]
    mine = pool >= 0
    own, n_own = distinct_counts(light.pair_user[mine] * (n_pools + 1) + pool[mine])
    at = np.minimum(np.searchsorted(own, keys), len(own) - 1)
    n_book = np.where(own[at] == keys, n_own[at], 0)
    n_posts = np.bincount(light.pair_user, minlength=int(keys.max()) // (n_pools + 1) + 1)
    return np.asarray(n_book / np.maximum(n_posts[keys // (n_pools + 1)], 1), dtype=np.float64)


def _core_pairs(
    light: _Light, book_pool: npt.NDArray[np.int64], found: npt.NDArray[np.int64], n_pools: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Sorted post pair keys ``first * n_posts + second`` (as ``_book_pairs``) and per pair the accounts
    of its book (``found`` keys) that engaged both."""
    pool = book_pool[light.pair_post]
    mine = (pool >= 0) & in_sorted(light.pair_user * (n_pools + 1) + np.maximum(pool, 0), found)
    rows = _book_pairs(light.pair_user[mine], light.pair_post[mine], light.unit, book_pool)
    return distinct_counts(rows[:, 0] * len(book_pool) + rows[:, 1])


def _reach_weight(light: _Light, left_out: npt.NDArray[np.bool_]) -> npt.NDArray[np.float64]:
    """Per post: its engagement by the light accounts not ``left_out`` and by the one-off engagers
    (accounts with one post in the window), how an honest account's draw lands, one engagement added (a
    community with few such engagers says little of its posts' reach, and no post is out of reach)."""
    kept = ~left_out[light.pair_user]
    return np.bincount(light.pair_post[kept], minlength=len(light.unit)) + light.one_off_engagers + 1.0


def _cell_chance(
    light: _Light,
    weight: npt.NDArray[np.float64],
    unit_community: npt.NDArray[np.int64],
    a: npt.NDArray[np.int64],
    b: npt.NDArray[np.int64],
    n_cell: npt.NDArray[np.float64],
) -> npt.NDArray[np.float64]:
    """Per post pair (``a``, ``b``): the two-unit accounts of its pair of communities (``n_cell``) times
    each post's share of its community's ``weight``; twice where both lie in one community (two draws
    land on the pair either way round)."""
    community = unit_community[light.unit]
    total = np.bincount(community, weights=weight, minlength=int(unit_community.max()) + 1)
    reach = weight / total[community]
    same = community[a] == community[b]
    return np.asarray(n_cell * reach[a] * reach[b] * np.where(same, 2.0, 1.0), dtype=np.float64)


def _unit_chance(
    light: _Light,
    weight: npt.NDArray[np.float64],
    two: npt.NDArray[np.bool_],
    a: npt.NDArray[np.int64],
    b: npt.NDArray[np.int64],
    observed: npt.NDArray[np.int64],
) -> npt.NDArray[np.float64]:
    """Per post pair (``a``, ``b``; ``observed`` two-unit accounts on it): the two-unit accounts of its two
    creator units but not on the pair, times each post's share of its unit's ``weight``. Two creators who
    share fans draw many two-unit accounts, spread over their posts as their reach says; a seller's
    accounts on two orders are on the one pair (counted, they would make a small client's order post,
    most of its reach, explain them)."""
    width, user_creator, _ = light.creators
    mine = two[user_creator // width]
    unit = user_creator[mine] % width
    # the two units of an account are adjacent (keys sorted by account, then unit), the lower first
    unit_pairs, n_pair = distinct_counts(unit[0::2] * width + unit[1::2])
    key = light.unit[a] * width + light.unit[b]
    at = np.minimum(np.searchsorted(unit_pairs, key), len(unit_pairs) - 1)
    n_units = np.where(unit_pairs[at] == key, n_pair[at], 0) - observed
    share = weight / np.bincount(light.unit, weights=weight, minlength=width)[light.unit]
    return np.asarray(np.maximum(n_units, 0) * share[a] * share[b], dtype=np.float64)


def _two_unit_accounts(light: _Light) -> npt.NDArray[np.bool_]:
    """Per account: its light posts lie on exactly two creator units, on the whole platform too."""
    _, user_creator, degree = light.creators
    width = light.creators[0]
    n_units = np.bincount(user_creator // width, minlength=len(degree))
    out = np.zeros(int(light.users.max()) + 1, dtype=bool)
    out[: len(n_units)] = (n_units == 2) & (degree[: len(n_units)] == 2)
    return out


def _cells(
    light: _Light, two: npt.NDArray[np.bool_], unit_community: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """Per account its cell (the unordered pair of its two units' communities; -1 for other accounts)
    and per cell its two-unit accounts."""
    width, user_creator, _ = light.creators
    users = user_creator // width
    mine = two[users]
    community = unit_community[user_creator[mine] % width]
    n_communities = int(unit_community.max()) + 1
    # the two units of an account are adjacent (keys sorted by account, then unit)
    low = np.minimum(community[0::2], community[1::2])
    high = np.maximum(community[0::2], community[1::2])
    cell = np.full(len(two), -1, dtype=np.int64)
    cell[users[mine][0::2]] = low * n_communities + high
    n_cell = np.bincount(cell[two], minlength=n_communities * n_communities).astype(np.float64)
    return cell, n_cell


def _book_pairs(
    user: npt.NDArray[np.int64],
    post: npt.NDArray[np.int64],
    unit: npt.NDArray[np.int64],
    book_pool: npt.NDArray[np.int64],
) -> npt.NDArray[np.int64]:
    """Rows (first post, second post, account), sorted by the post pair: each two-unit account's pairs of
    posts of one book on its two units (first the post of the lower unit)."""
    order = np.lexsort((post, unit[post], user))
    user, post = user[order], post[order]
    # an account's posts (at most ``max_posts``) against each of its later ones
    rows = []
    for lag in range(1, int(np.bincount(user).max()) if len(user) else 1):
        same = user[lag:] == user[:-lag]
        x, y = post[:-lag][same], post[lag:][same]
        keep = (unit[x] < unit[y]) & (book_pool[x] == book_pool[y])
        rows.append(np.stack([x[keep], y[keep], user[lag:][same][keep]], axis=1))
    if not rows:
        return np.zeros((0, 3), dtype=np.int64)
    out = np.concatenate(rows)
    return out[np.lexsort((out[:, 2], out[:, 1], out[:, 0]))]


def _accepted_pairs(
    observed: npt.NDArray[np.float64], expected: npt.NDArray[np.float64], *, params: PoolParams
) -> npt.NDArray[np.bool_]:
    """Per post pair: chance explains at most ``max_fdr`` of its accounts, it has ``min_shared_accounts``
    of them and ``min_lift`` times chance, and their Poisson tail is at most ``max_p_value``,
    Bonferroni-corrected over the pairs (each pair on its own: a book's order pair far over chance is no
    licence for the small pairs of honest accounts beside it)."""
    from scipy.special import pdtrc  # lazy: scipy.special costs import time

    p_value = pdtrc(observed - 1, np.maximum(expected, 1e-12))
    out = (observed >= params.min_shared_accounts) & (observed >= params.min_lift * expected)
    out &= expected <= params.max_fdr * observed
    out &= p_value <= params.max_p_value / max(len(observed), 1)
    return np.asarray(out, dtype=bool)
