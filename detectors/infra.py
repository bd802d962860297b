"""Shared infrastructure: accounts behind one device or IP that engage the same post together."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from detectors.base import Detection
from features.arrays import codes, distinct, distinct_counts


@dataclass(frozen=True)
class IpFarmParams:
    """Knobs of the shared-infrastructure detector (one device or IP, many accounts, one post)."""

    # accounts behind one value on one post below this are never a farm
    min_accounts: int = 5
    # observed accounts must reach this multiple of what chance predicts
    min_lift: float = 8.0
    # log10 of the Poisson tail must be at most this (-8: one in a hundred million)
    max_log10_p: float = -8.0
    # event score of a farm just at ``min_lift``
    min_score: float = 0.7
    # score added per tenfold lift beyond ``min_lift`` (capped at 1)
    score_per_decade: float = 0.5


@dataclass(frozen=True)
class IpChance:
    """What chance of shared infrastructure is measured against: the window's account-post pairs."""

    pairs_per_key: pd.Series  # per value of the column (str): distinct account-post pairs behind it
    pairs: int  # distinct account-post pairs of the window


def ip_chance(engagements: pd.DataFrame, *, column: str = "ip") -> IpChance:
    """The window statistics ``shared_infrastructure`` measures chance against.

    Both are sums over posts, so a window split with each post in one part (a creator's
    posts never split) has them as the sums of its parts' (``detectors.chance``).
    """
    if column not in engagements or not len(engagements):
        return IpChance(pd.Series(dtype="int64", index=pd.Index([], dtype="str")), 0)
    keys, labels = _codes_and_labels(engagements[column])
    users, posts = codes(engagements["user_id"]), codes(engagements["post_id"])
    n_users, n_posts = int(users.max()) + 1, int(posts.max()) + 1
    pairs, observed = _key_post_accounts(keys, posts, users)
    per_key = _pairs_per_key(pairs // n_posts, observed, n_keys=len(labels)).astype(np.int64)
    index = pd.Index(np.asarray(labels, dtype=object).astype(str), dtype="str")
    total = int(_distinct_count(posts, users, n_posts, n_users).sum())
    return IpChance(pd.Series(per_key, index=index).loc[lambda c: c > 0], total)


def shared_infrastructure(
    engagements: pd.DataFrame,
    *,
    params: IpFarmParams,
    column: str = "ip",
    name: str = "ip_farm",
    chance: IpChance | None = None,
) -> Detection:
    """Events of accounts that share a ``column`` value and engage the same post far beyond chance.

    A carrier NAT puts hundreds of unrelated users behind one IP, and a household
    shares a device, so sharing alone proves little. What a farm shows is the
    concentration: many accounts of one device or IP on one post, when the
    account-post pairs behind that value, spread over posts like everyone's,
    would put only ``pairs_key x audience_post / pairs_all`` there by chance.
    Pairs reaching ``min_accounts``,
    ``min_lift`` x that expectation and a Poisson tail below ``10**max_log10_p``
    are scored by lift, from ``min_score`` up by ``score_per_decade`` per tenfold lift.

    ``pairs_key`` and ``pairs_all`` are the window's (``ip_chance``): given ``chance``,
    a shard of a window judges its pairs against the whole window's, as one process would.
    """
    from scipy.stats import poisson  # imported on first use, in a detector thread

    n = len(engagements)
    if column not in engagements or engagements[column].isna().all():
        return Detection.empty(name, n)
    keys, labels = _codes_and_labels(engagements[column])
    users = codes(engagements["user_id"])
    posts = codes(engagements["post_id"])
    has = keys >= 0
    n_users = int(users.max()) + 1
    n_posts = int(posts.max()) + 1
    accounts_per_post = _distinct_count(posts, users, n_posts, n_users)
    pair = keys[has].astype(np.int64) * n_posts + posts[has]
    pairs, observed = _key_post_accounts(keys, posts, users)
    key_of_pair, post_of_pair = pairs // n_posts, pairs % n_posts
    # a key's account-post pairs spread over posts like everyone's do
    if chance is None:
        mass_per_key = _pairs_per_key(key_of_pair, observed, n_keys=len(labels))
        total_mass = max(int(accounts_per_post.sum()), 1)
    else:  # the whole window's, computed once (``ip_chance``) and joined into this shard
        mass_per_key = chance.pairs_per_key.reindex(labels, fill_value=0).to_numpy(dtype=np.float64)
        total_mass = max(chance.pairs, 1)
    expected = mass_per_key[key_of_pair] * accounts_per_post[post_of_pair] / total_mass
    lift = observed / np.maximum(expected, 1e-9)
    log10_p = poisson.logsf(observed - 1, np.maximum(expected, 1e-9)) / np.log(10)
    is_farm = (observed >= params.min_accounts) & (lift >= params.min_lift) & (log10_p <= params.max_log10_p)
    if not is_farm.any():
        return Detection.empty(name, n)
    farm_pairs = pairs[is_farm]
    group_ids = np.arange(len(farm_pairs), dtype=np.int64)
    decades = np.log10(lift[is_farm] / params.min_lift)
    score_of_pair = np.clip(decades * params.score_per_decade + params.min_score, params.min_score, 1.0)
    event_pair = np.full(n, -1, dtype=np.int64)
    event_pair[has] = pair
    where = np.searchsorted(farm_pairs, event_pair)
    where = np.clip(where, 0, len(farm_pairs) - 1)
    hit = (event_pair >= 0) & (farm_pairs[where] == event_pair)
    score = np.where(hit, score_of_pair[where], 0.0)
    event_group = np.where(hit, group_ids[where], -1)
    what = "device" if column == "device_id" else "IP"
    groups = pd.DataFrame(
        {
            "group_id": group_ids,
            "n_accounts": observed[is_farm].astype(np.int64),
            "n_posts": 1,
            "post_id": engagements["post_id"].iloc[_first_row(posts, post_of_pair[is_farm])].to_numpy(),
            "lift": lift[is_farm],
        }
    )
    groups["evidence"] = [
        f"{name}: {a} accounts behind one {what} engaged post {p}, {x:.0f}x what chance predicts"
        for a, p, x in zip(groups["n_accounts"], groups["post_id"], groups["lift"], strict=True)
    ]
    return Detection(name, score.astype(np.float64), event_group.astype(np.int64), groups)


def _codes_and_labels(values: pd.Series) -> tuple[npt.NDArray[np.int64], pd.Index]:
    """Integer codes of a column (``features.arrays.codes``) and the value of each code."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        return codes(values), values.cat.categories
    found, labels = pd.factorize(values)
    return np.asarray(found, dtype=np.int64), pd.Index(labels)


def _key_post_accounts(
    keys: npt.NDArray[np.int64], posts: npt.NDArray[np.int64], users: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """The (key, post) pairs as ``key * n_posts + post``, and the distinct accounts of each."""
    has = keys >= 0
    n_users, n_posts = int(users.max()) + 1, int(posts.max()) + 1
    pair = keys[has].astype(np.int64) * n_posts + posts[has]
    triple = distinct(pair * n_users + users[has])
    return distinct_counts(triple // n_users)


def _pairs_per_key(
    key_of_pair: npt.NDArray[np.int64], observed: npt.NDArray[np.int64], *, n_keys: int
) -> npt.NDArray[np.float64]:
    """Per key code: its account-post pairs (the sum of its pairs' distinct accounts)."""
    return np.asarray(np.bincount(key_of_pair, weights=observed, minlength=n_keys), dtype=np.float64)


def _distinct_count(
    keys: npt.NDArray[np.intp], users: npt.NDArray[np.intp], n_keys: int, n_users: int
) -> npt.NDArray[np.int64]:
    """Per key: how many distinct users."""
    pairs = distinct(keys.astype(np.int64) * n_users + users)
    return np.bincount(pairs // n_users, minlength=n_keys).astype(np.int64)


def _first_row(row_codes: npt.NDArray[np.int64], wanted: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """For each wanted code, the first row that carries it."""
    first = np.full(int(row_codes.max()) + 1, -1, dtype=np.int64)
    rows = np.arange(len(row_codes), dtype=np.int64)
    first[row_codes[::-1]] = rows[::-1]
    return first[wanted]
