"""The seller-IP rule's second-round pass on Spark reads the first pass's detections instead of running
the detectors again (``detectors.scorer.raise_parts``, spark23), and sends only what spans shards
(``scaleout.shard_scoring.spanning_rows``): its part equals the part of the pass that ran every detector
again (spark22's), on the shards of a simulated window split by creator."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from detectors.chance import WindowChance, chance_frame, window_chance
from detectors.params import ScoringParams
from detectors.policy import NOT_ACCOUNT_FAULT_REASONS
from detectors.registry import STRUCTURAL
from detectors.scorer import raise_parts, spread_parts
from detectors.scorer.detections import _spread_detections
from detectors.scorer.running import window_context
from detectors.seller_ips import SellerIpEvidence, first_round_raises, ip_part
from features.contract import clean_events
from features.dedup import distinct_engagements
from scaleout.shard_scoring import spanning_rows
from tests.scaleout.test_spread import _shard_keys
from training.simulator import SimConfig, simulate


@pytest.fixture(scope="module")
def window() -> pd.DataFrame:
    events = simulate(SimConfig(seed=3, scale=0.5)).events
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


def test_the_pass_from_the_first_pass_detections_equals_the_pass_that_reran_them(
    window: pd.DataFrame,
) -> None:
    params = ScoringParams()
    keys = _shard_keys(window)
    shards = [window[keys == k].reset_index(drop=True) for k in sorted(set(keys))]
    statistics = window_chance(chance_frame(window))
    first = [spread_parts(shard, params=params, chance=statistics) for shard in shards]
    spread = pd.concat([part for part, _, _ in first]).groupby(["detector", "user_id"], as_index=False)
    evidence = spread.agg(caught=("caught", "sum"), total=("total", "sum"), strongest=("strongest", "max"))
    split = frozenset(window["platform"].astype("str").unique())
    seller_ips = _seller_ips([ips for _, ips, _ in first], split)
    assert len(seller_ips.ips) and len(seller_ips.posts)  # addresses and accounts span the two shards
    joined = replace(statistics, spread=evidence[evidence["caught"] > 0], seller_ips=seller_ips)
    raised, kept = 0, 0
    for shard, (_, _, focused) in zip(shards, first, strict=True):
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
