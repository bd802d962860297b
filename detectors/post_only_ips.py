"""A post's own addresses: proxies a seller used for one order and for nothing else in weeks.

A drip-fed order is delivered slowly by accounts that are used once, through a
handful of the seller's addresses rotated per engagement, each address carrying a
few of the order's accounts. When the seller keeps such addresses for one order,
nothing ties them to its other orders: no account is seen twice, no address
carries many accounts on the post at once (``ip_farm``'s per-post test), and no
caught account shares them (``detectors.seller_ips``). What the window and its
history do show is the address's whole life: several thin accounts, on this
post, and nothing else for weeks. A household's address carries its members'
own engagements on many posts over weeks, a carrier NAT's hundreds of users on
many posts, a one-time visitor's home address one account: none of them serves
one post with several accounts, and a post draws a handful of such addresses at
most by chance (two households whose members all engaged only that post). A seller
that keeps an address for a few orders makes it carry a few posts, a fresh account on
each: it is then the own address of each of them (``ip_post_only_posts``), where a
household's members, who engage their creators' posts again through their home, are
on several posts each.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

from detectors.base import Detection
from detectors.seller_ips import AddressCodes, address_codes
from detectors.spread import SpreadParams, is_creator_account
from features.arrays import codes, distinct

NAME = "ip_farm"


# a post's own addresses beyond chance, as ``post_only_addresses`` finds them: one row per (address, post),
# with its post's own addresses and their number expected by chance (a split platform's, found on its whole)
POST_ONLY_COLUMNS = ("platform", "ip", "post_id", "addresses", "expected")


def raise_post_only_ips(
    detections: list[Detection],
    engagements: pd.DataFrame,
    *,
    params: SpreadParams,
    creators: pd.Index | None = None,
    split: npt.NDArray[np.bool_] | None = None,
    window: pd.DataFrame | None = None,
    shared: AddressCodes | None = None,
) -> list[Detection]:
    """``detections`` with ``ip_farm`` raised on the engagements through a post's own addresses
    (``post_only_addresses``), to ``spread_weight``, with a group per post.

    ``split``: per engagement, its platform is split over shards (an address's other posts may lie in
    another shard): those rows are not counted here but raised by ``window``, the addresses
    ``post_only_addresses`` found on their whole platforms (``POST_ONLY_COLUMNS``). ``shared``: the
    engagements' ``address_codes``, when the caller took them already.
    """
    at = next((i for i, d in enumerate(detections) if d.name == NAME), None)
    if at is None:
        return detections
    if window is not None and len(window) and "platform" in engagements:
        # a platform the window lists had its addresses found whole: counted here too, each would come twice
        # (the shard plan's split platforms, ``split_platform_rows``, include it; a caller without the plan's)
        listed = window["platform"].astype("str").unique()
        joined = engagements["platform"].astype("str").isin(listed).to_numpy(dtype=bool)
        split = joined if split is None else split | joined
    rows = None if split is None else ~split
    found = post_only_addresses(engagements, params=params, creators=creators, rows=rows, shared=shared)
    if window is not None and len(window):
        found = pd.concat([found, window[list(POST_ONLY_COLUMNS)]], ignore_index=True)
    if not len(found):
        return detections
    hit, posts, addresses, expected = _through(engagements, found)
    detections = list(detections)
    detections[at] = _raised(detections[at], hit, posts, addresses, expected, params=params)
    return detections


def post_only_addresses(
    engagements: pd.DataFrame,
    *,
    params: SpreadParams,
    creators: pd.Index | None = None,
    rows: npt.NDArray[np.bool_] | None = None,
    shared: AddressCodes | None = None,
) -> pd.DataFrame:
    """The own addresses of the posts that have too many of them (``POST_ONLY_COLUMNS``).

    Counted per platform over ``engagements`` (the window and its history; ``rows``: only these). An
    address is a post's own when every engagement through it is on that post or on at most
    ``ip_post_only_posts`` in all, by at least ``ip_post_only_accounts`` distinct accounts per post, each
    on one post through it, thin (at most ``ip_light_posts`` distinct posts) and none a creator's
    (``creators``: as in ``detectors.seller_ips.spread_through_ips``; ``_own_addresses``). A post with
    at least ``ip_post_only_addresses`` such addresses, beyond chance (``_beyond_chance``), has them
    listed, when the engagements span ``ip_post_only_days`` or more. ``shared``: the engagements'
    ``address_codes``, when the caller took them already.
    """
    none = pd.DataFrame(
        {c: pd.Series(dtype=object if i < 3 else float) for i, c in enumerate(POST_ONLY_COLUMNS)}
    )
    if params.ip_post_only_addresses <= 0 or "ip" not in engagements:
        return none
    if not len(engagements) or _span_days(engagements) < params.ip_post_only_days:
        return none
    coded = address_codes(engagements) if shared is None else shared
    ips, users, posts = coded.ips, coded.users, coded.posts
    has = (ips >= 0) & (users >= 0) & (posts >= 0)
    if rows is not None:
        has &= rows
    creator = is_creator_account(engagements) if "creator_id" in engagements else np.zeros(len(has), bool)
    if creators is not None:
        creator |= engagements["user_id"].isin(creators).to_numpy(dtype=bool)
    thin = has & ~creator
    thin &= coded.posts_per_account[np.maximum(users, 0)] <= params.ip_light_posts
    # every row with an address and an account counted: the address's accounts are the shared codes'
    accounts = coded.accounts_per_ip if has.sum() == ((ips >= 0) & (users >= 0)).sum() else None
    own = _own_addresses(ips, users, posts, has=has, thin=thin, params=params, accounts=accounts)
    through = has & own[np.maximum(ips, 0)] if len(own) else np.zeros(len(has), dtype=bool)
    if not through.any():  # no own address: no post has any (``ip_post_only_addresses`` >= 1 here)
        return none
    addresses, expected, significant = _beyond_chance(
        engagements, posts, users, _pairs(ips, posts, through), thin=thin, params=params
    )
    if not significant.any():  # also a window without any address (``own`` is empty then)
        return none
    hit = through & significant[np.maximum(posts, 0)]
    if not hit.any():
        return none
    # one row per (address, post): an address may be the own address of a few posts
    _, first = np.unique(_pairs(ips, posts, hit), return_index=True)
    at = np.flatnonzero(hit)[first]
    out: dict[str, npt.NDArray[np.generic]] = {c: _strings(engagements, c, at) for c in POST_ONLY_COLUMNS[:3]}
    out["addresses"] = addresses[posts[at]].astype(np.float64)
    out["expected"] = expected[posts[at]]
    return pd.DataFrame(out)


def _strings(engagements: pd.DataFrame, column: str, at: npt.NDArray[np.int64]) -> npt.NDArray[np.object_]:
    """``column``'s values at rows ``at`` as strings ("" without the column)."""
    if column not in engagements:
        return np.full(len(at), "", dtype=object)
    return engagements[column].iloc[at].astype("str").to_numpy(dtype=object)


