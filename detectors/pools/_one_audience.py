"""A pool on a platform of one audience community, shown only through its overlap (``cover_one_audience``)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt


def _covered_in_one_audience(
    event_pool: npt.NDArray[np.int64], overlap_only: npt.NDArray[np.bool_]
) -> npt.NDArray[np.int64]:
    """``event_pool`` (per event its pool, -1: none) without the pools ``overlap_only`` marks (per pool:
    each of its links reached ``min_lift`` only through its overlap, ``_overlap_only``).

    Read on a platform whose audiences hold one community: its communities could not be told apart (a
    small window's are too sparse) or it has one. Such a pool's links are under ``min_lift`` times the
    block model's chance, and their lift beyond the overlap is counted from the few crossing engagers
    outside it: the effect is not shown, only the overlap. On a platform of several communities the
    cover rule asks whether the pool's community stays an audience without it (``_covered_within``);
    here no other community is there to ask, and two creators of one unseen audience (its fans engage
    both, hardly anything else) look exactly like that. A seller's order on posts that keep their own
    crossing fans, or whose overlap is ``min_lift`` times the block model's chance, is no such pool."""
    hit = event_pool >= 0
    if not hit.any() or not overlap_only.any():
        return event_pool
    out = event_pool.copy()
    out[hit & overlap_only[np.maximum(event_pool, 0)]] = -1
    return out
