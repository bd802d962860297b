"""The anomaly model fitted once per window: a window split into shards scores its accounts as one machine."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from detectors.audiences import AudienceParams
from detectors.chance import WindowChance
from detectors.context import WindowContext
from detectors.fitted import FittedState, StackerParams, fit_stacker, stack_matrix
from detectors.history import HISTORY_COLUMN, with_history
from detectors.infra import ip_chance
from detectors.params import ScoringParams
from detectors.registry import NAMES, anomalous_accounts
from detectors.scorer.window import score_engagements
from features.contract import clean_events
from features.dedup import CATEGORICAL_COLUMNS, distinct_engagements
from scaleout.window_accounts import (
    SHARED,
    account_rows,
    account_rows_features,
    anomaly_rows,
    window_features,
)
from tests.conftest import run_cli
from tests.scaleout.engines import assert_same_risks
from training.simulator import SimConfig, simulate, write_simulated_set

PARAMS = ScoringParams().detectors.anomaly
# every detector but the anomaly model left out: an event's risk is its account's anomaly score
ONLY_ANOMALY = {"disabled": sorted(set(NAMES) - {"anomaly"})}
# every detector off but the re-count test (a split window's seller-IP pass needs one detector): the
# supervised stacker reads the account features and the re-counts, exact on any shard
ONLY_STACKER = ScoringParams().set_params(disabled=sorted(set(NAMES) - {"duplicate"}))


@pytest.fixture(scope="module")
def window() -> pd.DataFrame:
    events = simulate(SimConfig(seed=3, scale=0.3)).events
    return distinct_engagements(clean_events(events, source="sim").frame).reset_index(drop=True)


def _keys(window: pd.DataFrame) -> np.ndarray:
    """Each row's shard: the window split by platform, and the largest platform again by creator (an
    account of it that engages creators of both halves is in two shards)."""
    platform = window["platform"].astype("str")
    largest = platform.value_counts().index[0]
    creator = window["creator_id"].astype("str")
    half = creator.isin(sorted(creator[platform == largest].unique())[::2])
    return np.where(platform == largest, np.where(half, largest + ".0", largest + ".1"), platform)


def _shards(window: pd.DataFrame) -> list[pd.DataFrame]:
    """The window's shards (``_keys``), in the order of their names."""
    keys = _keys(window)
    return [window[keys == k].reset_index(drop=True) for k in sorted(set(keys))]


def _features(rows: pd.DataFrame) -> pd.DataFrame:
    """The account features the scorer finds on ``rows`` (index the account ids as str)."""
    found = WindowContext(rows, posts=None, fitted=None, audience=AudienceParams()).account_features()
    return found.set_axis(pd.Index(found.index.astype("str"), name="user_id"))


def _gathered(
    shards: list[pd.DataFrame], rows_of: Callable[[pd.DataFrame], pd.DataFrame] = anomaly_rows
) -> pd.DataFrame:
    """The window's account features from its shards' rows (``rows_of`` each), as Spark gathers them:
    the window's accounts counted per shared value and joined to the rows, the rows grouped into buckets
    of accounts."""
    rows = pd.concat([account_rows(rows_of(shard), None) for shard in shards], ignore_index=True)
    for column, name in SHARED.items():
        pairs = rows.dropna(subset=[column]).drop_duplicates([column, "user_id"])
        rows = rows.join(pairs.groupby(column).size().rename(name), on=column)
    bucket = pd.util.hash_pandas_object(rows["user_id"], index=False).to_numpy() % 3
    parts = [account_rows_features(part.reset_index(drop=True)) for _, part in rows.groupby(bucket)]
    return window_features(pd.concat(parts, ignore_index=True))


def test_the_windows_account_features_are_gathered_from_its_shards(window: pd.DataFrame) -> None:
    shards = _shards(window)
    whole = _features(window).astype("float64")
    pd.testing.assert_frame_equal(_gathered(shards), whole)
    # on its own a shard counts an account's engagements, devices, IPs and texts on its rows only
    differs = 0
    for shard in shards:
        alone = _features(shard).astype("float64")
        differs += int((alone.fillna(-1.0) != whole.loc[alone.index].fillna(-1.0)).any(axis=1).sum())
    assert differs > 0


def test_shards_read_the_windows_unusual_accounts(window: pd.DataFrame) -> None:
    shards = _shards(window)
    whole = anomalous_accounts(_features(window), PARAMS, None)
    gathered = anomalous_accounts(_gathered(shards), PARAMS, None)
    assert whole.scores is not None and gathered.scores is not None and len(whole.scores) > 20
    pd.testing.assert_series_equal(gathered.scores, whole.scores)
    assert gathered.evidence == whole.evidence
    # fitted on each shard's own accounts, the model calls other accounts unusual, by other scores
    alone = pd.concat([anomalous_accounts(_features(s), PARAMS, None).scores for s in shards])
    assert not alone.sort_index().equals(whole.scores.sort_index())


def test_with_history_the_model_reads_the_windows_own_accounts(window: pd.DataFrame) -> None:
    # the window's first half as history: the anomaly detector judges the second half's rows only
    is_early = (window["ts"] < window["ts"].median()).to_numpy()
    # each part's ids as a reader gives them (numbered in the part's own order, not the whole window's)
    late, early = (_as_read(window[rows]) for rows in (~is_early, is_early))
    joined = with_history(late, early)
    shards = [joined[joined["platform"] == p].reset_index(drop=True) for p in joined["platform"].unique()]
    own = _features(joined[~joined[HISTORY_COLUMN]].reset_index(drop=True)).astype("float64")
    assert len(own) < len(_features(joined))
    pd.testing.assert_frame_equal(_gathered(shards), own)
    whole = anomalous_accounts(own, PARAMS, None)
    gathered = anomalous_accounts(_gathered(shards), PARAMS, None)
    assert whole.scores is not None and gathered.scores is not None and len(whole.scores) > 10
    pd.testing.assert_series_equal(gathered.scores, whole.scores)


