"""The seller-IP rule's second-round pass on Spark reads the first pass's detections instead of running
the detectors again (``detectors.scorer.raise_parts``, spark23), and sends only what spans shards
(``scaleout.shard_scoring.spanning_rows``): its part equals the part of the pass that ran every detector
again (spark22's), on the shards of a simulated window split by creator. The first pass's detections
reach the pass as their own part (``PART``, tidy24): each shard gets exactly the rows it got when they
were told apart by their null columns, and the window's counts, now one collect and pandas, are those
Spark's aggregations gave."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from detectors.chance import WindowChance, chance_frame, window_chance
from detectors.model import WindowScorer
from detectors.params import ScoringParams
from detectors.policy import NOT_ACCOUNT_FAULT_REASONS
from detectors.registry import STRUCTURAL
from detectors.scorer import raise_parts, spread_parts
from detectors.scorer.detections import _spread_detections
from detectors.scorer.running import window_context
from detectors.seller_ips import SellerIpEvidence, first_round_raises, ip_part
from features.contract import clean_events
from features.dedup import distinct_engagements
from scaleout.shard_scoring import (
    FIRST_PASS_PARTS,
    FOCUSED,
    PART,
    RAISE_COLUMNS,
    ROW,
    SHARD,
    ShardInputs,
    first_pass_ddl,
    shard_spread,
    spanning_rows,
)
from tests.scaleout.test_spread import _shard_keys
from training.simulator import SimConfig, simulate


@pytest.fixture(scope="module")
def events() -> pd.DataFrame:
    return simulate(SimConfig(seed=3, scale=0.5)).events


@pytest.fixture(scope="module")
def window(events: pd.DataFrame) -> pd.DataFrame:
    return distinct_engagements(clean_events(events, source="sim").frame).reset_index(drop=True)


def _rerun(engagements: pd.DataFrame, *, params: ScoringParams, chance: WindowChance) -> pd.DataFrame:
    """The pass as spark22 ran it: every detector again against the joined window, spread with it."""
    context = window_context(
        engagements, params=params, posts=None, fitted=None, reputation=None, chance=chance
    )
    detections, _ = _spread_detections(engagements, params=params, context=context, progress=None)
    structural = STRUCTURAL - NOT_ACCOUNT_FAULT_REASONS
    ips = ip_part(detections, engagements, structural=structural, params=params.spread)
    raised = first_round_raises(
        detections, engagements, structural=structural, params=params.spread, window=chance.seller_ips
    )
    return pd.concat([ips, raised], ignore_index=True)


def _seller_ips(ip_parts: list[pd.DataFrame], split: frozenset[str]) -> SellerIpEvidence:
    """The first round's window of the addresses and accounts in both shards, as Spark counts it."""
    parts = pd.concat([p.assign(shard=i) for i, p in enumerate(ip_parts)], ignore_index=True)
    through = parts[parts["ip"].notna()]
    per_account = through.groupby(["platform", "ip", "user_id"], as_index=False).agg(
        strongest=("strongest", "max"), shards=("shard", "nunique")
    )
    spans = through.groupby(["platform", "ip"])["shard"].nunique()
    per_ip = per_account.groupby(["platform", "ip"], as_index=False).agg(
        caught=("strongest", lambda s: int((s > 0).sum())),
        accounts=("user_id", "size"),
        strongest=("strongest", "max"),
    )
    per_ip = per_ip[per_ip.set_index(["platform", "ip"]).index.isin(spans[spans > 1].index)]
    own = parts[parts["ip"].isna()].groupby(["platform", "user_id"], as_index=False)
    posts = own.agg(posts=("posts", "sum"), shards=("shard", "nunique"))
    return SellerIpEvidence(
        ips=per_ip.assign(farm=0, fresh=0).reset_index(drop=True),
        posts=posts.loc[posts["shards"] > 1, ["platform", "user_id", "posts"]].reset_index(drop=True),
        split=split,
    )


def _first_round(
    window: pd.DataFrame,
) -> tuple[list[str], list[pd.DataFrame], list[pd.DataFrame], WindowChance, SellerIpEvidence]:
    """The window split in two shards per platform: the shards' keys, rows and first-pass focused parts,
    the joined window (first round's spreading and seller-IP evidence) and its seller-IP evidence."""
    params = ScoringParams()
    keys = _shard_keys(window)
    names = sorted(set(keys))
    shards = [window[keys == k].reset_index(drop=True) for k in names]
    statistics = window_chance(chance_frame(window))
    first = [spread_parts(shard, params=params, chance=statistics) for shard in shards]
    spread = pd.concat([part for part, _, _ in first]).groupby(["detector", "user_id"], as_index=False)
    evidence = spread.agg(caught=("caught", "sum"), total=("total", "sum"), strongest=("strongest", "max"))
    split = frozenset(window["platform"].astype("str").unique())
    seller_ips = _seller_ips([ips for _, ips, _ in first], split)
    joined = replace(statistics, spread=evidence[evidence["caught"] > 0], seller_ips=seller_ips)
    return names, shards, [focused for _, _, focused in first], joined, seller_ips


