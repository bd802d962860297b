"""The lockstep test of a platform split along its graph, run once on the platform's engagements."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from detectors.chance import WindowChance
from detectors.infra import ip_chance
from detectors.lockstep import lockstep_chance
from detectors.model import WindowScorer
from detectors.params import ScoringParams
from detectors.platform_verdicts import verdicts_in
from detectors.registry import BY_NAME, NAMES, WindowContext
from features.contract import clean_events
from features.dedup import distinct_engagements
from scaleout.platform_lockstep import platform_lockstep, shard_lockstep_rows
from scaleout.shard_scoring import ROW, SHARD, ShardInputs
from scaleout.shards import plan_platform
from serving.io import with_categorical_ids
from tests.conftest import run_cli
from tests.scaleout.engines import assert_same_risks
from training.simulator import SimConfig, SimulatedSet, simulate, write_simulated_set

PLATFORM = "douyin"
BUDGET = 15_000  # events per shard: seed 3's douyin (18,880 events) split in two along its graph
# every detector but lockstep left out: an event's risk is its lockstep score, spread to its account
ONLY_LOCKSTEP = {"disabled": sorted(set(NAMES) - {"lockstep"})}


def _config() -> SimConfig:
    return SimConfig(seed=3, scale=0.5, communities=3, studios=True, giveaways=True)


@pytest.fixture(scope="module")
def window() -> tuple[SimulatedSet, pd.DataFrame]:
    """A simulated window (its lockstep groups engage douyin posts of creators the split separates)."""
    sim = simulate(_config())
    return sim, distinct_engagements(clean_events(with_categorical_ids(sim.events), source="sim").frame)


def _shards(rows: pd.DataFrame) -> np.ndarray:
    """Each of one platform's rows' shard, planned along its graph as Spark plans it."""
    edges = rows.groupby(["creator_id", "user_id"], observed=True).size().rename("events").reset_index()
    plan = plan_platform(edges.assign(platform=PLATFORM), budget=BUDGET)
    return rows["creator_id"].astype("str").map(plan.set_index("creator_id")["shard"]).to_numpy()


def test_shards_reading_the_platforms_lockstep_verdicts_score_as_the_window(
    window: tuple[SimulatedSet, pd.DataFrame],
) -> None:
    sim, events = window
    scorer = WindowScorer()
    params, spec = scorer.params, BY_NAME["lockstep"]
    context = WindowContext(events, posts=sim.posts, fitted=None, audience=params.audience)
    whole = spec.run(events, params.detectors.of("lockstep"), context)  # as the single process runs it
    on = (events["platform"].astype("str") == PLATFORM).to_numpy()
    rows = events[on].reset_index(drop=True)
    shard = _shards(rows)
    assert len(np.unique(shard)) >= 2
    # what the shards give Spark (in any order), and the window's statistics every shard is joined
    inputs = ShardInputs(scorer=scorer, source="sim", posts=sim.posts)
    raw = rows.drop(columns=["copies", "is_recount"]).astype({c: "str" for c in ("user_id", "post_id")})
    raw[ROW], raw[SHARD] = np.arange(1, len(rows) + 1), "x"
    given = shard_lockstep_rows(raw, inputs=inputs)
    chance = lockstep_chance(events)
    found = platform_lockstep(given.sample(frac=1.0, random_state=0), inputs=inputs, chance=chance)
    verdicts = pickle.loads(found["verdicts"].iloc[0])
    joined, alone = np.zeros(len(rows)), np.zeros(len(rows))
    for part_name in np.unique(shard):
        at = np.flatnonzero(shard == part_name)
        part = rows.iloc[at].reset_index(drop=True)
        joined[at] = verdicts_in(part, found=verdicts).event_score
        # before: the shard's own test, against the window's grid origin and engagements
        given_chance = WindowChance(ip=ip_chance(part.iloc[:0]), lockstep=chance)
        own = WindowContext(part, posts=sim.posts, fitted=None, audience=params.audience, chance=given_chance)
        alone[at] = spec.run(part, params.detectors.of("lockstep"), own).event_score
    expected = whole.event_score[on]
    in_group = whole.event_group[on] >= 0
    # a lockstep group whose posts landed in both shards (measured: 509 events' scores differ alone)
    assert pd.Series(shard[in_group]).groupby(whole.event_group[on][in_group]).nunique().max() >= 2
    assert (np.abs(alone - expected) > 1e-9).sum() > 100
    np.testing.assert_array_equal(joined, expected)


@pytest.mark.slow
@pytest.mark.e2e
def test_spark_scores_lockstep_as_the_command_line_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through both engines, only lockstep on: every event's risk the same when Spark splits douyin in
    two along its graph (on main 69541d0: 576 events apart). Exact because the platform's rows seed the
    window's groups and the MinHash keys are hashes of the account ids, the same in every process
    (``lockstep__hash_account_ids``; docs/spark.md, "Lockstep")."""
    from scaleout.job import run_spark, spark_session

    write_simulated_set(simulate(_config()), tmp_path / "sim")
    files = {name: tmp_path / "sim" / f"{name}.parquet" for name in ("events", "posts", "campaigns")}
    monkeypatch.setenv("CPEGUARD_SCORING_PARAMS", json.dumps(ONLY_LOCKSTEP))
    run_cli(
        "score",
        *[x for name, path in files.items() for x in (f"--{name}", path)],
        "--out",
        tmp_path / "local",
    )
    found = run_spark(
        spark_session("local[2]", conf={"spark.driver.memory": "2g"}),
        **{name: str(path) for name, path in files.items()},
        out=str(tmp_path / "spark"),
        scorer=WindowScorer(params=ScoringParams().set_params(**ONLY_LOCKSTEP)),
        shard_budget=BUDGET,
    )
    assert sum(name.startswith(f"{PLATFORM}.") for name in found.shards) >= 2
    assert_same_risks(tmp_path)
