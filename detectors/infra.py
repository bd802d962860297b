"""Shared infrastructure: accounts behind one device or IP that engage the same post together."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt
import pandas as pd

from detectors.base import Detection
from detectors.history import HISTORY_COLUMN, history_rows
from features.arrays import codes, distinct, sorted_inverse, stable_order


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
    # an audience community is in a value's reach when the value's account-post pairs there reach
    # this share of what spreading like everyone's over the window would put there: chance is
    # counted within the reach (a carrier NAT serves one region's audiences), and a stray pair in an
    # audience the value's accounts otherwise never meet does not widen it. A platform where the
    # value reaches no community counts whole (``_reach``)
    reach_share: float = 0.25
    # with history (rows marked ``detectors.history.HISTORY_COLUMN``), a (value, post) pair is also
    # judged on the window's rows alone, and is a farm when either judgment says so: a value's earlier
    # weeks add its pairs to its chance on every post, so a farm whose address worked harder in the
    # history than in the window is explained away there (history dev seed 59 ring 0.44 -> 0.012 at one
    # week). History then never weakens what the window alone shows (issue 13; docs/journal/session-21.md).
    # A shard of a window judges its window rows against the window's own statistics
    # (``detectors.chance``: ``WindowChance.ip_window``), as one process would. On since depth24 (session 23:
    # gate 6 holds, 1M + 3M history cost within noise, Spark agreement 100%)
    window_alone: bool = True


# joins an IP and a community label into one key of ``IpChance.pairs_per_key``
KEY_SEPARATOR = "\t"


@dataclass(frozen=True)
class PostCommunities:
    """Per row of a window: the audience community of its post, the reach chance is counted within.

    Labels are the platform and its community (``detectors.audiences``), so a key's accounts are
    expected on a post only as often as they engage that post's audience.
    """

    code: npt.NDArray[np.int64]  # per row: its community's code (-1: none)
    labels: pd.Index  # per code: the community's label (str)


@dataclass(frozen=True)
class IpChance:
    """What chance of shared infrastructure is measured against: account-post pairs per audience."""

    # per key ``value + KEY_SEPARATOR + community label`` (str): distinct account-post pairs behind
    # the value on that community's posts
    pairs_per_key: pd.Series
    # per community label (str): distinct account-post pairs of its posts
    pairs_per_community: pd.Series


def ip_chance(
    engagements: pd.DataFrame, *, column: str = "ip", communities: PostCommunities | None = None
) -> IpChance:
    """The window statistics ``shared_infrastructure`` measures chance against.

    Both are sums over posts, so a window split with each post in one part (a creator's
    posts never split) has them as the sums of its parts' (``detectors.chance``).
    """
    empty = pd.Series(dtype="int64", index=pd.Index([], dtype="str"))
    if column not in engagements or not len(engagements):
        return IpChance(empty, empty)
    keys, labels = _codes_and_labels(engagements[column])
    users, posts = codes(engagements["user_id"]), codes(engagements["post_id"])
    n_posts = int(posts.max()) + 1
    community, names = _post_communities(posts, n_posts, communities)
    pairs, observed = _key_post_accounts(keys, posts, users)
    found, at = np.unique((pairs // n_posts) * len(names) + community[pairs % n_posts], return_inverse=True)
    per_cell = np.bincount(at, weights=observed, minlength=len(found)).astype(np.int64)
    per_post = _distinct_count(posts, users, n_posts, int(users.max()) + 1)
    mass = np.bincount(community, weights=per_post, minlength=len(names))
    per_community = pd.Series(mass.astype(np.int64), index=pd.Index(names, dtype="str")).loc[lambda m: m > 0]
    return IpChance(pd.Series(per_cell, index=_cell_names(found, labels, names)), per_community)


def shared_infrastructure(
    engagements: pd.DataFrame,
    *,
    params: IpFarmParams,
    column: str = "ip",
    name: str = "ip_farm",
    chance: IpChance | None = None,
    communities: PostCommunities | None = None,
    window_chance: IpChance | None = None,
) -> Detection:
    """Events of accounts that share a ``column`` value and engage the same post far beyond chance.

    A carrier NAT puts hundreds of unrelated users behind one IP, and a household
    shares a device, so sharing alone proves little. What a farm shows is the
    concentration: many accounts of one device or IP on one post, when the
    account-post pairs behind that value would put only
    ``pairs_key,c x audience_post / pairs_c`` there by chance: the value's pairs on the posts of
    the post's audience community ``c`` (``communities``: platform and community, one for
    the whole window when None), spread over that community's posts like everyone's. A carrier
    NAT serves one region's audience: counted against the whole window, audiences its users
    never meet would dilute its chance on every post of its own.
    Pairs reaching ``min_accounts``,
    ``min_lift`` x that expectation and a Poisson tail below ``10**max_log10_p``
    are scored by lift, from ``min_score`` up by ``score_per_decade`` per tenfold lift.

    ``pairs_key,c`` and ``pairs_c`` are the window's (``ip_chance``): given ``chance``,
    a shard of a window judges its pairs against the whole window's, as one process would
    (``window_chance``: the window's own rows', without history's: ``IpFarmParams.window_alone``).
    """
    n = len(engagements)
    if column not in engagements or engagements[column].isna().all():
        return Detection.empty(name, n)
    keys, labels = _codes_and_labels(engagements[column])
    users = codes(engagements["user_id"])
    posts = codes(engagements["post_id"])
    has = keys >= 0
    n_posts = int(posts.max()) + 1
    community, names = _post_communities(posts, n_posts, communities)
    rows = _Rows(keys, posts, users, n_posts, labels, (community, names))
    farm_pairs, observed, lift = _farms(rows, params=params, chance=chance)
    window = _alone_rows(engagements, params=params, sharded=chance is not None, given=window_chance)
    if window is not None:
        alone = _farms(rows.subset(window), params=params, chance=window_chance)
        farm_pairs, observed, lift = _either(farm_pairs, observed, lift, *alone)
    if not len(farm_pairs):
        return Detection.empty(name, n)
    decades = np.log10(lift / params.min_lift)
    score_of_pair = np.clip(decades * params.score_per_decade + params.min_score, params.min_score, 1.0)
    event_pair = np.full(n, -1, dtype=np.int64)
    event_pair[has] = keys[has].astype(np.int64) * n_posts + posts[has]
    score, event_group = _farm_events(event_pair, farm_pairs, score_of_pair)
    first_rows = _first_row(posts, farm_pairs % n_posts)
    groups = _farm_groups(
        engagements["post_id"].iloc[first_rows].to_numpy(),
        observed,
        lift,
        name=name,
        what="device" if column == "device_id" else "IP",
    )
    return Detection(name, score, event_group, groups)


@dataclass(frozen=True)
class _Rows:
    """Per row of a window: its value, post and account codes, and its post's community
    (``_post_communities``); codes are the whole frame's, so a subset's pairs keep their numbers."""

    keys: npt.NDArray[np.int64]
    posts: npt.NDArray[np.int64]
    users: npt.NDArray[np.int64]
    n_posts: int
    labels: pd.Index
    post_communities: tuple[npt.NDArray[np.int64], npt.NDArray[np.str_]]

    def subset(self, rows: npt.NDArray[np.bool_]) -> _Rows:
        """The same codes for ``rows`` only."""
        return replace(self, keys=self.keys[rows], posts=self.posts[rows], users=self.users[rows])


def _farms(
    rows: _Rows, *, params: IpFarmParams, chance: IpChance | None
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """The farm pairs of ``rows`` (sorted ``key * n_posts + post``), their accounts and lifts."""
    empty = np.zeros(0, dtype=np.int64)
    if not (rows.keys >= 0).any():
        return empty, empty, np.zeros(0, dtype=np.float64)
    n_users = int(rows.users.max()) + 1
    accounts_per_post = _distinct_count(rows.posts, rows.users, rows.n_posts, n_users)
    pairs, observed = _key_post_accounts(rows.keys, rows.posts, rows.users, n_posts=rows.n_posts)
    expected = _expected_accounts(
        pairs, observed, accounts_per_post, rows.labels, rows.post_communities, params=params, chance=chance
    )
    lift, is_farm = _beyond_chance(observed, expected, params=params)
    return pairs[is_farm], observed[is_farm], lift[is_farm]


def _window_rows(engagements: pd.DataFrame) -> npt.NDArray[np.bool_] | None:
    """The window's rows when some rows are history (``HISTORY_COLUMN``), else None."""
    if HISTORY_COLUMN not in engagements:
        return None
    is_history = engagements[HISTORY_COLUMN].to_numpy(dtype=bool)
    return ~is_history if is_history.any() and not is_history.all() else None


def _alone_rows(
    engagements: pd.DataFrame, *, params: IpFarmParams, sharded: bool, given: IpChance | None
) -> npt.NDArray[np.bool_] | None:
    """The rows ``window_alone`` judges again (None: no second judgment): one process's window rows
    when some rows are history (``_window_rows``); a shard's window rows, all when it holds no history,
    when the window-alone statistics are ``given`` (the window has history, maybe in other shards)."""
    if not params.window_alone:
        return None
    if not sharded:
        return _window_rows(engagements)
    if given is None:
        return None
    is_history = history_rows(engagements)
    return np.ones(len(engagements), dtype=bool) if is_history is None else ~is_history


def _either(
    pairs: npt.NDArray[np.int64],
    observed: npt.NDArray[np.int64],
    lift: npt.NDArray[np.float64],
    alone_pairs: npt.NDArray[np.int64],
    alone_observed: npt.NDArray[np.int64],
    alone_lift: npt.NDArray[np.float64],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """The farm pairs of either judgment, sorted; a pair both found keeps the union's accounts and the
    higher lift."""
    every = np.concatenate([pairs, alone_pairs])
    found, first = np.unique(every, return_index=True)
    lifts = np.concatenate([lift, alone_lift])
    best = np.full(len(found), -np.inf)
    np.maximum.at(best, np.searchsorted(found, every), lifts)
    return found, np.concatenate([observed, alone_observed])[first], best


def _beyond_chance(
    observed: npt.NDArray[np.int64], expected: npt.NDArray[np.float64], *, params: IpFarmParams
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    """Per pair its lift over chance, and whether it is a farm: ``min_accounts``, ``min_lift`` and
    a Poisson tail below ``10**max_log10_p``."""
    from scipy.stats import poisson  # imported on first use, in a detector thread

    lift = observed / np.maximum(expected, 1e-9)
    log10_p = poisson.logsf(observed - 1, np.maximum(expected, 1e-9)) / np.log(10)
    is_farm = (observed >= params.min_accounts) & (lift >= params.min_lift) & (log10_p <= params.max_log10_p)
    return lift, is_farm


def _farm_events(
    event_pair: npt.NDArray[np.int64],
    farm_pairs: npt.NDArray[np.int64],
    score_of_pair: npt.NDArray[np.float64],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """Per event (its (key, post) pair, -1 without a key): the score and group of its farm pair, if any.

    ``farm_pairs`` are sorted; group ids are their positions."""
    where = np.clip(np.searchsorted(farm_pairs, event_pair), 0, len(farm_pairs) - 1)
    hit = (event_pair >= 0) & (farm_pairs[where] == event_pair)
    score = np.where(hit, score_of_pair[where], 0.0).astype(np.float64)
    return score, np.where(hit, where, -1).astype(np.int64)


def _farm_groups(
    post_ids: npt.NDArray[np.object_],
    accounts: npt.NDArray[np.int64],
    lift: npt.NDArray[np.float64],
    *,
    name: str,
    what: str,
) -> pd.DataFrame:
    """The groups frame of the farm pairs (one post each), with their evidence sentences."""
    groups = pd.DataFrame(
        {
            "group_id": np.arange(len(accounts), dtype=np.int64),
            "n_accounts": accounts.astype(np.int64),
            "n_posts": 1,
            "post_id": post_ids,
            "lift": lift,
        }
    )
    groups["evidence"] = [
        f"{name}: {a} accounts behind one {what} engaged post {p}, {x:.0f}x what chance predicts"
        for a, p, x in zip(groups["n_accounts"], groups["post_id"], groups["lift"], strict=True)
    ]
    return groups


def _expected_accounts(
    pairs: npt.NDArray[np.int64],
    observed: npt.NDArray[np.int64],
    accounts_per_post: npt.NDArray[np.int64],
    labels: pd.Index,
    post_communities: tuple[npt.NDArray[np.int64], npt.NDArray[np.str_]],
    *,
    params: IpFarmParams,
    chance: IpChance | None,
) -> npt.NDArray[np.float64]:
    """Per (key, post) pair (``key * n_posts + post``): the key's accounts chance puts on the post,
    ``pairs_key x accounts_post / pairs_reach`` (``_reach``; the window's from ``chance`` if given).

    ``post_communities``: per post code its community code, and each code's label.
    """
    n_posts = len(accounts_per_post)
    key_of_pair, post_of_pair = pairs // n_posts, pairs % n_posts
    community, names = post_communities
    if chance is None:
        cells, at = np.unique(key_of_pair * len(names) + community[post_of_pair], return_inverse=True)
        cell_pairs = np.bincount(at, weights=observed, minlength=len(cells)).astype(np.float64)
        mass = np.bincount(community, weights=accounts_per_post, minlength=len(names)).astype(np.float64)
    else:  # the whole window's, computed once (``ip_chance``) and joined into this shard
        names, community, cells, cell_pairs, mass = _joined_cells(chance, labels, names, community)
        at = np.searchsorted(cells, key_of_pair * len(names) + community[post_of_pair])
    key_pairs, scope = _reach(cells // len(names), cells % len(names), cell_pairs, mass, names, params=params)
    return np.asarray(key_pairs[at] * accounts_per_post[post_of_pair] / np.maximum(scope[at], 1.0))


def _post_communities(
    posts: npt.NDArray[np.int64], n_posts: int, communities: PostCommunities | None
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.str_]]:
    """Per post code its community code, and each code's label (one community "" when None)."""
    if communities is None:
        return np.zeros(n_posts, dtype=np.int64), np.asarray([""])
    names = np.asarray(communities.labels, dtype=object).astype(str)
    community = np.zeros(n_posts, dtype=np.int64)
    has = (posts >= 0) & (communities.code >= 0)
    community[posts[has]] = communities.code[has]
    if not len(names):
        names = np.asarray([""])
    return community, names


def _cell_names(cells: npt.NDArray[np.int64], labels: pd.Index, names: npt.NDArray[np.str_]) -> pd.Index:
    """The ``IpChance.pairs_per_key`` key of each (key code x len(names) + community code) cell."""
    key_names = np.asarray(labels, dtype=object).astype(str)[cells // len(names)]
    return pd.Index(
        np.char.add(np.char.add(key_names, KEY_SEPARATOR), names[cells % len(names)]), dtype="str"
    )


def _reach(
    cell_key: npt.NDArray[np.int64],
    cell_community: npt.NDArray[np.int64],
    cell_pairs: npt.NDArray[np.float64],
    mass: npt.NDArray[np.float64],
    names: npt.NDArray[np.str_],
    *,
    params: IpFarmParams,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Per (key, community) cell: the key's account-post pairs, and the pairs of the posts in its reach.

    The reach is, on each platform where the key's pairs reach ``reach_share`` of what spreading
    over the window like everyone's would put in some community, those communities; every
    platform where they reach none, whole (its audiences say nothing of where the key would go);
    and always the cell's own community.
    """
    n_keys = int(cell_key.max(initial=-1)) + 1
    key_pairs = np.bincount(cell_key, weights=cell_pairs, minlength=n_keys)
    total = max(float(mass.sum()), 1.0)
    reached = cell_pairs >= params.reach_share * key_pairs[cell_key] * mass[cell_community] / total
    reach = np.bincount(cell_key, weights=mass[cell_community] * reached, minlength=n_keys)
    platform = np.unique(np.char.rpartition(names, "/")[:, 0], return_inverse=True)[1].astype(np.int64)
    platform_mass = np.bincount(platform, weights=mass)
    touched = distinct(cell_key[reached] * len(platform_mass) + platform[cell_community[reached]])
    touched_mass = np.bincount(
        touched // len(platform_mass), weights=platform_mass[touched % len(platform_mass)], minlength=n_keys
    )
    cell_touched = np.isin(cell_key * len(platform_mass) + platform[cell_community], touched)
    own = np.where(~reached & cell_touched, mass[cell_community], 0.0)
    scope = reach[cell_key] + (mass.sum() - touched_mass)[cell_key] + own
    return np.asarray(key_pairs[cell_key], dtype=np.float64), np.asarray(scope, dtype=np.float64)


def _joined_cells(
    chance: IpChance, labels: pd.Index, names: npt.NDArray[np.str_], community: npt.NDArray[np.int64]
) -> tuple[
    npt.NDArray[np.str_],
    npt.NDArray[np.int64],
    npt.NDArray[np.int64],
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
]:
    """The window's (key, community) cells of this shard's keys, from ``chance``.

    Returns every community's label (the shard's first), the shard's post communities in that
    numbering, the sorted cells (``key code x communities + community code``), their pairs and
    each community's pairs.
    """
    every = pd.Index(names, dtype="str").append(
        pd.Index(chance.pairs_per_community.index, dtype="str").difference(pd.Index(names, dtype="str"))
    )
    split = chance.pairs_per_key.index.str.split(KEY_SEPARATOR, n=1, expand=True)
    key = pd.Index(labels.astype("str")).get_indexer(split.get_level_values(0))
    where = every.get_indexer(split.get_level_values(1))
    ok = (key >= 0) & (where >= 0)
    cell = key[ok].astype(np.int64) * len(every) + where[ok]
    order = stable_order(cell)
    pairs = chance.pairs_per_key.to_numpy(dtype=np.float64)[ok][order]
    mass = chance.pairs_per_community.reindex(every, fill_value=0).to_numpy(dtype=np.float64)
    return np.asarray(every, dtype=str), community, cell[order], pairs, mass


def _codes_and_labels(values: pd.Series) -> tuple[npt.NDArray[np.int64], pd.Index]:
    """Integer codes of a column (``features.arrays.codes``) and the value of each code."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        return codes(values), values.cat.categories
    found, labels = pd.factorize(values)
    return np.asarray(found, dtype=np.int64), pd.Index(labels)


def _key_post_accounts(
    keys: npt.NDArray[np.int64],
    posts: npt.NDArray[np.int64],
    users: npt.NDArray[np.int64],
    *,
    n_posts: int | None = None,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """The (key, post) pairs as ``key * n_posts + post`` (``n_posts``: the codes' count, else the
    highest post code's + 1), and the distinct accounts of each."""
    has = keys >= 0
    n_users = int(users.max()) + 1
    n_posts = int(posts.max()) + 1 if n_posts is None else n_posts
    pair = keys[has].astype(np.int64) * n_posts + posts[has]
    triple = distinct(pair * n_users + users[has])
    # the distinct triples are sorted, so are their pairs: counted by their runs, without a sort
    pairs, run = sorted_inverse(triple // n_users)
    return pairs, np.bincount(run, minlength=len(pairs)).astype(np.int64)


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
