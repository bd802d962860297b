"""A history prepared by one run and read by the next (``serving.history_state``), on a seeded
multi-week world: the outputs are the same byte for byte with and without the kept state; a state
built from other inputs, or damaged, is rebuilt and says so; a path that is not a state is refused."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow.feather as feather
import pytest

from detectors.model import WindowScorer
from detectors.params import ScoringParams
from features.contract import clean_events
from serving.batch import run_batch
from serving.history_state import FRAME, MANIFEST, HistoryStateError, HistoryStates, file_digest
from serving.io import event_rows
from tests.serving.conftest import campaign_terms, make_api
from training.simulator import SimConfig, simulate

WEEK = pd.Timedelta(days=7)
OUTPUTS = (
    "engagements.parquet",
    "posts.parquet",
    "accounts.parquet",
    "rejects.parquet",
    "history_rejects.parquet",
)


def _history_files(world: Path) -> list[Path]:
    return [world / f"history_{back}.parquet" for back in (3, 2, 1)]


CONDENSED = WindowScorer(params=ScoringParams().set_params(history__mode="condensed"))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The last week of a multi-week world (seed 3) and its 3 weeks before, one history file a week."""
    folder = tmp_path_factory.mktemp("world")
    sim = simulate(SimConfig(seed=3, scale=0.4, multi_week=True))
    events = sim.events.sort_values("ts", ignore_index=True)
    ts = pd.to_datetime(events["ts"], utc=True, format="ISO8601")
    end = ts.max()
    events.loc[(ts > end - WEEK).to_numpy()].to_parquet(folder / "current.parquet", index=False)
    for back in range(1, 4):
        week = (ts > end - WEEK * (back + 1)) & (ts <= end - WEEK * back)
        events.loc[week.to_numpy()].to_parquet(folder / f"history_{back}.parquet", index=False)
    sim.posts.to_parquet(folder / "posts.parquet", index=False)
    sim.campaigns.to_parquet(folder / "campaigns.parquet", index=False)
    return folder


def _run(
    world: Path, out: Path, scorer: WindowScorer, state: Path | None = None, history: list[Path] | None = None
):
    return run_batch(
        events_path=world / "current.parquet",
        out_dir=out,
        posts_path=world / "posts.parquet",
        campaigns_path=world / "campaigns.parquet",
        scorer=scorer,
        history_paths=history if history is not None else _history_files(world),
        history_state=state,
    )


def _same_outputs(a: Path, b: Path) -> None:
    for name in OUTPUTS:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


@pytest.mark.slow
@pytest.mark.parametrize("scorer", [WindowScorer(), CONDENSED], ids=["exact", "condensed"])
def test_outputs_are_the_same_byte_for_byte_with_the_kept_state(
    world: Path, tmp_path: Path, scorer: WindowScorer
):
    plain = _run(world, tmp_path / "plain", scorer)
    built = _run(world, tmp_path / "built", scorer, state=tmp_path / "state")
    read = _run(world, tmp_path / "read", scorer, state=tmp_path / "state")
    assert (built.history_state.status, read.history_state.status) == ("built", "read")
    assert "history state: read from" in read.history_state.describe()
    assert plain.scored.engagements["invalid"].sum() > 100  # the world's sellers are caught
    assert read.n_history_events == plain.n_history_events
    _same_outputs(tmp_path / "plain", tmp_path / "built")
    _same_outputs(tmp_path / "plain", tmp_path / "read")


@pytest.mark.slow
def test_a_state_built_from_other_inputs_or_damaged_is_rebuilt_and_says_why(world: Path, tmp_path: Path):
    state = tmp_path / "state"
    _run(world, tmp_path / "first", CONDENSED, state=state)
    # one week of history fewer: the files' content differs
    fewer = [world / "history_2.parquet", world / "history_1.parquet"]
    changed = _run(world, tmp_path / "fewer", CONDENSED, state=state, history=fewer)
    assert changed.history_state.status == "rebuilt"
    assert "the history's content" in changed.history_state.reason
    _run(world, tmp_path / "fewer_plain", CONDENSED, history=fewer)
    _same_outputs(tmp_path / "fewer", tmp_path / "fewer_plain")
    # other rules (exact mode over the condensed state)
    other = _run(world, tmp_path / "exact", WindowScorer(), state=state, history=fewer)
    assert other.history_state.status == "rebuilt"
    assert (
        "the history mode" in other.history_state.reason and "the scoring rules" in other.history_state.reason
    )
    # a truncated frame, then an unreadable manifest
    frame = state / FRAME
    frame.write_bytes(frame.read_bytes()[:-100])
    damaged = _run(world, tmp_path / "damaged", WindowScorer(), state=state, history=fewer)
    assert damaged.history_state.status == "rebuilt"
    assert "does not match its digest" in damaged.history_state.reason
    _same_outputs(tmp_path / "damaged", tmp_path / "exact")
    (state / MANIFEST).write_text("{not json")
    garbled = _run(world, tmp_path / "garbled", WindowScorer(), state=state, history=fewer)
    assert garbled.history_state.status == "rebuilt" and "unreadable" in garbled.history_state.reason
    assert json.loads((state / MANIFEST).read_text())["key"]["mode"] == "exact"


