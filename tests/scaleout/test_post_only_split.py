"""A post's own addresses on a split platform: found on the whole platform, raised in every shard."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest

from detectors.base import Detection
from detectors.model import WindowScorer
from detectors.post_only_ips import raise_post_only_ips
from detectors.seller_ips import SellerIpEvidence, split_platform_rows
from detectors.spread import SpreadParams
from features.contract import clean_events
from features.dedup import distinct_engagements
from scaleout.platform_post_only import platform_post_only, shard_address_rows
from scaleout.shard_scoring import ROW, SHARD, ShardInputs
from scaleout.shards import split_platforms
from tests.conftest import run_cli
from tests.factories import BASE_TS


def _raw() -> pd.DataFrame:
    """One platform over 20 days whose creators kA (posts a*) and kB (posts b*) land in two shards.

    An order on kA's post ``a-order``: two thin accounts through each of addresses x0-x8, each address
    used for nothing else in shard A. Over the window, x7 also carried an account on kB's post b1, and
    x8's account a8-0 engaged thirteen of kB's posts from home: seven own addresses (x0-x6), where
    shard A alone counts nine. Beside it 400 light users on their own home addresses over 200 posts.
    """
    rows = [(f"a{i}-{m}", "a-order", f"x{i}") for i in range(9) for m in range(2)]
    rows += [("b-user", "b1", "x7")] + [("a8-0", f"b{10 + j}", "home-a8") for j in range(13)]
    rows += [
        (f"u{i}", f"{'ab'[i % 2]}{20 + (i * 7 + j) % 200}", f"home{i}") for i in range(400) for j in range(2)
    ]
    days = np.linspace(0.0, 20.0, len(rows))
    return _frame(rows, days, "e")


def _raised(
    engagements: pd.DataFrame, *, split: bool, window: pd.DataFrame | None = None
) -> npt.NDArray[np.float64]:
    """``ip_farm``'s scores after the rule (``split``: every row's platform is split over shards)."""
    empty = Detection.empty("ip_farm", len(engagements))
    rows = np.full(len(engagements), split)
    params = SpreadParams()
    found = raise_post_only_ips([empty], engagements, params=params, split=rows, window=window)[0]
    return found.event_score


def test_a_split_platforms_shards_raise_a_posts_own_addresses_as_the_single_process_does() -> None:
    raw = _raw()
    whole = distinct_engagements(clean_events(raw.drop(columns=[ROW]), source="test").frame)
    single = _raised(whole, split=False)  # the single process
    raised = set(whole.loc[single > 0, "user_id"].astype(str))
    assert raised == {f"a{i}-{m}" for i in range(7) for m in range(2)}
    # Spark: each shard gives its rows, one worker finds the own addresses on the platform's rows (in
    # any order), and each shard raises its engagements through them
    routed = raw.assign(**{SHARD: np.where(raw["creator_id"].eq("kA"), "douyin.000", "douyin.001")})
    inputs = ShardInputs(scorer=WindowScorer(), source="test")
    parts = [shard_address_rows(part, inputs=inputs) for _, part in routed.groupby(SHARD)]
    rows = pd.concat(parts, ignore_index=True).sample(frac=1.0, random_state=0)
    found = platform_post_only(rows, inputs=inputs)
    assert sorted(found["ip"]) == [f"x{i}" for i in range(7)]
    in_a = whole["creator_id"].astype(str).eq("kA").to_numpy()
    alone = 0
    for keep in (in_a, ~in_a):
        shard = whole[keep].reset_index(drop=True)
        np.testing.assert_array_equal(_raised(shard, split=True, window=found), single[keep])
        # left out, the shard raises none of the order; counted alone, shard A also raises x7 and x8
        assert _raised(shard, split=True).max(initial=0.0) == 0.0
        alone += int((_raised(shard, split=False) != single[keep]).sum())
    assert alone == 4


def test_a_shard_not_known_as_split_reads_the_platforms_addresses_once() -> None:
    """Whether a shard's platform is split is read off the seller-IP evidence (``split_platform_rows``):
    a platform split between worlds that share no account nor caught address looked whole (measured:
    four-world 50k seed 19 at a 5k budget), its own addresses were counted in the shard and joined from
    the platform's worker, each came twice and the rule failed (IndexError). A platform the joined
    addresses list is split: the shard raises as the single process does."""
    raw = _raw()
    whole = distinct_engagements(clean_events(raw.drop(columns=[ROW]), source="test").frame)
    single = _raised(whole, split=False)
    routed = raw.assign(**{SHARD: np.where(raw["creator_id"].eq("kA"), "douyin.000", "douyin.001")})
    inputs = ShardInputs(scorer=WindowScorer(), source="test")
    rows = pd.concat([shard_address_rows(part, inputs=inputs) for _, part in routed.groupby(SHARD)])
    found = platform_post_only(rows, inputs=inputs)
    in_a = whole["creator_id"].astype(str).eq("kA").to_numpy()
    shard = whole[in_a].reset_index(drop=True)
    np.testing.assert_array_equal(_raised(shard, split=False, window=found), single[in_a])


def _worlds_raw() -> pd.DataFrame:
    """One platform over 20 days split between two worlds that share no account nor address: kA (shard
    A) an order of two thin accounts through each of eight addresses x0-x7 on post ``a-order`` beside
    200 light users on their own home addresses; kB (shard B) 300 posts each with four own addresses of
    two thin accounts (fewer than ``ip_post_only_addresses``: none found). Over the platform an own
    address per two thin pairs is common, so the order's eight are within chance; shard A alone has
    eight in 416 pairs, and counted alone it raises the order."""
    rows = [(f"a{i}-{m}", "a-order", f"x{i}") for i in range(8) for m in range(2)]
    rows += [(f"u{i}", f"a{1 + (i * 7 + j) % 100}", f"home{i}") for i in range(200) for j in range(2)]
    rows += [(f"b{p}-{i}-{m}", f"b{p}", f"y{p}-{i}") for p in range(300) for i in range(4) for m in range(2)]
    days = (np.arange(len(rows)) * 0.6180339887) % 1.0 * 20.0
    return _frame(rows, days, "w")


def _by_creator(raw: pd.DataFrame) -> pd.DataFrame:
    """The plan that splits ``raw``'s douyin by creator: kA in douyin.000, kB in douyin.001."""
    events = raw.groupby("creator_id").size()
    return pd.DataFrame(
        {
            "platform": "douyin",
            "creator_id": ["kA", "kB"],
            "shard": ["douyin.000", "douyin.001"],
            "events": [int(events["kA"]), int(events["kB"])],
        }
    )