def test_the_pass_from_the_first_pass_detections_equals_the_pass_that_reran_them(
    window: pd.DataFrame,
) -> None:
    params = ScoringParams()
    _, shards, focused_parts, joined, seller_ips = _first_round(window)
    assert len(seller_ips.ips) and len(seller_ips.posts)  # addresses and accounts span the two shards
    raised, kept = 0, 0
    for shard, focused in zip(shards, focused_parts, strict=True):
        cheap = raise_parts(shard, params=params, focused=focused, chance=joined)
        pd.testing.assert_frame_equal(cheap, _rerun(shard, params=params, chance=joined))
        raised += int(cheap["raised"].notna().sum())
        sent = spanning_rows(cheap, seller_ips)
        kept += len(sent)
        assert len(sent) < len(cheap)  # what spans nothing stays in the shard
    assert raised > 0 and kept > 0


def test_the_pass_refuses_detections_of_other_rows(window: pd.DataFrame) -> None:
    params = ScoringParams()
    keys = _shard_keys(window)
    shard, other = (window[keys == k].reset_index(drop=True) for k in sorted(set(keys))[:2])
    statistics = window_chance(chance_frame(window))
    _, _, focused = spread_parts(other, params=params, chance=statistics)
    assert len(shard) != len(other)
    with pytest.raises(ValueError, match="other rows"):
        raise_parts(shard, params=params, focused=focused, chance=statistics)
    assert np.isfinite(focused["score"]).all()


def _cheap_parts(window: pd.DataFrame) -> pd.DataFrame:
    """Every shard's rows of the second-round pass (``shard_raises``: ``raise_parts``, ``spanning_rows``)."""
    names, shards, focused_parts, joined, seller_ips = _first_round(window)
    parts = []
    for key, shard, focused in zip(names, shards, focused_parts, strict=True):
        cheap = raise_parts(shard, params=ScoringParams(), focused=focused, chance=joined)
        parts.append(spanning_rows(cheap, seller_ips).assign(**{SHARD: key}))
    return pd.concat(parts, ignore_index=True).reindex(columns=[SHARD, *RAISE_COLUMNS])


def _spark_counts(parts: object, *, min_caught_score: float) -> object:
    """``second_round_counts`` as Spark's aggregations computed it before tidy24 (spark22, spark23)."""
    from pyspark.sql import functions as F

    from scaleout.window_parts import ROUND

    raised = (
        parts.filter(F.col("raised").isNotNull())  # type: ignore[attr-defined]
        .groupBy("platform", "user_id")
        .agg(F.max("raised").alias("raised"))
    )
    through = parts.filter(F.col("ip").isNotNull())  # type: ignore[attr-defined]
    floor = F.lit(min_caught_score)
    per_account = (
        through.groupBy("platform", "ip", "user_id")
        .agg(F.max("strongest").alias("strongest"))
        .join(raised, ["platform", "user_id"], "left")
        .withColumn(
            "strongest",
            F.greatest("strongest", F.when(F.col("raised") >= floor, F.col("raised")).otherwise(0.0)),
        )
    )
    spans = through.groupBy("platform", "ip").agg(F.countDistinct(SHARD).alias("_shards"))
    per_ip = (
        per_account.groupBy("platform", "ip")
        .agg(
            F.sum((F.col("strongest") > 0).cast("long")).alias("caught"),
            F.count("*").alias("accounts"),
            F.max("strongest").alias("strongest"),
        )
        .join(spans.filter(F.col("_shards") > 1).select("platform", "ip"), ["platform", "ip"])
    )
    ips = through.select(SHARD, "platform", "ip").distinct().join(per_ip, ["platform", "ip"])
    own = parts.filter(F.col("ip").isNull() & F.col("posts").isNotNull())  # type: ignore[attr-defined]
    several = (
        own.groupBy("platform", "user_id")
        .agg(F.countDistinct(SHARD).alias("_shards"))
        .filter(F.col("_shards") > 1)
    )
    accounts = own.select(SHARD, "platform", "user_id").join(several.drop("_shards"), ["platform", "user_id"])
    return ips.withColumn(ROUND, F.lit(2)).unionByName(
        accounts.join(raised, ["platform", "user_id"]), allowMissingColumns=True
    )


