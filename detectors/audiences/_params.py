"""The audience finder's knobs (``audience`` in the parameter tree)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AudienceParams:
    """Knobs of the audience-community finder shared by the pool and dense-block tests."""

    # accounts with this many to ``max_posts`` distinct posts tie creators (heavy users tie everything)
    min_posts: int = 2
    max_posts: int = 12
    # an audience community spans at least this many creator units (one unit shares no account with
    # itself, so says nothing of an audience). Not a size: a 5k window's platform may hold an audience of
    # 2 creators whose fans follow both (3 took it for a pool); insularity keeps a seller's book out
    min_community_creators: int = 2
    # a community is an audience when this share of the co-engagement chance sends out stays inside
    min_insularity: float = 0.5
    # ... for the pool test, whose cover rule judges every community without a candidate's accounts (a
    # book's community gives its pool no cover), so a seller's book may stay a community of its own.
    # Merged at 0.5, a book whose clients belong to two audiences (its clients' fans go home) joins one
    # of them, whose cover its clients' fans then take away. Louvain's parts of one well-mixed audience
    # measured 0.06-0.08 (median), 0.29-0.32 (90th percentile), audiences 0.29-0.61 (10th percentile):
    # docs/detection.md, "Orders that tie two audiences"
    pool_min_insularity: float = 0.25
    # ... and, for the pool test's search, communities found again with the accounts of one footprint (the
    # same light posts) counted as often as chance repeats it: a seller fills an order by sending many
    # accounts to the same few posts, often of clients in several audiences, while an audience's fans
    # each spread over their own choice of its creators. A pool the search finds must beat chance within
    # those communities too (docs/detection.md, "Communities found without the orders")
    pool_footprints_once: bool = True
    # each unit keeps its ties to this many strongest neighbours: Louvain on a sparse graph is cheap
    neighbours: int = 10
    # seed of the Louvain communities
    louvain_seed: int = 0
    # with history, an account's engagement ties creators only within slices of this many days
    # (``detectors.history.sliced_accounts``; 0: the whole span). Off: it keeps a seller's book
    # from passing for an audience only while the book takes fewer than min_community_creators
    # orders a week (benchmarks/history.py variant; docs/detection.md)
    history_slice_days: int = 0
