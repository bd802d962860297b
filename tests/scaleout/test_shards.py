"""Shard plans follow the engagement graph; a shard's rejects keep their rows in the file."""

from __future__ import annotations

import itertools

import pandas as pd

from detectors.model import WindowScorer
from scaleout.shard_scoring import ROW, SHARD, ShardInputs, clean_shard_events, score_shard
from scaleout.shards import pack_platforms, plan_platform
from tests.factories import raw_events


def _edges(pairs: list[tuple[str, str]], platform: str = "douyin") -> pd.DataFrame:
    """Edges of (creator, user) pairs, one event each."""
    frame = pd.DataFrame(pairs, columns=["creator_id", "user_id"])
    return frame.assign(platform=platform, events=1)[["platform", "creator_id", "user_id", "events"]]


def _clique(creators: list[str], users: list[str]) -> list[tuple[str, str]]:
    return list(itertools.product(creators, users))


def test_whole_platforms_are_packed_while_they_fit() -> None:
    sizes = pd.Series({"douyin": 60, "kuaishou": 50, "channels": 30, "xiaohongshu": 10})
    assert set(pack_platforms(sizes, budget=1_000).values()) == {"channels+douyin+kuaishou+xiaohongshu"}
    packed = pack_platforms(sizes, budget=80)
    assert packed["douyin"] == packed["xiaohongshu"] != packed["kuaishou"]
    assert all(sum(sizes[p] for p in packed if packed[p] == s) <= 80 for s in packed.values())


def test_a_platform_within_budget_is_one_shard() -> None:
    plan = plan_platform(_edges(_clique(["k1", "k2"], ["u1", "u2"])), budget=4)
    assert set(plan["shard"]) == {"douyin"}
    assert plan["events"].sum() == 4


def test_connected_components_are_never_cut() -> None:
    pairs = _clique(["k1", "k2"], ["u1", "u2", "u3"]) + _clique(["k3", "k4"], ["u4", "u5", "u6"])
    plan = plan_platform(_edges(pairs), budget=6).set_index("creator_id")["shard"]
    assert plan["k1"] == plan["k2"] != plan["k3"] == plan["k4"]
    assert plan["k1"].startswith("douyin.")


def test_a_component_over_budget_splits_between_communities_of_creators() -> None:
    # two creator groups with their own fans, linked by one user who follows both
    left = _clique(["k1", "k2", "k3"], [f"a{i}" for i in range(8)])
    right = _clique(["k4", "k5", "k6"], [f"b{i}" for i in range(8)])
    plan = plan_platform(_edges([*left, *right, ("k1", "bridge"), ("k4", "bridge")]), budget=30)
    shard = plan.set_index("creator_id")["shard"]
    assert shard["k1"] == shard["k2"] == shard["k3"] != shard["k4"] == shard["k5"] == shard["k6"]
    # each creator has exactly one shard: its posts are scored together
    assert plan["creator_id"].is_unique


def test_shard_rejects_keep_the_row_number_of_the_file() -> None:
    raw = raw_events(6)
    raw.loc[4, "user_id"] = ""
    raw[ROW] = [3, 9, 12, 20, 41, 42]  # this shard's rows are scattered through the file
    raw[SHARD] = "douyin"
    cleaned = clean_shard_events(raw.iloc[::-1], source="events.csv")
    assert cleaned.rejects["source_row"].tolist() == [41]
    assert cleaned.frame["source_row"].tolist() == [3, 9, 12, 20, 42]


def test_a_shard_of_only_bad_rows_gives_only_rejects() -> None:
    raw = raw_events(3, user_id="")
    raw[ROW] = [1, 2, 3]
    raw[SHARD] = "douyin"
    out = score_shard(raw, inputs=ShardInputs(scorer=WindowScorer(), source="events.csv"))
    assert set(out["kind"]) == {"rejects"} and set(out[SHARD]) == {"douyin"}
    assert out["source_row"].tolist() == [1, 2, 3]
