"""End to end: the CLI as a subprocess on a small simulated set, and bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from features.schema import AccountFlags, EngagementVerdicts, PostDecisions
from tests.conftest import run_cli

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def scored_dir(small_sim_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("scored")
    result = run_cli(
        "score",
        "--events",
        small_sim_dir / "events.parquet",
        "--posts",
        small_sim_dir / "posts.parquet",
        "--campaigns",
        small_sim_dir / "campaigns.parquet",
        "--out",
        out,
    )
    assert "Decisions per post" in result.stdout
    return out


def test_score_writes_the_three_contract_outputs(scored_dir: Path, small_sim_dir: Path):
    engagements = pd.read_parquet(scored_dir / "engagements.parquet")
    posts = pd.read_parquet(scored_dir / "posts.parquet")
    accounts = pd.read_parquet(scored_dir / "accounts.parquet")
    EngagementVerdicts.validate(engagements)
    PostDecisions.validate(posts)
    AccountFlags.validate(accounts)
    assert list(engagements.columns[:7]) == [
        "event_id",
        "post_id",
        "user_id",
        "action",
        "risk",
        "invalid",
        "reason",
    ]
    assert list(posts.columns[:9]) == [
        "campaign_id",
        "post_id",
        "creator_id",
        "claimed",
        "valid",
        "risk",
        "decision",
        "payable",
        "reasons",
    ]
    assert list(accounts.columns) == ["account_id", "role", "risk", "flagged", "reasons"]
    events = pd.read_parquet(small_sim_dir / "events.parquet")
    assert len(engagements) == events["event_id"].nunique()
    assert (engagements.loc[engagements["invalid"], "reason"] != "").all()
    assert (engagements.loc[~engagements["invalid"], "reason"] == "").all()
    assert set(posts["decision"]) <= {"pay", "discount", "hold"}


def test_score_marks_the_engagements_that_wait_for_review(scored_dir: Path):
    """``held`` per engagement: valid ones only, and on each post they are its ``held_amount``."""
    engagements = pd.read_parquet(scored_dir / "engagements.parquet")
    posts = pd.read_parquet(scored_dir / "posts.parquet").set_index("post_id")
    assert engagements["held"].dtype == bool
    assert not (engagements["held"] & engagements["invalid"]).any()
    held = engagements.assign(waits=engagements["held"] * engagements["unit_price"])
    waiting = held.groupby("post_id")["waits"].sum().reindex(posts.index, fill_value=0.0)
    assert waiting.to_numpy() == pytest.approx(posts["held_amount"].to_numpy(), abs=1e-6)
    on_hold = set(posts.index[posts["decision"] == "hold"])
    assert on_hold and set(engagements.loc[engagements["held"], "post_id"]) == on_hold
    # a held post is not held whole: some of its valid engagements are paid at once
    valid_on_hold = engagements[engagements["post_id"].isin(on_hold) & ~engagements["invalid"]]
    assert (~valid_on_hold["held"]).any()


def test_score_payable_uses_campaign_prices(scored_dir: Path, small_sim_dir: Path):
    engagements = pd.read_parquet(scored_dir / "engagements.parquet")
    posts = pd.read_parquet(scored_dir / "posts.parquet")
    campaigns = pd.read_parquet(small_sim_dir / "campaigns.parquet").set_index("campaign_id")
    like = engagements[engagements["action"] == "like"].iloc[0]
    assert like["unit_price"] == pytest.approx(campaigns.loc[like["campaign_id"], "price_like"])
    paid = engagements[~engagements["invalid"]].merge(posts[["post_id", "decision"]], on="post_id")
    expected = paid.loc[paid["decision"] != "hold"].groupby("post_id")["unit_price"].sum()
    got = posts.set_index("post_id")["payable"].reindex(expected.index)
    assert got.to_numpy() == pytest.approx(expected.to_numpy())


def test_evaluate_writes_metrics(scored_dir: Path, small_sim_dir: Path, tmp_path: Path):
    out = tmp_path / "m.json"
    result = run_cli("evaluate", "--scored", scored_dir, "--truth", small_sim_dir / "truth", "--json", out)
    assert "Detection quality" in result.stdout
    metrics = json.loads(out.read_text())
    for key in (
        "roc_auc",
        "average_precision",
        "precision",
        "recall",
        "honest_flagged_share",
        "recall_by_scheme",
        "creator_precision",
        "creator_recall",
        "fraud_payout_withheld_share",
        "honest_payout_withheld_share",
    ):
        assert key in metrics
    assert metrics["recall_by_scheme"]["replay"] == 1.0


def test_score_csv_and_parquet_give_the_same_result(small_sim_dir: Path, tmp_path: Path):
    events = pd.read_parquet(small_sim_dir / "events.parquet").head(3000)
    events.to_parquet(tmp_path / "e.parquet", index=False)
    csv = events.copy()
    for column in ("ts", "user_created_at"):
        csv[column] = csv[column].map(lambda t: t.isoformat() if pd.notna(t) else "")
    csv.to_csv(tmp_path / "e.csv", index=False)
    run_cli("score", "--events", tmp_path / "e.parquet", "--out", tmp_path / "a")
    run_cli("score", "--events", tmp_path / "e.csv", "--out", tmp_path / "b")
    for name in ("engagements", "posts", "accounts"):
        a = pd.read_parquet(tmp_path / "a" / f"{name}.parquet")
        b = pd.read_parquet(tmp_path / "b" / f"{name}.parquet")
        pd.testing.assert_frame_equal(a, b, check_dtype=False)


def test_score_missing_column_is_one_line_error_without_traceback(small_sim_dir: Path, tmp_path: Path):
    events = pd.read_parquet(small_sim_dir / "events.parquet").head(50).drop(columns=["post_id"])
    events.to_parquet(tmp_path / "e.parquet", index=False)
    result = run_cli("score", "--events", tmp_path / "e.parquet", "--out", tmp_path / "o", check=False)
    assert result.returncode == 2
    assert "missing required column 'post_id'" in result.stderr
    assert str(tmp_path / "e.parquet") in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


@pytest.mark.parametrize(
    ("knobs", "says"),
    [
        ('{"detectors__pool__cover_within_audience": "false"}', "takes true or false, not 'false'"),
        ('{"detectors__pool__nope": 1}', "unknown scoring parameters: detectors__pool__nope"),
    ],
)
@pytest.mark.parametrize("engine", ["local", "spark"])
def test_score_a_bad_scoring_knob_is_one_line_error_without_traceback(
    small_sim_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, knobs: str, says: str, engine: str
):
    monkeypatch.setenv("CPEGUARD_SCORING_PARAMS", knobs)
    events, out = small_sim_dir / "events.parquet", tmp_path / "o"
    result = run_cli("score", "--events", events, "--out", out, "--engine", engine, check=False)
    assert result.returncode == 2
    assert "error: CPEGUARD_SCORING_PARAMS: " in result.stderr and says in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert not (tmp_path / "o").exists()


def test_score_empty_file_is_a_clear_error(tmp_path: Path):
    (tmp_path / "e.csv").write_text("")
    result = run_cli("score", "--events", tmp_path / "e.csv", "--out", tmp_path / "o", check=False)
    assert result.returncode == 2
    assert "e.csv" in result.stderr
    assert "Traceback" not in result.stderr


def test_score_header_only_file_scores_nothing(small_sim_dir: Path, tmp_path: Path):
    events = pd.read_parquet(small_sim_dir / "events.parquet").head(0)
    events.to_csv(tmp_path / "e.csv", index=False)
    run_cli("score", "--events", tmp_path / "e.csv", "--out", tmp_path / "o")
    assert len(pd.read_parquet(tmp_path / "o" / "engagements.parquet")) == 0


def test_score_bad_rows_are_rejected_and_good_rows_scored(small_sim_dir: Path, tmp_path: Path):
    events = pd.read_parquet(small_sim_dir / "events.parquet").head(200).astype({"ts": "str"})
    events["partner_note"] = "kept quietly"
    events.loc[3, "ts"] = "31/02/2026 25:00"
    events.loc[7, "user_id"] = ""
    events.loc[9, "user_followers"] = -1
    events.to_csv(tmp_path / "e.csv", index=False)
    result = run_cli("score", "--events", tmp_path / "e.csv", "--out", tmp_path / "o")
    rejects = pd.read_parquet(tmp_path / "o" / "rejects.parquet")
    assert sorted(rejects["source_row"]) == [4, 8, 10]
    assert set(rejects["reason"]) == {"unparseable timestamp", "empty user_id", "negative user_followers"}
    engagements = pd.read_parquet(tmp_path / "o" / "engagements.parquet")
    assert len(engagements) == events.drop(index=[3, 7, 9])["event_id"].nunique()
    assert "3 rejected rows" in result.stdout
    assert "partner_note" not in result.stderr


def test_score_without_optional_columns_says_which_signals_were_not_used(small_sim_dir: Path, tmp_path: Path):
    events = pd.read_parquet(small_sim_dir / "events.parquet").head(500)
    events = events.drop(columns=["device_id", "ip", "user_created_at", "user_followers", "comment_text"])
    events.to_parquet(tmp_path / "e.parquet", index=False)
    result = run_cli("score", "--events", tmp_path / "e.parquet", "--out", tmp_path / "o")
    assert "signal not used: device_farm (no device_id)" in result.stdout
    assert len(pd.read_parquet(tmp_path / "o" / "engagements.parquet")) == events["event_id"].nunique()


def test_score_with_history_folder_outputs_only_the_window_and_reports_history_rejects_apart(
    small_sim_dir: Path, tmp_path: Path
):
    events = pd.read_parquet(small_sim_dir / "events.parquet").sort_values("ts", ignore_index=True)
    cut = events["ts"].quantile(0.8)
    window = events.loc[events["ts"] >= cut]
    window.to_parquet(tmp_path / "window.parquet", index=False)
    earlier = events.loc[events["ts"] < cut].astype({"ts": "str"}).reset_index(drop=True)
    earlier.loc[5, "ts"] = "not a time"
    # a partitioned folder: two day files and a CSV, as a store exports them
    parts = tmp_path / "history" / "campaign=all"
    for i, part in enumerate((earlier.iloc[::2], earlier.iloc[1::2])):
        (parts / f"day={i}").mkdir(parents=True)
        part.to_csv(parts / f"day={i}" / "part.csv", index=False)
    result = run_cli(
        "score",
        "--events",
        tmp_path / "window.parquet",
        "--history",
        tmp_path / "history",
        "--out",
        tmp_path / "o",
    )
    engagements = pd.read_parquet(tmp_path / "o" / "engagements.parquet")
    assert set(engagements["event_id"]) == set(window["event_id"])
    assert len(pd.read_parquet(tmp_path / "o" / "rejects.parquet")) == 0
    history_rejects = pd.read_parquet(tmp_path / "o" / "history_rejects.parquet")
    assert history_rejects["reason"].tolist() == ["unparseable timestamp"]
    assert history_rejects["source_file"].str.endswith("day=1/part.csv").all()  # row 5 is odd: second file
    assert f"history: {len(earlier) - 1:,} events as context" in result.stdout


def test_score_with_a_history_state_builds_it_then_reads_it_and_says_which(
    small_sim_dir: Path, tmp_path: Path
):
    events = pd.read_parquet(small_sim_dir / "events.parquet").sort_values("ts", ignore_index=True)
    cut = events["ts"].quantile(0.8)
    events.loc[events["ts"] >= cut].to_parquet(tmp_path / "window.parquet", index=False)
    events.loc[events["ts"] < cut].to_parquet(tmp_path / "history.parquet", index=False)
    args = ("score", "--events", tmp_path / "window.parquet", "--history", tmp_path / "history.parquet")
    run_cli(*args, "--out", tmp_path / "plain")
    built = run_cli(*args, "--history-state", tmp_path / "state", "--out", tmp_path / "built")
    read = run_cli(*args, "--history-state", tmp_path / "state", "--out", tmp_path / "read")
    assert f"history state: built at {tmp_path / 'state'} (no state there yet)" in built.stdout
    assert f"history state: read from {tmp_path / 'state'} (built " in read.stdout
    for name in ("engagements.parquet", "posts.parquet", "accounts.parquet", "history_rejects.parquet"):
        plain = (tmp_path / "plain" / name).read_bytes()
        assert (tmp_path / "built" / name).read_bytes() == plain
        assert (tmp_path / "read" / name).read_bytes() == plain
    # a path that holds something else is refused, not overwritten
    refused = run_cli(
        *args, "--history-state", tmp_path / "window.parquet", "--out", tmp_path / "x", check=False
    )
    assert refused.returncode == 2
    assert "refusing to overwrite" in refused.stderr


def test_score_reads_while_a_thread_imports_the_anomaly_libraries_and_pandera():
    """`score` imports pyod and scikit-learn (about a second) and pandera (0.15 s) in a thread while it
    reads its files: the modules it imports before reading must not import them themselves."""
    imported = (
        "import sys, cpeguard.cli, serving.batch, detectors.model; "
        "print(sorted({'pyod', 'sklearn', 'pandera'} & set(sys.modules)))"
    )
    done = subprocess.run([sys.executable, "-c", imported], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def _score_printing(code: str, sim_dir: Path, out: Path) -> str:
    """The last line ``code`` prints after running ``score`` on the simulated files into ``out``."""
    files = [f"--{name}={sim_dir / name}.parquet" for name in ("events", "posts", "campaigns")]
    done = subprocess.run(
        [sys.executable, "-c", code, "score", *files, f"--out={out}"],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.splitlines()[-1]


def test_score_never_imports_hypothesis(small_sim_dir: Path, tmp_path: Path):
    """pandera's data-synthesis strategies (hypothesis) are no part of checking: `score` does without."""
    scored = (
        "import sys; from cpeguard.cli import app; app(sys.argv[1:], standalone_mode=False); "
        "print(sys.modules.get('hypothesis') is not None, 'pandera' in sys.modules)"
    )
    assert _score_printing(scored, small_sim_dir, tmp_path) == "False True"
    assert (tmp_path / "engagements.parquet").exists()


def test_score_freezes_the_loaded_libraries_and_collects_young_objects_rarely(
    small_sim_dir: Path, tmp_path: Path
):
    """`score` keeps the cyclic collector off the libraries' objects (frozen) and runs young collections
    every 10,000 allocations (``cpeguard.scoring._spare_the_process``)."""
    scored = (
        "import gc, sys; from cpeguard.cli import app; app(sys.argv[1:], standalone_mode=False); "
        "print(gc.get_threshold()[0], gc.get_freeze_count() > 100_000)"
    )
    assert _score_printing(scored, small_sim_dir, tmp_path) == "10000 True"
