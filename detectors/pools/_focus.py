"""Members by their focus on a book's orders: accounts whose every light post is one of the book's orders."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from detectors.pools._params import PoolParams
from detectors.pools._search import _Light
from features.arrays import distinct, distinct_counts, in_sorted


def _focus_members(
    light: _Light,
    book_pool: npt.NDArray[np.int64],
    found: npt.NDArray[np.int64],
    n_pools: int,
    unit_community: npt.NDArray[np.int64],
    *,
    params: PoolParams,
) -> npt.NDArray[np.int64]:
    """Sorted member keys ``user * (n_pools + 1) + pool`` (as ``_members``) of the light accounts outside
    a book whose every light post is one of the book's orders, on ``min_creators`` creator units or more,
    where chance explains at most ``book_focus_max_fdr`` of them. ``book_pool``: per post its book;
    ``found``: the books' accounts so far (keys).

    Membership counts creator units: an account of two units both in a book that is most of its
    community is what chance predicts. But a seller sends its accounts to orders, a few bought posts of
    its clients, and an account it keeps for orders engages nothing else. Chance for an honest account
    of the same shape (its units' communities, its posts in each) lands each of its units on a unit of
    the book as the unit's share of its community's light engagement says, and each post there on the
    book's orders as their share of the unit's (``_orders_share``, ``_chance``), by accounts of no book:
    the accounts on the orders alone are left out of that engagement, then only those taken (rounds, as
    ``_members``'); left in, a seller's accounts explain themselves.
    """
    users = light.pair_user
    n_users = int(users.max()) + 1 if len(users) else 0
    n_units = int(light.unit.max()) + 1
    cells, per_unit = distinct_counts(users * n_units + light.unit[light.pair_post])
    n_posts = np.bincount(users, minlength=n_users)
    n_user_units = np.bincount(cells // n_units, minlength=n_users)
    tested = n_user_units >= params.min_creators
    crowd = _shares(light, ~in_sorted(users, distinct(found // (n_pools + 1))))[0]
    out = []
    for pool in range(n_pools):
        on_book = book_pool == pool
        mine = in_sorted(np.arange(n_users) * (n_pools + 1) + pool, found)
        on = np.bincount(users, weights=on_book[light.pair_post], minlength=n_users)
        left_out = mine | (tested & (on == n_posts))
        orders = _orders_of(light, on_book, crowd, mine, params=params)
        taken = np.zeros(0, dtype=np.int64)
        for _ in range(params.max_member_rounds):
            share, weight = _orders_share(light, orders, left_out, unit_community)
            p = _chance(cells, per_unit, n_users, n_units, share, weight, unit_community[cells % n_units])
            hit = (
                tested
                & ~mine
                & (np.bincount(users, weights=orders[light.pair_post], minlength=n_users) == n_posts)
            )
            now = _focused(np.flatnonzero(hit), p[hit], p[tested & ~mine], params=params)
            if np.array_equal(now, taken):
                break
            taken = now
            left_out = mine.copy()
            left_out[taken] = True
        out.append(taken * (n_pools + 1) + pool)
    return distinct(np.concatenate(out)) if out else np.zeros(0, dtype=np.int64)


def _orders_of(
    light: _Light,
    on_book: npt.NDArray[np.bool_],
    crowd: npt.NDArray[np.float64],
    mine: npt.NDArray[np.bool_],
    *,
    params: PoolParams,
) -> npt.NDArray[np.bool_]:
    """Per post: whether it is one of the book's orders (``on_book``). By default the book's posts not
    crowded by the engagement of accounts outside every book (``crowd``, a post's share of its unit's); with
    ``book_focus_order_min_found_share`` also the book's posts whose light engagers are at least that share
    the book's accounts so far (``mine``, per account)."""
    quiet = on_book & (crowd <= params.book_focus_max_post_share)
    if params.book_focus_order_min_found_share <= 0:
        return quiet
    engagers = np.bincount(light.pair_post, minlength=len(on_book)).astype(np.float64)
    of_book = np.bincount(light.pair_post, weights=mine[light.pair_user], minlength=len(on_book))
    return quiet | (
        on_book & (of_book >= params.book_focus_order_min_found_share * np.maximum(engagers, 1.0))
    )


def _shares(
    light: _Light, counted: npt.NDArray[np.bool_]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Over the ``counted`` light pairs: per post its share of its creator unit's engagement, per unit
    that engagement."""
    count = np.bincount(light.pair_post[counted], minlength=len(light.unit)).astype(np.float64)
    unit_count = np.bincount(light.unit, weights=count, minlength=int(light.unit.max()) + 1).astype(
        np.float64
    )
    return count / np.maximum(unit_count[light.unit], 1.0), unit_count


def _orders_share(
    light: _Light,
    orders: npt.NDArray[np.bool_],
    left_out: npt.NDArray[np.bool_],
    unit_community: npt.NDArray[np.int64],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Counted over the light engagement of accounts not ``left_out`` (per account): per unit, the share of
    its engagement the ``orders`` draw, and its share of its community's."""
    post_share, unit_count = _shares(light, ~left_out[light.pair_user])
    share = np.bincount(light.unit[orders], weights=post_share[orders], minlength=len(unit_count))
    community = np.bincount(unit_community, weights=unit_count)
    return share.astype(np.float64), unit_count / np.maximum(community[unit_community], 1.0)


def _chance(
    cells: npt.NDArray[np.int64],
    per_unit: npt.NDArray[np.int64],
    n_users: int,
    n_units: int,
    share: npt.NDArray[np.float64],
    weight: npt.NDArray[np.float64],
    cell_community: npt.NDArray[np.int64],
) -> npt.NDArray[np.float64]:
    """Per account: the chance that an honest account of its shape has every post on the orders, the
    product over its (unit, posts there) cells of the sum over its unit's community of each unit's share
    of the community times the orders' share of the unit to the power of the posts."""
    n_communities = int(cell_community.max()) + 1 if len(cell_community) else 1
    top = int(per_unit.max()) + 1 if len(per_unit) else 1
    unit_community = np.zeros(n_units, dtype=np.int64)
    unit_community[cells % n_units] = cell_community
    powers = share[:, None] ** np.arange(top)[None, :] * weight[:, None] * (share[:, None] > 0)
    by_community = np.zeros((n_communities, top))
    np.add.at(by_community, unit_community, powers)
    cell_p = np.clip(by_community[cell_community, per_unit], 1e-300, 1.0)
    return np.exp(np.bincount(cells // n_units, weights=np.log(cell_p), minlength=n_users))


def _focused(
    accounts: npt.NDArray[np.int64],
    p: npt.NDArray[np.float64],
    tested: npt.NDArray[np.float64],
    *,
    params: PoolParams,
) -> npt.NDArray[np.int64]:
    """The ``accounts`` (probability ``p`` each) taken least likely first, as many as possible while
    chance explains at most ``book_focus_max_fdr`` of them, and at least ``min_accounts``: taking every
    account at most as likely as a threshold, an honest account is taken with its own probability when
    that is under the threshold, so chance expects the sum of the ``tested`` probabilities up to it."""
    if len(accounts) < params.min_accounts:
        return np.zeros(0, dtype=np.int64)
    order = np.argsort(p, kind="stable")
    ranked = np.sort(tested)
    cumulative = np.cumsum(ranked)
    at = np.searchsorted(ranked, p[order], side="right")
    expected = np.where(at > 0, cumulative[np.maximum(at - 1, 0)], 0.0)
    ok = np.flatnonzero(expected <= params.book_focus_max_fdr * np.arange(1, len(order) + 1))
    if not len(ok) or ok[-1] + 1 < params.min_accounts:
        return np.zeros(0, dtype=np.int64)
    return np.sort(accounts[order[: ok[-1] + 1]])