def test_a_shard_told_by_the_plan_that_its_platform_is_split_leaves_its_rows_to_the_platform() -> None:
    """A platform split between worlds lists no address nor account in several shards, so its shards
    took it for whole and counted its own addresses on their part: shard A raised an order the whole
    platform keeps within chance. The plan says the platform is split (``split_platforms``, handed to
    every shard as ``SellerIpEvidence.split``): the shard reads the platform's addresses only."""
    raw = _worlds_raw()
    whole = distinct_engagements(clean_events(raw.drop(columns=[ROW]), source="test").frame)
    single = _raised(whole, split=False)
    assert single.max(initial=0.0) == 0.0
    routed = raw.assign(**{SHARD: np.where(raw["creator_id"].eq("kA"), "douyin.000", "douyin.001")})
    inputs = ShardInputs(scorer=WindowScorer(), source="test")
    found = platform_post_only(
        pd.concat([shard_address_rows(part, inputs=inputs) for _, part in routed.groupby(SHARD)]),
        inputs=inputs,
    )
    assert not len(found)
    in_a = whole["creator_id"].astype(str).eq("kA").to_numpy()
    shard = whole[in_a].reset_index(drop=True)
    # what Spark joins into shard A: nothing spans its shards
    nothing = SellerIpEvidence(
        ips=pd.DataFrame(columns=["platform", "ip", "caught", "accounts", "strongest"]),
        posts=pd.DataFrame(columns=["platform", "user_id", "posts"]),
    )
    told = replace(nothing, split=split_platforms(_by_creator(raw)))
    assert told.split == frozenset({"douyin"})
    empty = Detection.empty("ip_farm", len(shard))
    for evidence, raised in ((nothing, 16), (told, 0)):
        rows = split_platform_rows(shard, evidence)
        scores = raise_post_only_ips([empty], shard, params=SpreadParams(), split=rows, window=found)[0]
        assert int((scores.event_score > 0).sum()) == raised
    np.testing.assert_array_equal(_raised(shard, split=True, window=found), single[in_a])


