"""The book's effect-size floor (``pool__book_needs_min_accounts``): a pool the search and membership
leave with fewer than ``min_accounts`` accounts gets no book, so a handful of an audience's keen fans is
not widened into a reported pool."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from detectors.context import WindowContext
from detectors.pools import PoolParams, seller_pools
from tests.detectors.dev_windows import platform_rows

_C3 = "communities=3+studios+giveaways"


def _platform(seed: int, size: str, platform: str) -> tuple[pd.DataFrame, np.ndarray, WindowContext]:
    """``platform_rows`` of a dev window of this file's structure."""
    return platform_rows(seed, size, _C3, platform)


def _caught(rows: pd.DataFrame, context: WindowContext, *, floor: bool) -> np.ndarray:
    """Per row: whether the pool test flags it, the book's floor as given."""
    params = replace(PoolParams(), book_needs_min_accounts=floor)
    detection = seller_pools(rows, params=params, audiences=context.audiences(rows))
    return np.asarray(detection.event_score >= 0.5)


@pytest.mark.parametrize(
    ("seed", "size", "platform", "widened"),
    [(38, "40k", "xiaohongshu", 60), (23, "60k", "kuaishou", 100)],
)
def test_a_handful_of_keen_fans_gets_no_book(seed: int, size: str, platform: str, widened: int):
    """Dev 40k seed 38: membership keeps 3 keen fans on 3 posts of 3 creators, and the book widens them
    to 26 accounts (71 honest engagements); 60k seed 23: 8 to 39 (127). With the floor neither is a
    pool; every fraudulent engagement flagged without it on the platform stays flagged."""
    rows, honest, context = _platform(seed, size, platform)
    without, with_floor = _caught(rows, context, floor=False), _caught(rows, context, floor=True)
    assert (without & honest).sum() - (with_floor & honest).sum() >= widened
    assert not (with_floor & ~without).any()
    assert (with_floor & ~honest).sum() == (without & ~honest).sum()


def test_an_engagement_pods_small_pool_keeps_its_book():
    """Dev 40k seed 17, xiaohongshu: a ring's pool of 7 alt accounts on 6 posts of 2 creators, whose own
    accounts engage each other's posts; its book widens it to 14 accounts (111 ring engagements, caught
    by no other rule). It is a pod, and keeps its book; with the pod test off it would leave."""
    rows, honest, context = _platform(17, "40k", "xiaohongshu")
    without, with_floor = _caught(rows, context, floor=False), _caught(rows, context, floor=True)
    assert (without & ~honest).sum() >= 100
    assert np.array_equal(with_floor, without)
    params = replace(PoolParams(), book_needs_min_accounts=True, book_floor_pod_share=2.0)
    no_pods = seller_pools(rows, params=params, audiences=context.audiences(rows)).event_score >= 0.5
    assert (np.asarray(no_pods) & ~honest).sum() < 20
