"""Audiences kept from the history: the history's Louvain communities (the expensive step) found once
when its state is built and carried on its rows; the agglomeration by insularity (the cheap step, on
which the pool test's fine partitions depend) runs again on the union's counts at scoring time.

An audience (interest, region, language) is a property of the platform's history: its users keep
co-engaging its creators week after week. Louvain on the union of the window and its history runs on
a graph three times the window's for 3 weeks of history (docs/detection.md, "Cut and cost"). The
history's Louvain communities are found once instead, when it is prepared
(``detectors.scorer.prepare_scored_history``), on all its rows, and each row carries its post's
creator unit's community, found with every account and found with the accounts of one footprint
counted as chance says (``AUDIENCE_COLUMNS``; ``kept_columns``).

When the union is scored, ``find_audiences`` reads them (``kept_found``): the unit graph is the
union's, and Louvain runs on it with each kept community collapsed to one node (``placed_found``:
a small graph, as Louvain's own next level after its moves); the agglomeration and regions are the
union's. Only the grouping the
agglomeration starts from is the history's: the partitions at ``pool_min_insularity`` follow the
union's counts (a first version kept the agglomerated audiences too, and the pool test's partitions
then moved with the rows they were found on: branch i13k).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

from detectors.audiences._arrays import IntArray
from detectors.audiences._graph import UnitGraph, louvain_found, unit_graph
from detectors.audiences._louvain import _louvain, _strongest
from detectors.audiences._params import AudienceParams
from detectors.audiences._units import _post_units, light_pairs, post_codes
from detectors.footprints import footprint_weight
from features.arrays import codes

# per history row: its post's creator unit's Louvain community on the history, found with every
# account and found with the accounts of one footprint counted as chance says; -1 on a window's rows,
# on rows without a post and where the history tied the unit to none
AUDIENCE_COLUMNS = ("audience_found", "audience_found_search")


def kept_columns(
    history: pd.DataFrame, *, studios: pd.Series | None, params: AudienceParams
) -> dict[str, npt.NDArray[np.int32]]:
    """Per row of a history: ``AUDIENCE_COLUMNS``, the Louvain communities found per platform on its rows."""
    out = np.full((len(history), len(AUDIENCE_COLUMNS)), -1, dtype=np.int32)
    platform = codes(history["platform"]) if "platform" in history else np.zeros(len(history), np.int64)
    for value in np.unique(platform):
        rows = np.flatnonzero(platform == value)
        out[rows] = _found_per_row(history.iloc[rows], studios=studios, params=params)
    return {column: out[:, k] for k, column in enumerate(AUDIENCE_COLUMNS)}


def _found_per_row(
    engagements: pd.DataFrame, *, studios: pd.Series | None, params: AudienceParams
) -> npt.NDArray[np.int32]:
    """Per row of a platform's rows: its unit's Louvain communities (a column per ``AUDIENCE_COLUMNS``)."""
    posts, post_ids = post_codes(engagements)
    unit = _post_units(engagements, posts, len(post_ids), studios)
    n_units = int(unit.max(initial=-1)) + 1
    out = np.full((len(engagements), len(AUDIENCE_COLUMNS)), -1, dtype=np.int32)
    users = codes(engagements["user_id"])
    ok = (users >= 0) & (posts >= 0)
    if n_units < 2 * params.min_community_creators or not ok.any():
        return out
    user, post = light_pairs(users[ok], posts[ok], len(post_ids), params.min_posts, params.max_posts)
    if not len(user):
        return out
    weight = footprint_weight(user, post, unit)
    for k, account_weight in enumerate((None, weight)):
        found = louvain_found(unit_graph(user, unit[post], n_units, account_weight), params)
        has = posts >= 0
        out[has, k] = found[unit[posts[has]]]
    return out


def kept_found(
    engagements: pd.DataFrame, posts: IntArray, unit: IntArray
) -> tuple[IntArray, IntArray] | None:
    """Per unit (``unit``: per post code its unit) its kept Louvain communities (``AUDIENCE_COLUMNS``,
    -1: none kept), from the rows that carry them; None when the rows carry none."""
    if AUDIENCE_COLUMNS[0] not in engagements:
        return None
    n_units = int(unit.max(initial=-1)) + 1
    has = posts >= 0
    out = []
    for column in AUDIENCE_COLUMNS:
        value = np.full(n_units, -1, dtype=np.int64)
        np.maximum.at(value, unit[posts[has]], engagements[column].to_numpy(dtype=np.int64)[has])
        out.append(value)
    return out[0], out[1]


def placed_found(graph: UnitGraph, kept: IntArray, params: AudienceParams) -> IntArray:
    """Per unit of the union's ``graph`` its Louvain community, starting from the ``kept`` ones: Louvain
    runs on the graph with each kept community one node (its ties inside a loop of it) and every unit
    the history did not place a node of its own, as Louvain's own next level would after its moves
    (``_collapsed``). A kept community stays whole; new units join one or form their own, and kept
    communities the union's ties merge, merge. Numbered by smallest member as ``_louvain`` numbers
    them; -1: tied to none."""
    placed = graph.placed
    known = placed & (kept >= 0)
    ids = np.unique(kept[known])
    node = np.full(graph.n_units, -1, dtype=np.int64)
    node[known] = np.searchsorted(ids, kept[known])
    node[placed & ~known] = len(ids) + np.arange(int((placed & ~known).sum()))
    n_nodes = int(node.max(initial=-1)) + 1
    a, b, weight = _collapsed(graph, node, n_nodes, params)
    group = _louvain(a, b, weight, np.arange(n_nodes), n_nodes, params)
    found = np.where(placed, group[np.maximum(node, 0)], -1)
    return _by_smallest_member(found)


def _collapsed(
    graph: UnitGraph, node: IntArray, n_nodes: int, params: AudienceParams
) -> tuple[IntArray, IntArray, npt.NDArray[np.float64]]:
    """The ties Louvain reads (each unit's ``neighbours`` strongest beyond chance) summed per pair of
    ``node`` (per unit its node), loops included."""
    tied = graph.tied
    a, b, weight = graph.a[tied], graph.b[tied], graph.excess[tied]
    strongest = _strongest(a, b, weight, params.neighbours)
    one, two = node[a[strongest]], node[b[strongest]]
    low, high = np.minimum(one, two), np.maximum(one, two)
    keys, where = np.unique(low * n_nodes + high, return_inverse=True)
    summed = np.asarray(np.bincount(where, weights=weight[strongest]), dtype=np.float64)
    return np.asarray(keys // n_nodes, dtype=np.int64), np.asarray(keys % n_nodes, dtype=np.int64), summed


def _by_smallest_member(found: IntArray) -> IntArray:
    """``found`` (-1: none) numbered 0..k-1 in the order of each community's smallest member."""
    members = np.flatnonzero(found >= 0)
    if not len(members):
        return found
    ids, dense = np.unique(found[members], return_inverse=True)
    smallest = np.full(len(ids), len(found), dtype=np.int64)
    np.minimum.at(smallest, dense, members)
    rank = np.empty(len(ids), dtype=np.int64)
    rank[np.argsort(smallest, kind="stable")] = np.arange(len(ids))
    out = np.full(len(found), -1, dtype=np.int64)
    out[members] = rank[dense]
    return out
