"""Candidate rings: peeled triangle communities of the reciprocal creator graph."""

from __future__ import annotations

import numpy as np
import pandas as pd

from detectors.rings._params import RingParams
from detectors.rings._window import IntArray, _block
from features.graph import reciprocal_edges, triangle_communities


def _candidates(edges: pd.DataFrame, params: RingParams) -> list[IntArray]:
    """Peeled triangle communities of the reciprocal creator graph, largest community first.

    Clique percolation (k=3) chains triangles that share an edge, so a dense ring
    is one community while studio pairs, stars around a heavy creator and rings
    joined by a stray edge are not.  A community is peeled, its core kept, and
    the rest peeled again.
    """
    ties = reciprocal_edges(edges)
    communities = sorted(
        triangle_communities(ties["creator_a"].to_numpy(), ties["creator_b"].to_numpy()),
        key=lambda c: (-len(c), int(c[0])),
    )
    out: list[IntArray] = []
    for community in communities:
        remaining = community
        while len(remaining) >= params.min_creators:
            core = _peel(remaining, ties, edges, params)
            if len(core) < params.min_creators:
                break
            out.append(core)
            remaining = np.setdiff1d(remaining, core)
    return out


def _peel(members: IntArray, ties: pd.DataFrame, edges: pd.DataFrame, params: RingParams) -> IntArray:
    """Drop the weakest member until each is tied to ``min_tie_share`` of the others and mutual.

    Mutual: its accounts engaged a member's posts and a member engaged its posts.
    A heavy honest creator who engages everybody gets few ties back, so it goes
    first; ties are broken by the events it gave the group, then by creator code.
    """
    a, b = ties["creator_a"].to_numpy(), ties["creator_b"].to_numpy()
    inside = np.isin(a, members) & np.isin(b, members)
    ia, ib = np.searchsorted(members, a[inside]), np.searchsorted(members, b[inside])
    tied = np.zeros((len(members), len(members)), dtype=np.int64)
    tied[ia, ib] = tied[ib, ia] = 1
    gives = _block(members, edges, "n_events")
    degree, n_out, n_in = tied.sum(axis=1), (gives > 0).sum(axis=1), (gives > 0).sum(axis=0)
    given = gives.sum(axis=1)
    alive = np.ones(len(members), dtype=bool)
    while (n_alive := int(alive.sum())) >= params.min_creators:
        need = np.ceil(params.min_tie_share * (n_alive - 1) - 1e-9)
        weak = alive & ((degree < need) | (n_out == 0) | (n_in == 0))
        if not weak.any():
            return members[alive]
        candidates = np.flatnonzero(weak)
        worst = candidates[np.lexsort((given[candidates], degree[candidates]))[0]]
        alive[worst] = False
        degree -= tied[:, worst]
        n_out -= gives[:, worst] > 0
        n_in -= gives[worst, :] > 0
    return np.zeros(0, dtype=np.int64)