@pytest.mark.slow
@pytest.mark.e2e
def test_spark_scores_a_platform_split_between_worlds_as_the_command_line_does(tmp_path: Path) -> None:
    """Through both engines: the platform split between worlds scored by ``cpeguard score`` and by Spark
    local[2] split by creator; Spark raises none of the order (a shard that takes the platform for whole
    raises its 16 engagements, the test above)."""
    from scaleout.job import run_spark, spark_session

    raw = _worlds_raw()
    raw.drop(columns=[ROW]).to_parquet(tmp_path / "events.parquet", index=False)
    run_cli("score", "--events", tmp_path / "events.parquet", "--out", tmp_path / "local")
    run_spark(
        spark_session("local[2]"),
        events=str(tmp_path / "events.parquet"),
        out=str(tmp_path / "spark"),
        plan=_by_creator(raw),
    )
    columns = ["event_id", "invalid", "risk"]
    local = pd.read_parquet(tmp_path / "local" / "engagements.parquet", columns=columns)
    spark = pd.read_parquet(tmp_path / "spark" / "engagements.parquet", columns=[*columns, "shard"])
    both = local.merge(spark, on="event_id", suffixes=("", "_spark"), validate="one_to_one")
    assert both["shard"].astype("str").nunique() == 2
    assert (both["invalid"] == both["invalid_spark"]).all()
    np.testing.assert_allclose(both["risk_spark"].to_numpy(), both["risk"].to_numpy())


@pytest.mark.slow
@pytest.mark.e2e
def test_spark_raises_a_split_platforms_order_as_the_command_line_does(tmp_path: Path) -> None:
    """Through both engines: the planted platform scored by ``cpeguard score`` and by Spark local[2]
    forced to split it by creator, the order's own addresses raised in shard douyin.000."""
    from scaleout.job import run_spark, spark_session

    raw = _raw().drop(columns=[ROW])
    raw.to_parquet(tmp_path / "events.parquet", index=False)
    run_cli("score", "--events", tmp_path / "events.parquet", "--out", tmp_path / "local")
    events = raw.groupby("creator_id").size()
    plan = pd.DataFrame(
        {
            "platform": "douyin",
            "creator_id": ["kA", "kB"],
            "shard": ["douyin.000", "douyin.001"],
            "events": [int(events["kA"]), int(events["kB"])],
        }
    )
    run_spark(
        spark_session("local[2]"),
        events=str(tmp_path / "events.parquet"),
        out=str(tmp_path / "spark"),
        plan=plan,
    )
    columns = ["event_id", "user_id", "invalid", "evidence"]
    local = pd.read_parquet(tmp_path / "local" / "engagements.parquet", columns=columns)
    spark = pd.read_parquet(
        tmp_path / "spark" / "engagements.parquet", columns=[*columns[2:], "event_id", "shard"]
    )
    both = local.merge(spark, on="event_id", suffixes=("", "_spark"), validate="one_to_one")
    own = both["evidence"].astype("str").str.contains("to this post and at most 2 others and to nothing else")
    assert set(both.loc[own & both["invalid"], "user_id"].astype("str")) == {
        f"a{i}-{m}" for i in range(7) for m in range(2)
    }
    assert both["shard"].astype("str").nunique() == 2
    assert (both["invalid"] == both["invalid_spark"]).all()
    assert (both["evidence"].astype("str") == both["evidence_spark"].astype("str"))[own].all()


def _frame(rows: list[tuple[str, str, str]], days: np.ndarray, prefix: str) -> pd.DataFrame:
    """(user, post, ip) douyin likes at ``days`` after BASE_TS, in the events file's columns; a post
    starting with "a" is creator kA's, any other kB's."""
    users, posts, ips = zip(*rows, strict=True)
    ts = BASE_TS + pd.to_timedelta(days, unit="D")
    return pd.DataFrame(
        {
            "event_id": [f"{prefix}{i}" for i in range(len(rows))],
            "platform": "douyin",
            "campaign_id": "cmp1",
            "post_id": posts,
            "creator_id": ["kA" if p.startswith("a") else "kB" for p in posts],
            "user_id": users,
            "action": "like",
            "ts": [t.isoformat() for t in ts],
            "ip": ips,
            "device_id": [f"d-{u}" for u in users],
            ROW: np.arange(1, len(rows) + 1),
        }
    )