def test_a_path_that_is_not_a_state_is_refused_and_left_as_it_was(world: Path, tmp_path: Path):
    for path, content in ((tmp_path / "file.parquet", b"mine"), (tmp_path / "folder" / "notes.txt", b"keep")):
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(content)
        target = path if path.name == "file.parquet" else path.parent
        with pytest.raises(HistoryStateError, match="refusing to overwrite"):
            _run(world, tmp_path / "out", WindowScorer(), state=target)
        assert path.read_bytes() == content
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / MANIFEST).write_text(json.dumps({"kind": "something else"}))
    with pytest.raises(HistoryStateError, match="not a cpeguard history state"):
        _run(world, tmp_path / "out", WindowScorer(), state=foreign)
    with pytest.raises(HistoryStateError, match="needs the history"):
        _run(world, tmp_path / "out", WindowScorer(), state=tmp_path / "new", history=[])


@pytest.mark.slow
def test_the_service_prepares_a_lookback_once_and_scores_the_same_with_it(world: Path, tmp_path: Path):
    current = clean_events(pd.read_parquet(world / "current.parquet"), source="current").frame
    history = clean_events(
        pd.concat([pd.read_parquet(path) for path in _history_files(world)]),
        source="history",
    ).frame
    states = HistoryStates(tmp_path / "states", keep=1)
    built = states.prepared(history, CONDENSED)
    read = states.prepared(history, CONDENSED)
    assert (built.status, read.status) == ("built", "read")
    plain = CONDENSED.score(current, history=history)
    kept = CONDENSED.score(current, history=read.prepared.frame)
    for name in ("engagements", "posts", "accounts"):
        pd.testing.assert_frame_equal(getattr(plain, name), getattr(kept, name))
    # another lookback is another state; only the most recently used one is kept
    states.prepared(history.iloc[: len(history) // 2], CONDENSED)
    assert len(list((tmp_path / "states").iterdir())) == 1


def test_a_detection_run_again_over_the_same_period_reads_the_lookback_the_first_one_kept(tmp_path: Path):
    sim = simulate(SimConfig(seed=3, scale=0.05))
    api_running = make_api(tmp_path / "home", None, history_days=28)
    api = next(api_running)
    try:
        for campaign in sim.campaigns["campaign_id"].head(2):
            api.client.put(
                f"/v1/campaigns/{campaign}", json=campaign_terms(sim.campaigns, campaign), headers=api.billing
            )
        events = sim.events[sim.events["campaign_id"].isin(sim.campaigns["campaign_id"].head(2))]
        posted = api.client.post("/v1/events", json={"events": event_rows(events)}, headers=api.billing)
        assert posted.status_code == 200, posted.text
        end = pd.to_datetime(events["ts"], utc=True, format="ISO8601").max().ceil("D")
        period = {"period_start": _iso(end - WEEK), "period_end": _iso(end)}
        runs = [api.client.post("/v1/detections", json=period, headers=api.billing).json() for _ in range(2)]
    finally:
        api_running.close()
    assert [run["summary"]["history_state"] for run in runs] == ["built", "read"]
    assert runs[0]["summary"]["n_history_events"] > runs[0]["summary"]["n_events"] > 0
    first, again = (
        pd.read_parquet(tmp_path / "home" / "runs" / run["run_id"] / "engagements.parquet") for run in runs
    )
    pd.testing.assert_frame_equal(first, again)
    assert len(list((tmp_path / "home" / "history_states").iterdir())) == 1


def _iso(moment: pd.Timestamp) -> str:
    return moment.isoformat().replace("+00:00", "Z")


@pytest.mark.slow
def test_a_state_kept_compressed_by_an_earlier_version_is_still_read(world: Path, tmp_path: Path):
    # states were written with zstd before they were written uncompressed (read memory-mapped)
    state = tmp_path / "state"
    _run(world, tmp_path / "built", CONDENSED, state=state)
    frame = state / FRAME
    table = feather.read_table(frame)
    frame.unlink()
    feather.write_feather(table, frame, compression="zstd", chunksize=max(table.num_rows, 1))
    manifest = json.loads((state / MANIFEST).read_text())
    manifest["digests"][FRAME] = file_digest(frame)
    (state / MANIFEST).write_text(json.dumps(manifest))
    read = _run(world, tmp_path / "read", CONDENSED, state=state)
    assert read.history_state.status == "read"
    _same_outputs(tmp_path / "built", tmp_path / "read")
