"""The seller-IP rule's second round on a platform split over shards: an address in several shards
recounted after the first round's raises over the window, and an account in several shards raised on
every shard's rows, as the single process does (``scaleout.window_parts.window_second_round``, spark22)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from detectors.base import Detection
from detectors.seller_ips import (
    IP_PART_COLUMNS,
    SellerIpEvidence,
    first_round_raises,
    ip_part,
    spread_through_ips,
)
from detectors.spread import SpreadParams
from scaleout.shard_scoring import RAISE_COLUMNS, SHARD
from tests.scaleout.engines import two_creator_window

STRUCTURE = frozenset({"pool", "ip_farm"})
PARAMS = SpreadParams()
_PART_DDL = (
    f"`{SHARD}` string, platform string, ip string, user_id string, caught long, strongest double,"
    " farm long, posts long"
)


def _window() -> tuple[pd.DataFrame, set[tuple[str, str]]]:
    """One platform whose creators kA (posts a*) and kB (posts b*) land in shards A and B, and the
    (account, post) pairs the pool caught.

    S (shard A): six workers caught on a1 and six thin accounts t0-t5 beside them: a seller's address
    (6 of 12), so round one raises t0-t5. N spans the shards: t0-t5 on a2 (A) and on b1 (B), two thin
    accounts u0, u1 on b1 and four others on b2-b5 (B). Round one: 0 of 12 caught on N. Round two, t0-t5
    caught everywhere: N is a seller's (6 of 12) and b1, served by six caught accounts through it, has
    u0, u1 and t0-t5 raised there. Shard B sees neither S nor t0-t5's raise.
    """
    rows = [(f"w{i}", "a1", "S") for i in range(6)] + [(f"t{i}", "a1", "S") for i in range(6)]
    rows += [(f"t{i}", "a2", "N") for i in range(6)] + [(f"t{i}", "b1", "N") for i in range(6)]
    rows += [("u0", "b1", "N"), ("u1", "b1", "N")] + [(f"h{i}", f"b{2 + i}", "N") for i in range(4)]
    return two_creator_window(rows), {(f"w{i}", "a1") for i in range(6)}


def _detections(window: pd.DataFrame, caught: set[tuple[str, str]]) -> list[Detection]:
    pairs = zip(window["user_id"].astype(str), window["post_id"].astype(str), strict=True)
    hit = np.array([pair in caught for pair in pairs])
    groups = pd.DataFrame({"group_id": [0], "n_accounts": [6], "n_posts": [1], "evidence": ["pool"]})
    pool = Detection("pool", np.where(hit, 0.9, 0.0), np.where(hit, 0, -1).astype(np.int64), groups)
    return [Detection.empty("ip_farm", len(window)), pool]


def _spark_frame(spark: object, parts: pd.DataFrame, columns: list[str], ddl: str) -> object:
    rows = parts.reindex(columns=columns).astype(object)
    return spark.createDataFrame(rows.where(rows.notna(), None), ddl)  # type: ignore[attr-defined]


def _evidence(
    shards: list[tuple[str, pd.DataFrame]], caught: set[tuple[str, str]], *, second_round: bool
) -> dict[str, SellerIpEvidence]:
    """Each shard's seller-IP evidence as Spark gathers it: the first round's (``window_seller_ips``),
    and with ``second_round`` the pass of the shards' first-round raises (``second_round_counts``),
    read as ``joined_chance`` reads a shard's joined rows (``seller_ip_evidence``)."""
    from scaleout.session import spark_session
    from scaleout.window_parts import second_round_counts, seller_ip_evidence, window_seller_ips

    spark = spark_session("local[1]", conf={"spark.sql.shuffle.partitions": "2"})
    first = pd.concat(
        [
            ip_part(_detections(s, caught), s, structural=STRUCTURE, params=PARAMS).assign(**{SHARD: n})
            for n, s in shards
        ],
        ignore_index=True,
    )
    found = window_seller_ips(_spark_frame(spark, first, [SHARD, *IP_PART_COLUMNS], _PART_DDL))  # type: ignore[arg-type]
    joined = found.toPandas()
    if second_round:
        by_shard = dict(iter(joined.groupby(SHARD)))
        evidence = {
            n: seller_ip_evidence(by_shard.get(n, joined.iloc[:0]), split=frozenset({"douyin"}))
            for n, _ in shards
        }
        raises: list[pd.DataFrame] = []
        for name, shard in shards:
            found_here = _detections(shard, caught)
            ips = ip_part(found_here, shard, structural=STRUCTURE, params=PARAMS)
            raised = first_round_raises(
                found_here, shard, window=evidence[name], structural=STRUCTURE, params=PARAMS
            )
            part = pd.concat([ips, raised], ignore_index=True)
            raises.append(part.assign(**{SHARD: name}))
        frame = pd.concat(raises, ignore_index=True).reindex(columns=[SHARD, *RAISE_COLUMNS])
        second = second_round_counts(frame, min_caught_score=PARAMS.min_caught_score)
        joined = pd.concat([joined, second], ignore_index=True)
    by_shard = dict(iter(joined.groupby(SHARD)))
    return {
        n: seller_ip_evidence(by_shard.get(n, joined.iloc[:0]), split=frozenset({"douyin"}))
        for n, _ in shards
    }


