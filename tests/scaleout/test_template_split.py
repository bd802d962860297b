"""A comment template's accounts split over shards: counted over the window, as one machine counts them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from detectors.chance import combine_parts, window_chance
from detectors.model import WindowScorer
from detectors.params import ScoringParams
from scaleout.shard_scoring import ROW, SHARD, SOURCE, ShardInputs, score_shard, shard_chance
from tests.conftest import run_cli
from tests.factories import BASE_TS

TEMPLATE = "姐妹拍得真好～"  # posted by t1 (douyin, creator kA), t2 (douyin, kB) and t3 (kuaishou)
PAIR = "Love this look!!"  # posted by p1 (kA) and p2 (kB) in the window, and by h1 in history only
# the anomaly model is fitted on the rows it scores, so a shard's differs from the window's: left out,
# every other risk of this window is the same on a shard as on one machine
KNOBS = {"disabled": ["anomaly"]}
TEMPLATED = {"t1", "t2", "t3"}


def _events(
    start: pd.Timestamp, rows: list[tuple[str, str, str, str, str | None]], *, tag: str
) -> pd.DataFrame:
    """Contract events of (user, post, creator, action, comment text) rows over six days from ``start``;
    posts of creator kC are kuaishou's, the rest douyin's."""
    users, posts, creators, actions, texts = zip(*rows, strict=True)
    ts = start + pd.to_timedelta(np.linspace(0.0, 6.0, len(rows)), unit="D")
    return pd.DataFrame(
        {
            "event_id": [f"{tag}{i}" for i in range(len(rows))],
            "platform": ["kuaishou" if c == "kC" else "douyin" for c in creators],
            "campaign_id": "cmp1",
            "post_id": posts,
            "creator_id": creators,
            "user_id": users,
            "action": actions,
            "ts": [t.isoformat() for t in ts],
            "ip": [f"ip-{u}" for u in users],
            "device_id": [f"d-{u}" for u in users],
            "comment_text": texts,
        }
    )


def _window() -> pd.DataFrame:
    """300 douyin users on creators kA (posts a*) and kB (b*) and 120 kuaishou users on kC (c*), each
    liking and commenting in words of their own; the template's three accounts each like and comment
    one post, in three shards; the pair's two accounts comment in two."""
    rows: list[tuple[str, str, str, str, str | None]] = []
    for i in range(300):
        creator, prefix = ("kA", "a") if i % 2 == 0 else ("kB", "b")
        rows += [(f"u{i}", f"{prefix}{(i * 7 + j) % 60}", creator, "like", None) for j in range(2)]
        rows.append((f"u{i}", f"{prefix}{(i * 3) % 60}", creator, "comment", f"my own words number {i}"))
    for i in range(120):
        rows.append((f"w{i}", f"c{i % 30}", "kC", "like", None))
        rows.append((f"w{i}", f"c{(i * 5) % 30}", "kC", "comment", f"kuaishou words {i}"))
    for user, post, creator in (("t1", "a5", "kA"), ("t2", "b7", "kB"), ("t3", "c3", "kC")):
        rows += [(user, post, creator, "like", None), (user, post, creator, "comment", TEMPLATE)]
    rows += [("p1", "a8", "kA", "comment", PAIR), ("p2", "b9", "kB", "comment", PAIR)]
    return _events(BASE_TS, rows, tag="e")


def _history() -> pd.DataFrame:
    """The week before: kA's users liking its older posts, and h1 commenting the pair's text (a third account
    over window and history, but the template rule judges the window's own rows)."""
    rows: list[tuple[str, str, str, str, str | None]] = [
        (f"u{i}", f"a{60 + i % 20}", "kA", "like", None) for i in range(0, 300, 2)
    ]
    rows.append(("h1", "a10", "kA", "comment", PAIR))
    return _events(BASE_TS - pd.Timedelta(days=7), rows, tag="h")


def _shard(frame: pd.DataFrame) -> np.ndarray:
    """douyin split by creator (kA in douyin.000, kB in douyin.001), kuaishou whole."""
    return np.where(
        frame["platform"].eq("kuaishou"),
        "kuaishou",
        np.where(frame["creator_id"].eq("kA"), "douyin.000", "douyin.001"),
    )