def _through(
    engagements: pd.DataFrame, found: pd.DataFrame
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """Per engagement, whether it went through one of ``found``'s addresses to its post; post codes; and
    per post code, its own addresses and their number expected by chance."""
    posts = codes(engagements["post_id"])
    n_posts = int(posts.max(initial=-1)) + 1
    addresses, expected = np.zeros(n_posts, dtype=np.int64), np.zeros(n_posts)
    hit = np.zeros(len(engagements), dtype=bool)
    # as counted: an engagement with an account and a post (``post_only_addresses``' ``has``)
    through = engagements["ip"].isin(found["ip"]).to_numpy(dtype=bool) & (posts >= 0)
    candidate = np.flatnonzero(through & engagements["user_id"].notna().to_numpy())
    if not len(candidate):
        return hit, posts, addresses, expected
    keys = list(POST_ONLY_COLUMNS[:3])
    rows = pd.DataFrame({c: _strings(engagements, c, candidate) for c in keys})
    matched = rows.merge(found.assign(row=np.arange(len(found))), on=keys, how="left")["row"].to_numpy()
    on = ~np.isnan(matched)
    hit[candidate[on]] = True
    of = matched[on].astype(np.int64)
    addresses[posts[candidate[on]]] = found["addresses"].to_numpy()[of].astype(np.int64)
    expected[posts[candidate[on]]] = found["expected"].to_numpy(dtype=np.float64)[of]
    return hit, posts, addresses, expected


def _span_days(engagements: pd.DataFrame) -> float:
    """Days from the first engagement of the window and its history to the last (0 without times)."""
    if "ts" not in engagements:
        return 0.0
    ts = pd.to_datetime(engagements["ts"], utc=True)
    span = ts.max() - ts.min()
    return 0.0 if pd.isna(span) else float(span / pd.Timedelta(days=1))


def _own_addresses(
    ips: npt.NDArray[np.int64],
    users: npt.NDArray[np.int64],
    posts: npt.NDArray[np.int64],
    *,
    has: npt.NDArray[np.bool_],
    thin: npt.NDArray[np.bool_],
    params: SpreadParams,
    accounts: npt.NDArray[np.int64] | None = None,
) -> npt.NDArray[np.bool_]:
    """Per address code: whether it is the own address of the posts it carried.

    It carried at most ``ip_post_only_posts`` posts, every account through it thin and not a creator's
    and on one post through it (a seller rotates a fresh account per engagement; a household's
    members engage their creators' posts week after week through their home), and at least
    ``ip_post_only_accounts`` distinct accounts per post. ``accounts``: per address code its distinct
    accounts over the ``has`` rows, when the caller has them (``AddressCodes.accounts_per_ip``).
    """
    n_ips, n_posts = int(ips.max(initial=-1)) + 1, int(posts.max(initial=-1)) + 1
    n_users = int(users.max(initial=-1)) + 1
    ip_accounts = accounts
    if ip_accounts is None:
        ip_accounts = np.bincount(
            distinct(ips[has] * n_users + users[has]) // max(n_users, 1), minlength=n_ips
        )
    # an address any of whose accounts has a record of its own, or is a creator's, is no post's own
    lived = np.bincount(ips[has & ~thin], minlength=n_ips)
    # its posts counted only where it may be one (carried a post, enough accounts for one, none lived)
    may = (lived == 0) & (ip_accounts >= max(params.ip_post_only_accounts, 1))
    counted = has & may[np.maximum(ips, 0)] if len(may) else has  # no address: no row counted
    ip_posts = np.bincount(
        distinct(ips[counted] * n_posts + posts[counted]) // max(n_posts, 1), minlength=n_ips
    )
    own = (
        (ip_posts >= 1)
        & (ip_posts <= params.ip_post_only_posts)
        & (ip_accounts >= params.ip_post_only_accounts * ip_posts)
        & (lived == 0)
    )
    # each account on one post through it: as many (account, post) pairs as accounts (counted on the
    # few candidate addresses only)
    rows = has & own[np.maximum(ips, 0)] if len(own) else np.zeros(len(has), dtype=bool)
    pair_values, pair_of_row = np.unique(ips[rows] * n_users + users[rows], return_inverse=True)
    triples = distinct(pair_of_row.astype(np.int64) * max(n_posts, 1) + posts[rows])
    user_posts = np.bincount(pair_values[triples // max(n_posts, 1)] // max(n_users, 1), minlength=n_ips)
    return own & (user_posts == ip_accounts)


def _pairs(
    ips: npt.NDArray[np.int64], posts: npt.NDArray[np.int64], rows: npt.NDArray[np.bool_]
) -> npt.NDArray[np.int64]:
    """Per row of ``rows``: its (address, post) pair as one code."""
    n_posts = int(posts.max(initial=-1)) + 1
    return ips[rows] * n_posts + posts[rows]


def _beyond_chance(
    engagements: pd.DataFrame,
    posts: npt.NDArray[np.int64],
    users: npt.NDArray[np.int64],
    pairs: npt.NDArray[np.int64],
    *,
    thin: npt.NDArray[np.bool_],
    params: SpreadParams,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    """Per post code: its own addresses, how many chance gives it, and whether it has too many.

    Chance is the platform's: its own addresses per thin account-post pair, times the post's thin
    accounts (a post's own addresses raise its platform's rate too, so a platform served by one seller
    alone hides it). A post needs ``ip_post_only_addresses`` and a Poisson tail of at most
    ``10**ip_post_only_log10_p``. With ``ip_post_only_found_out`` the rate leaves out the posts found,
    again until no post is added (one seller's orders do not hide another's post on the platform).
    """
    from scipy.stats import poisson  # imported on first use, in a detector thread

    n_posts, n_users = int(posts.max(initial=-1)) + 1, int(users.max(initial=-1)) + 1
    # ``pairs``: the (address, post) codes of the rows through an own address (``_pairs``)
    addresses = np.bincount(distinct(pairs) % max(n_posts, 1), minlength=n_posts)
    exposure = np.bincount(
        distinct(posts[thin] * n_users + users[thin]) // max(n_users, 1), minlength=n_posts
    )
    platform = np.zeros(n_posts, dtype=np.int64)
    if "platform" in engagements:
        platform[posts[posts >= 0]] = np.maximum(codes(engagements["platform"]), 0)[posts >= 0]
    found = np.zeros(n_posts, dtype=bool)
    while True:
        kept = ~found
        n_platforms = int(platform.max(initial=0)) + 1
        pairs_seen = np.bincount(platform[kept], weights=exposure[kept], minlength=n_platforms)
        rate = np.bincount(platform[kept], weights=addresses[kept], minlength=n_platforms) / np.maximum(
            pairs_seen, 1
        )
        expected = np.maximum(rate[platform] * exposure, 1e-9)
        log10_p = poisson.logsf(addresses - 1, expected) / np.log(10)
        beyond = (addresses >= params.ip_post_only_addresses) & (log10_p <= params.ip_post_only_log10_p)
        significant = found | beyond
        if not params.ip_post_only_found_out or not (significant & ~found).any():
            return addresses, expected, significant
        found = significant


def _raised(
    detection: Detection,
    hit: npt.NDArray[np.bool_],
    posts: npt.NDArray[np.int64],
    addresses: npt.NDArray[np.int64],
    expected: npt.NDArray[np.float64],
    *,
    params: SpreadParams,
) -> Detection:
    """``detection`` with ``hit`` rows raised to ``spread_weight``, grouped by post."""
    post_codes = np.unique(posts[hit])
    base = int(detection.groups["group_id"].max()) + 1 if len(detection.groups) else 0
    group_of_post = np.full(len(addresses), -1, dtype=np.int64)
    group_of_post[post_codes] = base + np.arange(len(post_codes))
    rows = np.flatnonzero(hit & (params.spread_weight > detection.event_score))
    score, group = detection.event_score.copy(), detection.event_group.astype(np.int64)
    score[rows] = params.spread_weight
    group[rows] = group_of_post[posts[rows]]
    accounts = np.bincount(posts[hit], minlength=len(addresses))
    added = pd.DataFrame(
        {
            "group_id": group_of_post[post_codes],
            "n_accounts": accounts[post_codes].astype(np.int64),
            "n_posts": 1,
            "evidence": [
                f"{NAME}: {a} addresses each carried {params.ip_post_only_accounts} or more thin accounts"
                f"{_posts(params)} and to nothing else in the window and its history ({e:.1f}"
                " expected by chance); an engagement through one of them"
                for a, e in zip(addresses[post_codes], expected[post_codes], strict=True)
            ],
        }
    )
    groups = pd.concat([detection.groups, added], ignore_index=True) if len(detection.groups) else added
    return Detection(detection.name, score, group, groups)


def _posts(params: SpreadParams) -> str:
    """Which posts an own address carried its accounts to, for the evidence sentence."""
    others = params.ip_post_only_posts - 1
    if others <= 0:
        return " to this post"
    return f" per post, a fresh account for each post, to this post and at most {others} others"
