"""The seller-IP rule's creators on a shard: an account that created a post no engagement reached is a
creator's own account to the rule (counted neither caught nor raised) in the single process, which reads
the whole posts table; a shard reads its posts (``ShardInputs.posts_of``) and must know it too."""

from __future__ import annotations

import numpy as np
import pandas as pd

from detectors.base import Detection
from detectors.model import WindowScorer
from detectors.scorer.detections import _creators
from detectors.scorer.running import window_context
from detectors.seller_ips import spread_through_ips
from detectors.spread import SpreadParams
from scaleout.shard_scoring import ShardInputs

STRUCTURE = frozenset({"pool", "ip_farm"})


def _window() -> tuple[pd.DataFrame, pd.DataFrame]:
    """One platform's window and its posts table. Address S carries five accounts caught on post p1
    (w0-w3, and c9, a creator whose only post p99 drew no engagement) and a thin account t1 on p1;
    an honest fan h0 engages kA's other post p2. The posts table lists kA's posts, p99 and another
    creator's post p50 that no engagement reached."""
    rows = [(f"w{i}", "p1", "S") for i in range(4)] + [("c9", "p1", "S"), ("t1", "p1", "S")]
    rows += [("h0", "p2", "H")]
    users, posts, ips = zip(*rows, strict=True)
    frame = {"platform": "kuaishou", "user_id": users, "post_id": posts, "creator_id": "kA", "ip": ips}
    window = pd.DataFrame(frame).astype("category")
    table = pd.DataFrame(
        {
            "post_id": ["p1", "p2", "p99", "p50"],
            "creator_id": ["kA", "kA", "c9", "kZ"],
            "platform": "kuaishou",
        }
    )
    return window, table


def _detections(window: pd.DataFrame) -> list[Detection]:
    """A structural detection catching w0-w3 and c9 on p1 at 0.9."""
    users = window["user_id"].astype(str)
    hit = (users.str.startswith("w") | users.eq("c9")).to_numpy()
    groups = pd.DataFrame({"group_id": [0], "n_accounts": [5], "n_posts": [1], "evidence": ["pool"]})
    pool = Detection("pool", np.where(hit, 0.9, 0.0), np.where(hit, 0, -1).astype(np.int64), groups)
    return [Detection.empty("ip_farm", len(window)), pool]


def _raised(window: pd.DataFrame, posts: pd.DataFrame | None) -> set[str]:
    """The accounts the seller-IP rule raises with the creators a scorer given ``posts`` knows."""
    scorer = WindowScorer()
    context = window_context(
        window, params=scorer.params, posts=posts, fitted=None, reputation=None, chance=None
    )
    found = spread_through_ips(
        _detections(window),
        window,
        structural=STRUCTURE,
        params=SpreadParams(),
        creators=_creators(context),
    )
    return set(window.loc[found[0].event_score > 0, "user_id"].astype(str))


def test_a_shard_knows_a_creator_whose_post_drew_no_engagement_as_the_single_process_does() -> None:
    window, table = _window()
    # single process: the whole posts table; c9 is a creator, 4 of S's accounts caught: no seller
    assert _raised(window, table) == set()
    shard_posts = ShardInputs(scorer=WindowScorer(), source="window.csv", posts=table).posts_of(window)
    assert shard_posts is not None
    assert set(shard_posts["post_id"]) == {"p1", "p2", "p99"}  # not p50: no account of the shard made it
    assert _raised(window, shard_posts) == set()
    # the shard's engaged posts alone (before): c9 counts as caught, 5 of 5: a seller's address, t1 raised
    engaged = table[table["post_id"].isin(["p1", "p2"])]
    assert _raised(window, engaged) == {"t1", "c9"} | {f"w{i}" for i in range(4)}
