"""A seller's orders across one studio's creators: the studio's served posts counted by creator."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import pandas as pd

from detectors.audiences import Audiences
from detectors.pools._search import _Light
from features.arrays import codes, distinct

if TYPE_CHECKING:
    from detectors.pools._chance import PoolChance

_Found = Callable[[_Light, Audiences], tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]]


def _post_creators(
    engagements: pd.DataFrame, posts: npt.NDArray[np.int64], ok: npt.NDArray[np.bool_], n_posts: int
) -> npt.NDArray[np.int64]:
    """Per post code: the creator code of its first row (-1 without ``creator_id``)."""
    if "creator_id" not in engagements:
        return np.full(n_posts, -1, dtype=np.int64)
    rows = np.flatnonzero(ok)
    first = np.zeros(n_posts, dtype=np.int64)
    first[posts[rows][::-1]] = rows[::-1]
    return codes(engagements["creator_id"])[first]


@dataclass(frozen=True)
class StudioSplit:
    """A platform's studio posts that its search pools serve, counted by creator (``_studio_split``):
    found once on the whole platform, so that a shard of it (``PoolChance.studio``) splits the same
    posts and keeps the same accounts as one process does."""

    posts: pd.Index  # the split posts' ids (str)
    accounts: pd.Index  # the accounts whose events found only with the split are kept (user_id, str)
    # the platform's chance model with the split audiences (its ``audiences``: the split ones)
    chance: PoolChance


@dataclass(frozen=True)
class _Split:
    """The split of one window (or shard) of a platform, per its post and account codes."""

    posts: npt.NDArray[np.bool_]  # per post: split
    audiences: Audiences  # the audiences with the split posts in units of their own
    keep: npt.NDArray[np.bool_]  # per account: its events found only with the split are kept
    user_units: npt.NDArray[np.int64] | None = None  # per account: its units on the split platform

    def light(self, light: _Light, post_ids: pd.Index) -> _Light:
        """``light`` with the split units (and, on a shard, the split platform's units per account)."""
        unit = self.audiences.units(post_ids)
        return light.with_units(unit, self.user_units)


def _studio_split(
    light: _Light,
    audiences: Audiences,
    post_ids: pd.Index,
    post_creator: npt.NDArray[np.int64],
    pooled: npt.NDArray[np.bool_],
) -> _Split | None:
    """The split of a whole platform's window (None: no search pool holds a studio's post).

    A studio's creators are one unit (its fans engaging several of them is its audience), so a seller's
    book that serves several creators of one studio has no cross-unit co-engagement there: its accounts
    whose light posts all lie on the studio look like its fans. The search's pools (``pooled``: the posts
    a pool of either resolution holds, members or none) show where a seller served a studio: such a post
    of a unit of several creators counts as its creator's unit. Orders and fans arise differently: an
    order sends the same accounts to the bought posts, and a book's accounts go nowhere else in the
    studio; a fan spreads over its own choice of the studio's posts, in proportion to each post's crowd,
    and the served posts are a few of many. So an account with a light post of the studio that no pool
    holds is the studio's fan and is not kept, nor is an account on one served creator of a studio (the
    split leaves its count of units as it was: ``_across``)."""
    split = _served_studio_posts(light.unit, post_creator, pooled)
    if not split.any():
        return None
    split_audiences = _split(audiences, post_ids, light.unit, post_creator, split)
    keep = ~_fans(light, split) & _across(light, split_audiences.units(post_ids), split)
    return _Split(split, split_audiences, keep)


def _given_split(studio: StudioSplit, post_ids: pd.Index, user_names: pd.Index) -> _Split:
    """A shard's ``_Split`` from its platform's (``StudioSplit``); ``user_names`` per account code."""
    names = user_names.astype("str")
    units = studio.chance.accounts["units"].reindex(names).fillna(0).to_numpy(np.int64)
    return _Split(
        np.asarray(post_ids.astype("str").isin(studio.posts), dtype=bool),
        studio.chance.audiences,
        np.asarray(names.isin(studio.accounts), dtype=bool),
        units,
    )


def _with_studio_orders(
    light: _Light,
    post_ids: pd.Index,
    found: tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]],
    split: _Split,
    search: _Found,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """``found`` (per event its pool, per pool its lift) plus the events a seller's orders across one
    studio's creators hold: the pool test runs again (``search``) with ``split``'s audiences, and the
    events it finds that ``found`` did not, of the accounts ``split`` keeps, are added, in pools of their
    own numbers after ``found``'s; nothing is taken away."""
    event_pool, lifts = found
    if not (split.keep[np.maximum(light.users, 0)] & (event_pool < 0)).any():
        # only a kept account's event that no pool holds can be added: without one the search again
        # cannot change what was found (its pools' other events are never read)
        return event_pool, lifts
    split_light = split.light(light, post_ids)
    again, again_lifts = search(split_light, split.audiences)
    gained = (again >= 0) & (event_pool < 0) & split.keep[np.maximum(light.users, 0)]
    if not gained.any():
        return event_pool, lifts
    out = event_pool.copy()
    out[gained] = again[gained] + len(lifts)
    return out, np.concatenate([lifts, again_lifts])


