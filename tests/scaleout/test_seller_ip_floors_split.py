"""A bot farm's floors (``SpreadParams.ip_farm_floors``) on a platform split over shards: an address's farm
evidence and its fresh accounts counted over the window, as the single process counts them (camo21)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from detectors.base import Detection
from detectors.seller_ips import IP_PART_COLUMNS, SellerIpEvidence, ip_part, spread_through_ips
from detectors.spread import SpreadParams
from scaleout.shard_scoring import SHARD
from tests.scaleout.engines import two_creator_window

STRUCTURE = frozenset({"device_farm", "ip_farm"})
FARM = SpreadParams(ip_farm_floors=True)
MAIN = SpreadParams(ip_farm_floors=False)  # main's floors alone
_PART_DDL = (
    f"`{SHARD}` string, platform string, ip string, user_id string, caught long, strongest double,"
    " farm long, posts long"
)


def _window() -> tuple[pd.DataFrame, set[str]]:
    """One platform whose creators kA (posts a*) and kB (posts b*) land in two shards, and the accounts
    ``device_farm`` caught (on every engagement).

    A farm's address dc carries five accounts over the window: c0 and c1 caught on kB's posts (shard B),
    c2 caught on kA's popular post a0 (shard A), u0 uncaught once on a0, and g, once on a0 through dc and
    once on b9 from home. Over the window dc is a farm's (3 of 5 caught on a farm's evidence, 4 of 5
    one-post accounts): u0 is raised on a0 (served by c2), g is not (two posts; and 4 of 5 caught after
    the first round stays under main's floor of 5). Shard A alone sees 1 of 3 caught: no farm's address.
    """
    rows = [(f"f{i}", "a0", f"home{i}") for i in range(20)]  # a0's organic crowd
    rows += [("c0", "b0", "dc"), ("c1", "b1", "dc"), ("c2", "a0", "dc"), ("u0", "a0", "dc")]
    rows += [("g", "a0", "dc"), ("g", "b9", "home-g")]
    window = two_creator_window(rows)
    return window, {"c0", "c1", "c2"}


def _detections(window: pd.DataFrame, bots: set[str]) -> list[Detection]:
    hit = window["user_id"].astype(str).isin(bots).to_numpy()
    groups = pd.DataFrame({"group_id": [0], "n_accounts": [len(bots)], "n_posts": [1], "evidence": ["dc"]})
    farm = Detection("device_farm", np.where(hit, 0.9, 0.0), np.where(hit, 0, -1).astype(np.int64), groups)
    return [Detection.empty("ip_farm", len(window)), farm]


def _spark_evidence(parts: pd.DataFrame, params: SpreadParams) -> dict[str, SellerIpEvidence]:
    """The shards' parts combined by Spark (``scaleout.window_parts.window_seller_ips``), as each shard
    reads its rows (``scaleout.job._joined_chance``)."""
    from scaleout.session import spark_session
    from scaleout.window_parts import window_seller_ips

    spark = spark_session("local[1]", conf={"spark.sql.shuffle.partitions": "2"})
    rows = parts.reindex(columns=[SHARD, *IP_PART_COLUMNS]).astype(object)
    frame = spark.createDataFrame(rows.where(rows.notna(), None), _PART_DDL)
    found = window_seller_ips(frame, fresh_posts=params.ip_farm_max_posts).toPandas()
    out = {}
    for name, own in found.groupby(SHARD):
        ips = own.loc[
            own["ip"].notna(), ["platform", "ip", "caught", "accounts", "strongest", "farm", "fresh"]
        ]
        posts = own.loc[own["posts"].notna(), ["platform", "user_id", "posts"]]
        out[str(name)] = SellerIpEvidence(ips=ips.reset_index(drop=True), posts=posts.reset_index(drop=True))
    return out


def test_a_split_platforms_shards_apply_a_farms_floors_with_the_windows_counts() -> None:
    window, bots = _window()
    whole = spread_through_ips(_detections(window, bots), window, structural=STRUCTURE, params=FARM)[0]
    raised = set(window.loc[whole.event_score > 0, "user_id"].astype(str)) - bots
    assert raised == {"u0"}
    # main's floors alone raise nothing here (3 of 5 caught: no seller's address)
    main = spread_through_ips(_detections(window, bots), window, structural=STRUCTURE, params=MAIN)
    assert not (set(window.loc[main[0].event_score > 0, "user_id"].astype(str)) - bots)
    in_a = window["creator_id"].eq("kA").to_numpy()
    shards = [(name, keep, window[keep].reset_index(drop=True)) for name, keep in (("A", in_a), ("B", ~in_a))]
    parts = pd.concat(
        [
            ip_part(_detections(s, bots), s, structural=STRUCTURE, params=FARM).assign(**{SHARD: name})
            for name, _, s in shards
        ],
        ignore_index=True,
    )
    evidence = _spark_evidence(parts, FARM)
    dc = evidence["A"].ips.set_index("ip").loc["dc"]
    assert (dc["farm"], dc["accounts"], dc["fresh"]) == (3, 5, 4)
    for name, keep, shard in shards:
        found = _detections(shard, bots)
        joined = spread_through_ips(found, shard, structural=STRUCTURE, params=FARM, window=evidence[name])[0]
        np.testing.assert_array_equal(joined.event_score, whole.event_score[keep])
    # shard A alone sees dc as 1 of 3 caught: no farm's address
    shard_a = shards[0][2]
    alone = spread_through_ips(_detections(shard_a, bots), shard_a, structural=STRUCTURE, params=FARM)[0]
    assert not (set(shard_a.loc[alone.event_score > 0, "user_id"].astype(str)) - bots)