def test_an_address_in_several_shards_is_recounted_after_the_first_rounds_raises_over_the_window() -> None:
    window, caught = _window()
    whole = spread_through_ips(_detections(window, caught), window, structural=STRUCTURE, params=PARAMS)[0]
    raised = window.loc[whole.event_score > 0]
    on_b1 = set(raised.loc[raised["post_id"].eq("b1"), "user_id"].astype(str))
    assert on_b1 == {"u0", "u1"} | {f"t{i}" for i in range(6)}  # N became a seller's in round two
    in_a = window["creator_id"].eq("kA").to_numpy()
    keeps = {"A": in_a, "B": ~in_a}
    shards = [(name, window[keep].reset_index(drop=True)) for name, keep in keeps.items()]
    before = _evidence(shards, caught, second_round=False)
    after = _evidence(shards, caught, second_round=True)
    n_row = after["B"].second_round().ips.set_index("ip").loc["N"]
    assert (n_row["caught"], n_row["accounts"]) == (6, 12)
    assert before["B"].ips.set_index("ip").loc["N", "caught"] == 0
    differ = 0
    for name, shard in shards:
        found = _detections(shard, caught)
        scored = spread_through_ips(found, shard, structural=STRUCTURE, params=PARAMS, window=after[name])[0]
        np.testing.assert_array_equal(scored.event_score, whole.event_score[keeps[name]])
        np.testing.assert_array_equal(scored.event_group >= 0, whole.event_group[keeps[name]] >= 0)
        old = spread_through_ips(found, shard, structural=STRUCTURE, params=PARAMS, window=before[name])[0]
        differ += int((old.event_score != whole.event_score[keeps[name]]).sum())
    # with the first round's counts alone, shard B raises nothing on b1 (N: 0 of 12; t0-t5 not its own)
    assert differ >= 8


def test_one_round_needs_no_second_rounds_window() -> None:
    """With ``ip_rounds=1`` the gathered second round changes nothing: every shard scores as before."""
    window, caught = _window()
    one = SpreadParams(ip_rounds=1)
    whole = spread_through_ips(_detections(window, caught), window, structural=STRUCTURE, params=one)[0]
    in_a = window["creator_id"].eq("kA").to_numpy()
    shards = [("A", window[in_a].reset_index(drop=True)), ("B", window[~in_a].reset_index(drop=True))]
    after = _evidence(shards, caught, second_round=True)
    for (name, shard), keep in zip(shards, (in_a, ~in_a), strict=True):
        found = _detections(shard, caught)
        scored = spread_through_ips(found, shard, structural=STRUCTURE, params=one, window=after[name])[0]
        np.testing.assert_array_equal(scored.event_score, whole.event_score[keep])