def _spark(partitions: int = 2) -> object:
    from scaleout.session import spark_session

    return spark_session("local[2]", conf={"spark.sql.shuffle.partitions": str(partitions)})


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(list(frame.columns), ignore_index=True)


@pytest.mark.slow
def test_the_second_rounds_counts_in_pandas_are_sparks(window: pd.DataFrame) -> None:
    from scaleout.window_parts import ROUND, second_round_counts

    parts = _cheap_parts(window)
    floor = ScoringParams().spread.min_caught_score
    found = second_round_counts(parts, min_caught_score=floor)
    assert found[ROUND].notna().sum() > 0 and found["raised"].notna().sum() > 0
    ddl = f"`{SHARD}` string, platform string, ip string, user_id string, strongest double, posts long"
    frame = _spark().createDataFrame(  # type: ignore[attr-defined]
        parts.astype(object).where(parts.notna(), None), f"{ddl}, raised double"
    )
    before = _spark_counts(frame, min_caught_score=floor).toPandas()  # type: ignore[attr-defined]
    before = before.reindex(columns=found.columns).astype(found.dtypes.to_dict())
    pd.testing.assert_frame_equal(_sorted(found), _sorted(before))


@pytest.mark.slow
def test_the_pass_gets_each_shards_first_pass_detections_as_before(
    events: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """On Spark: the first pass's stacked parts read apart by ``PART`` are the rows the null columns told
    apart, and each shard of the second pass reads back its focused rows and its joined rows."""
    from scaleout.reading import read_numbered
    from scaleout.routing import route, with_plan_keys
    from scaleout.window_parts import (
        first_pass_part,
        focused_apart,
        window_chance_per_shard,
        window_spread_per_shard,
        with_focused,
    )

    path = str(tmp_path_factory.mktemp("first_pass") / "events.parquet")
    events.to_parquet(path, index=False)
    keys = _shard_keys(events.assign(platform=events["platform"].astype("str").str.strip().str.lower()))
    plan = pd.DataFrame({"platform": events["platform"], "creator_id": events["creator_id"], SHARD: keys})
    spark = _spark()
    routed = route(with_plan_keys(read_numbered(spark, path)), plan.drop_duplicates().assign(events=0))  # type: ignore[arg-type]
    inputs = ShardInputs(scorer=WindowScorer(), source=path)
    chance = window_chance_per_shard(routed, inputs=inputs)
    spread, focused = window_spread_per_shard(routed, chance, inputs=inputs)
    # each shard's stacked parts, as its worker gives them (``shard_spread``)
    statistics = dict(iter(chance.toPandas().groupby(SHARD)))
    stacked = pd.concat(
        [
            shard_spread(raw, inputs=inputs, chance=window_chance(statistics[key]))
            for key, raw in routed.toPandas().groupby(SHARD)
        ],
        ignore_index=True,
    )
    told = {  # how spark23 told the parts apart
        "spread": stacked["detector"].notna() & stacked["row"].isna(),
        "seller_ips": stacked["detector"].isna(),
        FOCUSED: stacked["row"].notna(),
    }
    parts = spark.createDataFrame(stacked.astype(object).where(stacked.notna(), None), first_pass_ddl())  # type: ignore[attr-defined]
    for name, columns in FIRST_PASS_PARTS.items():
        np.testing.assert_array_equal(stacked[PART].eq(name).to_numpy(), told[name].to_numpy())
        read = first_pass_part(parts, name).toPandas()
        assert list(read.columns) == [SHARD, *columns] and len(read) == int(told[name].sum())
    expected = stacked.loc[told[FOCUSED], [SHARD, "detector", "row", "score"]]
    got = focused.toPandas()
    assert len(got) > len(set(keys))  # non-zero scores besides each detector's count row
    pd.testing.assert_frame_equal(_sorted(got), _sorted(expected.astype(got.dtypes.to_dict())))
    joined = chance.unionByName(spread, allowMissingColumns=True).toPandas()
    window_rows = with_focused(chance.unionByName(spread, allowMissingColumns=True), focused).toPandas()
    assert (window_rows[PART].eq(FOCUSED) == window_rows["row"].notna()).all()  # spark23's rule
    for key, rows in window_rows.groupby(SHARD):
        found, rest = focused_apart(rows)
        mine = got[got[SHARD] == key].drop(columns=[SHARD])
        # ``row`` arrives as floats beside the joined rows' nulls, as before; ``_stored`` reads it as int
        pd.testing.assert_frame_equal(_sorted(found), _sorted(mine), check_dtype=False)
        pd.testing.assert_frame_equal(_sorted(rest), _sorted(joined[joined[SHARD] == key]))
    assert ROW in routed.columns
