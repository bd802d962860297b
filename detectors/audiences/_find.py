"""The finder: one platform's window in, its audiences out (the pool test's partitions included)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from detectors.audiences._arrays import IntArray
from detectors.audiences._audiences import Audiences
from detectors.audiences._communities import UnitPairs, _communities, _louvain_of
from detectors.audiences._params import AudienceParams
from detectors.audiences._regions import _regions
from detectors.audiences._units import LightPairs, _post_units, light_pairs, post_codes
from detectors.footprints import footprint_weight
from features.arrays import codes

# a column of rows scored with a kept history (``HistoryParams.seeded_audiences``): per history row the
# Louvain community its post's creator unit had in the history's own unit graph (-1: none, or a window
# row), numbered apart per platform; the audience search starts from those communities
START_COLUMN = "audience_start"


def find_audiences(
    engagements: pd.DataFrame,
    *,
    studios: pd.Series | None,
    params: AudienceParams,
    pairs: LightPairs | None = None,
) -> Audiences:
    """The audience communities of one platform's window (``studios`` maps post_id to studio_id;
    ``pairs``: its light pairs, found already)."""
    posts, post_ids = post_codes(engagements)
    unit = _post_units(engagements, posts, len(post_ids), studios)
    n_units = int(unit.max(initial=-1)) + 1
    community = np.zeros(n_units, dtype=np.int64)
    region = part = np.zeros(n_units, dtype=np.int64)
    users = codes(engagements["user_id"])
    ok = (users >= 0) & (posts >= 0)
    pool = None
    if n_units >= 2 * params.min_community_creators and ok.any():
        found = pairs.at if pairs is not None else light_pairs
        user, post = found(users[ok], posts[ok], len(post_ids), params.min_posts, params.max_posts)
        if len(user):
            by_unit = UnitPairs.of(user, unit[post], n_units)
            start = unit_start(engagements, posts, unit)
            community, finer = _communities(by_unit, params=params, start=start)
            region, part = _regions(user, unit[post], community)
            if not np.array_equal(finer, community):
                pool = Audiences(post_ids, unit, finer, _regions(user, unit[post], finer, part=part)[0], part)
            # orders tie units: without them a platform of one audience stays one
            if params.pool_footprints_once and finer.max() > 0:
                pool = _with_orderless(
                    pool or Audiences(post_ids, unit, community, region, part),
                    by_unit,
                    user,
                    post,
                    params=params,
                    start=start,
                )
    return Audiences(post_ids, unit, community, region, part, pool)


def _with_orderless(
    pool: Audiences,
    pairs: UnitPairs,
    user: IntArray,
    post: IntArray,
    *,
    params: AudienceParams,
    start: IntArray | None,
) -> Audiences:
    """``pool`` with its ``orderless`` communities: found with accounts of one footprint counted as
    chance says (``detectors.footprints.footprint_weight``), from ``start`` (``unit_start``)."""
    unit = pool.post_unit
    weight = footprint_weight(user, post, unit)
    found = _communities(pairs, params=params, account_weight=weight, start=start)[1]
    region = _regions(user, unit[post], found, part=pool.unit_part)[0]
    return replace(pool, orderless=Audiences(pool.posts, unit, found, region, pool.unit_part))


def unit_start(engagements: pd.DataFrame, posts: IntArray, post_unit: IntArray) -> IntArray | None:
    """Per creator unit the group its audience search starts in: the history's community its rows
    carry (``START_COLUMN``; -1: a unit no history row names); None without the column."""
    if START_COLUMN not in engagements:
        return None
    start = np.full(int(post_unit.max(initial=-1)) + 1, -1, dtype=np.int64)
    given = engagements[START_COLUMN].to_numpy(dtype=np.int64, na_value=-1)
    has = (posts >= 0) & (given >= 0)
    np.maximum.at(start, post_unit[posts[has]], given[has])
    return start


def history_start(
    engagements: pd.DataFrame, *, studios: pd.Series | None, params: AudienceParams
) -> IntArray:
    """Per row of one platform's history its post's unit's Louvain community in the history's own
    unit graph (-1: a unit tied to none), what a later window's search starts from (``START_COLUMN``)."""
    posts, post_ids = post_codes(engagements)
    unit = _post_units(engagements, posts, len(post_ids), studios)
    n_units = int(unit.max(initial=-1)) + 1
    users = codes(engagements["user_id"])
    ok = (users >= 0) & (posts >= 0)
    out = np.full(len(engagements), -1, dtype=np.int64)
    if n_units < 2 or not ok.any():
        return out
    user, post = light_pairs(users[ok], posts[ok], len(post_ids), params.min_posts, params.max_posts)
    if not len(user):
        return out
    found = _louvain_of(UnitPairs.of(user, unit[post], n_units), params=params)
    has = posts >= 0
    out[has] = found[unit[posts[has]]]
    return out


def one_audience(engagements: pd.DataFrame, *, studios: pd.Series | None) -> Audiences:
    """One mixed audience: every unit in community 0 (a window too small or a test's plain null)."""
    posts, post_ids = post_codes(engagements)
    unit = _post_units(engagements, posts, len(post_ids), studios)
    zeros = np.zeros(int(unit.max(initial=-1)) + 1, dtype=np.int64)
    return Audiences(post_ids, unit, zeros, zeros, zeros)