def _as_read(rows: pd.DataFrame) -> pd.DataFrame:
    """``rows`` as clean events come from a file: id columns plain strings, not yet deduplicated."""
    ids = [c for c in CATEGORICAL_COLUMNS if c in rows]
    plain = rows.drop(columns=["copies", "is_recount"]).reset_index(drop=True)
    return plain.astype(dict.fromkeys(ids, "str"))


@pytest.mark.slow
@pytest.mark.e2e
def test_spark_scores_accounts_as_the_command_line_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through both engines, only the anomaly model on: every event's risk the same when Spark splits
    the window into shards (the largest platforms along their graph)."""
    from detectors.model import WindowScorer
    from scaleout.job import run_spark, spark_session

    write_simulated_set(simulate(SimConfig(seed=5, scale=0.3)), tmp_path / "sim")
    events = tmp_path / "sim" / "events.parquet"
    monkeypatch.setenv("CPEGUARD_SCORING_PARAMS", json.dumps(ONLY_ANOMALY))
    run_cli(
        "score",
        "--events",
        events,
        "--posts",
        tmp_path / "sim" / "posts.parquet",
        "--out",
        tmp_path / "local",
    )
    found = run_spark(
        spark_session("local[2]"),
        events=str(events),
        posts=str(tmp_path / "sim" / "posts.parquet"),
        out=str(tmp_path / "spark"),
        scorer=WindowScorer(params=ScoringParams().set_params(**ONLY_ANOMALY)),
        shard_budget=len(pd.read_parquet(events, columns=["event_id"])) // 4,
    )
    assert len(found.shards) >= 5
    assert_same_risks(tmp_path)


def _stacker(window: pd.DataFrame) -> FittedState:
    """A supervised stacker fitted on the window's accounts' features alone (every detector off): an
    engagement's score is its account's resemblance to the accounts of three creators or more."""
    X = stack_matrix([], window, _features(window))  # the re-count test's scores read as 0
    y = X["n_creators"].to_numpy() >= 3
    return FittedState(stacker=fit_stacker(X, y, params=StackerParams(max_iter=20)))


def _supervised(rows: pd.DataFrame, fitted: FittedState, chance: WindowChance | None) -> np.ndarray:
    """The stacker's scores of ``rows``' window rows as the scorer gives them (``ONLY_STACKER``)."""
    scored = score_engagements(rows, params=ONLY_STACKER, fitted=fitted, chance=chance)
    return next(d for d in scored.detections if d.name == "supervised").event_score


@pytest.mark.parametrize("history", [False, True])
def test_shards_stack_with_the_windows_account_features(window: pd.DataFrame, history: bool) -> None:
    """A trained scorer's stacker reads on every shard the account features of the window (with
    history, over the window's and history's rows, as the scorer's context holds them)."""
    is_early = (window["ts"] < window["ts"].median()).to_numpy()
    late, early = (_as_read(window[rows]) for rows in (~is_early, is_early))
    rows = with_history(late, early) if history else with_history(_as_read(window), None)
    fitted = _stacker(rows)
    whole = _supervised(rows, fitted, None)
    gathered = _gathered(_shards(rows), rows_of=lambda shard: shard)
    pd.testing.assert_frame_equal(gathered, _features(rows).astype("float64"))
    keys = _keys(rows)[~rows[HISTORY_COLUMN].to_numpy()] if history else _keys(rows)
    differ = 0
    for key, shard in zip(sorted(set(_keys(rows))), _shards(rows), strict=True):
        given = WindowChance(ip=ip_chance(shard.iloc[:0]), lockstep=None)
        joined = _supervised(shard, fitted, replace(given, account_features=gathered))
        np.testing.assert_array_equal(joined, whole[keys == key])
        differ += int((_supervised(shard, fitted, given) != whole[keys == key]).sum())
    assert differ > 100  # each shard's own features (on main) give other scores


@pytest.mark.slow
@pytest.mark.e2e
def test_spark_stacks_as_the_single_process_does(tmp_path: Path) -> None:
    """Through both engines, a trained scorer with only its stacker on (``ONLY_STACKER``): the risk of every
    event the same when Spark splits the window into shards (the largest platforms along their graph)."""
    from detectors.model import WindowScorer
    from scaleout.job import run_spark, spark_session
    from serving.batch import run_batch

    write_simulated_set(simulate(SimConfig(seed=5, scale=0.3)), tmp_path / "sim")
    events = tmp_path / "sim" / "events.parquet"
    window = distinct_engagements(clean_events(pd.read_parquet(events), source="sim").frame)
    scorer = WindowScorer(params=ONLY_STACKER, fitted=_stacker(window.reset_index(drop=True)))
    run_batch(events_path=events, out_dir=tmp_path / "local", scorer=scorer)
    found = run_spark(
        spark_session("local[2]"),
        events=str(events),
        out=str(tmp_path / "spark"),
        scorer=scorer,
        shard_budget=len(pd.read_parquet(events, columns=["event_id"])) // 4,
    )
    assert len(found.shards) >= 5
    assert_same_risks(tmp_path)
