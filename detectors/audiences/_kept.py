"""Audiences kept from the history: found once on the history when its state is built, carried on its
rows, and the window's new creators placed into them when a window is scored.

An audience (interest, region, language) is a property of the platform's history: its users keep
co-engaging its creators week after week. Finding it again on the union of the window and its history
runs Louvain on a graph three times the window's for 3 weeks of history (docs/detection.md, "Cut and
cost"). The history's audiences are found once instead, when it is prepared
(``detectors.scorer.prepare_scored_history``: scored as one window, its evidence marked), on its rows
without evidence, and each of those rows carries its post's creator unit's community at the three
levels the group tests read and its connected part (``AUDIENCE_COLUMNS``; ``kept_columns``).

A window is then read against them (``kept_audiences``): a creator the history saw keeps its
community; the window's new creators are placed by the window's own communities (Louvain on the
window's light accounts alone): a new creator found with creators the history knows joins the
community most of them hold, and a community of new creators only is a new community (a structure
that formed in the window is still seen).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

from detectors.audiences._arrays import IntArray
from detectors.audiences._audiences import Audiences
from detectors.audiences._communities import _communities
from detectors.audiences._find import find_audiences
from detectors.audiences._params import AudienceParams
from detectors.audiences._regions import regions_of_parts
from detectors.audiences._units import _post_units, light_pairs, post_codes
from detectors.history import HISTORY_COLUMN
from features.arrays import codes

# per history row: its post's creator unit's community (the dense-block test's, the pool test's, the
# pool search's) and its connected part; -1 on a window's rows and on rows without a post
AUDIENCE_COLUMNS = ("audience", "audience_pool", "audience_search", "audience_part")


def audience_columns(engagements: pd.DataFrame, audiences: Audiences) -> npt.NDArray[np.int32]:
    """Per row of one platform's rows (the rows ``audiences`` were found on): the values of
    ``AUDIENCE_COLUMNS`` (one column each), -1 where the row has no post."""
    posts = post_codes(engagements)[0]
    pool = audiences.for_pool()
    per_unit = np.stack(
        [
            audiences.unit_community,
            pool.unit_community,
            pool.for_search().unit_community,
            audiences.unit_part,
        ],
        axis=1,
    )
    out = np.full((len(posts), len(AUDIENCE_COLUMNS)), -1, dtype=np.int32)
    has = posts >= 0
    if has.any():
        out[has] = per_unit[audiences.post_unit[posts[has]]]
    return out


def kept_columns(
    history: pd.DataFrame,
    *,
    honest: npt.NDArray[np.bool_],
    studios: pd.Series | None,
    params: AudienceParams,
) -> dict[str, npt.NDArray[np.int32]]:
    """Per row of a history: ``AUDIENCE_COLUMNS`` of the audiences found, per platform, on its rows
    marked ``honest`` (no structural evidence); -1 on the others (placed with the window's rows).

    A seller's book is tied by its pool's orders, and over weeks of history they pile up until the
    book looks like an audience of its own, within which the pool test would measure its pool's
    chance; the history was scored already, so its evidence is left out of the honest structure.
    """
    out = np.full((len(history), len(AUDIENCE_COLUMNS)), -1, dtype=np.int32)
    platform = codes(history["platform"]) if "platform" in history else np.zeros(len(history), np.int64)
    for value in np.unique(platform):
        rows = np.flatnonzero((platform == value) & honest)
        if len(rows):
            found = history.iloc[rows]
            out[rows] = audience_columns(found, find_audiences(found, studios=studios, params=params))
    return {column: out[:, k] for k, column in enumerate(AUDIENCE_COLUMNS)}


def kept_audiences(
    engagements: pd.DataFrame, *, studios: pd.Series | None, params: AudienceParams
) -> Audiences:
    """The audiences of one platform's rows whose history rows carry ``AUDIENCE_COLUMNS``: each unit the
    history saw keeps its values; the others are placed by the communities of the rows without them
    (the window's; ``_place``). Communities and parts are numbered again over the units present."""
    posts, post_ids = post_codes(engagements)
    unit = _post_units(engagements, posts, len(post_ids), studios)
    n_units = int(unit.max(initial=-1)) + 1
    kept = np.stack([engagements[column].to_numpy(dtype=np.int64) for column in AUDIENCE_COLUMNS], axis=1)
    has = posts >= 0
    known_row = has & (kept[:, 0] >= 0)
    per_unit = np.full((n_units, len(AUDIENCE_COLUMNS)), -1, dtype=np.int64)
    per_unit[unit[posts[known_row]]] = kept[known_row]
    new = per_unit[:, 0] < 0
    if new.any():
        # placed by the window's rows (a history row without a value is evidence: no honest structure)
        window = np.flatnonzero(has & ~known_row & ~_history_rows(engagements))
        per_unit = _place(per_unit, new, _window_groups(engagements, window, posts, unit, params=params))
    community, pool, search, part = (_dense(per_unit[:, k]) for k in range(len(AUDIENCE_COLUMNS)))
    orderless = Audiences(post_ids, unit, search, regions_of_parts(part, search), part)
    finer = Audiences(post_ids, unit, pool, regions_of_parts(part, pool), part, orderless=orderless)
    return Audiences(post_ids, unit, community, regions_of_parts(part, community), part, pool=finer)


def _history_rows(engagements: pd.DataFrame) -> npt.NDArray[np.bool_]:
    """Per row: it is a history row (``detectors.history.HISTORY_COLUMN``); none without the column."""
    if HISTORY_COLUMN not in engagements:
        return np.zeros(len(engagements), dtype=bool)
    return np.asarray(engagements[HISTORY_COLUMN].to_numpy(dtype=bool), dtype=bool)


def _window_groups(
    engagements: pd.DataFrame,
    rows: IntArray,
    posts: IntArray,
    unit: IntArray,
    *,
    params: AudienceParams,
) -> tuple[IntArray, IntArray]:
    """Per unit (``unit``: per post code its unit) its community among the rows ``rows`` alone (the
    window's), at ``min_insularity`` and at ``pool_min_insularity`` (``_communities``); one community
    when they tie too few units."""
    n_units = int(unit.max(initial=-1)) + 1
    one = np.zeros(n_units, dtype=np.int64)
    users = codes(engagements["user_id"])[rows]
    ok = users >= 0
    if n_units < 2 * params.min_community_creators or not ok.any():
        return one, one
    user, post = light_pairs(users[ok], posts[rows][ok], len(unit), params.min_posts, params.max_posts)
    if not len(user):
        return one, one
    return _communities(user, unit[post], n_units, params=params)


def _place(per_unit: IntArray, new: npt.NDArray[np.bool_], groups: tuple[IntArray, IntArray]) -> IntArray:
    """``per_unit`` with its ``new`` units' values: each level's by the window community of that level
    (the dense-block test's community and the part by the coarser, the pool test's two by the finer)."""
    coarse, finer = groups
    out = per_unit.copy()
    for k, group in enumerate((coarse, finer, finer, coarse)):
        out[:, k] = _joined(per_unit[:, k], group, new)
    return out


def _joined(value: IntArray, group: IntArray, new: npt.NDArray[np.bool_]) -> IntArray:
    """``value`` per unit, its ``new`` units' set: each takes the value most of the known units of its
    ``group`` hold (ties: the smallest); a group of new units only takes a value of its own."""
    known = ~new
    width = int(value.max(initial=0)) + 1
    pairs, count = np.unique(group[known] * width + value[known], return_counts=True)
    order = np.lexsort((-count, pairs // width))
    first = order[np.diff((pairs // width)[order], prepend=-1) != 0]
    n_groups = int(group.max(initial=0)) + 1
    held = np.full(n_groups, -1, dtype=np.int64)
    held[pairs[first] // width] = pairs[first] % width
    alone = np.flatnonzero(held < 0)
    held[alone] = width + np.arange(len(alone))
    out = value.copy()
    out[new] = held[group[new]]
    return out


def _dense(value: IntArray) -> IntArray:
    """``value`` numbered 0..k-1 in the order of the values (the values of units present only)."""
    return np.asarray(np.unique(value, return_inverse=True)[1], dtype=np.int64)
