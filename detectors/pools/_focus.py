"""Members by their focus on a book's orders: accounts whose every light post is one of the book's orders."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

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
    book's orders as their share of the unit's (``_orders_share``, ``_Shapes.chance``), by accounts of no
    book: the accounts on the orders alone are left out of that engagement, then only those taken (rounds, as
    ``_members``'); left in, a seller's accounts explain themselves.
    """
    # accounts numbered among the light pairs' (in order): every count below is per account of a pair
    account = distinct(light.pair_user)
    rank = np.zeros(int(account.max(initial=-1)) + 1, dtype=np.int64)
    rank[account] = np.arange(len(account))
    users = rank[light.pair_user]
    n_units = int(light.unit.max()) + 1
    cells, per_unit = distinct_counts(users * n_units + light.unit[light.pair_post])
    n_posts = np.bincount(users, minlength=len(account))
    tested = np.bincount(cells // n_units, minlength=len(account)) >= params.min_creators
    shapes = functools.cache(lambda: _Shapes.of(cells, per_unit, n_units, unit_community, tested))
    found_user, found_pool = np.divmod(found, n_pools + 1)
    crowd = _shares(light, ~in_sorted(light.pair_user, distinct(found_user)))[0]
    mine = np.zeros((n_pools + 1, len(account)), dtype=bool)
    known = in_sorted(found_user, account)
    mine[found_pool[known], rank[found_user[known]]] = True
    orders = [
        _orders_of(light, book_pool == pool, crowd, mine[pool][users], params=params)
        for pool in range(n_pools)
    ]
    # per account and book: its light posts on the book, and on the book's orders
    is_order = np.any(orders, axis=0) if orders else np.zeros(len(book_pool), dtype=bool)
    on, on_orders = (
        _per_book(users, np.where(chosen, book_pool, -1)[light.pair_post], n_pools, len(account))
        for chosen in (book_pool >= 0, is_order)
    )
    out = []
    for pool in range(n_pools):
        hit = tested & ~mine[pool] & (on_orders[pool] == n_posts)
        left_out = mine[pool] | (tested & (on[pool] == n_posts))
        taken = _rounds(light, users, orders[pool], mine[pool], left_out, hit, shapes, params=params)
        out.append(account[taken] * (n_pools + 1) + pool)
    return distinct(np.concatenate(out)) if out else np.zeros(0, dtype=np.int64)


def _per_book(
    users: npt.NDArray[np.int64], pair_book: npt.NDArray[np.int64], n_pools: int, n_users: int
) -> npt.NDArray[np.int64]:
    """Per book and account (``n_pools`` x ``n_users``): the account's light pairs on the book
    (``pair_book`` per pair, -1: none)."""
    counted = pair_book >= 0
    cells = pair_book[counted] * n_users + users[counted]
    return np.bincount(cells, minlength=n_pools * n_users).reshape(n_pools, n_users)


def _rounds(
    light: _Light,
    users: npt.NDArray[np.int64],
    orders: npt.NDArray[np.bool_],
    mine: npt.NDArray[np.bool_],
    left_out: npt.NDArray[np.bool_],
    hit: npt.NDArray[np.bool_],
    shapes: Callable[[], _Shapes],
    *,
    params: PoolParams,
) -> npt.NDArray[np.int64]:
    """The accounts taken for one book (``_focus_members``; accounts numbered among the light pairs',
    ``users`` per pair): chance counted without the ``left_out`` accounts, then without the book's
    (``mine``) and those taken, until the taken stay the same; ``shapes`` (built once, when some
    book has enough accounts to take) what chance is counted for."""
    taken = np.zeros(0, dtype=np.int64)
    if np.count_nonzero(hit) < params.min_accounts:
        # too few to take (``_focused``): no chance to count
        return taken
    counted = shapes()
    at_risk = counted.tested & ~mine
    for _ in range(params.max_member_rounds):
        share, weight = _orders_share(light, orders, left_out[users], counted.unit_community)
        p = counted.chance(share, weight)
        now = _focused(np.flatnonzero(hit), p[hit], p[at_risk], params=params)
        if np.array_equal(now, taken):
            break
        taken = now
        left_out = mine.copy()
        left_out[taken] = True
    return taken


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
    the book's accounts so far (``mine``, per light pair: its account is one)."""
    quiet = on_book & (crowd <= params.book_focus_max_post_share)
    if params.book_focus_order_min_found_share <= 0:
        return quiet
    engagers = np.bincount(light.pair_post, minlength=len(on_book)).astype(np.float64)
    of_book = np.bincount(light.pair_post, weights=mine, minlength=len(on_book))
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
    """Counted over the light pairs not ``left_out`` (per pair: its account is left out): per unit, the
    share of its engagement the ``orders`` draw, and its share of its community's."""
    post_share, unit_count = _shares(light, ~left_out)
    share = np.bincount(light.unit[orders], weights=post_share[orders], minlength=len(unit_count))
    community = np.bincount(unit_community, weights=unit_count)
    return share.astype(np.float64), unit_count / np.maximum(community[unit_community], 1.0)


@dataclass(frozen=True)
class _Shapes:
    """The tested accounts' shapes ``_focus_members`` measures chance for: each (account, unit) cell
    with its posts there and its unit's community, numbered among the light pairs' accounts."""

    tested: npt.NDArray[np.bool_]
    # per unit its community (every unit of the light pairs)
    unit_community: npt.NDArray[np.int64]
    # per unit the community its chance is summed in: as the cells name it, 0 for a unit of no cell
    summed_in: npt.NDArray[np.int64]
    n_communities: int
    top: int
    # the tested accounts' cells: account, posts there, the unit's community
    cell_user: npt.NDArray[np.int64]
    cell_posts: npt.NDArray[np.int64]
    cell_community: npt.NDArray[np.int64]

    @classmethod
    def of(
        cls,
        cells: npt.NDArray[np.int64],
        per_unit: npt.NDArray[np.int64],
        n_units: int,
        unit_community: npt.NDArray[np.int64],
        tested: npt.NDArray[np.bool_],
    ) -> _Shapes:
        """From the sorted cells ``user * n_units + unit`` and the posts in each (``distinct_counts``)."""
        cell_user, cell_unit = np.divmod(cells, n_units)
        cell_community = unit_community[cell_unit]
        summed_in = np.zeros(n_units, dtype=np.int64)
        summed_in[cell_unit] = cell_community
        keep = tested[cell_user]
        return cls(
            tested,
            unit_community,
            summed_in,
            int(cell_community.max()) + 1 if len(cell_community) else 1,
            int(per_unit.max()) + 1 if len(per_unit) else 1,
            cell_user[keep],
            per_unit[keep],
            cell_community[keep],
        )

    def chance(
        self, share: npt.NDArray[np.float64], weight: npt.NDArray[np.float64]
    ) -> npt.NDArray[np.float64]:
        """Per tested account (the others' are no chance: 1): the chance that an honest account of its
        shape has every post on the orders, the product over its (unit, posts there) cells of the sum over
        its unit's community of each unit's share of the community (``weight``) times the orders' share of
        the unit (``share``) to the power of the posts."""
        powers = share[:, None] ** np.arange(self.top)[None, :] * weight[:, None] * (share[:, None] > 0)
        by_community = np.zeros((self.n_communities, self.top))
        np.add.at(by_community, self.summed_in, powers)
        cell_p = np.clip(by_community[self.cell_community, self.cell_posts], 1e-300, 1.0)
        return np.exp(np.bincount(self.cell_user, weights=np.log(cell_p), minlength=len(self.tested)))


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