def _served_studio_posts(
    unit: npt.NDArray[np.int64], post_creator: npt.NDArray[np.int64], pooled: npt.NDArray[np.bool_]
) -> npt.NDArray[np.bool_]:
    """Per post: a pool holds it and its unit is a studio (a unit of two creators or more here)."""
    known = post_creator >= 0
    pairs = distinct(unit[known] * (int(post_creator.max(initial=0)) + 1) + post_creator[known])
    creators = np.bincount(pairs // (int(post_creator.max(initial=0)) + 1), minlength=len(unit))
    return pooled & known & (creators[unit] >= 2)


def _split(
    audiences: Audiences,
    post_ids: pd.Index,
    unit: npt.NDArray[np.int64],
    post_creator: npt.NDArray[np.int64],
    split: npt.NDArray[np.bool_],
) -> Audiences:
    """``audiences`` (and its pool and search audiences) with each ``split`` post (per post code of
    ``post_ids``) in a new unit of its studio unit and creator, of the studio unit's community, region
    and part."""
    keys = unit[split] * (int(post_creator.max(initial=0)) + 1) + post_creator[split]
    new_of_post = np.unique(keys, return_inverse=True)[1].astype(np.int64)
    rows = audiences.posts.get_indexer(post_ids)[split]
    return _split_units(audiences, rows[rows >= 0], new_of_post[rows >= 0])


def _split_units(
    audiences: Audiences | None,
    rows: npt.NDArray[np.int64],
    new_of_row: npt.NDArray[np.int64],
) -> Audiences:
    """``audiences`` with its posts at ``rows`` moved to new units (numbered after its units), each new
    unit in the community, region and part of its studio unit."""
    assert audiences is not None
    base = len(audiences.unit_community)
    post_unit = audiences.post_unit.copy()
    post_unit[rows] = base + new_of_row
    # the studio units as these audiences number them (a post's unit here, not the window's)
    studio = np.zeros(int(new_of_row.max(initial=-1)) + 1, dtype=np.int64)
    studio[new_of_row] = audiences.post_unit[rows]

    def extended(per_unit: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        return np.concatenate([per_unit, per_unit[studio]])

    return dataclasses.replace(
        audiences,
        post_unit=post_unit,
        unit_community=extended(audiences.unit_community),
        unit_region=extended(audiences.unit_region),
        unit_part=extended(audiences.unit_part),
        pool=None if audiences.pool is None else _split_units(audiences.pool, rows, new_of_row),
        orderless=None
        if audiences.orderless is None
        else _split_units(audiences.orderless, rows, new_of_row),
    )


def _fans(light: _Light, split: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
    """Per account: it has a light post of a split studio unit that no pool holds (a fan of the studio)."""
    split_unit = np.zeros(int(light.unit.max()) + 1, dtype=bool)
    split_unit[light.unit[split]] = True
    unserved = split_unit[light.unit] & ~split
    out = np.zeros(int(light.users.max(initial=-1)) + 1, dtype=bool)
    out[light.pair_user[unserved[light.pair_post]]] = True
    return out


def _across(
    light: _Light, split_unit: npt.NDArray[np.int64], split: npt.NDArray[np.bool_]
) -> npt.NDArray[np.bool_]:
    """Per account: its light posts reach two creators or more of one studio on ``split`` posts (the
    split changes its count of units; another account's membership changes only as the pools do)."""
    on = split[light.pair_post]
    width = int(split_unit.max()) + 1
    keys = distinct(
        (light.pair_user[on] * width + light.unit[light.pair_post[on]]) * width
        + split_unit[light.pair_post[on]]
    )
    user_studio, count = np.unique(keys // width, return_counts=True)
    out = np.zeros(int(light.users.max(initial=-1)) + 1, dtype=bool)
    out[user_studio[count >= 2] // width] = True
    return out
