"""Regions: connected parts of the platform that hold two audiences or more, judged each on its own."""

from __future__ import annotations

import numpy as np
from scipy import sparse
from scipy.sparse import csgraph

from detectors.audiences._arrays import IntArray
from features.arrays import distinct


def _regions(
    user: IntArray, unit: IntArray, community: IntArray, *, part: IntArray | None = None
) -> tuple[IntArray, IntArray]:
    """Per creator unit: its region, a part of the platform whose light accounts never reach the rest,
    and its connected part (``part``: found already, by ``_parts``).

    Parts are the connected parts of the graph of light accounts and the units
    they engage. A part is a region of its own when it holds two audience
    communities or more: a platform of regions that never meet (languages,
    countries; simulated worlds side by side) is judged region by region, as
    if each were a platform. A part of one community (a seller's book or a
    small audience cut off from the rest, a creator no light account shares)
    joins the largest part's region, so that a book is never a region that
    explains its own pool. Region 0 holds the largest part.
    """
    n_units = len(community)
    part = _parts(user, unit, n_units) if part is None else part
    n_parts = int(part.max(initial=-1)) + 1
    held = np.bincount(distinct(part * (n_units + 1) + community) // (n_units + 1), minlength=n_parts)
    largest = int(np.argmax(np.bincount(part, minlength=n_parts)))
    region = np.where(held[part] >= 2, part, largest)
    # numbered by size, the largest part's region first
    order = np.argsort(-np.bincount(region, minlength=n_parts), kind="stable")
    rank = np.empty(n_parts, dtype=np.int64)
    rank[order] = np.arange(n_parts)
    return np.unique(rank[region], return_inverse=True)[1].astype(np.int64), part.astype(np.int64)


def _parts(user: IntArray, unit: IntArray, n_units: int) -> IntArray:
    """Per creator unit: its connected part of the graph of light accounts and the units they engage,
    numbered from 0."""
    users = np.unique(user, return_inverse=True)[1]
    n_users = int(users.max(initial=-1)) + 1
    graph = sparse.coo_matrix(
        (np.ones(len(user)), (users, n_users + unit)), shape=(n_users + n_units, n_users + n_units)
    )
    part = csgraph.connected_components(graph, directed=False)[1][n_users:]
    return np.asarray(np.unique(part, return_inverse=True)[1], dtype=np.int64)
