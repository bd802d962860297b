"""Batch scoring with memory: ``cpeguard score --reputation`` and ``cpeguard reputation export``.

A window of plain likes from long-registered accounts, scored as a subprocess:
an account a review confirmed and a device a run found to be a farm are known
(weak evidence, decayed, paid); what a clearance voided and what a run
established inside the window's history are not. The service's memory,
exported from a real SQLite database, is read back the same way. A file's bad
rows are rejected into reputation_rejects.parquet (file, row, column, reason) and
its good rows kept; a file missing a column is refused whole.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from detectors.params import ScoringParams
from detectors.reputation import ENTRY_COLUMNS
from serving.db import Repositories, make_engine, migrate
from serving.reputation import ReputationMemory, review_entries
from serving.reputation_file import read_reputation, write_reputation
from tests.conftest import run_cli
from tests.factories import BASE_TS, raw_events

HALF_LIFE_DAYS = 30.0
WEAK_CAP = ScoringParams().policy.weak_cap
DAY = pd.Timedelta(days=1)


def _entry(
    kind: str, subject: str, state: str, source: str, days_before: float, **extra: str
) -> dict[str, str]:
    source_kind, source_id = source.split(":")
    return {
        "subject_kind": kind,
        "subject_id": subject,
        "platform": "douyin",
        "state": state,
        "established_at": (BASE_TS - days_before * DAY).isoformat(),
        "source_kind": source_kind,
        "source_id": source_id,
        "detail": extra.get("detail", ""),
    }


@pytest.fixture
def window(tmp_path: Path) -> Path:
    """Twenty likes of one post, one per account, an hour apart; u5 on device farm-phone."""
    events = raw_events(20)
    events["ts"] = [(BASE_TS + i * pd.Timedelta(hours=1)).isoformat() for i in range(20)]
    events.loc[5, "device_id"] = "farm-phone"
    path = tmp_path / "events.csv"
    events.to_csv(path, index=False)
    return path


def _score(window: Path, out: Path, *extra: str | Path) -> pd.DataFrame:
    run_cli("score", "--events", window, "--out", out, *extra)
    engagements = pd.read_parquet(out / "engagements.parquet")
    return engagements.set_index("user_id")


def test_score_reads_a_reputation_file(tmp_path: Path, window: Path) -> None:
    rows = [
        _entry("account", "u1", "confirmed", "case:rc_1", 60),
        _entry("device", "farm-phone", "confirmed", "run:det_1", 90, detail="farm of 9 accounts"),
        _entry("account", "u2", "confirmed", "run:det_2", 10),
        _entry("account", "u2", "cleared", "case:rc_2", 5),  # cleared after: not known
        _entry("account", "u3", "confirmed", "case:rc_3", -1),  # after the window starts: not read
    ]
    reputation = tmp_path / "reputation.csv"
    pd.DataFrame(rows).to_csv(reputation, index=False)
    plain = _score(window, tmp_path / "plain")
    known = _score(window, tmp_path / "known", "--reputation", reputation)
    assert float(known.loc["u1", "risk"]) == pytest.approx(0.25)  # 60 days, half-life 30
    assert float(known.loc["u5", "risk"]) == pytest.approx(0.125)  # the farm phone, 90 days
    assert known.loc[["u1", "u5"], "risk"].max() <= WEAK_CAP and not known["invalid"].any()
    others = [u for u in known.index if u not in ("u1", "u5")]
    pd.testing.assert_series_equal(known.loc[others, "risk"], plain.loc[others, "risk"])
    assert (plain["risk"] == 0).all()


def _bad_rows() -> pd.DataFrame:
    """Two good entries around four bad ones (rows 2-5), one bad value each but row 4 (two)."""
    rows = [
        _entry("account", "u1", "confirmed", "case:rc_1", 60),  # row 1: kept
        _entry("account", "u2", "suspicious", "case:rc_2", 60),  # row 2: bad state
        _entry("account", "", "confirmed", "case:rc_3", 60),  # row 3: empty subject_id
        _entry("phone", "u4", "confirmed", "mail:rc_4", 60),  # row 4: bad kind and source_kind
        _entry("account", "u5", "confirmed", "case:rc_5", 60),  # row 5: bad time (set below)
        _entry("device", "farm-phone", "confirmed", "run:det_1", 90, detail="farm of 9 accounts"),
    ]
    frame = pd.DataFrame(rows)
    frame["established_at"] = frame["established_at"].astype(object)
    frame.loc[4, "established_at"] = None
    return frame


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_reputation_file_with_bad_rows_keeps_the_good_ones_and_reports_the_rejects(
    tmp_path: Path, window: Path, suffix: str
) -> None:
    frame = _bad_rows()
    path = tmp_path / f"reputation{suffix}"
    if suffix == ".csv":
        frame.loc[4, "established_at"] = "last tuesday"
        frame.to_csv(path, index=False)
        time_reason, time_value = "established_at is not an ISO 8601 time", "last tuesday"
    else:  # a real timestamp column: the bad time is a missing one
        frame["established_at"] = pd.to_datetime(frame["established_at"], utc=True)
        frame.to_parquet(path, index=False)
        time_reason, time_value = "empty established_at", ""
    out = tmp_path / "out"
    result = run_cli("score", "--events", window, "--out", out, "--reputation", path)
    assert "reputation: 2 entries read; 5 rejected rows" in " ".join(result.stdout.split())
    known = pd.read_parquet(out / "engagements.parquet").set_index("user_id")
    risk = known["risk"].astype(float).to_dict()
    assert risk["u1"] == pytest.approx(0.25)  # row 1 kept: 60 days, half-life 30
    assert risk["u5"] == pytest.approx(0.125)  # row 6 kept: the farm phone
    assert risk["u2"] == 0.0 and risk["u4"] == 0.0  # rows 2 and 4 rejected
    rejects = pd.read_parquet(out / "reputation_rejects.parquet")
    assert list(rejects.columns) == ["source_file", "source_row", "column", "reason", "value"]
    assert (rejects["source_file"] == str(path)).all()
    got = [tuple(r) for r in rejects[["source_row", "column", "reason"]].itertuples(index=False)]
    assert got == [
        (2, "state", "state is not one of confirmed, cleared"),
        (3, "subject_id", "empty subject_id"),
        (4, "source_kind", "source_kind is not one of run, case"),
        (4, "subject_kind", "subject_kind is not one of account, group, device, ip"),
        (5, "established_at", time_reason),
    ]
    shown = ["" if pd.isna(v) else v for v in rejects["value"]]  # an empty value: null or ""
    assert shown == ["suspicious", "", "mail", "phone", time_value]


def test_a_reputation_file_missing_a_column_is_refused_whole(tmp_path: Path, window: Path) -> None:
    bad = tmp_path / "bad.csv"
    _bad_rows().drop(columns=["source_kind"]).to_csv(bad, index=False)
    result = run_cli("score", "--events", window, "--out", tmp_path / "out", "--reputation", bad, check=False)
    message = " ".join(result.stderr.split())
    assert result.returncode == 2 and f"{bad}: missing required column 'source_kind'" in message
    assert not (tmp_path / "out" / "engagements.parquet").exists()


def test_the_services_reputation_exported_scores_a_batch_window(
    tmp_path: Path, window: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    engine = make_engine(f"sqlite:///{home / 'cpeguard.db'}")
    migrate(engine)
    memory = ReputationMemory(repository=Repositories.over(engine).reputation, half_life_days=HALF_LIFE_DAYS)
    confirmed = pd.DataFrame(
        {
            "subject_kind": ["account", "device", "group"],
            "subject_id": ["u1", "farm-phone", "u7"],
            "platform": "douyin",
            "established_at": [BASE_TS - 60 * DAY, BASE_TS - 90 * DAY, BASE_TS - 30 * DAY],
            "detail": ["", "farm of 9 accounts", "pool group of 14 accounts"],
        }
    )
    memory.remember_run("det_old", confirmed)
    with memory.repository.session() as session:
        memory.repository.add(session, review_entries("rc_9", [("u7", 0)], established_at=BASE_TS - 20 * DAY))
    engine.dispose()
    monkeypatch.setenv("CPEGUARD_HOME", str(home))
    monkeypatch.delenv("CPEGUARD_DATABASE_URL", raising=False)
    exported = tmp_path / "exported.csv"
    run_cli("reputation", "export", "--out", exported)
    frame = pd.read_csv(exported)
    assert list(frame.columns) == list(ENTRY_COLUMNS) and len(frame) == 4
    known = _score(window, tmp_path / "known", "--reputation", exported)
    assert pd.read_parquet(tmp_path / "known" / "reputation_rejects.parquet").empty  # export round-trips
    assert float(known.loc["u1", "risk"]) == pytest.approx(0.25)
    assert float(known.loc["u5", "risk"]) == pytest.approx(0.125)
    assert float(known.loc["u7", "risk"]) == 0.0  # its group confirmed, then the account cleared


def test_a_reputation_file_round_trips_through_parquet_and_csv(tmp_path: Path) -> None:
    entries = pd.DataFrame(
        [
            _entry("ip", "10.0.0.9", "confirmed", "run:det_1", 3, detail="farm of 7 accounts"),
            _entry("account", "u1", "cleared", "case:rc_1", 1),
        ]
    )
    entries["established_at"] = pd.to_datetime(entries["established_at"], utc=True)
    for name in ("reputation.parquet", "reputation.csv"):
        write_reputation(entries, tmp_path / name)
        back = read_reputation(tmp_path / name)
        assert back.rejects.empty
        pd.testing.assert_frame_equal(back.frame, entries[list(ENTRY_COLUMNS)], check_dtype=False)
    # a time without a zone is UTC; platform and detail may be left out
    bare = entries.drop(columns=["platform", "detail"]).assign(established_at="2026-11-01T00:00:00")
    bare.to_csv(tmp_path / "bare.csv", index=False)
    bare_back = read_reputation(tmp_path / "bare.csv").frame
    assert bare_back["established_at"].tolist() == [pd.Timestamp("2026-11-01", tz="UTC")] * 2
    assert bare_back["platform"].tolist() == ["", ""] and bare_back["detail"].tolist() == ["", ""]