def _routed(*, split: bool) -> pd.DataFrame:
    """Window and history rows as Spark routes them (``ROW``, ``SOURCE``, ``SHARD``; one shard unless
    ``split``)."""
    parts = []
    for source, frame in ((-1, _window()), (0, _history())):
        part = frame.copy()
        part[ROW] = np.arange(1, len(frame) + 1)
        part[SOURCE] = source
        part[SHARD] = _shard(frame) if split else "all"
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def _risks(stacked: pd.DataFrame) -> pd.Series:
    rows = stacked[stacked["kind"] == "engagements"]
    return pd.Series(rows["risk"].to_numpy(), index=rows["event_id"].astype("str")).sort_index()


def test_shards_count_a_templates_accounts_over_the_window() -> None:
    inputs = ShardInputs(
        scorer=WindowScorer(params=ScoringParams().set_params(**KNOBS)),
        source="events",
        history=("history",),
    )
    single = _risks(score_shard(_routed(split=False), inputs=inputs))
    users = _window().set_index("event_id")["user_id"]
    texts = _window().set_index("event_id")["comment_text"]
    assert set(users[single.index[single > 0]]) == TEMPLATED
    assert (texts[single.index[single > 0]] == TEMPLATE).all()
    # each shard's part of the window statistics, combined (Spark joins each shard the texts it holds)
    shards = [part for _, part in _routed(split=True).groupby(SHARD)]
    chance = window_chance(combine_parts(pd.concat([shard_chance(raw, inputs=inputs) for raw in shards])))
    joined = pd.concat(
        [_risks(score_shard(raw, inputs=inputs, chance=chance)) for raw in shards]
    ).sort_index()
    pd.testing.assert_series_equal(joined, single)
    # without the window's counts, no shard sees the template's three accounts
    alone = pd.concat([_risks(score_shard(raw, inputs=inputs, chance=None)) for raw in shards]).sort_index()
    assert set(users[alone.index[alone != single]]) == TEMPLATED


@pytest.mark.slow
@pytest.mark.e2e
def test_spark_counts_a_templates_accounts_over_its_shards_as_the_command_line_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both engines with history: ``cpeguard score`` and Spark local[2] forced to split douyin by
    creator beside whole kuaishou; every engagement's risk and every post's decision the same."""
    from scaleout.job import run_spark, spark_session

    window, history = _window(), _history()
    window.to_parquet(tmp_path / "events.parquet", index=False)
    history.to_parquet(tmp_path / "history.parquet", index=False)
    monkeypatch.setenv("CPEGUARD_SCORING_PARAMS", json.dumps(KNOBS))
    run_cli(
        "score",
        "--events",
        tmp_path / "events.parquet",
        "--history",
        tmp_path / "history.parquet",
        "--out",
        tmp_path / "local",
    )
    keyed = window.assign(**{SHARD: _shard(window)})
    keyed["creator_id"] = np.where(keyed["platform"].eq("kuaishou"), "", keyed["creator_id"])
    plan = keyed.groupby(["platform", "creator_id", SHARD]).size().rename("events").reset_index()
    run_spark(
        spark_session("local[2]"),
        events=str(tmp_path / "events.parquet"),
        out=str(tmp_path / "spark"),
        plan=plan,
        history=(str(tmp_path / "history.parquet"),),
        scorer=WindowScorer(params=ScoringParams().set_params(**KNOBS)),
    )
    engagements = [
        pd.read_parquet(tmp_path / side / "engagements.parquet", columns=["event_id", "user_id", "risk"])
        for side in ("local", "spark")
    ]
    local, spark = (
        frame.astype({"event_id": "str"}).set_index("event_id").sort_index() for frame in engagements
    )
    assert len(local) == len(window)
    pd.testing.assert_series_equal(spark["risk"], local["risk"])
    assert set(local.loc[local["risk"] > 0, "user_id"].astype("str")) == TEMPLATED
    columns = ["campaign_id", "post_id", "decision", "payable"]
    posts = [
        pd.read_parquet(tmp_path / side / "posts.parquet", columns=columns) for side in ("local", "spark")
    ]
    both = (
        posts[0]
        .astype("str")
        .merge(posts[1].astype("str"), on=["campaign_id", "post_id"], validate="one_to_one")
    )
    assert len(both) == len(posts[0]) and (both["decision_x"] == both["decision_y"]).all()
